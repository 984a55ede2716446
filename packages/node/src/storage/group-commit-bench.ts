// Group-commit latency of the Store: how long until a persistBatch is durable, when one or many
// persists are issued in the same event-loop turn (one LMDB transaction, one flush).
//
// Run after a build:  node packages/node/dist/storage/group-commit-bench.js [dir]
// (or `bpci bench storage`). Reports medians and p99 in microseconds; never used by tests.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type StoreRecord } from './store.js';

export interface GroupCommitResult {
  readonly durable: boolean;
  /** persistBatch calls issued in one turn (each with `recordsPerPersist` records). */
  readonly persistsPerTurn: number;
  readonly recordsPerPersist: number;
  readonly turns: number;
  /** Latency from issuing the turn's persists until the last one resolved. */
  readonly p50Us: number;
  readonly p99Us: number;
  /** Records made durable per second at that latency. */
  readonly recordsPerSecond: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function measureGroupCommit(opts: {
  dir: string;
  durable: boolean;
  persistsPerTurn: number;
  recordsPerPersist?: number;
  turns?: number;
  valueBytes?: number;
}): Promise<GroupCommitResult> {
  const turns = opts.turns ?? 500;
  const recordsPerPersist = opts.recordsPerPersist ?? 3;
  const value = new Uint8Array(opts.valueBytes ?? 128).fill(7);
  const store = openStore(opts.dir, { durable: opts.durable });
  const lat: number[] = [];
  let key = 0;
  const t0 = process.hrtime.bigint();
  for (let t = 0; t < turns; t++) {
    const start = process.hrtime.bigint();
    const ps: Promise<void>[] = [];
    for (let p = 0; p < opts.persistsPerTurn; p++) {
      const recs: StoreRecord[] = [];
      for (let r = 0; r < recordsPerPersist; r++) recs.push({ kind: 'block', key: key++, value });
      ps.push(store.persistBatch(recs));
    }
    await Promise.all(ps);
    lat.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  const totalS = Number(process.hrtime.bigint() - t0) / 1e9;
  await store.close();
  lat.sort((a, b) => a - b);
  return {
    durable: opts.durable,
    persistsPerTurn: opts.persistsPerTurn,
    recordsPerPersist,
    turns,
    p50Us: Math.round(quantile(lat, 0.5)),
    p99Us: Math.round(quantile(lat, 0.99)),
    recordsPerSecond: Math.round(key / totalS),
  };
}

export async function runGroupCommitBench(baseDir?: string): Promise<GroupCommitResult[]> {
  const root = fs.mkdtempSync(path.join(baseDir ?? os.tmpdir(), 'bpci-gc-bench-'));
  const results: GroupCommitResult[] = [];
  try {
    for (const durable of [true, false]) {
      for (const persistsPerTurn of [1, 8, 64]) {
        const dir = path.join(root, `${durable ? 'durable' : 'nosync'}-${persistsPerTurn}`);
        results.push(await measureGroupCommit({ dir, durable, persistsPerTurn }));
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return results;
}

export function formatGroupCommitTable(results: readonly GroupCommitResult[]): string {
  const lines = [
    '| mode | persists/turn | records/persist | p50 µs | p99 µs | records/s |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.durable ? 'durable' : 'no fsync'} | ${r.persistsPerTurn} | ${r.recordsPerPersist} | ${r.p50Us} | ${r.p99Us} | ${r.recordsPerSecond} |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const results = await runGroupCommitBench(process.argv[2]);
  console.log(formatGroupCommitTable(results));
}
