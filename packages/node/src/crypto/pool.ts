// CryptoPool: a piscina pool whose workers each host one wasm or native backend instance, plus
// the rule that decides what is worth sending there.
//
// Contract:
//   - Small batches run inline (on the calling thread, with `inline`), large ones in the pool.
//     The boundary is MEASURED by bench/crypto/pool-threshold.mjs, which writes
//     bench/results/pool-threshold.json; the pool reads that file when present, else uses
//     DEFAULT_THRESHOLDS (documented in bench/README.md). Results are identical either way.
//   - A batch travels as ONE transferred ArrayBuffer each way (pack.ts layouts, Piscina.move).
//   - Large verify and blake3Many batches are split over the threads, one buffer per part.
//   - The queue is bounded (`maxQueue` tasks waiting beyond the running ones): a task that does
//     not fit rejects with PoolQueueFullError instead of growing memory without limit.
//   - `close()` waits for running tasks, then every call rejects with PoolClosedError.
//   - Malformed Ed25519 items (key not 32 bytes, signature not 64) are 0 without a round trip.

import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import {
  assertBytesArray,
  checkMerkleArgs,
  checkPowArgs,
  checkSignedItems,
  packMessages,
  unpackHashes,
  type CryptoBackend,
  type PowResult,
  type SignedItem,
} from '@bpci/core';
import { loadBackend, type BackendName } from './select.js';
import { packMessagesBuffer, packSignedBuffer } from './pack.js';
import type { SharedPowReply, SharedPowTask } from './pow-shared.js';

export interface PoolThresholds {
  /** Verify batches with at least this many items go to the pool. */
  verifyItems: number;
  /** blake3Many batches with at least this many messages go to the pool... */
  blake3Messages: number;
  /** ...or with at least this many bytes in total. */
  blake3Bytes: number;
  /** Where the figures came from (the measurement file or 'default'). */
  source: string;
}

/**
 * Used when no measurement file exists. Conservative guesses from DESIGN.md's ~20-100 µs round
 * trip: a native/OpenSSL verify costs ~40-100 µs, so a handful of items; a 64-byte BLAKE3 costs
 * ~0.1-0.3 µs, so hundreds of messages. Replace them by running bench/crypto/pool-threshold.mjs.
 */
export const DEFAULT_THRESHOLDS: PoolThresholds = Object.freeze({
  verifyItems: 4,
  blake3Messages: 512,
  blake3Bytes: 64 * 1024,
  source: 'default',
});

export const DEFAULT_MAX_QUEUE = 256;

const THRESHOLD_FILE_URL = new URL('../../../../bench/results/pool-threshold.json', import.meta.url);

export class PoolQueueFullError extends Error {
  constructor(maxQueue: number) {
    super(`crypto pool queue is full (maxQueue = ${maxQueue} waiting tasks); retry later or raise maxQueue`);
    this.name = 'PoolQueueFullError';
  }
}

export class PoolClosedError extends Error {
  constructor() {
    super('crypto pool is closed');
    this.name = 'PoolClosedError';
  }
}

export class PoolWorkerMissingError extends Error {
  constructor(tried: readonly string[]) {
    super(`crypto pool worker script not found (tried ${tried.join(', ')}); build it with: npx tsc -b packages/node`);
    this.name = 'PoolWorkerMissingError';
  }
}

interface ThresholdEntry {
  thresholdItems?: unknown;
  thresholdMessages?: unknown;
  thresholdBytes?: unknown;
}

const positiveInt = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : undefined;

/**
 * Thresholds for an inline backend, from the measurement file (keyed by inline backend name)
 * or the defaults. A missing or unreadable file is not an error: the defaults apply.
 */
export function readThresholds(inlineName: string, file: string | URL = process.env.BPCI_POOL_THRESHOLDS ?? THRESHOLD_FILE_URL): PoolThresholds {
  const path = file instanceof URL ? fileURLToPath(file) : file;
  if (!existsSync(path)) return { ...DEFAULT_THRESHOLDS };
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as {
      verify?: Record<string, ThresholdEntry>;
      blake3Many?: Record<string, ThresholdEntry>;
    };
    const v = j.verify?.[inlineName];
    const b = j.blake3Many?.[inlineName];
    const verifyItems = positiveInt(v?.thresholdItems);
    const blake3Messages = positiveInt(b?.thresholdMessages);
    const blake3Bytes = positiveInt(b?.thresholdBytes);
    if (verifyItems === undefined && blake3Messages === undefined) return { ...DEFAULT_THRESHOLDS };
    return {
      verifyItems: verifyItems ?? DEFAULT_THRESHOLDS.verifyItems,
      blake3Messages: blake3Messages ?? DEFAULT_THRESHOLDS.blake3Messages,
      blake3Bytes: blake3Bytes ?? DEFAULT_THRESHOLDS.blake3Bytes,
      source: `${path} (inline ${inlineName})`,
    };
  } catch {
    return { ...DEFAULT_THRESHOLDS };
  }
}

