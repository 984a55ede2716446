// The multi-process consensus benchmark (`npm run bench:consensus`, `bpci bench consensus`).
//
// For every (validators n, durability, verify) it writes a fresh local cluster under
// <root>/.bpci/bench/, starts one `bpci node start` process per validator on loopback TCP
// (cli/cluster.ts), and runs closed-loop client scenarios against it in this process, one client
// count after the other: one client gives latency percentiles, many clients give throughput.
// Every client sends each request to every validator and accepts a result on f+1 matching
// Ed25519-signed replies it verified itself (client/client.ts), so the figures are end to end.
// After each scenario every validator's committed log is compared through the HTTP API
// (checkSameLog) and the outcome is recorded with the scenario.
//
// Contract: results come only from what was measured in this run; a scenario whose log check
// fails or whose requests fail is still reported, with that fact in the row. Nothing here
// changes the validators' configuration beyond durability and verify (the defaults of
// config/local-cluster.ts), so the figures describe the node as a user would start it.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchConsensusOptions, CliIo } from '../cli/program.js';
import { runLocalCluster } from '../cli/cluster.js';
import type { LocalClusterMember } from '../config/local-cluster.js';
import { selectBackend } from '../crypto/select.js';
import { BLOCK_INDEX_MAX } from './validator-node.js';
import { checkSameLog, runClosedLoop, summarize } from './workload.js';

export type Durability = 'durable' | 'memory';
export type VerifyMode = 'lazy' | 'eager';

export interface ConsensusBenchOptions extends Omit<BenchConsensusOptions, 'json' | 'out'> {
  /** Repository root: clusters go to <root>/.bpci/bench/. */
  readonly root: string;
  /** Results directory (JSON, markdown, SVG); null: write nothing. */
  readonly out: string | null;
  /** File name stem of the results (default "consensus"). */
  readonly stem?: string;
  /** The command line recorded in meta. */
  readonly command: string;
  /** Start each validator under `node --cpu-prof`; profiles land in <cluster dir>/prof. */
  readonly cpuProf?: boolean;
  /** Extra environment for the validator processes (e.g. BPCI_POOL_THREADS). */
  readonly nodeEnv?: Readonly<Record<string, string>>;
  /**
   * The validator builds to compare, each run on the same scenarios in the same invocation
   * (default: this one alone). `bpciJs` is a checkout's packages/node/dist/cli/bpci.js.
   */
  readonly builds?: readonly BenchBuild[];
  /** Repeat every (cluster, build) this many times, alternating the builds' order (default 1). */
  readonly rounds?: number;
  readonly log?: (line: string) => void;
}

export interface BenchBuild {
  readonly label: string;
  readonly bpciJs: string;
}

/**
 * The clients of a build are that build's own (its packages/node/dist/runtime/workload.js): a
 * client of this build may not speak an older build's wire format (issue 10 signed requests).
 */
async function closedLoopOf(build: BenchBuild): Promise<typeof runClosedLoop> {
  if (path.resolve(build.bpciJs) === path.resolve(bpciJs())) return runClosedLoop;
  const workload = path.resolve(path.dirname(build.bpciJs), '../runtime/workload.js');
  const m = (await import(pathToFileURL(workload).href)) as { runClosedLoop?: typeof runClosedLoop };
  if (typeof m.runClosedLoop !== 'function') throw new Error(`${workload} has no runClosedLoop`);
  return m.runClosedLoop;
}

export interface ScenarioResult {
  readonly name: string;
  /** Which build's validators ran it (BenchBuild.label) and in which round (1-based). */
  readonly build: string;
  readonly round: number;
  readonly validators: number;
  readonly clients: number;
  readonly durability: Durability;
  readonly verify: VerifyMode;
  /** Measured (accepted) requests, after warm-up. */
  readonly requests: number;
  readonly warmup: number;
  readonly failures: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly mean_ms: number;
  readonly max_ms: number;
  readonly throughput_rps: number;
  readonly seconds: number;
  /** Committed batches at the end of the scenario (cumulative for the cluster). */
  readonly committed_height: number;
  /** Mean requests per committed batch during the scenario (measured + warm-up). */
  readonly batch_mean: number;
  /** Mean time of one group commit (durable write), ms, over every validator; null in memory mode. */
  readonly persist_ms_mean: number | null;
  /** Group commits per validator per committed batch. */
  readonly persists_per_batch: number;
  /**
   * Synchronous durable writes a signed message waited for, per validator per committed batch:
   * safety-log group commits on the critical path (bpci_storage_safety_log_syncs_total
   * {path="critical"}); for a build without a safety log, its LMDB group commits (every one
   * gated its votes then). null in memory mode.
   */
  readonly critical_syncs_per_batch: number | null;
  /** Mean safety-log group commit, ms (null without one). */
  readonly safety_sync_ms_mean: number | null;
  /** Mean per-phase latency at the validators (bpci_phase_latency_seconds), ms, by phase. */
  readonly phase_ms_mean: Readonly<Record<string, number>>;
  readonly same_log: boolean;
  /** Heights compared: same_log_from..committed_height (from > 1 only in memory mode, see checkSameLog). */
  readonly same_log_from: number;
  readonly same_log_detail: string | null;
  /** Load average (1 min) when the scenario ended: the machine is shared. */
  readonly loadavg_1m: number;
}

