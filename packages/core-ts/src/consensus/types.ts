// The replica contract: the one shape every protocol in @bpci/core exposes to a runtime (the node,
// the in-process benchmark, the simulator).
//
// A replica is a deterministic value. `step(input)` consumes one input and returns an `Output`
// that says what to do; it never touches a clock, a timer, a socket, a file or randomness. The
// same sequence of inputs gives the same sequence of outputs, on every machine.
//
// What a runtime must do with an Output, in this order:
//   1. write every `persist` record durably (one group commit is fine); when `persistToken` is set,
//      feed `{ kind: 'persisted', token }` back once the write is durable;
//   2. only then deliver `sendAfterPersist` (everything this replica signed: its votes). A runtime
//      that cannot persist (pure in-memory benchmark) may deliver them at once and say so;
//   3. deliver `send` (unsigned or already-persisted traffic: retransmissions, fetch replies) and
//      `replies` (signed replies to clients, destination kind 'client');
//   4. hand `commit` to whoever watches the log (these batches are final: a quorum certificate
//      stands behind each);
//   5. run every `verify` job with the best CryptoBackend it has (possibly a worker pool, in any
//      order, batched as it likes) and feed each result back as `{ kind: 'verified', jobId, valid }`
//      with one 0/1 byte per item, in item order;
//   6. log / meter `events` (slashing events carry self-contained evidence when there is any).
// Time is logical: the runtime feeds `{ kind: 'tick' }` at a fixed period (the node uses 10 ms);
// every timeout in PbftConfig is a count of ticks.
//
// Inputs of kind 'message' come from an AUTHENTICATED link: the runtime has checked the per-link
// BLAKE3 MAC, so `from` is the validator that sent the frame. Signatures inside the message are
// NOT assumed checked: the replica verifies them itself through VerifyJobs (always before a vote
// enters anything transferable; before counting it too in `verify: 'eager'` mode).
// Inputs of kind 'request' come from clients. Requests are not signed by clients in this version:
// the runtime is expected to authenticate client connections; a Byzantine primary can therefore
// invent requests (the simulator does not model that attack; see README "limits").

import type { CryptoBackend, MerkleProof } from '../crypto/backend.js';
import type { ValidatorSet } from './validators.js';

export type ValidatorId = number; // index into the validator set, 0 .. n-1

/** 32-byte BLAKE3 digest. */
export type Digest = Uint8Array;
/** 64-byte Ed25519 signature. */
export type Signature = Uint8Array;

export type Destination =
  | { kind: 'replica'; to: ValidatorId }
  | { kind: 'broadcast' } // every validator except the sender
  /** The client session (sessionOf(request): clientId and key) a reply is for. */
  | { kind: 'client'; session: string };

