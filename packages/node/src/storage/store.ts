// The validator's embedded store (LMDB through the `lmdb` package).
//
// Contract:
// - Records are opaque typed bytes: `{ kind, key, value }`. The runtime maps the replica's persist
//   records onto kinds; this module never interprets a value. `value: null` deletes (log truncation
//   after a stable checkpoint, expired sessions).
// - `persistBatch(records)` writes all records in ONE LMDB transaction (atomic: after a crash either
//   all of them are there or none) and resolves only once that transaction is durable (flushed to the
//   disk), when the store is opened with `durable: true`. Several `persistBatch` calls made in the
//   same event-loop turn share one transaction and one fsync: that is the group commit. The runtime
//   gets it for free by issuing the persists of every replica step of one turn before awaiting.
// - Durability mechanics (lmdb-js 3.x, see its README "overlappingSync"): on Linux a write promise
//   resolves when the transaction is COMMITTED (visible), and the flush to disk happens after it.
//   We open with `separateFlushed: true`, so each write promise carries `.flushed`, the promise of
//   the flush of exactly that transaction; persistBatch awaits it. Resolving on commit alone would
//   survive a process kill (the page cache survives) but not a power loss.
// - `durable: false` opens with `noSync` (no fsync at all; the OS writes when it likes): for
//   benchmarks and tests only. A SIGKILL still loses nothing committed; a power cut may.
// - Reads are synchronous (LMDB is memory-mapped) and see every committed batch.
// - Keys: a non-negative integer (sequence numbers, heights: ordered numerically), a string
//   (client ids, named records), or a tuple of those (e.g. [sequence, 'commit']) ordered
//   element-wise. Values are bytes, at most valueBytesMax.
// - One process per directory (dir-lock.ts): the store holds `<dir>/bpci.lock` from before LMDB
//   opens until close(), or runs under a lock its caller took (`lock`). A directory locked by
//   another live process throws DirLockedError and LMDB is never opened; a stale lock (its owner
//   was killed) is taken over with a log line.

import fs from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { acquireDirLock, type DirLock } from './dir-lock.js';
import type { Logger } from '../log.js';

export const RECORD_KINDS = [
  /** The replica's safety record (last view/sequence voted, what was signed). */
  'safety',
  /** Committed batches by sequence number (key = sequence). */
  'block',
  /** The prepared certificate a validator committed to (key = sequence), read back after a restart. */
  'cert',
  /** Checkpoints / snapshots (key = sequence). */
  'checkpoint',
  /** Client sessions for exactly-once (key = client id). */
  'session',
  /** Transaction index (key = tx id, hex of BLAKE3 of the request's encoding) -> where it committed. */
  'tx',
  /** Equivocation evidence (key = a runtime-assigned increasing number or a digest string). */
  'evidence',
  /** Anything else small the runtime needs across restarts (key = name). */
  'meta',
] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];
/** A key part: a non-negative safe integer or a non-empty string. */
export type KeyPart = number | string;
/**
 * A key: one part, or a tuple of 1..4 parts (e.g. [sequence, 'prepare']) ordered element-wise, so
 * range queries and pruning by a leading sequence number work.
 */
export type RecordKey = KeyPart | readonly KeyPart[];

export interface StoreRecord {
  readonly kind: RecordKind;
  readonly key: RecordKey;
  /** Bytes to store, or null to delete the key. */
  readonly value: Uint8Array | null;
}

export interface StoreOptions {
  /** fsync every group commit (true, production) or never (false, benchmarks). */
  readonly durable: boolean;
  /** Largest value accepted, bytes (default 16 MiB). */
  readonly valueBytesMax?: number;
  /** Largest number of records in one persistBatch (default 65,536). */
  readonly batchRecordsMax?: number;
  /** LMDB map size in bytes (default 8 GiB; it is address space, not disk). */
  readonly mapSizeBytes?: number;
  /** The caller already holds this directory's lock (the node takes it before anything else); the store then leaves releasing it to the caller. */
  readonly lock?: DirLock;
  /** Recorded in a lock the store takes itself (e.g. the validator id). */
  readonly lockOwner?: string;
  /** Gets the line about a stale lock taken over. */
  readonly logger?: Logger;
}

export interface RangeQuery {
  /** Inclusive start key (default: the first key). */
  readonly start?: RecordKey;
  /** Exclusive end key (default: past the last key). */
  readonly end?: RecordKey;
  /** Maximum entries returned (required: reads are bounded too). */
  readonly limit: number;
  readonly reverse?: boolean;
}

export interface StoreEntry {
  readonly key: RecordKey;
  readonly value: Uint8Array;
}

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

