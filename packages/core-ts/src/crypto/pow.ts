// BLAKE3 proof-of-work rule, shared by every backend:
//   candidate = header with its last 8 bytes replaced by the nonce, little-endian u64;
//   hash = BLAKE3(candidate); the nonce wins when hash read big-endian <= target.
// A search returns the LOWEST winning nonce of [nonceStart, nonceStart + count), so every
// backend (and every way of splitting the range) returns the same answer.

import { assertBytes, assertCount, assertU64, U64_MAX } from './args.js';

export const POW_HEADER_MIN = 8;
/** Largest count one call accepts (2^53 - 1; splitting is the caller's business). */
export const POW_COUNT_MAX = Number.MAX_SAFE_INTEGER;

export function checkPowArgs(header: unknown, target: unknown, nonceStart: unknown, count: unknown): void {
  assertBytes('header', header);
  if ((header as Uint8Array).length < POW_HEADER_MIN) {
    throw new RangeError(`header must be at least ${POW_HEADER_MIN} bytes (the nonce goes in the last 8), got ${(header as Uint8Array).length}`);
  }
  assertBytes('target', target, 32);
  assertU64('nonceStart', nonceStart);
  assertCount('count', count, POW_COUNT_MAX);
  if ((nonceStart as bigint) + BigInt(count as number) - 1n > U64_MAX) {
    throw new RangeError(`nonceStart + count must not pass 2^64, got ${nonceStart} + ${count}`);
  }
}

/** hash <= target, both read big-endian. */
export function meetsTarget(hash: Uint8Array, target: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    const h = hash[i]!;
    const t = target[i]!;
    if (h !== t) return h < t;
  }
  return true;
}

export function writeNonce(buf: Uint8Array, nonce: bigint): void {
  const off = buf.length - 8;
  let n = nonce;
  for (let i = 0; i < 8; i++) {
    buf[off + i] = Number(n & 0xffn);
    n >>= 8n;
  }
}

/** Reference search: correct, slow; the oracle for the fast ones. */
export function powSearchWith(
  hash: (data: Uint8Array) => Uint8Array,
  header: Uint8Array,
  target: Uint8Array,
  nonceStart: bigint,
  count: number,
): { nonce: bigint; hash: Uint8Array } | null {
  checkPowArgs(header, target, nonceStart, count);
  const buf = header.slice();
  const off = buf.length - 8;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let lo = Number(nonceStart & 0xffffffffn);
  let hi = Number(nonceStart >> 32n);
  for (let i = 0; i < count; i++) {
    view.setUint32(off, lo, true);
    view.setUint32(off + 4, hi, true);
    const h = hash(buf);
    if (meetsTarget(h, target)) return { nonce: (BigInt(hi) << 32n) | BigInt(lo), hash: h };
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
  }
  return null;
}
