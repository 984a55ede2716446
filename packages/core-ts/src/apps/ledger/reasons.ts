// The outcome of one ledger transaction, as the replicated result bytes carry it.
//
// A result is UTF-8 text: "ok", or "<reason>: <detail>" where <reason> is one of LEDGER_REASONS
// (snake_case, stable: clients switch on it) and <detail> says what was wrong with the values.
// The text is part of the replicated result every validator signs in its reply, so it is built
// only from the transaction and the state (never from anything local), identically everywhere.
//
// Which reasons consume the signer's nonce (see app.ts "order of checks"): only those after the
// signature and nonce checks passed: insufficient_funds, limit_exceeded, overflow,
// capacity_exceeded. A transaction rejected for any other reason left the state untouched.

export const LEDGER_REASONS = [
  /** The bytes are not a canonical ledger transaction (truncated, trailing, bad tag, bounds, order). */
  'malformed',
  /** Signed for another chain id than this ledger's genesis. */
  'wrong_chain',
  /** The signer, a co-signer or a recipient has no account (accounts come from genesis or the mint authority). */
  'unknown_account',
  /** An asset the genesis does not declare. */
  'unknown_asset',
  /** A signature does not verify (ZIP-215, see crypto/ed25519-rule.ts). */
  'bad_signature',
  /** The nonce is not the signer's next one: a replay, a second spend of a used nonce, or a gap. */
  'bad_nonce',
  /** Mint or configure by someone other than the mint authority. */
  'unauthorized',
  /** A leg would take a balance below zero. */
  'insufficient_funds',
  /** A per-account risk limit (per-transaction maximum or outflow allowance) would be passed. */
  'limit_exceeded',
  /** A supply or balance would pass 2^63 - 1. */
  'overflow',
  /** The ledger holds its maximum number of accounts. */
  'capacity_exceeded',
] as const;

export type LedgerReason = (typeof LEDGER_REASONS)[number];
export type LedgerResultCode = 'ok' | LedgerReason;

export interface LedgerOutcome {
  readonly code: LedgerResultCode;
  /** Empty for ok. */
  readonly detail: string;
}

export function isLedgerReason(s: string): s is LedgerReason {
  return (LEDGER_REASONS as readonly string[]).includes(s);
}

export function formatOutcome(o: LedgerOutcome): string {
  return o.code === 'ok' ? 'ok' : `${o.code}: ${o.detail}`;
}

/** Parses result text back; null when it is not a ledger result (e.g. a kv app's). */
export function parseOutcome(text: string): LedgerOutcome | null {
  if (text === 'ok') return { code: 'ok', detail: '' };
  const i = text.indexOf(': ');
  if (i < 0) return null;
  const code = text.slice(0, i);
  return isLedgerReason(code) ? { code, detail: text.slice(i + 2) } : null;
}