const KEY_STRING_BYTES_MAX = 256;

const KEY_PARTS_MAX = 4;

function checkKey(kind: RecordKind, key: RecordKey): void {
  if (Array.isArray(key)) {
    if (key.length === 0 || key.length > KEY_PARTS_MAX) throw new StoreError(`${kind} tuple key must have 1..${KEY_PARTS_MAX} parts`);
    for (const part of key as readonly KeyPart[]) checkPart(kind, part);
    return;
  }
  checkPart(kind, key as KeyPart);
}

function checkPart(kind: RecordKind, key: KeyPart): void {
  if (typeof key === 'number') {
    if (!Number.isSafeInteger(key) || key < 0) throw new StoreError(`${kind} key must be a non-negative safe integer, got ${key}`);
  } else if (typeof key === 'string') {
    if (key.length === 0 || key.length > KEY_STRING_BYTES_MAX) {
      throw new StoreError(`${kind} key must be a string of 1..${KEY_STRING_BYTES_MAX} characters`);
    }
  } else {
    throw new StoreError(`${kind} key must be a number or a string`);
  }
}

type LmdbKey = KeyPart | KeyPart[];
const lk = (k: RecordKey): LmdbKey => (Array.isArray(k) ? [...(k as readonly KeyPart[])] : (k as KeyPart));

type FlushablePromise = Promise<boolean> & { flushed?: Promise<unknown> };

export class Store {
  readonly dir: string;
  readonly durable: boolean;
  readonly valueBytesMax: number;
  readonly batchRecordsMax: number;
  private readonly root: RootDatabase;
  private readonly dbs: Record<RecordKind, Database<Uint8Array, LmdbKey>>;
  private closed = false;
  /** The lock this store took itself (released on close); null when the caller holds one. */
  private readonly ownLock: DirLock | null;
  /** persistBatch calls completed, and records in them (metrics, the bench). */
  persistsCompleted = 0;
  recordsWritten = 0;

  constructor(dir: string, opts: StoreOptions) {
    this.dir = dir;
    this.durable = opts.durable;
    this.valueBytesMax = opts.valueBytesMax ?? 16 * 1024 * 1024;
    this.batchRecordsMax = opts.batchRecordsMax ?? 65_536;
    fs.mkdirSync(dir, { recursive: true });
    if (opts.lock) {
      if (!opts.lock.held || path.resolve(opts.lock.dir) !== path.resolve(dir)) {
        throw new StoreError(`store ${dir}: the lock passed in is ${opts.lock.held ? `for ${opts.lock.dir}` : 'released'}`);
      }
      this.ownLock = null;
    } else {
      // Before LMDB opens: a duplicate process must never get as far as the environment.
      this.ownLock = acquireDirLock(dir, { ...(opts.lockOwner !== undefined ? { owner: opts.lockOwner } : {}), ...(opts.logger ? { logger: opts.logger } : {}) });
    }
    try {
      this.root = open({
        path: dir,
        maxDbs: RECORD_KINDS.length + 2,
        mapSize: opts.mapSizeBytes ?? 8 * 1024 ** 3,
        ...(opts.durable ? { separateFlushed: true } : { noSync: true }),
      });
    } catch (err) {
      this.ownLock?.release();
      throw err;
    }
    const dbs = {} as Record<RecordKind, Database<Uint8Array, LmdbKey>>;
    for (const kind of RECORD_KINDS) {
      dbs[kind] = this.root.openDB<Uint8Array, LmdbKey>(kind, { encoding: 'binary' });
    }
    this.dbs = dbs;
  }

