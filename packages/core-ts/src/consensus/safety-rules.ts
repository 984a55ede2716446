// SafetyRules: the only component that holds the validator's signing key.
//
// Contract (after Aptos' safety rules): it never signs two different digests for one slot
// (kind, view, seq), and never signs a proposal or vote in a view below one it has signed a
// view-change for. Each rule is a small named check that throws a typed SafetyError. Every
// signature that creates a new obligation comes with the PersistRecord that captures it; the
// replica puts the signed message in `sendAfterPersist`, so the record is durable before anyone
// can see the signature. On restart the replica hands back everything it persisted.
// A commit may only be signed for the digest this validator already bound itself to in that
// (view, seq) by its persisted prepare (or its pre-prepare, as primary). Its record is the
// prepared certificate it rests on, not the vote: a validator whose commit helped a batch commit
// must report that certificate in every later view-change, including after a restart, or a
// view-change quorum of restarted validators could hand the seq to another batch (the long
// simulator run found exactly that: seeds 471786 and 473104; scenario crash-recovery.txt).
// Signing is deterministic (RFC 8032), so re-signing the same statement is harmless.

import type { CryptoBackend } from '../crypto/backend.js';
import { replyRootPayload, signingPayload, statementPayload, timeoutPayload } from '../codec/codec.js';
import type {
  Checkpoint,
  ClientRequest,
  Commit,
  Digest,
  NewView,
  PersistRecord,
  PrePrepare,
  PreparedCert,
  Prepare,
  Timeout,
  TimeoutCert,
  ValidatorId,
  ViewChange,
  VoteRecord,
} from './types.js';

export type SafetyErrorCode = 'conflicting-vote' | 'stale-view' | 'unbound-commit';

