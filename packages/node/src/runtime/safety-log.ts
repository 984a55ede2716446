// The validator's safety log: the replica's safety records (what it signed and must never
// contradict after a restart) in the write-ahead log (storage/wal.ts), so that a vote waits for
// one WAL group commit, about one fdatasync, instead of an LMDB transaction (issue 10). The
// block log, checkpoints, sessions and the transaction index stay in LMDB (storage/store.ts).
//
// Which records go where (the replica's PersistRecord kinds):
//   WAL  : 'vote', 'view', 'prepared', 'reservation'  (gate the signed messages that need them)
//   LMDB : 'committed', 'checkpoint'    (the block log and state; they gate nothing: a crash that
//                                        loses them leaves a validator behind, and it catches up)
// The simulator's disk model makes the same split (core testing/sim.ts, `durable` events), so
// the long simulator runs check this node's crash behaviour, not a stricter one.
//
// Contract:
// - `append(records)` queues them in order and returns the LSN of the last one (or the LSN of
//   the last record appended before, when `records` holds none of the WAL's kinds). Every
//   record at or below an LSN is durable once `durableLsn` reaches it; `waitFor(lsn)` resolves
//   then. A WAL failure is fatal (wal.ts): `failed` is set and every waiter rejects.
// - Restore: `openSafetyLog` returns the records in the order they were appended; replaying
//   them into DurableState (with the store's checkpoint and blocks applied after them) gives
//   the state the replica restarts from (records.ts loadRestoredState).
// - Bounded: a mirror of the live records (a DurableState) is kept in memory, pruned when a
//   stable checkpoint is durable in LMDB (`checkpointDurable`). Once a segment's worth has been
//   appended since the last time, the live records are appended again as one group and every
//   segment before them is removed, so the log holds about two segments plus the live set (the watermark window's
//   votes and prepared certificates, the view record).

import path from 'node:path';
import fs from 'node:fs';
import { CodecError } from '@bpci/core/codec/wire';
import { DurableState, decodePreparedCert, encodePreparedCert, type PersistRecord, type StableCheckpoint } from '@bpci/core';
import { openWal, WAL_DEFAULTS, type Wal, type WalOptions, type WalRecovery } from '../storage/wal.js';
import { decodeReservation, decodeViewRecord, decodeVote, encodeReservation, encodeViewRecord, encodeVote } from './records.js';

/** WAL record types (one byte). */
const TYPE_VOTE = 1;
const TYPE_VIEW = 2;
const TYPE_PREPARED = 3;
const TYPE_RESERVATION = 4;

export const SAFETY_LOG_DIR = 'safety-wal';

export type SafetyRecord = Extract<PersistRecord, { kind: 'vote' | 'view' | 'prepared' | 'reservation' }>;

export function isSafetyRecord(r: PersistRecord): r is SafetyRecord {
  return r.kind === 'vote' || r.kind === 'view' || r.kind === 'prepared' || r.kind === 'reservation';
}

export function encodeSafetyRecord(r: SafetyRecord): { type: number; payload: Uint8Array } {
  switch (r.kind) {
    case 'vote':
      return { type: TYPE_VOTE, payload: encodeVote(r.vote) };
    case 'view':
      return { type: TYPE_VIEW, payload: encodeViewRecord(r.view, r.justification) };
    case 'prepared':
      return { type: TYPE_PREPARED, payload: encodePreparedCert(r.cert) };
    case 'reservation':
      return { type: TYPE_RESERVATION, payload: encodeReservation(r.view, r.upTo) };
    default: {
      const never: never = r;
      throw new Error(`not a safety record: ${(never as { kind: string }).kind}`);
    }
  }
}

export function decodeSafetyRecord(type: number, payload: Uint8Array): SafetyRecord {
  switch (type) {
    case TYPE_VOTE:
      return { kind: 'vote', vote: decodeVote(payload) };
    case TYPE_VIEW: {
      const { view, justification } = decodeViewRecord(payload);
      return { kind: 'view', view, justification };
    }
    case TYPE_PREPARED:
      return { kind: 'prepared', cert: decodePreparedCert(payload) };
    case TYPE_RESERVATION:
      return { kind: 'reservation', ...decodeReservation(payload) };
    default:
      throw new CodecError('bad-tag', `safety log record type ${type}`);
  }
}

export interface SafetyLogObserver {
  /**
   * Records became durable: `appends` of them, `ms` from the first one's append to durable, and
   * whether a signed message was waiting for them (a sync on the critical path).
   */
  synced?(appends: number, ms: number, gating: boolean): void;
  /** The live records were rewritten and older segments removed. */
  compacted?(records: number, segmentsRemoved: number): void;
}

