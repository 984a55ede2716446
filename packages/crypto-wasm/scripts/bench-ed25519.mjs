#!/usr/bin/env node
// Ed25519 throughput, single thread: the wasm backend (build/ed25519.wasm through dist/ed25519.js)
// vs @noble/curves (the js oracle) and node:crypto, in the same process. Reports the median
// of several timed runs per case (cases interleaved per round) and the ratios.
// Usage: npx tsc -b packages/crypto-wasm && node packages/crypto-wasm/scripts/bench-ed25519.mjs [--runs 11] [--n 256]
import { createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { loadEd25519WasmSync } from '../dist/ed25519.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg('runs', 11);
const n = arg('n', 256);

let seedState = 0x12345678;
const bytes = (len) => {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    seedState ^= seedState << 13; seedState ^= seedState >>> 17; seedState ^= seedState << 5;
    b[i] = seedState & 0xff;
  }
  return b;
};

const w = loadEd25519WasmSync();
const seeds = Array.from({ length: n }, () => bytes(32));
const msgs = Array.from({ length: n }, () => bytes(100));
const items = seeds.map((s, i) => ({ publicKey: w.publicKey(s), message: msgs[i], signature: w.sign(s, msgs[i]) }));
if (!w.verifyBatch(items).every((v) => v === 1)) throw new Error('wasm rejected a valid signature');
// a validator set: 16 keys signing n messages (public keys repeat, as in consensus)
const vset = msgs.map((m, i) => ({ publicKey: items[i % 16].publicKey, message: m, signature: w.sign(seeds[i % 16], m) }));
if (!w.verifyBatch(vset).every((v) => v === 1)) throw new Error('wasm rejected a valid signature');
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
const nodeKeys = items.map((it) => createPublicKey({ key: Buffer.concat([spkiPrefix, it.publicKey]), format: 'der', type: 'spki' }));
createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seeds[0]]), format: 'der', type: 'pkcs8' });

/**
 * Cases run round-robin (one timed run of every case per round) so that load from other
 * processes on a shared machine hits all cases alike; each case reports its median ops/s.
 * Warm-up runs for at least warmMs first: V8 starts wasm in its baseline tier and swaps in
 * optimized code later, and the baseline figures are not the steady state.
 */
const warmMs = 600;
const small = Math.min(n, 64); // noble is slow: time it on fewer items
const cases = {
  'wasm verifyBatch (n items, random comb.)': [n, () => w.verifyBatch(items)],
  'wasm verifyEach (n items, one call)': [n, () => w.verifyEach(items)],
  'wasm verifyBatch, 16 repeating keys': [n, () => w.verifyBatch(vset)],
  'wasm verifyEach, 16 repeating keys': [n, () => w.verifyEach(vset)],
  'wasm verifyBatch (1 item per call)': [n, () => { for (const it of items) w.verifyBatch([it]); }],
  'noble ed25519.verify (zip215)': [small, () => {
    for (let i = 0; i < small; i++) ed25519.verify(items[i].signature, items[i].message, items[i].publicKey, { zip215: true });
  }],
  'node:crypto verify (OpenSSL, strict rule)': [n, () => {
    for (let i = 0; i < n; i++) nodeVerify(null, items[i].message, nodeKeys[i], items[i].signature);
  }],
  'wasm sign': [n, () => { for (let i = 0; i < n; i++) w.sign(seeds[i], msgs[i]); }],
  'noble ed25519.sign': [small, () => { for (let i = 0; i < small; i++) ed25519.sign(msgs[i], seeds[i]); }],
};
for (const [, fn] of Object.values(cases)) {
  const until = performance.now() + warmMs;
  do fn(); while (performance.now() < until);
}
const rates = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < runs; r++) {
  for (const [name, [ops, fn]] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    fn();
    rates[name].push(ops / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const results = Object.fromEntries(Object.entries(rates).map(([k, xs]) => [k, median(xs)]));

console.log(`Ed25519, single thread, ${process.version}, median of ${runs} runs, ${n} items x 100-byte messages`);
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(44)} ${Math.round(v).toString().padStart(8)} /s`);
const r = (a, b) => (results[a] / results[b]).toFixed(2);
console.log(`  ratio wasm batch verify / noble verify:      ${r('wasm verifyBatch (n items, random comb.)', 'noble ed25519.verify (zip215)')}x`);
console.log(`  ratio wasm verifyEach / noble verify:       ${r('wasm verifyEach (n items, one call)', 'noble ed25519.verify (zip215)')}x`);
console.log(`  ratio wasm batch verify / node:crypto:       ${r('wasm verifyBatch (n items, random comb.)', 'node:crypto verify (OpenSSL, strict rule)')}x`);
console.log(`  ratio wasm batch (16 keys) / noble verify:  ${r('wasm verifyBatch, 16 repeating keys', 'noble ed25519.verify (zip215)')}x`);
console.log(`  ratio wasm sign / noble sign:                ${r('wasm sign', 'noble ed25519.sign')}x`);
