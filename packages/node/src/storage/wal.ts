// A write-ahead log for consensus safety records: what a replica must have on disk before a vote
// leaves (the core's `sendAfterPersist`). Protocol-independent: records are a type byte (the
// caller's, opaque here) and bytes; PBFT uses it first, IBFT and HotStuff can reuse it as is.
//
// Contract:
// - `append(type, payload)` resolves with the record's LSN (1, 2, 3, ... with no gaps, in call
//   order) once the record is durable: written and fdatasync'ed (or written with O_DSYNC).
//   Appends are group-committed: every append made while no group is being written joins the next
//   group, which is ONE write and ONE fdatasync; all its appends resolve after that sync. A group
//   that reaches the end of a segment takes one more write and sync in the next segment (once per
//   segment). The payload is read when its group is written: do not modify it until the promise
//   settles.
// - Bounded: at most `queueBytesMax` bytes of appends are admitted and not yet durable; further
//   appends wait, in call order, and at most `waitersMax` of them, beyond which append rejects
//   with WalQueueFullError.
// - Recovery: `openWal(dir)` scans every segment, returns every record in LSN order, and repairs a
//   torn tail (the group a crash interrupted, whose appends never resolved) by zeroing it. Damage
//   to records that were durable when later records were written is reported as
//   WalCorruptionError and nothing is changed (see wal-segment.ts for the rule and its limit).
//   Every append that resolved before a crash is returned, unless truncated away.
// - A failed write or fdatasync is fatal: the pending appends, those waiting and every later one
//   reject with WalFailedError; nothing is retried. After a failed fsync the kernel may already
//   have marked the unwritten pages clean (PostgreSQL's "fsyncgate"), so a retry that succeeds
//   proves nothing.
// - `truncateBefore(lsn)` removes the segments whose records are all below `lsn` (call it once
//   the state those records protect is durable elsewhere, e.g. a stable checkpoint). Whole
//   segments only: records below `lsn` in the oldest kept segment are still returned on recovery.
// - Never a synchronous fs call: the event loop is not blocked, on the append path or anywhere.
// - One process per directory, not enforced here: the validator holds its data-dir lock
//   (storage/dir-lock.ts). The directory may hold other files; the WAL only touches `%016x.wal`,
//   `wal.spare.<n>` and `wal.spare.tmp`.
//
// Segments are preallocated (zeros by default, so an fdatasync flushes data, not block
// allocations). The WAL keeps up to SPARES_MAX ready spare files: when none is left, one is
// prepared in the background (`wal.spare.tmp`, renamed when complete); a segment removed by
// truncateBefore becomes a spare while there is room (recycling: no zeros to write again; its old
// records have LSNs below the new base and read as the end of the log). Rollover: write the
// segment header into a spare, sync it, rename it to its final name, fsync the directory, then
// write records.

import fs from 'node:fs';
import path from 'node:path';
import { callbackIo, fsyncDir, readFully, writeFully, type WalIo } from './wal-io.js';
import {
  LSN_MAX,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  encodeRecord,
  encodeSegmentHeader,
  parseSegmentFileName,
  recordBytes,
  scanSegments,
  segmentFileName,
  type ScanOutcome,
  type SegmentSource,
  type WalRecord,
} from './wal-segment.js';

export { WalCorruptionError, type WalRecord } from './wal-segment.js';
export { callbackIo, promisesIo, type WalIo } from './wal-io.js';

export type WalSyncMode = 'fdatasync' | 'dsync';

export interface WalOptions {
  /** Size of each preallocated segment file (default 64 MiB, 4 KiB .. 1 GiB, a multiple of 8). */
  readonly segmentBytes?: number;
  /** Largest payload accepted (default 4 MiB, at most segmentBytes - 64). */
  readonly recordBytesMax?: number;
  /** Bytes of admitted, not yet durable appends before appends wait (default 16 MiB). */
  readonly queueBytesMax?: number;
  /** Appends waiting for room before append rejects (default 65,536). */
  readonly waitersMax?: number;
  /**
   * 'fdatasync' (default): write the group, then fdatasync. 'dsync': open segments with O_DSYNC
   * so the write returns once durable (one thread-pool call per group instead of two).
   */
  readonly syncMode?: WalSyncMode;
  /** 'zeros' (default): write zeros over a new segment; 'sparse': ftruncate only. */
  readonly preallocate?: 'zeros' | 'sparse';
  /** Reuse segments removed by truncateBefore as the next segment (default true). */
  readonly recycle?: boolean;
  /** File-system calls (default callbackIo); tests inject faults here. */
  readonly io?: WalIo;
}

