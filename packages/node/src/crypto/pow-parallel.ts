// powSearchParallel: the BLAKE3 PoW search (rule in @bpci/core pow.ts) over all cores.
//
// Contract: returns the LOWEST winning nonce of [nonceStart, nonceStart + count), exactly what a
// single-thread powSearch returns, and stops every thread soon after a winner is known (threads
// claim chunks in ascending order through a SharedArrayBuffer; pow-shared.ts explains why the
// lowest winner survives). Reports how many hashes were computed and the rate.
//
// Where it runs:
//   - with `pool`: that CryptoPool's workers (the pool stays open);
//   - else when the chosen backend is native and it offers powSearchAsync: the addon's own
//     multi-core search (rayon), off the event loop;
//   - else a temporary CryptoPool hosting the chosen backend on `threads` workers (startup is not
//     counted in `seconds`).

import { availableParallelism } from 'node:os';
import { checkPowArgs, type CryptoBackend, type PowResult } from '@bpci/core';
import { CryptoPool } from './pool.js';
import { newPowState, stopPowSearch } from './pow-shared.js';
import { loadBackend, selectBackend, BackendUnavailableError, type BackendName } from './select.js';

export interface PowParallelOptions {
  /** Run on this pool's workers (it is not closed afterwards). */
  pool?: CryptoPool;
  /** Backend to use when no pool is given; default selectBackend() (honours BPCI_CRYPTO). */
  backend?: BackendName;
  /** Threads for a temporary pool; default all cores. */
  threads?: number;
  /** Nonces per claimed chunk (stopping latency vs coordination cost); default from count. */
  chunkSize?: number;
  /** Aborting stops every thread and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface PowParallelResult {
  nonce: bigint | null;
  hash: Uint8Array | null;
  /** Hashes computed by all threads (for the native search: a lower bound when it found one). */
  hashes: number;
  seconds: number;
  hashesPerSecond: number;
  threads: number;
  /** 'pool:<backend>' or 'native' (the addon's own threads). */
  via: string;
}

/** Chunk bounds: at least this many nonces per claim so coordination stays negligible... */
export const POW_CHUNK_MIN = 1024;
/** ...and at most this many, so a thread notices a lower winner within a few milliseconds. */
export const POW_CHUNK_MAX = 1 << 18;

interface NativePowAsync {
  powSearchAsync(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): Promise<(PowResult & { hashes?: number }) | null>;
}

function hasPowAsync(b: CryptoBackend): b is CryptoBackend & NativePowAsync {
  return typeof (b as Partial<NativePowAsync>).powSearchAsync === 'function';
}

function result(r: { nonce: bigint | null; hash: Uint8Array | null }, hashes: number, t0: bigint, threads: number, via: string): PowParallelResult {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { ...r, hashes, seconds, hashesPerSecond: seconds > 0 ? hashes / seconds : 0, threads, via };
}

export async function powSearchParallel(
  header: Uint8Array,
  target: Uint8Array,
  nonceStart: bigint,
  count: number,
  opts: PowParallelOptions = {},
): Promise<PowParallelResult> {
  checkPowArgs(header, target, nonceStart, count);
  opts.signal?.throwIfAborted();
  if (opts.pool) return searchOnPool(opts.pool, header, target, nonceStart, count, opts);

  let name: BackendName;
  let backend: CryptoBackend;
  if (opts.backend) {
    const r = await loadBackend(opts.backend);
    if (!r.ok) throw new BackendUnavailableError(opts.backend, r.reason, 'powSearchParallel({ backend })');
    name = opts.backend;
    backend = r.backend;
  } else {
    const s = await selectBackend({ log: false });
    name = s.name;
    backend = s.backend;
  }

  if (name === 'native' && hasPowAsync(backend)) {
    const t0 = process.hrtime.bigint();
    const r = await backend.powSearchAsync(header, target, nonceStart, count);
    opts.signal?.throwIfAborted();
    // The addon reports its hash count when it can; otherwise every nonce up to the winner was
    // hashed (a lower bound: other threads may have run past it).
    const hashes = r === null ? count : (r.hashes ?? Number(r.nonce - nonceStart) + 1);
    return result(r === null ? { nonce: null, hash: null } : { nonce: r.nonce, hash: r.hash }, hashes, t0, availableParallelism(), 'native');
  }

  const pool = await CryptoPool.create({ backend: name, threads: opts.threads ?? availableParallelism(), inline: backend });
  try {
    return await searchOnPool(pool, header, target, nonceStart, count, opts);
  } finally {
    await pool.close();
  }
}

async function searchOnPool(
  pool: CryptoPool,
  header: Uint8Array,
  target: Uint8Array,
  nonceStart: bigint,
  count: number,
  opts: PowParallelOptions,
): Promise<PowParallelResult> {
  const threads = pool.threads;
  const chunkSize = opts.chunkSize ?? Math.min(POW_CHUNK_MAX, Math.max(POW_CHUNK_MIN, Math.ceil(count / (threads * 8))));
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  const state = newPowState();
  const onAbort = () => stopPowSearch(state);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const t0 = process.hrtime.bigint();
  try {
    const replies = await Promise.all(
      Array.from({ length: threads }, () => pool.powSearchShared({ header, target, nonceStart, count, chunkSize, state })),
    );
    opts.signal?.throwIfAborted();
    let best: { nonce: bigint; hash: Uint8Array } | null = null;
    let hashes = 0;
    for (const r of replies) {
      hashes += r.hashes;
      if (r.nonce !== null && r.hash !== null && (best === null || r.nonce < best.nonce)) best = { nonce: r.nonce, hash: r.hash };
    }
    return result(best ?? { nonce: null, hash: null }, hashes, t0, threads, `pool:${pool.backendName}`);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
