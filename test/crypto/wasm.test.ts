// The shared crypto suite against the wasm backend, plus what is specific to it: linear memory
// that grows (and is given back) over large calls, large inputs hashed in segments, the 4-lane short-message path around its
// 64-byte edge, 4-lane PoW batches whose range is not a multiple of 4 or crosses 2^32, and
// malformed packed offsets. Needs `npm run build -w @bpci/crypto-wasm` first.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jsBackend, packMessages } from '@bpci/core';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { loadWasmBackend, loadWasmBackendSync, memoryBytesMax, retainBytesMax, segmentBytes, type WasmBackend } from '@bpci/crypto-wasm';
import { defineBackendSuite, rng } from './suite.js';

const wasmPath = fileURLToPath(new URL('../../packages/crypto-wasm/build/blake3.wasm', import.meta.url));
const built = existsSync(wasmPath);
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const oracle = jsBackend();

defineBackendSuite('wasm', async () => (built ? loadWasmBackend() : null), () => `${wasmPath} missing: npm run build -w @bpci/crypto-wasm`);

describe.skipIf(!built)('wasm backend specifics', async () => {
  const b: WasmBackend = built ? await loadWasmBackend() : (null as never);

  it('says where Ed25519 runs', () => {
    expect(['wasm', 'js-fallback']).toContain(b.ed25519Impl);
    if (b.ed25519Impl === 'wasm') expect(b.ed25519FallbackReason).toBeUndefined();
    else expect(b.ed25519FallbackReason).toMatch(/./);
  });

  it('large packed inputs grow memory, give it back after the call, and still hash right', () => {
    // blake3ManyPacked copies all of its data in at once (blake3 itself streams in segments).
    const big = new Uint8Array(retainBytesMax + 3 * 1024 * 1024 + 17);
    const r = rng(4242);
    for (let i = 0; i < big.length; i += 4096) big[i] = r.next() & 0xff;
    const packed = { data: big, offsets: Uint32Array.from([0, 100, big.length]) };
    const want = toHex(oracle.blake3(big.subarray(100)));
    for (let round = 0; round < 2; round++) {
      const got = b.blake3ManyPacked(packed);
      expect(toHex(got.subarray(32, 64))).toBe(want);
      expect(b.memoryBytes()).toBeLessThanOrEqual(retainBytesMax);
    }
    // Growth below the retain bound is kept and reused across calls.
    const mid = big.subarray(0, 8 << 20);
    const midWant = toHex(oracle.blake3(mid));
    for (let round = 0; round < 3; round++) expect(toHex(b.blake3(mid))).toBe(midWant);
    expect(b.memoryBytes()).toBeGreaterThanOrEqual(8 << 20);
    // A small call after big ones is still right.
    expect(toHex(b.blake3(new Uint8Array([1, 2, 3])))).toBe(toHex(oracle.blake3(new Uint8Array([1, 2, 3]))));
  });

  it('inputs longer than segmentBytes (hashed as subtrees + CV stack) match the oracle at segment edges', () => {
    const r = rng(77);
    const big = new Uint8Array(2 * segmentBytes + 5000);
    for (let i = 0; i < big.length; i += 512) big[i] = r.next() & 0xff;
    const key = r.bytes(32);
    // One incremental oracle pass; a clone's digest is the hash of the prefix so far.
    const h = nobleBlake3.create({});
    let at = 0;
    for (const len of [segmentBytes, segmentBytes + 1, segmentBytes + 1024, 2 * segmentBytes, 2 * segmentBytes + 5000]) {
      h.update(big.subarray(at, len));
      at = len;
      expect(toHex(b.blake3(big.subarray(0, len))), `len ${len}`).toBe(toHex(h.clone().digest()));
    }
    expect(toHex(b.blake3Keyed(key, big))).toBe(toHex(nobleBlake3(big, { key })));
    expect(b.memoryBytes()).toBeLessThan(segmentBytes + (1 << 20));
  });

  it('rejects a call that would need more than memoryBytesMax with RangeError', () => {
    // A view whose length is what counts: no need to allocate 2 GiB to check the bound.
    const fake = { length: memoryBytesMax + 1 };
    const huge = Object.setPrototypeOf(fake, Uint8Array.prototype) as Uint8Array;
    expect(() => b.powSearch(huge, new Uint8Array(32), 0n, 1)).toThrow(RangeError);
    expect(() => b.powSearch(huge, new Uint8Array(32), 0n, 1)).toThrow(/header/);
  });

  it('many messages around 64 bytes (the 4-lane single-block path) match the oracle', () => {
    const r = rng(64);
    const msgs: Uint8Array[] = [];
    for (let i = 0; i < 1001; i++) msgs.push(r.bytes([0, 1, 31, 32, 33, 55, 56, 63, 64, 65, 127, 128][r.int(12)]!));
    for (const count of [1, 2, 3, 4, 5, 7, 8, 9, 1001]) {
      const part = msgs.slice(0, count);
      const got = b.blake3ManyPacked(packMessages(part));
      const many = b.blake3Many(part);
      part.forEach((m, i) => {
        const want = toHex(oracle.blake3(m));
        expect(toHex(got.subarray(i * 32, i * 32 + 32)), `count ${count} msg ${i} len ${m.length}`).toBe(want);
        expect(toHex(many[i]!)).toBe(want);
      });
    }
  });

  it('single-chunk messages of every block count (per-block-count 4-lane queues) match the oracle', () => {
    const r = rng(1024);
    const msgs: Uint8Array[] = [];
    for (let i = 0; i < 700; i++) msgs.push(r.bytes(r.int(4) === 0 ? 1024 - r.int(3) : r.int(1100)));
    const got = b.blake3ManyPacked(packMessages(msgs));
    msgs.forEach((m, i) => expect(toHex(got.subarray(i * 32, i * 32 + 32)), `msg ${i} len ${m.length}`).toBe(toHex(oracle.blake3(m))));
  });

  it('short messages at the very end of a packed buffer (masked loads past the data) hash right', () => {
    const data = rng(5).bytes(70);
    const offsets = Uint32Array.from([0, 3, 40, 64, 70]);
    const got = b.blake3ManyPacked({ data, offsets });
    for (let i = 0; i < 4; i++) {
      expect(toHex(got.subarray(i * 32, i * 32 + 32))).toBe(toHex(oracle.blake3(data.subarray(offsets[i]!, offsets[i + 1]!))));
    }
  });

  it('rejects malformed packed offsets with typed errors', () => {
    const data = new Uint8Array(10);
    expect(() => b.blake3ManyPacked({ data, offsets: new Uint32Array(0) })).toThrow(RangeError);
    expect(() => b.blake3ManyPacked({ data, offsets: Uint32Array.from([0, 11]) })).toThrow(RangeError);
    expect(() => b.blake3ManyPacked({ data, offsets: Uint32Array.from([0, 6, 4, 10]) })).toThrow(/non-decreasing/);
    expect(() => b.blake3ManyPacked({ data, offsets: Uint32Array.from([1, 10]) })).toThrow(RangeError);
    expect(() => b.blake3ManyPacked({ data, offsets: [0, 10] as unknown as Uint32Array })).toThrow(TypeError);
    expect(b.blake3ManyPacked({ data: new Uint8Array(0), offsets: Uint32Array.from([0]) }).length).toBe(0);
  });

  it('PoW: counts that are not multiples of 4, ranges across 2^32, lowest winner in a lane batch', () => {
    const r = rng(31);
    const header = r.bytes(80);
    const easy = new Uint8Array(32).fill(0xff);
    easy[0] = 0x3f; // about 1 in 4 wins: several winners per 4-lane batch
    for (const start of [0n, 1n, 2n, 3n, 0xffff_fffdn, 0xffff_fffen, 0xffff_ffffn, (1n << 40n) + 2n]) {
      for (const count of [1, 2, 3, 5, 6, 7, 13]) {
        const got = b.powSearch(header, easy, start, count);
        const want = oracle.powSearch(header, easy, start, count);
        expect(got?.nonce, `start ${start} count ${count}`).toBe(want?.nonce);
        expect(got && toHex(got.hash)).toBe(want && toHex(want.hash));
      }
    }
    // A winner that sits in a lane past `count` must not be reported.
    const hard = new Uint8Array(32).fill(0xff);
    hard[0] = 0x00; hard[1] = 0x40;
    const full = oracle.powSearch(header, hard, 0xffff_f000n, 20000)!;
    expect(full).not.toBeNull();
    const before = Number(full.nonce - 0xffff_f000n);
    for (const cut of [before, before + 1]) {
      expect(b.powSearch(header, hard, 0xffff_f000n, cut)?.nonce).toBe(oracle.powSearch(header, hard, 0xffff_f000n, cut)?.nonce);
    }
    // Top of u64: lanes past the range would wrap; they must be ignored.
    const top = (1n << 64n) - 3n;
    expect(b.powSearch(header, easy, top, 3)?.nonce).toBe(oracle.powSearch(header, easy, top, 3)?.nonce);
  });

  it('PoW: headers whose nonce straddles a block or sits in a later block match the oracle', () => {
    const target = new Uint8Array(32).fill(0xff); target[0] = 0x07;
    for (const len of [8, 16, 60, 64, 66, 68, 71, 72, 127, 128, 129, 136, 1023, 1024, 1025, 1028, 2050]) {
      const header = rng(len + 1).bytes(len);
      const got = b.powSearch(header, target, 7n, 150);
      expect(got?.nonce, `len ${len}`).toBe(oracle.powSearch(header, target, 7n, 150)?.nonce);
    }
  });

  it('the header passed in is not modified', () => {
    const header = rng(9).bytes(80);
    const copy = header.slice();
    b.powSearch(header, new Uint8Array(32).fill(0xff), 123n, 10);
    expect(toHex(header)).toBe(toHex(copy));
  });

  it('merkle over many small leaves (4-lane leaf and node paths) matches the oracle', () => {
    const r = rng(12);
    for (const n of [4, 5, 8, 9, 16, 17, 33, 1024, 1027]) {
      const leaves = Array.from({ length: n }, () => r.bytes(32));
      expect(toHex(b.merkleRoot(leaves)), `n=${n}`).toBe(toHex(oracle.merkleRoot(leaves)));
      const idx = r.int(n);
      expect(b.merkleProof(leaves, idx).siblings.map(toHex)).toEqual(oracle.merkleProof(leaves, idx).siblings.map(toHex));
    }
  });

  it('the sync loader gives the same results', () => {
    const s = loadWasmBackendSync();
    const data = rng(1).bytes(5000);
    expect(toHex(s.blake3(data))).toBe(toHex(oracle.blake3(data)));
    expect(['wasm', 'js-fallback']).toContain(s.ed25519Impl);
  });
});