export const WAL_DEFAULTS = {
  segmentBytes: 64 * 1024 * 1024,
  recordBytesMax: 4 * 1024 * 1024,
  queueBytesMax: 16 * 1024 * 1024,
  waitersMax: 65_536,
  syncMode: 'fdatasync' as WalSyncMode,
  preallocate: 'zeros' as 'zeros' | 'sparse',
  recycle: true,
} as const;

export const WAL_LIMITS = {
  segmentBytesMin: 4096,
  segmentBytesMax: 1024 * 1024 * 1024,
  /** Zeros written per call when preallocating or repairing. */
  zeroChunkBytes: 1024 * 1024,
} as const;

const SPARE_PREFIX = 'wal.spare.';
const SPARE_TMP = 'wal.spare.tmp';
/** Ready spare segments kept (a fresh one is prepared only when none is left). */
export const SPARES_MAX = 2;

export class WalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WalError';
  }
}

/** The WAL hit an IO error and accepts nothing more (see the contract above). */
export class WalFailedError extends WalError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WalFailedError';
  }
}

export class WalQueueFullError extends WalError {
  constructor(message: string) {
    super(message);
    this.name = 'WalQueueFullError';
  }
}

export interface WalStats {
  /** Appends made durable. */
  appends: number;
  /** Group commits completed. */
  groups: number;
  /** Writes made durable (one per group, two when a group crossed into a new segment). */
  syncs: number;
  bytesWritten: number;
  segmentsCreated: number;
  segmentsRecycled: number;
  segmentsRemoved: number;
  /** Admitted bytes not yet durable, now and at most so far. */
  queuedBytes: number;
  queuedBytesPeak: number;
  waiting: number;
}

export interface WalRecovery {
  /** Segment files found. */
  readonly segments: number;
  readonly records: number;
  /** LSN of the first and last record returned (0 when none). */
  readonly firstLsn: number;
  readonly lastLsn: number;
  /** The torn write repaired, when the log did not end cleanly. */
  readonly torn: ScanOutcome['torn'];
  readonly zeroedBytes: number;
  /** Segments after the torn write removed (they held only records of the torn group). */
  readonly removedSegments: number;
}

export interface WalOpenResult {
  readonly wal: Wal;
  /** Every record in the log, in LSN order, for replay. */
  readonly records: WalRecord[];
  readonly recovery: WalRecovery;
}

interface Waiting {
  readonly type: number;
  readonly payload: Uint8Array;
  readonly size: number;
  readonly resolve: (lsn: number) => void;
  readonly reject: (err: Error) => void;
}

/** A waiting append given its LSN. */
interface Pending extends Waiting {
  readonly lsn: number;
}

interface Segment {
  readonly baseLsn: number;
  readonly name: string;
  readonly bytes: number;
}

interface ResolvedOptions {
  readonly segmentBytes: number;
  readonly recordBytesMax: number;
  readonly queueBytesMax: number;
  readonly waitersMax: number;
  readonly syncMode: WalSyncMode;
  readonly preallocate: 'zeros' | 'sparse';
  readonly recycle: boolean;
  readonly io: WalIo;
}

