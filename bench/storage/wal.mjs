// Write-ahead log benchmark (issue 10): what a durable safety record costs on this host.
//
//   node bench/storage/wal.mjs [--dir DIR] [--rounds 5] [--samples 300] [--json FILE]
//
// Needs a build (npx tsc -b): it imports packages/node/dist. One invocation measures, in
// interleaved rounds on the same disk:
// - raw: write 4 KiB + fdatasync (fs callbacks, fs.promises FileHandle) and a 4 KiB O_DSYNC write,
//   into a preallocated file: the floor any durable write pays here;
// - the WAL: closed-loop appenders (1 and 32 lanes, each awaiting its own append), and "turns" of
//   3 or 32 appends issued together then awaited (the shape `bpci bench storage` uses for LMDB);
//   128-byte records; fdatasync and O_DSYNC; callback and fs.promises io;
// - LMDB through the Store (measureGroupCommit of group-commit-bench.ts, durable): 1 persist of 3
//   records per turn, and 32 persists of 1 record per turn.
// Each row reports the median over rounds of p50 / p99 latency (µs) and of the rate, and the
// ratio of its p50 to the raw callback write+fdatasync p50. The order of the scenarios rotates
// from round to round. Never used by tests.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (p) => path.join(root, 'packages/node/dist', p);
if (!fs.existsSync(dist('storage/wal.js'))) {
  console.error('packages/node/dist/storage/wal.js is missing: run `npx tsc -b` first');
  process.exit(2);
}
const { openWal, promisesIo } = await import(dist('storage/wal.js'));
const { measureGroupCommit } = await import(dist('storage/group-commit-bench.js'));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}
const baseDir = arg('dir', os.tmpdir());
const rounds = Number(arg('rounds', '5'));
const samples = Number(arg('samples', '300'));
const jsonOut = arg('json', undefined);
const RECORD_BYTES = 128;

const now = () => process.hrtime.bigint();
const us = (t0) => Number(now() - t0) / 1000;
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function summary(lat, ops, seconds) {
  lat.sort((a, b) => a - b);
  return { p50Us: quantile(lat, 0.5), p99Us: quantile(lat, 0.99), perSecond: ops / seconds };
}

const cb = (fn) => new Promise((res, rej) => fn((err, v) => (err ? rej(err) : res(v))));

async function rawWrites(dir, mode) {
  const file = path.join(dir, `raw-${mode}`);
  const size = (samples + 20) * 4096;
  fs.writeFileSync(file, Buffer.alloc(size));
  const fd0 = fs.openSync(file, 'r+');
  fs.fsyncSync(fd0);
  fs.closeSync(fd0);
  const page = Buffer.alloc(4096, 7);
  const lat = [];
  const flags = fs.constants.O_RDWR | (mode === 'dsync' ? fs.constants.O_DSYNC : 0);
  let t0;
  if (mode === 'filehandle') {
    const fh = await fs.promises.open(file, flags);
    for (let i = 0; i < samples + 20; i++) {
      const t = now();
      if (i === 20) t0 = t;
      await fh.write(page, 0, 4096, i * 4096);
      await fh.datasync();
      if (i >= 20) lat.push(us(t));
    }
    await fh.close();
  } else {
    const fd = fs.openSync(file, flags);
    for (let i = 0; i < samples + 20; i++) {
      const t = now();
      if (i === 20) t0 = t;
      await cb((k) => fs.write(fd, page, 0, 4096, i * 4096, k));
      if (mode !== 'dsync') await cb((k) => fs.fdatasync(fd, k));
      if (i >= 20) lat.push(us(t));
    }
    fs.closeSync(fd);
  }
  return summary(lat, samples, us(t0) / 1e6);
}

async function walLanes(dir, lanes, opts) {
  const { wal } = await openWal(dir, opts);
  await wal.settled();
  const payload = new Uint8Array(RECORD_BYTES).fill(3);
  for (let i = 0; i < 20; i++) await wal.append(1, payload);
  const lat = [];
  const total = samples * Math.max(1, Math.min(lanes, 8));
  let issued = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (issued < total) {
        issued++;
        const t = now();
        await wal.append(1, payload);
        lat.push(us(t));
      }
    }),
  );
  const seconds = us(t0) / 1e6;
  const stats = wal.stats();
  await wal.close();
  return { ...summary(lat, lat.length, seconds), appendsPerGroup: (stats.appends - 20) / Math.max(1, stats.groups - 20) };
}

async function walTurns(dir, perTurn, opts) {
  const { wal } = await openWal(dir, opts);
  await wal.settled();
  const payload = new Uint8Array(RECORD_BYTES).fill(5);
  for (let i = 0; i < 20; i++) await wal.append(1, payload);
  const lat = [];
  const t0 = now();
  for (let t = 0; t < samples; t++) {
    const start = now();
    const ps = [];
    for (let k = 0; k < perTurn; k++) ps.push(wal.append(1, payload));
    await Promise.all(ps);
    lat.push(us(start));
  }
  const seconds = us(t0) / 1e6;
  await wal.close();
  return { ...summary(lat, samples * perTurn, seconds), appendsPerGroup: perTurn };
}

