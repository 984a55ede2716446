// Reason codes of the auction, beside the ledger's (apps/ledger/reasons.ts). A result is text
// like the ledger's: "ok" or "<reason>: <detail>"; an auction op can also get a ledger reason
// (malformed, wrong_chain, unknown_account, bad_signature, bad_nonce, insufficient_funds for the
// deposit). Settlement attempts carry the ledger reason of the bundle transaction that failed.

import { isLedgerReason, type LedgerOutcome, type LedgerReason } from '../ledger/reasons.js';

export const AUCTION_REASONS = [
  /** This ledger was started without an auction (LedgerAppOptions.auction). */
  'auction_disabled',
  /** The round id names no round, or one that is no longer kept. */
  'unknown_round',
  /** An open whose derived id names an existing round. */
  'round_exists',
  /** max_active_rounds rounds are open already. */
  'too_many_active_rounds',
  /** A commit after BidCollection closed. */
  'collection_closed',
  /** A reveal before BidCollection closed (it would show the bundle while bids are open). */
  'collection_open',
  /** A reveal after BidEvaluation closed. */
  'reveal_closed',
  /** The round holds bundlesPerRoundMax commitments. */
  'round_full',
  /** The same commitment is in the round already. */
  'duplicate_commitment',
  /** The signer has no commitment in the round. */
  'no_commitment',
  /** The reveal hashes to none of the signer's commitments in the round. */
  'reveal_mismatch',
  /** That commitment was revealed already. */
  'already_revealed',
  /** A revealed bundle id equals one revealed before in the round. */
  'duplicate_bundle_id',
  /** A bundle transaction is not a ledger transfer, mint, burn or configure. */
  'bundle_malformed',
  /** A round finished without a valid reveal. */
  'no_valid_bids',
  /** Every revealed bundle failed at settlement. */
  'all_bundles_failed',
] as const;

export type AuctionReason = (typeof AUCTION_REASONS)[number];
export type AuctionResultCode = 'ok' | LedgerReason | AuctionReason;

export interface AuctionOutcome {
  readonly code: AuctionResultCode;
  readonly detail: string;
}

export function isAuctionReason(s: string): s is AuctionReason {
  return (AUCTION_REASONS as readonly string[]).includes(s);
}

/** Parses an auction op's result text (ledger reasons included); null when it is neither. */
export function parseAuctionOutcome(text: string): AuctionOutcome | null {
  if (text === 'ok') return { code: 'ok', detail: '' };
  const i = text.indexOf(': ');
  if (i < 0) return null;
  const code = text.slice(0, i);
  return isAuctionReason(code) || isLedgerReason(code) ? { code, detail: text.slice(i + 2) } : null;
}

export function formatAuctionOutcome(o: AuctionOutcome | LedgerOutcome): string {
  return o.code === 'ok' ? 'ok' : `${o.code}: ${o.detail}`;
}
