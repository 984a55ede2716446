// The native backend (@bpci/native) against the shared suite, plus what only it has: panic
// safety, async variants, randomized batch bisection and the parallel lowest-nonce PoW.
// Without the addon the suite is skipped locally, but FAILS under CI (CI installs the crates).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { jsBackend, type SignedItem } from '@bpci/core';
import { loadNativeBackend, nativeUnavailableReason } from '@bpci/native';
import { defineBackendSuite, ed25519Cases, rng } from './suite.js';

defineBackendSuite('native', async () => loadNativeBackend(), () => nativeUnavailableReason() ?? '');

const oracle = jsBackend();
const nb = loadNativeBackend();
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('native backend availability', () => {
  it('is built when CI is set', () => {
    if (process.env.CI) expect(nativeUnavailableReason()).toBeNull();
    if (!nb) expect(nativeUnavailableReason()).toMatch(/\S/);
  });
});

describe.skipIf(!nb)('native only', () => {
  const b = nb!;

  it('a Rust panic becomes a JS Error and the process keeps working', async () => {
    expect(() => b.testHooks.panic()).toThrow(/deliberate panic/);
    await expect(b.testHooks.panicAsync()).rejects.toThrow(/deliberate panic/);
    expect(toHex(b.blake3(new Uint8Array(3)))).toBe(toHex(oracle.blake3(new Uint8Array(3))));
  });

  it('results written through the scratch buffers are independent copies', () => {
    const key = new Uint8Array(32).fill(9);
    const seed = new Uint8Array(32).fill(3);
    const [m1, m2] = [new Uint8Array([1]), new Uint8Array([2])];
    for (const [f, g] of [
      [() => b.blake3(m1), () => b.blake3(m2)],
      [() => b.blake3Keyed(key, m1), () => b.blake3Keyed(key, m2)],
      [() => b.ed25519Sign(seed, m1), () => b.ed25519Sign(seed, m2)],
    ] as const) {
      const x = f();
      const before = toHex(x);
      const y = g();
      expect(toHex(x)).toBe(before); // the second call did not overwrite the first result
      expect(x.buffer).not.toBe(y.buffer);
      y.fill(0);
      expect(toHex(f())).toBe(before);
    }
    expect(toHex(b.blake3(m1))).toBe(toHex(oracle.blake3(m1)));
    expect(toHex(b.blake3Keyed(key, m2))).toBe(toHex(oracle.blake3Keyed(key, m2)));
    expect(toHex(b.ed25519Sign(seed, m2))).toBe(toHex(oracle.ed25519Sign(seed, m2)));
  });

  it('every 16-lane kernel this CPU has (AVX-512, AVX2, portable) gives the oracle PoW, Merkle and blake3Many', () => {
    // The kernel is chosen once per process, so each one runs in a child with the environment
    // switches that step it down.
    const script = `
      import { loadNativeBackend } from '@bpci/native';
      const b = loadNativeBackend();
      const leaves = Array.from({ length: 1000 }, (_, i) => new Uint8Array(32).fill(i & 255).map((x, j) => x ^ j));
      const msgs = Array.from({ length: 37 }, (_, i) => new Uint8Array(64).fill(i));
      const header = new Uint8Array(80).fill(7);
      const target = new Uint8Array(32).fill(255); target[0] = 0; target[1] = 0x20;
      const pow = b.powSearch(header, target, 5n, 1 << 16);
      const hex = (x) => Buffer.from(x).toString('hex');
      console.log(JSON.stringify({ kernel: b.laneKernel, root: hex(b.merkleRoot(leaves)), proof: b.merkleProof(leaves, 777).siblings.map(hex),
        many: b.blake3Many(msgs).map(hex), pow: pow && { nonce: String(pow.nonce), hash: hex(pow.hash) } }));`;
    const leaves = Array.from({ length: 1000 }, (_, i) => new Uint8Array(32).fill(i & 255).map((x, j) => x ^ j));
    const msgs = Array.from({ length: 37 }, (_, i) => new Uint8Array(64).fill(i));
    const header = new Uint8Array(80).fill(7);
    const target = new Uint8Array(32).fill(255);
    target[0] = 0;
    target[1] = 0x20;
    const pow = oracle.powSearch(header, target, 5n, 1 << 16);
    const want = {
      root: toHex(oracle.merkleRoot(leaves)),
      proof: oracle.merkleProof(leaves, 777).siblings.map(toHex),
      many: oracle.blake3Many(msgs).map(toHex),
      pow: pow && { nonce: String(pow.nonce), hash: toHex(pow.hash) },
    };
    expect(want.pow).not.toBeNull();
    const kernels = new Set<string>();
    for (const env of [{}, { BPCI_NATIVE_NO_AVX512: '1' }, { BPCI_NATIVE_NO_AVX512: '1', BPCI_NATIVE_NO_AVX2: '1' }]) {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
      const got = JSON.parse(out) as typeof want & { kernel: string };
      kernels.add(got.kernel);
      expect({ ...got, kernel: undefined }).toEqual({ ...want, kernel: undefined });
    }
    expect(kernels.has('portable')).toBe(true);
    if (b.laneKernel !== 'portable') expect(kernels.size).toBeGreaterThan(1);
  });

  it('blake3Many of equal-length messages (16-lane path) matches the oracle', () => {
    const r = rng(707);
    for (const [n, len] of [[40, 0], [17, 1], [33, 3], [16, 4], [40, 31], [40, 32], [40, 33], [20, 63], [20, 64], [20, 65], [31, 100], [16, 127], [16, 128], [16, 129], [20, 500], [5000, 32]] as const) {
      const msgs = Array.from({ length: n }, () => r.bytes(len));
      const got = b.blake3Many(msgs);
      msgs.forEach((m, i) => expect(toHex(got[i]!), `n=${n} len=${len} i=${i}`).toBe(toHex(oracle.blake3(m))));
    }
  });

  it('equal-length leaves (the 16-lane transposing kernel) give the oracle root and proofs', () => {
    const r = rng(606);
    for (const [n, len] of [[17, 0], [16, 1], [33, 3], [500, 31], [1000, 32], [300, 33], [257, 64], [130, 65], [40, 127], [40, 128], [20, 129], [18, 1023], [2048, 32], [2049, 8], [3071, 32], [4097, 0]] as const) {
      const leaves = Array.from({ length: n }, () => r.bytes(len));
      expect(toHex(b.merkleRoot(leaves)), `n=${n} len=${len}`).toBe(toHex(oracle.merkleRoot(leaves)));
      // around the 1024-leaf subtree boundaries, the last leaf, and a random one
      for (const idx of new Set([0, 1023, 1024, 2047, 2048, n - 1, r.int(n)].filter((i) => i < n))) {
        expect(b.merkleProof(leaves, idx).siblings.map(toHex), `n=${n} idx=${idx}`).toEqual(oracle.merkleProof(leaves, idx).siblings.map(toHex));
      }
    }
    // a packed view at an odd byte offset inside a larger buffer
    const big = r.bytes(64 * 32 + 5);
    const data = big.subarray(5);
    const offsets = new Uint32Array(65).map((_, i) => i * 32);
    const leaves = Array.from({ length: 64 }, (_, i) => data.slice(i * 32, i * 32 + 32));
    expect(toHex(b.merkleRootPacked({ data, offsets }))).toBe(toHex(oracle.merkleRoot(leaves)));
  });

  it('async variants equal the sync ones', async () => {
    const r = rng(404);
    const leaves = Array.from({ length: 5000 }, () => r.bytes(32));
    expect(toHex(await b.merkleRootAsync(leaves))).toBe(toHex(b.merkleRoot(leaves)));
    const header = r.bytes(80);
    const target = new Uint8Array(32).fill(0xff);
    target[0] = 0; target[1] = 0x10;
    const sync = b.powSearch(header, target, 123n, 300_000);
    const asy = await b.powSearchAsync(header, target, 123n, 300_000);
    expect(asy?.nonce).toBe(sync?.nonce);
    expect(asy && toHex(asy.hash)).toBe(sync && toHex(sync.hash));
    const items: SignedItem[] = [];
    for (let i = 0; i < 50; i++) {
      const seed = r.bytes(32); const msg = r.bytes(i);
      const sig = b.ed25519Sign(seed, msg);
      if (i % 7 === 3) sig[5]! ^= 2;
      items.push({ publicKey: b.ed25519PublicKey(seed), message: msg, signature: sig });
    }
    expect(Array.from(await b.ed25519VerifyBatchAsync(items))).toEqual(Array.from(b.ed25519VerifyBatch(items)));
    await expect(b.powSearchAsync(header, target, -1n, 1)).rejects.toThrow(RangeError);
  });

  it('async calls return at once and let the event loop run while the work is pending', async () => {
    const order: string[] = [];
    // 2^24 nonces against a target nothing meets: far more than one event-loop turn of work.
    const pending = b.powSearchAsync(new Uint8Array(80), new Uint8Array(32), 0n, 1 << 24).then((r) => order.push(`pow:${r}`));
    order.push('returned');
    await new Promise<void>((resolve) => setImmediate(() => { order.push('immediate'); resolve(); }));
    await pending;
    expect(order).toEqual(['returned', 'immediate', 'pow:null']);
    expect(b.laneKernel).toMatch(/^(avx512|avx2|portable)$/);
  });

  it('batch verify with bad items at random positions (sizes 1..300) equals the oracle', () => {
    const r = rng(1234);
    const pool: SignedItem[] = [];
    for (let i = 0; i < 300; i++) {
      const seed = r.bytes(32); const msg = r.bytes(r.int(100));
      pool.push({ publicKey: b.ed25519PublicKey(seed), message: msg, signature: b.ed25519Sign(seed, msg) });
    }
    const { cases } = ed25519Cases();
    const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 65, 100, 127, 128, 129, 200, 255, 300];
    for (const n of sizes) {
      const items = pool.slice(0, n).map((x) => ({ ...x }));
      const bad = r.int(Math.min(n, 6) + 1);
      for (let k = 0; k < bad; k++) {
        const at = r.int(n);
        const kind = r.int(3);
        if (kind === 0) { const s = items[at]!.signature.slice(); s[r.int(64)]! ^= 1 << r.int(8); items[at] = { ...items[at]!, signature: s }; }
        else if (kind === 1) { const m = new Uint8Array(items[at]!.message.length + 1); m.set(items[at]!.message); items[at] = { ...items[at]!, message: m }; }
        else items[at] = cases[r.int(cases.length)]!.item; // an edge-case vector (valid or not)
      }
      expect(Array.from(b.ed25519VerifyBatch(items)), `n=${n}`).toEqual(Array.from(oracle.ed25519VerifyBatch(items)));
    }
  });

  it('the vectorised (IFMA) multi-scalar multiplication equals the scalar one', () => {
    // Batch verification alone could not show a broken MSM: bisection would still give the
    // right verdicts, only slower. So compare the MSMs directly.
    for (const n of [1, 2, 15, 16, 17, 33, 64, 129, 257, 1000, 2049]) expect(b.testHooks.msmSelfCheck(n, n * 31 + 7), `n=${n}`).toBe(true);
  });

  it('our own ZIP-215 verifier (no ring fast path) agrees with the oracle on every vector', () => {
    const { cases } = ed25519Cases();
    const items = cases.map((c) => c.item);
    expect(Array.from(b.testHooks.verifyEachOwn(items))).toEqual(Array.from(oracle.ed25519VerifyBatch(items)));
  });

  it('parallel PoW returns the lowest winning nonce of a range split over many chunks', () => {
    const r = rng(55);
    for (let t = 0; t < 3; t++) {
      const header = r.bytes(t === 2 ? 70 : 80); // 70: the nonce straddles two blocks
      const target = new Uint8Array(32).fill(0xff);
      target[0] = 0; target[1] = 0; target[2] = 0x40 + t; // about 1 in 2^18 per nonce
      const start = BigInt(r.int(1 << 30));
      const count = 1_500_000;
      const got = b.powSearch(header, target, start, count);
      // Independent check: the winner meets the target and no lower nonce does.
      expect(got).not.toBeNull();
      const h = header.slice();
      const dv = new DataView(h.buffer);
      dv.setBigUint64(h.length - 8, got!.nonce, true);
      expect(toHex(oracle.blake3(h))).toBe(toHex(got!.hash));
      // No lower nonce wins: re-searched in single-chunk calls (<= 65536 nonces: the serial path).
      const below = Number(got!.nonce - start);
      for (let o = 0; o < below; o += 65536) {
        expect(b.powSearch(header, target, start + BigInt(o), Math.min(65536, below - o))).toBeNull();
      }
    }
  });
});