async function lmdb(dir, persistsPerTurn, recordsPerPersist) {
  const r = await measureGroupCommit({ dir, durable: true, persistsPerTurn, recordsPerPersist, turns: samples, valueBytes: RECORD_BYTES });
  return { p50Us: r.p50Us, p99Us: r.p99Us, perSecond: r.recordsPerSecond, appendsPerGroup: persistsPerTurn * recordsPerPersist };
}

const scenarios = [
  { id: 'raw-cb', label: 'raw 4 KiB write + fdatasync (fs callbacks)', unit: 'writes/s', run: (d) => rawWrites(d, 'callback') },
  { id: 'raw-fh', label: 'raw 4 KiB write + fdatasync (FileHandle)', unit: 'writes/s', run: (d) => rawWrites(d, 'filehandle') },
  { id: 'raw-dsync', label: 'raw 4 KiB O_DSYNC write (fs callbacks)', unit: 'writes/s', run: (d) => rawWrites(d, 'dsync') },
  { id: 'wal-1', label: 'WAL, 1 appender, fdatasync, callback io', unit: 'appends/s', run: (d) => walLanes(d, 1, {}) },
  { id: 'wal-1-promises', label: 'WAL, 1 appender, fdatasync, fs.promises io', unit: 'appends/s', run: (d) => walLanes(d, 1, { io: promisesIo() }) },
  { id: 'wal-1-dsync', label: 'WAL, 1 appender, O_DSYNC', unit: 'appends/s', run: (d) => walLanes(d, 1, { syncMode: 'dsync' }) },
  { id: 'wal-32', label: 'WAL, 32 appenders, fdatasync', unit: 'appends/s', run: (d) => walLanes(d, 32, {}) },
  { id: 'wal-32-dsync', label: 'WAL, 32 appenders, O_DSYNC', unit: 'appends/s', run: (d) => walLanes(d, 32, { syncMode: 'dsync' }) },
  { id: 'wal-turn-3', label: 'WAL, 3 appends per turn, fdatasync', unit: 'appends/s', run: (d) => walTurns(d, 3, {}) },
  { id: 'wal-turn-32', label: 'WAL, 32 appends per turn, fdatasync', unit: 'appends/s', run: (d) => walTurns(d, 32, {}) },
  { id: 'lmdb-1x3', label: 'LMDB Store, 1 persist x 3 records per turn', unit: 'records/s', run: (d) => lmdb(d, 1, 3) },
  { id: 'lmdb-32x1', label: 'LMDB Store, 32 persists x 1 record per turn', unit: 'records/s', run: (d) => lmdb(d, 32, 1) },
];

const work = fs.mkdtempSync(path.join(baseDir, 'bpci-wal-bench-'));
const results = Object.fromEntries(scenarios.map((s) => [s.id, []]));
const started = new Date();
try {
  for (let r = 0; r < rounds; r++) {
    // Each round starts at a different scenario, so a burst of load from other jobs on this
    // shared machine does not always land on the same row.
    const shift = (r * 5) % scenarios.length;
    for (const s of [...scenarios.slice(shift), ...scenarios.slice(0, shift)]) {
      const d = path.join(work, `${s.id}-${r}`);
      fs.mkdirSync(d);
      results[s.id].push(await s.run(d));
      fs.rmSync(d, { recursive: true, force: true });
      process.stderr.write(`round ${r + 1}/${rounds} ${s.id} done\n`);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

const med = (id, k) => median(results[id].map((x) => x[k]));
const base = med('raw-cb', 'p50Us');
const lines = [
  `WAL bench: ${os.hostname()}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
  `dir ${baseDir}, ${rounds} rounds x ${samples} samples, ${RECORD_BYTES}-byte records, ${started.toISOString()}; medians over rounds`,
  '',
  '| scenario | p50 µs | p99 µs | rate | per group | p50 / raw fdatasync |',
  '|---|---:|---:|---:|---:|---:|',
];
for (const s of scenarios) {
  const p50 = med(s.id, 'p50Us');
  const perGroup = s.id.startsWith('raw') ? '' : med(s.id, 'appendsPerGroup').toFixed(1);
  lines.push(`| ${s.label} | ${Math.round(p50)} | ${Math.round(med(s.id, 'p99Us'))} | ${Math.round(med(s.id, 'perSecond'))} ${s.unit} | ${perGroup} | ${(p50 / base).toFixed(2)}x |`);
}
console.log(lines.join('\n'));
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ started: started.toISOString(), host: os.hostname(), cores: os.cpus().length, node: process.version, load: os.loadavg(), rounds, samples, results }, null, 2));
