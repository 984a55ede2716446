// The validator's live dashboard (issue 13 §3): a self-contained page (dashboard/page.ts) and the
// JSON snapshot it polls about once a second.
//
// Contract:
// - `GET /dashboard` serves the page (HTML with its script and styles inline, nothing fetched from
//   elsewhere; a Content-Security-Policy says so to the browser). `GET /api/v1/dashboard/snapshot`
//   answers one snapshot of this validator, snake_case JSON like the rest of the API: status (view,
//   primary, mode, heights), process and consensus health, the consensus summary, metric counters,
//   the round-latency histogram (since start and over the last minute), a history of committed
//   height / throughput / latency (one point per sample), recent view changes and slash events
//   with their causes, recent evidence, and the crypto backend. Query: `history`, `events`,
//   `evidence` (bounded counts); anything else is a 400 in the API's error shape.
// - Every figure comes from the running node: the NodeApiPort and the node's prom-client metrics
//   (the same series /metrics exports). Rates are computed here from successive samples of the
//   cumulative counters, so a page opened late still sees the last minutes.
// - Bounded: the sampler keeps at most DASHBOARD_HISTORY_MAX samples (one per sampleMs); the
//   event and evidence lists are bounded by the node (NodeService) and by the query maxima.
// - The sampler is a timer that does not hold the process open and stops when the app closes.

import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { NodeMetrics } from '../metrics/metrics.js';
import type { ConsensusEventInfo, ConsensusMetricsSummary, EvidenceInfo, HealthReport, NodeApiPort, NodeStatus } from './port.js';
import { dashboardHtml, type DashboardMode } from './dashboard/page.js';
import { toSnake } from './server.js';

/** One sample a second: enough for a live chart, negligible next to consensus work. */
export const DASHBOARD_SAMPLE_MS = 1000;
/** Samples kept (10 minutes at one a second). */
export const DASHBOARD_HISTORY_MAX = 600;
/** The window of the "recent" latency histogram, in samples. */
export const DASHBOARD_LATENCY_WINDOW_SAMPLES = 60;
export const DASHBOARD_EVENTS_MAX = 256;
export const DASHBOARD_EVIDENCE_MAX = 100;

/** The query every dashboard JSON route accepts (the cluster aggregator passes it on). */
export const DASHBOARD_QUERY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    history: { type: 'integer', minimum: 0, maximum: DASHBOARD_HISTORY_MAX, default: 300, description: 'history points (one per sample)' },
    events: { type: 'integer', minimum: 0, maximum: DASHBOARD_EVENTS_MAX, default: 50, description: 'recent consensus events' },
    evidence: { type: 'integer', minimum: 0, maximum: DASHBOARD_EVIDENCE_MAX, default: 20, description: 'recent evidence items' },
  },
} as const;

export interface DashboardQuery {
  readonly history: number;
  readonly events: number;
  readonly evidence: number;
}

/** The metric the latency histogram is read from. */
export const DASHBOARD_LATENCY_METRIC = 'triple_consensus_round_duration_seconds';

interface Sample {
  readonly t: number;
  readonly height: number;
  readonly view: number;
  readonly requests: number;
  readonly rounds: number;
  /** Cumulative round-duration histogram at t: count per `le` bucket (last = +Inf), count, sum. */
  readonly buckets: readonly number[] | null;
  readonly latencyCount: number;
  readonly latencySumSeconds: number;
}

/** One point of the history: the state at `t` and the rates over the interval before it. */
export interface HistoryPoint {
  readonly t: number;
  readonly height: number;
  readonly view: number;
  readonly requestsCommitted: number;
  readonly requestsPerSecond: number;
  readonly roundsPerSecond: number;
  /** Mean round latency over the interval; absent when no round committed in it. */
  readonly latencyMeanMs?: number;
}

export interface LatencyHistogram {
  readonly metric: string;
  /** Upper bounds of the finite buckets, seconds; counts have one more entry (above the last). */
  readonly bucketsLeSeconds: readonly number[];
  /** Rounds per bucket (not cumulative) since the validator started. */
  readonly countsTotal: readonly number[];
  /** Rounds per bucket over the last `recentWindowSeconds` (from the sampler's history). */
  readonly countsRecent: readonly number[];
  readonly recentWindowSeconds: number;
  readonly count: number;
  readonly sumSeconds: number;
}

export interface DashboardCounters {
  readonly requestsCommitted: number;
  readonly roundsCommitted: number;
  readonly roundsFailed: number;
  readonly viewChanges: number;
  /** By replaced primary. */
  readonly leaderReplacements: Readonly<Record<string, number>>;
  /** By kind (equivocation, bad_signature, invalid_message, ...). */
  readonly byzantineFaults: Readonly<Record<string, number>>;
  readonly signaturesValid: number;
  readonly signaturesInvalid: number;
  readonly linksUp: number;
  readonly transactionsAccepted: number;
  readonly transactionsRejected: number;
  /** By reason. */
  readonly framesRejected: Readonly<Record<string, number>>;
  readonly persistCount: number;
  readonly persistMeanMs: number;
}

