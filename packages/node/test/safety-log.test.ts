// The safety log (runtime/safety-log.ts): the replica's safety records in the write-ahead log,
// read back after a restart with the same rule as the simulator (core DurableState), bounded by
// compaction at durable checkpoints.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PersistRecord, PreparedCert, StableCheckpoint } from '@bpci/core';
import { openSafetyLog, SAFETY_LOG_DIR, type SafetyLog } from '../src/runtime/safety-log.js';
import { openStore } from '../src/storage/store.js';
import { loadRestoredState, toStoreRecords } from '../src/runtime/records.js';

const dirs: string[] = [];
const logs: SafetyLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-safety-'));
  dirs.push(d);
  return d;
}
async function open(dir: string, segmentBytes = 64 * 1024) {
  const r = await openSafetyLog(dir, { segmentBytes, recordBytesMax: segmentBytes - 1024, preallocate: 'sparse' });
  logs.push(r.log);
  return r;
}
const b = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const cert = (view: number, seq: number, fill: number, opBytes = 3): PreparedCert => ({
  prePrepare: { kind: 'pre-prepare', view, seq, digest: b(32, fill), batch: [{ kind: 'request', clientId: 'c1', requestSeq: seq, op: b(opBytes, 65), key: b(32, 2), sig: b(64, 3) }], from: view % 4, sig: b(64, 1) },
  prepares: [1, 2].map((from) => ({ kind: 'prepare' as const, view, seq, digest: b(32, fill), from, sig: b(64, from) })),
  commits: [],
});
const vote = (kind: 'pre-prepare' | 'prepare' | 'commit', view: number, seq: number, fill: number): PersistRecord => ({ kind: 'vote', vote: { kind, view, seq, digest: b(32, fill) } });
const checkpoint = (seq: number): StableCheckpoint => ({ seq, stateDigest: b(32, 9), snapshot: b(4, 7), proof: [] });

