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
//
// Reservations (issue 10: one durable write per commit, not one per vote). A proposal or vote
// (pre-prepare, prepare, commit) in view v at seq s is covered by a durable reservation
// (v, upTo) with s <= upTo: the record "this validator may have signed in view v up to upTo".
// After a restart SafetyRules signs nothing in a view below the restored reservation's, nor in
// its view at or below its upTo: a restarted validator never votes again where it may have
// voted, so it cannot contradict a vote whose record was never written, and per-slot vote
// records are not needed. A reservation is issued ahead (upTo = seq + stride, renewed when a
// vote comes within half a stride of it), so a vote whose reservation is already durable
// leaves at once (`covered`); only the first vote of a view, or one that outruns the
// reservation, waits for a write. The runtime reports durable writes with the 'persisted'
// input; the replica passes them on (persisted()). A restarted backup votes again once the
// cluster passes upTo (at most stride slots on) or at the next view; a restarted primary
// cannot propose in its view and the view changes.

import type { CryptoBackend } from '../crypto/backend.js';
import { REPLICA_BOUNDS } from '../kit/bounds.js';
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

export type SafetyErrorCode = 'conflicting-vote' | 'stale-view' | 'unbound-commit' | 'after-restart';

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
  /**
   * The promise `message` makes is already durable (a durable reservation covers it): it may
   * leave at once, and `persist` (a reservation issued ahead) need not be awaited.
   */
  readonly covered: boolean;
}

/** A reservation: signed (or may sign) in `view` at seqs up to `upTo`. */
export interface Reservation {
  readonly view: number;
  readonly upTo: number;
}

export interface SafetyRulesOptions {
  /** Reservation stride: seqs reserved ahead of the vote that issues one (>= 2). */
  readonly stride?: number;
  /** Planted bug (simulator only): sign without any reservation, as if one were durable. */
  readonly skipReservation?: boolean;
}

const NO_RESERVATION: Reservation = { view: -1, upTo: 0 };
const PENDING_RESERVATIONS_MAX = REPLICA_BOUNDS.pendingReservationsMax;

function reservationBelow(a: Reservation, b: Reservation): boolean {
  return a.view < b.view || (a.view === b.view && a.upTo < b.upTo);
}

/** A message before SafetyRules signs it: without its signature and signer. */
export type Unsigned<T> = Omit<T, 'sig' | 'from'>;

export class SafetyRules {
  private readonly votes = new Map<string, Digest>();
  /** Highest view this validator signed a view-change for: no votes below it. */
  private viewFloor: number;
  /** The reservation restored at start: nothing is signed at or below it (see the header). */
  private readonly restartFloor: Reservation;
  /** The highest reservation issued, and the highest known durable. */
  private issued: Reservation;
  private durable: Reservation;
  /** Reservations issued and not yet reported durable, by the persist token of their output. */
  private readonly pending = new Map<number, Reservation>();
  private readonly stride: number;
  private readonly skipReservation: boolean;

  constructor(
    readonly id: ValidatorId,
    private readonly seed32: Uint8Array,
    private readonly crypto: CryptoBackend,
    restored?: { votes: readonly VoteRecord[]; view: number; reservation?: Reservation | null },
    options: SafetyRulesOptions = {},
  ) {
    this.viewFloor = restored?.view ?? 0;
    for (const v of restored?.votes ?? []) this.votes.set(slotKey(v.kind, v.view, v.seq), v.digest);
    this.restartFloor = restored?.reservation ?? NO_RESERVATION;
    this.issued = this.restartFloor;
    this.durable = this.restartFloor;
    this.stride = Math.max(2, options.stride ?? 64);
    this.skipReservation = options.skipReservation === true;
  }

  /** The view to restart in: the view-change floor, or the restored reservation's view. */
  get highestView(): number {
    return Math.max(this.viewFloor, this.restartFloor.view);
  }

  /** True when a restart forbids proposing or voting at (view, seq) (see the header). */
  mutedAfterRestart(view: number, seq: number): boolean {
    return view < this.restartFloor.view || (view === this.restartFloor.view && seq <= this.restartFloor.upTo);
  }

  /**
   * The output carrying reservation records got persist token `token` (called by the replica
   * when it takes its output).
   */
  noteIssued(token: number, persist: readonly PersistRecord[]): void {
    let best: Reservation | null = null;
    for (const r of persist) if (r.kind === 'reservation' && (best === null || reservationBelow(best, r))) best = { view: r.view, upTo: r.upTo };
    if (best === null) return;
    this.pending.set(token, best);
    // Bounded: a runtime that never reports (memory mode) leaves them here. Forgetting one only
    // means its votes keep waiting for writes, never that they stop waiting.
    if (this.pending.size > PENDING_RESERVATIONS_MAX) this.pending.delete(this.pending.keys().next().value!);
  }

