// Equivocation evidence: two validly signed statements by one validator about one slot with
// different digests. Self-contained: anyone holding the validator set can check it.
// An identical duplicate (same digest) is not equivocation.

import type { CryptoBackend } from '../crypto/backend.js';
import { statementPayload } from '../codec/codec.js';
import { bytesEqual } from './safety-rules.js';
import type { Evidence, SignedStatement } from './types.js';
import type { ValidatorSet } from './validators.js';

export type EvidenceVerdict = { ok: true; validator: number } | { ok: false; reason: string };

export function makeEvidence(a: SignedStatement, b: SignedStatement): Evidence {
  return { kind: 'equivocation', a, b };
}

/** Two statements about the same slot (kind, view, seq) by the same signer. */
export function sameSlot(a: SignedStatement, b: SignedStatement): boolean {
  return a.kind === b.kind && a.view === b.view && a.seq === b.seq && a.from === b.from;
}

export function statementItem(s: SignedStatement, validators: ValidatorSet): { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array } {
  return {
    publicKey: validators.publicKey(s.from),
    message: statementPayload(s.kind, s.view, s.seq, s.digest, s.from),
    signature: s.sig,
  };
}

export function verifyEvidence(evidence: Evidence, validators: ValidatorSet, crypto: CryptoBackend): EvidenceVerdict {
  const { a, b } = evidence;
  if (evidence.kind !== 'equivocation') return { ok: false, reason: `unknown evidence kind ${String(evidence.kind)}` };
  if (!sameSlot(a, b)) return { ok: false, reason: 'statements are not about the same slot by the same validator' };
  if (!validators.has(a.from)) return { ok: false, reason: `unknown validator ${a.from}` };
  if (bytesEqual(a.digest, b.digest)) return { ok: false, reason: 'identical statements are not equivocation' };
  const valid = crypto.ed25519VerifyBatch([statementItem(a, validators), statementItem(b, validators)]);
  if (valid[0] !== 1 || valid[1] !== 1) return { ok: false, reason: 'a signature does not verify' };
  return { ok: true, validator: a.from };
}