  /**
   * Writes all records in one transaction; resolves when durable (durable mode) or committed
   * (otherwise). Rejects with StoreError on a bad record before writing anything.
   */
  persistBatch(records: readonly StoreRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new StoreError('store is closed'));
    if (records.length === 0) return Promise.resolve();
    if (records.length > this.batchRecordsMax) {
      return Promise.reject(new StoreError(`batch of ${records.length} records exceeds batchRecordsMax ${this.batchRecordsMax}`));
    }
    try {
      for (const r of records) {
        const db = this.dbs[r.kind];
        if (db === undefined) throw new StoreError(`unknown record kind ${String(r.kind)}`);
        checkKey(r.kind, r.key);
        if (r.value !== null && r.value.length > this.valueBytesMax) {
          throw new StoreError(`${r.kind} value of ${r.value.length} bytes exceeds valueBytesMax ${this.valueBytesMax}`);
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
    // All puts below run in this synchronous turn, so lmdb-js queues them into one transaction
    // (eventTurnBatching); the last promise resolves when that transaction has committed, and its
    // `.flushed` when the transaction is on disk.
    let last: FlushablePromise | undefined;
    for (const r of records) {
      const db = this.dbs[r.kind];
      last = (r.value === null ? db.remove(lk(r.key)) : db.put(lk(r.key), r.value)) as FlushablePromise;
    }
    const n = records.length;
    const done = (): void => {
      this.persistsCompleted++;
      this.recordsWritten += n;
    };
    if (!this.durable) return last!.then(done);
    return last!.then(async () => {
      // separateFlushed sets `.flushed` on every write promise; if an lmdb version ever dropped it,
      // fall back to the database-wide `flushed` (all writes so far), which is a superset.
      await (last!.flushed ?? this.root.flushed);
      done();
    });
  }

  get(kind: RecordKind, key: RecordKey): Uint8Array | undefined {
    checkKey(kind, key);
    const v = this.dbs[kind].getBinary(lk(key));
    return v === undefined ? undefined : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  /** Entries of one kind in key order (numbers before strings), bounded by `limit`. */
  range(kind: RecordKind, q: RangeQuery): StoreEntry[] {
    if (!Number.isInteger(q.limit) || q.limit < 0) throw new StoreError(`range limit must be a non-negative integer, got ${q.limit}`);
    const out: StoreEntry[] = [];
    const opts: { start?: LmdbKey; end?: LmdbKey; limit: number; reverse?: boolean } = { limit: q.limit };
    if (q.start !== undefined) opts.start = lk(q.start);
    if (q.end !== undefined) opts.end = lk(q.end);
    if (q.reverse) opts.reverse = true;
    for (const { key, value } of this.dbs[kind].getRange(opts)) {
      const v = value as unknown as Buffer;
      out.push({ key: key as RecordKey, value: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) });
    }
    return out;
  }

  /** Highest numeric key of a kind (e.g. the last committed sequence), or undefined. */
  lastNumericKey(kind: RecordKind): number | undefined {
    // Numbers sort before strings in lmdb's ordered-binary keys, so a reverse scan starting at the
    // largest safe integer meets the highest numeric key first.
    for (const key of this.dbs[kind].getKeys({ reverse: true, start: Number.MAX_SAFE_INTEGER, limit: 1 })) {
      return typeof key === 'number' ? key : undefined;
    }
    return undefined;
  }

  /**
   * Deletes every key of `kind` below `end` (exclusive) in durable batches of at most
   * batchRecordsMax deletions: log truncation after a stable checkpoint. Returns how many went.
   * Tuple keys compare element-wise, so `end = [seq]` removes every [s, ...] with s < seq.
   */
  async pruneBelow(kind: RecordKind, end: RecordKey): Promise<number> {
    checkKey(kind, end);
    let removed = 0;
    for (;;) {
      const keys = [...this.dbs[kind].getKeys({ end: lk(end), limit: this.batchRecordsMax })];
      if (keys.length === 0) return removed;
      await this.persistBatch(keys.map((key) => ({ kind, key: key as RecordKey, value: null })));
      removed += keys.length;
    }
  }

  /** Keys of one kind in key order, bounded by `limit` (no values are read). */
  keys(kind: RecordKind, q: RangeQuery): RecordKey[] {
    if (!Number.isInteger(q.limit) || q.limit < 0) throw new StoreError(`keys limit must be a non-negative integer, got ${q.limit}`);
    const opts: { start?: LmdbKey; end?: LmdbKey; limit: number; reverse?: boolean } = { limit: q.limit };
    if (q.start !== undefined) opts.start = lk(q.start);
    if (q.end !== undefined) opts.end = lk(q.end);
    if (q.reverse) opts.reverse = true;
    return [...this.dbs[kind].getKeys(opts)] as RecordKey[];
  }

  /** Entries of one kind, or only those in [start, end) when a range is given (counted, not read). */
  count(kind: RecordKind, q?: { readonly start?: RecordKey; readonly end?: RecordKey }): number {
    if (q === undefined) return this.dbs[kind].getCount();
    const opts: { start?: LmdbKey; end?: LmdbKey } = {};
    if (q.start !== undefined) opts.start = lk(q.start);
    if (q.end !== undefined) opts.end = lk(q.end);
    return this.dbs[kind].getKeysCount(opts);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.root.close();
    } finally {
      this.ownLock?.release();
    }
  }
}

/** Opens (creating if needed) the store in `dir`. */
export function openStore(dir: string, opts: StoreOptions): Store {
  return new Store(dir, opts);
}