export interface DashboardSnapshot {
  readonly validatorId: string;
  readonly takenAt: number;
  readonly protocol: string;
  readonly cryptoBackend: string | null;
  readonly verify: string;
  readonly sampleIntervalMs: number;
  readonly status: NodeStatus;
  readonly health: HealthReport;
  readonly consensusHealth: HealthReport;
  readonly summary: ConsensusMetricsSummary;
  /** null when the node runs without metrics. */
  readonly counters: DashboardCounters | null;
  readonly latency: LatencyHistogram | null;
  readonly history: readonly HistoryPoint[];
  readonly events: readonly ConsensusEventInfo[];
  /** Evidence without the signed messages (GET /api/v1/evidence has them). */
  readonly evidence: readonly Omit<EvidenceInfo, 'messages'>[];
}

type MetricLike = { get(): Promise<{ values: ReadonlyArray<{ value: number; labels: Readonly<Record<string, string | number | undefined>>; metricName?: string }> }> };

/** Sum of a metric's values, optionally only those whose metricName is `name`. */
async function total(m: MetricLike, name?: string): Promise<number> {
  const { values } = await m.get();
  let s = 0;
  for (const v of values) if (name === undefined || v.metricName === name) s += v.value;
  return s;
}

/** A labelled metric's values summed per value of `label`. */
async function byLabel(m: MetricLike, label: string): Promise<Record<string, number>> {
  const { values } = await m.get();
  const out: Record<string, number> = {};
  for (const v of values) {
    const k = String(v.labels[label] ?? '');
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

/** The round-duration histogram: non-cumulative count per bucket (last = above every bound), count, sum. */
async function readHistogram(metrics: NodeMetrics): Promise<{ le: number[]; counts: number[]; count: number; sum: number }> {
  const { values } = await (metrics.roundDuration as unknown as MetricLike).get();
  const cumulative: Array<{ le: number; n: number }> = [];
  let count = 0;
  let sum = 0;
  for (const v of values) {
    if (v.metricName?.endsWith('_bucket')) {
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      cumulative.push({ le, n: v.value });
    } else if (v.metricName?.endsWith('_count')) count = v.value;
    else if (v.metricName?.endsWith('_sum')) sum = v.value;
  }
  cumulative.sort((a, b) => a.le - b.le);
  const counts = cumulative.map((b, i) => b.n - (i > 0 ? cumulative[i - 1]!.n : 0));
  return { le: cumulative.filter((b) => Number.isFinite(b.le)).map((b) => b.le), counts, count, sum };
}

/** Samples the node every `sampleMs` into a bounded ring; builds snapshots. */
export class DashboardSampler {
  private readonly ring: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;
  private bucketBounds: readonly number[] = [];

  constructor(
    private readonly node: NodeApiPort,
    private readonly metrics: NodeMetrics | undefined,
    readonly sampleMs = DASHBOARD_SAMPLE_MS,
    private readonly historyMax = DASHBOARD_HISTORY_MAX,
  ) {
    if (!(sampleMs > 0)) throw new Error(`dashboard sampleMs must be > 0, got ${sampleMs}`);
    if (!(historyMax >= 2)) throw new Error(`dashboard historyMax must be >= 2, got ${historyMax}`);
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.sample(), this.sampleMs);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  get samples(): number {
    return this.ring.length;
  }

  /** Takes one sample now (the timer calls it; tests may too). A node not ready yet is skipped. */
  async sample(now = Date.now()): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const st = this.node.status();
      const sum = this.node.consensusMetrics();
      const h = this.metrics ? await readHistogram(this.metrics) : null;
      if (h) this.bucketBounds = h.le;
      this.ring.push({
        t: now,
        height: st.lastCommittedSequence,
        view: st.view,
        requests: sum.transactionsCommitted,
        rounds: sum.committedRounds,
        buckets: h ? h.counts : null,
        latencyCount: h ? h.count : 0,
        latencySumSeconds: h ? h.sum : 0,
      });
      if (this.ring.length > this.historyMax) this.ring.shift();
    } catch {
      // Not attached to a running replica yet (the API is created before the node starts).
    } finally {
      this.sampling = false;
    }
  }

  /** The last `limit` points, each with the rates over the interval before it. */
  history(limit: number): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    const from = Math.max(1, this.ring.length - limit);
    for (let i = from; i < this.ring.length; i++) {
      const a = this.ring[i - 1]!;
      const b = this.ring[i]!;
      const dt = (b.t - a.t) / 1000;
      if (!(dt > 0)) continue;
      const dRounds = b.latencyCount - a.latencyCount;
      out.push({
        t: b.t,
        height: b.height,
        view: b.view,
        requestsCommitted: b.requests,
        requestsPerSecond: Math.max(0, b.requests - a.requests) / dt,
        roundsPerSecond: Math.max(0, b.rounds - a.rounds) / dt,
        ...(dRounds > 0 ? { latencyMeanMs: ((b.latencySumSeconds - a.latencySumSeconds) / dRounds) * 1000 } : {}),
      });
    }
    return out;
  }

  /** Per-bucket counts over the last `windowSamples` samples (newest minus the one that far back). */
  private recentCounts(current: readonly number[], windowSamples: number): { counts: number[]; seconds: number } {
    const last = this.ring[this.ring.length - 1];
    const first = this.ring[Math.max(0, this.ring.length - 1 - windowSamples)];
    if (!last || !first || !first.buckets || first === last || first.buckets.length !== current.length) {
      return { counts: current.map(() => 0), seconds: 0 };
    }
    return { counts: current.map((n, i) => Math.max(0, n - first.buckets![i]!)), seconds: (last.t - first.t) / 1000 };
  }

  async snapshot(q: DashboardQuery): Promise<DashboardSnapshot> {
    const node = this.node;
    const status = node.status();
    const summary = node.consensusMetrics();
    const m = this.metrics;
    let counters: DashboardCounters | null = null;
    let latency: LatencyHistogram | null = null;
    if (m) {
      const rounds = await byLabel(m.roundsTotal as unknown as MetricLike, 'outcome');
      const sigs = await byLabel(m.signaturesVerified as unknown as MetricLike, 'result');
      const submitted = await byLabel(m.transactionsSubmitted as unknown as MetricLike, 'result');
      const persistCount = await total(m.persistLatency as unknown as MetricLike, 'bpci_storage_persist_seconds_count');
      const persistSum = await total(m.persistLatency as unknown as MetricLike, 'bpci_storage_persist_seconds_sum');
      counters = {
        requestsCommitted: await total(m.requestsCommitted as unknown as MetricLike),
        roundsCommitted: rounds.committed ?? 0,
        roundsFailed: rounds.failed ?? 0,
        viewChanges: await total(m.viewChanges as unknown as MetricLike),
        leaderReplacements: await byLabel(m.leaderReplacements as unknown as MetricLike, 'primary'),
        byzantineFaults: await byLabel(m.byzantineFaults as unknown as MetricLike, 'kind'),
        signaturesValid: sigs.valid ?? 0,
        signaturesInvalid: sigs.invalid ?? 0,
        linksUp: await total(m.linksUp as unknown as MetricLike),
        transactionsAccepted: submitted.accepted ?? 0,
        transactionsRejected: submitted.rejected ?? 0,
        framesRejected: await byLabel(m.framesRejected as unknown as MetricLike, 'reason'),
        persistCount,
        persistMeanMs: persistCount > 0 ? (persistSum / persistCount) * 1000 : 0,
      };
      const h = await readHistogram(m);
      const recent = this.recentCounts(h.counts, DASHBOARD_LATENCY_WINDOW_SAMPLES);
      latency = {
        metric: DASHBOARD_LATENCY_METRIC,
        bucketsLeSeconds: h.le.length > 0 ? h.le : this.bucketBounds,
        countsTotal: h.counts,
        countsRecent: recent.counts,
        recentWindowSeconds: recent.seconds,
        count: h.count,
        sumSeconds: h.sum,
      };
    }
    return {
      validatorId: status.validatorId,
      takenAt: Date.now(),
      protocol: status.protocol,
      cryptoBackend: node.cryptoBackend?.() ?? null,
      verify: status.verify,
      sampleIntervalMs: this.sampleMs,
      status,
      health: node.health(),
      consensusHealth: node.consensusHealth(),
      summary,
      counters,
      latency,
      history: this.history(q.history),
      events: q.events > 0 ? (node.consensusEvents?.(q.events) ?? []) : [],
      evidence: q.evidence > 0 ? node.evidence(q.evidence).map(({ messages: _m, ...rest }) => rest) : [],
    };
  }
}

