// One certificate checker for replicas and clients alike (issue 11's replica kit): a
// certificate is a set of signed statements from *distinct known* validators that all *match*
// what they certify and together hold a *quorum of stake*. Signatures are checked separately
// (in a VerifyJob, or by the caller's batch verification): these functions check structure,
// which is cheap, so a malformed certificate costs no signature verification.

import type { CryptoBackend } from '../crypto/backend.js';
import { encodeBatch } from '../codec/codec.js';
import { bytesEqual } from '../consensus/safety-rules.js';
import type { CertifiedBatch, Digest, ValidatorId } from '../consensus/types.js';
import type { ValidatorSet } from '../consensus/validators.js';

/** Coordinates a vote shares with the proposal it votes for. */
export interface VoteCoordinates {
  readonly view: number;
  readonly seq: number;
  readonly digest: Digest;
}

export function sameCoordinates(a: VoteCoordinates, b: VoteCoordinates): boolean {
  return a.view === b.view && a.seq === b.seq && bytesEqual(a.digest, b.digest);
}

/**
 * The signers of `statements` when each is a known validator that appears once and `check`
 * accepts its statement; otherwise the first problem: `badSigner` for an unknown or repeated
 * signer, or what `check` said.
 */
export function distinctSigners<S extends { readonly from: ValidatorId }>(
  validators: ValidatorSet,
  statements: readonly S[],
  check: (s: S) => string | null,
  badSigner: (from: ValidatorId) => string,
): Set<ValidatorId> | string {
  const ids = new Set<ValidatorId>();
  for (const s of statements) {
    if (!validators.has(s.from) || ids.has(s.from)) return badSigner(s.from);
    const problem = check(s);
    if (problem !== null) return problem;
    ids.add(s.from);
  }
  return ids;
}

/**
 * A commit certificate's structure: the pre-prepare comes from its view's primary, its digest
 * binds the batch, and distinct validators whose stake `isQuorum` accepts signed commits that
 * match it. Null when sound, else the problem.
 */
export function commitCertificateProblem(
  cert: CertifiedBatch,
  validators: ValidatorSet,
  crypto: Pick<CryptoBackend, 'blake3'>,
  isQuorum: (ids: ReadonlySet<ValidatorId>) => boolean,
): string | null {
  const pp = cert.prePrepare;
  if (!validators.has(pp.from) || pp.from !== validators.primary(pp.view)) return 'pre-prepare not from its primary';
  if (!bytesEqual(crypto.blake3(encodeBatch(pp.batch)), pp.digest)) return 'digest does not match batch';
  const ids = distinctSigners(validators, cert.commits, (c) => (sameCoordinates(c, pp) ? null : 'commit does not match'), () => 'bad or duplicate commit signer');
  if (typeof ids === 'string') return ids;
  return isQuorum(ids) ? null : 'commits do not form a quorum';
}
