// NodeService: what one running validator offers the HTTP API (NodeApiPort) and the metrics,
// built on a ValidatorNode. It watches the runtime's traffic (observer hooks) to keep bounded
// per-round views: votes seen, proposal, timings; and an index of recent transactions.
//
// Transaction ids are hex BLAKE3 of the canonical request encoding (clientId, requestSeq, op,
// client key, client signature; Ed25519 signing is deterministic, so a retry has the same id);
// a block's Merkle tree has those encodings as leaves (core Merkle rule), so an inclusion proof
// ties a transaction to a block's merkleRoot. Requests submitted over HTTP without their own
// (clientId, requestSeq) get a fresh client id each ("api-<validator>-<boot>-<n>", requestSeq 1),
// which keeps exactly-once trivially true at the cost of one session entry per such request.
// HTTP submitters hold no client key: this validator signs their requests with its agent key
// (ValidatorNode.signAsAgent), so a client_id names a session of this validator's agent, and
// the same client_id sent to another validator is another session there.
//
// What it reports is meant to be true (issue 13 §4):
// - a vote is listed once per (validator, vote type, view, seq), however often it was
//   retransmitted; `signatureVerified` is what this validator's verify jobs said about that
//   vote's signature (true / false), or null when it has not verified it (its own votes, and in
//   lazy mode the votes it counted before checking; see VoteInfo);
// - a (client id, request seq) taken by another payload is refused at once (409), as is a
//   request seq below the one the client last executed (the replica would drop it silently);
// - submits without a quorum of links are refused (503), they could not commit;
// - results and payloads are given as UTF-8 text when they are text, else hex, with a label;
// - a replaced primary (Inactivity) is not a Byzantine fault.

import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import {
  encodeMessage,
  requestItem,
  sessionOf,
  statementPayload,
  type SignedItemRef,
  type ClientRequest,
  type CommittedBatch,
  type CryptoBackend,
  type Envelope,
  type Message,
  type ReplicaEvent,
} from '@bpci/core';
import type {
  BlockInfo,
  BundleProposal,
  ConsensusEventInfo,
  ConsensusMetricsSummary,
  EvidenceInfo,
  HealthReport,
  NodeApiPort,
  NodeStatus,
  ProposalInfo,
  RoundInfo,
  RoundState,
  StartRoundResult,
  SubmitOptions,
  TransactionStatus,
  TransactionSubmission,
  TxInclusionProof,
  VoteInfo,
} from '../api/port.js';
import { ApiError } from '../api/port.js';
import type { NodeMetrics } from '../metrics/metrics.js';
import { PhaseTimer } from '../metrics/metrics.js';
import { decodeBlock, decodeTxRecord, txIdOf } from './records.js';
import { ConsensusHealthTracker, HEALTH_SAMPLE_MS, healthThresholdsOf, type ConsensusAssessment, type HealthThresholds } from './consensus-health.js';
import { DEFAULT_PBFT_CONFIG } from '@bpci/core';
import { faultToleranceOf, type NodeObserver, type ValidatorNode } from './validator-node.js';

const ROUNDS_TRACKED_MAX = 1024;
/** Checkpoint, view-change and new-view keys remembered to count a vote once (oldest forgotten first). */
const COPIES_TRACKED_MAX = 4096;
const TX_INDEX_MAX = 200_000;
const EVIDENCE_MAX = 10_000;
const LATENCY_SAMPLES_MAX = 4096;
/** Consensus events kept for the dashboard (view changes, slashes; oldest forgotten first). */
const CONSENSUS_EVENTS_MAX = 256;
/** Signature verdicts kept for the votes lists (about 1,000 rounds of 4 validators x 3 votes). */
const SIG_VERDICTS_MAX = 16_384;
/** Clients whose last executed request seq is remembered (stale-seq refusals). */
const CLIENT_SEQS_MAX = 100_000;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes for the API: text when they are valid UTF-8 without control characters other than tab,
 * newline and carriage return (so "5" is "5", not "35"), else hex. The label says which.
 */