describe('safety log', () => {
  it('takes only safety records, and a waiter resolves once they are durable', async () => {
    const { log } = await open(tmp());
    expect(log.append([{ kind: 'committed', batch: null as never }])).toBe(0);
    const lsn = log.append([vote('prepare', 0, 1, 1), { kind: 'prepared', cert: cert(0, 1, 1) }, { kind: 'checkpoint', checkpoint: checkpoint(0) }]);
    expect(lsn).toBe(2);
    expect(log.durableLsn).toBeLessThan(2);
    await log.waitFor(lsn);
    expect(log.durableLsn).toBe(2);
    await expect(log.waitFor(1)).resolves.toBeUndefined();
  });

  it('reads back what was appended, and restores with the simulator rule', async () => {
    const dir = tmp();
    const a = await open(dir);
    const tc = { kind: 'timeout-cert' as const, view: 2, timeouts: [0, 1, 2].map((from) => ({ kind: 'timeout' as const, view: 2, from, sig: b(64, from + 1) })), from: 3 };
    const recs: PersistRecord[] = [
      vote('prepare', 0, 1, 1),
      { kind: 'prepared', cert: cert(0, 1, 1) },
      { kind: 'prepared', cert: cert(0, 2, 2) },
      { kind: 'view', view: 3, justification: tc },
      { kind: 'prepared', cert: cert(3, 2, 5) },
      // A lower view record written later does not lower the view (DurableState: highest wins).
      { kind: 'view', view: 1, justification: null },
    ];
    await a.log.waitFor(a.log.append(recs));
    await a.log.close();
    const b2 = await open(dir);
    expect(b2.records).toEqual(recs);
    const store = openStore(path.join(dir, 'lmdb'), { durable: false });
    try {
      const r = loadRestoredState(store, b2.records)!;
      expect(r.view).toBe(3);
      expect(r.justification).toEqual(tc);
      expect(r.votes).toEqual([{ kind: 'prepare', view: 0, seq: 1, digest: b(32, 1) }]);
      expect(r.prepared).toEqual([cert(0, 1, 1), cert(3, 2, 5)]);
    } finally {
      await store.close();
    }
  });

  it('the store checkpoint prunes what it covers; legacy LMDB safety records are still read', async () => {
    const dir = tmp();
    const store = openStore(path.join(dir, 'lmdb'), { durable: false });
    try {
      // Written by a validator before the safety log existed.
      await store.persistBatch(toStoreRecords([vote('commit', 0, 5, 5), { kind: 'view', view: 2, justification: null }, { kind: 'prepared', cert: cert(0, 6, 6) }], 0, store));
      await store.persistBatch(toStoreRecords([{ kind: 'checkpoint', checkpoint: checkpoint(5) }], 0, store));
      const r = loadRestoredState(store, [vote('prepare', 4, 7, 7), { kind: 'prepared', cert: cert(4, 3, 3) }, { kind: 'prepared', cert: cert(4, 7, 7) }])!;
      expect(r.view).toBe(2);
      expect(r.checkpoint?.seq).toBe(5);
      expect(r.votes).toEqual([{ kind: 'prepare', view: 4, seq: 7, digest: b(32, 7) }]);
      expect(r.prepared.map((c) => [c.prePrepare.view, c.prePrepare.seq])).toEqual([
        [0, 6],
        [4, 7],
      ]);
    } finally {
      await store.close();
    }
  });

  it('compaction at durable checkpoints keeps the log to about one segment and loses nothing live', async () => {
    const dir = tmp();
    const a = await open(dir, 32 * 1024);
    let compactions = 0;
    a.log.observer = { compacted: () => compactions++ };
    // 400 slots, a checkpoint every 20 (durable at once here), each slot a vote and a prepared
    // certificate of about 1 KiB: about 30 segments' worth of records in all.
    for (let seq = 1; seq <= 400; seq++) {
      const lsn = a.log.append([vote('prepare', 0, seq, seq % 250), { kind: 'prepared', cert: cert(0, seq, seq % 250, 900) }]);
      await a.log.waitFor(lsn);
      if (seq % 20 === 0) {
        a.log.checkpointDurable(checkpoint(seq - 10));
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    expect(compactions).toBeGreaterThanOrEqual(8);
    expect(a.log.segmentCount).toBeLessThanOrEqual(4);
    await a.log.close();
    const files = fs.readdirSync(path.join(dir, SAFETY_LOG_DIR)).filter((f) => f.endsWith('.wal'));
    expect(files.length).toBeLessThanOrEqual(4);
    const again = await open(dir, 32 * 1024);
    const store = openStore(path.join(dir, 'lmdb'), { durable: false });
    try {
      await store.persistBatch(toStoreRecords([{ kind: 'checkpoint', checkpoint: checkpoint(390) }], 0, store));
      const r = loadRestoredState(store, again.records)!;
      // Everything above the last checkpoint the log was told about is back, in order.
      expect(r.prepared.map((c) => c.prePrepare.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 391 + i));
      // Votes may come back twice (the oldest kept segment still holds some the compaction
      // rewrote): SafetyRules keys them by slot, so a repeat changes nothing.
      expect([...new Set(r.votes.map((v) => v.seq))].sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => 391 + i));
      expect(r.votes.length).toBeLessThanOrEqual(40);
    } finally {
      await store.close();
    }
  });

  it('a record that does not decode is a clear error at open, not a wrong restore', async () => {
    const dir = tmp();
    const { openWal } = await import('../src/storage/wal.js');
    const w = await openWal(path.join(dir, SAFETY_LOG_DIR), { segmentBytes: 64 * 1024, preallocate: 'sparse' });
    await w.wal.append(1, b(5, 0xff));
    await w.wal.close();
    await expect(openSafetyLog(dir, { segmentBytes: 64 * 1024 })).rejects.toThrow(/record 1 \(type 1\) does not decode/);
  });

  it('after a WAL failure every waiter rejects and nothing more is accepted', async () => {
    const dir = tmp();
    const { callbackIo } = await import('../src/storage/wal.js');
    let failSync = false;
    const io = { ...callbackIo, datasync: (fd: number) => (failSync ? Promise.reject(Object.assign(new Error('EIO: injected'), { code: 'EIO' })) : callbackIo.datasync(fd)) };
    const r = await openSafetyLog(dir, { segmentBytes: 64 * 1024, preallocate: 'sparse', io });
    logs.push(r.log);
    await r.log.waitFor(r.log.append([vote('prepare', 0, 1, 1)]));
    failSync = true;
    const lsn = r.log.append([vote('prepare', 0, 2, 2)]);
    await expect(r.log.waitFor(lsn)).rejects.toThrow(/EIO/);
    expect(r.log.failed).not.toBeNull();
    await expect(r.log.waitFor(lsn)).rejects.toThrow();
  });
});
