// Every bound of the ledger application in one place (TigerBeetle's "put a limit on everything").
// The relations between them are asserted below, at load: a snapshot at the bounds fits the
// codec's snapshot limit, and a transaction at the bounds fits one client op.

import { CODEC_LIMITS } from '../../codec/codec.js';

export const LEDGER_LIMITS = {
  /** Assets a genesis may declare. */
  assetsMax: 8,
  /** Accounts the ledger holds (genesis, mints and configure ops together). */
  accountsMax: 50_000,
  /** Legs in one transfer, mint or burn. */
  legsMax: 16,
  /** Co-signers of one transfer (sources other than the signer). */
  cosignersMax: 8,
  /** Asset limit entries in one configure op. */
  configureLimitsMax: 8,
  /** Chain id bytes (ASCII). */
  chainIdBytesMax: 64,
  /** Asset symbol bytes (ASCII, [A-Z][A-Z0-9]{1,7}). */
  symbolBytesMax: 8,
  /** Every amount, balance and supply is an integer in 0 .. 2^63 - 1. */
  amountMax: (1n << 63n) - 1n,
  /** Ops verified and executed in one execute() call are bounded by the batch (CODEC_LIMITS.batchRequestsMax). */
} as const;

export const SYMBOL_RE = /^[A-Z][A-Z0-9]{1,7}$/;
export const CHAIN_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Bytes of one asset entry of an account in the snapshot, at most (see app.ts snapshot layout). */
const ENTRY_BYTES_MAX = 1 + LEDGER_LIMITS.symbolBytesMax + 8 + 1 + 8 + 8 + 8;
/** Bytes of one account in the snapshot, at most. */
export const ACCOUNT_BYTES_MAX = 32 + 8 + 1 + LEDGER_LIMITS.assetsMax * ENTRY_BYTES_MAX;
export const SNAPSHOT_BYTES_MAX =
  1 + 1 + LEDGER_LIMITS.chainIdBytesMax + 1 + 32 + 1 + LEDGER_LIMITS.assetsMax * (1 + LEDGER_LIMITS.symbolBytesMax + 8) + 4 + LEDGER_LIMITS.accountsMax * ACCOUNT_BYTES_MAX;
/** The largest transaction: a transfer with every bound at its maximum. */
export const TX_BYTES_MAX =
  2 + 1 + LEDGER_LIMITS.chainIdBytesMax + 32 + 8 + 1 + LEDGER_LIMITS.legsMax * (32 + 32 + 1 + LEDGER_LIMITS.symbolBytesMax + 8) + 64 + 1 + LEDGER_LIMITS.cosignersMax * (32 + 64);

// The replicated state (sessions + app) must fit one snapshot; leave half of it to the sessions.
if (SNAPSHOT_BYTES_MAX > CODEC_LIMITS.snapshotBytesMax / 2) throw new Error(`ledger snapshot bound ${SNAPSHOT_BYTES_MAX} exceeds half the codec snapshot limit`);
if (TX_BYTES_MAX > CODEC_LIMITS.opBytesMax) throw new Error(`ledger tx bound ${TX_BYTES_MAX} exceeds the codec op limit`);
if (LEDGER_LIMITS.cosignersMax >= LEDGER_LIMITS.legsMax) throw new Error('cosignersMax must be below legsMax (each co-signer is the source of a leg)');
