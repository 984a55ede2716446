// NodeService: what one running validator offers the HTTP API (NodeApiPort) and the metrics,
// built on a ValidatorNode. It watches the runtime's traffic (observer hooks) to keep bounded
// per-round views: votes seen, proposal, timings; and an index of recent transactions.
//
// Transaction ids are hex BLAKE3 of the canonical request encoding (clientId, requestSeq, op);
// a block's Merkle tree has those encodings as leaves (core Merkle rule), so an inclusion proof
// ties a transaction to a block's merkleRoot. Requests submitted over HTTP without their own
// (clientId, requestSeq) get a fresh client id each ("api-<validator>-<boot>-<n>", requestSeq 1),
// which keeps exactly-once trivially true at the cost of one session entry per such request.

import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import {
  encodeMessage,
  statementPayload,
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
import type { NodeObserver, ValidatorNode } from './validator-node.js';

const ROUNDS_TRACKED_MAX = 1024;
const TX_INDEX_MAX = 200_000;
const EVIDENCE_MAX = 10_000;
const LATENCY_SAMPLES_MAX = 4096;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

interface RoundTrack {
  readonly seq: number;
  view: number;
  digest: string;
  primary: number;
  requests: readonly ClientRequest[];
  votes: VoteInfo[];
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
  private readonly txIndex = new Map<string, { height: number; index: number; result: string; committedAt: number }>();
  private readonly pendingTx = new Map<string, ClientRequest>();
  private readonly evidenceList: EvidenceInfo[] = [];
  private readonly latencies: number[] = [];
  private readonly phase: PhaseTimer | undefined;
  private readonly bootId = randomBytes(4).toString('hex');
  private apiClientCounter = 0;
  private viewChanges = 0;
  private faults = 0;
  private committedRounds = 0;
  private lastCommitAtMs = 0;
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
      inbound: (_from, msg) => this.onMessage(msg),
      outbound: (e: Envelope) => {
        if (e.dest.kind !== 'client') this.onMessage(e.message);
      },
      committed: (b) => this.onCommitted(b),
      event: (e) => this.onEvent(e),
      persisted: (records, ms) => {
        m?.persistLatency.observe(ms / 1000);
        m?.persistRecords.inc(records);
      },
      verified: (items, invalid, _ms) => {
        m?.verifyBatchSize.observe({ where: 'runtime' }, items);
        m?.signaturesVerified.inc({ result: 'valid' }, items - invalid);
        if (invalid > 0) m?.signaturesVerified.inc({ result: 'invalid' }, invalid);
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

  private name(i: number): string {
    return this.opts.validatorNames[i] ?? `replica-${i}`;
  }

  // ------------------------------------------------------------------ observation

  private track(seq: number, view: number): RoundTrack {
    let r = this.rounds.get(seq);
    if (!r) {
      r = { seq, view, digest: '', primary: -1, requests: [], votes: [], startedAt: Date.now(), startedPerf: performance.now() };
      this.rounds.set(seq, r);
      if (this.rounds.size > ROUNDS_TRACKED_MAX) {
        const oldest = this.rounds.keys().next().value;
        if (oldest !== undefined) this.rounds.delete(oldest);
      }
    }
    return r;
  }

  private onMessage(msg: Message): void {
    const m = this.opts.metrics;
    switch (msg.kind) {
      case 'pre-prepare': {
        const r = this.track(msg.seq, msg.view);
        if (msg.view >= r.view) {
          r.view = msg.view;
          r.digest = hex(msg.digest);
          r.primary = msg.from;
          r.requests = msg.batch;
        }
        r.votes.push(this.voteInfo('pre_prepare', msg.from, msg.view, msg.seq, msg.digest, msg.sig));
        this.phase?.mark(msg.seq, 'pre_prepare');
        m?.vote('pre_prepare', this.name(msg.from));
        break;
      }
      case 'prepare':
      case 'commit': {
        const r = this.track(msg.seq, msg.view);
        if (r.votes.length < 4 * this.opts.validatorNames.length) {
          r.votes.push(this.voteInfo(msg.kind, msg.from, msg.view, msg.seq, msg.digest, msg.sig));
        }
        m?.vote(msg.kind, this.name(msg.from));
        break;
      }
      case 'checkpoint':
        m?.vote('checkpoint', this.name(msg.from));
        break;
      case 'view-change':
        m?.vote('view_change', this.name(msg.from));
        break;
      case 'new-view':
        m?.vote('new_view', this.name(msg.from));
        break;
      default:
        break;
    }
  }

  private voteInfo(kind: 'pre_prepare' | 'prepare' | 'commit', from: number, view: number, seq: number, digest: Uint8Array, sig: Uint8Array): VoteInfo {
    return {
      validatorId: this.name(from),
      voteType: kind,
      view,
      sequence: seq,
      digest: hex(digest),
      signature: `ed25519:${hex(sig)}`,
      // Lazy mode counts votes from authenticated links and verifies signatures in batches later.
      signatureVerified: this.opts.verify === 'eager',
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
      this.txIndex.set(id, { height: b.seq, index: i, result: hex(b.results[i] ?? new Uint8Array(0)), committedAt: now });
      if (this.txIndex.size > TX_INDEX_MAX) {
        const oldest = this.txIndex.keys().next().value;
        if (oldest !== undefined) this.txIndex.delete(oldest);
      }
    });
  }

  private onEvent(e: ReplicaEvent): void {
    const m = this.opts.metrics;
    switch (e.kind) {
      case 'slash': {
        this.faults++;
        m?.byzantineFault(e.reason === 'Equivocation' ? 'equivocation' : e.reason === 'InvalidVote' ? 'bad_signature' : e.reason.toLowerCase());
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
        this.viewChanges++;
        m?.viewChanges.inc();
        break;
      case 'new-view':
        m?.view.set(e.view);
        break;
      default:
        break;
    }
  }

  private txId(r: ClientRequest): string {
    return txIdOf(this.opts.crypto, r);
  }

  /**
   * Recent commits from memory; older ones (and all after a restart) from the store's tx index.
   * result null: in a block back-filled from peers, never executed here (result unknown).
   */
  private committedTx(txId: string): { height: number; index: number; result: string | null; committedAt: number } | undefined {
    const c = this.txIndex.get(txId);
    if (c !== undefined || !/^[0-9a-f]{64}$/.test(txId)) return c;
    const bytes = this.node.store?.get('tx', txId);
    if (bytes === undefined) return undefined;
    try {
      const t = decodeTxRecord(bytes);
      if (t.resultKnown === false) return { height: t.height, index: t.index, result: null, committedAt: 0 };
      return { height: t.height, index: t.index, result: hex(t.result), committedAt: t.committedAt };
    } catch {
      return undefined; // a damaged record reads as unknown, never as a crash
    }
  }

  // ------------------------------------------------------------------ NodeApiPort

  async submitTransaction(tx: TransactionSubmission, opts: SubmitOptions): Promise<TransactionStatus> {
    const clientId = tx.clientId ?? `api-${this.node.index}-${this.bootId}-${++this.apiClientCounter}`;
    const requestSeq = tx.requestSeq ?? 1;
    const req: ClientRequest = { kind: 'request', clientId, requestSeq, op: tx.payload };
    let id: string;
    try {
      id = this.txId(req);
    } catch (e) {
      throw new ApiError(400, 'bad_transaction', e instanceof Error ? e.message : String(e));
    }
    if (this.committedTx(id) !== undefined) return this.statusOf(id)!;
    if (this.node.replica.status().pendingRequests >= 50_000) throw new ApiError(503, 'overloaded', 'too many pending requests; retry later');
    this.pendingTx.set(id, req);
    const wait = opts.waitForCommit ? this.node.waitForRequest(clientId, requestSeq, opts.timeoutMs).catch(() => undefined) : undefined;
    this.node.submitRequest(req);
    this.opts.metrics?.transactionsSubmitted.inc({ result: 'accepted' });
    if (wait) await wait;
    return this.statusOf(id) ?? { txId: id, status: 'pending' };
  }

  private statusOf(txId: string): TransactionStatus | undefined {
    const c = this.committedTx(txId);
    if (c) {
      const where = { txId, status: 'committed', roundId: String(c.height), height: c.height, index: c.index } as const;
      return c.result === null ? { ...where, resultKnown: false } : { ...where, result: c.result, resultKnown: true, committedAt: c.committedAt };
    }
    if (this.pendingTx.has(txId)) return { txId, status: 'pending' };
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
    const prepares = r.votes.filter((v) => v.voteType === 'prepare' && v.view === r.view).length;
    const commits = r.votes.filter((v) => v.voteType === 'commit' && v.view === r.view).length;
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
    if (r) return r.votes;
    const full = this.certified(sequence);
    if (!full) return undefined;
    return full.commits.map((c) => this.voteInfo('commit', c.from, c.view, c.seq, c.digest, c.sig));
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
      faultTolerance: this.faultyCount(),
      verify: this.opts.verify,
      peers: this.opts.validatorNames.map((name, i) => ({ validatorId: name, connected: i === this.node.index || this.node.transport.isConnected(i) })).filter((_, i) => i !== this.node.index),
    };
  }

  private faultyCount(): number {
    const vs = this.node.validatorSet;
    const stakes = vs.validators.map((v) => v.stake).sort((a, b) => a - b);
    let sum = 0;
    let f = 0;
    for (const s of stakes) {
      if (sum + s > vs.faultyPowerMax) break;
      sum += s;
      f++;
    }
    return f;
  }

  consensusMetrics(): ConsensusMetricsSummary {
    const st = this.node.replica.status();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0);
    const avg = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
    return {
      totalRounds: this.committedRounds,
      committedRounds: this.committedRounds,
      failedRounds: 0,
      successRate: this.committedRounds > 0 ? 1 : 0,
      averageLatencyMs: avg,
      p50LatencyMs: q(0.5),
      p99LatencyMs: q(0.99),
      view: st.view,
      viewChanges: this.viewChanges,
      lastCommittedSequence: st.committedHeight,
      byzantineFaultsDetected: this.faults,
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

  health(): HealthReport {
    const persistError = this.node.persistError;
    const storage = this.node.store
      ? { ok: persistError === null, detail: persistError ?? (this.node.durable ? 'lmdb, durable group commit' : 'lmdb, no fsync') }
      : { ok: true, detail: 'memory mode (nothing persisted)' };
    const running = !this.node.isStopped;
    // The process's own health decides 'down' (503); consensus that is not ok (including no quorum
    // of links, which /health/consensus reports as down) makes the aggregate 'degraded'.
    const c = this.consensusHealth();
    const reasons = [...(storage.ok ? [] : [`storage: ${storage.detail}`]), ...(running ? [] : ['runtime stopped']), ...(c.reasons ?? (c.status === 'ok' ? [] : [`consensus ${c.status}`]))];
    return {
      status: storage.ok && running ? (c.status === 'ok' ? 'ok' : 'degraded') : 'down',
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
        quorumLinks: connected + 1 >= this.quorumCount(),
        committedDetail: `height ${st.committedHeight}, view ${st.view}, last commit ${this.lastCommitAtMs ? new Date(this.lastCommitAtMs).toISOString() : 'never'}`,
      },
      this.opts.nowMs ? this.opts.nowMs() : performance.now(),
    );
  }

  /**
   * Degraded when behind, alone in a view, or out of normal mode past the grace period; down
   * without a quorum of links (rules in consensus-health.ts).
   */
  consensusHealth(): HealthReport {
    return this.sampleConsensusHealth().report;
  }
}
