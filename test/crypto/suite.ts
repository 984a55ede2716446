// One crypto suite, run against every backend. The js backend is the oracle; official vectors
// pin the oracle itself. Vectors are read from test/vectors (copies with provenance).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jsBackend, merkleLevelsBatched, merkleLevelsPacked, merkleProofFromLevels, verifyMerkleProof, packMessages, type CryptoBackend, type SignedItem } from '@bpci/core';

const vec = (p: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../vectors/${p}`, import.meta.url)), 'utf8'));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const oracle = jsBackend();

/** Deterministic PRNG (xorshift32) so failures replay. */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  return {
    next,
    int: (n: number) => next() % n,
    bytes: (n: number) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = next() & 0xff;
      return b;
    },
  };
}

function vectorInput(len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = i % 251;
  return b;
}

export interface EdCase { name: string; item: SignedItem }

/** Every Ed25519 vector we hold, as items; `expected` is only known for some families. */
export function ed25519Cases(): { cases: EdCase[]; expected: Map<string, boolean> } {
  const cases: EdCase[] = [];
  const expected = new Map<string, boolean>();
  const rfc = vec('ed25519/rfc8032.json');
  for (const c of rfc.cases) {
    const name = `rfc8032 ${c.name}`;
    cases.push({ name, item: { publicKey: hex(c.publicKey), message: hex(c.message), signature: hex(c.signature) } });
    expected.set(name, true);
  }
  const zip = vec('ed25519/zip215.json') as { vk_bytes: string; sig_bytes: string; valid_zip215: boolean }[];
  zip.forEach((c, i) => {
    const name = `zip215 #${i}`;
    cases.push({ name, item: { publicKey: hex(c.vk_bytes), message: new TextEncoder().encode('Zcash'), signature: hex(c.sig_bytes) } });
    expected.set(name, c.valid_zip215);
  });
  const spec = vec('ed25519/speccheck_cases.json') as { message: string; pub_key: string; signature: string }[];
  spec.forEach((c, i) => {
    cases.push({ name: `speccheck #${i}`, item: { publicKey: hex(c.pub_key), message: hex(c.message), signature: hex(c.signature) } });
  });
  const wp = vec('ed25519/wycheproof_ed25519.json');
  for (const g of wp.testGroups) {
    for (const t of g.tests) {
      cases.push({ name: `wycheproof tc${t.tcId} ${t.comment}`, item: { publicKey: hex(g.publicKey.pk), message: hex(t.msg), signature: hex(t.sig) } });
    }
  }
  return { cases, expected };
}

/**
 * ZIP-215 verdicts on the speccheck cases, derived from the table in
 * test/vectors/PROVENANCE.md (cofactored column; case 5 is V because we hash 8h unreduced;
 * 6 and 7 have S >= L, which ZIP-215 rejects). Cases 8-11 decode non-canonical R/A and hash the
 * bytes as received: for R (8, 9) only the "not reduced for hash" variant 9 verifies; for A
 * (10, 11) A is small order, so [8][k]A vanishes whatever k is and both verify.
 */
export const SPECCHECK_ZIP215 = [true, true, true, true, true, true, false, false, false, true, true, true];