  /** The runtime reports the writes of the output with `token` durable. */
  persisted(token: number): void {
    const r = this.pending.get(token);
    if (r === undefined) return;
    this.pending.delete(token);
    if (reservationBelow(this.durable, r)) this.durable = r;
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
    if (this.checkView(view) !== null || this.checkRestart(view, seq) !== null || this.checkNoConflict(kind, view, seq, digest) !== null) return false;
    return kind !== 'commit' || this.checkBound(view, seq, digest) === null;
  }

  /** A commit must match this validator's own prepare (or pre-prepare) for the slot. */
  private checkBound(view: number, seq: number, digest: Digest): SafetyError | null {
    const bound = this.votes.get(slotKey('prepare', view, seq)) ?? this.votes.get(slotKey('pre-prepare', view, seq));
    if (bound !== undefined && bytesEqual(bound, digest)) return null;
    return new SafetyError('unbound-commit', `no own prepare or pre-prepare for this digest at view ${view} seq ${seq}`);
  }

  private checkView(view: number): SafetyError | null {
    if (view < this.viewFloor) return new SafetyError('stale-view', `view ${view} < view-change floor ${this.viewFloor}`);
    // A reservation is never lowered (the durable rule keeps the highest): no votes below one.
    if (view < this.issued.view) return new SafetyError('stale-view', `view ${view} < reserved view ${this.issued.view}`);
    return null;
  }

  private checkRestart(view: number, seq: number): SafetyError | null {
    return this.mutedAfterRestart(view, seq)
      ? new SafetyError('after-restart', `view ${view} seq ${seq} is at or below the reservation restored at start (view ${this.restartFloor.view} up to ${this.restartFloor.upTo})`)
      : null;
  }

  private checkNoConflict(kind: VoteRecord['kind'], view: number, seq: number, digest: Digest): SafetyError | null {
    const prior = this.votes.get(slotKey(kind, view, seq));
    if (prior !== undefined && !bytesEqual(prior, digest)) {
      return new SafetyError('conflicting-vote', `already signed a different ${kind} for view ${view} seq ${seq}`);
    }
    return null;
  }

  private signStatement(kind: VoteRecord['kind'], view: number, seq: number, digest: Digest): { sig: Uint8Array; persist: PersistRecord[]; covered: boolean } {
    const err = this.checkView(view) ?? this.checkRestart(view, seq) ?? this.checkNoConflict(kind, view, seq, digest);
    if (err !== null) throw err;
    this.votes.set(slotKey(kind, view, seq), digest);
    const sig = this.crypto.ed25519Sign(this.seed32, statementPayload(kind, view, seq, digest, this.id));
    return { sig, ...this.reserve(view, seq) };
  }

  /** The reservation record (if any) this statement needs, and whether it is covered already. */
  private reserve(view: number, seq: number): { persist: PersistRecord[]; covered: boolean } {
    if (this.skipReservation) return { persist: [], covered: true };
    const covered = this.durable.view === view && seq <= this.durable.upTo;
    const inIssued = this.issued.view === view && seq <= this.issued.upTo;
    // Renew half a stride ahead, so the next votes find a durable reservation.
    if (inIssued && seq + (this.stride >> 1) <= this.issued.upTo) return { persist: [], covered };
    this.issued = { view, upTo: Math.max(inIssued ? this.issued.upTo : 0, seq) + this.stride };
    return { persist: [{ kind: 'reservation', view, upTo: this.issued.upTo }], covered };
  }

  signPrePrepare(view: number, seq: number, digest: Digest, batch: readonly ClientRequest[]): Signed<PrePrepare> {
    const { sig, persist, covered } = this.signStatement('pre-prepare', view, seq, digest);
    return { message: { kind: 'pre-prepare', view, seq, digest, batch, from: this.id, sig }, persist, covered };
  }

  signPrepare(view: number, seq: number, digest: Digest): Signed<Prepare> {
    const { sig, persist, covered } = this.signStatement('prepare', view, seq, digest);
    return { message: { kind: 'prepare', view, seq, digest, from: this.id, sig }, persist, covered };
  }

  /**
   * Commit to the slot `cert` proves prepared. Persists the certificate itself (see the header):
   * the view-change after a restart reads it back.
   */
  signCommit(cert: PreparedCert): Signed<Commit> {
    const { view, seq, digest } = cert.prePrepare;
    const err = this.checkBound(view, seq, digest);
    if (err !== null) throw err;
    const { sig, persist } = this.signStatement('commit', view, seq, digest);
    // Never covered: the prepared certificate must be durable before the commit leaves.
    return { message: { kind: 'commit', view, seq, digest, from: this.id, sig }, persist: [{ kind: 'prepared', cert }, ...persist], covered: false };
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
    return { message: { ...unsigned, sig }, persist, covered: false };
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
