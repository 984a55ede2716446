// The per-thread half of the parallel PoW search. Every participating thread runs
// `searchShared` over the same range, coordinated through one SharedArrayBuffer:
//
//   state[0] next chunk index to claim (Atomics.add: chunks are claimed in ascending order)
//   state[1] lowest winning nonce found so far, as (nonce - nonceStart + 1); 0 = none yet
//   state[2] stop flag set by the caller (abort); threads stop at their next chunk boundary
//
// Why the answer is still the LOWEST winner of the whole range: a thread abandons the search only
// when a winner below its next chunk is already known, a backend call returns the lowest winner
// of its chunk, and every chunk is claimed by exactly one thread. So the chunk holding the lowest
// winner is always searched up to that winner, and the atomic minimum keeps it.

import type { CryptoBackend } from '@bpci/core';

export const POW_STATE_BYTES = 3 * 8;
const NEXT = 0;
const BEST = 1;
const STOP = 2;

export interface SharedPowTask {
  header: Uint8Array;
  target: Uint8Array;
  nonceStart: bigint;
  count: number;
  /** Nonces per claimed chunk: the unit of stopping latency. */
  chunkSize: number;
  /** POW_STATE_BYTES, zero-initialised by the caller. */
  state: SharedArrayBuffer;
}

export interface SharedPowReply {
  /** This thread's winner (the lowest of the chunk it was found in), if any. */
  nonce: bigint | null;
  hash: Uint8Array | null;
  /** Hashes this thread computed. */
  hashes: number;
}

export function newPowState(): SharedArrayBuffer {
  return new SharedArrayBuffer(POW_STATE_BYTES);
}

export function stopPowSearch(state: SharedArrayBuffer): void {
  Atomics.store(new BigInt64Array(state), STOP, 1n);
}

/** Lowers state[BEST] to `offsetPlus1` unless a lower (non-zero) value is already there. */
function atomicMinBest(st: BigInt64Array, offsetPlus1: bigint): void {
  for (;;) {
    const cur = Atomics.load(st, BEST);
    if (cur !== 0n && cur <= offsetPlus1) return;
    if (Atomics.compareExchange(st, BEST, cur, offsetPlus1) === cur) return;
  }
}

export function searchShared(backend: CryptoBackend, task: SharedPowTask): SharedPowReply {
  const { header, target, nonceStart, count, chunkSize } = task;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  const st = new BigInt64Array(task.state);
  const chunks = Math.ceil(count / chunkSize);
  let hashes = 0;
  for (;;) {
    if (Atomics.load(st, STOP) !== 0n) break;
    const i = Number(Atomics.add(st, NEXT, 1n));
    if (i >= chunks) break;
    const off = i * chunkSize;
    const known = Atomics.load(st, BEST);
    // Chunks are claimed in ascending order, so every later chunk of ours is higher still.
    if (known !== 0n && known - 1n < BigInt(off)) break;
    const len = Math.min(chunkSize, count - off);
    const r = backend.powSearch(header, target, nonceStart + BigInt(off), len);
    if (r !== null) {
      const rel = r.nonce - nonceStart;
      hashes += Number(rel) - off + 1;
      atomicMinBest(st, rel + 1n);
      return { nonce: r.nonce, hash: r.hash.slice(), hashes };
    }
    hashes += len;
  }
  return { nonce: null, hash: null, hashes };
}
