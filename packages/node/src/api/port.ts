// What the HTTP API needs from a running validator. The runtime implements this interface; the API
// only validates input, calls it, and shapes JSON. Tests use a fake implementation.
//
// Vocabulary: a "round" is one PBFT sequence number (one batch of client requests). A block's
// height is its sequence number. Round ids on the wire are the decimal sequence, optionally prefixed
// "round-" (the seed's style): "12" and "round-12" name the same round. Transaction ids are 64 hex
// digits (the BLAKE3 digest the runtime assigns to a request).
//
// Return `undefined` for "no such round / block / transaction" (the API answers 404). Throw
// `ApiError` for a refusal the client should see (e.g. 503 overloaded); anything else is a 500.

export type RoundPhase = 'pre_prepared' | 'prepared' | 'committed' | 'aborted';
export type VoteKind = 'pre_prepare' | 'prepare' | 'commit';

export interface RoundInfo {
  readonly roundId: string;
  readonly sequence: number;
  readonly view: number;
  readonly primary: string;
  readonly phase: RoundPhase;
  /** Hex digest of the batch. */
  readonly digest: string;
  readonly transactionCount: number;
  readonly prepareVotes: number;
  readonly commitVotes: number;
  /** ms since the epoch. */
  readonly startedAt?: number;
  readonly committedAt?: number;
  readonly durationMs?: number;
}

export interface VoteInfo {
  readonly validatorId: string;
  readonly voteType: VoteKind;
  readonly view: number;
  readonly sequence: number;
  readonly digest: string;
  /** "ed25519:<hex>". */
  readonly signature: string;
  /**
   * What this validator's own checks said about this vote's Ed25519 signature: true = verified
   * valid, false = verified invalid, null = not verified here (its own votes; in lazy mode votes
   * are counted from authenticated links before their signatures are checked, certificates are
   * checked later in batches and some votes never are; verdicts of old rounds are forgotten).
   */
  readonly signatureVerified: boolean | null;
}

export interface ProposalInfo {
  readonly roundId: string;
  readonly sequence: number;
  readonly view: number;
  readonly primary: string;
  readonly digest: string;
  readonly merkleRoot: string;
  readonly transactions: readonly { readonly txId: string; readonly bytes: number }[];
}

/** /ibft/state/:round_id: a round's consensus state as this validator sees it. */
export interface RoundState {
  readonly round: RoundInfo;
  readonly votes: readonly VoteInfo[];
  readonly proposal: ProposalInfo | undefined;
  /** Votes needed for a quorum (> 2/3 of voting power; 2f+1 with equal stakes). */
  readonly quorum: number;
}

/** /ibft/state: the validator's consensus state. */
export interface NodeStatus {
  readonly protocol: 'pbft';
  readonly validatorId: string;
  readonly replicaIndex: number;
  readonly view: number;
  readonly primary: string;
  readonly isPrimary: boolean;
  /** 'normal', 'view_change' or 'catching_up' (fetching a checkpoint and blocks from peers). */
  readonly mode: 'normal' | 'view_change' | 'catching_up';
  readonly lastCommittedSequence: number;
  readonly lastStableCheckpoint: number;
  readonly lowWatermark: number;
  readonly highWatermark: number;
  readonly inflightSequences: number;
  readonly validators: number;
  readonly faultTolerance: number;
  readonly verify: 'lazy' | 'eager';
  readonly peers: readonly { readonly validatorId: string; readonly connected: boolean }[];
}

export interface ConsensusMetricsSummary {
  readonly totalRounds: number;
  readonly committedRounds: number;
  readonly failedRounds: number;
  readonly successRate: number;
  readonly averageLatencyMs: number;
  readonly p50LatencyMs: number;
  readonly p99LatencyMs: number;
  readonly view: number;
  readonly viewChanges: number;
  readonly lastCommittedSequence: number;
  /** Equivocation, bad signatures, invalid proposals; not replaced primaries. */
  readonly byzantineFaultsDetected: number;
  /** Primaries replaced by a view change (the core's Inactivity events: crash, restart, cut link). */
  readonly leaderReplacements: number;
  readonly transactionsCommitted: number;
}

export interface TransactionSubmission {
  readonly payload: Uint8Array;
  /** Exactly-once key: (clientId, requestSeq). Absent = the node assigns one. */
  readonly clientId?: string;
  readonly requestSeq?: number;
  /**
   * A request its client signed (requires clientId and requestSeq): its Ed25519 key and its
   * signature over requestPayload(clientId, requestSeq, payload). Absent: the node signs as its
   * agent (the session is then the agent's).
   */
  readonly publicKey?: Uint8Array;
  readonly signature?: Uint8Array;
}

export interface SubmitOptions {
  /** Resolve only when committed (or when timeoutMs passes: status stays 'pending'). */
  readonly waitForCommit: boolean;
  readonly timeoutMs: number;
}

/** How `result` / `payload` text is written: UTF-8 text as is, other bytes as hex. */
export type BytesEncoding = 'utf8' | 'hex';

