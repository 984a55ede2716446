// @bpci/crypto-wasm Ed25519 (build/ed25519.wasm) against the js oracle and the vectors: RFC 8032
// signatures byte for byte, and the same ZIP-215 verdict as the oracle on every vector, on
// random and corrupted items, on non-canonical and small/mixed-order encodings, and across
// the batch chunking. Needs the wasm built (npm run build -w @bpci/crypto-wasm, or asc).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { jsBackend, type SignedItem } from '@bpci/core';
import { batchItemsMax, loadEd25519Wasm, loadEd25519WasmSync, type Ed25519Wasm } from '../../packages/crypto-wasm/src/ed25519.js';
import { ed25519Cases, rng, SPECCHECK_ZIP215 } from './suite.js';

const vec = (p: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../vectors/${p}`, import.meta.url)), 'utf8'));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const oracle = jsBackend();

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const leToBig = (b: Uint8Array) => { let x = 0n; for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!); return x; };
const bigToLe = (x: bigint, n = 32) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) { b[i] = Number(x & 0xffn); x >>= 8n; } return b; };
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;

/** Every 32-byte string whose y (low 255 bits) is >= p: y = p + t, t < 19, either sign bit. */
function nonCanonicalEncodings(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let t = 0n; t < 19n; t++) {
    for (const sign of [0, 0x80]) {
      const e = bigToLe(P + t);
      e[31] = e[31]! | sign;
      out.push(e);
    }
  }
  return out;
}

/** Compare verdicts item by item with the oracle; returns the disagreements, named. */
function disagreements(w: Ed25519Wasm, items: readonly SignedItem[], label: string): string[] {
  const got = w.verifyBatch(items);
  const each = w.verifyEach(items);
  const want = oracle.ed25519VerifyBatch(items);
  const bad: string[] = [];
  for (let i = 0; i < items.length; i++) {
    if (got[i] !== want[i] || each[i] !== want[i]) bad.push(`${label} #${i}: batch=${got[i]} each=${each[i]} oracle=${want[i]}`);
  }
  return bad;
}