export function defineBackendSuite(label: string, load: () => Promise<CryptoBackend | null>, skipReason?: () => string) {
  describe(`crypto backend: ${label}`, async () => {
    const b = await load();
    if (!b) {
      it.skip(`backend ${label} not available: ${skipReason?.() ?? 'not built'}`, () => {});
      return;
    }

    describe('blake3', () => {
      const tv = vec('blake3/test_vectors.json');
      const key = new TextEncoder().encode(tv.key);
      for (const c of tv.cases as { input_len: number; hash: string; keyed_hash: string }[]) {
        it(`official vector, ${c.input_len} bytes (plain and keyed; XOF prefix)`, () => {
          const input = vectorInput(c.input_len);
          expect(toHex(b.blake3(input))).toBe(c.hash.slice(0, 64));
          expect(toHex(b.blake3Keyed(key, input))).toBe(c.keyed_hash.slice(0, 64));
        });
      }

      it('every block and chunk boundary length matches the oracle', () => {
        const lens = new Set<number>();
        for (let k = 0; k <= 18; k++) for (const d of [-1, 0, 1]) lens.add(Math.max(0, k * 64 + d));
        for (let c = 1; c <= 17; c++) for (const d of [-65, -64, -1, 0, 1, 64, 65]) lens.add(c * 1024 + d);
        for (const l of [31 * 1024, 32 * 1024 + 1, 64 * 1024 - 1, 100_000, 1 << 20, (1 << 20) + 1]) lens.add(l);
        const r = rng(7);
        const key = r.bytes(32);
        for (const len of [...lens].sort((x, y) => x - y)) {
          const data = r.bytes(len);
          expect(toHex(b.blake3(data)), `len ${len}`).toBe(toHex(oracle.blake3(data)));
          expect(toHex(b.blake3Keyed(key, data)), `keyed len ${len}`).toBe(toHex(oracle.blake3Keyed(key, data)));
        }
      });

      it('input that is a view into a larger buffer hashes only the view', () => {
        const big = rng(3).bytes(5000);
        const view = big.subarray(17, 17 + 3000);
        expect(toHex(b.blake3(view))).toBe(toHex(oracle.blake3(view.slice())));
      });

      it('blake3Many and the packed variant match one-by-one hashing', () => {
        const r = rng(11);
        const msgs: Uint8Array[] = [];
        for (let i = 0; i < 300; i++) msgs.push(r.bytes(r.int(3) === 0 ? r.int(3000) : r.int(130)));
        msgs.push(new Uint8Array(0));
        const many = b.blake3Many(msgs);
        expect(many.length).toBe(msgs.length);
        const packed = b.blake3ManyPacked(packMessages(msgs));
        expect(packed.length).toBe(msgs.length * 32);
        msgs.forEach((m, i) => {
          const want = toHex(oracle.blake3(m));
          expect(toHex(many[i]!)).toBe(want);
          expect(toHex(packed.subarray(i * 32, i * 32 + 32))).toBe(want);
        });
        expect(b.blake3Many([])).toEqual([]);
      });

      it('random differential against the oracle', () => {
        const r = rng(99);
        for (let i = 0; i < 200; i++) {
          const data = r.bytes(r.int(9000));
          expect(toHex(b.blake3(data))).toBe(toHex(oracle.blake3(data)));
        }
      });
    });

    describe('merkle', () => {
      it('roots match the oracle for 0..70 leaves and odd sizes; proofs verify', () => {
        const r = rng(5);
        for (const n of [...Array.from({ length: 71 }, (_, i) => i), 127, 128, 129, 1000, 4097]) {
          const leaves = Array.from({ length: n }, () => r.bytes(r.int(80)));
          const root = b.merkleRoot(leaves);
          expect(toHex(root), `n=${n}`).toBe(toHex(oracle.merkleRoot(leaves)));
          if (n === 0) continue;
          for (const idx of new Set([0, n - 1, r.int(n), Math.floor(n / 2)])) {
            const p = b.merkleProof(leaves, idx);
            const po = oracle.merkleProof(leaves, idx);
            expect(p.siblings.map(toHex)).toEqual(po.siblings.map(toHex));
            expect(verifyMerkleProof(root, leaves[idx]!, p)).toBe(true);
          }
        }
      });

      it('merkleLevelsPacked and merkleLevelsBatched over this backend give the oracle root and proofs', () => {
        const r = rng(6);
        for (const n of [1, 2, 3, 5, 8, 33, 255, 256, 257]) {
          const leaves = Array.from({ length: n }, () => r.bytes(r.int(90)));
          const want = oracle.merkleRoot(leaves);
          const packed = merkleLevelsPacked(leaves, (m) => b.blake3ManyPacked(m));
          const batched = merkleLevelsBatched(leaves, (m) => b.blake3Many(m));
          for (const levels of [packed, batched]) {
            expect(levels[levels.length - 1]!.length, `n=${n}`).toBe(1);
            expect(toHex(levels[levels.length - 1]![0]!), `n=${n}`).toBe(toHex(want));
            for (const idx of new Set([0, n - 1, r.int(n)])) {
              expect(merkleProofFromLevels(levels, idx).siblings.map(toHex)).toEqual(oracle.merkleProof(leaves, idx).siblings.map(toHex));
            }
          }
        }
      });

      it('[a,b,c] and [a,b,c,c] have different roots; a leaf is not a node', () => {
        const [x, y, z] = [hex('aa'), hex('bb'), hex('cc')];
        expect(toHex(b.merkleRoot([x, y, z]))).not.toBe(toHex(b.merkleRoot([x, y, z, z])));
        const inner = b.merkleRoot([x, y]);
        expect(toHex(b.merkleRoot([inner]))).not.toBe(toHex(inner));
      });

      it('a proof fails after any change to leaf, root, proof or index', () => {
        const r = rng(21);
        const leaves = Array.from({ length: 13 }, () => r.bytes(40));
        const root = b.merkleRoot(leaves);
        for (let idx = 0; idx < 13; idx++) {
          const p = b.merkleProof(leaves, idx);
          const leaf = leaves[idx]!;
          expect(verifyMerkleProof(root, leaf, p)).toBe(true);
          const badLeaf = leaf.slice(); badLeaf[0]! ^= 1;
          expect(verifyMerkleProof(root, badLeaf, p)).toBe(false);
          const badRoot = root.slice(); badRoot[31]! ^= 0x80;
          expect(verifyMerkleProof(badRoot, leaf, p)).toBe(false);
          for (let s = 0; s < p.siblings.length; s++) {
            const sibs = p.siblings.map((x) => x.slice());
            sibs[s]![r.int(32)]! ^= 1 << r.int(8);
            expect(verifyMerkleProof(root, leaf, { ...p, siblings: sibs })).toBe(false);
          }
          for (let j = 0; j < 14; j++) if (j !== idx) expect(verifyMerkleProof(root, leaf, { ...p, index: j })).toBe(false);
          // leafCount only fixes the path shape; a count with another shape (or out of range) fails
          expect(verifyMerkleProof(root, leaf, { ...p, leafCount: idx })).toBe(false);
          expect(verifyMerkleProof(root, leaf, { ...p, leafCount: 1 })).toBe(false);
          expect(verifyMerkleProof(root, leaf, { ...p, leafCount: 3 })).toBe(false);
          expect(verifyMerkleProof(root, leaf, { ...p, siblings: p.siblings.slice(1) })).toBe(false);
          expect(verifyMerkleProof(root, leaf, { ...p, siblings: [...p.siblings, root] })).toBe(false);
        }
      });
    });

    describe('pow', () => {
      it('finds the same lowest nonce as the oracle, and the result checks independently', () => {
        const r = rng(77);
        for (let t = 0; t < 6; t++) {
          const header = r.bytes(80);
          const target = new Uint8Array(32).fill(0xff);
          target[0] = 0x00; target[1] = 0x3f + t * 16; // roughly 1 in 256..1024
          const start = BigInt(r.int(1 << 30)) * 4096n;
          const got = b.powSearch(header, target, start, 20000);
          const want = oracle.powSearch(header, target, start, 20000);
          expect(got?.nonce).toBe(want?.nonce);
          expect(got && toHex(got.hash)).toBe(want && toHex(want.hash));
          if (got) {
            const h = header.slice();
            new DataView(h.buffer).setBigUint64(72, got.nonce, true);
            expect(toHex(oracle.blake3(h))).toBe(toHex(got.hash));
          }
        }
      });

      it('nonce range across the 2^32 boundary and at the top of u64; null when none wins', () => {
        const header = rng(1).bytes(80);
        const target = new Uint8Array(32).fill(0xff); target[0] = 0; target[1] = 0x7f;
        const a = b.powSearch(header, target, 0xffff_f000n, 8192);
        expect(a?.nonce).toBe(oracle.powSearch(header, target, 0xffff_f000n, 8192)?.nonce);
        const top = (1n << 64n) - 100n;
        expect(b.powSearch(header, target, top, 100)?.nonce).toBe(oracle.powSearch(header, target, top, 100)?.nonce);
        expect(b.powSearch(header, new Uint8Array(32), 0n, 2000)).toBeNull();
        expect(b.powSearch(header, target, 5n, 0)).toBeNull();
        const easy = new Uint8Array(32).fill(0xff);
        expect(b.powSearch(header, easy, 42n, 10)?.nonce).toBe(42n);
      });

      it('works with short and long headers', () => {
        const target = new Uint8Array(32).fill(0xff); target[0] = 0x0f;
        for (const len of [8, 9, 63, 64, 65, 200, 1100]) {
          const header = rng(len).bytes(len);
          expect(b.powSearch(header, target, 0n, 200)?.nonce).toBe(oracle.powSearch(header, target, 0n, 200)?.nonce);
        }
      });
    });

    describe('ed25519', () => {
      it('RFC 8032 signatures are reproduced byte for byte', () => {
        for (const c of vec('ed25519/rfc8032.json').cases) {
          expect(toHex(b.ed25519PublicKey(hex(c.secretKey)))).toBe(c.publicKey);
          expect(toHex(b.ed25519Sign(hex(c.secretKey), hex(c.message)))).toBe(c.signature);
        }
      });

      it('signing with alternating keys (and key derivations in between) matches the oracle', () => {
        // Backends keep expanded signing keys: a switch of key must never sign with the old one.
        const r = rng(0x5eed);
        const seeds = [r.bytes(32), r.bytes(32), r.bytes(32)];
        for (let i = 0; i < 40; i++) {
          const seed = seeds[r.int(3)]!;
          const msg = r.bytes(r.int(80));
          if (r.int(4) === 0) {
            const k = seeds[r.int(3)]!;
            expect(toHex(b.ed25519PublicKey(k))).toBe(toHex(oracle.ed25519PublicKey(k)));
          }
          const reused = seed.slice(); // same bytes, another buffer
          expect(toHex(b.ed25519Sign(reused, msg)), `step ${i}`).toBe(toHex(oracle.ed25519Sign(seed, msg)));
        }
        // the same seed buffer, changed in place between two signatures
        const seed = r.bytes(32);
        const msg = r.bytes(10);
        b.ed25519Sign(seed, msg);
        seed[7]! ^= 1;
        expect(toHex(b.ed25519Sign(seed, msg))).toBe(toHex(oracle.ed25519Sign(seed, msg)));
      });

      it('one verdict per vector, equal to the oracle (ZIP-215), single and batch', () => {
        const { cases, expected } = ed25519Cases();
        const batch = b.ed25519VerifyBatch(cases.map((c) => c.item));
        const ob = oracle.ed25519VerifyBatch(cases.map((c) => c.item));
        const mismatches: string[] = [];
        // Small batches take their own path on some backends (native: Straus from 2 items), so
        // every vector also goes in a batch of 2 and of 3 beside valid items.
        const seed = new Uint8Array(32).fill(9);
        const valid = { publicKey: oracle.ed25519PublicKey(seed), message: new Uint8Array([1, 2, 3]), signature: oracle.ed25519Sign(seed, new Uint8Array([1, 2, 3])) };
        cases.forEach((c, i) => {
          const single = b.ed25519VerifyBatch([c.item])[0];
          if (single !== ob[i] || batch[i] !== ob[i]) mismatches.push(`${c.name}: single=${single} batch=${batch[i]} oracle=${ob[i]}`);
          const pair = b.ed25519VerifyBatch([valid, c.item]);
          const triple = b.ed25519VerifyBatch([c.item, valid, valid]);
          if (pair[0] !== 1 || pair[1] !== ob[i] || triple[0] !== ob[i] || triple[1] !== 1 || triple[2] !== 1) {
            mismatches.push(`${c.name}: in a pair ${Array.from(pair)}, in a triple ${Array.from(triple)}, oracle=${ob[i]}`);
          }
          const e = expected.get(c.name);
          if (e !== undefined && (ob[i] === 1) !== e) mismatches.push(`${c.name}: oracle=${ob[i]} expected=${e}`);
        });
        const spec = cases.filter((c) => c.name.startsWith('speccheck'));
        spec.forEach((c, i) => {
          const v = b.ed25519VerifyBatch([c.item])[0] === 1;
          if (v !== SPECCHECK_ZIP215[i]) mismatches.push(`${c.name}: got ${v} want ${SPECCHECK_ZIP215[i]}`);
        });
        expect(mismatches).toEqual([]);
      });

      it('random and corrupted signatures, keys and messages agree with the oracle', () => {
        const r = rng(2024);
        const L = (1n << 252n) + 27742317777372353535851937790883648493n;
        const items: SignedItem[] = [];
        for (let i = 0; i < 64; i++) {
          const seed = r.bytes(32);
          const msg = r.bytes(r.int(200));
          const pk = b.ed25519PublicKey(seed);
          const sig = b.ed25519Sign(seed, msg);
          items.push({ publicKey: pk, message: msg, signature: sig });
          const kind = i % 8;
          const s2 = sig.slice(), pk2 = pk.slice(), m2 = msg.slice();
          if (kind === 0) s2[r.int(64)]! ^= 1 << r.int(8);
          if (kind === 1) pk2[r.int(32)]! ^= 1 << r.int(8);
          if (kind === 2 && m2.length) m2[r.int(m2.length)]! ^= 1;
          if (kind === 3) {
            // non-canonical S: S + L (still < 2^256)
            let s = 0n;
            for (let j = 31; j >= 0; j--) s = (s << 8n) | BigInt(sig[32 + j]!);
            s += L;
            for (let j = 0; j < 32; j++) { s2[32 + j] = Number(s & 0xffn); s >>= 8n; }
          }
          if (kind === 4) pk2.set(hex('0100000000000000000000000000000000000000000000000000000000000000')); // identity (small order)
          if (kind === 5) s2.set(hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), 0); // R = -1 y (small order)
          if (kind === 6) pk2.fill(0xff); // y >= p, may not decode
          items.push({ publicKey: pk2, message: m2, signature: s2 });
        }
        // wrong lengths are invalid, never an exception
        items.push({ publicKey: new Uint8Array(31), message: new Uint8Array(1), signature: new Uint8Array(64) });
        items.push({ publicKey: items[0]!.publicKey, message: items[0]!.message, signature: items[0]!.signature.subarray(0, 63) });
        items.push({ publicKey: new Uint8Array(33), message: new Uint8Array(0), signature: new Uint8Array(65) });
        const got = b.ed25519VerifyBatch(items);
        const want = oracle.ed25519VerifyBatch(items);
        expect(Array.from(got)).toEqual(Array.from(want));
        items.slice(0, 40).forEach((it, i) => expect(b.ed25519VerifyBatch([it])[0], `item ${i}`).toBe(want[i]));
        expect(b.ed25519VerifyBatch([]).length).toBe(0);
      });

      it('a large valid batch with one bad item locates exactly that item', () => {
        const r = rng(8);
        const items: SignedItem[] = [];
        for (let i = 0; i < 100; i++) {
          const seed = r.bytes(32); const msg = r.bytes(48);
          items.push({ publicKey: b.ed25519PublicKey(seed), message: msg, signature: b.ed25519Sign(seed, msg) });
        }
        expect(Array.from(b.ed25519VerifyBatch(items)).every((v) => v === 1)).toBe(true);
        const bad = items.map((x) => ({ ...x }));
        bad[37] = { ...bad[37]!, message: hex('00') };
        const res = b.ed25519VerifyBatch(bad);
        expect(Array.from(res).map((v, i) => (v ? -1 : i)).filter((i) => i >= 0)).toEqual([37]);
      });
    });

    describe('bad arguments', () => {
      it('throw TypeError/RangeError naming the argument', () => {
        const any = b as unknown as Record<string, (...a: unknown[]) => unknown>;
        expect(() => any.blake3!('abc')).toThrow(TypeError);
        expect(() => any.blake3!('abc')).toThrow(/data/);
        expect(() => b.blake3Keyed(new Uint8Array(31), new Uint8Array(1))).toThrow(RangeError);
        expect(() => b.blake3Keyed(new Uint8Array(31), new Uint8Array(1))).toThrow(/key/);
        expect(() => any.blake3Many!([new Uint8Array(1), 'x'])).toThrow(TypeError);
        expect(() => any.merkleRoot!([new Uint8Array(1), 5])).toThrow(TypeError);
        expect(() => b.merkleProof([new Uint8Array(1)], 1)).toThrow(RangeError);
        expect(() => b.merkleProof([new Uint8Array(1)], -1)).toThrow(/index/);
        const h = new Uint8Array(80), t = new Uint8Array(32);
        expect(() => b.powSearch(h, t, 0n, -1)).toThrow(RangeError);
        expect(() => b.powSearch(h, t, 0n, 1.5)).toThrow(/count/);
        expect(() => b.powSearch(h, new Uint8Array(31), 0n, 1)).toThrow(/target/);
        expect(() => any.powSearch!(h, t, 0, 1)).toThrow(/nonceStart/);
        expect(() => b.powSearch(h, t, -1n, 1)).toThrow(RangeError);
        expect(() => b.powSearch(new Uint8Array(4), t, 0n, 1)).toThrow(/header/);
        expect(() => b.ed25519Sign(new Uint8Array(31), new Uint8Array(1))).toThrow(/seed/);
        expect(() => any.ed25519VerifyBatch!([{ publicKey: 'x', message: new Uint8Array(0), signature: new Uint8Array(64) }])).toThrow(TypeError);
      });
    });
  });
}
