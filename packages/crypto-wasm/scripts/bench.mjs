// Microbenchmark of the wasm backend against @noble/hashes (the js backend's engine), one thread.
// Reports medians (tinybench p50 of per-call latency) and the wasm/noble ratio.
//   BLAKE3 of 1 MiB (GB/s), 64-byte messages through blake3ManyPacked (ns/msg),
//   PoW over an 80-byte header (M hashes/s; a target nothing meets, so every nonce is hashed),
//   Merkle root of 2^16 32-byte leaves (ms).
// Needs the build outputs: npm run build -w @bpci/crypto-wasm && npx tsc -b packages/crypto-wasm
// Usage: node packages/crypto-wasm/scripts/bench.mjs [--quick] [--json]
import { Bench } from 'tinybench';
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { jsBackend, packMessages, powSearchWith } from '@bpci/core';
import { loadWasmBackend } from '../dist/index.js';

const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const time = quick ? 300 : 1500;

const wasm = await loadWasmBackend({ ed25519: null });
const js = jsBackend();

function bytes(n, seed) {
  const b = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    b[i] = s & 0xff;
  }
  return b;
}

const MiB = bytes(1 << 20, 1);
const shortCount = 4096;
const shorts = packMessages(Array.from({ length: shortCount }, (_, i) => bytes(64, i + 7)));
const shortList = Array.from({ length: shortCount }, (_, i) => shorts.data.subarray(i * 64, i * 64 + 64));
const header = bytes(80, 3);
const never = new Uint8Array(32); // only an all-zero hash would meet it
const powWasmCount = quick ? 1 << 16 : 1 << 18;
const powJsCount = 1 << 12;
const leafCount = 1 << 16;
const leaves = Array.from({ length: leafCount }, (_, i) => bytes(32, i + 11));

// Sanity: the numbers below are only worth something if the results agree.
if (Buffer.compare(wasm.blake3(MiB), nobleBlake3(MiB)) !== 0) throw new Error('blake3 mismatch');
if (Buffer.compare(wasm.merkleRoot(leaves), js.merkleRoot(leaves)) !== 0) throw new Error('merkle mismatch');

const cases = [
  {
    id: 'blake3-1MiB', unit: 'GB/s', better: 'higher',
    wasm: () => wasm.blake3(MiB), noble: () => nobleBlake3(MiB),
    metric: (ms) => (1 << 20) / (ms * 1e6),
  },
  {
    id: 'blake3Many-64B', unit: 'ns/msg', better: 'lower',
    wasm: () => wasm.blake3ManyPacked(shorts), noble: () => { for (const m of shortList) nobleBlake3(m); },
    metric: (ms) => (ms * 1e6) / shortCount,
  },
  {
    id: 'pow-80B', unit: 'M hashes/s', better: 'higher',
    wasm: () => wasm.powSearch(header, never, 1n << 31n, powWasmCount),
    noble: () => powSearchWith(nobleBlake3, header, never, 1n << 31n, powJsCount),
    metric: (ms, which) => (which === 'wasm' ? powWasmCount : powJsCount) / (ms * 1e3),
  },
  {
    id: 'merkle-2^16x32B', unit: 'ms', better: 'lower',
    wasm: () => wasm.merkleRoot(leaves), noble: () => js.merkleRoot(leaves),
    metric: (ms) => ms,
  },
];

const rows = [];
for (const c of cases) {
  const bench = new Bench({ time, warmup: true });
  bench.add(`wasm ${c.id}`, c.wasm);
  bench.add(`noble ${c.id}`, c.noble);
  await bench.run();
  const [tw, tn] = bench.tasks.map((t) => t.result);
  if (tw?.state !== 'completed' || tn?.state !== 'completed') throw new Error(`${c.id}: benchmark did not complete`);
  const w = c.metric(tw.latency.p50, 'wasm');
  const n = c.metric(tn.latency.p50, 'noble');
  const ratio = c.better === 'higher' ? w / n : n / w;
  rows.push({ case: c.id, unit: c.unit, wasm: +w.toPrecision(4), noble: +n.toPrecision(4), wasmVsNoble: +ratio.toFixed(2), samples: tw.latency.samplesCount ?? tw.latency.samples?.length });
}

if (asJson) console.log(JSON.stringify({ node: process.version, rows }, null, 2));
else {
  console.log(`@bpci/crypto-wasm microbench (medians, one thread, node ${process.version})`);
  console.log('| case | unit | wasm | noble | wasm advantage |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.case} | ${r.unit} | ${r.wasm} | ${r.noble} | ${r.wasmVsNoble}x |`);
}
