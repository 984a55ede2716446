// PBFT replica (Castro & Liskov), sans-IO: step(input) -> Output, see types.ts for the contract.
//
// Normal case: the primary of view v assigns a batch to seq s (pre-prepare); backups broadcast
// prepare; a replica is *prepared* when the primary plus matching prepares reach a quorum of
// stake, then broadcasts commit; it *commits* with a quorum of matching commits and executes
// batches in seq order. Seqs in flight stay within (low, low + watermarkWindow]; a checkpoint
// every checkpointInterval seqs becomes stable at a quorum and truncates the log.
// View change: a replica with pending work and no progress for a timeout (doubling per failed
// view, reset on progress) does not leave its view alone: it broadcasts a signed *timeout* for
// the view and keeps voting in it. Timeouts from f+1 peers make a replica time out too; timeouts
// from a quorum form a *timeout certificate* (TC), and whoever holds a TC for a view >= its own
// signs a view-change for the next view (carrying its stable checkpoint proof and prepared
// certificates) and sends it together with the TC, so every peer that receives one can follow.
// A replica is therefore never alone in a higher view: a restarted validator, or one cut off
// from the primary, times out without a quorum and stays in (and rejoins) the view the others
// are committing in (issue 14; HotStuff's timeout certificates and QBFT's round-change
// justification are the same idea). A replica that sees a quorum commit in its view a batch it
// lacks is behind, not the victim of a bad primary: it fetches and does not time out.
// The new primary gathers a quorum of view-changes and re-proposes the highest prepared batch
// for every seq above the highest stable checkpoint (null batches for gaps) in a new-view, which
// backups recompute and check.
// Catch-up: a lagging or restarted replica fetches the stable checkpoint and certified batches
// from a peer, verifies every signature and quorum, applies them, and only then votes again.
//
// Verification (DESIGN.md §2): inputs arrive on authenticated links. verify 'lazy' counts
// prepares and commits at once, but verifies the prepared certificate in one batch before the
// commit is signed (the certificate is what a view-change transfers), checkpoint proofs before a
// checkpoint becomes stable, commit certificates right after execution (before they serve
// catch-up), and all of view-change / new-view / state transfer / evidence before use.
// verify 'eager' verifies every signature before the message is counted at all.
//
// Peers' bad input is dropped with an event; broken local invariants throw.

import { encodeBatch, signingPayload, toStatement } from '../codec/codec.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { resolveConfig } from './config.js';
import { makeEvidence } from './evidence.js';
import { bytesEqual, SafetyRules } from './safety-rules.js';
import { ReplicatedState } from './state.js';
import { commitCertificateProblem, distinctSigners, sameCoordinates } from '../kit/certificate.js';
import { EquivocationStore } from '../kit/equivocation.js';
import { REPLICA_BOUNDS } from '../kit/bounds.js';
import { Outbox } from '../kit/outbox.js';
import { RequestPool } from '../kit/request-pool.js';
import { signedReplies, type ReplyBody } from '../kit/replies.js';
import { Verifier } from '../kit/verifier.js';
import { KnownRequests, requestItem, requestShapeProblem, sessionOf } from '../kit/client-auth.js';
import type {
  CertifiedBatch,
  Checkpoint,
  ClientRequest,
  Commit,
  Digest,
  Fetch,
  Input,
  Message,
  NewView,
  Output,
  PbftConfig,
  PersistRecord,
  PrePrepare,
  Prepare,
  PreparedCert,
  Replica,
  ReplicaOptions,
  ReplicaStatus,
  SlotStatus,
  StableCheckpoint,
  StateTransfer,
  Timeout,
  TimeoutCert,
  ValidatorId,
  ViewChange,
  Vote,
} from './types.js';
import type { ValidatorSet } from './validators.js';

/** Deliberate bugs, used only by simulator tests to prove the checkers can see. */
export interface PlantedBugs {
  /** Prepare and commit with f+1 (weak quorum) instead of 2f+1. */
  readonly weakQuorum?: boolean;
  /** New primary ignores prepared certificates; backups do not recompute the new-view. */
  readonly skipNewViewCertCheck?: boolean;
  /**
   * A replica whose timer fires signs a view-change for the next view by itself, without a
   * timeout certificate (the code before issue 14's fix): a replica cut off from the primary
   * strands itself in a higher view the others never join.
   */
  readonly viewChangeAlone?: boolean;
  /**
   * SafetyRules signs without writing a reservation, as if one were durable (a write safety
   * needs, skipped): a restarted validator may then vote again where it voted before the crash.
   */
  readonly skipReservation?: boolean;
  /**
   * Take client requests without checking their signatures, in the pool and in proposals: a
   * Byzantine primary may then invent or alter requests (the simulator's forge-request).
   */
  readonly skipClientSignatures?: boolean;
}

export interface PbftReplicaOptions extends ReplicaOptions {
  readonly plantedBugs?: PlantedBugs;
}

type SignedMsg = PrePrepare | Vote | Checkpoint | ViewChange | NewView | Timeout;
type Mode = 'normal' | 'view-change' | 'catching-up';

interface Slot {
  readonly seq: number;
  view: number;
  prePrepare: PrePrepare | null;
  prepares: Map<ValidatorId, Prepare>;
  commits: Map<ValidatorId, Commit>;
  prepareSent: Prepare | null;
  commitSent: Commit | null;
  /** Highest verified prepared certificate for this seq, from any view (survives view changes). */
  preparedCert: PreparedCert | null;
  verifyingPrepared: boolean;
  /** The client signatures of a pre-prepare for this slot (this view) are being verified. */
  checkingRequests: boolean;
  verifyingStable: boolean;
  committed: boolean;
  executed: boolean;
}

const EMPTY_BATCH: readonly ClientRequest[] = [];