export interface ConsensusBenchResult {
  readonly meta: {
    readonly date: string;
    readonly command: string;
    readonly node: string;
    readonly platform: string;
    readonly machine: { readonly cpu: string; readonly cores: number; readonly memory_gib: number };
    readonly crypto_backend: string;
    readonly loadavg_start: readonly number[];
    readonly loadavg_end: readonly number[];
    readonly seconds: number;
    readonly notes: readonly string[];
  };
  readonly scenarios: ScenarioResult[];
  /** Single-client latencies by scenario name (for the histogram; not written to JSON). */
  readonly latencies: Map<string, Float64Array>;
}

/** Reference figures from the issue (BFT-SMaRt measured on this machine kind; the seed's claim). */
export const REFERENCES = {
  bftSmart: { p50_ms: 2.56, p99_ms: 5.3, throughput_rps_32: 3000, label: 'BFT-SMaRt (Java, 4 replicas, loopback)' },
  seed: { p50_ms: 0.8, p99_ms: 3.2, throughput_rps: 12_500, label: 'seed document claim' },
  target: { p50_ms: 0.4, p99_ms: 1.5, throughput_rps: 50_000, label: 'target (issue 4)' },
} as const;

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** A base port such that base+i, base+500+i (client) and base+1000+i (API) are free for i < n. */
async function freeBase(n: number, host: string, from: number): Promise<number> {
  for (let base = from; base < 60_000; base += 53) {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) ports.push(base + i, base + 500 + i, base + 1000 + i);
    if ((await Promise.all(ports.map((p) => portFree(p, host)))).every(Boolean)) return base;
  }
  throw new Error('no free loopback ports found');
}

function bpciJs(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'bpci.js');
}

async function committedHeight(apiUrl: string): Promise<number> {
  const r = await fetch(`${apiUrl}/api/v1/consensus/ibft/state`);
  const j = (await r.json()) as { last_committed_sequence?: number };
  return j.last_committed_sequence ?? 0;
}

/** The counters and histogram sums a scenario reads from every validator's /metrics, before and after. */
interface MetricsSnapshot {
  /** bpci_requests_committed_total at validator 0. */
  readonly requestsCommitted: number | null;
  /** Summed over validators: bpci_storage_persist_seconds sum and count. */
  readonly persistSeconds: number;
  readonly persists: number;
  /** Summed over validators: safety-log syncs on the critical path, and the sync histogram (null: no safety log). */
  readonly criticalSyncs: number | null;
  readonly safetySyncSeconds: number;
  readonly safetySyncs: number;
  /** Summed over validators, by phase label: bpci_phase_latency_seconds sum and count. */
  readonly phaseSeconds: Map<string, number>;
  readonly phaseCount: Map<string, number>;
}

function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