export interface TransactionStatus {
  readonly txId: string;
  readonly status: 'pending' | 'committed';
  /** The exactly-once key the transaction was submitted under. */
  readonly clientId?: string;
  readonly requestSeq?: number;
  /** The transaction's payload (the request's op), labelled; absent when not known here. */
  readonly payload?: string;
  readonly payloadEncoding?: BytesEncoding;
  /** Set once the transaction is in a pre-prepared batch. */
  readonly roundId?: string;
  /** Block height (= sequence) and position in the block once committed. */
  readonly height?: number;
  readonly index?: number;
  /** The result of executing it: text when it is UTF-8 text, else hex (see resultEncoding). */
  readonly result?: string;
  readonly resultEncoding?: BytesEncoding;
  /**
   * Committed ones: false when this validator holds the block only through back-fill (it caught
   * up from a snapshot past it and never executed it): the block and its certificate are proven,
   * the result is not known here (no `result`, no `committedAt`); ask a validator that executed it.
   */
  readonly resultKnown?: boolean;
  readonly committedAt?: number;
}

export interface BundleProposal {
  readonly bundleId: string;
  readonly proposerId?: string;
  readonly bidAmount?: number;
  readonly priorityScore?: number;
  readonly transactions: readonly string[];
  readonly gasLimit?: number;
}

export interface StartRoundResult {
  /** Round of the batch carrying the first transaction, once known within the timeout; else null. */
  readonly roundId: string | null;
  readonly status: 'started' | 'committed' | 'pending';
  readonly txIds: readonly string[];
}

export interface BlockInfo {
  readonly height: number;
  readonly view: number;
  readonly digest: string;
  readonly merkleRoot: string;
  readonly txIds: readonly string[];
  readonly committedAt?: number;
  /** The quorum certificate: who signed the commit and the signatures ("ed25519:<hex>"). */
  readonly certificate: { readonly signers: readonly string[]; readonly signatures: readonly string[] };
}

/** Merkle inclusion proof of one transaction in a block, under the project's Merkle rule. */
export interface TxInclusionProof {
  readonly txId: string;
  readonly height: number;
  readonly index: number;
  readonly leafCount: number;
  /** Hex of the leaf bytes (the request encoding that was hashed into the tree). */
  readonly leaf: string;
  /** Sibling hashes bottom-up, hex. */
  readonly siblings: readonly string[];
  readonly merkleRoot: string;
}

export interface EvidenceInfo {
  readonly evidenceId: string;
  readonly validatorId: string;
  readonly kind: 'equivocation' | (string & {});
  readonly view: number;
  readonly sequence: number;
  readonly detectedAt: number;
  /** The two conflicting signed messages, hex, so anyone can re-verify them. */
  readonly messages: readonly string[];
}

export interface HealthReport {
  readonly status: 'ok' | 'degraded' | 'down';
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail?: string }>>;
  /** Why it is not ok, one line each (e.g. "behind by 312 seqs", "alone in view 5 (peers: 4,4,4)"); absent when ok. */
  readonly reasons?: readonly string[];
  /** Faulty validators the set tolerates (f); 0 means a single fault stops the cluster. */
  readonly faultTolerance?: number;
  /** Standing conditions that do not change the status (e.g. f = 0); absent when none. */
  readonly warnings?: readonly string[];
}

/**
 * One consensus event as this validator saw it, for the dashboard: view changes (why they
 * started, when the new view began and who leads it) and slash events (a replaced primary, or
 * misbehaviour with its reason). Routine events (stable checkpoints, dropped messages) are not
 * kept: they would push the rare ones out of the bounded list.
 */
export interface ConsensusEventInfo {
  /** ms since the epoch. */
  readonly at: number;
  readonly kind: 'timed_out' | 'view_change_started' | 'new_view' | 'leader_replaced' | 'slash' | 'caught_up';
  /** The view the event is about (timed out in, changing to, started). */
  readonly view?: number;
  /** The validator it names: the replaced primary, the slashed validator, the new view's primary. */
  readonly validatorId?: string;
  /**
   * view_change_started: 'local_timeout' (this validator timed out in the view before, and a
   * quorum of timeouts certified it) or 'peers_timeout' (it followed a timeout certificate or a
   * view-change of its peers without timing out itself). slash: the core's reason
   * (Equivocation, InvalidProposal, InvalidVote).
   */
  readonly cause?: string;
  /** One line in words. */
  readonly detail: string;
}

export interface NodeApiPort {
  submitTransaction(tx: TransactionSubmission, opts: SubmitOptions): Promise<TransactionStatus>;
  transactionStatus(txId: string): TransactionStatus | undefined;
  startRound(bundles: readonly BundleProposal[], opts: { readonly timeoutMs: number }): Promise<StartRoundResult>;
  round(sequence: number): RoundInfo | undefined;
  activeRounds(): readonly RoundInfo[];
  roundHistory(limit: number): readonly RoundInfo[];
  roundState(sequence: number): RoundState | undefined;
  votes(sequence: number): readonly VoteInfo[] | undefined;
  proposal(sequence: number): ProposalInfo | undefined;
  status(): NodeStatus;
  consensusMetrics(): ConsensusMetricsSummary;
  block(height: number): BlockInfo | undefined;
  /** Undefined when the block or the transaction in it does not exist. */
  transactionProof(height: number, txId: string): TxInclusionProof | undefined;
  evidence(limit: number): readonly EvidenceInfo[];
  /** Process-level health (storage open, event loop alive). */
  health(): HealthReport;
  /** Consensus health (quorum of links up, commits progressing). */
  consensusHealth(): HealthReport;
  // Optional (the dashboard shows what is there; test fakes need not implement them).
  /** Recent consensus events, newest first, at most `limit`. */
  consensusEvents?(limit: number): readonly ConsensusEventInfo[];
  /** Name of the crypto backend this validator hashes and verifies with (js | wasm | native). */
  cryptoBackend?(): string;
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