/** How many of our own past view-changes we keep for peers that lag behind. */
const OWN_VIEW_CHANGES_KEPT = REPLICA_BOUNDS.ownViewChangesKept;

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export class PbftReplica implements Replica {
  readonly id: ValidatorId;
  private readonly vs: ValidatorSet;
  private readonly cfg: PbftConfig;
  private readonly crypto: CryptoBackend;
  private readonly safety: SafetyRules;
  private readonly state: ReplicatedState;
  private readonly bugs: PlantedBugs;
  private readonly genesisDigest: Digest;

  private readonly outbox = new Outbox();
  private readonly verifier: Verifier<SignedMsg | ClientRequest>;
  /** Client requests whose signature verified here, by content (kit/client-auth.ts). */
  private readonly knownRequests: KnownRequests;
  /** Client requests under verification before they may enter the pool (bounded with it). */
  private admitting = 0;
  private readonly equivocation: EquivocationStore<PrePrepare | Vote | Checkpoint>;
  private now = 0;
  private view = 0;
  /** Last view this replica operated in normally (for Inactivity events). */
  private normalView = 0;
  private mode: Mode = 'normal';
  private lastExecuted = 0;
  private stable: StableCheckpoint;
  private nextSeq = 1;
  private readonly slots = new Map<number, Slot>();
  /** Committed batches above the stable checkpoint with their certificates (serves catch-up). */
  private readonly log = new Map<number, CertifiedBatch>();
  private readonly ownCheckpoints = new Map<number, { digest: Digest; snapshot: Uint8Array; message: Checkpoint }>();
  private readonly checkpointVotes = new Map<number, Map<ValidatorId, Checkpoint>>();
  private readonly pool = new RequestPool();
  private readonly viewChanges = new Map<number, Map<ValidatorId, ViewChange>>();
  private myViewChange: ViewChange | null = null;
  /** Our recent view-changes, resent to peers still changing to those views. */
  private readonly ownViewChanges = new Map<number, ViewChange>();
  /** Tick of our last answer to a peer's outdated view-change. */
  private readonly helpedAt = new Map<ValidatorId, number>();
  private lastNewView: NewView | null = null;
  /** Verified timeouts for views >= ours: at most one per validator (its highest view). */
  private readonly timeouts = new Map<number, Map<ValidatorId, Timeout>>();
  /** Our timeout for the current view, while we have given up waiting in it (retransmitted). */
  private myTimeout: Timeout | null = null;
  /** The timeout certificate for view - 1 that made us leave it (sent with our view-change). */
  private justification: TimeoutCert | null = null;
  /** Last tick at which f+1 validators were seen committing a new seq in our view (it is alive). */
  private liveTick = -Infinity;
  /** Highest seq f+1 validators were seen committing in our view. */
  private liveSeq = 0;
  private vcAttempts = 0;
  /** Tick at which a quorum of view-changes for the current view was seen (-1: not yet). */
  private vcQuorumTick = -1;
  private lastProgressTick = 0;
  private lastRetransmitTick = 0;
  private lastFetchTick = -Infinity;
  private fetchPeer: ValidatorId;
  private lagTarget = 0;
  /** A background verification of log certificates for serving catch-up is under way. */
  private verifyingLog = false;
  private readonly higherView = new Map<ValidatorId, number>();
  /** Per validator: the view and the highest seq (commit votes, checkpoints) last seen from it. */
  private readonly peerView: number[];
  private readonly peerSeq: number[];
  private lastProposal: { view: number; seq: number; digest: string; requests: number } | null = null;

  constructor(opts: PbftReplicaOptions) {
    if (!opts.validators.has(opts.id)) throw new RangeError(`replica id ${opts.id} is not in the validator set`);
    this.id = opts.id;
    this.vs = opts.validators;
    this.cfg = resolveConfig(opts.config);
    this.crypto = opts.crypto;
    this.bugs = opts.plantedBugs ?? {};
    const derived = opts.crypto.ed25519PublicKey(opts.seed32);
    if (!bytesEqual(derived, this.vs.publicKey(opts.id))) {
      throw new RangeError(`seed32 does not match validator ${opts.id}'s public key`);
    }
    this.verifier = new Verifier<SignedMsg | ClientRequest>(this.outbox, (m) =>
      m.kind === 'request' ? requestItem(m) : { publicKey: this.vs.publicKey(m.from), message: signingPayload(m), signature: m.sig },
    );
    this.knownRequests = new KnownRequests(Math.min(this.cfg.pendingRequestsMax, REPLICA_BOUNDS.knownRequestsMax), REPLICA_BOUNDS.knownRequestBytesMax);
    this.equivocation = new EquivocationStore<PrePrepare | Vote | Checkpoint>(
      this.verifier,
      this.outbox,
      (m) => (m.kind === 'checkpoint' ? { from: m.from, kind: m.kind, view: 0, seq: m.seq, digest: m.stateDigest } : m),
      (a, b) => makeEvidence(toStatement(a), toStatement(b)),
    );
    this.safety = new SafetyRules(opts.id, opts.seed32, opts.crypto, opts.restored, {
      stride: 2 * this.cfg.inflightMax,
      ...(opts.plantedBugs?.skipReservation === true ? { skipReservation: true } : {}),
    });
    this.state = new ReplicatedState(opts.app, opts.crypto);
    const genesis = this.state.snapshot();
    this.genesisDigest = this.crypto.blake3(genesis);
    this.stable = { seq: 0, stateDigest: this.genesisDigest, snapshot: genesis, proof: [] };
    this.fetchPeer = (opts.id + 1) % this.vs.size;
    this.peerView = Array<number>(this.vs.size).fill(-1);
    this.peerSeq = Array<number>(this.vs.size).fill(0);
    if (opts.restored !== undefined) this.restore(opts.restored);
  }

  // -------------------------------------------------------------------------------------------
  // Restart: rebuild from what the runtime persisted, then catch up before voting.

  private restore(r: NonNullable<ReplicaOptions['restored']>): void {
    if (r.checkpoint !== null && r.checkpoint.seq > 0) {
      this.state.restore(r.checkpoint.snapshot);
      this.stable = r.checkpoint;
      this.lastExecuted = r.checkpoint.seq;
    }
    for (const b of r.committed) {
      if (b.seq !== this.lastExecuted + 1) continue;
      this.state.execute(b.seq, b.requests);
      this.lastExecuted = b.seq;
      this.log.set(b.seq, b.cert);
      // Our checkpoints above the stable one, as before the crash: without them a peer's proof
      // for a seq we re-executed here could never make it stable, and a replica whose height is
      // at its high watermark stays stuck (crash-heavy seed 8672). The output of the constructor
      // is dropped; retransmission sends them.
      if (b.seq % this.cfg.checkpointInterval === 0) this.takeCheckpoint(b.seq);
    }
    this.view = Math.max(this.view, this.safety.highestView);
    const j = r.justification ?? null;
    if (j !== null && j.view === this.view - 1) this.justification = { ...j, from: this.id };
    // The prepared certificates this validator committed to: its view-changes must report them
    // (see SafetyRules). In the current view they also let it resume voting once caught up.
    for (const cert of r.prepared) {
      const pp = cert.prePrepare;
      if (pp.seq <= this.lastExecuted) continue;
      const slot = this.slotFor(pp.seq);
      if (slot.preparedCert !== null && slot.preparedCert.prePrepare.view >= pp.view) continue;
      slot.preparedCert = cert;
      if (pp.view === this.view) {
        slot.prePrepare = pp;
        for (const p of cert.prepares) slot.prepares.set(p.from, p);
      }
    }
    // A restarted primary must not reuse a seq it proposed before the crash (it lost the batch).
    this.nextSeq = Math.max(this.lastExecuted, this.safety.highestProposed(this.view)) + 1;
    this.mode = 'catching-up';
  }

  // -------------------------------------------------------------------------------------------
  // The one entry point.

  step(input: Input): Output {
    this.outbox.reset();
    switch (input.kind) {
      case 'message':
        this.onMessage(input.from, input.message);
        break;
      case 'request':
        this.onRequest(input.request);
        break;
      case 'tick':
        this.onTick();
        break;
      case 'verified':
        this.verifier.onVerified(input.jobId, input.valid);
        break;
      case 'persisted':
        // The runtime orders sendAfterPersist after the write; SafetyRules learns which
        // reservation is durable, so later votes it covers leave at once.
        this.safety.persisted(input.token);
        break;
      default:
        assertNever(input);
    }
    const out = this.outbox.take();
    if (out.persistToken !== undefined) this.safety.noteIssued(out.persistToken, out.persist);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Quorums

  private quorum(): number {
    return this.bugs.weakQuorum === true ? this.vs.weakQuorumPower : this.vs.quorumPower;
  }

  private isQuorum(ids: Iterable<ValidatorId>): boolean {
    return this.vs.power(ids) >= this.quorum();
  }

  private primary(view = this.view): ValidatorId {
    return this.vs.primary(view);
  }

  private get low(): number {
    return this.stable.seq;
  }

  private get high(): number {
    return this.stable.seq + this.cfg.watermarkWindow;
  }

  private inWindow(seq: number): boolean {
    return seq > this.low && seq <= this.high;
  }

  private timeoutTicks(): number {
    return Math.min(this.cfg.viewChangeTimeoutTicks * 2 ** Math.min(this.vcAttempts, 30), this.cfg.viewChangeTimeoutTicksMax);
  }

  // -------------------------------------------------------------------------------------------
  // Signature verification through VerifyJobs

  /** Eager mode: verify before counting. Lazy mode: count now (the link is authenticated). */
  private admit(m: SignedMsg, fn: () => void): void {
    if (this.cfg.verify === 'lazy') return fn();
    this.verifier.verifyThen([m], (bad) => {
      if (bad.length === 0) fn();
      else this.outbox.slash(m.kind === 'pre-prepare' ? 'InvalidProposal' : 'InvalidVote', m.from, `bad signature on ${m.kind}`);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Dispatch

  private onMessage(from: ValidatorId, m: Message): void {
    if (!this.vs.has(from) || from === this.id) return this.outbox.drop(from, 'message from unknown or self link');
    switch (m.kind) {
      case 'request':
        return this.onRequest(m);
      case 'reply':
        return this.outbox.drop(from, 'replicas do not take replies');
      default:
        break;
    }
    if (m.from !== from) return this.outbox.drop(from, `${m.kind} signed as ${m.from} arrived on link ${from}`);
    this.notePeer(from, m);
    switch (m.kind) {
      case 'pre-prepare':
        return this.admit(m, () => this.onPrePrepare(m));
      case 'prepare':
        return this.admit(m, () => this.onPrepare(m as Prepare));
      case 'commit':
        return this.admit(m, () => this.onCommit(m as Commit));
      case 'checkpoint':
        return this.admit(m, () => this.onCheckpoint(m));
      case 'view-change':
        return this.onViewChangeMessage(m);
      case 'new-view':
        return this.onNewViewMessage(m);
      case 'fetch':
        return this.onFetch(m);
      case 'state':
        return this.onStateMessage(m);
      case 'timeout':
        return this.onTimeoutMessage(m);
      case 'timeout-cert':
        return this.onTimeoutCertMessage(m);
      case 'blocks-request':
      case 'blocks':
        return this.outbox.drop(from, `${m.kind} is served by the runtime, not the replica`);
      default:
        return assertNever(m);
    }
  }

  /** What a peer's message says about where it stands (link-authenticated; for status only). */
  private notePeer(from: ValidatorId, m: Message): void {
    switch (m.kind) {
      case 'pre-prepare':
      case 'prepare':
      case 'timeout':
        this.peerView[from] = m.view;
        break;
      case 'commit':
        this.peerView[from] = m.view;
        this.peerSeq[from] = Math.max(this.peerSeq[from]!, m.seq);
        break;
      case 'checkpoint':
        this.peerSeq[from] = Math.max(this.peerSeq[from]!, m.seq);
        break;
      case 'view-change':
        this.peerView[from] = m.newView;
        break;
      case 'new-view':
        this.peerView[from] = m.view;
        break;
      default:
        break;
    }
  }

  /**
   * The highest sequence number shown (in a commit or a checkpoint, within the watermarks or
   * beyond them) by peers holding f+1 of the stake: at least one honest validator has prepared
   * or executed that far. Link-authenticated claims only; used to decide to fetch, never to
   * accept anything.
   */
  private peersHeight(): number {
    const byHeight = [...this.peerSeq.keys()].filter((id) => id !== this.id).sort((a, b) => this.peerSeq[b]! - this.peerSeq[a]!);
    let power = 0;
    for (const id of byHeight) {
      power += this.vs.stake(id);
      if (power >= this.vs.weakQuorumPower) return this.peerSeq[id]!;
    }
    return 0;
  }

  private standing(): ReplicaStatus['standing'] {
    const peerViews = this.peerView.map((v, id) => (id === this.id ? this.view : v));
    const same: ValidatorId[] = [];
    const other: ValidatorId[] = [];
    peerViews.forEach((v, id) => {
      if (v === this.view) same.push(id);
      else if (v >= 0) other.push(id);
    });
    return {
      behindSeqs: Math.max(0, this.peersHeight() - this.lastExecuted),
      viewAlone: !this.isQuorum(same) && this.vs.isWeakQuorum(other),
      peerViews,
    };
  }

  private noteHigherView(from: ValidatorId, view: number): void {
    if (view > this.view) this.higherView.set(from, Math.max(view, this.higherView.get(from) ?? 0));
  }

  // -------------------------------------------------------------------------------------------
  // Client requests and proposing

  private onRequest(r: ClientRequest): void {
    const shape = requestShapeProblem(r);
    if (shape !== null) return this.outbox.drop('client', shape);
    if (!this.state.isFresh(r)) {
      // Executed already: resend its result (to its session; a copy of a public reply).
      const session = sessionOf(r);
      const s = this.state.session(session);
      if (s !== undefined && s.requestSeq === r.requestSeq) this.replyAll(s.seq, [{ seq: s.seq, session, requestSeq: r.requestSeq, result: s.result }]);
      return;
    }
    if (this.pool.has(r)) return;
    if (this.pool.size + this.admitting >= this.cfg.pendingRequestsMax) return this.outbox.drop('client', 'pending request queue full');
    if (this.bugs.skipClientSignatures === true || this.knownRequests.has(r)) return this.pooled(r);
    // Verified before it is pooled: an honest primary never proposes a forged request, and an
    // honest backup never waits for one (and suspects its primary).
    this.admitting++;
    this.verifier.verifyThen([r], (bad) => {
      this.admitting--;
      if (bad.length > 0) return this.outbox.drop('client', `request ${r.clientId}#${r.requestSeq}: bad client signature`);
      this.knownRequests.add(r);
      if (!this.state.isFresh(r) || this.pool.has(r)) return;
      this.pooled(r);
    });
  }

  private pooled(r: ClientRequest): void {
    if (this.pool.size === 0) this.lastProgressTick = this.now;
    this.pool.add(r, this.now);
    this.maybePropose();
  }

  private inflight(): number {
    return this.nextSeq - 1 - this.lastExecuted;
  }

  private maybePropose(): void {
    if (this.mode !== 'normal' || this.primary() !== this.id) return;
    // A primary restarted in its own view may have proposed there before the crash and lost
    // the record (SafetyRules' reservation): it proposes nothing, and the view changes.
    if (this.safety.mutedAfterRestart(this.view, this.nextSeq)) return;
    for (;;) {
      if (this.inflight() >= this.cfg.inflightMax || this.nextSeq > this.high) return;
      const batch = this.pool.nextBatch(this.now, this.inflight() > 0, this.cfg, (r) => this.state.isFresh(r));
      if (batch === null) return;
      if (!this.propose(batch)) return;
    }
  }

  private propose(batch: readonly ClientRequest[]): boolean {
    const seq = this.nextSeq;
    const digest = this.crypto.blake3(encodeBatch(batch));
    if (!this.safety.canVote('pre-prepare', this.view, seq, digest)) {
      this.outbox.drop(this.id, `safety rules refuse a proposal for view ${this.view} seq ${seq}`);
      return false;
    }
    this.nextSeq++;
    const signed = this.safety.signPrePrepare(this.view, seq, digest, batch);
    const pp = this.verifier.add(signed.message);
    this.pool.markProposed(batch);
    const slot = this.slotFor(seq);
    slot.prePrepare = pp;
    this.equivocation.note(pp);
    this.lastProposal = { view: this.view, seq, digest: hex(digest), requests: batch.length };
    this.outbox.sendSigned(pp, signed.persist, undefined, signed.covered);
    this.checkPrepared(slot);
    return true;
  }

  private slotFor(seq: number): Slot {
    let s = this.slots.get(seq);
    if (s === undefined) {
      s = {
        seq,
        view: this.view,
        prePrepare: null,
        prepares: new Map(),
        commits: new Map(),
        prepareSent: null,
        commitSent: null,
        preparedCert: null,
        verifyingPrepared: false,
        checkingRequests: false,
        verifyingStable: false,
        committed: seq <= this.lastExecuted,
        executed: seq <= this.lastExecuted,
      };
      this.slots.set(seq, s);
    } else if (s.view !== this.view) {
      this.resetSlotForView(s);
    }
    return s;
  }

  private resetSlotForView(s: Slot): void {
    s.view = this.view;
    s.prePrepare = null;
    s.prepares = new Map();
    s.commits = new Map();
    s.prepareSent = null;
    s.commitSent = null;
    s.verifyingPrepared = false;
    s.checkingRequests = false;
    if (!s.executed) s.committed = false;
  }

  // -------------------------------------------------------------------------------------------
  // Normal case

  private acceptsNormal(m: { view: number; seq: number; from: ValidatorId }): boolean {
    if (m.view !== this.view) {
      this.noteHigherView(m.from, m.view);
      return false;
    }
    if (this.mode === 'view-change') return false;
    return this.inWindow(m.seq);
  }

  private onPrePrepare(pp: PrePrepare): void {
    if (!this.acceptsNormal(pp)) return;
    if (pp.from !== this.primary()) {
      return this.outbox.slash('InvalidProposal', pp.from, `pre-prepare for view ${pp.view} from a non-primary`);
    }
    if (pp.batch.length > this.cfg.batchSizeMax) {
      return this.outbox.slash('InvalidProposal', pp.from, `batch of ${pp.batch.length} > batchSizeMax ${this.cfg.batchSizeMax}`);
    }
    if (!bytesEqual(this.crypto.blake3(encodeBatch(pp.batch)), pp.digest)) {
      return this.outbox.slash('InvalidProposal', pp.from, `pre-prepare seq ${pp.seq}: digest does not match batch`);
    }
    if (!this.equivocation.note(pp)) return;
    const slot = this.slots.get(pp.seq);
    if (slot !== undefined && slot.view === this.view && (slot.prePrepare !== null || slot.checkingRequests)) return;
    this.checkRequests(pp, () => {
      const s = this.slotFor(pp.seq);
      if (s.prePrepare !== null) return;
      s.prePrepare = pp;
      this.sendPrepare(s);
      // Prepares that arrived while the requests were checked count now.
      this.checkPrepared(s);
    });
  }

  /**
   * Every client request in a proposal must carry a valid client signature before this replica
   * prepares it; the ones it verified already (pooled) cost a byte comparison. A bad one: the
   * primary invented or altered it (an honest primary verifies what it pools), so it is
   * slashed and the slot gets no prepare from us (the view changes).
   */
  private checkRequests(pp: PrePrepare, then: () => void): void {
    if (this.bugs.skipClientSignatures === true) return then();
    for (const r of pp.batch) if (!this.verifier.has(r) && this.knownRequests.has(r)) this.verifier.add(r);
    const slot = this.slotFor(pp.seq);
    slot.checkingRequests = true;
    this.verifier.verifyThen(pp.batch, (bad) => {
      // The slot may have moved to a later view (reset) while the job ran.
      if (slot.view === pp.view) slot.checkingRequests = false;
      if (bad.length > 0) {
        return this.outbox.slash('InvalidProposal', pp.from, `pre-prepare view ${pp.view} seq ${pp.seq}: ${bad.length} request(s) with a bad client signature`);
      }
      for (const r of pp.batch) this.knownRequests.add(r);
      // What acceptsNormal asked of it, again: the view, the mode or the window may have moved.
      if (pp.view !== this.view || this.mode === 'view-change' || !this.inWindow(pp.seq) || slot.view !== pp.view) return;
      then();
    });
  }

  private sendPrepare(slot: Slot): void {
    const pp = slot.prePrepare;
    if (pp === null || slot.prepareSent !== null || this.mode !== 'normal' || pp.from === this.id) return;
    if (!this.safety.canVote('prepare', pp.view, pp.seq, pp.digest)) {
      return this.outbox.drop(pp.from, `safety rules refuse a prepare for view ${pp.view} seq ${pp.seq}`);
    }
    const signed = this.safety.signPrepare(pp.view, pp.seq, pp.digest);
    const p = this.verifier.add(signed.message as Prepare);
    slot.prepareSent = p;
    slot.prepares.set(this.id, p);
    this.equivocation.note(p);
    this.outbox.sendSigned(p, signed.persist, undefined, signed.covered);
  }

  private onPrepare(p: Prepare): void {
    if (!this.acceptsNormal(p)) return;
    if (p.from === this.primary()) return this.outbox.drop(p.from, 'the primary does not prepare');
    if (!this.equivocation.note(p)) return;
    const slot = this.slotFor(p.seq);
    if (!slot.prepares.has(p.from)) slot.prepares.set(p.from, p);
    this.checkPrepared(slot);
  }

  private matching<T extends Vote>(votes: Map<ValidatorId, T>, digest: Digest): T[] {
    const out: T[] = [];
    for (const v of votes.values()) if (bytesEqual(v.digest, digest)) out.push(v);
    return out;
  }

  private checkPrepared(slot: Slot): void {
    const pp = slot.prePrepare;
    if (pp === null || slot.commitSent !== null || this.mode !== 'normal' || slot.view !== this.view) return;
    const prepares = this.matching(slot.prepares, pp.digest).filter((p) => p.from !== pp.from);
    const power = this.vs.stake(pp.from) + this.vs.power(prepares.map((p) => p.from));
    if (power < this.quorum()) return;
    const unverified: SignedMsg[] = [pp, ...prepares].filter((m) => !this.verifier.has(m));
    if (unverified.length > 0) {
      if (slot.verifyingPrepared) return;
      slot.verifyingPrepared = true;
      // The prepared certificate is transferable (view-change): verify it before committing to it.
      this.verifier.verifyThen(unverified, (bad) => {
        slot.verifyingPrepared = false;
        for (const b of bad) {
          if (b === slot.prePrepare) {
            this.outbox.slash('InvalidProposal', b.from, `bad signature on pre-prepare seq ${slot.seq}`);
            slot.prePrepare = null;
          } else if (b.kind === 'prepare') {
            this.outbox.slash('InvalidVote', b.from, `bad signature on prepare seq ${slot.seq}`);
            if (slot.prepares.get(b.from) === b) slot.prepares.delete(b.from);
          }
        }
        this.checkPrepared(slot);
      });
      return;
    }
    slot.preparedCert = { prePrepare: pp, prepares, commits: [] };
    if (!this.safety.canVote('commit', pp.view, pp.seq, pp.digest)) return;
    const signed = this.safety.signCommit(slot.preparedCert);
    const c = this.verifier.add(signed.message as Commit);
    slot.commitSent = c;
    slot.commits.set(this.id, c);
    this.equivocation.note(c);
    this.outbox.sendSigned(c, signed.persist);
    this.checkCommitted(slot);
  }

  private onCommit(c: Commit): void {
    if (!this.acceptsNormal(c)) return;
    if (!this.equivocation.note(c)) return;
    const slot = this.slotFor(c.seq);
    if (!slot.commits.has(c.from)) slot.commits.set(c.from, c);
    if (c.seq > this.liveSeq && !slot.executed && this.vs.isWeakQuorum(this.matching(slot.commits, c.digest).map((v) => v.from))) {
      // f+1 matching commits (so at least one honest validator prepared it) for a higher seq
      // than before in our view: the view is alive. If we cannot follow (no pre-prepare: cut off
      // from the primary, or behind), that is ours to fix by fetching, not a reason to give up
      // on the primary. Only a rise counts: commits retransmitted for a slot stuck behind a hole
      // are no progress.
      this.liveTick = this.now;
      this.liveSeq = c.seq;
    }
    this.checkCommitted(slot);
  }

  private checkCommitted(slot: Slot): void {
    const cert = slot.preparedCert;
    if (slot.committed || slot.commitSent === null || cert === null || cert.prePrepare.view !== this.view) return;
    const commits = this.matching(slot.commits, cert.prePrepare.digest);
    if (this.vs.power(commits.map((c) => c.from)) < this.quorum()) return;
    slot.committed = true;
    this.executeReady();
  }

  // -------------------------------------------------------------------------------------------
  // Execution, replies, checkpoints

  private executeReady(): void {
    for (;;) {
      const slot = this.slots.get(this.lastExecuted + 1);
      if (slot === undefined || !slot.committed || slot.executed || slot.preparedCert === null) break;
      const pp = slot.preparedCert.prePrepare;
      const commits = this.matching(slot.commits, pp.digest);
      slot.executed = true;
      this.applyBatch({ prePrepare: pp, commits }, true);
      this.pool.batchExecuted();
    }
    this.maybePropose();
  }

  /** Execute the next batch (its seq must be lastExecuted + 1) and emit everything that follows. */
  private applyBatch(cert: CertifiedBatch, reply: boolean): void {
    const pp = cert.prePrepare;
    if (pp.seq !== this.lastExecuted + 1) throw new Error(`applyBatch: seq ${pp.seq} after ${this.lastExecuted}`);
    const results = this.state.execute(pp.seq, pp.batch);
    this.lastExecuted = pp.seq;
    if (this.nextSeq <= pp.seq) this.nextSeq = pp.seq + 1;
    this.lastProgressTick = this.now;
    this.vcAttempts = 0;
    if (this.mode === 'normal') this.myTimeout = null; // progress: stop reporting a timeout
    this.log.set(pp.seq, cert);
    this.pool.executed(pp.batch);
    const batch = { seq: pp.seq, view: pp.view, digest: pp.digest, requests: pp.batch, results, cert };
    this.outbox.commit(batch);
    this.outbox.persist({ kind: 'committed', batch });
    if (reply) {
      const due: ReplyBody[] = [];
      pp.batch.forEach((r, i) => {
        const session = sessionOf(r);
        const s = this.state.session(session);
        if (s !== undefined && s.requestSeq === r.requestSeq) due.push({ seq: s.seq, session, requestSeq: r.requestSeq, result: results[i]! });
      });
      this.replyAll(pp.seq, due);
    }
    // Commit certificates serve catch-up: verify them now, off the critical path.
    const unverified = cert.commits.filter((c) => !this.verifier.has(c));
    if (unverified.length > 0) {
      this.verifier.verifyThen(unverified, (bad) => {
        for (const b of bad) this.outbox.slash('InvalidVote', b.from, `bad signature on commit seq ${pp.seq}`);
        if (bad.length > 0) {
          const kept = cert.commits.filter((c) => !bad.includes(c));
          if (this.log.has(pp.seq)) this.log.set(pp.seq, { prePrepare: pp, commits: kept });
        }
      }, 'background');
    }
    if (pp.seq % this.cfg.checkpointInterval === 0) this.takeCheckpoint(pp.seq);
  }

  /** One signature over the Merkle root of all these replies; each reply carries its proof. */
  private replyAll(batchSeq: number, due: readonly ReplyBody[]): void {
    for (const m of signedReplies(this.crypto, this.view, batchSeq, due, this.id, (v, s, root) => this.safety.signReplyRoot(v, s, root))) {
      this.outbox.reply(m.session, m);
    }
  }

  private takeCheckpoint(seq: number): void {
    const snapshot = this.state.snapshot();
    const digest = this.crypto.blake3(snapshot);
    const message = this.verifier.add(this.safety.signCheckpoint(seq, digest));
    this.ownCheckpoints.set(seq, { digest, snapshot, message });
    this.outbox.sendSigned(message, []);
    this.addCheckpointVote(message);
  }

  private onCheckpoint(c: Checkpoint): void {
    if (c.seq <= this.low || c.seq > this.high + this.cfg.watermarkWindow) return;
    if (c.seq % this.cfg.checkpointInterval !== 0) return this.outbox.drop(c.from, `checkpoint at seq ${c.seq} off the interval`);
    if (!this.equivocation.note(c)) return;
    this.addCheckpointVote(c);
  }

  private addCheckpointVote(c: Checkpoint): void {
    let votes = this.checkpointVotes.get(c.seq);
    if (votes === undefined) this.checkpointVotes.set(c.seq, (votes = new Map()));
    if (!votes.has(c.from)) votes.set(c.from, c);
    this.checkStable(c.seq);
  }

  private checkStable(seq: number): void {
    if (seq <= this.low) return;
    const votes = this.checkpointVotes.get(seq);
    if (votes === undefined) return;
    const byDigest = new Map<string, Checkpoint[]>();
    for (const c of votes.values()) {
      const k = hex(c.stateDigest);
      byDigest.set(k, [...(byDigest.get(k) ?? []), c]);
    }
    for (const group of byDigest.values()) {
      if (this.vs.power(group.map((c) => c.from)) < this.quorum()) continue;
      const unverified = group.filter((c) => !this.verifier.has(c));
      if (unverified.length > 0) {
        // A checkpoint proof is transferable (view-change, state transfer): verify first.
        this.verifier.verifyThen(unverified, (bad) => {
          for (const b of bad) {
            this.outbox.slash('InvalidVote', b.from, `bad signature on checkpoint seq ${seq}`);
            if (votes.get(b.from) === b) votes.delete(b.from);
          }
          this.checkStable(seq);
        });
        return;
      }
      const mine = this.ownCheckpoints.get(seq);
      if (mine !== undefined && bytesEqual(mine.digest, group[0]!.stateDigest)) {
        this.makeStable({ seq, stateDigest: mine.digest, snapshot: mine.snapshot, proof: group });
      } else if (seq > this.lastExecuted) {
        // A quorum is ahead of us: fetch the checkpoint and what follows.
        this.lagTarget = Math.max(this.lagTarget, seq);
        this.fetch();
      }
      return;
    }
  }

  private makeStable(cp: StableCheckpoint): void {
    if (cp.seq <= this.stable.seq) return;
    this.stable = cp;
    this.outbox.persist({ kind: 'checkpoint', checkpoint: cp });
    this.truncate(cp.seq);
    this.outbox.event({ kind: 'checkpoint-stable', seq: cp.seq });
    this.maybePropose();
  }

  private truncate(seq: number): void {
    for (const s of this.slots.keys()) if (s <= seq) this.slots.delete(s);
    for (const s of this.log.keys()) if (s <= seq) this.log.delete(s);
    for (const s of this.checkpointVotes.keys()) if (s <= seq) this.checkpointVotes.delete(s);
    for (const s of this.ownCheckpoints.keys()) if (s <= seq) this.ownCheckpoints.delete(s);
    this.equivocation.prune(seq);
    this.safety.prune(seq);
  }

  // -------------------------------------------------------------------------------------------
  // Ticks: timeouts, retransmission, catch-up

  private onTick(): void {
    this.now++;
    const timeout = this.timeoutTicks();
    if (this.mode === 'normal') {
      const busy = this.pool.size > 0 || this.nextSeq - 1 > this.lastExecuted || this.openSlotAbove();
      if (busy && this.now - Math.max(this.lastProgressTick, this.liveTick) >= timeout) this.onTimer();
      else if (this.primary() !== this.id) this.checkFairness(timeout);
    } else if (this.mode === 'view-change') {
      // As in PBFT: the timer for giving up on view v runs only once a quorum asked for v.
      if (this.vcQuorumTick >= 0 && this.now - this.vcQuorumTick >= timeout) this.onTimer();
    }
    if (this.now - this.lastRetransmitTick >= this.cfg.retransmitTicks) {
      this.lastRetransmitTick = this.now;
      this.retransmit();
    }
    const behindView = this.vs.isWeakQuorum([...this.higherView].filter(([, v]) => v > this.view).map(([id]) => id));
    const gap =
      this.lastExecuted < this.lagTarget ||
      (this.mode === 'normal' && this.lastExecuted < this.liveSeq) ||
      // Peers holding f+1 of the stake show heights we have not reached, perhaps beyond our high
      // watermark where their messages cannot be taken (a replica that restarted far behind, or
      // whose links came up after the checkpoint votes that would have told it): fetch.
      (this.mode === 'normal' && this.lastExecuted < this.peersHeight()) ||
      [...this.slots.values()].some((s) => s.committed && !s.executed && s.seq > this.lastExecuted + 1);
    // Executed up to the high watermark but the checkpoint there never became stable here (its
    // votes were lost, and peers that saw it stable no longer resend theirs): nothing above the
    // watermark can be accepted until a peer's proof arrives, so ask for it.
    const stuckAtHigh = this.lastExecuted >= this.high && this.stable.seq < this.lastExecuted;
    if (
      (this.mode === 'catching-up' || behindView || ((gap || stuckAtHigh) && this.now - this.lastProgressTick >= this.cfg.fetchTicks)) &&
      this.now - this.lastFetchTick >= this.cfg.fetchTicks
    ) {
      this.fetch(stuckAtHigh ? this.stable.seq + 1 : this.lastExecuted + 1);
    }
    this.maybePropose();
  }

  /**
   * Censorship: the timer above restarts on any progress, so a primary that keeps committing
   * other requests could starve one forever. A request the primary passes over for long enough
   * (RequestPool.overdue: time and batches, scaled to how many were ahead of it) is relayed to
   * the primary once, then times the view out like an idle primary does. One backup alone
   * changes nothing (a timeout certificate needs a quorum).
   */
  private checkFairness(timeout: number): void {
    const late = this.pool.overdue(this.now, timeout, this.cfg);
    if (late === null) return;
    if (late.relay) this.outbox.send(late.request, this.primary());
    else this.onTimer();
  }

  /**
   * A slot above our height that holds a proposal of this view or a prepared certificate is work
   * in flight even when no request is pooled and nextSeq says nothing (a replica that restarted
   * restores prepared certificates but not nextSeq). Without this, when every validator restarts
   * after a slot committed at only one of them, the others are muted in the view by their
   * reservations, nobody counts the slot as pending, and it stays open until a client resends.
   */
  private openSlotAbove(): boolean {
    for (const s of this.slots.values()) {
      if (s.executed || s.seq <= this.lastExecuted) continue;
      if (s.preparedCert !== null || (s.prePrepare !== null && s.prePrepare.view === this.view)) return true;
    }
    return false;
  }

  private retransmit(): void {
    if (this.myTimeout !== null && this.myTimeout.view === this.view) this.outbox.resend(this.myTimeout);
    if (this.mode === 'view-change') {
      if (this.justification !== null) this.outbox.resend(this.justification);
      if (this.myViewChange !== null) this.outbox.resend(this.myViewChange);
      return;
    }
    if (this.mode !== 'normal') return;
    for (const s of this.slots.values()) {
      if (s.executed || s.view !== this.view) continue;
      if (s.prePrepare !== null && s.prePrepare.from === this.id) this.outbox.resend(s.prePrepare);
      if (s.prepareSent !== null) this.outbox.resend(s.prepareSent);
      if (s.commitSent !== null) this.outbox.resend(s.commitSent);
    }
    for (const c of this.ownCheckpoints.values()) if (c.message.seq > this.low) this.outbox.resend(c.message);
  }

  /** Asks the next peer for its stable checkpoint (when `nextSeq` is at or below it) and the
   *  certified batches from `nextSeq` on. */
  private fetch(nextSeq = this.lastExecuted + 1): void {
    this.lastFetchTick = this.now;
    let peer = this.fetchPeer;
    if (peer === this.id) peer = (peer + 1) % this.vs.size;
    this.fetchPeer = (peer + 1) % this.vs.size;
    if (peer === this.id) return; // a one-validator set has nobody to ask
    const m: Fetch = { kind: 'fetch', nextSeq, from: this.id };
    this.outbox.send(m, peer);
  }

  private onFetch(f: Fetch): void {
    let checkpoint: StableCheckpoint | null = null;
    let start = f.nextSeq;
    if (f.nextSeq <= this.stable.seq) {
      checkpoint = this.stable.seq > 0 ? this.stable : null;
      start = this.stable.seq + 1;
    }
    const batches: CertifiedBatch[] = [];
    const unverified: SignedMsg[] = [];
    for (let s = start; s <= this.lastExecuted && batches.length < this.cfg.fetchBatchesMax; s++) {
      const b = this.log.get(s);
      if (b === undefined) break;
      // Only certificates that prove themselves: a verified pre-prepare and a verified quorum
      // of commits. One short certificate (a lazily counted commit that failed verification)
      // must not make the peer reject the checkpoint and batches before it.
      const commits = b.commits.filter((c) => this.verifier.has(c));
      if (!this.verifier.has(b.prePrepare) || !this.isQuorum(new Set(commits.map((c) => c.from)))) {
        // Restored from storage or still under background verification: verify now, serve later.
        for (const m of [b.prePrepare, ...b.commits]) if (!this.verifier.has(m)) unverified.push(m);
        break;
      }
      batches.push(commits.length === b.commits.length ? b : { prePrepare: b.prePrepare, commits });
    }
    if (unverified.length > 0 && !this.verifyingLog) {
      this.verifyingLog = true;
      this.verifier.verifyThen(unverified, () => (this.verifyingLog = false), 'background');
    }
    const newView = this.view > 0 && this.lastNewView?.view === this.view ? this.lastNewView : null;
    const m: StateTransfer = { kind: 'state', checkpoint, batches, newView, from: this.id };
    this.outbox.resend(m, f.from);
  }

  // -------------------------------------------------------------------------------------------
  // Certificate validation (structure and quorum; signatures are checked by verifyThen)

  private validPreparedCert(c: PreparedCert, below: number, low: number): string | null {
    const pp = c.prePrepare;
    if (!this.vs.has(pp.from) || pp.from !== this.primary(pp.view)) return 'prepared certificate: pre-prepare not from its primary';
    if (pp.view >= below) return 'prepared certificate from a view not below the new view';
    if (pp.seq <= low || pp.seq > low + this.cfg.watermarkWindow) return `prepared certificate seq ${pp.seq} outside (${low}, ${low + this.cfg.watermarkWindow}]`;
    if (!bytesEqual(this.crypto.blake3(encodeBatch(pp.batch)), pp.digest)) return 'prepared certificate: digest does not match batch';
    if ((c.prepares.length > 0) === (c.commits.length > 0)) return 'prepared certificate needs prepares or commits (one kind)';
    const ids = distinctSigners<Vote>(
      this.vs,
      c.prepares.length > 0 ? c.prepares : c.commits,
      (v) =>
        v.kind === 'prepare' && v.from === pp.from
          ? 'prepared certificate: a prepare from the primary'
          : sameCoordinates(v, pp)
            ? null
            : 'prepared certificate: a vote does not match',
      () => 'prepared certificate: bad or duplicate signer',
    );
    if (typeof ids === 'string') return ids;
    const power = this.vs.power(ids) + (c.prepares.length > 0 ? this.vs.stake(pp.from) : 0);
    if (power < this.quorum()) return 'prepared certificate without a quorum';
    return null;
  }

  private validCheckpointProof(seq: number, digest: Digest, proof: readonly Checkpoint[]): string | null {
    if (seq === 0) return bytesEqual(digest, this.genesisDigest) ? null : 'stable seq 0 with a non-genesis digest';
    if (seq % this.cfg.checkpointInterval !== 0) return `stable seq ${seq} off the checkpoint interval`;
    const ids = distinctSigners(
      this.vs,
      proof,
      (c) => (c.seq === seq && bytesEqual(c.stateDigest, digest) ? null : 'checkpoint proof does not match'),
      () => 'checkpoint proof: bad or duplicate signer',
    );
    if (typeof ids === 'string') return ids;
    return this.isQuorum(ids) ? null : 'checkpoint proof without a quorum';
  }

  private validViewChange(vc: ViewChange): string | null {
    if (!this.vs.has(vc.from)) return 'view-change from unknown validator';
    const cp = this.validCheckpointProof(vc.stableSeq, vc.stableDigest, vc.checkpointProof);
    if (cp !== null) return cp;
    const seqs = new Set<number>();
    for (const c of vc.prepared) {
      const err = this.validPreparedCert(c, vc.newView, vc.stableSeq);
      if (err !== null) return err;
      if (seqs.has(c.prePrepare.seq)) return `two prepared certificates for seq ${c.prePrepare.seq}`;
      seqs.add(c.prePrepare.seq);
    }
    return null;
  }

  private nestedSigned(vc: ViewChange): SignedMsg[] {
    const out: SignedMsg[] = [vc, ...vc.checkpointProof];
    for (const c of vc.prepared) out.push(c.prePrepare, ...c.prepares, ...c.commits);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // View change

  /**
   * Leave for `view` (only with the timeout certificate for view - 1 that justifies it, except
   * after a restart that lost it, or with the planted bug).
   */
  private startViewChange(view: number, justification: TimeoutCert | null): void {
    if (view < this.view || (view === this.view && this.mode === 'view-change')) return;
    // Consecutive view changes without execution progress double the timeout (reset in applyBatch).
    this.vcAttempts++;
    this.view = view;
    this.mode = 'view-change';
    this.vcQuorumTick = -1;
    this.myViewChange = null;
    // Relayed under our id: a container's `from` must be the link it arrives on (crash-heavy seed
    // 20675: peers dropped certificates relayed with their former's id and two views never met).
    if (justification !== null && justification.view === view - 1) this.justification = { ...justification, from: this.id };
    else if (this.justification !== null && this.justification.view !== view - 1) this.justification = null;
    this.dropTimeoutsBelow(view);
    // The certificate first: a peer still in a lower view follows it, then takes our view-change.
    if (this.justification !== null) this.outbox.resend(this.justification);
    this.outbox.event({ kind: 'view-change-started', view });
    // A view-change is transferable: every signature in it is verified first (commit
    // certificates restored after a restart, or still under lazy background verification).
    const unverified = this.certificatesFor(view, false)
      .flatMap((c) => [c.prePrepare, ...c.prepares, ...c.commits])
      .filter((m) => !this.verifier.has(m));
    if (unverified.length === 0) return this.sendViewChange(view);
    this.verifier.verifyThen(unverified, (bad) => {
      for (const b of bad) this.outbox.slash('InvalidVote', b.from, `bad signature on ${b.kind} found before a view-change`);
      if (this.mode === 'view-change' && this.view === view && this.myViewChange === null) this.sendViewChange(view);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Timeouts and timeout certificates (the pacemaker)

  private onTimer(): void {
    if (this.bugs.viewChangeAlone === true) return this.startViewChange(this.view + 1, null);
    this.timeOut();
  }

  /** Give up waiting in the current view: say so, signed, and keep voting in it. */
  private timeOut(): void {
    if (this.myTimeout !== null && this.myTimeout.view === this.view) return;
    const t = this.verifier.add(this.safety.signTimeout(this.view));
    this.myTimeout = t;
    this.outbox.event({ kind: 'timed-out', view: t.view });
    this.outbox.resend(t);
    this.storeTimeout(t);
  }

  private onTimeoutMessage(t: Timeout): void {
    if (t.view < this.view) return this.helpBehind(t.from, t.view);
    if (this.timeouts.get(t.view)?.has(t.from) === true) return;
    // One timeout per validator is kept (its highest): a lower one than we hold is stale.
    for (const [v, byFrom] of this.timeouts) if (v > t.view && byFrom.has(t.from)) return;
    this.verifier.verifyThen([t], (bad) => {
      if (bad.length > 0) return this.outbox.slash('InvalidVote', t.from, `bad signature on timeout for view ${t.view}`);
      if (t.view >= this.view) this.storeTimeout(t);
    });
  }

  private storeTimeout(t: Timeout): void {
    for (const [v, byFrom] of this.timeouts) {
      if (v < t.view && byFrom.delete(t.from) && byFrom.size === 0) this.timeouts.delete(v);
      if (v > t.view && byFrom.has(t.from)) return;
    }
    let byFrom = this.timeouts.get(t.view);
    if (byFrom === undefined) this.timeouts.set(t.view, (byFrom = new Map()));
    byFrom.set(t.from, t);
    // f+1 others gave up on our view (so at least one honest validator): so do we, as PBFT's
    // join rule does for view-changes (otherwise an idle replica could hold back a needed change).
    if (t.view === this.view && this.myTimeout?.view !== this.view) {
      const others = [...byFrom.keys()].filter((id) => id !== this.id);
      if (this.vs.isWeakQuorum(others)) this.timeOut();
    }
    if (this.isQuorum(byFrom.keys())) {
      const timeouts = [...byFrom.values()].sort((a, b) => a.from - b.from);
      this.onTimeoutCert({ kind: 'timeout-cert', view: t.view, timeouts, from: this.id });
    }
  }

  private validTimeoutCert(tc: TimeoutCert): string | null {
    const ids = distinctSigners(
      this.vs,
      tc.timeouts,
      (t) => (t.view === tc.view ? null : `a timeout for view ${t.view} in a certificate for view ${tc.view}`),
      () => 'bad or duplicate signer',
    );
    if (typeof ids === 'string') return ids;
    return this.isQuorum(ids) ? null : 'timeouts do not form a quorum';
  }

  private onTimeoutCertMessage(tc: TimeoutCert): void {
    if (tc.view < this.view) return;
    if (this.justification !== null && this.justification.view >= tc.view) return;
    const err = this.validTimeoutCert(tc);
    if (err !== null) return this.outbox.drop(tc.from, `timeout certificate for view ${tc.view}: ${err}`);
    this.verifier.verifyThen(tc.timeouts, (bad) => {
      if (bad.length > 0) return this.outbox.drop(tc.from, `timeout certificate for view ${tc.view} carries ${bad.length} bad signature(s)`);
      this.onTimeoutCert(tc);
    });
  }

  /** A verified certificate that a quorum gave up on `tc.view`: move to the next view. */
  private onTimeoutCert(tc: TimeoutCert): void {
    if (tc.view < this.view) return;
    this.startViewChange(tc.view + 1, tc);
  }

  private dropTimeoutsBelow(view: number): void {
    for (const v of this.timeouts.keys()) if (v < view) this.timeouts.delete(v);
    if (this.myTimeout !== null && this.myTimeout.view < view) this.myTimeout = null;
  }

  /**
   * A peer reports a timeout (or a view-change) for a view we already left: hand it what lets
   * it rejoin (at most once per retransmit period): the new-view of our view, or the timeout
   * certificate we left on.
   */
  private helpBehind(peer: ValidatorId, view: number): void {
    if (this.now - (this.helpedAt.get(peer) ?? -Infinity) < this.cfg.retransmitTicks) return;
    this.helpedAt.set(peer, this.now);
    if (this.lastNewView !== null && this.lastNewView.view > view) {
      this.outbox.resend({ kind: 'state', checkpoint: null, batches: [], newView: this.lastNewView, from: this.id }, peer);
    }
    if (this.mode === 'view-change' && this.justification !== null && this.justification.view >= view) this.outbox.resend(this.justification, peer);
  }

  /**
   * Every seq above the stable checkpoint we can vouch for: the highest prepared certificate we
   * hold or, for a batch executed without seeing its prepares (state transfer, restart), its
   * commit certificate. Leaving one out could let the new view reuse the seq. Certificates from
   * views >= the new one (learned from peers that are ahead) are left out: a quorum already left
   * `view` behind, so nothing can commit there. With `verifiedOnly`, commit certificates count
   * only their verified signatures and are dropped below a quorum.
   */
  private certificatesFor(view: number, verifiedOnly = true): PreparedCert[] {
    const bySeq = new Map<number, PreparedCert>();
    for (const s of this.slots.values()) {
      if (s.seq > this.stable.seq && s.preparedCert !== null && s.preparedCert.prePrepare.view < view) bySeq.set(s.seq, s.preparedCert);
    }
    for (const [seq, cert] of this.log) {
      const have = bySeq.get(seq);
      if (seq <= this.stable.seq || seq > this.high || cert.prePrepare.view >= view) continue;
      if (have !== undefined && have.prePrepare.view >= cert.prePrepare.view) continue;
      if (!verifiedOnly) {
        bySeq.set(seq, { prePrepare: cert.prePrepare, prepares: [], commits: cert.commits });
        continue;
      }
      const commits = cert.commits.filter((c) => this.verifier.has(c));
      if (!this.verifier.has(cert.prePrepare) || this.vs.power(commits.map((c) => c.from)) < this.quorum()) continue;
      bySeq.set(seq, { prePrepare: cert.prePrepare, prepares: [], commits });
    }
    return [...bySeq.keys()].sort((a, b) => a - b).map((seq) => bySeq.get(seq)!);
  }

  private sendViewChange(view: number): void {
    const signed = this.safety.signViewChange(
      {
        kind: 'view-change',
        newView: view,
        stableSeq: this.stable.seq,
        stableDigest: this.stable.stateDigest,
        checkpointProof: this.stable.proof,
        prepared: this.certificatesFor(view),
      },
      this.justification,
    );
    const vc = this.verifier.add(signed.message);
    this.myViewChange = vc;
    this.ownViewChanges.set(view, vc);
    for (const v of this.ownViewChanges.keys()) if (v < view - OWN_VIEW_CHANGES_KEPT) this.ownViewChanges.delete(v);
    this.outbox.sendSigned(vc, signed.persist);
    this.storeViewChange(vc);
    this.tryNewView(view);
  }

  private onViewChangeMessage(vc: ViewChange): void {
    const err = this.validViewChange(vc);
    if (err !== null) return this.outbox.slash('InvalidVote', vc.from, `view-change: ${err}`);
    if (vc.newView < this.view || (vc.newView === this.view && this.mode === 'normal')) {
      // At most one answer per peer per retransmit period: two replicas both past a view must
      // not bounce their old view-changes back and forth (duplicated frames would multiply them).
      if (this.now - (this.helpedAt.get(vc.from) ?? -Infinity) < this.cfg.retransmitTicks) return;
      this.helpedAt.set(vc.from, this.now);
      // The sender is stuck changing to a view we already left: hand over the newest new-view we
      // have (it may be older than our view if we are changing again) so it can rejoin, and our
      // own view-change for its view (it may need it for a quorum: we stopped resending it).
      if (this.lastNewView !== null && this.lastNewView.view >= vc.newView) {
        this.outbox.resend({ kind: 'state', checkpoint: null, batches: [], newView: this.lastNewView, from: this.id }, vc.from);
      }
      const mine = this.ownViewChanges.get(vc.newView);
      if (mine !== undefined) this.outbox.resend(mine, vc.from);
      return;
    }
    this.verifier.verifyThen(this.nestedSigned(vc), (bad) => {
      if (bad.length > 0) return this.outbox.slash('InvalidVote', vc.from, `view-change carries ${bad.length} bad signature(s)`);
      this.storeViewChange(vc);
      // No joining on view-changes alone: their sender also sends the timeout certificate that
      // justifies them, and that is what we follow (onTimeoutCert).
      if (this.bugs.viewChangeAlone === true) this.joinRule();
      this.tryNewView(vc.newView);
    });
  }

  /**
   * Statements that arrive inside a certificate (a view-change's prepared certificates and
   * checkpoint proof, a state transfer's certified batches) are as signed as direct ones once
   * their signatures verified: check them for equivocation too. A primary that sent one
   * pre-prepare to some backups and another to the rest is caught here by the next primary,
   * which sees only the second one directly.
   */
  private noteNested(msgs: readonly (PrePrepare | Vote | Checkpoint)[]): void {
    for (const m of msgs) this.equivocation.note(m);
  }

  private storeViewChange(vc: ViewChange): void {
    this.noteNested(vc.checkpointProof);
    for (const c of vc.prepared) this.noteNested([c.prePrepare, ...c.prepares]);
    // Bound memory against a peer announcing ever higher views: keep one view-change per peer
    // (its highest) above our view.
    for (const [v, byFrom] of this.viewChanges) {
      const prior = byFrom.get(vc.from);
      if (prior === undefined || v === vc.newView || v <= this.view || vc.newView <= this.view) continue;
      if (v > vc.newView) return;
      byFrom.delete(vc.from);
      if (byFrom.size === 0) this.viewChanges.delete(v);
    }
    let m = this.viewChanges.get(vc.newView);
    if (m === undefined) this.viewChanges.set(vc.newView, (m = new Map()));
    if (!m.has(vc.from)) m.set(vc.from, vc);
    if (vc.newView === this.view && this.mode === 'view-change' && this.vcQuorumTick < 0 && this.isQuorum(m.keys())) {
      this.vcQuorumTick = this.now;
    }
  }

  /** Planted bug only (the code before issue 14): f+1 view-changes for higher views, join the smallest. */
  private joinRule(): void {
    const senders = new Set<ValidatorId>();
    let smallest = Infinity;
    for (const [v, m] of this.viewChanges) {
      if (v <= this.view) continue;
      for (const id of m.keys()) if (id !== this.id) senders.add(id);
      smallest = Math.min(smallest, v);
    }
    if (smallest !== Infinity && this.vs.isWeakQuorum(senders)) this.startViewChange(smallest, null);
  }

  /** The new-view's re-proposals, computed from a quorum of view-changes (primary and backups alike). */
  private computeProposals(vcs: readonly ViewChange[]): { minS: number; proposals: { seq: number; batch: readonly ClientRequest[]; digest: Digest }[] } {
    let minS = 0;
    let maxS = 0;
    for (const vc of vcs) minS = Math.max(minS, vc.stableSeq);
    maxS = minS;
    const best = new Map<number, PrePrepare>();
    for (const vc of vcs) {
      for (const c of vc.prepared) {
        const pp = c.prePrepare;
        if (pp.seq <= minS) continue;
        maxS = Math.max(maxS, pp.seq);
        if (this.bugs.skipNewViewCertCheck === true) continue;
        const cur = best.get(pp.seq);
        if (cur === undefined || pp.view > cur.view) best.set(pp.seq, pp);
      }
    }
    const proposals: { seq: number; batch: readonly ClientRequest[]; digest: Digest }[] = [];
    for (let s = minS + 1; s <= maxS; s++) {
      const pp = best.get(s);
      if (pp !== undefined) proposals.push({ seq: s, batch: pp.batch, digest: pp.digest });
      else proposals.push({ seq: s, batch: EMPTY_BATCH, digest: this.crypto.blake3(encodeBatch(EMPTY_BATCH)) });
    }
    return { minS, proposals };
  }

  private tryNewView(view: number): void {
    if (this.primary(view) !== this.id || this.mode !== 'view-change' || this.view !== view) return;
    const all = this.viewChanges.get(view);
    if (all === undefined) return;
    const chosen: ViewChange[] = [];
    let power = 0;
    for (const id of [...all.keys()].sort((a, b) => a - b)) {
      if (power >= this.quorum()) break;
      chosen.push(all.get(id)!);
      power += this.vs.stake(id);
    }
    if (power < this.quorum()) return;
    const { proposals } = this.computeProposals(chosen);
    if (!proposals.every((p) => this.safety.canVote('pre-prepare', view, p.seq, p.digest))) {
      // Only after a restart that lost a different new-view of ours: let the view time out.
      return this.outbox.drop(this.id, `safety rules refuse the re-proposals for view ${view}`);
    }
    const persist: PersistRecord[] = [];
    const prePrepares = proposals.map((p) => {
      const signed = this.safety.signPrePrepare(view, p.seq, p.digest, p.batch);
      persist.push(...signed.persist);
      return this.verifier.add(signed.message);
    });
    const nv = this.verifier.add(this.safety.signNewView({ kind: 'new-view', view, viewChanges: chosen, prePrepares }));
    this.outbox.sendSigned(nv, persist);
    this.installNewView(nv);
  }

  private onNewViewMessage(nv: NewView): void {
    if (nv.view < this.view || (nv.view === this.view && this.mode === 'normal')) return;
    const err = this.validNewView(nv);
    if (err !== null) return this.outbox.slash('InvalidProposal', nv.from, `new-view ${nv.view}: ${err}`);
    const nested: SignedMsg[] = [nv, ...nv.prePrepares];
    for (const vc of nv.viewChanges) nested.push(...this.nestedSigned(vc));
    this.verifier.verifyThen(nested, (bad) => {
      if (bad.length > 0) return this.outbox.slash('InvalidProposal', nv.from, `new-view carries ${bad.length} bad signature(s)`);
      if (nv.view < this.view || (nv.view === this.view && this.mode === 'normal')) return;
      this.installNewView(nv);
    });
  }

  private validNewView(nv: NewView): string | null {
    if (nv.from !== this.primary(nv.view)) return 'not from the primary of that view';
    const ids = new Set<ValidatorId>();
    for (const vc of nv.viewChanges) {
      if (vc.newView !== nv.view || ids.has(vc.from)) return 'view-change for another view or duplicate signer';
      const err = this.validViewChange(vc);
      if (err !== null) return err;
      ids.add(vc.from);
    }
    if (!this.isQuorum(ids)) return 'view-changes do not form a quorum';
    for (const pp of nv.prePrepares) {
      if (pp.view !== nv.view || pp.from !== nv.from) return 'a re-proposal is not for this view by this primary';
      if (!bytesEqual(this.crypto.blake3(encodeBatch(pp.batch)), pp.digest)) return 'a re-proposal digest does not match its batch';
    }
    if (this.bugs.skipNewViewCertCheck === true) return null;
    const { proposals } = this.computeProposals(nv.viewChanges);
    if (proposals.length !== nv.prePrepares.length) return `expected ${proposals.length} re-proposals, got ${nv.prePrepares.length}`;
    for (let i = 0; i < proposals.length; i++) {
      const want = proposals[i]!;
      const got = nv.prePrepares[i]!;
      if (got.seq !== want.seq || !bytesEqual(got.digest, want.digest)) return `re-proposal for seq ${want.seq} does not match the prepared certificates`;
    }
    return null;
  }

  private installNewView(nv: NewView): void {
    const { minS } = this.computeProposals(nv.viewChanges);
    this.view = nv.view;
    this.mode = 'normal';
    this.lastNewView = nv;
    this.myViewChange = null;
    this.justification = null;
    this.dropTimeoutsBelow(nv.view);
    this.liveTick = -Infinity;
    this.lastProgressTick = this.now;
    for (const v of this.viewChanges.keys()) if (v <= nv.view) this.viewChanges.delete(v);
    for (const [id, v] of this.higherView) if (v <= nv.view) this.higherView.delete(id);
    for (const s of this.slots.values()) if (s.view !== this.view) this.resetSlotForView(s);
    if (this.normalView < nv.view && this.primary(this.normalView) !== this.id) {
      this.outbox.slash('Inactivity', this.primary(this.normalView), `primary of view ${this.normalView} replaced by view ${nv.view}`);
    }
    this.normalView = nv.view;
    this.outbox.event({ kind: 'new-view', view: nv.view, primary: nv.from });
    let maxS = Math.max(minS, this.lastExecuted);
    for (const pp of nv.prePrepares) {
      maxS = Math.max(maxS, pp.seq);
      if (pp.seq <= this.low) continue;
      this.verifier.add(pp);
      this.equivocation.note(pp);
      const slot = this.slotFor(pp.seq);
      slot.prePrepare = pp;
    }
    if (this.primary() === this.id) this.nextSeq = maxS + 1;
    // Requests proposed in the old view but not re-proposed go back into the queue.
    this.pool.newView(nv.prePrepares.map((pp) => pp.batch), this.now);
    if (minS > this.lastExecuted) {
      this.lagTarget = Math.max(this.lagTarget, minS);
      this.mode = 'catching-up';
      this.fetch();
      return;
    }
    this.resumeVoting();
  }

  /** Vote on everything accepted in this view (after a new view or after catching up). */
  private resumeVoting(): void {
    for (const s of [...this.slots.values()].sort((a, b) => a.seq - b.seq)) {
      if (s.view !== this.view || s.prePrepare === null) continue;
      this.sendPrepare(s);
      this.checkPrepared(s);
    }
    this.executeReady();
  }

  // -------------------------------------------------------------------------------------------
  // State transfer

  private onStateMessage(st: StateTransfer): void {
    const nested: SignedMsg[] = [];
    if (st.checkpoint !== null) {
      const err = this.validCheckpointProof(st.checkpoint.seq, st.checkpoint.stateDigest, st.checkpoint.proof);
      if (err !== null) return this.outbox.drop(st.from, `state transfer: ${err}`);
      nested.push(...st.checkpoint.proof);
    }
    let usable = st.batches.length;
    for (let i = 0; i < st.batches.length; i++) {
      const b = st.batches[i]!;
      const err = this.validCertifiedBatch(b);
      if (err !== null) {
        // Keep the checkpoint and the batches before it; the rest can come from another peer.
        this.outbox.drop(st.from, `state transfer seq ${b.prePrepare.seq}: ${err}`);
        usable = i;
        break;
      }
      nested.push(b.prePrepare, ...b.commits);
    }
    if (usable < st.batches.length) st = { ...st, batches: st.batches.slice(0, usable) };
    if (st.newView !== null) {
      const err = this.validNewView(st.newView);
      if (err !== null) return this.outbox.drop(st.from, `state transfer new-view: ${err}`);
      nested.push(st.newView, ...st.newView.prePrepares);
      for (const vc of st.newView.viewChanges) nested.push(...this.nestedSigned(vc));
    }
    this.verifier.verifyThen(nested, (bad) => {
      if (bad.length > 0) return this.outbox.drop(st.from, `state transfer carries ${bad.length} bad signature(s)`);
      for (const b of st.batches) this.noteNested([b.prePrepare, ...b.commits]);
      this.applyState(st);
    });
  }

  private validCertifiedBatch(b: CertifiedBatch): string | null {
    return commitCertificateProblem(b, this.vs, this.crypto, (ids) => this.isQuorum(ids));
  }

  private applyState(st: StateTransfer): void {
    const before = this.lastExecuted;
    const cp = st.checkpoint;
    if (cp !== null && cp.seq > this.lastExecuted) {
      if (!bytesEqual(this.crypto.blake3(cp.snapshot), cp.stateDigest)) return this.outbox.drop(st.from, 'snapshot does not match its digest');
      try {
        this.state.restore(cp.snapshot);
      } catch (e) {
        return this.outbox.drop(st.from, `snapshot rejected: ${(e as Error).message}`);
      }
      this.lastExecuted = cp.seq;
      if (this.nextSeq <= cp.seq) this.nextSeq = cp.seq + 1;
      for (const c of cp.proof) this.verifier.add(c);
      this.stable = { seq: cp.seq, stateDigest: cp.stateDigest, snapshot: cp.snapshot, proof: cp.proof };
      this.outbox.persist({ kind: 'checkpoint', checkpoint: this.stable });
      this.truncate(cp.seq);
      this.pool.dropStale((r) => this.state.isFresh(r));
    }
    if (cp !== null && cp.seq > this.stable.seq && cp.seq <= this.lastExecuted) {
      // We executed this far already: the (verified) quorum proof makes our own checkpoint stable.
      const mine = this.ownCheckpoints.get(cp.seq);
      if (mine !== undefined && bytesEqual(mine.digest, cp.stateDigest)) {
        this.makeStable({ seq: cp.seq, stateDigest: mine.digest, snapshot: mine.snapshot, proof: cp.proof });
      }
    }
    for (const b of st.batches) {
      if (b.prePrepare.seq !== this.lastExecuted + 1) continue;
      const slot = this.slots.get(b.prePrepare.seq);
      if (slot !== undefined) {
        slot.executed = true;
        slot.committed = true;
      }
      this.applyBatch(b, false);
    }
    if (this.lastExecuted > before) this.outbox.event({ kind: 'caught-up', seq: this.lastExecuted });
    const full = st.batches.length >= this.cfg.fetchBatchesMax;
    if (st.newView !== null && (st.newView.view > this.view || (st.newView.view === this.view && this.mode !== 'normal'))) {
      this.installNewView(st.newView);
    } else if (this.mode === 'catching-up' && !full && this.lastExecuted >= this.lagTarget) {
      this.finishCatchUp();
    }
    if (full) this.fetch();
    else if (this.lastExecuted > before) this.lastFetchTick = -Infinity; // peers may know more: ask again soon
    this.executeReady();
  }

  private finishCatchUp(): void {
    if (this.view > 0 && this.lastNewView?.view !== this.view) {
      // We signed a view-change for this view before a restart and never saw its new-view.
      this.mode = 'normal';
      this.startViewChange(this.view, this.justification);
      return;
    }
    this.mode = 'normal';
    this.lastProgressTick = this.now;
    this.resumeVoting();
  }

  // -------------------------------------------------------------------------------------------
  // Status (served by the HTTP API)

  /**
   * What must hold between any two steps (issue 11's replica kit: the simulator checks it after
   * every step of every honest replica). Returns the broken ones, empty when all hold; it has no
   * side effects. Each names the fields it compares.
   */
  invariants(): string[] {
    const bad: string[] = [];
    const st = this.stable.seq;
    if (st > this.lastExecuted) bad.push(`stable checkpoint ${st} above lastExecuted ${this.lastExecuted}`);
    if (this.nextSeq <= this.lastExecuted) bad.push(`nextSeq ${this.nextSeq} not above lastExecuted ${this.lastExecuted}`);
    if (this.view < this.safety.highestView) bad.push(`view ${this.view} below SafetyRules' floor ${this.safety.highestView}`);
    if (this.view < this.normalView) bad.push(`view ${this.view} below the last normal view ${this.normalView}`);
    for (const [seq, slot] of this.slots) {
      if (slot.seq !== seq) bad.push(`slot key ${seq} holds seq ${slot.seq}`);
      if (slot.executed && seq > this.lastExecuted) bad.push(`slot ${seq} executed above lastExecuted ${this.lastExecuted}`);
      if (slot.commitSent !== null) {
        const cert = slot.preparedCert;
        if (cert === null) bad.push(`slot ${seq}: commit sent without a prepared certificate`);
        else if (!bytesEqual(cert.prePrepare.digest, slot.commitSent.digest)) bad.push(`slot ${seq}: commit sent for a digest its prepared certificate does not hold`);
      }
      if (slot.prePrepare !== null && slot.prePrepare.seq !== seq) bad.push(`slot ${seq} holds a pre-prepare for seq ${slot.prePrepare.seq}`);
    }
    for (const seq of this.log.keys()) {
      if (seq <= st || seq > this.lastExecuted) bad.push(`log entry ${seq} outside (${st}, ${this.lastExecuted}]`);
    }
    for (let seq = st + 1; seq <= this.lastExecuted; seq++) if (!this.log.has(seq)) bad.push(`executed seq ${seq} missing from the log`);
    for (const seq of this.ownCheckpoints.keys()) if (seq > this.lastExecuted) bad.push(`own checkpoint ${seq} above lastExecuted ${this.lastExecuted}`);
    if (this.pool.size > this.cfg.pendingRequestsMax) bad.push(`request pool ${this.pool.size} above pendingRequestsMax ${this.cfg.pendingRequestsMax}`);
    if (this.admitting < 0 || this.pool.size + this.admitting > this.cfg.pendingRequestsMax) bad.push(`requests under admission ${this.admitting} with a pool of ${this.pool.size} above pendingRequestsMax`);
    if (this.knownRequests.size > this.knownRequests.capacity || this.knownRequests.bytes > this.knownRequests.opBytesMax) {
      bad.push(`known requests ${this.knownRequests.size} (${this.knownRequests.bytes} op bytes) above their bounds`);
    }
    for (const [view, m] of this.timeouts) if (m.size > this.vs.size) bad.push(`${m.size} timeouts for view ${view} from ${this.vs.size} validators`);
    for (const [view, m] of this.viewChanges) if (m.size > this.vs.size) bad.push(`${m.size} view-changes for view ${view} from ${this.vs.size} validators`);
    return bad;
  }

  status(): ReplicaStatus {
    const slots: SlotStatus[] = [...this.slots.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((s) => {
        const digest = s.prePrepare?.digest ?? s.preparedCert?.prePrepare.digest ?? null;
        return {
          seq: s.seq,
          view: s.view,
          digest: digest === null ? null : hex(digest),
          phase: s.executed ? 'executed' : s.committed ? 'committed' : s.commitSent !== null ? 'prepared' : s.prePrepare !== null ? 'pre-prepared' : 'waiting',
          prepares: digest === null ? s.prepares.size : this.matching(s.prepares, digest).length,
          commits: digest === null ? s.commits.size : this.matching(s.commits, digest).length,
          requests: s.prePrepare?.batch.length ?? 0,
        };
      });
    let sequence = this.lastExecuted;
    for (const s of this.slots.keys()) sequence = Math.max(sequence, s);
    return {
      id: this.id,
      protocol: 'pbft',
      view: this.view,
      primary: this.primary(),
      mode: this.mode,
      lowWatermark: this.low,
      highWatermark: this.high,
      sequence,
      committedHeight: this.lastExecuted,
      stableCheckpoint: { seq: this.stable.seq, stateDigest: hex(this.stable.stateDigest) },
      slots,
      lastProposal: this.lastProposal,
      pendingRequests: this.pool.size,
      sessions: this.state.sessionCount,
      evictedSessions: this.state.evictedSessions,
      viewChangeTimeoutTicks: this.timeoutTicks(),
      standing: this.standing(),
    };
  }

  /** Digest of the replicated state now (tests and checkers). */
  stateDigest(): Digest {
    return this.crypto.blake3(this.state.snapshot());
  }
}


export function createPbftReplica(opts: PbftReplicaOptions): PbftReplica {
  return new PbftReplica(opts);
}

function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
