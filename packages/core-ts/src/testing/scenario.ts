// Scenario harness for readable message-trace tests (etcd raft's datadriven `interaction` tests
// are the model). A script drives a small cluster command by command; every command prints
// what happened (messages delivered, commits, replies, events) in one line each, and the test
// compares the text against a checked-in file.
//
// The network is a FIFO queue that only moves on `deliver` / `stabilize`; verify jobs are run at
// once with the given crypto; persisted records are durable at once (so `restart` restores them).
//
// Commands (key=value arguments):
//   cluster n=4 [k=4] [window=8] [batch=2] [inflight=4] [delay=0] [verify=lazy|eager] [timeout=10]
//   request client=c1 seq=1 [to=all|i] op=<rest of line>
//   deliver [from=i] [to=j] [kind=k]      deliver every queued message matching (one round)
//   stabilize                             deliver until the queue is empty
//   drop [from=i] [to=j] [kind=k]         remove queued messages
//   tick [node=i|all] [n=1]
//   crash node=i / restart node=i
//   equivocate node=i kind=prepare|commit view=v seq=s   node i signs a second, different vote
//   status [node=i]

import type { CryptoBackend } from '../crypto/backend.js';
import { encodeMessage, signingPayload } from '../codec/codec.js';
import { utf8Decode, utf8Encode } from '../codec/wire.js';
import { KvApp } from '../consensus/kv-app.js';
import { PbftReplica } from '../consensus/pbft.js';
import { DurableState } from '../kit/durable.js';
import { signRequest } from '../kit/client-auth.js';
import type {
  Input,
  Message,
  Output,
  PbftConfig,
  PersistRecord,
  ReplicaEvent,
  ValidatorId,
} from '../consensus/types.js';
import { ValidatorSet } from '../consensus/validators.js';
import { validatorSeed } from './sim.js';

interface InFlight {
  from: ValidatorId;
  to: ValidatorId;
  message: Message;
}

const short = (b: Uint8Array): string => Array.from(b.subarray(0, 3), (x) => x.toString(16).padStart(2, '0')).join('');

export function formatMessage(m: Message): string {
  switch (m.kind) {
    case 'request':
      return `request ${m.clientId}#${m.requestSeq} ${JSON.stringify(utf8Decode(m.op, 'op'))}`;
    case 'pre-prepare':
      return `pre-prepare v${m.view} s${m.seq} ${short(m.digest)} [${m.batch.map((r) => `${r.clientId}#${r.requestSeq}`).join(' ')}]`;
    case 'prepare':
    case 'commit':
      return `${m.kind} v${m.view} s${m.seq} ${short(m.digest)}`;
    case 'checkpoint':
      return `checkpoint s${m.seq} ${short(m.stateDigest)}`;
    case 'view-change':
      return `view-change v${m.newView} stable=s${m.stableSeq} prepared=[${m.prepared.map((c) => `s${c.prePrepare.seq}:v${c.prePrepare.view}:${short(c.prePrepare.digest)}`).join(' ')}]`;
    case 'new-view':
      return `new-view v${m.view} from=[${m.viewChanges.map((v) => v.from).join(' ')}] reproposed=[${m.prePrepares.map((p) => `s${p.seq}:${short(p.digest)}:${p.batch.length}`).join(' ')}]`;
    case 'reply':
      return `reply ${m.session.slice(0, m.session.lastIndexOf('@'))}#${m.requestSeq} s${m.seq} ${JSON.stringify(utf8Decode(m.result, 'result'))}`;
    case 'fetch':
      return `fetch next=s${m.nextSeq}`;
    case 'state':
      return `state checkpoint=${m.checkpoint === null ? '-' : `s${m.checkpoint.seq}`} batches=[${m.batches.map((b) => `s${b.prePrepare.seq}`).join(' ')}] new-view=${m.newView === null ? '-' : `v${m.newView.view}`}`;
    case 'timeout':
      return `timeout v${m.view}`;
    case 'timeout-cert':
      return `timeout-cert v${m.view} from=[${m.timeouts.map((t) => t.from).join(' ')}]`;
    case 'blocks-request':
      return `blocks-request s${m.fromSeq}..s${m.toSeq}`;
    case 'blocks':
      return `blocks [${m.batches.map((b) => `s${b.prePrepare.seq}`).join(' ')}]`;
    default:
      return 'unknown';
  }
}

function formatEvent(e: ReplicaEvent): string | null {
  switch (e.kind) {
    case 'slash':
      return `slash ${e.reason} validator=${e.validator}${e.evidence === undefined ? '' : ' with evidence'} (${e.detail})`;
    case 'timed-out':
      return `timed-out v${e.view}`;
    case 'view-change-started':
      return `view-change-started v${e.view}`;
    case 'new-view':
      return `new-view v${e.view} primary=${e.primary}`;
    case 'checkpoint-stable':
      return `checkpoint-stable s${e.seq}`;
    case 'caught-up':
      return `caught-up s${e.seq}`;
    case 'dropped':
      return null; // noisy and not part of the protocol trace
    default:
      return null;
  }
}