export function labelBytes(b: Uint8Array): { readonly text: string; readonly encoding: 'utf8' | 'hex' } {
  let text: string;
  try {
    text = strictUtf8.decode(b);
  } catch {
    return { text: hex(b), encoding: 'hex' };
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is tested
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? { text: hex(b), encoding: 'hex' } : { text, encoding: 'utf8' };
}

/** Evicts the oldest entries of an insertion-ordered map beyond `max`. */
function bound<K, V>(m: Map<K, V>, max: number): void {
  while (m.size > max) {
    const oldest = m.keys().next().value;
    if (oldest === undefined) return;
    m.delete(oldest);
  }
}

const statementKind = { pre_prepare: 'pre-prepare', prepare: 'prepare', commit: 'commit' } as const;

/** One vote as first seen (retransmissions of it are not new votes). */
interface VoteSeen {
  readonly kind: 'pre_prepare' | 'prepare' | 'commit';
  readonly from: number;
  readonly view: number;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly sig: Uint8Array;
}

interface RoundTrack {
  readonly seq: number;
  view: number;
  digest: string;
  primary: number;
  requests: readonly ClientRequest[];
  /** By `${kind}:${from}:${view}`: a vote counts once however often it was retransmitted. */
  votes: Map<string, VoteSeen>;
  startedAt: number; // epoch ms
  startedPerf: number;
  committedAt?: number;
  durationMs?: number;
}

export interface NodeServiceOptions {
  readonly validatorNames: readonly string[];
  readonly verify: 'lazy' | 'eager';
  readonly crypto: CryptoBackend;
  readonly metrics?: NodeMetrics;
  /** Consensus health thresholds (start-node derives them from the config); default: the core's defaults at 10 ms ticks. */
  readonly healthThresholds?: HealthThresholds;
  /** Monotonic clock in ms for the health grace periods (default performance.now). */
  readonly nowMs?: () => number;
}

export class NodeService implements NodeApiPort {
  private node!: ValidatorNode;
  private readonly rounds = new Map<number, RoundTrack>();
  private readonly copiesSeen = new Set<string>();
  private readonly txIndex = new Map<string, { height: number; index: number; result: Uint8Array; committedAt: number }>();
  private readonly pendingTx = new Map<string, ClientRequest>();
  /** (clientId#requestSeq) -> tx id, pending or committed: a second payload under one key is a conflict. */
  private readonly keyIndex = new Map<string, string>();
  /** Highest request seq executed per client (a lower new one would be dropped by the replica). */
  private readonly clientLastSeq = new Map<string, number>();
  /** Signature hex -> what a verify job said about it, with the signed message it was checked on. */
  private readonly sigVerdicts = new Map<string, { message: string; valid: boolean }>();
  private readonly evidenceList: EvidenceInfo[] = [];
  private readonly latencies: number[] = [];
  private readonly consensusEventLog: ConsensusEventInfo[] = [];
  /** The last view this validator timed out in (a view change's cause), -1 when none. */
  private lastTimedOutView = -1;
  private readonly phase: PhaseTimer | undefined;
  private readonly bootId = randomBytes(4).toString('hex');
  private apiClientCounter = 0;
  private viewChanges = 0;
  private faults = 0;
  private leaderReplacements = 0;
  private committedRounds = 0;
  private lastCommitAtMs = 0;
  /** Health clock (nowMs) at the last commit here, or when attached; for the 'committed' check. */
  private lastCommitMono = 0;
  private readonly healthTracker: ConsensusHealthTracker;
  private healthTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: NodeServiceOptions) {
    this.phase = opts.metrics ? new PhaseTimer(opts.metrics) : undefined;
    this.healthTracker = new ConsensusHealthTracker(opts.healthThresholds ?? healthThresholdsOf(DEFAULT_PBFT_CONFIG, 10));
  }

  /** Observer hooks to pass to ValidatorNode.start; call attach() with the node afterwards. */
  observer(): NodeObserver {
    const m = this.opts.metrics;
    const t = m?.transportObserver();
    return {
      ...t,
      inbound: (_from, msg) => this.onMessage(msg, true),
      outbound: (e: Envelope) => {
        if (e.dest.kind !== 'client') this.onMessage(e.message, false);
      },
      committed: (b) => this.onCommitted(b),
      event: (e) => this.onEvent(e),
      persisted: (records, ms) => {
        m?.persistLatency.observe(ms / 1000);
        m?.persistRecords.inc(records);
      },
      oversizeDropped: (kind) => m?.oversizeDropped.inc({ kind }),
      safetySynced: (appends, ms, gating) => {
        m?.safetyLogSync.observe(ms / 1000);
        m?.safetyLogSyncs.inc({ path: gating ? 'critical' : 'background' });
        m?.safetyLogRecords.inc(appends);
      },
      verified: (items, invalid, _ms, signed, valid) => {
        m?.verifyBatchSize.observe({ where: 'runtime' }, items);
        m?.signaturesVerified.inc({ result: 'valid' }, items - invalid);
        if (invalid > 0) m?.signaturesVerified.inc({ result: 'invalid' }, invalid);
        this.noteVerdicts(signed, valid);
      },
      decodeFailed: () => m?.byzantineFault('invalid_message'),
      // The client port closes a connection that sends garbage; without this hook nothing counted it.
      clientRejected: (reason) => m?.clientRejected.inc({ reason }),
      stored: (blocks) => m?.backfillBlocks.inc(blocks),
      rejected: (reason) => m?.backfillRejected.inc({ reason }),
      blocksServed: (result) => m?.blocksRequestsServed.inc({ result }),
    };
  }

  attach(node: ValidatorNode): void {
    this.node = node;
    this.lastCommitMono = this.nowMs();
    const m = this.opts.metrics;
    if (m) {
      m.addQueueSource('pending_requests', () => node.replica.status().pendingRequests);
      m.addQueueSource('transport_outbound_frames', () => node.transport.stats().peers.reduce((a, p) => a + p.queuedFrames, 0));
      m.setSessionSource(() => {
        const st = node.replica.status();
        return { sessions: st.sessions, evicted: st.evictedSessions };
      });
      const backfill = node.backfill;
      if (backfill) m.setBackfillRemainingSource(() => backfill.remaining());
      m.setConsensusHealthSource(() => {
        const a = this.sampleConsensusHealth();
        return { degraded: a.report.status !== 'ok', secondsByReason: this.healthTracker.degradedSeconds() };
      });
    }
    // Grace clocks and degraded seconds run on wall time whether or not anyone asks.
    this.healthTimer = setInterval(() => {
      if (!this.node.isStopped) this.sampleConsensusHealth();
    }, HEALTH_SAMPLE_MS);
    this.healthTimer.unref();
  }

  /** Stops the health sampler (the node's own stop is separate). */
  close(): void {
    if (this.healthTimer !== null) clearInterval(this.healthTimer);
    this.healthTimer = null;
  }

  private nowMs(): number {
    return this.opts.nowMs ? this.opts.nowMs() : performance.now();
  }

  private name(i: number): string {
    return this.opts.validatorNames[i] ?? `replica-${i}`;
  }

  // ------------------------------------------------------------------ observation

  private track(seq: number, view: number): RoundTrack {
    let r = this.rounds.get(seq);
    if (!r) {
      r = { seq, view, digest: '', primary: -1, requests: [], votes: new Map(), startedAt: Date.now(), startedPerf: performance.now() };
      this.rounds.set(seq, r);
      if (this.rounds.size > ROUNDS_TRACKED_MAX) {
        const oldest = this.rounds.keys().next().value;
        if (oldest !== undefined) this.rounds.delete(oldest);
      }
    }
    return r;
  }

  /**
   * Round bookkeeping for every vote (ours included); ibft_validator_votes_total counts each
   * received vote once (first copy of its signer, kind, view/seq), not retransmissions and not
   * our own outgoing ones.
   */
  private onMessage(msg: Message, inbound: boolean): void {
    const m = inbound ? this.opts.metrics : undefined;
    switch (msg.kind) {
      case 'pre-prepare': {
        const r = this.track(msg.seq, msg.view);
        if (msg.view >= r.view) {
          r.view = msg.view;
          r.digest = hex(msg.digest);
          r.primary = msg.from;
          r.requests = msg.batch;
        }
        const fresh = this.noteVote(r, { kind: 'pre_prepare', from: msg.from, view: msg.view, seq: msg.seq, digest: msg.digest, sig: msg.sig });
        this.phase?.mark(msg.seq, 'pre_prepare');
        if (fresh) m?.vote('pre_prepare', this.name(msg.from));
        break;
      }
      case 'prepare':
      case 'commit': {
        const r = this.track(msg.seq, msg.view);
        const fresh = this.noteVote(r, { kind: msg.kind, from: msg.from, view: msg.view, seq: msg.seq, digest: msg.digest, sig: msg.sig });
        if (fresh) m?.vote(msg.kind, this.name(msg.from));
        // Our own commit leaves once we hold a prepared certificate: the slot is prepared here.
        if (!inbound && msg.kind === 'commit') this.phase?.mark(msg.seq, 'prepared');
        break;
      }
      case 'checkpoint':
        if (this.firstCopy(`c:${msg.from}:${msg.seq}`)) m?.vote('checkpoint', this.name(msg.from));
        break;
      case 'view-change':
        if (this.firstCopy(`vc:${msg.from}:${msg.newView}`)) m?.vote('view_change', this.name(msg.from));
        break;
      case 'new-view':
        if (this.firstCopy(`nv:${msg.from}:${msg.view}`)) m?.vote('new_view', this.name(msg.from));
        break;
      default:
        break;
    }
  }

  /** Keeps the first copy of each (validator, type, view) vote of a round; bounded per round.
   *  True when this is that first copy. */
  private noteVote(r: RoundTrack, v: VoteSeen): boolean {
    const key = `${v.kind}:${v.from}:${v.view}`;
    if (r.votes.has(key) || r.votes.size >= 4 * this.opts.validatorNames.length) return false;
    r.votes.set(key, v);
    return true;
  }

  /** True the first time `key` is seen among the last COPIES_TRACKED_MAX keys. */
  private firstCopy(key: string): boolean {
    if (this.copiesSeen.has(key)) return false;
    this.copiesSeen.add(key);
    if (this.copiesSeen.size > COPIES_TRACKED_MAX) this.copiesSeen.delete(this.copiesSeen.values().next().value!);
    return true;
  }

  private noteVerdicts(signed: readonly SignedItemRef[] | undefined, valid: Uint8Array | undefined): void {
    if (signed === undefined || valid === undefined) return;
    signed.forEach((item, i) => {
      this.sigVerdicts.set(hex(item.signature), { message: hex(item.message), valid: valid[i] === 1 });
    });
    bound(this.sigVerdicts, SIG_VERDICTS_MAX);
  }

  private voteInfo(v: VoteSeen): VoteInfo {
    const sig = hex(v.sig);
    const verdict = this.sigVerdicts.get(sig);
    // Only a verdict on this very statement counts (the same signature bytes under another
    // message say nothing about this one).
    const verified = verdict !== undefined && verdict.message === hex(statementPayload(statementKind[v.kind], v.view, v.seq, v.digest, v.from)) ? verdict.valid : null;
    return {
      validatorId: this.name(v.from),
      voteType: v.kind,
      view: v.view,
      sequence: v.seq,
      digest: hex(v.digest),
      signature: `ed25519:${sig}`,
      signatureVerified: verified,
    };
  }

  private onCommitted(b: CommittedBatch): void {
    const now = Date.now();
    const r = this.track(b.seq, b.view);
    r.view = b.view;
    r.digest = hex(b.digest);
    r.requests = b.requests;
    r.primary = b.cert.prePrepare.from;
    r.committedAt = now;
    r.durationMs = performance.now() - r.startedPerf;
    this.committedRounds++;
    this.lastCommitAtMs = now;
    this.lastCommitMono = this.nowMs();
    if (this.latencies.length >= LATENCY_SAMPLES_MAX) this.latencies.shift();
    this.latencies.push(r.durationMs);
    this.phase?.mark(b.seq, 'committed');
    const m = this.opts.metrics;
    m?.requestsCommitted.inc(b.requests.length);
    m?.lastCommittedSequence.set(b.seq);
    m?.view.set(b.view);
    b.requests.forEach((req, i) => {
      const id = this.txId(req);
      this.pendingTx.delete(id);
      this.txIndex.set(id, { height: b.seq, index: i, result: b.results[i] ?? new Uint8Array(0), committedAt: now });
      const session = sessionOf(req);
      this.keyIndex.set(`${session}#${req.requestSeq}`, id);
      if (req.requestSeq > (this.clientLastSeq.get(session) ?? 0)) {
        this.clientLastSeq.delete(session); // re-insert: the map's order is recency
        this.clientLastSeq.set(session, req.requestSeq);
      }
    });
    bound(this.txIndex, TX_INDEX_MAX);
    bound(this.keyIndex, TX_INDEX_MAX);
    bound(this.clientLastSeq, CLIENT_SEQS_MAX);
  }

  private onEvent(e: ReplicaEvent): void {
    this.recordEvent(e);
    const m = this.opts.metrics;
    switch (e.kind) {
      case 'slash': {
        if (e.reason === 'Inactivity') {
          // A view change replaced this primary (crash, restart, cut link): not misbehaviour.
          this.leaderReplacements++;
          m?.leaderReplaced(this.name(e.validator));
          break;
        }
        this.faults++;
        m?.byzantineFault(e.reason === 'Equivocation' ? 'equivocation' : e.reason === 'InvalidVote' ? 'bad_signature' : e.reason === 'InvalidProposal' ? 'invalid_proposal' : e.reason);
        if (e.evidence && this.evidenceList.length < EVIDENCE_MAX) {
          const { a, b } = e.evidence;
          const enc = (s: typeof a): string => hex(statementPayload(s.kind, s.view, s.seq, s.digest, s.from)) + ':' + hex(s.sig);
          this.evidenceList.push({
            evidenceId: `${this.node.index}-${this.evidenceList.length + 1}`,
            validatorId: this.name(e.validator),
            kind: 'equivocation',
            view: a.view,
            sequence: a.seq,
            detectedAt: Date.now(),
            messages: [enc(a), enc(b)],
          });
        }
        break;
      }
      case 'view-change-started':
        // The view being left is a failed round (IBFT's round change): its primary's proposals
        // that had not committed are abandoned and re-proposed, or not, by the next primary.
        this.viewChanges++;
        m?.viewChanges.inc();
        m?.roundFailed();
        break;
      case 'new-view':
        m?.view.set(e.view);
        break;
      default:
        break;
    }
  }

  /** Keeps the dashboard's bounded list of view changes and slash events (observation only). */
  private recordEvent(e: ReplicaEvent): void {
    let info: Omit<ConsensusEventInfo, 'at'> | undefined;
    switch (e.kind) {
      case 'timed-out':
        this.lastTimedOutView = e.view;
        info = { kind: 'timed_out', view: e.view, detail: `timed out waiting for progress in view ${e.view}` };
        break;
      case 'view-change-started': {
        const local = this.lastTimedOutView === e.view - 1;
        info = {
          kind: 'view_change_started',
          view: e.view,
          cause: local ? 'local_timeout' : 'peers_timeout',
          detail: local
            ? `view change to ${e.view}: this validator timed out in view ${e.view - 1} and a quorum of timeouts certified it`
            : `view change to ${e.view}: followed its peers (a timeout certificate or their view-changes) without timing out itself`,
        };
        break;
      }
      case 'new-view':
        info = { kind: 'new_view', view: e.view, validatorId: this.name(e.primary), detail: `view ${e.view} started, primary ${this.name(e.primary)}` };
        break;
      case 'slash':
        info =
          e.reason === 'Inactivity'
            ? { kind: 'leader_replaced', validatorId: this.name(e.validator), cause: e.reason, detail: e.detail }
            : { kind: 'slash', validatorId: this.name(e.validator), cause: e.reason, detail: e.detail };
        break;
      case 'caught-up':
        info = { kind: 'caught_up', detail: `caught up to seq ${e.seq} from a peer's checkpoint` };
        break;
      case 'checkpoint-stable':
      case 'dropped':
        return;
      default: {
        // Exhaustive at compile time; at run time an unknown event is not recorded (observation
        // must never disturb the node).
        const never: never = e;
        void never;
        return;
      }
    }
    this.consensusEventLog.push({ at: Date.now(), ...info });
    if (this.consensusEventLog.length > CONSENSUS_EVENTS_MAX) this.consensusEventLog.shift();
  }

  private txId(r: ClientRequest): string {
    return txIdOf(this.opts.crypto, r);
  }

  /**
   * Recent commits from memory; older ones (and all after a restart) from the store's tx index.
   * result null: in a block back-filled from peers, never executed here (result unknown).
   */
  private committedTx(txId: string): { height: number; index: number; result: Uint8Array | null; committedAt: number } | undefined {
    const c = this.txIndex.get(txId);
    if (c !== undefined || !/^[0-9a-f]{64}$/.test(txId)) return c;
    const bytes = this.node.store?.get('tx', txId);
    if (bytes === undefined) return undefined;
    try {
      const t = decodeTxRecord(bytes);
      if (t.resultKnown === false) return { height: t.height, index: t.index, result: null, committedAt: 0 };
      return { height: t.height, index: t.index, result: t.result, committedAt: t.committedAt };
    } catch {
      return undefined; // a damaged record reads as unknown, never as a crash
    }
  }

  // ------------------------------------------------------------------ NodeApiPort

  async submitTransaction(tx: TransactionSubmission, opts: SubmitOptions): Promise<TransactionStatus> {
    const explicitKey = tx.clientId !== undefined;
    const clientId = tx.clientId ?? `api-${this.node.index}-${this.bootId}-${++this.apiClientCounter}`;
    const requestSeq = tx.requestSeq ?? 1;
    let req: ClientRequest;
    let id: string;
    try {
      // Signed with this validator's agent key: the submitter has none, and the request must
      // still carry a client signature every validator checks.
      req =
        tx.publicKey !== undefined && tx.signature !== undefined
          ? { kind: 'request', clientId, requestSeq, op: tx.payload, key: tx.publicKey, sig: tx.signature }
          : this.node.signAsAgent(clientId, requestSeq, tx.payload);
      id = this.txId(req);
    } catch (e) {
      throw new ApiError(400, 'bad_transaction', e instanceof Error ? e.message : String(e));
    }
    // The same request again (a retry): its status, committed or not.
    if (this.committedTx(id) !== undefined) return this.statusOf(id)!;
    if (tx.publicKey !== undefined && this.opts.crypto.ed25519VerifyBatch([requestItem(req)])[0] !== 1) {
      // Every validator would drop it without a word: say so now.
      throw new ApiError(
        400,
        'bad_signature',
        `signature does not verify under public_key over (client_id "${clientId}", request_seq ${requestSeq}, payload): sign requestPayload(clientId, requestSeq, payload) of @bpci/core (signRequest)`,
      );
    }
    const session = sessionOf(req);
    if (explicitKey) this.refuseConflict(clientId, session, requestSeq, id);
    if (!this.quorumOfLinks()) {
      const connected = this.node.connectedPeers();
      throw new ApiError(
        503,
        'no_quorum_links',
        `this validator has links to ${connected} of ${this.opts.validatorNames.length - 1} peers, which with it hold no quorum (${this.quorumCount()} validators needed): ` +
          'the transaction could not commit; retry later or submit to another validator',
      );
    }
    if (this.node.replica.status().pendingRequests >= 50_000) throw new ApiError(503, 'overloaded', 'too many pending requests; retry later');
    this.pendingTx.set(id, req);
    this.keyIndex.set(`${session}#${requestSeq}`, id);
    bound(this.pendingTx, TX_INDEX_MAX);
    bound(this.keyIndex, TX_INDEX_MAX);
    const wait = opts.waitForCommit ? this.node.waitForRequest(session, requestSeq, opts.timeoutMs).catch(() => undefined) : undefined;
    this.node.submitRequest(req);
    if (wait) await wait;
    return this.statusOf(id) ?? { txId: id, status: 'pending', clientId, requestSeq, ...this.payloadFields(req.op) };
  }

  /**
   * 409 when (clientId, requestSeq) already names another transaction here, or is below the seq
   * this client last executed: the replica treats such a request as a duplicate or stale and
   * never executes it, so accepting it would leave it pending forever.
   */
  private refuseConflict(clientId: string, session: string, requestSeq: number, id: string): void {
    const taken = this.keyIndex.get(`${session}#${requestSeq}`);
    if (taken !== undefined && taken !== id) {
      const st = this.statusOf(taken);
      throw new ApiError(
        409,
        'request_conflict',
        `client_id "${clientId}" request_seq ${requestSeq} is already transaction ${taken} (${st?.status ?? 'seen'}${st?.height !== undefined ? ` at height ${st.height}` : ''}) ` +
          'with a different payload; a (client_id, request_seq) names one transaction: use the next request_seq',
      );
    }
    const last = this.clientLastSeq.get(session);
    if (taken === undefined && last !== undefined && requestSeq <= last) {
      throw new ApiError(
        409,
        'request_seq_stale',
        `client_id "${clientId}" already executed request_seq ${last}; request_seq ${requestSeq} is not above it, so it would never execute: use request_seq ${last + 1} or higher`,
      );
    }
  }

  /** This validator and its connected peers hold a quorum (the same rule as /health/consensus). */
  private quorumOfLinks(): boolean {
    return this.node.connectedPeers() + 1 >= this.quorumCount();
  }

  private payloadFields(op: Uint8Array): { payload: string; payloadEncoding: 'utf8' | 'hex' } {
    const l = labelBytes(op);
    return { payload: l.text, payloadEncoding: l.encoding };
  }

  /** The request behind a committed transaction, from its block (memory or store). */
  private committedRequest(height: number, index: number): ClientRequest | undefined {
    return this.certified(height)?.prePrepare.batch[index];
  }

  private statusOf(txId: string): TransactionStatus | undefined {
    const c = this.committedTx(txId);
    if (c) {
      const req = this.committedRequest(c.height, c.index);
      const where = {
        txId,
        status: 'committed',
        ...(req ? { clientId: req.clientId, requestSeq: req.requestSeq, ...this.payloadFields(req.op) } : {}),
        roundId: String(c.height),
        height: c.height,
        index: c.index,
      } as const;
      if (c.result === null) return { ...where, resultKnown: false };
      const r = labelBytes(c.result);
      return { ...where, result: r.text, resultEncoding: r.encoding, resultKnown: true, committedAt: c.committedAt };
    }
    const p = this.pendingTx.get(txId);
    if (p) return { txId, status: 'pending', clientId: p.clientId, requestSeq: p.requestSeq, ...this.payloadFields(p.op) };
    return undefined;
  }

  transactionStatus(txId: string): TransactionStatus | undefined {
    return this.statusOf(txId.toLowerCase());
  }

  async startRound(bundles: readonly BundleProposal[], opts: { readonly timeoutMs: number }): Promise<StartRoundResult> {
    // A "round" is a PBFT batch: the bundles' transactions are submitted as requests and the
    // round is the batch that carries the first of them.
    const txIds: string[] = [];
    const waits: Promise<TransactionStatus>[] = [];
    for (const b of bundles) {
      for (const t of b.transactions) {
        const payload = /^[0-9a-fA-F]*$/.test(t) && t.length % 2 === 0 ? Buffer.from(t, 'hex') : Buffer.from(t, 'utf8');
        waits.push(this.submitTransaction({ payload: new Uint8Array(payload) }, { waitForCommit: true, timeoutMs: opts.timeoutMs }));
      }
    }
    const statuses = await Promise.all(waits);
    for (const s of statuses) txIds.push(s.txId);
    const first = statuses[0];
    const committed = statuses.every((s) => s.status === 'committed');
    return { roundId: first?.roundId ?? null, status: committed ? 'committed' : statuses.length ? 'pending' : 'started', txIds };
  }

  private roundInfo(r: RoundTrack): RoundInfo {
    const st = this.node.replica.status();
    const slot = st.slots.find((s) => s.seq === r.seq);
    let prepares = 0;
    let commits = 0;
    for (const v of r.votes.values()) {
      if (v.view !== r.view) continue;
      if (v.kind === 'prepare') prepares++;
      else if (v.kind === 'commit') commits++;
    }
    const phase = r.committedAt !== undefined ? 'committed' : slot?.phase === 'prepared' ? 'prepared' : r.view < st.view && st.mode === 'normal' ? 'aborted' : 'pre_prepared';
    return {
      roundId: String(r.seq),
      sequence: r.seq,
      view: r.view,
      primary: r.primary >= 0 ? this.name(r.primary) : this.name(st.primary),
      phase,
      digest: r.digest,
      transactionCount: r.requests.length,
      prepareVotes: slot?.prepares ?? prepares,
      commitVotes: slot?.commits ?? commits,
      startedAt: r.startedAt,
      ...(r.committedAt !== undefined ? { committedAt: r.committedAt, durationMs: r.durationMs } : {}),
    };
  }

  round(sequence: number): RoundInfo | undefined {
    const r = this.rounds.get(sequence);
    if (r) return this.roundInfo(r);
    const b = this.blockBatch(sequence);
    if (!b) return undefined;
    return {
      roundId: String(sequence),
      sequence,
      view: b.view,
      primary: this.name(b.primary),
      phase: 'committed',
      digest: b.digest,
      transactionCount: b.requests.length,
      prepareVotes: 0,
      commitVotes: b.commits,
    };
  }

  activeRounds(): readonly RoundInfo[] {
    const out: RoundInfo[] = [];
    for (const r of this.rounds.values()) if (r.committedAt === undefined && r.digest !== '') out.push(this.roundInfo(r));
    return out;
  }

  roundHistory(limit: number): readonly RoundInfo[] {
    const out: RoundInfo[] = [];
    const all = [...this.rounds.values()].filter((r) => r.committedAt !== undefined).sort((a, b) => b.seq - a.seq);
    for (const r of all.slice(0, limit)) out.push(this.roundInfo(r));
    return out;
  }

  roundState(sequence: number): RoundState | undefined {
    const round = this.round(sequence);
    if (!round) return undefined;
    return { round, votes: this.votes(sequence) ?? [], proposal: this.proposal(sequence), quorum: this.quorumCount() };
  }

  private quorumCount(): number {
    const vs = this.node.validatorSet;
    // equal stakes: 2f+1 votes; otherwise the smallest number of validators that can reach it
    const stakes = vs.validators.map((v) => v.stake).sort((a, b) => b - a);
    let sum = 0;
    for (let i = 0; i < stakes.length; i++) {
      sum += stakes[i]!;
      if (sum >= vs.quorumPower) return i + 1;
    }
    return stakes.length;
  }

  votes(sequence: number): readonly VoteInfo[] | undefined {
    const r = this.rounds.get(sequence);
    if (r) return [...r.votes.values()].map((v) => this.voteInfo(v));
    const full = this.certified(sequence);
    if (!full) return undefined;
    return full.commits.map((c) => this.voteInfo({ kind: 'commit', from: c.from, view: c.view, seq: c.seq, digest: c.digest, sig: c.sig }));
  }

  proposal(sequence: number): ProposalInfo | undefined {
    const r = this.rounds.get(sequence);
    let requests: readonly ClientRequest[] | undefined = r && r.digest !== '' ? r.requests : undefined;
    let view = r?.view ?? 0;
    let digest = r?.digest ?? '';
    let primary = r?.primary ?? -1;
    if (!requests) {
      const c = this.certified(sequence);
      if (!c) return undefined;
      requests = c.prePrepare.batch;
      view = c.prePrepare.view;
      digest = hex(c.prePrepare.digest);
      primary = c.prePrepare.from;
    }
    const leaves = requests.map((q) => encodeMessage(q));
    return {
      roundId: String(sequence),
      sequence,
      view,
      primary: this.name(primary),
      digest,
      merkleRoot: hex(this.opts.crypto.merkleRoot(leaves)),
      transactions: requests.map((q, i) => ({ txId: hex(this.opts.crypto.blake3(leaves[i]!)), bytes: q.op.length })),
    };
  }

  private certified(sequence: number) {
    const recent = this.node.recentBlocks.get(sequence);
    if (recent) return recent.cert;
    const bytes = this.node.store?.get('block', sequence);
    if (!bytes) return undefined;
    try {
      return decodeBlock(bytes);
    } catch {
      return undefined;
    }
  }

  private blockBatch(sequence: number) {
    const c = this.certified(sequence);
    if (!c) return undefined;
    const pp = c.prePrepare;
    return { view: pp.view, digest: hex(pp.digest), requests: pp.batch, primary: pp.from, commits: c.commits.length, cert: c };
  }

  status(): NodeStatus {
    const st = this.node.replica.status();
    const n = this.opts.validatorNames.length;
    return {
      protocol: 'pbft',
      validatorId: this.name(this.node.index),
      replicaIndex: this.node.index,
      view: st.view,
      primary: this.name(st.primary),
      isPrimary: st.primary === this.node.index,
      mode: st.mode === 'view-change' ? 'view_change' : st.mode === 'catching-up' ? 'catching_up' : 'normal',
      lastCommittedSequence: st.committedHeight,
      lastStableCheckpoint: st.stableCheckpoint.seq,
      lowWatermark: st.lowWatermark,
      highWatermark: st.highWatermark,
      inflightSequences: st.slots.filter((s) => s.phase !== 'executed').length,
      validators: n,
      // validators that may fail (f): the largest count whose combined stake stays within the bound
      faultTolerance: faultToleranceOf(this.node.validatorSet),
      verify: this.opts.verify,
      peers: this.opts.validatorNames.map((name, i) => ({ validatorId: name, connected: i === this.node.index || this.node.transport.isConnected(i) })).filter((_, i) => i !== this.node.index),
    };
  }

  consensusMetrics(): ConsensusMetricsSummary {
    const st = this.node.replica.status();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0);
    const avg = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
    return {
      // A failed round is a view left by a view change (see onEvent); before, these two fields
      // were fixed at 0 and 1 whatever happened.
      totalRounds: this.committedRounds + this.viewChanges,
      committedRounds: this.committedRounds,
      failedRounds: this.viewChanges,
      successRate: this.committedRounds + this.viewChanges > 0 ? this.committedRounds / (this.committedRounds + this.viewChanges) : 0,
      averageLatencyMs: avg,
      p50LatencyMs: q(0.5),
      p99LatencyMs: q(0.99),
      view: st.view,
      viewChanges: this.viewChanges,
      lastCommittedSequence: st.committedHeight,
      byzantineFaultsDetected: this.faults,
      leaderReplacements: this.leaderReplacements,
      transactionsCommitted: this.node.requestsCommitted,
    };
  }

  block(height: number): BlockInfo | undefined {
    const b = this.blockBatch(height);
    if (!b) return undefined;
    const leaves = b.requests.map((q) => encodeMessage(q));
    return {
      height,
      view: b.view,
      digest: b.digest,
      merkleRoot: hex(this.opts.crypto.merkleRoot(leaves)),
      txIds: leaves.map((l) => hex(this.opts.crypto.blake3(l))),
      ...(this.rounds.get(height)?.committedAt !== undefined ? { committedAt: this.rounds.get(height)!.committedAt } : {}),
      certificate: { signers: b.cert.commits.map((c) => this.name(c.from)), signatures: b.cert.commits.map((c) => `ed25519:${hex(c.sig)}`) },
    };
  }

  transactionProof(height: number, txId: string): TxInclusionProof | undefined {
    const b = this.blockBatch(height);
    if (!b) return undefined;
    const leaves = b.requests.map((q) => encodeMessage(q));
    const want = txId.toLowerCase();
    const index = leaves.findIndex((l) => hex(this.opts.crypto.blake3(l)) === want);
    if (index < 0) return undefined;
    const proof = this.opts.crypto.merkleProof(leaves, index);
    return {
      txId: want,
      height,
      index,
      leafCount: proof.leafCount,
      leaf: hex(leaves[index]!),
      siblings: proof.siblings.map(hex),
      merkleRoot: hex(this.opts.crypto.merkleRoot(leaves)),
    };
  }

  evidence(limit: number): readonly EvidenceInfo[] {
    return this.evidenceList.slice(-limit).reverse();
  }

  consensusEvents(limit: number): readonly ConsensusEventInfo[] {
    return this.consensusEventLog.slice(-limit).reverse();
  }

  cryptoBackend(): string {
    return this.opts.crypto.name;
  }

  health(): HealthReport {
    const persistError = this.node.persistError;
    const storage = this.node.store
      ? { ok: persistError === null, detail: persistError ?? (this.node.durable ? 'safety log (WAL) + lmdb, durable group commits' : 'lmdb, no fsync') }
      : { ok: true, detail: 'memory mode (nothing persisted)' };
    const running = !this.node.isStopped;
    // The process's own health decides 'down' (503); consensus that is not ok (including no quorum
    // of links, which /health/consensus reports as down) makes the aggregate 'degraded'.
    const c = this.consensusHealth();
    const reasons = [...(storage.ok ? [] : [`storage: ${storage.detail}`]), ...(running ? [] : ['runtime stopped']), ...(c.reasons ?? (c.status === 'ok' ? [] : [`consensus ${c.status}`]))];
    return {
      status: storage.ok && running ? (c.status === 'ok' ? 'ok' : 'degraded') : 'down',
      ...this.toleranceFields(),
      checks: {
        storage,
        runtime: { ok: running, detail: running ? 'running' : 'stopped' },
        consensus: { ok: c.status === 'ok', detail: c.status === 'ok' ? 'ok' : `${c.status}: ${(c.reasons ?? []).join('; ')}` },
      },
      ...(reasons.length > 0 ? { reasons } : {}),
    };
  }

  /** Samples the replica into the health tracker (grace clocks, degraded seconds). */
  private sampleConsensusHealth(): ConsensusAssessment {
    const now = this.nowMs();
    const st = this.node.replica.status();
    const connected = this.node.connectedPeers();
    const n = this.opts.validatorNames.length;
    return this.healthTracker.sample(
      {
        mode: st.mode,
        view: st.view,
        committedHeight: st.committedHeight,
        self: this.node.index,
        standing: st.standing,
        peersConnected: connected,
        peersTotal: n - 1,
        quorumLinks: this.quorumOfLinks(),
        committedDetail: `height ${st.committedHeight}, view ${st.view}, last commit ${this.lastCommitAtMs ? new Date(this.lastCommitAtMs).toISOString() : 'never'}`,
        pendingRequests: st.pendingRequests,
        commitAgeMs: Math.max(0, now - this.lastCommitMono),
      },
      now,
    );
  }

  /** f, and a warning when it is 0 (one or two validators: any fault stops the cluster). */
  private toleranceFields(): { faultTolerance: number; warnings?: readonly string[] } {
    const f = faultToleranceOf(this.node.validatorSet);
    const n = this.opts.validatorNames.length;
    return f > 0
      ? { faultTolerance: f }
      : { faultTolerance: 0, warnings: [`fault tolerance f = 0: ${n} validator(s) tolerate no faulty or crashed validator; run 3f+1 >= 4 validators for f >= 1`] };
  }

  /**
   * Degraded when behind, alone in a view, or out of normal mode past the grace period; down
   * without a quorum of links (rules in consensus-health.ts).
   */
  consensusHealth(): HealthReport {
    return { ...this.sampleConsensusHealth().report, ...this.toleranceFields() };
  }
}