/** The page with the headers every dashboard page is served with (no external anything). */
export function sendDashboardPage(reply: { header(k: string, v: string): unknown; type(t: string): unknown; send(b: string): unknown }, mode: DashboardMode): unknown {
  const { html, scriptSha256 } = dashboardHtml(mode);
  reply.header('cache-control', 'no-store');
  // Only the inline script and styles of this page run, and it may talk only to where it came from.
  reply.header(
    'content-security-policy',
    `default-src 'none'; script-src 'sha256-${scriptSha256}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'`,
  );
  reply.type('text/html; charset=utf-8');
  return reply.send(html);
}

/** sha256 of a script, base64, as a CSP source wants it. */
export function cspHash(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('base64');
}

export interface DashboardOptions {
  readonly node: NodeApiPort;
  readonly metrics?: NodeMetrics;
  readonly sampleMs?: number;
}

/** Registers GET /dashboard and GET /api/v1/dashboard/snapshot on a validator's API; starts the sampler. */
export function registerDashboard(app: FastifyInstance, opts: DashboardOptions): DashboardSampler {
  const sampler = new DashboardSampler(opts.node, opts.metrics, opts.sampleMs ?? DASHBOARD_SAMPLE_MS);
  sampler.start();
  app.addHook('onClose', async () => sampler.stop());
  app.get('/dashboard', async (_req, reply) => sendDashboardPage(reply, 'node'));
  app.get('/api/v1/dashboard/snapshot', { schema: { querystring: DASHBOARD_QUERY_SCHEMA } }, async (req) => toSnake(await sampler.snapshot(req.query as DashboardQuery)));
  return sampler;
}