export class ScenarioCluster {
  private replicas: (PbftReplica | null)[] = [];
  private durable: DurableState[] = [];
  private queue: InFlight[] = [];
  private seeds: Uint8Array[] = [];
  private vs: ValidatorSet | null = null;
  private config: Partial<PbftConfig> = {};
  private lines: string[] = [];

  constructor(private readonly crypto: CryptoBackend) {}

  run(command: string, args: Record<string, string>): string {
    this.lines = [];
    switch (command) {
      case 'cluster':
        this.cluster(args);
        break;
      case 'request': {
        const name = args.client ?? 'c1';
        const r = signRequest(this.crypto, this.crypto.blake3(utf8Encode(`bpci-scenario-client/${name}`)), name, Number(args.seq ?? 1), utf8Encode(args.op ?? ''));
        for (const id of this.targets(args.to)) this.step(id, { kind: 'request', request: r });
        break;
      }
      case 'deliver':
        this.deliver(args);
        break;
      case 'stabilize':
        for (let round = 0; round < 100 && this.queue.length > 0; round++) this.deliver({});
        break;
      case 'drop': {
        const before = this.queue.length;
        this.queue = this.queue.filter((m) => !this.matches(m, args));
        this.lines.push(`dropped ${before - this.queue.length}`);
        break;
      }
      case 'tick': {
        const times = Number(args.n ?? 1);
        for (let i = 0; i < times; i++) for (const id of this.targets(args.node)) this.step(id, { kind: 'tick' });
        break;
      }
      case 'crash': {
        const id = Number(args.node);
        this.replicas[id] = null;
        this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
        this.lines.push(`r${id} crashed`);
        break;
      }
      case 'restart':
        this.restart(Number(args.node));
        break;
      case 'equivocate':
        this.equivocate(args);
        break;
      case 'status':
        for (const id of this.targets(args.node)) {
          const r = this.replicas[id];
          if (r === null || r === undefined) {
            this.lines.push(`r${id} down`);
            continue;
          }
          const s = r.status();
          this.lines.push(
            `r${id} view=${s.view} mode=${s.mode} primary=${s.primary} executed=s${s.committedHeight} stable=s${s.stableCheckpoint.seq} watermarks=(${s.lowWatermark},${s.highWatermark}] slots=[${s.slots.map((x) => `s${x.seq}:${x.phase}`).join(' ')}] pending=${s.pendingRequests}`,
          );
        }
        break;
      default:
        throw new Error(`unknown scenario command ${JSON.stringify(command)}`);
    }
    return this.lines.join('\n');
  }

  private cluster(args: Record<string, string>): void {
    const n = Number(args.n ?? 4);
    this.seeds = Array.from({ length: n }, (_, i) => validatorSeed(i));
    this.vs = new ValidatorSet(this.seeds.map((s) => ({ publicKey: this.crypto.ed25519PublicKey(s) })));
    const k = Number(args.k ?? 4);
    this.config = {
      checkpointInterval: k,
      watermarkWindow: Number(args.window ?? 2 * k),
      batchSizeMax: Number(args.batch ?? 2),
      inflightMax: Number(args.inflight ?? 4),
      batchDelayTicks: Number(args.delay ?? 0),
      verify: (args.verify ?? 'lazy') as 'lazy' | 'eager',
      viewChangeTimeoutTicks: Number(args.timeout ?? 10),
      viewChangeTimeoutTicksMax: 1000,
      retransmitTicks: 1000,
      fetchTicks: 3,
    };
    this.replicas = this.seeds.map((_, id) => this.make(id));
    this.durable = this.seeds.map(() => new DurableState());
    this.queue = [];
    this.lines.push(`${n} validators, quorum ${this.vs.quorumPower}, f=${this.vs.faultyPowerMax}`);
  }

  private make(id: number, restored?: ConstructorParameters<typeof PbftReplica>[0]['restored']): PbftReplica {
    return new PbftReplica({
      id,
      validators: this.vs!,
      seed32: this.seeds[id]!,
      crypto: this.crypto,
      app: new KvApp(this.crypto),
      config: this.config,
      ...(restored === undefined ? {} : { restored }),
    });
  }

  private targets(spec: string | undefined): number[] {
    if (spec === undefined || spec === 'all') return this.replicas.map((_, i) => i);
    return spec.split(',').map(Number);
  }

