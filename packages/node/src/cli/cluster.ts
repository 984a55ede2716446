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

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLocalCluster, type LocalClusterMember } from '../config/local-cluster.js';
import { publicKeyText } from '../keys/keyfile.js';
import { identityMismatch, identityOf, type ApiIdentity } from './identity.js';
import type { CliIo, ClusterUpOptions } from './program.js';

export interface ClusterProcessOptions {
  /** argv (command first) that starts one validator; default: this node + bpci.js node start. */
  readonly nodeArgv?: (configFile: string) => readonly string[];
  /** How long to wait for every /health, ms. */
  readonly readyTimeoutMs?: number;
  readonly stopGraceMs?: number;
  /** Stops the cluster when aborted (tests); default: SIGINT / SIGTERM. */
  readonly signal?: AbortSignal;
  /** Called once all validators are healthy. */
  readonly onReady?: (members: readonly LocalClusterMember[]) => void;
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
  });
  const logsDir = path.join(dir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  const argvOf = popts.nodeArgv ?? defaultNodeArgv;
  const children = new Map<string, ChildProcess>();
  const exited = new Map<string, string>();
  let stopping = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

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
      if (children.size === 0) resolveStopped();
    });
  }

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    for (const c of children.values()) c.kill('SIGTERM');
    const grace = setTimeout(() => {
      for (const c of children.values()) c.kill('SIGKILL');
    }, popts.stopGraceMs ?? 5_000);
    if (children.size > 0) await stopped;
    clearTimeout(grace);
  };
  const onSignal = () => void stop();
  if (popts.signal) popts.signal.addEventListener('abort', onSignal, { once: true });
  else {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

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
      popts.onReady?.(members);
      io.out(
        [
          `${members.length} validators up (data, configs, keys and logs in ${dir}):`,
          ...members.map((m) => `  ${m.validatorId}  pid ${children.get(m.validatorId)?.pid ?? '-'}  api ${m.apiUrl}  config ${m.configFile}`),
          '',
          `try:  bpci --api ${members[0]!.apiUrl} submit hello --wait`,
          `      bpci --api ${members[0]!.apiUrl} consensus history`,
          `      curl ${members[0]!.apiUrl}/metrics`,
          'Ctrl-C stops the cluster.',
        ].join('\n'),
      );
      await stopped;
    }
  } finally {
    await stop();
    if (!popts.signal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