/**
 * The compiled worker. Next to this module when running from dist; when running from the TS
 * sources (vitest aliases @bpci/node to src) the compiled one in dist is used, because worker
 * threads load plain JS.
 */
export function defaultWorkerFile(): string {
  const tried = [new URL('./worker.js', import.meta.url), new URL('../../dist/crypto/worker.js', import.meta.url)].map((u) => fileURLToPath(u));
  for (const p of tried) if (existsSync(p)) return p;
  throw new PoolWorkerMissingError(tried);
}

export interface CryptoPoolOptions {
  /** Backend the workers host; default: native if it loads, else wasm, else js. */
  backend?: BackendName;
  /** Backend for work below the thresholds; default: the same backend, loaded in this thread. */
  inline?: CryptoBackend;
  /** Worker threads; default: all cores (os.availableParallelism()). */
  threads?: number;
  /** Tasks allowed to wait beyond the running ones; default DEFAULT_MAX_QUEUE. */
  maxQueue?: number;
  /** Overrides for single thresholds (tests use 1 to force the pool). */
  thresholds?: Partial<Omit<PoolThresholds, 'source'>>;
  /** Measurement file; default bench/results/pool-threshold.json (or $BPCI_POOL_THRESHOLDS). */
  thresholdFile?: string;
  /** Worker script; default defaultWorkerFile(). */
  workerFile?: string;
}

async function chooseWorkerBackend(prefer: BackendName | undefined): Promise<{ name: BackendName; backend: CryptoBackend }> {
  const order: BackendName[] = prefer ? [prefer] : ['native', 'wasm', 'js'];
  const why: string[] = [];
  for (const name of order) {
    const r = await loadBackend(name);
    if (r.ok) return { name, backend: r.backend };
    why.push(`${name}: ${r.reason}`);
  }
  throw new Error(`crypto pool: no worker backend available (${why.join('; ')})`);
}

/** Splits [0, n) into at most `parts` contiguous ranges of near-equal size. */
function splitRanges(n: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(parts, n));
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.floor((n * i) / k), Math.floor((n * (i + 1)) / k)]);
  return out;
}

export class CryptoPool {
  readonly backendName: BackendName;
  readonly inline: CryptoBackend;
  readonly threads: number;
  readonly maxQueue: number;
  readonly thresholds: PoolThresholds;
  readonly #pool: Piscina;
  #closed = false;

  private constructor(pool: Piscina, backendName: BackendName, inline: CryptoBackend, threads: number, maxQueue: number, thresholds: PoolThresholds) {
    this.#pool = pool;
    this.backendName = backendName;
    this.inline = inline;
    this.threads = threads;
    this.maxQueue = maxQueue;
    this.thresholds = thresholds;
  }