export class SafetyLog {
  /** Live records (pruned at durable checkpoints): what a compaction writes again. */
  private readonly mirror = new DurableState();
  private lastLsn: number;
  private readonly waiters: { lsn: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;
  private compacting = false;
  private closed = false;
  /** Bytes appended since the last compaction began: one segment's worth triggers the next. */
  private bytesSinceCompaction = 0;
  observer: SafetyLogObserver = {};

  constructor(
    private readonly wal: Wal,
    restored: readonly SafetyRecord[],
    private readonly segmentBytes: number,
  ) {
    this.lastLsn = wal.nextLsn - 1;
    this.reportedLsn = this.lastLsn;
    this.mirror.apply(restored);
  }

  get durableLsn(): number {
    return this.wal.durableLsn;
  }

  /** LSN of the last record appended (0: none). */
  get appendedLsn(): number {
    return this.lastLsn;
  }

  get failed(): Error | null {
    return this.failure ?? this.wal.failed;
  }

  get segmentCount(): number {
    return this.wal.segmentCount;
  }

  /** Queues the WAL's kinds of `records` (others are ignored) and returns the LSN to wait for. */
  append(records: readonly PersistRecord[]): number {
    const mine = records.filter(isSafetyRecord);
    if (mine.length === 0) return this.lastLsn;
    if (this.closed) throw new Error('safety log is closed');
    this.mirror.apply(mine);
    for (const r of mine) this.appendOne(r);
    return this.lastLsn;
  }

  private appendOne(r: SafetyRecord): void {
    const { type, payload } = encodeSafetyRecord(r);
    this.bytesSinceCompaction += payload.length + 32;
    this.pendingT0.push(performance.now());
    this.lastLsn++;
    const expected = this.lastLsn;
    this.wal.append(type, payload).then(
      (lsn) => {
        if (lsn !== expected) this.fail(new Error(`safety log LSN ${lsn}, expected ${expected}`));
        else this.release();
      },
      (e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** Resolves once every record up to `lsn` is durable (at once when it already is). */
  waitFor(lsn: number): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (lsn <= this.wal.durableLsn) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ lsn, resolve, reject }));
  }

  /** Append times of the records not yet reported durable (LSN reported + 1 first). */
  private readonly pendingT0: number[] = [];
  private reportedLsn: number;

  private release(): void {
    const durable = this.wal.durableLsn;
    if (durable <= this.reportedLsn) return;
    const appends = Math.min(durable - this.reportedLsn, this.pendingT0.length);
    const ms = performance.now() - (this.pendingT0[0] ?? performance.now());
    this.pendingT0.splice(0, appends);
    this.reportedLsn = durable;
    // Waiters are added in LSN order (append order), so the released ones are a prefix.
    let k = 0;
    while (k < this.waiters.length && this.waiters[k]!.lsn <= durable) k++;
    const done = k > 0 ? this.waiters.splice(0, k) : [];
    this.observer.synced?.(appends, ms, done.length > 0);
    for (const w of done) w.resolve();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  /**
   * A stable checkpoint at `cp.seq` is durable in LMDB: the records it covers are no longer
   * needed. Prunes the mirror and, when the log spans more than one segment, rewrites the live
   * records and removes the segments before them.
   */
  checkpointDurable(cp: StableCheckpoint): void {
    if (this.closed || this.failed !== null) return;
    this.mirror.apply([{ kind: 'checkpoint', checkpoint: cp }]);
    // Rewriting the live records costs their size: do it once a segment's worth was appended
    // since the last time, so the log stays within about (live set + 2 segments).
    if (this.compacting || this.wal.segmentCount < 2 || this.bytesSinceCompaction < this.segmentBytes) return;
    void this.compact();
  }

  private async compact(): Promise<void> {
    this.compacting = true;
    try {
      const live = this.liveRecords();
      this.bytesSinceCompaction = 0;
      const from = this.lastLsn + 1;
      for (const r of live) this.appendOne(r);
      const upTo = this.lastLsn;
      if (live.length > 0) await this.waitFor(upTo);
      if (this.closed || this.failed !== null) return;
      const removed = await this.wal.truncateBefore(from);
      this.observer.compacted?.(live.length, removed);
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.compacting = false;
    }
  }

  /** The records that restore what the mirror holds: the view, prepared certificates, votes. */
  private liveRecords(): SafetyRecord[] {
    const out: SafetyRecord[] = [];
    const m = this.mirror;
    if (m.view > 0 || m.justification !== null) out.push({ kind: 'view', view: m.view, justification: m.justification });
    if (m.reservation !== null) out.push({ kind: 'reservation', view: m.reservation.view, upTo: m.reservation.upTo });
    for (const s of [...m.prepared.keys()].sort((a, b) => a - b)) out.push({ kind: 'prepared', cert: m.prepared.get(s)! });
    for (const vote of m.votes) out.push({ kind: 'vote', vote });
    return out;
  }

  /** Waits for appends in flight, then closes the WAL. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.wal.close();
    for (const w of this.waiters.splice(0)) w.reject(new Error('safety log closed'));
  }
}

export interface OpenSafetyLogResult {
  readonly log: SafetyLog;
  /** The records to restore from, in append order. */
  readonly records: SafetyRecord[];
  readonly recovery: WalRecovery;
}

/** Opens (or creates) the safety log under `dataDir/safety-wal` and reads it back. */
export async function openSafetyLog(dataDir: string, options: WalOptions = {}): Promise<OpenSafetyLogResult> {
  const dir = path.join(dataDir, SAFETY_LOG_DIR);
  await fs.promises.mkdir(dir, { recursive: true });
  const { wal, records: raw, recovery } = await openWal(dir, options);
  const records: SafetyRecord[] = [];
  try {
    for (const r of raw) {
      try {
        records.push(decodeSafetyRecord(r.type, r.payload));
      } catch (e) {
        // A checksummed record that does not decode was written by other code: refuse to guess.
        throw new Error(`safety log ${dir}: record ${r.lsn} (type ${r.type}) does not decode: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } catch (e) {
    await wal.close();
    throw e;
  }
  return { log: new SafetyLog(wal, records, options.segmentBytes ?? WAL_DEFAULTS.segmentBytes), records, recovery };
}
