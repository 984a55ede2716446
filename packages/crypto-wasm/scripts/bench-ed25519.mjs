#!/usr/bin/env node
// Ed25519 throughput, single thread: the wasm backend (build/ed25519.wasm through dist/ed25519.js)
// vs @noble/curves (the js oracle) and node:crypto, in the same process. Reports the median
// of several timed runs per case and the ratios.
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
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
const nodeKeys = items.map((it) => createPublicKey({ key: Buffer.concat([spkiPrefix, it.publicKey]), format: 'der', type: 'spki' }));
createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seeds[0]]), format: 'der', type: 'pkcs8' });

/**
 * ops/s of fn (which performs `ops` operations), median over runs. Warm-up runs for at least
 * warmMs first: V8 starts wasm in its baseline tier and swaps in optimized code later, and the
 * baseline figures are not the steady state.
 */
const warmMs = 600;
function measure(ops, fn) {
  const until = performance.now() + warmMs;
  do fn(); while (performance.now() < until);
  const rates = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(ops / dt);
  }
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1];
}

const small = Math.min(n, 64); // noble is slow: time it on fewer items
const results = {
  'wasm verifyBatch (n items, random comb.)': measure(n, () => w.verifyBatch(items)),
  'wasm verifyEach (n items, one call)': measure(n, () => w.verifyEach(items)),
  'wasm verifyBatch (1 item per call)': measure(n, () => { for (const it of items) w.verifyBatch([it]); }),
  'noble ed25519.verify (zip215)': measure(small, () => {
    for (let i = 0; i < small; i++) ed25519.verify(items[i].signature, items[i].message, items[i].publicKey, { zip215: true });
  }),
  'node:crypto verify (OpenSSL, strict rule)': measure(n, () => {
    for (let i = 0; i < n; i++) nodeVerify(null, items[i].message, nodeKeys[i], items[i].signature);
  }),
  'wasm sign': measure(n, () => { for (let i = 0; i < n; i++) w.sign(seeds[i], msgs[i]); }),
  'noble ed25519.sign': measure(small, () => { for (let i = 0; i < small; i++) ed25519.sign(msgs[i], seeds[i]); }),
};

console.log(`Ed25519, single thread, ${process.version}, median of ${runs} runs, ${n} items x 100-byte messages`);
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(44)} ${Math.round(v).toString().padStart(8)} /s`);
const r = (a, b) => (results[a] / results[b]).toFixed(2);
console.log(`  ratio wasm batch verify / noble verify:      ${r('wasm verifyBatch (n items, random comb.)', 'noble ed25519.verify (zip215)')}x`);
console.log(`  ratio wasm verifyEach / noble verify:       ${r('wasm verifyEach (n items, one call)', 'noble ed25519.verify (zip215)')}x`);
console.log(`  ratio wasm batch verify / node:crypto:       ${r('wasm verifyBatch (n items, random comb.)', 'node:crypto verify (OpenSSL, strict rule)')}x`);
console.log(`  ratio wasm sign / noble sign:                ${r('wasm sign', 'noble ed25519.sign')}x`);
