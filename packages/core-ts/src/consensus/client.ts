// Client side of exactly-once requests: collect signed replies for one request and accept a
// result once validators holding a weak quorum of stake (f+1 for equal stakes) vouched for the
// same (seq, result). At least one of them is honest, so the result is the committed one.
//
// A validator signs one Merkle root per executed batch (see Reply); a reply is valid when its
// leaf hashes up to `root` along its proof and the root's signature verifies. Many requests of
// one client process share a batch, so a ReplySignatureCache lets one verification serve all of
// them.

import type { CryptoBackend } from '../crypto/backend.js';
import { verifyMerkleProofWith } from '../crypto/merkle.js';
import { replyLeaf, signingPayload } from '../codec/codec.js';
import { commitCertificateProblem } from '../kit/certificate.js';
import { bytesEqual } from './safety-rules.js';
import type { CertifiedBatch, Reply, ValidatorId } from './types.js';
import type { ValidatorSet } from './validators.js';

export interface AcceptedResult {
  readonly seq: number;
  readonly result: Uint8Array;
  readonly signers: readonly ValidatorId[];
}

export type ReplyCrypto = Pick<CryptoBackend, 'ed25519VerifyBatch' | 'blake3'>;

/**
 * Remembers reply-root signatures that verified, keyed by (from, view, batchSeq, root), so the
 * replies of one batch to many requests cost one verification per validator. Bounded: the
 * oldest entry goes first. Only valid signatures are stored.
 */
export class ReplySignatureCache {
  private readonly ok = new Map<string, Uint8Array>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity = 4096) {}

  private static key(r: Reply): string {
    let k = `${r.from}:${r.view}:${r.batchSeq}:`;
    for (const b of r.root) k += b.toString(16).padStart(2, '0');
    return k;
  }

  has(r: Reply): boolean {
    const sig = this.ok.get(ReplySignatureCache.key(r));
    const hit = sig !== undefined && bytesEqual(sig, r.sig);
    if (hit) this.hits++;
    else this.misses++;
    return hit;
  }

  add(r: Reply): void {
    const k = ReplySignatureCache.key(r);
    if (this.ok.has(k)) return;
    if (this.ok.size >= this.capacity) this.ok.delete(this.ok.keys().next().value!);
    this.ok.set(k, r.sig);
  }
}

/**
 * True when `a` and `b` make the same Merkle claim: same leaf fields, root and proof. Honest
 * validators' replies to one request differ only in `from` and `sig`, so once one proof checked
 * out the others need a byte comparison, not eight hashes.
 */
function sameProvenLeaf(a: Reply, b: Reply): boolean {
  const q = b.proof as Reply['proof'] | null | undefined;
  if (q === null || typeof q !== 'object' || !Array.isArray(q.siblings)) return false;
  if (!(b.root instanceof Uint8Array) || !(b.result instanceof Uint8Array)) return false;
  if (a.seq !== b.seq || a.requestSeq !== b.requestSeq || a.session !== b.session) return false;
  if (!bytesEqual(a.root, b.root) || !bytesEqual(a.result, b.result)) return false;
  const p = a.proof;
  if (p.index !== q.index || p.leafCount !== q.leafCount || p.siblings.length !== q.siblings.length) return false;
  return p.siblings.every((s, i) => { const t = q.siblings[i]; return t instanceof Uint8Array && bytesEqual(s, t); });
}

/**
 * Checks replies: each leaf must sit under its root (proof) and each root's signature must
 * verify under `publicKeyOf(from)`. One 0/1 per reply; signatures not in `cache` go to the
 * backend in one batch call. Never throws on a malformed reply: it is 0. `proven` holds replies
 * whose proof already checked out (the caller's memo; this call adds to it).
 */
export function verifyReplies(
  replies: readonly Reply[],
  publicKeyOf: (id: ValidatorId) => Uint8Array | undefined,
  crypto: ReplyCrypto,
  cache?: ReplySignatureCache,
  proven: Reply[] = [],
): Uint8Array {
  const out = new Uint8Array(replies.length);
  const items: { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[] = [];
  const at: number[] = [];
  replies.forEach((r, i) => {
    const pk = publicKeyOf(r.from);
    if (pk === undefined) return;
    if (!proven.some((p) => sameProvenLeaf(p, r))) {
      let leaf: Uint8Array;
      try {
        leaf = replyLeaf(r);
      } catch {
        return;
      }
      if (!verifyMerkleProofWith((b) => crypto.blake3(b), r.root, leaf, r.proof)) return;
      // Bounded: a collector sees at most one reply per validator.
      if (proven.length < 64) proven.push(r);
    }
    if (cache?.has(r) === true) {
      out[i] = 1;
      return;
    }
    items.push({ publicKey: pk, message: signingPayload(r), signature: r.sig });
    at.push(i);
  });
  if (items.length === 0) return out;
  const ok = crypto.ed25519VerifyBatch(items);
  at.forEach((i, j) => {
    if (ok[j] !== 1) return;
    out[i] = 1;
    cache?.add(replies[i]!);
  });
  return out;
}

export class ReplyCollector {
  private readonly votes = new Map<string, Set<ValidatorId>>();
  private readonly voted = new Set<ValidatorId>();
  private readonly proven: Reply[] = [];
  private accepted: AcceptedResult | null = null;

  constructor(
    private readonly validators: ValidatorSet,
    private readonly crypto: ReplyCrypto,
    /** The request's session, sessionOf(request). */
    readonly session: string,
    readonly requestSeq: number,
    private readonly cache?: ReplySignatureCache,
  ) {}

  get result(): AcceptedResult | null {
    return this.accepted;
  }

  /** Add one reply; returns the accepted result once there is one. Bad replies are ignored. */
  add(reply: Reply): AcceptedResult | null {
    if (this.accepted !== null) return this.accepted;
    if (reply.session !== this.session || reply.requestSeq !== this.requestSeq) return null;
    if (!this.validators.has(reply.from) || this.voted.has(reply.from)) return null;
    const ok = verifyReplies([reply], (id) => this.validators.publicKey(id), this.crypto, this.cache, this.proven);
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
  const problem = commitCertificateProblem(cert, validators, crypto, (ids) => validators.isQuorum(ids));
  if (problem !== null) return { ok: false, reason: problem };
  const pp = cert.prePrepare;
  const signed = [pp, ...cert.commits];
  const valid = crypto.ed25519VerifyBatch(signed.map((m) => ({ publicKey: validators.publicKey(m.from), message: signingPayload(m), signature: m.sig })));
  const bad = signed.findIndex((_, i) => valid[i] !== 1);
  return bad < 0 ? { ok: true } : { ok: false, reason: `signature ${bad} does not verify` };
}