export class SafetyError extends Error {
  override readonly name = 'SafetyError';
  constructor(
    readonly code: SafetyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface Signed<T> {
  readonly message: T;
  /** Records to persist before `message` leaves (empty when nothing new was promised). */
  readonly persist: PersistRecord[];
}

type Unsigned<T> = Omit<T, 'sig' | 'from'>;

export class SafetyRules {
  private readonly votes = new Map<string, Digest>();
  /** Highest view this validator signed a view-change for: no votes below it. */
  private viewFloor: number;

  constructor(
    readonly id: ValidatorId,
    private readonly seed32: Uint8Array,
    private readonly crypto: CryptoBackend,
    restored?: { votes: readonly VoteRecord[]; view: number },
  ) {
    this.viewFloor = restored?.view ?? 0;
    for (const v of restored?.votes ?? []) this.votes.set(slotKey(v.kind, v.view, v.seq), v.digest);
  }

  get highestView(): number {
    return this.viewFloor;
  }

  /** Forget obligations for slots at or below a stable checkpoint (they can never be voted again). */
  prune(stableSeq: number): void {
    for (const key of this.votes.keys()) {
      if (Number(key.slice(key.lastIndexOf(':') + 1)) <= stableSeq) this.votes.delete(key);
    }
  }

  /** Highest seq this validator signed a pre-prepare for in `view` (0 if none): never re-propose below it. */
  highestProposed(view: number): number {
    let max = 0;
    for (const key of this.votes.keys()) {
      const [kind, v, seq] = key.split(':');
      if (kind === 'pre-prepare' && Number(v) === view) max = Math.max(max, Number(seq));
    }
    return max;
  }

  /** Would signing this statement break a rule? (lets the replica check before doing work) */
  canVote(kind: VoteRecord['kind'], view: number, seq: number, digest: Digest): boolean {
    if (this.checkView(view) !== null || this.checkNoConflict(kind, view, seq, digest) !== null) return false;
    return kind !== 'commit' || this.checkBound(view, seq, digest) === null;
  }

  /** A commit must match this validator's own prepare (or pre-prepare) for the slot. */
  private checkBound(view: number, seq: number, digest: Digest): SafetyError | null {
    const bound = this.votes.get(slotKey('prepare', view, seq)) ?? this.votes.get(slotKey('pre-prepare', view, seq));
    if (bound !== undefined && bytesEqual(bound, digest)) return null;
    return new SafetyError('unbound-commit', `no own prepare or pre-prepare for this digest at view ${view} seq ${seq}`);
  }

  private checkView(view: number): SafetyError | null {
    return view < this.viewFloor ? new SafetyError('stale-view', `view ${view} < view-change floor ${this.viewFloor}`) : null;
  }

  private checkNoConflict(kind: VoteRecord['kind'], view: number, seq: number, digest: Digest): SafetyError | null {
    const prior = this.votes.get(slotKey(kind, view, seq));
    if (prior !== undefined && !bytesEqual(prior, digest)) {
      return new SafetyError('conflicting-vote', `already signed a different ${kind} for view ${view} seq ${seq}`);
    }
    return null;
  }

  private signStatement(kind: VoteRecord['kind'], view: number, seq: number, digest: Digest): { sig: Uint8Array; persist: PersistRecord[] } {
    const err = this.checkView(view) ?? this.checkNoConflict(kind, view, seq, digest);
    if (err !== null) throw err;
    const key = slotKey(kind, view, seq);
    const isNew = !this.votes.has(key);
    this.votes.set(key, digest);
    const sig = this.crypto.ed25519Sign(this.seed32, statementPayload(kind, view, seq, digest, this.id));
    return { sig, persist: isNew ? [{ kind: 'vote', vote: { kind, view, seq, digest } }] : [] };
  }

  signPrePrepare(view: number, seq: number, digest: Digest, batch: readonly ClientRequest[]): Signed<PrePrepare> {
    const { sig, persist } = this.signStatement('pre-prepare', view, seq, digest);
    return { message: { kind: 'pre-prepare', view, seq, digest, batch, from: this.id, sig }, persist };
  }

  signPrepare(view: number, seq: number, digest: Digest): Signed<Prepare> {
    const { sig, persist } = this.signStatement('prepare', view, seq, digest);
    return { message: { kind: 'prepare', view, seq, digest, from: this.id, sig }, persist };
  }

  /**
   * Commit to the slot `cert` proves prepared. Persists the certificate itself (see the header):
   * the view-change after a restart reads it back.
   */
  signCommit(cert: PreparedCert): Signed<Commit> {
    const { view, seq, digest } = cert.prePrepare;
    const err = this.checkBound(view, seq, digest);
    if (err !== null) throw err;
    const { sig } = this.signStatement('commit', view, seq, digest);
    return { message: { kind: 'commit', view, seq, digest, from: this.id, sig }, persist: [{ kind: 'prepared', cert }] };
  }

  /** Checkpoints are deterministic (state after seq), so they carry no obligation. */
  signCheckpoint(seq: number, stateDigest: Digest): Checkpoint {
    const sig = this.crypto.ed25519Sign(this.seed32, statementPayload('checkpoint', 0, seq, stateDigest, this.id));
    return { kind: 'checkpoint', seq, stateDigest, from: this.id, sig };
  }

  /**
   * Signing a view-change for v promises never to vote in a view below v again. `justification`
   * (the timeout certificate for v - 1 that made us leave) is persisted with that promise.
   */
  signViewChange(body: Unsigned<ViewChange>, justification: TimeoutCert | null): Signed<ViewChange> {
    const persist: PersistRecord[] = [];
    if (body.newView > this.viewFloor) {
      this.viewFloor = body.newView;
      persist.push({ kind: 'view', view: body.newView, justification });
    }
    const unsigned = { ...body, from: this.id, sig: new Uint8Array(64) };
    const sig = this.crypto.ed25519Sign(this.seed32, signingPayload(unsigned));
    return { message: { ...unsigned, sig }, persist };
  }

  /** A timeout is a report, not a promise: the validator may still vote in `view`. No obligation. */
  signTimeout(view: number): Timeout {
    return { kind: 'timeout', view, from: this.id, sig: this.crypto.ed25519Sign(this.seed32, timeoutPayload(view, this.id)) };
  }

  signNewView(body: Unsigned<NewView>): NewView {
    const unsigned = { ...body, from: this.id, sig: new Uint8Array(64) };
    return { ...unsigned, sig: this.crypto.ed25519Sign(this.seed32, signingPayload(unsigned)) };
  }

  /** One signature for all replies of a batch (see Reply). Results are deterministic: no obligation. */
  signReplyRoot(view: number, batchSeq: number, root: Digest): Uint8Array {
    return this.crypto.ed25519Sign(this.seed32, replyRootPayload(view, batchSeq, root, this.id));
  }
}

function slotKey(kind: string, view: number, seq: number): string {
  return `${kind}:${view}:${seq}`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