async function snapshot(apiUrls: readonly string[]): Promise<MetricsSnapshot> {
  // Prometheus text from every validator; a name that is absent counts as 0 (or null for requests).
  const texts = await Promise.all(apiUrls.map(async (u) => (await fetch(`${u}/metrics`)).text().catch(() => '')));
  let persistSeconds = 0;
  let persists = 0;
  let criticalSyncs: number | null = null;
  let safetySyncSeconds = 0;
  let safetySyncs = 0;
  const phaseSeconds = new Map<string, number>();
  const phaseCount = new Map<string, number>();
  for (const t of texts) {
    persistSeconds += metricValue(t, 'bpci_storage_persist_seconds_sum') ?? 0;
    persists += metricValue(t, 'bpci_storage_persist_seconds_count') ?? 0;
    const crit = /^bpci_storage_safety_log_syncs_total\{path="critical"\}\s+([0-9.eE+-]+)$/m.exec(t);
    if (crit) criticalSyncs = (criticalSyncs ?? 0) + Number(crit[1]);
    safetySyncSeconds += metricValue(t, 'bpci_storage_safety_log_sync_seconds_sum') ?? 0;
    safetySyncs += metricValue(t, 'bpci_storage_safety_log_sync_seconds_count') ?? 0;
    // Per-phase histograms (label phase="..."), and the whole round (pre-prepare seen -> committed).
    for (const m of t.matchAll(/^(bpci_phase_latency_seconds|triple_consensus_round_duration_seconds)_(sum|count)(?:\{([^}]*)\})?\s+([0-9.eE+-]+)$/gm)) {
      const label = m[1] === 'triple_consensus_round_duration_seconds' ? 'round' : /phase="([^"]+)"/.exec(m[3] ?? '')?.[1];
      if (label === undefined) continue;
      const into = m[2] === 'sum' ? phaseSeconds : phaseCount;
      into.set(label, (into.get(label) ?? 0) + Number(m[4]));
    }
  }
  return {
    requestsCommitted: metricValue(texts[0] ?? '', 'bpci_requests_committed_total'),
    persistSeconds,
    persists,
    criticalSyncs,
    safetySyncSeconds,
    safetySyncs,
    phaseSeconds,
    phaseCount,
  };
}

