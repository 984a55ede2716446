// `bpci cluster up`: a long-running local cluster of validators as separate processes.
//
// Writes keys and configs (config/local-cluster.ts), spawns one `bpci node start --config <file>`
// per validator with its output in <dir>/logs/<validator>.log, waits until every API answers
// /health, prints how to reach them, and then runs until SIGINT/SIGTERM (or `signal` aborts), when
// it stops the children (SIGTERM, then SIGKILL after `stopGraceMs`). A child that exits on its own
// once the cluster is up is reported; the others keep running (a BFT cluster tolerates f of them
// down).
//
// "Up" means up as started: the process answering a validator's API must state (identity headers,
// cli/identity.ts) the validator id, public key and pid of the child this command spawned. A
// child that exits before it is up, or another process answering on its port (another cluster),
// fails the command at once with a message naming both (issue 13 §2).
//
// Once up, it also serves a whole-cluster dashboard (api/dashboard/cluster.ts) on `host`, port
// api-base-port + n (the next free one after the validators' APIs; any free port if that one is
// taken), prints its address, and closes it when the cluster stops (issue 13 §3).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLocalCluster, type LocalClusterMember } from '../config/local-cluster.js';
import { publicKeyText } from '../keys/keyfile.js';
import { loadConfig } from '../config/config.js';
import { dirLockHolder, processAlive } from '../storage/dir-lock.js';
import { identityMismatch, identityOf, type ApiIdentity } from './identity.js';
import { createClusterDashboard } from '../api/dashboard/cluster.js';
import type { CliIo, ClusterUpOptions } from './program.js';

export interface ClusterProcessOptions {
  /** argv (command first) that starts one validator; default: this node + bpci.js node start. */
  readonly nodeArgv?: (configFile: string) => readonly string[];
  /** How long to wait for every /health, ms. */
  readonly readyTimeoutMs?: number;
  readonly stopGraceMs?: number;
  /** Stops the cluster when aborted (tests); default: SIGINT / SIGTERM. */
  readonly signal?: AbortSignal;
  /** Called once all validators are healthy (and the cluster dashboard listens). */
  readonly onReady?: (members: readonly LocalClusterMember[], info: { readonly dashboardUrl: string | null }) => void;
  /** Port of the whole-cluster dashboard; default api-base-port + validators; 0 = any free port; null = none. */
  readonly dashboardPort?: number | null;
}

/** Serves the whole-cluster dashboard on host:port (any free port when that one is taken). */
async function listenClusterDashboard(members: readonly LocalClusterMember[], host: string, port: number): Promise<{ url: string; close: () => Promise<void> }> {
  const app = createClusterDashboard({ members: members.map((m) => ({ validatorId: m.validatorId, apiUrl: m.apiUrl })) });
  let address: string;
  try {
    address = await app.listen({ host, port });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw e;
    address = await app.listen({ host, port: 0 });
  }
  return { url: `${address}/dashboard`, close: () => app.close() };
}

function defaultNodeArgv(configFile: string): string[] {
  const bpci = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bpci.js');
  return [process.execPath, bpci, 'node', 'start', '--config', configFile];
}

type Probe = { readonly kind: 'up' } | { readonly kind: 'starting' } | { readonly kind: 'foreign'; readonly detail: string };

/** Whether the API at `m.apiUrl` answers /health as the validator `m` running as `pid`. */
async function probe(m: LocalClusterMember, pid: number): Promise<Probe> {
  let res: Response;
  try {
    res = await fetch(`${m.apiUrl}/health`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
  } catch {
    return { kind: 'starting' };
  }
  const mismatch = identityMismatch(memberIdentity(m, pid), identityOf(res.headers));
  if (mismatch !== undefined) return { kind: 'foreign', detail: mismatch };
  return res.ok ? { kind: 'up' } : { kind: 'starting' };
}

export function memberIdentity(m: LocalClusterMember, pid: number): ApiIdentity {
  return { validatorId: m.validatorId, publicKey: publicKeyText(m.config.activeValidators[m.index]!.publicKey), pid };
}

/** The last line of a log that says why (an `error:` line if there is one), shortened. */
export function lastLogLine(file: string): string {
  let text = '';
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, 16_384));
      fs.readSync(fd, buf, 0, buf.length, size - buf.length);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const line = [...lines].reverse().find((l) => l.startsWith('error:')) ?? lines[lines.length - 1] ?? '(empty log)';
  return line.length > 400 ? `${line.slice(0, 397)}...` : line;
}