describe('crypto-wasm ed25519', async () => {
  const w = await loadEd25519Wasm();

  it('RFC 8032 public keys and signatures, byte for byte', () => {
    const cases = vec('ed25519/rfc8032.json').cases as { secretKey: string; publicKey: string; message: string; signature: string }[];
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      expect(toHex(w.publicKey(hex(c.secretKey)))).toBe(c.publicKey);
      expect(toHex(w.sign(hex(c.secretKey), hex(c.message)))).toBe(c.signature);
    }
  });

  it('signatures equal noble for random seeds and message lengths around SHA-512 block edges', () => {
    const r = rng(31);
    for (const len of [0, 1, 31, 32, 63, 64, 95, 96, 111, 112, 127, 128, 129, 239, 240, 255, 256, 1000, 5000]) {
      const seed = r.bytes(32);
      const msg = r.bytes(len);
      expect(toHex(w.publicKey(seed)), `len ${len}`).toBe(toHex(ed25519.getPublicKey(seed)));
      expect(toHex(w.sign(seed, msg)), `len ${len}`).toBe(toHex(ed25519.sign(msg, seed)));
    }
  });

  it('every vector: same verdict as the oracle and the ZIP-215 expectations, batch and single', () => {
    const { cases, expected } = ed25519Cases();
    const items = cases.map((c) => c.item);
    const batch = w.verifyBatch(items);
    const ob = oracle.ed25519VerifyBatch(items);
    const mismatches: string[] = disagreements(w, items, 'vectors');
    cases.forEach((c, i) => {
      const single = w.verifyBatch([c.item])[0];
      if (single !== ob[i] || batch[i] !== ob[i]) mismatches.push(`${c.name}: single=${single} batch=${batch[i]} oracle=${ob[i]}`);
      const e = expected.get(c.name);
      if (e !== undefined && (batch[i] === 1) !== e) mismatches.push(`${c.name}: wasm=${batch[i]} expected=${e}`);
    });
    const spec = cases.filter((c) => c.name.startsWith('speccheck'));
    expect(spec.length).toBe(SPECCHECK_ZIP215.length);
    spec.forEach((c, i) => {
      if ((w.verifyBatch([c.item])[0] === 1) !== SPECCHECK_ZIP215[i]) mismatches.push(`${c.name}: want ${SPECCHECK_ZIP215[i]}`);
    });
    const zip = cases.filter((c) => c.name.startsWith('zip215'));
    expect(zip.length).toBe(196);
    expect(zip.every((c) => w.verifyBatch([c.item])[0] === 1)).toBe(true); // all valid under ZIP-215
    const re0 = w.batchStats().groupsRechecked;
    expect(w.verifyBatch(zip.map((c) => c.item)).every((v) => v === 1)).toBe(true); // and as combinations
    expect(w.batchStats().groupsRechecked, 'small-order A/R pass the combined equation itself').toBe(re0);
    expect(mismatches).toEqual([]);
  });

  it('random and corrupted items agree with the oracle', () => {
    const r = rng(4242);
    const items: SignedItem[] = [];
    const torsion = ED25519_TORSION_SUBGROUP.map(hex);
    const nonCanon = nonCanonicalEncodings();
    for (let i = 0; i < 400; i++) {
      const seed = r.bytes(32);
      const msg = r.bytes(r.int(300));
      const pk = w.publicKey(seed);
      const sig = w.sign(seed, msg);
      items.push({ publicKey: pk, message: msg, signature: sig });
      const s2 = sig.slice(), pk2 = pk.slice();
      let m2 = msg.slice();
      switch (i % 12) {
        case 0: s2[r.int(64)]! ^= 1 << r.int(8); break; //                flipped signature bit
        case 1: pk2[r.int(32)]! ^= 1 << r.int(8); break; //               flipped key bit
        case 2: if (m2.length) m2[r.int(m2.length)]! ^= 1 << r.int(8); else m2 = hex('00'); break;
        case 3: s2.set(bigToLe(leToBig(sig.subarray(32)) + L), 32); break; // S + L (< 2^256)
        case 4: s2.set(bigToLe(L - 1n + BigInt(r.int(3))), 32); break; //   S around L
        case 5: pk2.set(torsion[r.int(torsion.length)]!); break; //        small-order A
        case 6: s2.set(torsion[r.int(torsion.length)]!, 0); break; //      small-order R
        case 7: pk2.set(nonCanon[r.int(nonCanon.length)]!); break; //      y >= p for A
        case 8: s2.set(nonCanon[r.int(nonCanon.length)]!, 0); break; //    y >= p for R
        case 9: pk2.set(r.bytes(32)); break; //                            random A (about half not on the curve)
        case 10: s2.set(r.bytes(32), 0); break; //                         random R
        case 11: pk2[31]! ^= 0x80; break; //                               other x sign
      }
      items.push({ publicKey: pk2, message: m2, signature: s2 });
    }
    // small-order A and R with arbitrary S: valid under the cofactored rule only when [8][S]B = 0, i.e. S = 0
    for (const a of [...torsion, ...nonCanon.slice(0, 8)]) {
      for (const rr of torsion) {
        items.push({ publicKey: a, message: r.bytes(5), signature: Uint8Array.from([...rr, ...new Uint8Array(32)]) });
        items.push({ publicKey: a, message: r.bytes(5), signature: Uint8Array.from([...rr, ...bigToLe(BigInt(r.int(1000)))]) });
      }
    }
    // wrong lengths: 0, never an exception
    const ok = items[0]!;
    items.push({ publicKey: new Uint8Array(31), message: ok.message, signature: ok.signature });
    items.push({ publicKey: ok.publicKey, message: ok.message, signature: ok.signature.subarray(0, 63) });
    items.push({ publicKey: new Uint8Array(33), message: new Uint8Array(0), signature: new Uint8Array(65) });
    items.push({ publicKey: new Uint8Array(0), message: new Uint8Array(0), signature: new Uint8Array(0) });
    expect(disagreements(w, items, 'corrupted')).toEqual([]);
    const got = w.verifyBatch(items);
    expect(got.slice(-4)).toEqual(new Uint8Array(4));
    // the valid ones really are valid (so the comparison above is not vacuous)
    expect(got.filter((v, i) => i % 2 === 0 && i < 800 && v === 1).length).toBe(400);
    items.slice(0, 60).forEach((it, i) => expect(w.verifyBatch([it])[0], `item ${i}`).toBe(got[i]));
  });

  it('mixed-order keys and nonces (valid only under the cofactored equation) are accepted like the oracle', () => {
    const r = rng(77);
    const B = ed25519.Point.BASE;
    const items: SignedItem[] = [];
    for (let i = 0; i < 24; i++) {
      const a = mod(leToBig(r.bytes(32)), L) || 1n;
      const rn = mod(leToBig(r.bytes(32)), L) || 1n;
      const tA = ed25519.Point.fromBytes(hex(ED25519_TORSION_SUBGROUP[1 + (i % 7)]!));
      const tR = ed25519.Point.fromBytes(hex(ED25519_TORSION_SUBGROUP[1 + ((i * 3) % 7)]!));
      const A = i % 3 === 1 ? B.multiply(a) : B.multiply(a).add(tA);
      const R = i % 3 === 2 ? B.multiply(rn) : B.multiply(rn).add(tR);
      const Ab = A.toBytes(), Rb = R.toBytes();
      const msg = r.bytes(40);
      const k = mod(leToBig(sha512(Uint8Array.from([...Rb, ...Ab, ...msg]))), L);
      const S = mod(rn + k * a, L);
      items.push({ publicKey: Ab, message: msg, signature: Uint8Array.from([...Rb, ...bigToLe(S)]) });
    }
    expect(disagreements(w, items, 'mixed-order')).toEqual([]);
    expect(w.verifyBatch(items).every((v) => v === 1)).toBe(true);
  });

  it('1000 random valid signatures verify; wasm signatures verify in the oracle', () => {
    const r = rng(1000);
    const items: SignedItem[] = [];
    for (let i = 0; i < 1000; i++) {
      const seed = r.bytes(32);
      const msg = r.bytes(r.int(200));
      items.push({ publicKey: w.publicKey(seed), message: msg, signature: w.sign(seed, msg) });
    }
    const before = w.batchStats();
    expect(w.verifyBatch(items).every((v) => v === 1)).toBe(true);
    const after = w.batchStats();
    // 1000 items = 16 groups of <= 64, and no valid group may need the item-by-item re-check
    expect(after.groups - before.groups).toBe(16);
    expect(after.groupsRechecked).toBe(before.groupsRechecked);
    expect(w.verifyEach(items).every((v) => v === 1)).toBe(true);
    expect(oracle.ed25519VerifyBatch(items.slice(0, 100)).every((v) => v === 1)).toBe(true);
  });

  it('random-combination groups: any one bad item among valid ones is found, at every group position', () => {
    const r = rng(64);
    const valid: SignedItem[] = [];
    for (let i = 0; i < 140; i++) {
      const seed = r.bytes(32); const msg = r.bytes(r.int(90));
      valid.push({ publicKey: w.publicKey(seed), message: msg, signature: w.sign(seed, msg) });
    }
    const torsion = hex(ED25519_TORSION_SUBGROUP[2]!);
    for (const size of [2, 3, 63, 64, 65, 128, 129, 140]) {
      for (const pos of new Set([0, size >> 1, size - 1, Math.min(size - 1, 64)])) {
        const items = valid.slice(0, size);
        const it = items[pos]!;
        const kind = (size + pos) % 4;
        let bad: SignedItem;
        if (kind === 0) bad = { ...it, message: Uint8Array.from([...it.message, 0]) };
        else if (kind === 1) { const s2 = it.signature.slice(); s2[40]! ^= 4; bad = { ...it, signature: s2 }; }
        else if (kind === 2) { const s2 = it.signature.slice(); s2.set(torsion, 0); bad = { ...it, signature: s2 }; }
        else bad = { ...it, publicKey: valid[(pos + 1) % size]!.publicKey };
        items[pos] = bad;
        const before = w.batchStats().groupsRechecked;
        const got = Array.from(w.verifyBatch(items)).map((v, i) => (v ? -1 : i)).filter((i) => i >= 0);
        expect(got, `size ${size} pos ${pos} kind ${kind}`).toEqual([pos]);
        expect(w.batchStats().groupsRechecked - before, 'only the bad group is re-checked').toBe(1);
      }
    }
    expect(w.verifyBatch(valid.slice(0, 70)).every((v) => v === 1)).toBe(true);
  });

  it('repeating public keys (a validator set) share a combination term and keep exact verdicts', () => {
    const r = rng(4);
    const seeds = Array.from({ length: 5 }, () => r.bytes(32));
    const keys = seeds.map((s) => w.publicKey(s));
    const items: SignedItem[] = [];
    for (let i = 0; i < 300; i++) {
      const v = i % 5;
      const msg = r.bytes(32 + r.int(40));
      items.push({ publicKey: keys[v]!, message: msg, signature: w.sign(seeds[v]!, msg) });
    }
    const re0 = w.batchStats().groupsRechecked;
    expect(w.verifyBatch(items).every((v) => v === 1)).toBe(true);
    expect(w.batchStats().groupsRechecked).toBe(re0);
    // a signature made by key 1 presented under key 2, a wrong message, and a key given as a
    // non-canonical encoding of another point, each next to valid items with the same keys
    const bad = items.slice();
    bad[7] = { ...bad[7]!, publicKey: keys[3]! };
    bad[70] = { ...bad[70]!, message: hex('ff') };
    bad[140] = { ...bad[140]!, publicKey: nonCanonicalEncodings()[2]! };
    expect(disagreements(w, bad, 'validator set')).toEqual([]);
    expect(Array.from(w.verifyBatch(bad)).map((v, i) => (v ? -1 : i)).filter((i) => i >= 0)).toEqual([7, 70, 140]);
  });

  it('batches larger than one crossing keep every verdict in place (items and message bytes)', () => {
    const r = rng(5);
    const base: SignedItem[] = [];
    for (let i = 0; i < 16; i++) {
      const seed = r.bytes(32); const msg = r.bytes(64);
      base.push({ publicKey: w.publicKey(seed), message: msg, signature: w.sign(seed, msg) });
    }
    const n = batchItemsMax + 40;
    const items = Array.from({ length: n }, (_, i) => base[i % 16]!);
    const badAt = [0, batchItemsMax - 1, batchItemsMax, n - 1];
    for (const i of badAt) items[i] = { ...items[i]!, message: hex('01') };
    items[17] = { ...items[17]!, signature: new Uint8Array(10) };
    const got = w.verifyBatch(items);
    const zeros = Array.from(got).map((v, i) => (v ? -1 : i)).filter((i) => i >= 0);
    expect(zeros).toEqual([...badAt.slice(0, 1), 17, ...badAt.slice(1)]);

    // one message above the per-crossing byte budget, between two small items
    const seed = r.bytes(32);
    const big = r.bytes((16 << 20) + 3);
    const bigItem = { publicKey: w.publicKey(seed), message: big, signature: w.sign(seed, big) };
    expect(toHex(bigItem.signature)).toBe(toHex(ed25519.sign(big, seed)));
    const mixed = [base[0]!, bigItem, base[1]!, { ...bigItem, message: big.subarray(1) }];
    expect(Array.from(w.verifyBatch(mixed))).toEqual([1, 1, 1, 0]);
  });

  it('sync loader gives the same results; empty batch; bad arguments throw naming them', () => {
    const s = loadEd25519WasmSync();
    const seed = rng(9).bytes(32);
    const msg = rng(10).bytes(50);
    expect(toHex(s.sign(seed, msg))).toBe(toHex(w.sign(seed, msg)));
    expect(s.verifyBatch([]).length).toBe(0);
    expect(() => w.sign(new Uint8Array(31), msg)).toThrow(RangeError);
    expect(() => w.publicKey(new Uint8Array(33))).toThrow(/seed32/);
    const anyW = w as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => anyW.sign!(seed, 'text')).toThrow(TypeError);
    expect(() => anyW.verifyBatch!([{ publicKey: 'x', message: new Uint8Array(0), signature: new Uint8Array(64) }])).toThrow(TypeError);
    expect(() => anyW.verifyBatch!('nope')).toThrow(TypeError);
  });
});
