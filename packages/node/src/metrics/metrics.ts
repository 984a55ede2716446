// Prometheus metrics of one validator (prom-client, on a Registry of its own so several nodes can
// live in one process, e.g. in tests).
//
// Names from the seed where the concept exists in this engine (a "round" is one PBFT sequence
// number / batch): triple_consensus_rounds_total, triple_consensus_round_duration_seconds,
// ibft_validator_votes_total, ibft_consensus_success_rate, consensus_byzantine_faults_detected_total.
// The seed's hotstuff_* metrics have no counterpart in a PBFT engine and are not exported (a
// metric that is always zero would mislead a dashboard); the auction_* ones are registered by
// runtime/auction-service.ts on a node that runs the auction, and only there. Everything else is prefixed
// `bpci_`, except the Node.js process metrics, which keep prom-client's standard names
// (`process_cpu_user_seconds_total`, `nodejs_eventloop_lag_seconds`, ...) so stock Node.js
// dashboards and alerts match them unchanged. Latency histograms are in seconds (Prometheus
// convention) with buckets from 50 µs, since a commit on loopback takes well under a millisecond.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RejectReason, TransportObserver } from '../transport/transport.js';

export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export type Phase = 'pre_prepare' | 'prepared' | 'committed';
export type VoteType = 'pre_prepare' | 'prepare' | 'commit' | 'checkpoint' | 'view_change' | 'new_view';
export type FaultKind = 'equivocation' | 'bad_signature' | 'invalid_message' | 'bad_mac' | (string & {});

/** What the consensus-health metrics read at a scrape: degraded now, and cumulative seconds by reason. */
export interface ConsensusHealthSample {
  readonly degraded: boolean;
  readonly secondsByReason: ReadonlyMap<string, number>;
}

export interface MetricsOptions {
  /** Label every series with this validator id. */
  readonly validator?: string;
  /** Also export Node.js process metrics (CPU, heap, event loop lag) under their standard names. Default true. */
  readonly processMetrics?: boolean;
}

export class NodeMetrics {
  readonly registry = new Registry();

  readonly roundsTotal: Counter<'outcome'>;
  readonly roundDuration: Histogram;
  readonly phaseLatency: Histogram<'phase'>;
  readonly votesTotal: Counter<'vote_type' | 'from'>;
  readonly successRate: Gauge;
  readonly byzantineFaults: Counter<'kind'>;
  readonly leaderReplacements: Counter<'primary'>;
  readonly viewChanges: Counter;
  readonly view: Gauge;
  readonly lastCommittedSequence: Gauge;
  readonly inflightSequences: Gauge;
  readonly queueDepth: Gauge<'queue'>;
  readonly framesRejected: Counter<'reason'>;
  readonly framesDropped: Counter<'peer'>;
  readonly oversizeDropped: Counter<'kind'>;
  readonly inboundThrottled: Counter<'peer'>;
  readonly linksUp: Gauge;
  readonly clientRejected: Counter<'reason'>;
  readonly transactionsSubmitted: Counter<'result'>;
  readonly requestsCommitted: Counter;
  readonly persistLatency: Histogram;
  readonly persistRecords: Counter;
  readonly safetyLogSync: Histogram;
  readonly safetyLogSyncs: Counter;
  readonly safetyLogRecords: Counter;
  readonly verifyBatchSize: Histogram<'where'>;
  readonly signaturesVerified: Counter<'result'>;
  readonly backfillBlocks: Counter;
  readonly backfillRejected: Counter<'reason'>;
  readonly blocksRequestsServed: Counter<'result'>;

  private roundsCommitted = 0;
  private roundsFailed = 0;
  private consensusHealthSource: (() => ConsensusHealthSample) | null = null;
  private readonly degradedSecondsReported = new Map<string, number>();
  private readonly queueSources = new Map<string, () => number>();
  private sessionSource: (() => { sessions: number; evicted: number }) | null = null;
  private backfillRemainingSource: (() => number) | null = null;