export async function runLocalCluster(opts: ClusterUpOptions, io: CliIo, popts: ClusterProcessOptions = {}): Promise<void> {
  const dir = path.resolve(opts.dir);
  const members = writeLocalCluster({
    dir,
    validators: opts.validators,
    host: opts.host,
    basePort: opts.basePort,
    apiBasePort: opts.apiBasePort,
    durability: opts.durability,
    verify: opts.verify,
    ...(opts.app ? { app: opts.app } : {}),
    ...(opts.ledgerClients !== undefined ? { ledgerClients: opts.ledgerClients } : {}),
  });
  const logsDir = path.join(dir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  const argvOf = popts.nodeArgv ?? defaultNodeArgv;
  const children = new Map<string, ChildProcess>();
  const exited = new Map<string, string>();
  let stopping = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let resolveChildrenGone!: () => void;
  const childrenGone = new Promise<void>((r) => (resolveChildrenGone = r));

  for (const m of members) {
    const log = fs.openSync(path.join(logsDir, `${m.validatorId}.log`), 'a');
    const [cmd, ...args] = argvOf(m.configFile);
    const child = spawn(cmd!, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log); // the child holds its own descriptor
    children.set(m.validatorId, child);
    child.on('exit', (code, sig) => {
      children.delete(m.validatorId);
      exited.set(m.validatorId, sig ?? `code ${code}`);
      if (!stopping) io.err(`${m.validatorId} exited (${sig ?? `code ${code}`}); see ${path.join(logsDir, `${m.validatorId}.log`)}`);
      if (children.size === 0 && stopping) resolveChildrenGone();
    });
  }

  let stopping_: Promise<void> | undefined;
  // One stop, however many callers (signal, abort, the finally below): all wait for all of it.
  const stop = (): Promise<void> => (stopping_ ??= stopAll());
  const stopAll = async (): Promise<void> => {
    stopping = true;
    // Validators of this cluster started by `bpci cluster restart` are not our children: they
    // hold their data dir lock; stop them with ours.
    const ours = new Set([...children.values()].map((c) => c.pid));
    const restarted = members.map((m) => dirLockHolder(m.config.node.dataDir)?.pid).filter((pid): pid is number => pid !== undefined && !ours.has(pid));
    for (const c of children.values()) c.kill('SIGTERM');
    const others = Promise.all(restarted.map((pid) => stopPid(pid, popts.stopGraceMs ?? 5_000)));
    const grace = setTimeout(() => {
      for (const c of children.values()) c.kill('SIGKILL');
    }, popts.stopGraceMs ?? 5_000);
    if (children.size > 0) await childrenGone;
    clearTimeout(grace);
    await others;
    resolveStopped();
  };
  const onSignal = () => void stop();
  if (popts.signal) popts.signal.addEventListener('abort', onSignal, { once: true });
  else {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  let dashboard: { url: string; close: () => Promise<void> } | undefined;
  try {
    const deadline = Date.now() + (popts.readyTimeoutMs ?? 30_000);
    const pending = new Set(members.map((m) => m.validatorId));
    while (pending.size > 0 && !stopping) {
      for (const m of members) {
        if (!pending.has(m.validatorId)) continue;
        const logFile = path.join(logsDir, `${m.validatorId}.log`);
        const child = children.get(m.validatorId);
        if (!child || child.pid === undefined) {
          throw new Error(`${m.validatorId} exited before it was up (${exited.get(m.validatorId) ?? 'not started'}): ${lastLogLine(logFile)} (log ${logFile})`);
        }
        const p = await probe(m, child.pid);
        if (p.kind === 'foreign') {
          throw new Error(`${m.validatorId}: the process answering ${m.apiUrl} is not the one this command started (pid ${child.pid}): ${p.detail}; another cluster or program holds that port (log ${logFile})`);
        }
        if (p.kind === 'up') pending.delete(m.validatorId);
      }
      if (pending.size === 0) break;
      if (Date.now() > deadline) throw new Error(`not healthy in time: ${[...pending].join(', ')}; see ${logsDir}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!stopping) {
      const dashPort = popts.dashboardPort === undefined ? opts.apiBasePort + members.length : popts.dashboardPort;
      if (dashPort !== null) {
        try {
          dashboard = await listenClusterDashboard(members, opts.host, dashPort);
        } catch (e) {
          io.err(`cluster dashboard not served: ${e instanceof Error ? e.message : String(e)} (each validator still serves its own at <api>/dashboard)`);
        }
      }
      popts.onReady?.(members, { dashboardUrl: dashboard?.url ?? null });
      io.out(
        [
          `${members.length} validators up (data, configs, keys and logs in ${dir}):`,
          ...members.map((m) => `  ${m.validatorId}  pid ${children.get(m.validatorId)?.pid ?? '-'}  api ${m.apiUrl}  dashboard ${m.apiUrl}/dashboard  config ${m.configFile}`),
          '',
          ...(dashboard ? [`cluster dashboard: ${dashboard.url}`, ''] : []),
          `try:  bpci --api ${members[0]!.apiUrl} submit hello --wait`,
          `      bpci --api ${members[0]!.apiUrl} consensus history`,
          `      curl ${members[0]!.apiUrl}/metrics`,
          'Ctrl-C stops the cluster.',
        ].join('\n'),
      );
      // Until Ctrl-C, or until no validator of this cluster runs any more: neither one of our
      // children nor one started by `bpci cluster restart` (a data dir lock holder).
      const watch = setInterval(() => {
        if (children.size === 0 && members.every((m) => dirLockHolder(m.config.node.dataDir) === undefined)) resolveStopped();
      }, 1000);
      try {
        await stopped;
      } finally {
        clearInterval(watch);
      }
    }
  } finally {
    await dashboard?.close().catch(() => undefined);
    await stop();
    if (!popts.signal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

// ------------------------------------------------------------------ status / stop / restart
//
// `bpci cluster status|stop|restart` act on a local cluster written by `cluster up` (the same
// --dir), whether or not that `cluster up` still runs. A validator's process is the one holding
// its data dir lock (storage/dir-lock.ts); its API must answer with that pid's identity. `stop`
// sends SIGTERM to that pid (SIGKILL after the grace period); `restart` stops it and starts a
// detached `bpci node start` for it, logging to the same <dir>/logs file. A `cluster up` that
// still runs reports the exit of its own child and, when it stops, stops restarted ones too.

export interface ClusterMemberStatus {
  readonly validatorId: string;
  readonly pid: number | null;
  /** running: its process holds the lock and its API answers as it; stopped: no live lock holder. */
  readonly state: 'running' | 'starting' | 'stopped' | 'foreign';
  /** /health status when it answered as itself. */
  readonly health: string | null;
  readonly apiUrl: string;
  readonly detail?: string;
}

/** The members of the local cluster in `dir` (its config/validator-NNN.yaml files). */
export function readLocalCluster(dir: string): LocalClusterMember[] {
  const confDir = path.join(path.resolve(dir), 'config');
  let files: string[];
  try {
    files = fs.readdirSync(confDir).filter((f) => /^validator-\d{3}\.yaml$/.test(f)).sort();
  } catch {
    throw new ClusterError(`no local cluster in ${path.resolve(dir)} (no config/ folder; run bpci cluster up --dir ${dir} first)`);
  }
  if (files.length === 0) throw new ClusterError(`no validator configs in ${confDir}`);
  return files.map((f) => {
    const configFile = path.join(confDir, f);
    const config = loadConfig(configFile);
    const nd = config.node;
    return { validatorId: nd.validatorId, index: nd.index, configFile, keyFile: nd.keyFile, apiUrl: `http://${nd.api.host}:${nd.api.port}`, config };
  });
}

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

function pick(members: readonly LocalClusterMember[], validator: string): LocalClusterMember {
  const m = members.find((x) => x.validatorId === validator);
  if (!m) throw new ClusterError(`no validator ${JSON.stringify(validator)} in this cluster (it has ${members.map((x) => x.validatorId).join(', ')})`);
  return m;
}

async function memberStatus(m: LocalClusterMember): Promise<ClusterMemberStatus> {
  const holder = dirLockHolder(m.config.node.dataDir);
  if (!holder) return { validatorId: m.validatorId, pid: null, state: 'stopped', health: null, apiUrl: m.apiUrl };
  let res: Response;
  try {
    res = await fetch(`${m.apiUrl}/health`, { signal: AbortSignal.timeout(2000) });
  } catch {
    return { validatorId: m.validatorId, pid: holder.pid, state: 'starting', health: null, apiUrl: m.apiUrl, detail: 'API not answering' };
  }
  let health: string | null = null;
  try {
    health = ((await res.json()) as { status?: string }).status ?? null;
  } catch {
    // not JSON: reported through the identity check below
  }
  const mismatch = identityMismatch(memberIdentity(m, holder.pid), identityOf(res.headers));
  if (mismatch !== undefined) return { validatorId: m.validatorId, pid: holder.pid, state: 'foreign', health: null, apiUrl: m.apiUrl, detail: `another process answers on its API port: ${mismatch}` };
  return { validatorId: m.validatorId, pid: holder.pid, state: 'running', health, apiUrl: m.apiUrl };
}

/** Status of every validator of the cluster in `dir` (or one). */
export async function clusterStatus(dir: string, validator?: string): Promise<ClusterMemberStatus[]> {
  const members = readLocalCluster(dir);
  const chosen = validator === undefined ? members : [pick(members, validator)];
  return Promise.all(chosen.map(memberStatus));
}

export function formatClusterStatus(rows: readonly ClusterMemberStatus[]): string {
  const head = ['VALIDATOR', 'PID', 'STATE', 'HEALTH', 'API'];
  const cells = rows.map((r) => [r.validatorId, r.pid === null ? '-' : String(r.pid), r.state, r.health ?? '-', r.detail ? `${r.apiUrl}  (${r.detail})` : r.apiUrl]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), ...cells.map(fmt)].join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
async function stopPid(pid: number, graceMs: number): Promise<'term' | 'kill'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'term'; // already gone
  }
  const end = Date.now() + graceMs;
  while (processAlive(pid) && Date.now() < end) await sleep(50);
  if (!processAlive(pid)) return 'term';
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  while (processAlive(pid)) await sleep(20);
  return 'kill';
}

/** Stops one validator of the cluster in `dir`. Returns what it did, in one line. */
export async function clusterStop(dir: string, validator: string, popts: Pick<ClusterProcessOptions, 'stopGraceMs'> = {}): Promise<string> {
  const m = pick(readLocalCluster(dir), validator);
  const holder = dirLockHolder(m.config.node.dataDir);
  if (!holder) return `${m.validatorId} is not running`;
  const how = await stopPid(holder.pid, popts.stopGraceMs ?? 10_000);
  return `${m.validatorId} stopped (pid ${holder.pid}${how === 'kill' ? ', killed after the grace period' : ''})`;
}

/** Stops (if running) and starts again one validator of the cluster in `dir`, detached; waits until it is up as itself. */
export async function clusterRestart(dir: string, validator: string, popts: ClusterProcessOptions = {}): Promise<string> {
  const m = pick(readLocalCluster(dir), validator);
  const stopped = await clusterStop(dir, validator, popts);
  const logFile = path.join(path.resolve(dir), 'logs', `${m.validatorId}.log`);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.openSync(logFile, 'a');
  const [cmd, ...args] = (popts.nodeArgv ?? defaultNodeArgv)(m.configFile);
  const child = spawn(cmd!, args, { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  let exit: string | undefined;
  child.once('exit', (code, sig) => (exit = sig ?? `code ${code}`));
  const pid = child.pid;
  if (pid === undefined) throw new ClusterError(`${m.validatorId}: could not start ${cmd}`);
  const deadline = Date.now() + (popts.readyTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (exit !== undefined) throw new ClusterError(`${m.validatorId} exited before it was up (${exit}): ${lastLogLine(logFile)} (log ${logFile})`);
      const p = await probe(m, pid);
      if (p.kind === 'up') break;
      if (p.kind === 'foreign') throw new ClusterError(`${m.validatorId}: the process answering ${m.apiUrl} is not the one this command started (pid ${pid}): ${p.detail} (log ${logFile})`);
      if (Date.now() > deadline) throw new ClusterError(`${m.validatorId} not healthy in time (pid ${pid}); see ${logFile}`);
      await sleep(100);
    }
  } catch (e) {
    if (exit === undefined) child.kill('SIGTERM');
    throw e;
  }
  child.unref();
  return `${stopped.endsWith('is not running') ? `${m.validatorId} was not running; ` : `${stopped}; `}${m.validatorId} started (pid ${pid}), api ${m.apiUrl}, log ${logFile}`;
}