function resolveOptions(o: WalOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    segmentBytes: o.segmentBytes ?? WAL_DEFAULTS.segmentBytes,
    recordBytesMax: o.recordBytesMax ?? Math.min(WAL_DEFAULTS.recordBytesMax, (o.segmentBytes ?? WAL_DEFAULTS.segmentBytes) - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES - 8),
    queueBytesMax: o.queueBytesMax ?? WAL_DEFAULTS.queueBytesMax,
    waitersMax: o.waitersMax ?? WAL_DEFAULTS.waitersMax,
    syncMode: o.syncMode ?? WAL_DEFAULTS.syncMode,
    preallocate: o.preallocate ?? WAL_DEFAULTS.preallocate,
    recycle: o.recycle ?? WAL_DEFAULTS.recycle,
    io: o.io ?? callbackIo,
  };
  const int = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new WalError(`WAL option ${name} must be an integer in ${min}..${max}, got ${v}`);
  };
  int('segmentBytes', r.segmentBytes, WAL_LIMITS.segmentBytesMin, WAL_LIMITS.segmentBytesMax);
  if (r.segmentBytes % 8 !== 0) throw new WalError(`WAL option segmentBytes must be a multiple of 8, got ${r.segmentBytes}`);
  // A record of the largest size must fit in an empty segment and in an empty queue.
  int('recordBytesMax', r.recordBytesMax, 0, r.segmentBytes - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES - 8);
  int('queueBytesMax', r.queueBytesMax, recordBytes(r.recordBytesMax), 2 ** 31 - 1);
  int('waitersMax', r.waitersMax, 0, 2 ** 31 - 1);
  if (r.syncMode !== 'fdatasync' && r.syncMode !== 'dsync') throw new WalError(`WAL option syncMode must be 'fdatasync' or 'dsync', got ${String(r.syncMode)}`);
  if (r.preallocate !== 'zeros' && r.preallocate !== 'sparse') throw new WalError(`WAL option preallocate must be 'zeros' or 'sparse', got ${String(r.preallocate)}`);
  return r;
}

let zeroChunk: Uint8Array | undefined;
const zeros = (): Uint8Array => (zeroChunk ??= new Uint8Array(WAL_LIMITS.zeroChunkBytes));

async function writeZeros(io: WalIo, fd: number, from: number, to: number): Promise<void> {
  for (let pos = from; pos < to; ) {
    const n = Math.min(to - pos, WAL_LIMITS.zeroChunkBytes);
    await writeFully(io, fd, zeros(), 0, n, pos);
    pos += n;
  }
}

async function readWhole(io: WalIo, file: string): Promise<Uint8Array> {
  const fd = await io.open(file, fs.constants.O_RDONLY);
  try {
    const size = await io.size(fd);
    const buf = Buffer.allocUnsafe(size);
    const n = await readFully(io, fd, buf, 0, size, 0);
    return n === size ? buf : buf.subarray(0, n);
  } finally {
    await io.close(fd);
  }
}

/**
 * Opens (creating if needed) the WAL in `dir`, recovers it and returns it with every record for
 * replay. Throws WalCorruptionError when acknowledged records are damaged.
 */