  constructor(opts: MetricsOptions = {}) {
    const r = this.registry;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- collect() callbacks get the Gauge as `this`
    const self = this;
    if (opts.validator !== undefined) r.setDefaultLabels({ validator: opts.validator });
    // No prefix: prom-client's own names already start with process_ / nodejs_ (a prefix of
    // 'bpci_process_' gave bpci_process_process_cpu_user_seconds_total, which no dashboard knows).
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: r });
    const registers = [r];
    this.roundsTotal = new Counter({
      name: 'triple_consensus_rounds_total',
      help: 'Consensus rounds (PBFT sequence numbers) finished, by outcome (committed | failed = abandoned by a view change)',
      labelNames: ['outcome'],
      registers,
    });
    this.roundDuration = new Histogram({
      name: 'triple_consensus_round_duration_seconds',
      help: 'Time from pre-prepare to commit of a round at this validator',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.phaseLatency = new Histogram({
      name: 'bpci_phase_latency_seconds',
      help: 'Per-phase latency: pre_prepare_to_prepared, prepared_to_committed',
      labelNames: ['phase'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.votesTotal = new Counter({
      name: 'ibft_validator_votes_total',
      help: 'Consensus votes received from peers, by type and sender validator (each vote once: retransmitted copies and our own votes are not counted)',
      labelNames: ['vote_type', 'from'],
      registers,
    });
    this.successRate = new Gauge({
      name: 'ibft_consensus_success_rate',
      help: 'Committed rounds / finished rounds since start (1 when none finished)',
      registers,
      collect: () => {
        const done = this.roundsCommitted + this.roundsFailed;
        this.successRate.set(done === 0 ? 1 : this.roundsCommitted / done);
      },
    });
    this.byzantineFaults = new Counter({
      name: 'consensus_byzantine_faults_detected_total',
      help: 'Byzantine behaviour detected (equivocation evidence, bad signatures, invalid messages), by kind; a replaced primary (Inactivity) is not counted here, see bpci_leader_replacements_total',
      labelNames: ['kind'],
      registers,
    });
    this.leaderReplacements = new Counter({
      name: 'bpci_leader_replacements_total',
      help: 'Primaries replaced by a view change (the core\'s Inactivity events: a crash, a restart, a slow or cut link; not evidence of Byzantine behaviour), by the replaced primary',
      labelNames: ['primary'],
      registers,
    });
    this.viewChanges = new Counter({ name: 'bpci_view_changes_total', help: 'Views this validator moved to', registers });
    this.view = new Gauge({ name: 'bpci_view', help: 'Current view', registers });
    this.lastCommittedSequence = new Gauge({ name: 'bpci_last_committed_sequence', help: 'Highest committed sequence number', registers });
    this.inflightSequences = new Gauge({ name: 'bpci_inflight_sequences', help: 'Sequence numbers between pre-prepare and commit (pipeline depth)', registers });
    this.queueDepth = new Gauge({
      name: 'bpci_queue_depth',
      help: 'Items waiting in a bounded queue (pending_requests, verify_jobs, persist, transport_outbound, ...)',
      labelNames: ['queue'],
      registers,
      // Sampled at scrape time from the sources the runtime registered (no per-event cost).
      collect: () => {
        for (const [queue, read] of this.queueSources) this.queueDepth.set({ queue }, read());
      },
    });
    new Gauge({
      name: 'bpci_client_sessions',
      help: 'Client sessions in the replicated state (bounded; see bpci_client_sessions_evicted)',
      registers,
      collect: function (this: Gauge) {
        if (self.sessionSource !== null) this.set(self.sessionSource().sessions);
      },
    });
    new Gauge({
      name: 'bpci_client_sessions_evicted',
      help: 'Client sessions the session-table bounds evicted since this validator started',
      registers,
      collect: function (this: Gauge) {
        if (self.sessionSource !== null) this.set(self.sessionSource().evicted);
      },
    });
    this.framesRejected = new Counter({
      name: 'bpci_transport_frames_rejected_total',
      help: 'Connections closed because of what a peer sent, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.framesDropped = new Counter({
      name: 'bpci_transport_frames_dropped_total',
      help: 'Outbound frames dropped (oldest first) because a peer queue was full',
      labelNames: ['peer'],
      registers,
    });
    this.oversizeDropped = new Counter({
      name: 'bpci_transport_oversize_dropped_total',
      help: 'Outbound messages not sent because they exceed the frame limit (node.transport.frame_bytes_max), by message kind',
      labelNames: ['kind'],
      registers,
    });
    this.inboundThrottled = new Counter({
      name: 'bpci_transport_inbound_throttled_total',
      help: 'Times reading from a peer paused because it exceeded its inbound budget',
      labelNames: ['peer'],
      registers,
    });
    this.linksUp = new Gauge({ name: 'bpci_transport_links_up', help: 'Authenticated validator links currently open', registers });
    // Consensus health (issue 14), sampled at scrape time from the node's health tracker.
    new Gauge({
      name: 'bpci_consensus_degraded',
      help: '1 when /health/consensus is not ok (behind, alone in a view, out of normal mode past the grace period, or no quorum of links), else 0',
      registers,
      collect: function (this: Gauge) {
        if (self.consensusHealthSource !== null) this.set(self.consensusHealthSource().degraded ? 1 : 0);
      },
    });
    const degradedSeconds: Counter<'reason'> = new Counter({
      name: 'bpci_consensus_degraded_seconds_total',
      help: 'Seconds /health/consensus reported degraded or down, by reason (any | behind | view_alone | not_normal | stalled | no_quorum_links; reasons that hold together each accrue)',
      labelNames: ['reason'],
      registers,
      collect: () => {
        if (self.consensusHealthSource === null) return;
        for (const [reason, total] of self.consensusHealthSource().secondsByReason) {
          const delta = total - (self.degradedSecondsReported.get(reason) ?? 0);
          if (delta > 0) degradedSeconds.inc({ reason }, delta);
          self.degradedSecondsReported.set(reason, Math.max(total, self.degradedSecondsReported.get(reason) ?? 0));
        }
      },
    });
    for (const reason of ['any', 'behind', 'view_alone', 'not_normal', 'stalled', 'no_quorum_links']) degradedSeconds.inc({ reason }, 0);
    this.clientRejected = new Counter({
      name: 'bpci_client_connections_rejected_total',
      help: 'Client-port connections closed because of what the client sent or did, by reason (malformed | too-large | not-request | client-id-taken | too-many-connections | slow-reader)',
      labelNames: ['reason'],
      registers,
    });
    this.transactionsSubmitted = new Counter({
      name: 'bpci_transactions_submitted_total',
      help: 'Client transactions submitted through the HTTP API, once per transaction, by result (accepted | rejected)',
      labelNames: ['result'],
      registers,
    });
    this.requestsCommitted = new Counter({ name: 'bpci_requests_committed_total', help: 'Client requests committed', registers });
    this.persistLatency = new Histogram({
      name: 'bpci_storage_persist_seconds',
      help: 'Group-commit latency: persist issued to durable',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.persistRecords = new Counter({ name: 'bpci_storage_records_total', help: 'Records made durable', registers });
    this.safetyLogSync = new Histogram({
      name: 'bpci_storage_safety_log_sync_seconds',
      help: 'Safety-log (write-ahead log) group commit: first append to durable',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.safetyLogSyncs = new Counter({
      name: 'bpci_storage_safety_log_syncs_total',
      help: 'Safety-log group commits, by whether a signed message waited for them (critical = on a request\'s critical path | background)',
      labelNames: ['path'],
      registers,
    });
    this.safetyLogRecords = new Counter({ name: 'bpci_storage_safety_log_records_total', help: 'Safety records (votes, views, prepared certificates) made durable', registers });
    this.verifyBatchSize = new Histogram({
      name: 'bpci_verify_batch_size',
      help: 'Signatures per verification batch, by where it ran (inline | pool)',
      labelNames: ['where'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.signaturesVerified = new Counter({
      name: 'bpci_signatures_verified_total',
      help: 'Ed25519 signatures verified, by result (valid | invalid)',
      labelNames: ['result'],
      registers,
    });
    this.backfillBlocks = new Counter({
      name: 'bpci_backfill_blocks_total',
      help: 'Blocks missing below a snapshot this validator caught up from, fetched from peers, verified against their commit certificates and stored',
      registers,
    });
    new Gauge({
      name: 'bpci_backfill_remaining_blocks',
      help: 'Blocks missing from the block log at or below the stable checkpoint (back-fill still to do)',
      registers,
      collect: function (this: Gauge) {
        if (self.backfillRemainingSource !== null) this.set(self.backfillRemainingSource());
      },
    });
    this.backfillRejected = new Counter({
      name: 'bpci_backfill_rejected_total',
      help: 'Back-fill answers or blocks not used, by reason (bad_certificate | wrong_seq | too_many | unsolicited | empty | timeout | write_failed)',
      labelNames: ['reason'],
      registers,
    });
    this.blocksRequestsServed = new Counter({
      name: 'bpci_blocks_requests_total',
      help: "Peers' block back-fill requests, by result (served | throttled = over the per-peer rate, dropped)",
      labelNames: ['result'],
      registers,
    });
    for (const reason of ['bad_mac', 'bad_signature', 'unknown_peer', 'frame_too_large'] as const) this.framesRejected.inc({ reason }, 0);
    this.roundsTotal.inc({ outcome: 'committed' }, 0);
    this.roundsTotal.inc({ outcome: 'failed' }, 0);
    this.byzantineFaults.inc({ kind: 'equivocation' }, 0);
  }

  roundCommitted(durationSeconds?: number): void {
    this.roundsCommitted++;
    this.roundsTotal.inc({ outcome: 'committed' });
    if (durationSeconds !== undefined) this.roundDuration.observe(durationSeconds);
  }

  roundFailed(): void {
    this.roundsFailed++;
    this.roundsTotal.inc({ outcome: 'failed' });
  }

  vote(voteType: VoteType, from: number | string): void {
    this.votesTotal.inc({ vote_type: voteType, from: String(from) });
  }

  byzantineFault(kind: FaultKind): void {
    if (kind === 'inactivity') throw new Error('Inactivity is not a Byzantine fault: count it with leaderReplaced()');
    this.byzantineFaults.inc({ kind });
  }

  /** A view change replaced `primary` (the core's slash event with reason Inactivity). */
  leaderReplaced(primary: string): void {
    this.leaderReplacements.inc({ primary });
  }

  /** Where bpci_consensus_degraded and bpci_consensus_degraded_seconds_total read at each scrape. */
  setConsensusHealthSource(read: () => ConsensusHealthSample): void {
    this.consensusHealthSource = read;
  }

  /** Where bpci_client_sessions and bpci_client_sessions_evicted read at each scrape. */
  setSessionSource(read: () => { sessions: number; evicted: number }): void {
    this.sessionSource = read;
  }

  /** Where bpci_backfill_remaining_blocks reads at each scrape. */
  setBackfillRemainingSource(read: () => number): void {
    this.backfillRemainingSource = read;
  }

  /** Registers a queue whose depth `bpci_queue_depth{queue}` reports at each scrape. */
  addQueueSource(queue: string, read: () => number): void {
    this.queueSources.set(queue, read);
  }

  /** An observer to pass to `new Transport({ observer })`. */
  transportObserver(): TransportObserver {
    return {
      frameRejected: (reason: RejectReason) => this.framesRejected.inc({ reason }),
      framesDropped: (peer: number, count: number) => this.framesDropped.inc({ peer: String(peer) }, count),
      inboundThrottled: (peer: number) => this.inboundThrottled.inc({ peer: String(peer) }),
      linkUp: () => this.linksUp.inc(),
      linkDown: () => this.linksUp.dec(),
    };
  }

  /** Prometheus text exposition. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Per-sequence phase timestamps -> phase histograms. Bounded: at most `slotsMax` sequences are
 * tracked; the oldest is forgotten when a new one would exceed it (a round abandoned by a view
 * change never reaches 'committed').
 */
export class PhaseTimer {
  private readonly slots = new Map<number, { prePrepareNs?: bigint; preparedNs?: bigint }>();

  constructor(
    private readonly metrics: NodeMetrics,
    private readonly slotsMax = 4096,
    private readonly now: () => bigint = process.hrtime.bigint,
  ) {}

  mark(sequence: number, phase: Phase): void {
    const t = this.now();
    let s = this.slots.get(sequence);
    if (!s) {
      if (phase === 'committed') {
        // Never saw it start (restart, catch-up): count it, nothing to time.
        this.metrics.roundCommitted();
        return;
      }
      if (this.slots.size >= this.slotsMax) {
        const oldest = this.slots.keys().next().value;
        if (oldest !== undefined) this.slots.delete(oldest);
      }
      s = {};
      this.slots.set(sequence, s);
    }
    switch (phase) {
      case 'pre_prepare':
        s.prePrepareNs ??= t;
        break;
      case 'prepared':
        if (s.preparedNs === undefined) {
          s.preparedNs = t;
          if (s.prePrepareNs !== undefined) this.metrics.phaseLatency.observe({ phase: 'pre_prepare_to_prepared' }, seconds(t - s.prePrepareNs));
        }
        break;
      case 'committed':
        if (s.preparedNs !== undefined) this.metrics.phaseLatency.observe({ phase: 'prepared_to_committed' }, seconds(t - s.preparedNs));
        this.metrics.roundCommitted(s.prePrepareNs === undefined ? undefined : seconds(t - s.prePrepareNs));
        this.slots.delete(sequence);
        break;
      default: {
        const never: never = phase;
        throw new Error(`unknown phase ${String(never)}`);
      }
    }
    this.metrics.inflightSequences.set(this.slots.size);
  }

  /** Rounds abandoned (view change): counted as failed and forgotten. */
  abandonAll(): void {
    for (let i = 0; i < this.slots.size; i++) this.metrics.roundFailed();
    this.slots.clear();
    this.metrics.inflightSequences.set(0);
  }

  get tracked(): number {
    return this.slots.size;
  }
}

function seconds(ns: bigint): number {
  return Number(ns) / 1e9;
}
