// Every bound and the configuration of the auction (TigerBeetle's "put a limit on everything").
// The relations between the bounds are asserted at load: a reveal at the bounds fits one client
// op, and the auction's snapshot at the bounds fits beside the ledger's in one state snapshot.

import { CODEC_LIMITS } from '../../codec/codec.js';
import { LEDGER_LIMITS, SNAPSHOT_BYTES_MAX as LEDGER_SNAPSHOT_BYTES_MAX, TX_BYTES_MAX } from '../ledger/limits.js';

export const AUCTION_LIMITS = {
  /** Rounds open at once (the configured max_active_rounds may be lower, never higher). */
  activeRoundsMax: 16,
  /** Commitments (so bundles) in one round. */
  bundlesPerRoundMax: 16,
  /** Ledger transactions in one bundle. */
  txsPerBundleMax: 8,
  /** Finished rounds kept in the state (oldest dropped first); their bundles are kept as tx ids. */
  historyMax: 64,
  /** Bounds of a phase length in heights. */
  phaseHeightsMax: 100_000,
} as const;

/** Priorities and normalized bids are integers in millionths of 1.0. */
export const PRIORITY_SCALE = 1_000_000;
/** Weights are integers in basis points (1/10000): 0.7 -> 7000. */
export const WEIGHT_SCALE = 10_000;

/** The largest reveal: header, payload with every bound at its maximum. */
export const REVEAL_BYTES_MAX = 2 + 1 + LEDGER_LIMITS.chainIdBytesMax + 32 + 8 + 1 + 64 + 8 + 4 + 32 + 1 + AUCTION_LIMITS.txsPerBundleMax * (2 + TX_BYTES_MAX);

/** Bytes of one commitment in the snapshot, at most, with its bundle's bytes (active) or ids only (history). */
const COMMIT_BYTES_MAX_ACTIVE = 32 + 32 + 8 + 1 + 1 + (1 + 64 + 8 + 4 + 8 + 1 + AUCTION_LIMITS.txsPerBundleMax * (32 + 1 + 4 + TX_BYTES_MAX));
const COMMIT_BYTES_MAX_KEPT = 32 + 32 + 8 + 1 + 1 + (1 + 64 + 8 + 4 + 8 + 1 + AUCTION_LIMITS.txsPerBundleMax * (32 + 1));
/** A round without its commitments: fields, reason text, evaluations and attempts with their text. */
const ROUND_FIXED_BYTES_MAX = 8 + 32 + 8 * 5 + 1 + 64 + 8 + 1 + 8 + 1 + 4 + 1024 + 1 + 1 + AUCTION_LIMITS.bundlesPerRoundMax * (1 + 4 + 1 + 4 + 1024 + 4);
export const AUCTION_SNAPSHOT_BYTES_MAX =
  8 + 1 + 1 +
  AUCTION_LIMITS.activeRoundsMax * (ROUND_FIXED_BYTES_MAX + AUCTION_LIMITS.bundlesPerRoundMax * COMMIT_BYTES_MAX_ACTIVE) +
  AUCTION_LIMITS.historyMax * (ROUND_FIXED_BYTES_MAX + AUCTION_LIMITS.bundlesPerRoundMax * COMMIT_BYTES_MAX_KEPT);

export interface AuctionConfig {
  /** The asset bids are paid and deposits are locked in (one of the genesis assets). */
  readonly asset: string;
  /** Locked at commit, returned after a valid reveal, forfeited to the treasury otherwise. */
  readonly deposit: bigint;
  /** BidCollection lasts this many heights (commits accepted), then BidEvaluation (reveals). */
  readonly collectHeights: number;
  readonly revealHeights: number;
  /** Weights of the normalized bid and of the priority, in basis points (7000 / 3000). */
  readonly economicWeightBp: number;
  readonly priorityWeightBp: number;
  /** Rounds open at once: 1 .. AUCTION_LIMITS.activeRoundsMax. */
  readonly activeRoundsMax: number;
  /** Receives winning bids and forfeited deposits; null: the derived treasury key (app.ts). */
  readonly treasury: Uint8Array | null;
}

export const AUCTION_CONFIG_DEFAULTS = {
  deposit: 10n,
  collectHeights: 5,
  revealHeights: 5,
  economicWeightBp: 7000,
  priorityWeightBp: 3000,
  activeRoundsMax: 10,
  treasury: null,
} as const;

/** Checks a config; throws RangeError naming the bad field. */
export function checkAuctionConfig(c: AuctionConfig): void {
  const int = (v: number, lo: number, hi: number, what: string): void => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`auction ${what} must be an integer in ${lo}..${hi}, got ${v}`);
  };
  int(c.collectHeights, 1, AUCTION_LIMITS.phaseHeightsMax, 'collectHeights');
  int(c.revealHeights, 1, AUCTION_LIMITS.phaseHeightsMax, 'revealHeights');
  int(c.economicWeightBp, 0, WEIGHT_SCALE, 'economicWeightBp');
  int(c.priorityWeightBp, 0, WEIGHT_SCALE, 'priorityWeightBp');
  int(c.activeRoundsMax, 1, AUCTION_LIMITS.activeRoundsMax, 'activeRoundsMax');
  if (typeof c.deposit !== 'bigint' || c.deposit < 0n || c.deposit > LEDGER_LIMITS.amountMax) throw new RangeError(`auction deposit must be in 0..2^63-1, got ${String(c.deposit)}`);
  if (c.treasury !== null && (!(c.treasury instanceof Uint8Array) || c.treasury.length !== 32)) throw new RangeError('auction treasury must be a 32-byte public key or null');
}

if (REVEAL_BYTES_MAX > CODEC_LIMITS.opBytesMax) throw new Error(`auction reveal bound ${REVEAL_BYTES_MAX} exceeds the codec op limit`);
if (LEDGER_SNAPSHOT_BYTES_MAX + AUCTION_SNAPSHOT_BYTES_MAX > CODEC_LIMITS.snapshotBytesMax / 2) throw new Error('ledger + auction snapshot bound exceeds half the codec snapshot limit');
