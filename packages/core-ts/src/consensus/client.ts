// Client side of exactly-once requests: collect signed replies for one request and accept a
// result once validators holding a weak quorum of stake (f+1 for equal stakes) signed the same
// (seq, result). At least one of them is honest, so the result is the committed one.

import type { CryptoBackend } from '../crypto/backend.js';
import { encodeBatch, signingPayload } from '../codec/codec.js';
import { bytesEqual } from './safety-rules.js';
import type { CertifiedBatch, Reply, ValidatorId } from './types.js';
import type { ValidatorSet } from './validators.js';

export interface AcceptedResult {
  readonly seq: number;
  readonly result: Uint8Array;
  readonly signers: readonly ValidatorId[];
}

export class ReplyCollector {
  private readonly votes = new Map<string, Set<ValidatorId>>();
  private readonly voted = new Set<ValidatorId>();
  private accepted: AcceptedResult | null = null;

  constructor(
    private readonly validators: ValidatorSet,
    private readonly crypto: Pick<CryptoBackend, 'ed25519VerifyBatch'>,
    readonly clientId: string,
    readonly requestSeq: number,
  ) {}

  get result(): AcceptedResult | null {
    return this.accepted;
  }

  /** Add one reply; returns the accepted result once there is one. Bad replies are ignored. */
  add(reply: Reply): AcceptedResult | null {
    if (this.accepted !== null) return this.accepted;
    if (reply.clientId !== this.clientId || reply.requestSeq !== this.requestSeq) return null;
    if (!this.validators.has(reply.from) || this.voted.has(reply.from)) return null;
    const ok = this.crypto.ed25519VerifyBatch([
      { publicKey: this.validators.publicKey(reply.from), message: signingPayload(reply), signature: reply.sig },
    ]);
    if (ok[0] !== 1) return null;
    this.voted.add(reply.from);
    let k = `${reply.seq}:`;
    for (const b of reply.result) k += b.toString(16).padStart(2, '0');
    let set = this.votes.get(k);
    if (set === undefined) this.votes.set(k, (set = new Set()));
    set.add(reply.from);
    if (this.validators.isWeakQuorum(set)) {
      this.accepted = { seq: reply.seq, result: reply.result, signers: [...set].sort((a, b) => a - b) };
    }
    return this.accepted;
  }
}

/**
 * Check a commit certificate (a CertifiedBatch, e.g. from CommittedBatch.cert or a state
 * transfer) on its own: the pre-prepare comes from its view's primary, the digest binds the
 * batch, and distinct validators holding a quorum of stake signed matching commits. A client
 * holding one knows the batch is final at its seq without waiting for f+1 replies.
 */
export function verifyCommitCertificate(
  cert: CertifiedBatch,
  validators: ValidatorSet,
  crypto: Pick<CryptoBackend, 'ed25519VerifyBatch' | 'blake3'>,
): { ok: true } | { ok: false; reason: string } {
  const pp = cert.prePrepare;
  if (!validators.has(pp.from) || pp.from !== validators.primary(pp.view)) return { ok: false, reason: 'pre-prepare not from the primary of its view' };
  if (!bytesEqual(crypto.blake3(encodeBatch(pp.batch)), pp.digest)) return { ok: false, reason: 'digest does not match the batch' };
  const ids = new Set<ValidatorId>();
  for (const c of cert.commits) {
    if (!validators.has(c.from) || ids.has(c.from)) return { ok: false, reason: `bad or duplicate signer ${c.from}` };
    if (c.view !== pp.view || c.seq !== pp.seq || !bytesEqual(c.digest, pp.digest)) return { ok: false, reason: 'a commit does not match the pre-prepare' };
    ids.add(c.from);
  }
  if (!validators.isQuorum(ids)) return { ok: false, reason: 'commits do not reach a quorum of stake' };
  const signed = [pp, ...cert.commits];
  const valid = crypto.ed25519VerifyBatch(signed.map((m) => ({ publicKey: validators.publicKey(m.from), message: signingPayload(m), signature: m.sig })));
  const bad = signed.findIndex((_, i) => valid[i] !== 1);
  return bad < 0 ? { ok: true } : { ok: false, reason: `signature ${bad} does not verify` };
}
