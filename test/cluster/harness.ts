// Multi-process cluster harness for the integration tests in test/cluster/.
//
// Contract: `ensureBuilt()` makes packages/node/dist (and core's dist, through project references)
// current with the sources; `createCluster()` writes keys and seed-shaped YAML configs for n
// validators on random free loopback ports under a fresh temp dir, and `start(i)` spawns
// `node packages/node/dist/cli/bpci.js node start --config <file>` for validator i, with its
// output in <dir>/logs/<validator>.log. Every wait polls with a deadline and fails with the state
// it saw (never a sleep used as an assertion). `stopAll()` kills what this harness started, by pid.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterAll, beforeAll } from 'vitest';
import { generateKeyFile, type ValidatorKey } from '@bpci/node/keys/keyfile';
import { BpciClient, type ClientValidator } from '@bpci/node/client/client';
import { nodeJsBackend } from '@bpci/node/crypto/select';
import { encodeMessage, type ClientRequest, type CryptoBackend } from '@bpci/core';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const bpciJs = path.join(root, 'packages/node/dist/cli/bpci.js');

function newestMtime(dir: string, ext: string): number {
  if (!fs.existsSync(dir)) return 0;
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
    else if (e.name.endsWith(ext) && !e.name.endsWith('.d.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Rebuilds packages/node (and core through its project reference) when a source is newer than dist. */
export function ensureBuilt(): void {
  const pairs = [
    [path.join(root, 'packages/node/src'), path.join(root, 'packages/node/dist')],
    [path.join(root, 'packages/core-ts/src'), path.join(root, 'packages/core-ts/dist')],
  ] as const;
  const stale = pairs.some(([src, dist]) => newestMtime(src, '.ts') > newestMtime(dist, '.js'));
  if (fs.existsSync(bpciJs) && !stale) return;
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/node'], { cwd: root, stdio: 'pipe' });
  } catch {
    // A type error elsewhere does not stop emit; whether the entry point exists decides.
  }
  if (!fs.existsSync(bpciJs)) throw new Error(`${bpciJs} missing after tsc -b packages/node`);
}

import { freePorts } from '../../packages/node/test/helpers.js';

export { freePorts };

export interface Member {
  readonly index: number;
  readonly validatorId: string;
  readonly configFile: string;
  readonly key: ValidatorKey;
  readonly keyFile: string;
  readonly port: number;
  readonly clientPort: number;
  readonly apiPort: number;
  readonly apiUrl: string;
  readonly logFile: string;
}

export interface ClusterOptions {
  readonly validators?: number;
  /** triple_consensus.ibft.phase_timeout_seconds (the view-change timeout). */
  readonly phaseTimeoutSeconds?: number;
  /** node.consensus overrides (snake_case keys as in the YAML). */
  readonly consensus?: Record<string, number>;
  readonly logLevel?: string;
  /** Validators whose process the test provides itself (no config needed to start them). */
  readonly label?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value that is not undefined; throws with `describe()` after `ms`. */
export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined, describe?: () => Promise<string> | string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    let v: T | undefined;
    try {
      v = await probe();
    } catch {
      v = undefined;
    }
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${describe ? `; last seen: ${await describe()}` : ''}`);
    await sleep(100);
  }
}

export interface NodeState {
  view: number;
  primary: string;
  mode: string;
  last_committed_sequence: number;
  peers: { validator_id: string; connected: boolean }[];
}

export async function getJson<T = Record<string, unknown>>(url: string, timeoutMs = 3000): Promise<{ status: number; json: T }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: r.status, json: json as T };
}

export async function postJson<T = Record<string, unknown>>(url: string, body: unknown, timeoutMs = 15_000, rawBody?: string, contentType = 'application/json'): Promise<{ status: number; json: T }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: rawBody ?? JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: r.status, json: json as T };
}

/** Sum of every sample of a metric (all label sets) whose labels contain `labelFilter`. */
export function metricSum(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (labelFilter && !(m[2] ?? '').includes(labelFilter)) continue;
    sum += Number(m[3]);
  }
  return sum;
}

export class Cluster {
  readonly members: Member[];
  private readonly children = new Map<number, ChildProcess>();
  private readonly exits = new Map<number, Promise<{ code: number | null; signal: NodeJS.Signals | null }>>();

  private constructor(readonly dir: string, members: Member[]) {
    this.members = members;
  }

  static async create(opts: ClusterOptions = {}): Promise<Cluster> {
    const n = opts.validators ?? 4;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bpci-cluster-${opts.label ?? 'test'}-`));
    for (const d of ['keys', 'config', 'data', 'logs']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    const ports = await freePorts(3 * n);
    const name = (i: number) => `validator-${String(i + 1).padStart(3, '0')}`;
    const keys = Array.from({ length: n }, (_, i) => {
      const keyFile = path.join(dir, 'keys', `${name(i)}.json`);
      return { keyFile, key: generateKeyFile(keyFile, { validatorId: name(i) }) };
    });
    const validators = keys.map((k, i) => ({
      validator_id: name(i),
      stake: 1_000_000,
      endpoint: `tcp://127.0.0.1:${ports[i]}`,
      client_endpoint: `tcp://127.0.0.1:${ports[n + i]}`,
      public_key: k.key.publicKeyText,
      is_active: true,
    }));
    const members: Member[] = [];
    for (let i = 0; i < n; i++) {
      const doc = {
        triple_consensus: {
          coordinator: { max_active_rounds: 10, round_timeout_seconds: 30, validator_timeout_seconds: 10 },
          ibft: { byzantine_tolerance_ratio: 0.33, required_vote_threshold: 0.67, phase_timeout_seconds: opts.phaseTimeoutSeconds ?? 1, signature_verification: true },
        },
        validators,
        consensus_thresholds: { minimum_validators: Math.min(4, n), byzantine_fault_tolerance: Math.floor((n - 1) / 3), stake_threshold: 500_000 },
        node: {
          validator_id: name(i),
          key_file: keys[i]!.keyFile,
          data_dir: path.join(dir, 'data', name(i)),
          api: { host: '127.0.0.1', port: ports[2 * n + i]! },
          durability: 'durable',
          verify: 'lazy',
          ...(opts.consensus ? { consensus: opts.consensus } : {}),
        },
        logging: { level: opts.logLevel ?? 'info', format: 'json' },
      };
      const configFile = path.join(dir, 'config', `${name(i)}.yaml`);
      fs.writeFileSync(configFile, YAML.stringify(doc));
      members.push({
        index: i,
        validatorId: name(i),
        configFile,
        key: keys[i]!.key,
        keyFile: keys[i]!.keyFile,
        port: ports[i]!,
        clientPort: ports[n + i]!,
        apiPort: ports[2 * n + i]!,
        apiUrl: `http://127.0.0.1:${ports[2 * n + i]}`,
        logFile: path.join(dir, 'logs', `${name(i)}.log`),
      });
    }
    return new Cluster(dir, members);
  }

  /** What a BpciClient needs to reach every validator's client port. */
  clientValidators(): ClientValidator[] {
    return this.members.map((m) => ({ host: '127.0.0.1', port: m.clientPort, publicKey: m.key.publicKey, stake: 1_000_000 }));
  }

  apiUrls(indices: readonly number[] = this.members.map((m) => m.index)): string[] {
    return indices.map((i) => this.members[i]!.apiUrl);
  }

  /** Spawns validator i's `bpci node start`; appends to its log. */
  start(i: number): ChildProcess {
    if (this.children.has(i)) throw new Error(`validator ${i} already running`);
    const m = this.members[i]!;
    const log = fs.openSync(m.logFile, 'a');
    const child = spawn(process.execPath, [bpciJs, 'node', 'start', '--config', m.configFile], {
      stdio: ['ignore', log, log],
      env: { ...process.env, BPCI_POOL_THREADS: '0' },
    });
    fs.closeSync(log);
    this.children.set(i, child);
    this.exits.set(
      i,
      new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          if (this.children.get(i) === child) this.children.delete(i);
          resolve({ code, signal });
        }),
      ),
    );
    return child;
  }

  running(i: number): boolean {
    return this.children.has(i);
  }

  /** Kills validator i with `signal` and waits for the process to be gone. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.children.get(i);
    if (!c) return;
    c.kill(signal);
    await this.exits.get(i);
  }

  async waitHealthy(indices: readonly number[], ms = 60_000): Promise<void> {
    for (const i of indices) {
      const m = this.members[i]!;
      await until(`${m.validatorId} /health`, ms, async () => {
        if (!this.children.has(i)) throw new Error('exited');
        const r = await getJson(`${m.apiUrl}/health`, 1000);
        return r.status === 200 ? true : undefined;
      }, () => `running=${this.children.has(i)}; log tail: ${this.logTail(i)}`);
    }
  }

  async state(i: number): Promise<NodeState> {
    const r = await getJson<NodeState>(`${this.members[i]!.apiUrl}/api/v1/consensus/ibft/state`);
    if (r.status !== 200) throw new Error(`state of ${i}: HTTP ${r.status}`);
    return r.json;
  }

  async metrics(i: number): Promise<string> {
    const r = await fetch(`${this.members[i]!.apiUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
    return r.text();
  }

  /** Resolves once every listed validator reports at least `height` committed. */
  async waitHeight(indices: readonly number[], height: number, ms: number): Promise<void> {
    const heights = async () => Promise.all(indices.map((i) => this.state(i).then((s) => s.last_committed_sequence, () => -1)));
    await until(`height >= ${height} at validators ${indices.join(',')}`, ms, async () => ((await heights()).every((h) => h >= height) ? true : undefined), async () => (await heights()).join(', '));
  }

  logTail(i: number, bytes = 1500): string {
    try {
      const t = fs.readFileSync(this.members[i]!.logFile, 'utf8');
      return t.slice(-bytes);
    } catch {
      return '(no log)';
    }
  }

  async stopAll(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const [i, c] of this.children) {
      c.kill('SIGTERM');
      const hard = setTimeout(() => c.kill('SIGKILL'), 5000);
      waits.push(this.exits.get(i)!.finally(() => clearTimeout(hard)));
    }
    await Promise.all(waits);
  }

  /** Removes the temp dir unless BPCI_KEEP_CLUSTER is set (then says where it is). */
  cleanup(): void {
    if (process.env.BPCI_KEEP_CLUSTER) {
      console.log(`cluster files kept in ${this.dir}`);
      return;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ load and log checks


export const crypto: CryptoBackend = nodeJsBackend();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A request some client accepted on f+1 matching signed replies. */
export interface Accepted {
  readonly clientId: string;
  readonly requestSeq: number;
  readonly op: Uint8Array;
  /** Batch sequence the replies named. */
  readonly seq: number;
  readonly resultHex: string;
  readonly txId: string;
}

export function txIdOf(request: ClientRequest): string {
  return hex(crypto.blake3(encodeMessage(request)));
}

/** The key byzantine-primary.mjs signs its invented requests with (it is its own client). */
export const BYZANTINE_CLIENT_SEED = crypto.blake3(new TextEncoder().encode('bpci-test/byzantine-client'));

export interface Load {
  readonly accepted: Accepted[];
  /** Requests a client gave up on (timeout); not a failure of the cluster by themselves. */
  failures: number;
  /** Accepted requests so far (all clients). */
  readonly count: () => number;
  stop(): Promise<void>;
}

/** Closed-loop clients over the client port until stop(); every accepted result is recorded. */
/**
 * The kill tests' setup: a 4-validator cluster (1 s phase timeout, checkpoint every 16, window
 * 64) started and healthy before the file's tests, stopped and removed after them, together with
 * whatever load a test put in `load`.
 */
export function loadedCluster(label: string): { readonly cluster: Cluster; load: Load | undefined } {
  let cluster: Cluster | undefined;
  const run = {
    get cluster(): Cluster {
      if (cluster === undefined) throw new Error(`${label}: the cluster is not up (beforeAll failed?)`);
      return cluster;
    },
    load: undefined as Load | undefined,
  };
  beforeAll(async () => {
    ensureBuilt();
    cluster = await Cluster.create({ label, phaseTimeoutSeconds: 1, consensus: { checkpoint_interval: 16, watermark_window: 64 } });
    for (const m of cluster.members) cluster.start(m.index);
    await cluster.waitHealthy([0, 1, 2, 3]);
  }, 180_000);
  afterAll(async () => {
    await run.load?.stop().catch(() => undefined);
    await cluster?.stopAll();
    cluster?.cleanup();
  });
  return run;
}

export async function startLoad(cluster: Cluster, clients: number, prefix: string): Promise<Load> {
  const enc = new TextEncoder();
  const cls = await Promise.all(
    Array.from({ length: clients }, (_, c) =>
      BpciClient.connect({ clientId: `${prefix}-${c}`, validators: cluster.clientValidators(), crypto, retryMs: 500, timeoutMs: 90_000 }),
    ),
  );
  let stopping = false;
  const load: Load = {
    accepted: [],
    failures: 0,
    count: () => load.accepted.length,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      for (const cl of cls) cl.close();
    },
  };
  const loops = cls.map(async (cl, c) => {
    for (let k = 1; !stopping; k++) {
      const op = enc.encode(k % 3 === 0 ? `transfer acct${c} acct${(c + 1) % clients} 1` : `add acct${c} 7`);
      try {
        const r = await cl.submit(op);
        load.accepted.push({ clientId: cl.clientId, requestSeq: r.requestSeq, op, seq: r.seq, resultHex: hex(r.result), txId: txIdOf(cl.signedRequest(r.requestSeq, op)) });
      } catch {
        if (stopping) return;
        load.failures++;
      }
    }
  });
  return load;
}

/**
 * Every accepted request is in the committed log of every listed validator: block `seq` (the one
 * the f+1 replies named) holds its tx id with a valid inclusion proof, and its transaction index
 * (GET /api/v1/transactions/:id, persisted with the block) gives the result the client accepted.
 * A validator that holds a block only through back-fill never executed it: its index gives the
 * height and `result_known: false` and no result. That is accepted only with `opts.backfilled`
 * (the height must still match), and `opts.unknownResults` counts such answers.
 * Returns a list of problems (empty = all good).
 */
export async function checkNoLoss(
  apiUrls: readonly string[],
  accepted: readonly Accepted[],
  concurrency = 8,
  opts: { backfilled?: boolean; unknownResults?: { count: number } } = {},
): Promise<string[]> {
  const problems: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (problems.length < 20) {
      const a = accepted[next++];
      if (!a) return;
      for (const u of apiUrls) {
        const b = await getJson<{ block?: { height: number }; proof?: { tx_id: string; merkle_root: string } }>(`${u}/api/v1/blocks/${a.seq}?tx=${a.txId}`);
        if (b.status !== 200 || !b.json.proof) {
          problems.push(`${a.clientId}#${a.requestSeq} (seq ${a.seq}) missing at ${u}: HTTP ${b.status} ${JSON.stringify(b.json).slice(0, 200)}`);
          continue;
        }
        // The block is there, so its transaction index entry must be too (same store write),
        // also at a validator that restarted since.
        const t = await getJson<{ status: string; height: number; result?: string; result_encoding?: 'utf8' | 'hex'; result_known?: boolean }>(`${u}/api/v1/transactions/${a.txId}`);
        // The API gives text results as text (result_encoding utf8), other bytes as hex.
        const resultHex = t.json.result === undefined ? undefined : t.json.result_encoding === 'utf8' ? Buffer.from(t.json.result, 'utf8').toString('hex') : t.json.result;
        if (t.status !== 200) {
          problems.push(`${a.clientId}#${a.requestSeq} (seq ${a.seq}) block present but transaction unknown at ${u}: HTTP ${t.status}`);
        } else if (t.json.result_known === false) {
          if (!opts.backfilled) problems.push(`${a.clientId}#${a.requestSeq} at ${u}: result unknown (back-filled), not expected here`);
          else if (t.json.height !== a.seq || t.json.result !== undefined) problems.push(`${a.clientId}#${a.requestSeq} at ${u}: back-filled at height ${t.json.height} with result ${t.json.result}; client accepted seq ${a.seq}`);
          else if (opts.unknownResults) opts.unknownResults.count++;
        } else if (t.json.height !== a.seq || resultHex !== a.resultHex) {
          problems.push(`${a.clientId}#${a.requestSeq} at ${u}: height ${t.json.height} result ${t.json.result}; client accepted seq ${a.seq} result ${a.resultHex}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return problems;
}

/**
 * The committed logs of the listed validators agree. Waits until every one reports the same
 * committed height, then compares every block's digest and Merkle root. Every validator must hold
 * every block: one that caught up from a peer's stable checkpoint back-fills the blocks the
 * snapshot covered (wait for that with `waitBackfilled` first). Only a validator listed in
 * `snapshotCaughtUp` may lack blocks, and only at or below its stable checkpoint (for a test that
 * does not wait for back-fill; several ranges are allowed); every block it has must match.
 * `gaps[i]` lists the heights i lacks.
 */
export async function compareLogs(cluster: Cluster, indices: readonly number[], snapshotCaughtUp: readonly number[] = [], waitMs = 30_000): Promise<{ height: number; problems: string[]; gaps: Record<number, number[]> }> {
  const heights = async () => Promise.all(indices.map((i) => cluster.state(i).then((s) => s.last_committed_sequence, () => -1)));
  let hs: number[] = [];
  try {
    await until('equal committed heights', waitMs, async () => {
      hs = await heights();
      return new Set(hs).size === 1 && hs[0]! >= 0 ? true : undefined;
    });
  } catch {
    return { height: Math.min(...hs), problems: [`committed heights differ: ${hs.join(', ')}`], gaps: {} };
  }
  const height = hs[0]!;
  const problems: string[] = [];
  const missing = new Map<number, number[]>(indices.map((i) => [i, []]));
  let next = 1;
  const worker = async (): Promise<void> => {
    for (let h = next++; h <= height && problems.length < 20; h = next++) {
      const answers = await Promise.all(indices.map((i) => getJson<{ digest?: string; merkle_root?: string }>(`${cluster.members[i]!.apiUrl}/api/v1/blocks/${h}`)));
      let ref: { digest?: string; merkle_root?: string } | undefined;
      answers.forEach((a, k) => {
        const i = indices[k]!;
        if (a.status === 404) {
          missing.get(i)!.push(h);
          return;
        }
        if (a.status !== 200 || !a.json.digest) {
          problems.push(`block ${h} at validator ${i}: HTTP ${a.status}`);
          return;
        }
        ref ??= a.json;
        if (a.json.digest !== ref.digest || a.json.merkle_root !== ref.merkle_root) problems.push(`block ${h} differs at validator ${i}`);
      });
      if (!ref) problems.push(`block ${h} held by no validator`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const gaps: Record<number, number[]> = {};
  for (const i of indices) {
    const m = missing.get(i)!.sort((a, b) => a - b);
    gaps[i] = m;
    if (m.length === 0) continue;
    if (!snapshotCaughtUp.includes(i)) {
      problems.push(`validator ${i} lacks ${m.length} blocks (${m[0]}..${m[m.length - 1]})`);
      continue;
    }
    const stable = ((await cluster.state(i)) as unknown as { last_stable_checkpoint: number }).last_stable_checkpoint;
    if (m[m.length - 1]! > stable) problems.push(`validator ${i} lacks blocks up to ${m[m.length - 1]}, above its stable checkpoint ${stable}`);
  }
  return { height, problems, gaps };
}

/**
 * Resolves once validator i's block log has no gap at or below its stable checkpoint
 * (`bpci_backfill_remaining_blocks` 0, sampled from its store at the scrape) while it is in normal
 * mode; returns how many blocks it back-filled since it started (`bpci_backfill_blocks_total`).
 */
export async function waitBackfilled(cluster: Cluster, i: number, ms: number): Promise<{ backfilled: number; stable: number }> {
  const read = async () => {
    const [text, st] = await Promise.all([cluster.metrics(i), cluster.state(i)]);
    return {
      remaining: metricSum(text, 'bpci_backfill_remaining_blocks'),
      backfilled: metricSum(text, 'bpci_backfill_blocks_total'),
      rejected: metricSum(text, 'bpci_backfill_rejected_total'),
      mode: st.mode,
      stable: (st as unknown as { last_stable_checkpoint: number }).last_stable_checkpoint,
    };
  };
  const r = await until(`validator ${i}'s back-fill to finish`, ms, async () => {
    const s = await read();
    return s.remaining === 0 && s.mode === 'normal' ? s : undefined;
  }, async () => JSON.stringify(await read()));
  return { backfilled: r.backfilled, stable: r.stable };
}

/**
 * Equivocation evidence and counters across the listed validators: after crashes of honest
 * validators there must be none (a restarted validator reads its safety record and never signs a
 * conflicting statement). Returns a list of problems (empty = none found).
 */
export async function noEquivocation(cluster: Cluster, indices: readonly number[]): Promise<string[]> {
  const problems: string[] = [];
  for (const i of indices) {
    const ev = await getJson<{ evidence: unknown[] }>(`${cluster.members[i]!.apiUrl}/api/v1/evidence`);
    if (ev.status !== 200) problems.push(`evidence at ${i}: HTTP ${ev.status}`);
    else if (ev.json.evidence.length > 0) problems.push(`evidence at ${i}: ${JSON.stringify(ev.json.evidence).slice(0, 300)}`);
    const n = metricSum(await cluster.metrics(i), 'consensus_byzantine_faults_detected_total', 'kind="equivocation"');
    if (n !== 0) problems.push(`equivocations counted at ${i}: ${n}`);
  }
  return problems;
}