  private matches(m: InFlight, args: Record<string, string>): boolean {
    if (args.from !== undefined && !args.from.split(',').map(Number).includes(m.from)) return false;
    if (args.to !== undefined && !args.to.split(',').map(Number).includes(m.to)) return false;
    if (args.kind !== undefined && !args.kind.split(',').includes(m.message.kind)) return false;
    return true;
  }

  private deliver(args: Record<string, string>): void {
    const now = this.queue.filter((m) => this.matches(m, args));
    this.queue = this.queue.filter((m) => !this.matches(m, args));
    for (const m of now) {
      this.lines.push(`${m.from}->${m.to} ${formatMessage(m.message)}`);
      this.step(m.to, { kind: 'message', from: m.from, message: m.message });
    }
  }

  private step(id: number, input: Input): void {
    const r = this.replicas[id];
    if (r === null || r === undefined) return;
    this.handle(id, r.step(input));
  }

  private handle(id: number, out: Output): void {
    this.persist(id, out.persist);
    for (const c of out.commit) {
      this.lines.push(`  r${id} commit s${c.seq} v${c.view} [${c.requests.map((r, i) => `${r.clientId}#${r.requestSeq}=${JSON.stringify(utf8Decode(c.results[i]!, 'result'))}`).join(' ')}]`);
    }
    for (const e of out.events) {
      const s = formatEvent(e);
      if (s !== null) this.lines.push(`  r${id} ${s}`);
    }
    for (const env of out.replies) this.lines.push(`  r${id} ${formatMessage(env.message)}`);
    for (const env of [...out.sendAfterPersist, ...out.send]) {
      if (env.dest.kind === 'broadcast') {
        for (let to = 0; to < this.replicas.length; to++) if (to !== id && this.replicas[to] !== null) this.queue.push({ from: id, to, message: env.message });
      } else if (env.dest.kind === 'replica' && this.replicas[env.dest.to] !== null) {
        this.queue.push({ from: id, to: env.dest.to, message: env.message });
      }
    }
    for (const job of out.verify) {
      const valid = this.crypto.ed25519VerifyBatch(job.items);
      this.step(id, { kind: 'verified', jobId: job.jobId, valid });
    }
  }

  private persist(id: number, records: PersistRecord[]): void {
    this.durable[id]!.apply(records);
  }

  private restart(id: number): void {
    const restored = this.durable[id]!.restored();
    const from = restored.checkpoint?.seq ?? 0;
    this.replicas[id] = this.make(id, restored);
    this.lines.push(
      `r${id} restarted from checkpoint s${from} with ${restored.committed.length} committed batches, ${restored.votes.length} vote records and ${restored.prepared.length} prepared certificates`,
    );
  }

  private equivocate(args: Record<string, string>): void {
    const id = Number(args.node);
    const kind = (args.kind ?? 'prepare') as 'prepare' | 'commit';
    const view = Number(args.view ?? 0);
    const seq = Number(args.seq ?? 1);
    const digest = this.crypto.blake3(utf8Encode(`conflicting ${kind} ${view} ${seq}`));
    const unsigned = { kind, view, seq, digest, from: id, sig: new Uint8Array(64) };
    const m = { ...unsigned, sig: this.crypto.ed25519Sign(this.seeds[id]!, signingPayload(unsigned)) } as Message;
    encodeMessage(m); // must be a valid frame
    for (let to = 0; to < this.replicas.length; to++) if (to !== id && this.replicas[to] !== null) this.queue.push({ from: id, to, message: m });
    this.lines.push(`r${id} signs ${formatMessage(m)}`);
  }
}

/** Parse and run a datadriven file; returns the file text with fresh outputs. */
export function runScenarioScript(text: string, crypto: CryptoBackend): string {
  const cluster = new ScenarioCluster(crypto);
  const out: string[] = [];
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      out.push(line);
      i++;
      continue;
    }
    const cmdLine = line;
    i++;
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after ${JSON.stringify(cmdLine)}`);
    i++;
    while (i < lines.length && lines[i]!.trim() !== '') i++; // skip the old expected output
    const [command, args] = parseCommand(cmdLine);
    const result = cluster.run(command, args);
    out.push(cmdLine, '----');
    if (result.length > 0) out.push(result);
  }
  return out.join('\n');
}

function parseCommand(line: string): [string, Record<string, string>] {
  const parts = line.trim().split(/\s+/);
  const command = parts.shift()!;
  const args: Record<string, string> = {};
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j]!;
    const eq = p.indexOf('=');
    if (eq < 0) throw new Error(`bad argument ${JSON.stringify(p)} in ${JSON.stringify(line)}`);
    const key = p.slice(0, eq);
    if (key === 'op') {
      args.op = [p.slice(eq + 1), ...parts.slice(j + 1)].join(' ');
      break;
    }
    args[key] = p.slice(eq + 1);
  }
  return [command, args];
}