/** Starts a cluster, runs fn once every validator is healthy, stops the cluster, returns fn's result. */
async function withCluster<T>(
  opts: { n: number; dir: string; base: number; durability: Durability; verify: VerifyMode; cpuProf: boolean; env: Readonly<Record<string, string>> | undefined; bpciJs: string },
  io: CliIo,
  fn: (members: readonly LocalClusterMember[]) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  const profDir = path.join(opts.dir, 'prof');
  if (opts.cpuProf) fs.mkdirSync(profDir, { recursive: true });
  const env = opts.env;
  const nodeArgv = (configFile: string): string[] => [
    process.execPath,
    ...(opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    opts.bpciJs,
    'node',
    'start',
    '--config',
    configFile,
  ];
  const saved: Record<string, string | undefined> = {};
  // runLocalCluster spawns with this process's environment: set the extras around the spawn.
  if (env) for (const [k, v] of Object.entries(env)) ((saved[k] = process.env[k]), (process.env[k] = v));
  try {
    await runLocalCluster(
      { validators: opts.n, dir: opts.dir, host: '127.0.0.1', basePort: opts.base, apiBasePort: opts.base + 1000, durability: opts.durability, verify: opts.verify },
      io,
      {
        signal: abort.signal,
        nodeArgv,
        readyTimeoutMs: 60_000,
        stopGraceMs: 10_000,
        onReady: (members) => {
          fn(members)
            .then(
              (value) => (outcome = { ok: true, value }),
              (error: unknown) => (outcome = { ok: false, error }),
            )
            .finally(() => abort.abort());
        },
      },
    );
  } finally {
    if (env) for (const [k, v] of Object.entries(saved)) (v === undefined ? delete process.env[k] : (process.env[k] = v));
  }
  if (outcome === undefined) throw new Error(`cluster in ${opts.dir} stopped before the benchmark finished; see ${path.join(opts.dir, 'logs')}`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function durabilityOf(o: { readonly durability: readonly Durability[] }): readonly Durability[] {
  return o.durability;
}

/** p50 / p99 of a 4 KiB write + fdatasync at increasing offsets of a fresh file in `dir` (µs). */
async function rawSyncMicros(dir: string, samples = 300): Promise<{ p50: number; p99: number; samples: number }> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `raw-sync-${process.pid}.bin`);
  const fh = await fs.promises.open(file, 'w');
  const buf = Buffer.alloc(4096, 0xa5);
  const t: number[] = [];
  try {
    for (let i = 0; i < samples + 20; i++) {
      const t0 = performance.now();
      await fh.write(buf, 0, buf.length, i * buf.length);
      await fh.datasync();
      if (i >= 20) t.push((performance.now() - t0) * 1000);
    }
  } finally {
    await fh.close();
    fs.rmSync(file, { force: true });
  }
  t.sort((a, b) => a - b);
  const q = (p: number): number => Math.round(t[Math.min(t.length - 1, Math.floor(p * t.length))]!);
  return { p50: q(0.5), p99: q(0.99), samples: t.length };
}

const median = (xs: readonly number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length === 0 ? NaN : v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

/**
 * Builds side by side: per scenario and build, the median over rounds of p50, p99 and
 * throughput, and each build's p50 and throughput as a ratio of the first build's (the one
 * listed first, usually this tree) in the same invocation.
 */
export function formatComparison(scenarios: readonly ScenarioResult[]): string {
  const builds = [...new Set(scenarios.map((s) => s.build))];
  if (builds.length < 2) return '';
  const lines = [
    '| scenario | build | rounds | p50 ms | p99 ms | req/s | critical syncs / batch | p50 / baseline | req/s / baseline |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const names = [...new Set(scenarios.map((s) => s.name))];
  const base = builds[builds.length - 1]!;
  for (const name of names) {
    const med = (b: string, f: (s: ScenarioResult) => number): number => median(scenarios.filter((s) => s.name === name && s.build === b).map(f));
    for (const b of builds) {
      const rs = scenarios.filter((s) => s.name === name && s.build === b);
      if (rs.length === 0) continue;
      const crit = rs.every((s) => s.critical_syncs_per_batch === null) ? '-' : fmt(med(b, (s) => s.critical_syncs_per_batch ?? NaN), 2);
      lines.push(
        `| ${name} | ${b} | ${rs.length} | ${fmt(med(b, (s) => s.p50_ms))} | ${fmt(med(b, (s) => s.p99_ms))} | ${Math.round(med(b, (s) => s.throughput_rps))} | ${crit} | ` +
          `${b === base ? '1.00x' : ratio(med(b, (s) => s.p50_ms), med(base, (s) => s.p50_ms))} | ${b === base ? '1.00x' : ratio(med(b, (s) => s.throughput_rps), med(base, (s) => s.throughput_rps))} |`,
      );
    }
  }
  return lines.join('\n');
}

export async function runConsensusBench(o: ConsensusBenchOptions, io: CliIo): Promise<ConsensusBenchResult> {
  const log = o.log ?? ((l: string) => io.err(l));
  const t0 = Date.now();
  const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const sel = await selectBackend({ log: false });
  const scenarios: ScenarioResult[] = [];
  const latencies = new Map<string, Float64Array>();
  const notes: string[] = [];
  const quietIo: CliIo = { out: () => {}, err: (t) => log(`[cluster] ${t}`), progress: false };
  let portFrom = 21_000;
  const builds = o.builds ?? [{ label: 'this', bpciJs: bpciJs() }];
  const rounds = o.rounds ?? 1;
  if (durabilityOf(o).includes('durable')) {
    const raw = await rawSyncMicros(path.join(o.root, '.bpci', 'bench'));
    notes.push(`raw 4 KiB write + fdatasync on the bench's disk, this invocation: p50 ${raw.p50} µs, p99 ${raw.p99} µs (${raw.samples} samples); the durable p50 target on this host is that + 0.4 ms = ${(raw.p50 / 1000 + 0.4).toFixed(3)} ms`);
    log(`[bench] ${notes[notes.length - 1]}`);
  }
  for (const n of o.validators) {
    for (const durability of o.durability) {
      for (const verify of o.verify) {
       for (let round = 1; round <= rounds; round++) {
        // Alternate which build goes first, so drift in the machine's load favours none.
        const order = round % 2 === 1 ? builds : [...builds].reverse();
        for (const build of order) {
        const tag = builds.length > 1 ? `-${build.label.replace(/[^A-Za-z0-9_.-]/g, '_')}` : '';
        const dir = path.join(o.root, '.bpci', 'bench', `n${n}-${durability}-${verify}${tag}`);
        fs.rmSync(dir, { recursive: true, force: true });
        const base = await freeBase(n, '127.0.0.1', portFrom);
        portFrom = base + 53;
        log(`[bench] n=${n} ${durability} ${verify} build ${build.label} round ${round}/${rounds}: starting ${n} validator processes (ports ${base}+, data ${path.relative(o.root, dir)})`);
        const rows = await withCluster({ n, dir, base, durability, verify, cpuProf: o.cpuProf ?? false, env: o.nodeEnv, bpciJs: build.bpciJs }, quietIo, async (members) => {
          const validators = members.map((m) => {
            const v = m.config.validators[m.index]!;
            if (!v.client) throw new Error(`${m.validatorId} has no client endpoint`);
            return { host: v.client.host, port: v.client.port, publicKey: v.publicKey, stake: v.stake };
          });
          const apiUrls = members.map((m) => m.apiUrl);
          const closedLoop = await closedLoopOf(build);
          const out: ScenarioResult[] = [];
          for (const clients of o.clients) {
            const name = `n${n}-c${clients}-${durability}-${verify}`;
            const perClient = Math.max(1, Math.ceil(o.requests / clients));
            const warmPer = o.warmup > 0 ? Math.max(1, Math.ceil(o.warmup / clients)) : 0;
            const h0 = await committedHeight(apiUrls[0]!);
            const m0 = await snapshot(apiUrls);
            const res = await closedLoop({
              validators,
              crypto: sel.backend,
              clients,
              requestsPerClient: perClient,
              warmupPerClient: warmPer,
              clientPrefix: `bench-${name}-${Date.now().toString(36)}`,
            });
            const s = summarize(res.latenciesMs);
            // Memory-mode validators keep only the last BLOCK_INDEX_MAX blocks (no store): compare
            // that window (minus a margin for blocks committed while the check runs).
            const check = await checkSameLog(apiUrls, durability === 'memory' ? { retainedBlocks: BLOCK_INDEX_MAX - 64 } : {});
            const m1 = await snapshot(apiUrls);
            const batches = Math.max(1, check.height - h0);
            const reqs =
              m0.requestsCommitted !== null && m1.requestsCommitted !== null ? m1.requestsCommitted - m0.requestsCommitted : clients * (perClient + warmPer);
            const persists = m1.persists - m0.persists;
            const phases: Record<string, number> = {};
            for (const [ph, sec] of m1.phaseSeconds) {
              const cnt = (m1.phaseCount.get(ph) ?? 0) - (m0.phaseCount.get(ph) ?? 0);
              if (cnt > 0) phases[ph] = round3(((sec - (m0.phaseSeconds.get(ph) ?? 0)) / cnt) * 1000);
            }
            const critical =
              durability === 'memory' ? null : m1.criticalSyncs !== null ? (m1.criticalSyncs - (m0.criticalSyncs ?? 0)) / n / batches : persists / n / batches;
            const safetySyncs = m1.safetySyncs - m0.safetySyncs;
            const row: ScenarioResult = {
              name,
              build: build.label,
              round,
              validators: n,
              clients,
              durability,
              verify,
              requests: res.requests,
              warmup: clients * warmPer,
              failures: res.failures,
              p50_ms: round3(s.p50),
              p90_ms: round3(s.p90),
              p99_ms: round3(s.p99),
              mean_ms: round3(s.mean),
              max_ms: round3(s.max),
              throughput_rps: Math.round(res.throughputRps),
              seconds: Math.round(res.seconds * 100) / 100,
              committed_height: check.height,
              batch_mean: Math.round((reqs / batches) * 10) / 10,
              persist_ms_mean: persists > 0 ? round3(((m1.persistSeconds - m0.persistSeconds) / persists) * 1000) : null,
              persists_per_batch: round3(persists / n / batches),
              critical_syncs_per_batch: critical === null ? null : round3(critical),
              safety_sync_ms_mean: safetySyncs > 0 ? round3(((m1.safetySyncSeconds - m0.safetySyncSeconds) / safetySyncs) * 1000) : null,
              phase_ms_mean: phases,
              same_log: check.mismatch === null && check.height > 0,
              same_log_from: check.fromHeight,
              same_log_detail: check.mismatch,
              loadavg_1m: Math.round(os.loadavg()[0]! * 100) / 100,
            };
            if (clients === 1) latencies.set(builds.length > 1 ? `${name} (${build.label})` : name, Float64Array.from(res.latenciesMs));
            log(
              `[bench] ${name} [${build.label} r${round}]: ${row.requests} req, p50 ${row.p50_ms} ms, p90 ${row.p90_ms} ms, p99 ${row.p99_ms} ms, ` +
                `${row.throughput_rps} req/s, batch ${row.batch_mean}, persist ${row.persist_ms_mean ?? '-'} ms x ${row.persists_per_batch}/batch, critical syncs ${row.critical_syncs_per_batch ?? '-'}/batch, ` +
                `phases ${JSON.stringify(row.phase_ms_mean)}, same log: ${row.same_log ? 'yes' : `NO (${row.same_log_detail})`}, load ${row.loadavg_1m}`,
            );
            out.push(row);
          }
          return out;
        });
        scenarios.push(...rows);
        }
       }
      }
    }
  }
  if (sel.name !== 'native') notes.push(`crypto backend ${sel.name}: ${sel.reason}`);
  const result: ConsensusBenchResult = {
    meta: {
      date: new Date().toISOString(),
      command: o.command,
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memory_gib: Math.round(os.totalmem() / 2 ** 30) },
      crypto_backend: sel.name,
      loadavg_start: loadStart,
      loadavg_end: os.loadavg().map((x) => Math.round(x * 100) / 100),
      seconds: Math.round((Date.now() - t0) / 1000),
      notes,
    },
    scenarios,
    latencies,
  };
  if (o.out !== null) writeResults(result, o.out, o.stem ?? 'consensus');
  return result;
}

export function writeResults(r: ConsensusBenchResult, outDir: string, stem: string): void {
  fs.mkdirSync(outDir, { recursive: true });
  const { latencies: _omit, ...json } = r;
  fs.writeFileSync(path.join(outDir, `${stem}.json`), `${JSON.stringify(json, null, 2)}\n`);
  fs.writeFileSync(path.join(outDir, `${stem}.md`), formatMarkdown(r, `${stem}.svg`));
  fs.writeFileSync(path.join(outDir, `${stem}.svg`), latencySvg([...r.latencies].map(([name, l]) => ({ name, latenciesMs: l }))));
}

const fmt = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
/** ours / reference, as "0.42x". */
const ratio = (ours: number, ref: number): string => (Number.isFinite(ours) && ours > 0 ? `${(ours / ref).toFixed(2)}x` : '-');

export function formatTable(scenarios: readonly ScenarioResult[]): string {
  const head = '| scenario | build | n | clients | durability | verify | requests | p50 ms | p90 ms | p99 ms | throughput req/s | batch | round ms | persist ms x per batch | critical syncs / batch | safety sync ms | same log | load 1m |';
  const sep = '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = scenarios.map(
    (s) =>
      `| ${s.name} | ${s.build}${s.round > 1 ? ` r${s.round}` : ''} | ${s.validators} | ${s.clients} | ${s.durability} | ${s.verify} | ${s.requests}${s.failures ? ` (${s.failures} failed)` : ''} | ` +
      `${fmt(s.p50_ms)} | ${fmt(s.p90_ms)} | ${fmt(s.p99_ms)} | ${s.throughput_rps} | ${s.batch_mean} | ${fmt(s.phase_ms_mean['round'] ?? NaN, 2)} | ` +
      `${s.persist_ms_mean === null ? '-' : `${fmt(s.persist_ms_mean, 2)} x ${fmt(s.persists_per_batch, 1)}`} | ` +
      `${s.critical_syncs_per_batch === null ? '-' : fmt(s.critical_syncs_per_batch, 2)} | ${s.safety_sync_ms_mean === null ? '-' : fmt(s.safety_sync_ms_mean, 2)} | ${s.same_log ? `yes (${s.same_log_from}..${s.committed_height})` : `NO: ${s.same_log_detail}`} | ${s.loadavg_1m} |`,
  );
  return [head, sep, ...rows].join('\n');
}

export function formatReferences(all: readonly ScenarioResult[]): string {
  // The first build listed is the one measured against the references (this tree).
  const scenarios = all.filter((s) => s.build === all[0]?.build && s.round === 1);
  const single = scenarios.find((s) => s.validators === 4 && s.clients === 1 && s.durability === 'durable' && s.verify === 'lazy');
  const c32 = scenarios.find((s) => s.validators === 4 && s.clients === 32 && s.durability === 'durable' && s.verify === 'lazy');
  const best = scenarios.filter((s) => s.validators === 4).reduce<ScenarioResult | undefined>((b, s) => (b === undefined || s.throughput_rps > b.throughput_rps ? s : b), undefined);
  const lines = [
    '| figure | ours | BFT-SMaRt | ours / BFT-SMaRt | seed claim | ours / seed | target | met |',
    '|---|---|---|---|---|---|---|---|',
  ];
  if (single) {
    lines.push(
      `| p50 ms, n=4, 1 client, durable, lazy | ${fmt(single.p50_ms)} | ${REFERENCES.bftSmart.p50_ms} | ${ratio(single.p50_ms, REFERENCES.bftSmart.p50_ms)} | ${REFERENCES.seed.p50_ms} | ${ratio(single.p50_ms, REFERENCES.seed.p50_ms)} | <= ${REFERENCES.target.p50_ms} | ${single.p50_ms <= REFERENCES.target.p50_ms ? 'yes' : 'no'} |`,
      `| p99 ms, n=4, 1 client, durable, lazy | ${fmt(single.p99_ms)} | ${REFERENCES.bftSmart.p99_ms} | ${ratio(single.p99_ms, REFERENCES.bftSmart.p99_ms)} | ${REFERENCES.seed.p99_ms} | ${ratio(single.p99_ms, REFERENCES.seed.p99_ms)} | <= ${REFERENCES.target.p99_ms} | ${single.p99_ms <= REFERENCES.target.p99_ms ? 'yes' : 'no'} |`,
    );
  }
  if (c32) {
    lines.push(
      `| req/s, n=4, 32 clients, durable, lazy | ${c32.throughput_rps} | ${REFERENCES.bftSmart.throughput_rps_32} | ${ratio(c32.throughput_rps, REFERENCES.bftSmart.throughput_rps_32)} | - | - | - | - |`,
    );
  }
  if (best) {
    lines.push(
      `| best req/s, n=4 (${best.name}) | ${best.throughput_rps} | - | - | ${REFERENCES.seed.throughput_rps} | ${ratio(best.throughput_rps, REFERENCES.seed.throughput_rps)} | >= ${REFERENCES.target.throughput_rps} | ${best.throughput_rps >= REFERENCES.target.throughput_rps ? 'yes' : 'no'} |`,
    );
  }
  return lines.join('\n');
}

export function formatMarkdown(r: ConsensusBenchResult, svgName: string): string {
  const m = r.meta;
  return [
    `# Consensus, multi-process (${m.date})`,
    '',
    `Each validator is a separate \`bpci node start\` process on loopback TCP (authenticated links, BLAKE3 MACs), ` +
      `durable: the safety records (votes, view changes, prepared certificates) in a write-ahead log and the blocks in LMDB, ` +
      `each with group commit; memory: nothing written. ${m.machine.cpu}, ${m.machine.cores} cores, ${m.node}, ` +
      `crypto backend **${m.crypto_backend}**. The machine was shared: load average ${m.loadavg_start.join(' / ')} at start, ` +
      `${m.loadavg_end.join(' / ')} at the end (1/5/15 min); clients run in the benchmark process on the same cores.`,
    '',
    'Latency is per request, from sending it to every validator until the client holds f+1 matching replies whose ' +
      'Ed25519 signatures it verified itself; percentiles are over the measured requests after warm-up. Throughput is ' +
      'accepted requests per second of wall time with that many closed-loop clients (one request in flight each). ' +
      '"batch" is the mean number of requests per committed batch; "round ms" the mean time at a validator from seeing a ' +
      'batch\'s pre-prepare to committing it; "persist ms x per batch" the mean duration of one group commit (LMDB write ' +
      'plus fsync) and how many each validator made per committed batch; "critical syncs / batch" how many durable writes ' +
      'per validator per committed batch a signed message had to wait for (safety-log group commits on the critical path; ' +
      'for a build without a safety log, its LMDB group commits), and "safety sync ms" the mean safety-log group commit ' +
      '(all from the validators\' /metrics, averaged over validators). "same log" is the check, after each scenario, that ' +
      'every validator holds the same committed blocks (digest and Merkle root per height, via the HTTP API) over the ' +
      'heights shown; memory-mode validators have no store and serve only their last blocks, so there the check covers ' +
      'that window (plus equal committed heights).',
    '',
    formatTable(r.scenarios),
    '',
    ...(formatComparison(r.scenarios) !== ''
      ? [
          '## Builds side by side',
          '',
          'Medians over rounds; the ratios are against the last build listed (the baseline), run in the same invocation on the same machine, the builds alternating.',
          '',
          formatComparison(r.scenarios),
          '',
        ]
      : []),
    '## Against the references',
    '',
    'Latency ratios below 1 and throughput ratios above 1 favour bpci. BFT-SMaRt figures are the issue\'s anchors ' +
      '(Java, 4 replicas on loopback, this machine kind), not re-measured here; the seed figures are a claim.',
    '',
    formatReferences(r.scenarios),
    '',
    `Latency histogram of the single-client scenarios: [${svgName}](${svgName}).`,
    '',
    ...(m.notes.length ? ['Notes:', '', ...m.notes.map((n) => `- ${n}`), ''] : []),
    `Generated by \`${m.command}\` in ${m.seconds} s.`,
    '',
  ].join('\n');
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A self-contained SVG: per series, the share of requests per latency bin, with log-spaced bins
 * between the smallest 0.1st and the largest 99.9th percentile of all series (the far tail is
 * folded into the last bin so the plot stays readable), plus reference lines.
 */
export function latencySvg(series: readonly { name: string; latenciesMs: Float64Array }[]): string {
  const W = 900;
  const H = 460;
  const L = 64;
  const R = 20;
  const T = 40;
  const B = 60;
  const pw = W - L - R;
  const ph = H - T - B;
  const sorted = series.map((s) => ({ name: s.name, v: Float64Array.from(s.latenciesMs).sort() })).filter((s) => s.v.length > 0);
  const q = (v: Float64Array, p: number): number => v[Math.min(v.length - 1, Math.floor(p * v.length))]!;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">bpci multi-process consensus: single-client latency (share of requests per bin)</text>`,
  ];
  if (sorted.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no single-client scenario in this run</text>`, '</svg>');
    return parts.join('\n');
  }
  let lo = Math.min(...sorted.map((s) => q(s.v, 0.001)));
  let hi = Math.max(...sorted.map((s) => q(s.v, 0.999)));
  lo = Math.max(0.01, lo * 0.9);
  hi = Math.max(hi * 1.1, lo * 2);
  const bins = 60;
  const llo = Math.log10(lo);
  const lhi = Math.log10(hi);
  const binOf = (x: number): number => Math.max(0, Math.min(bins - 1, Math.floor(((Math.log10(Math.max(x, lo)) - llo) / (lhi - llo)) * bins)));
  const hists = sorted.map((s) => {
    const h = new Float64Array(bins);
    for (const x of s.v) h[binOf(x)]! += 1;
    for (let i = 0; i < bins; i++) h[i]! /= s.v.length;
    return h;
  });
  const ymax = Math.max(...hists.map((h) => Math.max(...h))) * 1.08;
  const xOf = (ms: number): number => L + ((Math.log10(ms) - llo) / (lhi - llo)) * pw;
  const yOf = (f: number): number => T + ph - (f / ymax) * ph;
  // axes and grid
  parts.push(`<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="black"/>`, `<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="black"/>`);
  for (let d = Math.floor(llo); d <= Math.ceil(lhi); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v < lo || v > hi) continue;
      const x = xOf(v).toFixed(1);
      parts.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${T + ph}" stroke="#eee"/>`);
      parts.push(`<text x="${x}" y="${T + ph + 16}" text-anchor="middle">${v >= 1 ? v.toFixed(0) : v.toPrecision(1)}</text>`);
    }
  }
  parts.push(`<text x="${L + pw / 2}" y="${H - 22}" text-anchor="middle">latency, ms (log scale)</text>`);
  for (let i = 0; i <= 4; i++) {
    const f = (ymax * i) / 4;
    parts.push(`<text x="${L - 6}" y="${(yOf(f) + 4).toFixed(1)}" text-anchor="end">${(f * 100).toFixed(1)}%</text>`);
  }
  // reference lines: the target p50 and BFT-SMaRt p50/p99, where they fall in range
  const refs: [number, string, string][] = [
    [REFERENCES.target.p50_ms, 'target p50', '#2ca02c'],
    [REFERENCES.bftSmart.p50_ms, 'BFT-SMaRt p50', '#555'],
    [REFERENCES.bftSmart.p99_ms, 'BFT-SMaRt p99', '#999'],
  ];
  for (const [v, label, color] of refs) {
    if (v < lo || v > hi) continue;
    const x = xOf(v).toFixed(1);
    parts.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${T + ph}" stroke="${color}" stroke-dasharray="5,4"/>`);
    parts.push(`<text x="${x}" y="${T - 4}" text-anchor="middle" fill="${color}" font-size="11">${esc(label)}</text>`);
  }
  // one step line per series
  hists.forEach((h, si) => {
    const color = PALETTE[si % PALETTE.length]!;
    const pts: string[] = [`${L},${yOf(0).toFixed(1)}`];
    for (let i = 0; i < bins; i++) {
      const x0 = L + (i / bins) * pw;
      const x1 = L + ((i + 1) / bins) * pw;
      const y = yOf(h[i]!).toFixed(1);
      pts.push(`${x0.toFixed(1)},${y}`, `${x1.toFixed(1)},${y}`);
    }
    pts.push(`${L + pw},${yOf(0).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${pts.join(' ')}"/>`);
    const s = sorted[si]!;
    const ly = T + 14 + si * 16;
    parts.push(`<line x1="${L + pw - 300}" y1="${ly - 4}" x2="${L + pw - 282}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    parts.push(
      `<text x="${L + pw - 276}" y="${ly}">${esc(s.name)}: p50 ${q(s.v, 0.5).toFixed(2)}, p99 ${q(s.v, 0.99).toFixed(2)} ms</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
