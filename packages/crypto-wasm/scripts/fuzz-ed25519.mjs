#!/usr/bin/env node
// Differential fuzz of the wasm Ed25519 verifier against the js oracle rule (noble, zip215 mode):
// random, corrupted, non-canonical, small- and mixed-order items; both wasm paths (random
// combination and item by item). Exits 1 on the first disagreement and prints the item.
// Usage: npx tsc -b packages/crypto-wasm && node packages/crypto-wasm/scripts/fuzz-ed25519.mjs [--n 4000] [--seed 1]
import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { loadEd25519WasmSync } from '../dist/ed25519.js';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? Number(process.argv[i + 1]) : dflt; };
const total = arg('n', 4000);
let s = arg('seed', 1) >>> 0 || 1;
const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
const int = (n) => next() % n;
const bytes = (n) => Uint8Array.from({ length: n }, () => next() & 0xff);
const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const le = (b) => { let x = 0n; for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]); return x; };
const toLe = (x) => { const b = new Uint8Array(32); for (let i = 0; i < 32; i++) { b[i] = Number(x & 0xffn); x >>= 8n; } return b; };
const hex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const torsion = ED25519_TORSION_SUBGROUP.map(hex);
const B = ed25519.Point.BASE;

function oracle(it) {
  if (it.publicKey.length !== 32 || it.signature.length !== 64) return 0;
  try { return ed25519.verify(it.signature, it.message, it.publicKey, { zip215: true }) ? 1 : 0; } catch { return 0; }
}

/** A 32-byte string: canonical point, non-canonical y, random, or small order. */
function pointBytes() {
  switch (int(5)) {
    case 0: return torsion[int(8)];
    case 1: { const e = toLe(P + BigInt(int(19))); if (int(2)) e[31] |= 0x80; return e; }
    case 2: return bytes(32);
    case 3: return B.multiply(BigInt(1 + int(1000))).add(ed25519.Point.fromBytes(torsion[int(8)])).toBytes();
    default: { const y = BigInt(int(40)); const e = toLe(y); if (int(2)) e[31] |= 0x80; return e; }
  }
}

function item() {
  const a = (le(bytes(32)) % (L - 1n)) + 1n;
  const r = (le(bytes(32)) % (L - 1n)) + 1n;
  const tA = int(3) === 0 ? ed25519.Point.fromBytes(torsion[int(8)]) : ed25519.Point.ZERO;
  const tR = int(3) === 0 ? ed25519.Point.fromBytes(torsion[int(8)]) : ed25519.Point.ZERO;
  let Ab = B.multiply(a).add(tA).toBytes();
  let Rb = B.multiply(r).add(tR).toBytes();
  const msg = bytes(int(80));
  const k = le(sha512(Uint8Array.from([...Rb, ...Ab, ...msg]))) % L;
  let S = (r + k * a) % L;
  const kind = int(10);
  if (kind === 1) Ab = pointBytes();
  if (kind === 2) Rb = pointBytes();
  if (kind === 3) S = S + L * BigInt(int(2) + 0) + BigInt(int(2));
  if (kind === 4) { Ab = pointBytes(); Rb = pointBytes(); S = BigInt(int(3)); }
  if (kind === 5) { const i = int(32); Ab = Ab.slice(); Ab[i] ^= 1 << int(8); }
  if (kind === 6) { const i = int(32); Rb = Rb.slice(); Rb[i] ^= 1 << int(8); }
  if (kind === 7) S = (S + 1n) % L;
  if (kind === 8) S = le(bytes(32));
  const Sb = toLe(S & ((1n << 256n) - 1n));
  return { publicKey: Ab, message: msg, signature: Uint8Array.from([...Rb, ...Sb]) };
}

const w = loadEd25519WasmSync();
const items = Array.from({ length: total }, item);
const want = items.map(oracle);
const batch = w.verifyBatch(items);
const each = w.verifyEach(items);
let valid = 0;
for (let i = 0; i < total; i++) {
  valid += want[i];
  if (batch[i] !== want[i] || each[i] !== want[i]) {
    console.error(`DISAGREE item ${i}: oracle=${want[i]} batch=${batch[i]} each=${each[i]}`, {
      pk: Buffer.from(items[i].publicKey).toString('hex'), sig: Buffer.from(items[i].signature).toString('hex'), msg: Buffer.from(items[i].message).toString('hex'),
    });
    process.exit(1);
  }
}
console.log(`fuzz: ${total} items (${valid} valid under the oracle) agree; groups ${JSON.stringify(w.batchStats())}`);