export async function openWal(dir: string, options: WalOptions = {}): Promise<WalOpenResult> {
  const o = resolveOptions(options);
  const io = o.io;
  await io.mkdir(dir);
  const names = await io.readdir(dir);
  if (names.includes(SPARE_TMP)) await io.unlink(path.join(dir, SPARE_TMP));
  const found = names
    .map((name) => ({ name, baseLsn: parseSegmentFileName(name) }))
    .filter((s): s is { name: string; baseLsn: number } => s.baseLsn !== undefined)
    .sort((a, b) => a.baseLsn - b.baseLsn);
  const sizes = new Map<string, number>();
  const sources: SegmentSource[] = found.map((s) => ({
    name: s.name,
    baseLsn: s.baseLsn,
    load: async () => {
      const b = await readWhole(io, path.join(dir, s.name));
      sizes.set(s.name, b.length);
      return b;
    },
  }));
  const scan = await scanSegments(sources);

  // Repair, in an order that a crash at any step leaves recoverable the same way: remove the
  // segments after the tear (newest first), then zero the torn bytes of the tail segment.
  let removedSegments = 0;
  for (let i = found.length - 1; i >= scan.keepSegments; i--) {
    await io.unlink(path.join(dir, found[i]!.name));
    removedSegments++;
  }
  if (removedSegments > 0) await fsyncDir(io, dir);
  const dsync = o.syncMode === 'dsync' ? fs.constants.O_DSYNC : 0;
  const wal = new Wal(dir, o, scan.nextLsn);
  let zeroedBytes = 0;
  await wal.adoptSpares(names);
  if (scan.tail === null) {
    await wal.startSegment(scan.nextLsn);
  } else {
    const seg = found[scan.tail.index]!;
    const file = path.join(dir, seg.name);
    const fd = await io.open(file, fs.constants.O_RDWR | dsync);
    try {
      if (scan.tail.zeroEnd > scan.tail.offset) {
        await writeZeros(io, fd, scan.tail.offset, scan.tail.zeroEnd);
        zeroedBytes = scan.tail.zeroEnd - scan.tail.offset;
      }
      let size = await io.size(fd);
      if (size < o.segmentBytes) {
        // A short file (cut by a crash or by hand): give appends a full segment again.
        await io.ftruncate(fd, o.segmentBytes);
        size = o.segmentBytes;
        await io.fsync(fd);
      } else {
        // Always, not only after zeroing: after a process crash the recovered records may still
        // be only in the page cache, and the first new group will claim (synced LSN) that they
        // are durable.
        await io.datasync(fd);
      }
      for (let i = 0; i <= scan.tail.index; i++) {
        const s = found[i]!;
        wal.adoptSegment({ baseLsn: s.baseLsn, name: s.name, bytes: i === scan.tail.index ? size : (sizes.get(s.name) ?? 0) });
      }
      wal.adoptTail(fd, size, scan.tail.offset);
    } catch (err) {
      await io.close(fd).catch(() => undefined);
      throw err;
    }
  }
  wal.startSpare();
  const records = scan.records;
  return {
    wal,
    records,
    recovery: {
      segments: found.length,
      records: records.length,
      firstLsn: records.length > 0 ? records[0]!.lsn : 0,
      lastLsn: records.length > 0 ? records[records.length - 1]!.lsn : 0,
      torn: scan.torn,
      zeroedBytes,
      removedSegments,
    },
  };
}

export class Wal {
  readonly dir: string;
  private readonly o: ResolvedOptions;
  private readonly io: WalIo;
  private readonly dsyncFlag: number;
  private readonly segments: Segment[] = [];
  private tailFd = -1;
  private tailBytes = 0;
  /** File offset of the next record in the tail segment. */
  private writeOffset = 0;
  private lsnNext: number;
  private lsnDurable: number;
  private pending: Pending[] = [];
  private readonly waiting: Waiting[] = [];
  private waitingHead = 0;
  private flushing = false;
  private flushScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private failure: WalFailedError | null = null;
  private closing: Promise<void> | null = null;
  /** Ready spare files (names in dir), used oldest first. */
  private readonly spares: string[] = [];
  private spareSeq = 0;
  private spareJob: Promise<void> | null = null;
  private spareError: unknown = null;
  private truncation: Promise<unknown> = Promise.resolve();
  private scratch = new Uint8Array(64 * 1024);
  private scratchView = new DataView(this.scratch.buffer);
  private readonly counters: WalStats = {
    appends: 0,
    groups: 0,
    syncs: 0,
    bytesWritten: 0,
    segmentsCreated: 0,
    segmentsRecycled: 0,
    segmentsRemoved: 0,
    queuedBytes: 0,
    queuedBytesPeak: 0,
    waiting: 0,
  };

  /** @internal Use openWal. */
  constructor(dir: string, o: ResolvedOptions, nextLsn: number) {
    this.dir = dir;
    this.o = o;
    this.io = o.io;
    this.dsyncFlag = o.syncMode === 'dsync' ? fs.constants.O_DSYNC : 0;
    this.lsnNext = nextLsn;
    this.lsnDurable = nextLsn - 1;
  }

  /** The LSN the next append will get. */
  get nextLsn(): number {
    return this.lsnNext;
  }

  /** Every record at or below this LSN is durable. */
  get durableLsn(): number {
    return this.lsnDurable;
  }