  /** Starts the workers and waits until each has loaded its backend (fails with the reason). */
  static async create(options: CryptoPoolOptions = {}): Promise<CryptoPool> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
    const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) throw new RangeError(`maxQueue must be a non-negative integer, got ${maxQueue}`);
    const chosen = await chooseWorkerBackend(options.backend);
    const inline = options.inline ?? chosen.backend;
    const measured = readThresholds(inline.name, options.thresholdFile);
    const thresholds: PoolThresholds = { ...measured, ...options.thresholds, source: options.thresholds ? `${measured.source} + overrides` : measured.source };
    const pool = new Piscina({
      filename: options.workerFile ?? defaultWorkerFile(),
      minThreads: threads,
      maxThreads: threads,
      maxQueue,
      // Workers hold a loaded backend: keep them for the life of the pool (the largest delay a
      // Node timer accepts; min = max threads means none is ever idle-reaped anyway).
      idleTimeout: 0x7fffffff,
      workerData: { backend: chosen.name },
    });
    const cp = new CryptoPool(pool, chosen.name, inline, threads, maxQueue, thresholds);
    try {
      await Promise.all(Array.from({ length: threads }, () => cp.#run<{ backend: string }>('ping', null)));
    } catch (e) {
      await pool.destroy();
      throw e;
    }
    return cp;
  }

  async #run<R>(name: string, task: unknown): Promise<R> {
    if (this.#closed) throw new PoolClosedError();
    try {
      return (await this.#pool.run(task, { name })) as R;
    } catch (e) {
      if (e instanceof Error && e.message === 'Task queue is at limit') throw new PoolQueueFullError(this.maxQueue);
      if (this.#closed && e instanceof Error && /terminat|closed|destroy/i.test(e.message)) throw new PoolClosedError();
      throw e;
    }
  }

  /** Tasks waiting for a worker (for metrics). */
  get queueSize(): number {
    return this.#pool.queueSize;
  }

  /** Ed25519 verdicts (1/0 per item) under the ZIP-215 rule; inline below the threshold. */
  async verifyBatch(items: readonly SignedItem[]): Promise<Uint8Array> {
    if (this.#closed) throw new PoolClosedError();
    checkSignedItems(items);
    if (items.length < this.thresholds.verifyItems) return this.inline.ed25519VerifyBatch(items);
    return this.#verifyInPool(items, this.thresholds.verifyItems);
  }

  /** Always through the pool (benchmarks, threshold measurement). */
  async verifyBatchInPool(items: readonly SignedItem[], parts = this.threads): Promise<Uint8Array> {
    if (this.#closed) throw new PoolClosedError();
    checkSignedItems(items);
    return this.#verifyInPool(items, Math.ceil(items.length / Math.max(1, parts)));
  }

  async #verifyInPool(items: readonly SignedItem[], minPart: number): Promise<Uint8Array> {
    const out = new Uint8Array(items.length);
    // Malformed items are 0 by the rule; only well-formed ones travel.
    const idx: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.publicKey.length === 32 && it.signature.length === 64) idx.push(i);
    }
    const parts = splitRanges(idx.length, Math.min(this.threads, Math.max(1, Math.floor(idx.length / Math.max(1, minPart)))));
    await Promise.all(
      parts.map(async ([a, b]) => {
        if (a === b) return;
        const buf = packSignedBuffer(idx.slice(a, b).map((i) => items[i]!));
        const res = new Uint8Array(await this.#run<ArrayBuffer>('verifyBatch', Piscina.move(buf)));
        if (res.length !== b - a) throw new Error(`crypto pool: verify returned ${res.length} verdicts for ${b - a} items`);
        for (let j = 0; j < res.length; j++) out[idx[a + j]!] = res[j]!;
      }),
    );
    return out;
  }

  /** n x 32 bytes: BLAKE3 of each message; inline below the threshold. */
  async blake3ManyPacked(messages: readonly Uint8Array[]): Promise<Uint8Array> {
    if (this.#closed) throw new PoolClosedError();
    assertBytesArray('messages', messages);
    let bytes = 0;
    for (const m of messages) bytes += m.length;
    if (messages.length < this.thresholds.blake3Messages && bytes < this.thresholds.blake3Bytes) {
      return this.inline.blake3ManyPacked(packMessages(messages));
    }
    const per = Math.max(1, Math.ceil(this.thresholds.blake3Messages / 2));
    return this.#blake3ManyInPool(messages, Math.min(this.threads, Math.max(1, Math.floor(messages.length / per))));
  }

  async blake3Many(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    const out = await this.blake3ManyPacked(messages);
    return unpackHashes(out, messages.length);
  }

  /** Always through the pool, split into `parts` tasks (benchmarks, threshold measurement). */
  async blake3ManyInPool(messages: readonly Uint8Array[], parts = 1): Promise<Uint8Array> {
    if (this.#closed) throw new PoolClosedError();
    assertBytesArray('messages', messages);
    return this.#blake3ManyInPool(messages, parts);
  }

  async #blake3ManyInPool(messages: readonly Uint8Array[], parts: number): Promise<Uint8Array> {
    const out = new Uint8Array(messages.length * 32);
    await Promise.all(
      splitRanges(messages.length, parts).map(async ([a, b]) => {
        if (a === b) return;
        const res = new Uint8Array(await this.#run<ArrayBuffer>('blake3Many', Piscina.move(packMessagesBuffer(messages.slice(a, b)))));
        if (res.length !== (b - a) * 32) throw new Error(`crypto pool: blake3Many returned ${res.length} bytes for ${b - a} messages`);
        out.set(res, a * 32);
      }),
    );
    return out;
  }

  /** Merkle root (rule in @bpci/core merkle.ts); inline for small trees. */
  async merkleRoot(leaves: readonly Uint8Array[]): Promise<Uint8Array> {
    if (this.#closed) throw new PoolClosedError();
    checkMerkleArgs(leaves);
    // A tree of n leaves costs about 2n hashes of <= 65 bytes: compare with the blake3 threshold.
    if (2 * leaves.length < this.thresholds.blake3Messages) return this.inline.merkleRoot(leaves);
    return this.merkleRootInPool(leaves);
  }

  async merkleRootInPool(leaves: readonly Uint8Array[]): Promise<Uint8Array> {
    checkMerkleArgs(leaves);
    return new Uint8Array(await this.#run<ArrayBuffer>('merkleRoot', Piscina.move(packMessagesBuffer(leaves))));
  }

  /** Single-worker PoW search (lowest winning nonce); see powSearchParallel for all cores. */
  async powSearch(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): Promise<PowResult | null> {
    checkPowArgs(header, target, nonceStart, count);
    return this.#run<PowResult | null>('powSearch', { header, target, nonceStart, count });
  }

  /** One participant of a shared parallel PoW search (pow-parallel.ts). */
  powSearchShared(task: SharedPowTask): Promise<SharedPowReply> {
    return this.#run<SharedPowReply>('powSearchShared', task);
  }

  /** Waits for running tasks, stops the workers; later calls reject with PoolClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }
}
