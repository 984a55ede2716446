// Amounts in snapshots: u64 big-endian as two u32, at most LEDGER_LIMITS.amountMax (2^63-1).
// Shared by the ledger's and the auction's snapshot codecs.

import { CodecError, type Reader, type Writer } from '../../codec/wire.js';
import { LEDGER_LIMITS } from './limits.js';

export function writeU64(w: Writer, v: bigint): void {
  w.u32(Number(v >> 32n));
  w.u32(Number(v & 0xffff_ffffn));
}

export function readU64(r: Reader, what: string): bigint {
  const v = (BigInt(r.u32(what)) << 32n) | BigInt(r.u32(what));
  if (v > LEDGER_LIMITS.amountMax) throw new CodecError('bad-value', `${what} ${v} above 2^63-1`);
  return v;
}
