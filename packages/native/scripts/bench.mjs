// Benchmarks of the native backend (medians over repeated runs). Run after `npm run build -w
// @bpci/native`:  node packages/native/scripts/bench.mjs [--quick]
// Threads: rayon uses every core (RAYON_NUM_THREADS overrides). Figures are what this machine
// measures, printed with the machine's core count; nothing here is hard-coded.
import { availableParallelism } from 'node:os';
import { loadNativeBackend, nativeUnavailableReason } from '../dist/index.js';

const quick = process.argv.includes('--quick');
const b = loadNativeBackend();
if (!b) {
  console.error(`native backend unavailable: ${nativeUnavailableReason()}`);
  process.exit(1);
}

function median(xs) {
  const s = [...xs].sort((a, c) => a - c);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

let lastCpuRatio = 0;
/**
 * Median seconds per call of fn over `runs` timed runs (after `warm` untimed ones). Also keeps
 * the process CPU time / wall time ratio of the timed runs (lastCpuRatio): on a shared machine
 * a ratio well below the thread count means other processes took the cores.
 */
function time(fn, runs, warm = 2) {
  for (let i = 0; i < warm; i++) fn();
  const t = [];
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const c = process.cpuUsage(c0);
  lastCpuRatio = (c.user + c.system) / 1e6 / (Number(process.hrtime.bigint() - w0) / 1e9);
  return median(t);
}

function randomBytes(n, seed) {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

const runs = quick ? 5 : 21;
const rows = [];
/**
 * One row. `rate` says whether higher is better (throughput) or the value is a duration; the
 * 'per CPU-s' column normalises by the CPU time the process really got (throughput per CPU
 * second, or CPU milliseconds for durations), which stays meaningful when other processes
 * share the cores.
 */
const report = (what, value, unit, target, rate = true) => {
  const perCpu = rate ? value / lastCpuRatio : value * lastCpuRatio;
  rows.push({
    what,
    median: Number(value.toPrecision(4)),
    unit,
    target,
    'cpu/wall': Number(lastCpuRatio.toFixed(2)),
    [rate ? 'per CPU-s' : 'CPU ms']: Number(perCpu.toPrecision(4)),
  });
};

// BLAKE3 1 MiB
const mib = randomBytes(1 << 20, 1);
const tSerial = time(() => b.blake3Serial(mib), runs * 5);
report('BLAKE3 1 MiB, one thread', (1 << 20) / tSerial / 1e9, 'GB/s', '>= 7');
const tRayon = time(() => b.blake3(mib), runs * 5);
report(`BLAKE3 1 MiB, rayon (${availableParallelism()} cores)`, (1 << 20) / tRayon / 1e9, 'GB/s', '>= 12');

// PoW: 80-byte header, a target nothing meets, so every nonce of the range is hashed.
const header = randomBytes(80, 2);
const never = new Uint8Array(32);
const powCount = quick ? 1 << 22 : 1 << 24;
const tPow = time(() => b.powSearch(header, never, 0n, powCount), quick ? 3 : 7, 1);
report(`PoW 80-byte header (${b.laneKernel} lanes, all cores)`, powCount / tPow / 1e6, 'M hash/s', '>= 25');

// Ed25519 batch verification of valid signatures.
function sigs(n) {
  const items = [];
  for (let i = 0; i < n; i++) {
    const seed = randomBytes(32, 1000 + i);
    const msg = randomBytes(64, 5000 + i);
    items.push({ publicKey: b.ed25519PublicKey(seed), message: msg, signature: b.ed25519Sign(seed, msg) });
  }
  return items;
}
for (const n of [1, 64, 1024]) {
  const items = sigs(n);
  if (!b.ed25519VerifyBatch(items).every((v) => v === 1)) throw new Error('valid batch rejected');
  const reps = n === 1 ? 200 : n === 64 ? 20 : 2;
  const t = time(() => { for (let r = 0; r < reps; r++) b.ed25519VerifyBatch(items); }, quick ? 5 : 11) / reps;
  report(`Ed25519 verify, batch of ${n}`, n / t, 'verify/s', n === 1 ? '' : '>= 100k');
}

// Merkle root of 2^20 32-byte leaves.
const leafCount = 1 << 20;
const packedData = randomBytes(leafCount * 32, 3);
const offsets = new Uint32Array(leafCount + 1).map((_, i) => i * 32);
const tMerkle = time(() => b.merkleRootPacked({ data: packedData, offsets }), quick ? 5 : 11);
report('Merkle root 2^20 x 32 B leaves, packed', tMerkle * 1e3, 'ms', '<= 50', false);
const leaves = Array.from({ length: leafCount }, (_, i) => packedData.subarray(i * 32, i * 32 + 32));
const tMerkleArr = time(() => b.merkleRoot(leaves), quick ? 3 : 7, 1);
report('Merkle root 2^20 x 32 B leaves, array API (incl. packing)', tMerkleArr * 1e3, 'ms', '', false);

console.table(rows);
console.log(`cores: ${availableParallelism()}, lane kernel: ${b.laneKernel}, RAYON_NUM_THREADS=${process.env.RAYON_NUM_THREADS ?? '(all)'}`);
