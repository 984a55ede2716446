// Two builds of the addon in ONE process, calls interleaved: the low-noise companion of
// compare-builds.mjs for a shared, loaded machine (issue 13 §1). Both .node files are loaded side
// by side (distinct files, so Node keeps two modules) and each workload alternates A, B, B, A, ...
// in short slices; every slice pair gives one ratio, so load that drifts during the run hits
// both builds alike. Prints per workload the median time per call of each build (CPU time of
// the process, then wall time) and the median and range of the paired ratios.
//
//   node packages/native/scripts/compare-inprocess.mjs [--rounds N] [--slice-ms MS] [--a FILE] [--b FILE]
//
// Default: A = bpci_native.node (target-cpu=native), B = prebuilds/<platform>/bpci_native.node.
// Runs on one rayon thread (it re-executes itself with RAYON_NUM_THREADS=1). Raw addon calls:
// no argument checks, inputs made here.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { platformKey } from '../dist/platform.js';

if (process.env.RAYON_NUM_THREADS !== '1') {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, RAYON_NUM_THREADS: '1' },
  });
  process.exit(r.status ?? 1);
}

const pkg = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const rounds = Number(arg("--rounds", "15"));
const sliceNs = Number(arg("--slice-ms", "20")) * 1e6;
const fileA = arg('--a', `${pkg}bpci_native.node`);
const fileB = arg('--b', `${pkg}prebuilds/${platformKey()}/bpci_native.node`);
const require = createRequire(import.meta.url);
const A = require(fileA);
const B = require(fileB);
if (A === B) throw new Error('both files resolved to one module');

function rand(n, seed) {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}
function packed(n, len, seed) {
  const data = rand(n * len, seed);
  const offsets = Uint32Array.from({ length: n + 1 }, (_, i) => i * len);
  return { data, offsets };
}
function signedBatch(n) {
  const pks = new Uint8Array(32 * n);
  const sigs = new Uint8Array(64 * n);
  const msgs = packed(n, 100, 7);
  const seeds = [rand(32, 11), rand(32, 12), rand(32, 13), rand(32, 14)];
  const keys = seeds.map((s) => A.ed25519PublicKey(s));
  for (let i = 0; i < n; i++) {
    const k = i % seeds.length;
    pks.set(keys[k], 32 * i);
    sigs.set(A.ed25519Sign(seeds[k], msgs.data.subarray(100 * i, 100 * i + 100)), 64 * i);
  }
  return [pks, sigs, msgs.data, msgs.offsets, new Uint8Array(n).fill(1)];
}

const MIB = rand(1 << 20, 1);
const many = packed(4096, 64, 2);
const leaves = packed(1 << 14, 32, 3);
const header = rand(80, 4);
const impossible = new Uint8Array(32);
const seed = rand(32, 5);
const msg = rand(100, 6);
const sigOut = new Uint8Array(64);
const v64 = signedBatch(64);
const v1024 = signedBatch(1024);

const workloads = [
  { name: 'BLAKE3 1 MiB, one thread', per: 1, unit: 'call', run: (m) => m.blake3Serial(MIB) },
  { name: 'BLAKE3 4096 x 64 B (blake3Many)', per: 1, unit: 'call', run: (m) => m.blake3Many(many.data, many.offsets) },
  { name: 'PoW 2^16 nonces, 80-byte header', per: 1, unit: 'call', run: (m) => m.powSearch(header, impossible, 0, 0, 1 << 16) },
  { name: 'Ed25519 sign', per: 1, unit: 'call', run: (m) => m.ed25519Sign(seed, msg, sigOut) },
  { name: 'Ed25519 verify, batch 64', per: 1, unit: 'call', run: (m) => m.ed25519VerifyBatch(...v64) },
  { name: 'Ed25519 verify, batch 1024', per: 1, unit: 'call', run: (m) => m.ed25519VerifyBatch(...v1024) },
  { name: 'Merkle root 2^14 x 32 B leaves', per: 1, unit: 'call', run: (m) => m.merkleRoot(leaves.data, leaves.offsets) },
];

/** CPU and wall nanoseconds per call of `n` calls. */
function slice(fn, mod, n) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(mod);
  const wall = Number(process.hrtime.bigint() - t0) / n;
  const c = process.cpuUsage(c0);
  return { cpu: ((c.user + c.system) * 1000) / n, wall };
}
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const us = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} µs`);

console.log(`A = ${fileA}\nB = ${fileB}`);
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds per workload, slices of ~${sliceNs / 1e6} ms`);
console.log('\n| workload (1 thread) | A cpu/call | B cpu/call | B speed / A, cpu: median (min-max) | A wall | B wall | B / A, wall |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const w of workloads) {
  // Calibrate: calls per slice of about 20 ms (at least 1), after a warm-up of both.
  slice(w.run, A, 2);
  slice(w.run, B, 2);
  const one = slice(w.run, A, 3).wall;
  const n = Math.max(1, Math.round(sliceNs / one));
  const a = [], b = [], rc = [], rw = [];
  for (let r = 0; r < rounds; r++) {
    const [x, y] = r % 2 === 0 ? [slice(w.run, A, n), slice(w.run, B, n)] : (() => { const q = slice(w.run, B, n); return [slice(w.run, A, n), q]; })();
    a.push(x); b.push(y);
    rc.push(x.cpu / y.cpu);
    rw.push(x.wall / y.wall);
  }
  const f = (v) => v.toFixed(3);
  console.log(`| ${w.name} | ${us(median(a.map((s) => s.cpu)))} | ${us(median(b.map((s) => s.cpu)))} | ${f(median(rc))}x (${f(Math.min(...rc))}-${f(Math.max(...rc))}) | ${us(median(a.map((s) => s.wall)))} | ${us(median(b.map((s) => s.wall)))} | ${f(median(rw))}x |`);
}
console.log(`\nload average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