export interface Envelope {
  readonly dest: Destination;
  readonly message: Message;
  /** The canonical encoding of `message` (what goes on the wire). */
  readonly bytes: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Messages (PBFT). Each signed message is signed over `signingPayload(message)` (codec.ts): a
// domain-separated encoding of its header fields; a pre-prepare is signed over its header, whose
// `digest` binds the batch.

/**
 * A client operation, signed by the client (kit/client-auth.ts). Exactly-once per session: a
 * session is (key, clientId), written sessionOf(request) = "<clientId>@<hex key>", so one key
 * may run many sessions and nobody without the key can add a request to any of them;
 * requestSeq starts at 1 in each. Every validator checks `sig` before it pools the request or
 * prepares a batch that holds it, so a Byzantine primary can neither invent nor alter one.
 */
export interface ClientRequest {
  readonly kind: 'request';
  /** The client's name for the session (at most CODEC_LIMITS.clientIdBytesMax UTF-8 bytes). */
  readonly clientId: string;
  readonly requestSeq: number;
  readonly op: Uint8Array;
  /** The client's Ed25519 public key (32 bytes). */
  readonly key: Uint8Array;
  /** Ed25519 signature by `key` over requestPayload(clientId, requestSeq, op) (64 bytes). */
  readonly sig: Signature;
}

export interface PrePrepare {
  readonly kind: 'pre-prepare';
  readonly view: number;
  readonly seq: number;
  /** blake3(encodeBatch(batch)). */
  readonly digest: Digest;
  readonly batch: readonly ClientRequest[];
  readonly from: ValidatorId;
  readonly sig: Signature;
}

/** A vote (prepare or commit) for one slot (view, seq). */
export interface Vote {
  readonly kind: 'prepare' | 'commit';
  readonly view: number;
  readonly seq: number;
  readonly digest: Digest;
  readonly from: ValidatorId;
  readonly sig: Signature;
}
export type Prepare = Vote & { readonly kind: 'prepare' };
export type Commit = Vote & { readonly kind: 'commit' };

export interface Checkpoint {
  readonly kind: 'checkpoint';
  readonly seq: number;
  /** Digest of the replicated state (application + client sessions) after executing `seq`. */
  readonly stateDigest: Digest;
  readonly from: ValidatorId;
  readonly sig: Signature;
}

/**
 * Proof that a slot prepared: the pre-prepare and prepares reaching a quorum with the primary's,
 * or (for a batch this replica executed through state transfer or a restart, where it never saw
 * the prepares) a quorum of commits, which is stronger. Exactly one of the two lists is non-empty.
 */
export interface PreparedCert {
  readonly prePrepare: PrePrepare;
  readonly prepares: readonly Prepare[];
  readonly commits: readonly Commit[];
}

export interface ViewChange {
  readonly kind: 'view-change';
  readonly newView: number;
  readonly stableSeq: number;
  readonly stableDigest: Digest;
  /** Quorum of checkpoint messages for (stableSeq, stableDigest); empty when stableSeq = 0. */
  readonly checkpointProof: readonly Checkpoint[];
  /** Highest prepared certificate for every seq above stableSeq. */
  readonly prepared: readonly PreparedCert[];
  readonly from: ValidatorId;
  readonly sig: Signature;
}

export interface NewView {
  readonly kind: 'new-view';
  readonly view: number;
  /** A quorum of view-change messages for `view`. */
  readonly viewChanges: readonly ViewChange[];
  /** Re-proposals for every seq in (min-s, max-s], recomputable from `viewChanges`. */
  readonly prePrepares: readonly PrePrepare[];
  readonly from: ValidatorId;
  readonly sig: Signature;
}

/**
 * A reply to one client. A validator signs once per executed batch: the statement (view,
 * batchSeq, root) where root is the Merkle root (merkle.ts rule) over replyLeaf() of every
 * reply of that batch; each reply carries its leaf's proof. A resent reply for an old request
 * is a one-leaf tree. The signature says "each leaf under root is a result I executed".
 */
export interface Reply {
  readonly kind: 'reply';
  readonly view: number;
  /** The batch whose replies the signature covers. */
  readonly batchSeq: number;
  readonly root: Digest;
  readonly proof: MerkleProof;
  /** Seq of the batch that executed the request. */
  readonly seq: number;
  /** The request's session, sessionOf(request): its clientId and key. */
  readonly session: string;
  readonly requestSeq: number;
  readonly result: Uint8Array;
  readonly from: ValidatorId;
  readonly sig: Signature;
}

/** Catch-up request: "send me what you have committed from `nextSeq` on". Unsigned (link-authenticated). */
export interface Fetch {
  readonly kind: 'fetch';
  readonly nextSeq: number;
  readonly from: ValidatorId;
}

/** A committed batch with the commit quorum that proves it (transferable). */
export interface CertifiedBatch {
  readonly prePrepare: PrePrepare;
  readonly commits: readonly Commit[];
}

export interface StableCheckpoint {
  readonly seq: number;
  readonly stateDigest: Digest;
  /** Encoded replicated state (see state.ts); blake3-checked against stateDigest on restore. */
  readonly snapshot: Uint8Array;
  readonly proof: readonly Checkpoint[];
}

/** Catch-up response. Unsigned container; every signature inside is verified by the receiver. */
export interface StateTransfer {
  readonly kind: 'state';
  readonly checkpoint: StableCheckpoint | null;
  readonly batches: readonly CertifiedBatch[];
  /** The new-view that started the sender's current view (lets a restarted replica rejoin it). */
  readonly newView: NewView | null;
  readonly from: ValidatorId;
}

/**
 * "I stopped waiting for progress in `view`." Not binding: the signer may still vote in `view`
 * (a validator that is only slow or cut off from the primary stays in the quorum). Signed so
 * that a quorum of them is transferable proof (a TimeoutCert) that validators holding a quorum
 * of stake, so at least f+1 honest ones, gave up on `view`.
 */
export interface Timeout {
  readonly kind: 'timeout';
  readonly view: number;
  readonly from: ValidatorId;
  readonly sig: Signature;
}

/**
 * Timeouts of one view from distinct validators holding a quorum of stake. The only thing that
 * moves a validator into view-change mode: whoever holds one for a view >= its own signs a
 * view-change for `view + 1`, and every view-change travels with the certificate that justifies
 * it, so a validator is never alone in a higher view (issue 14). Unsigned container.
 */
export interface TimeoutCert {
  readonly kind: 'timeout-cert';
  readonly view: number;
  readonly timeouts: readonly Timeout[];
  readonly from: ValidatorId;
}

/**
 * Block back-fill, served by the runtime from its block store (not by the replica, which keeps
 * only what is above its stable checkpoint): "send me the certified batches fromSeq..toSeq".
 */
export interface BlocksRequest {
  readonly kind: 'blocks-request';
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly from: ValidatorId;
}

/** Answer to a BlocksRequest: certified batches in seq order (possibly fewer than asked). */
export interface Blocks {
  readonly kind: 'blocks';
  readonly batches: readonly CertifiedBatch[];
  readonly from: ValidatorId;
}

export type Message =
  | ClientRequest
  | PrePrepare
  | Prepare
  | Commit
  | Checkpoint
  | ViewChange
  | NewView
  | Reply
  | Fetch
  | StateTransfer
  | Timeout
  | TimeoutCert
  | BlocksRequest
  | Blocks;
export type MessageKind = Message['kind'];

// ---------------------------------------------------------------------------------------------
// Inputs and outputs

export type Input =
  | { kind: 'message'; from: ValidatorId; message: Message } // from an authenticated link
  | { kind: 'request'; request: ClientRequest } // from a client connection
  | { kind: 'tick' }
  | { kind: 'verified'; jobId: number; valid: Uint8Array } // one 0/1 per VerifyJob item
  | { kind: 'persisted'; token: number };

export interface SignedItemRef {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/** Signatures the runtime must check (ZIP-215 rule, CryptoBackend.ed25519VerifyBatch). */
export interface VerifyJob {
  readonly jobId: number;
  readonly items: readonly SignedItemRef[];
  /**
   * 'critical': progress waits on it (run it first). 'background': lazy-mode checks of
   * certificates already acted on (commit certificates), safe to run when the runtime is idle.
   */
  readonly priority: 'critical' | 'background';
}

/** What SafetyRules has signed for one slot; persisted before the signed message leaves. */
export interface VoteRecord {
  readonly kind: 'pre-prepare' | 'prepare' | 'commit';
  readonly view: number;
  readonly seq: number;
  readonly digest: Digest;
}

export type PersistRecord =
  /** SafetyRules signed a proposal or vote: never sign a different digest for this slot. */
  | { kind: 'vote'; vote: VoteRecord }
  /**
   * SafetyRules signed a commit resting on this prepared certificate: a view-change must report
   * it, also after a restart (one per seq, the highest view replaces a lower one).
   */
  | { kind: 'prepared'; cert: PreparedCert }
  /**
   * SafetyRules signed a view-change for `view`: never vote in a lower view again. `justification`
   * is the timeout certificate for `view - 1` it rests on (resent after a restart, so peers that
   * never saw it can follow).
   */
  | { kind: 'view'; view: number; justification: TimeoutCert | null }
  /**
   * SafetyRules may sign proposals and votes in `view` at seqs up to `upTo` (issued ahead of
   * them): after a restart it signs none in a lower view, nor in `view` at or below `upTo`. The
   * highest (view, upTo) wins.
   */
  | { kind: 'reservation'; view: number; upTo: number }
  /** A committed batch and its quorum certificate (append to the block log, keyed by seq). */
  | { kind: 'committed'; batch: CommittedBatch }
  /** A stable checkpoint with its snapshot and proof; the runtime may drop log entries <= seq. */
  | { kind: 'checkpoint'; checkpoint: StableCheckpoint };

/** A batch that is final at this replica, in sequence order, with its results. */
export interface CommittedBatch {
  readonly seq: number;
  readonly view: number;
  readonly digest: Digest;
  readonly requests: readonly ClientRequest[];
  /** One result per request; a duplicate (already executed) request gets its cached result. */
  readonly results: readonly Uint8Array[];
  /** Commit quorum certificate. In lazy mode its signatures may still be under verification. */
  readonly cert: CertifiedBatch;
}

export type SlashReason = 'Equivocation' | 'InvalidProposal' | 'InvalidVote' | 'Inactivity';

export type ReplicaEvent =
  | { kind: 'slash'; reason: SlashReason; validator: ValidatorId; detail: string; evidence?: Evidence }
  | { kind: 'timed-out'; view: number }
  | { kind: 'view-change-started'; view: number }
  | { kind: 'new-view'; view: number; primary: ValidatorId }
  | { kind: 'checkpoint-stable'; seq: number }
  | { kind: 'caught-up'; seq: number }
  | { kind: 'dropped'; from: ValidatorId | 'client'; reason: string };

export interface Output {
  persist: PersistRecord[];
  persistToken?: number;
  /**
   * Messages that carry this replica's signatures: they leave only once `persist` and every
   * write issued before it are durable (a barrier, also when `persist` is empty).
   */
  sendAfterPersist: Envelope[];
  /** Messages with no signature of this replica (fetch requests): they leave at once. */
  send: Envelope[];
  commit: CommittedBatch[];
  replies: Envelope[];
  verify: VerifyJob[];
  events: ReplicaEvent[];
}

// ---------------------------------------------------------------------------------------------
// Evidence: self-contained, verifiable by anyone with the validator set (evidence.ts).

/** A signed statement about one slot, stripped to what its signature covers. */
export interface SignedStatement {
  readonly kind: 'pre-prepare' | 'prepare' | 'commit' | 'checkpoint';
  readonly view: number; // 0 for checkpoints
  readonly seq: number;
  readonly digest: Digest; // batch digest, or state digest for checkpoints
  readonly from: ValidatorId;
  readonly sig: Signature;
}

export interface Evidence {
  readonly kind: 'equivocation';
  readonly a: SignedStatement;
  readonly b: SignedStatement;
}

// ---------------------------------------------------------------------------------------------
// The replicated application.

/** Deterministic state machine replicated by consensus. Same ops in the same order -> same state. */
export interface StateMachine {
  /** Apply ops in order; one result per op. Must not throw on bad ops: return an error result. */
  execute(ops: readonly Uint8Array[]): Uint8Array[];
  /** Canonical encoding of the whole state (equal states -> equal bytes). */
  snapshot(): Uint8Array;
  /** Replace the state with a snapshot; throws a typed error on a malformed one. */
  restore(snapshot: Uint8Array): void;
  /** 32-byte digest of the state (blake3 of the snapshot is fine). */
  digest(): Digest;
}

// ---------------------------------------------------------------------------------------------
// Configuration, construction, status.

export interface PbftConfig {
  /** A checkpoint every K sequence numbers. */
  readonly checkpointInterval: number;
  /** High watermark = low + watermarkWindow (a multiple of checkpointInterval). */
  readonly watermarkWindow: number;
  /** Batching: at most this many requests / bytes of ops per pre-prepare. */
  readonly batchSizeMax: number;
  readonly batchBytesMax: number;
  /** Adaptive batching: with slots in flight, wait up to this many ticks for a fuller batch. */
  readonly batchDelayTicks: number;
  /** Slots the primary keeps in flight before it waits (<= watermarkWindow). */
  readonly inflightMax: number;
  /** View-change timeout, doubled for each consecutive failed view, capped; reset on progress. */
  readonly viewChangeTimeoutTicks: number;
  readonly viewChangeTimeoutTicksMax: number;
  /** Resend own votes / proposals / view-changes for stalled slots every this many ticks. */
  readonly retransmitTicks: number;
  /** Ask peers for missing committed batches after this many ticks without execution progress. */
  readonly fetchTicks: number;
  /** At most this many certified batches per state-transfer message. */
  readonly fetchBatchesMax: number;
  /** Client requests buffered at a replica (beyond: dropped, the client retries). */
  readonly pendingRequestsMax: number;
  /** 'lazy' counts link-authenticated votes at once; 'eager' verifies every signature first. */
  readonly verify: 'lazy' | 'eager';
}

export interface RestoredState {
  /** Everything SafetyRules signed (the 'vote' and 'view' records). */
  readonly votes: readonly VoteRecord[];
  readonly view: number;
  /** The timeout certificate for `view - 1` persisted with the view record (null: none or view 0). */
  readonly justification?: TimeoutCert | null;
  /** The highest 'reservation' record (null or absent: none). */
  readonly reservation?: { readonly view: number; readonly upTo: number } | null;
  /** The 'prepared' records above the checkpoint (the highest view for each seq). */
  readonly prepared: readonly PreparedCert[];
  readonly checkpoint: StableCheckpoint | null;
  /** Committed batches after the checkpoint, in seq order. */
  readonly committed: readonly CommittedBatch[];
}

export interface ReplicaOptions {
  readonly id: ValidatorId;
  readonly validators: ValidatorSet;
  /** 32-byte Ed25519 seed of validator `id`; only SafetyRules holds it. */
  readonly seed32: Uint8Array;
  readonly crypto: CryptoBackend;
  readonly app: StateMachine;
  readonly config?: Partial<PbftConfig>;
  readonly restored?: RestoredState;
}

export type SlotPhase = 'pre-prepared' | 'prepared' | 'committed' | 'executed';

export interface SlotStatus {
  readonly seq: number;
  readonly view: number;
  readonly digest: string | null; // hex
  readonly phase: SlotPhase | 'waiting';
  readonly prepares: number;
  readonly commits: number;
  readonly requests: number;
}

/** How this replica stands against its peers, from what they last sent it (for health checks). */
export interface ReplicaStanding {
  /** How far our height is below the height f+1 peers have shown (commit votes, checkpoints); 0 when not behind. */
  readonly behindSeqs: number;
  /**
   * True when the validators last seen in our view (self included) hold no quorum of stake while
   * peers last seen in other views hold at least f+1 of it: we are alone in another view.
   */
  readonly viewAlone: boolean;
  /** Each validator's view as last seen in a message from it (our own for us; -1: never heard from). */
  readonly peerViews: readonly number[];
}

export interface ReplicaStatus {
  readonly id: ValidatorId;
  readonly protocol: 'pbft';
  readonly view: number;
  readonly primary: ValidatorId;
  readonly mode: 'normal' | 'view-change' | 'catching-up';
  readonly lowWatermark: number;
  readonly highWatermark: number;
  /** Highest seq assigned or seen in this view. */
  readonly sequence: number;
  readonly committedHeight: number; // highest executed seq
  readonly stableCheckpoint: { readonly seq: number; readonly stateDigest: string };
  readonly slots: readonly SlotStatus[];
  readonly lastProposal: { readonly view: number; readonly seq: number; readonly digest: string; readonly requests: number } | null;
  readonly pendingRequests: number;
  /** Client sessions in the replicated state, and how many the bounds evicted since start. */
  readonly sessions: number;
  readonly evictedSessions: number;
  readonly viewChangeTimeoutTicks: number;
  readonly standing: ReplicaStanding;
}

export interface Replica {
  readonly id: ValidatorId;
  step(input: Input): Output;
  status(): ReplicaStatus;
}