  /** Base LSN of the oldest segment kept (records from it on are returned on recovery). */
  get firstLsn(): number {
    return this.segments[0]?.baseLsn ?? this.lsnNext;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** The error that stopped the WAL, or null. */
  get failed(): WalFailedError | null {
    return this.failure;
  }

  /**
   * Resolves once no spare segment is being prepared in the background (a new WAL writes one
   * segment of zeros right after open): benchmarks wait for it before they measure.
   */
  async settled(): Promise<void> {
    while (this.spareJob !== null) await this.spareJob;
  }

  stats(): WalStats {
    return { ...this.counters, waiting: this.waiting.length - this.waitingHead };
  }

  /**
   * Appends one record; resolves with its LSN once it is durable. Rejects with WalError on a bad
   * argument (before anything is queued), WalQueueFullError when too many appends wait,
   * WalFailedError once the WAL has failed.
   */
  append(type: number, payload: Uint8Array): Promise<number> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closing !== null) return Promise.reject(new WalError('WAL is closed'));
    if (!Number.isInteger(type) || type < 0 || type > 255) return Promise.reject(new WalError(`WAL record type must be an integer 0..255, got ${type}`));
    if (!(payload instanceof Uint8Array)) return Promise.reject(new WalError('WAL record payload must be a Uint8Array'));
    if (payload.length > this.o.recordBytesMax) {
      return Promise.reject(new WalError(`WAL record of ${payload.length} bytes exceeds recordBytesMax ${this.o.recordBytesMax}`));
    }
    const size = recordBytes(payload.length);
    return new Promise<number>((resolve, reject) => {
      const waitingNow = this.waiting.length - this.waitingHead;
      if (waitingNow === 0 && this.counters.queuedBytes + size <= this.o.queueBytesMax) {
        this.admit(type, payload, size, resolve, reject);
        return;
      }
      if (waitingNow >= this.o.waitersMax) {
        reject(new WalQueueFullError(`WAL queue full: ${this.counters.queuedBytes} bytes pending (queueBytesMax ${this.o.queueBytesMax}) and ${waitingNow} appends waiting (waitersMax ${this.o.waitersMax})`));
        return;
      }
      this.waiting.push({ type, payload, size, resolve, reject });
    });
  }

  /**
   * Removes every segment whose records all have LSNs below `lsn` (never the segment being
   * written). Resolves with the number removed, once the removal is durable.
   */
  truncateBefore(lsn: number): Promise<number> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closing !== null) return Promise.reject(new WalError('WAL is closed'));
    if (!Number.isSafeInteger(lsn) || lsn < 1 || lsn > this.lsnNext) {
      return Promise.reject(new WalError(`truncateBefore LSN must be an integer in 1..${this.lsnNext} (the next LSN), got ${lsn}`));
    }
    let k = 0;
    while (k < this.segments.length - 1 && this.segments[k + 1]!.baseLsn <= lsn) k++;
    if (k === 0) return Promise.resolve(0);
    // Taken out of the list now, so a concurrent rollover or truncation never sees them.
    const drop = this.segments.splice(0, k);
    const run = this.truncation.then(() => this.removeSegments(drop));
    this.truncation = run.catch(() => undefined);
    return run;
  }

  /**
   * Waits for every admitted and waiting append to settle, then closes the files. Appends after
   * close() reject. Safe to call more than once and after a failure.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.failure === null && (this.pending.length > 0 || this.waiting.length > this.waitingHead || this.flushing || this.flushScheduled)) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
      await this.truncation;
      while (this.spareJob !== null) await this.spareJob;
      if (this.tailFd >= 0) {
        const fd = this.tailFd;
        this.tailFd = -1;
        await this.io.close(fd);
      }
    })();
    return this.closing;
  }

  // --- group commit --------------------------------------------------------------------------

  private admit(type: number, payload: Uint8Array, size: number, resolve: (lsn: number) => void, reject: (e: Error) => void): void {
    if (this.lsnNext > LSN_MAX) {
      reject(new WalError(`WAL LSN space exhausted at ${LSN_MAX}`));
      return;
    }
    this.pending.push({ lsn: this.lsnNext++, type, payload, size, resolve, reject });
    this.counters.queuedBytes += size;
    if (this.counters.queuedBytes > this.counters.queuedBytesPeak) this.counters.queuedBytesPeak = this.counters.queuedBytes;
    if (!this.flushing && !this.flushScheduled) {
      // setImmediate, not a microtask: every append made by the IO callbacks of this event-loop
      // turn joins the group.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        void this.flushLoop();
      });
    }
  }

  private admitWaiting(): void {
    while (this.waitingHead < this.waiting.length) {
      const w = this.waiting[this.waitingHead]!;
      if (this.counters.queuedBytes + w.size > this.o.queueBytesMax) break;
      this.waitingHead++;
      this.admit(w.type, w.payload, w.size, w.resolve, w.reject);
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    } else if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && this.failure === null) {
        const group = this.pending;
        this.pending = [];
        try {
          await this.writeGroup(group);
        } catch (err) {
          this.fail(err, group);
          break;
        }
        let bytes = 0;
        for (const p of group) bytes += p.size;
        this.lsnDurable = group[group.length - 1]!.lsn;
        this.counters.queuedBytes -= bytes;
        this.counters.appends += group.length;
        this.counters.groups++;
        for (const p of group) p.resolve(p.lsn);
        this.admitWaiting();
      }
    } finally {
      this.flushing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async writeGroup(group: readonly Pending[]): Promise<void> {
    // Every record of this group says: everything up to the previous group is durable.
    const syncedLsn = this.lsnDurable;
    let len = 0;
    for (const p of group) {
      if (this.writeOffset + len + p.size > this.tailBytes) {
        if (len > 0) await this.writeChunk(len);
        len = 0;
        await this.startSegment(p.lsn);
        if (this.writeOffset + p.size > this.tailBytes) throw new Error(`assertion: a ${p.size}-byte record does not fit in a new ${this.tailBytes}-byte segment`);
      }
      if (len + p.size > this.scratch.length) this.growScratch(len + p.size, len);
      encodeRecord(this.scratch, this.scratchView, len, p.type, p.lsn, syncedLsn, p.payload);
      len += p.size;
    }
    if (len > 0) await this.writeChunk(len);
  }

  private growScratch(needed: number, keep: number): void {
    let n = this.scratch.length;
    while (n < needed) n *= 2;
    const next = new Uint8Array(n);
    next.set(this.scratch.subarray(0, keep));
    this.scratch = next;
    this.scratchView = new DataView(next.buffer);
  }

  private async writeChunk(len: number): Promise<void> {
    await writeFully(this.io, this.tailFd, this.scratch, 0, len, this.writeOffset);
    if (this.o.syncMode === 'fdatasync') await this.io.datasync(this.tailFd);
    this.writeOffset += len;
    this.counters.bytesWritten += len;
    this.counters.syncs++;
  }

  private fail(err: unknown, group: readonly Pending[]): void {
    if (this.failure !== null) return;
    const e = err as NodeJS.ErrnoException;
    const what = e?.syscall ? `${e.syscall} failed (${e.code ?? 'error'})` : 'IO failed';
    this.failure = new WalFailedError(
      `WAL ${what}: ${e?.message ?? String(err)}. Appends not yet durable are rejected and the WAL ` +
        `takes no more: a failed fsync is not retried (the kernel may have dropped the unwritten pages). ` +
        `Stop the process, check the disk, and reopen the WAL to recover.`,
      { cause: err },
    );
    const rejectAll = (list: readonly { reject: (e: Error) => void }[]): void => {
      for (const p of list) p.reject(this.failure!);
    };
    rejectAll(group);
    rejectAll(this.pending);
    rejectAll(this.waiting.slice(this.waitingHead));
    this.pending = [];
    this.waiting.length = 0;
    this.waitingHead = 0;
    this.counters.queuedBytes = 0;
  }

  // --- segments ------------------------------------------------------------------------------

  /** @internal (openWal) */
  adoptSegment(s: Segment): void {
    this.segments.push(s);
  }

  /** @internal (openWal) */
  adoptTail(fd: number, bytes: number, offset: number): void {
    this.tailFd = fd;
    this.tailBytes = bytes;
    this.writeOffset = offset;
  }

  /** @internal (openWal) Spares left by an earlier run are used if they have the right size. */
  async adoptSpares(names: readonly string[]): Promise<void> {
    for (const name of names) {
      const m = /^wal\.spare\.(\d{1,15})$/.exec(name);
      if (m === null) continue;
      this.spareSeq = Math.max(this.spareSeq, Number(m[1]) + 1);
      const file = path.join(this.dir, name);
      const fd = await this.io.open(file, fs.constants.O_RDONLY);
      let size: number;
      try {
        size = await this.io.size(fd);
      } finally {
        await this.io.close(fd);
      }
      if (size === this.o.segmentBytes && this.spares.length < SPARES_MAX) this.spares.push(name);
      else await this.io.unlink(file);
    }
  }

  /** @internal Makes the spare the tail segment, starting at `baseLsn` (also opens a new log). */
  async startSegment(baseLsn: number): Promise<void> {
    const spareFile = path.join(this.dir, await this.takeSpare());
    const name = segmentFileName(baseLsn);
    const fd = await this.io.open(spareFile, fs.constants.O_RDWR | this.dsyncFlag);
    let size: number;
    try {
      size = await this.io.size(fd);
      await writeFully(this.io, fd, encodeSegmentHeader(baseLsn), 0, SEGMENT_HEADER_BYTES, 0);
      if (this.o.syncMode === 'fdatasync') await this.io.datasync(fd);
      await this.io.rename(spareFile, path.join(this.dir, name));
      await fsyncDir(this.io, this.dir);
    } catch (err) {
      await this.io.close(fd).catch(() => undefined);
      throw err;
    }
    const old = this.tailFd;
    this.tailFd = fd;
    this.tailBytes = size;
    this.writeOffset = SEGMENT_HEADER_BYTES;
    this.segments.push({ baseLsn, name, bytes: size });
    this.counters.segmentsCreated++;
    if (old >= 0) await this.io.close(old);
    this.startSpare();
  }

  /** Takes a ready spare, waiting for (or starting) its preparation; tries at most twice. */
  private async takeSpare(): Promise<string> {
    let attempts = 0;
    for (;;) {
      const name = this.spares.shift();
      if (name !== undefined) return name;
      if (this.spareJob !== null) {
        await this.spareJob;
        continue;
      }
      if (attempts++ >= 2) throw new WalError(`cannot prepare the next WAL segment: ${String(this.spareError)}`, { cause: this.spareError });
      this.startSpare(true);
    }
  }

  /** @internal Starts preparing a spare in the background when none is ready or coming. */
  startSpare(evenWhenClosing = false): void {
    if (this.spares.length > 0 || this.spareJob !== null || this.failure !== null) return;
    if (this.closing !== null && !evenWhenClosing) return;
    this.spareJob = (async () => {
      try {
        await this.prepareSpare();
        this.spareError = null;
      } catch (err) {
        this.spareError = err;
      } finally {
        this.spareJob = null;
      }
    })();
  }

  private async prepareSpare(): Promise<void> {
    const tmp = path.join(this.dir, SPARE_TMP);
    const fd = await this.io.open(tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC);
    try {
      if (this.o.preallocate === 'zeros') await writeZeros(this.io, fd, 0, this.o.segmentBytes);
      else await this.io.ftruncate(fd, this.o.segmentBytes);
      await this.io.fsync(fd);
    } finally {
      await this.io.close(fd);
    }
    const name = `${SPARE_PREFIX}${this.spareSeq++}`;
    await this.io.rename(tmp, path.join(this.dir, name));
    await fsyncDir(this.io, this.dir);
    this.spares.push(name);
  }

  private async removeSegments(drop: readonly Segment[]): Promise<number> {
    // Oldest first, so a crash part-way leaves a contiguous suffix of the log. A removed segment
    // of the current size becomes a spare while fewer than SPARES_MAX are ready or coming.
    for (const s of drop) {
      const file = path.join(this.dir, s.name);
      const room = this.spares.length + (this.spareJob !== null ? 1 : 0) < SPARES_MAX;
      if (this.o.recycle && room && s.bytes === this.o.segmentBytes && this.failure === null) {
        // A fresh name: a rollover may be taking another spare at this very moment.
        const name = `${SPARE_PREFIX}${this.spareSeq++}`;
        await this.io.rename(file, path.join(this.dir, name));
        this.spares.push(name);
        this.counters.segmentsRecycled++;
      } else {
        await this.io.unlink(file);
      }
      this.counters.segmentsRemoved++;
    }
    await fsyncDir(this.io, this.dir);
    return drop.length;
  }
}
