// The `bpci` command line (commander).
//
// - The seed's verbs, as HTTP clients of a validator's API (`--api`, env BPCI_API):
//     bpci consensus start-round | round-status | metrics | list-rounds | history
//     bpci consensus ibft vote | state | votes | proposal
//   plus `bpci submit`, `bpci tx`, `bpci block`, `bpci evidence`, `bpci health`.
// - Local tools: `bpci keys generate`, `bpci config init` (a cluster on N hosts, config/deploy-init.ts),
//   `bpci bench storage` (group-commit latency).
// - Runtime commands whose implementation lives in the runtime (so this module does not depend on
//   it): `bpci node start`, `bpci bench consensus`, and `bpci cluster up` (which by default spawns
//   `bpci node start` processes, cli/cluster.ts). `bpci cluster status|stop|restart` act on the
//   local cluster in a --dir (cli/cluster.ts). They are always defined here (same flags
//   everywhere) and call what `registerRuntimeCommands(program, impl)` provided.
//
// Output: human-readable YAML/tables on stdout, or exact API JSON with `--json`. Exit codes: 0 ok,
// 1 the API refused (4xx/5xx), 2 bad usage, 3 the API was unreachable, 4 a local error.

import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import YAML from 'yaml';
import { ApiClient, ApiClientError, type Json } from './client.js';
import { runWithProgress } from './progress.js';
import { ClusterError, clusterRestart, clusterStatus, clusterStop, formatClusterStatus, runLocalCluster } from './cluster.js';
import { generateKeyFile, KeyFileError } from '../keys/keyfile.js';
import { ConfigError } from '../config/config.js';
import { registerLedgerCommands } from './ledger.js';
import { DEPLOY_DEFAULTS, DeployInitError, deployInit, parseHostList } from '../config/deploy-init.js';
import { openAuctionRound, registerAuctionCommands } from './auction.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Whether progress bars may draw (a TTY on stderr and not --json). */
  readonly progress?: boolean;
}

export const processIo: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  progress: Boolean(process.stderr.isTTY),
};

export interface NodeStartOptions {
  readonly config: string;
}
export interface ClusterUpOptions {
  readonly validators: number;
  readonly dir: string;
  readonly host: string;
  readonly basePort: number;
  readonly apiBasePort: number;
  readonly durability: 'durable' | 'memory';
  readonly verify: 'lazy' | 'eager';
  /** The replicated app (node.app); default kv (the text store `bpci submit "add alice 5"` talks to). */
  readonly app?: 'kv' | 'ledger';
  /** Ledger only: funded client accounts in the genesis (local-cluster's default when absent). */
  readonly ledgerClients?: number;
}
export interface BenchConsensusOptions {
  /** Cluster sizes to run, e.g. [4, 7]. */
  readonly validators: readonly number[];
  /** Client counts, e.g. [1, 32, 128]. */
  readonly clients: readonly number[];
  /** Measured requests per scenario (after warm-up). */
  readonly requests: number;
  readonly warmup: number;
  readonly durability: readonly ('durable' | 'memory')[];
  readonly verify: readonly ('lazy' | 'eager')[];
  /** Output directory for JSON / markdown / SVG. */
  readonly out: string;
  readonly json: boolean;
}
/** What the runtime provides; each returns when the command is done (or the process is stopped). */
export interface RuntimeCommands {
  nodeStart(opts: NodeStartOptions, io: CliIo): Promise<void>;
  clusterUp(opts: ClusterUpOptions, io: CliIo): Promise<void>;
  benchConsensus(opts: BenchConsensusOptions, io: CliIo): Promise<void>;
}

const runtimeImpls = new WeakMap<Command, Partial<RuntimeCommands>>();

/** Wires the runtime's implementations into a program built by `buildProgram`. */
export function registerRuntimeCommands(program: Command, impl: Partial<RuntimeCommands>): void {
  runtimeImpls.set(program, { ...runtimeImpls.get(program), ...impl });
}

class CliFailure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

// ------------------------------------------------------------------ option parsers

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be in ${min}..${max}, got ${n}`);
    return n;
  };
}
function listArg<T>(name: string, item: (s: string) => T) {
  return (v: string): T[] => {
    const parts = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (parts.length === 0) throw new InvalidArgumentError(`${name} must be a comma-separated list`);
    return parts.map(item);
  };
}
function oneOfArg<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
}
// A sequence number (kv node) or an auction round id (round-<16 hex>, a ledger node with the auction).
const ROUND_ID_RE = /^(round-)?(\d{1,15}|[0-9a-f]{16})$/;
function roundIdArg(v: string): string {
  if (!ROUND_ID_RE.test(v)) throw new InvalidArgumentError(`round id must be a sequence number like 12 or round-12, got ${JSON.stringify(v)}`);
  return v;
}

// ------------------------------------------------------------------ output

function isObj(v: Json): v is { [k: string]: Json } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function roundsTable(rounds: Json): string {
  if (!Array.isArray(rounds) || rounds.length === 0) return '(no rounds)';
  const cols = ['round_id', 'view', 'phase', 'transaction_count', 'prepare_votes', 'commit_votes', 'duration_ms'] as const;
  const head = ['ROUND', 'VIEW', 'PHASE', 'TXS', 'PREPARES', 'COMMITS', 'MS'];
  const rows = rounds.map((r) => cols.map((c) => (isObj(r) && r[c] !== undefined && r[c] !== null ? String(r[c]) : '-')));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

// ------------------------------------------------------------------ the program

export interface BuildOptions {
  readonly io?: CliIo;
  readonly fetch?: typeof fetch;
  readonly runtime?: Partial<RuntimeCommands>;
}

interface Globals {
  api: string;
  json: boolean;
  timeoutMs: number;
  token?: string;
  tokenFile?: string;
  caFile?: string;
}

export function buildProgram(opts: BuildOptions = {}): Command {
  const io = opts.io ?? processIo;
  const program = new Command('bpci');
  if (opts.runtime) runtimeImpls.set(program, opts.runtime);
  program
    .description('bpci: a BFT (PBFT) consensus validator, its API client and tools')
    .version('0.1.0')
    .addOption(new Option('--api <url>', 'validator API base URL').env('BPCI_API').default('http://127.0.0.1:8080'))
    .addOption(new Option('--token <token>', 'bearer token for an API with node.api.token_file/token_env (prefer BPCI_TOKEN: a flag shows in ps)').env('BPCI_TOKEN'))
    .addOption(new Option('--token-file <file>', 'read the bearer token from this file (first line), e.g. the api-token bpci config init writes').env('BPCI_TOKEN_FILE'))
    .addOption(new Option('--ca-file <file>', 'PEM CA to trust for an https --api (the ca.pem bpci config init writes)').env('BPCI_CA_FILE'))
    .option('--json', 'print the API JSON exactly (for scripts)', false)
    .option('--timeout-ms <ms>', 'HTTP timeout', intArg('--timeout-ms', 1, 600_000), 30_000)
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(add --help for usage)');

  const globals = (): Globals => program.opts<Globals>();
  const readCliFile = (file: string, flag: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      const message = `${flag}: cannot read ${file}: ${(err as Error).message}`;
      io.err(`error: ${message}`);
      throw new CliFailure(2, message);
    }
  };
  const client = (): ApiClient => {
    const g = globals();
    const token = g.token ?? (g.tokenFile !== undefined ? readCliFile(g.tokenFile, '--token-file').split(/\r?\n/)[0]!.trim() : undefined);
    const ca = g.caFile !== undefined ? readCliFile(g.caFile, '--ca-file') : undefined;
    return new ApiClient({
      baseUrl: g.api,
      timeoutMs: g.timeoutMs,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(token !== undefined && token.length > 0 ? { token } : {}),
      ...(ca !== undefined ? { ca } : {}),
    });
  };
  const show = (data: Json, human?: (d: Json) => string): void => {
    if (globals().json) io.out(JSON.stringify(data, null, 2));
    else io.out(human ? human(data) : YAML.stringify(data).trimEnd());
  };
  /** Wraps an action: maps errors to messages and exit codes, never a stack trace for user errors. */
  const act =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      try {
        await fn(...args);
      } catch (err) {
        if (err instanceof ApiClientError) {
          if (globals().json && err.body !== null) io.out(JSON.stringify(err.body, null, 2));
          io.err(`error: ${err.message}${err.status ? ` (HTTP ${err.status} ${err.code})` : ''}`);
          throw new CliFailure(err.status === 0 ? 3 : 1, err.message);
        }
        if (err instanceof KeyFileError || err instanceof ConfigError || err instanceof ClusterError || err instanceof DeployInitError) {
          io.err(`error: ${err.message}`);
          throw new CliFailure(4, err.message);
        }
        throw err;
      }
    };

  // ---------------------------------------------------------------- consensus
  const auctionCtx = { client, show: (d: Json) => show(d), act, fail: (code: number, message: string): never => {
    io.err(`error: ${message}`);
    throw new CliFailure(code, message);
  } };
  const consensus = program.command('consensus').description("consensus rounds (a round = one PBFT sequence number) and the seed's IBFT views");

  consensus
    .command('start-round')
    .description('submit bundles of transactions and report the round that carries them')
    .option('--bundles <ids>', 'comma-separated bundle ids; without --transactions each bundle carries one transaction, its id', listArg('--bundles', String))
    .option('--transactions <txs>', 'comma-separated transactions, put in every bundle', listArg('--transactions', String))
    .option('--timeout <seconds>', 'seconds to wait for the round id', intArg('--timeout', 1, 60), 30)
    .option('--key-file <file>', 'on a node with the auction: open an auction round signed by this key (bundles then go in with `consensus auction submit-bundle`)')
    .action(
      act(async (o: { bundles?: string[]; transactions?: string[]; timeout: number; keyFile?: string }) => {
        if (o.keyFile !== undefined) {
          if (o.bundles || o.transactions) throw new CommanderError(2, 'bpci.usage', 'error: with --key-file (an auction round) bundles are sealed by their bidders: use `bpci consensus auction submit-bundle` after the round opens');
          await openAuctionRound(auctionCtx, o.keyFile);
          return;
        }
        if (!o.bundles && !o.transactions) throw new CommanderError(2, 'bpci.usage', 'error: give --bundles and/or --transactions');
        const ids = o.bundles ?? ['bundle-cli'];
        const bundle_proposals = ids.map((id) => ({ bundle_id: id, transactions: o.transactions ?? [id] }));
        show(await client().startRound({ bundle_proposals, timeout: o.timeout }));
      }),
    );

  consensus
    .command('round-status')
    .description('status of one round')
    .requiredOption('--round-id <id>', 'sequence number, e.g. 12 or round-12', roundIdArg)
    .action(act(async (o: { roundId: string }) => show(await client().roundStatus(o.roundId))));

  consensus
    .command('metrics')
    .description('consensus metrics summary (JSON form of the Prometheus /metrics)')
    .action(act(async () => show(await client().consensusMetrics())));

  consensus
    .command('list-rounds')
    .description('list rounds in flight (--status active) or finished (--status history)')
    .option('--status <which>', 'active | history', oneOfArg('--status', ['active', 'history'] as const), 'active')
    .option('--limit <n>', 'history length', intArg('--limit', 1, 1000), 50)
    .action(
      act(async (o: { status: 'active' | 'history'; limit: number }) => {
        const res = o.status === 'active' ? await client().activeRounds() : await client().roundHistory(o.limit);
        show(res, (d) => roundsTable(isObj(d) ? (d.rounds ?? null) : null));
      }),
    );

  consensus
    .command('history')
    .description('most recent finished rounds')
    .option('--limit <n>', 'how many', intArg('--limit', 1, 1000), 50)
    .action(act(async (o: { limit: number }) => show(await client().roundHistory(o.limit), (d) => roundsTable(isObj(d) ? (d.rounds ?? null) : null))));

  registerAuctionCommands(consensus, auctionCtx);

  const ibft = consensus.command('ibft').description("the seed's IBFT operations, answered by this engine's PBFT state");
  ibft
    .command('vote')
    .description('submit a validator vote (the API refuses: votes travel only over authenticated validator links)')
    .requiredOption('--validator-id <id>', 'validator id')
    .requiredOption('--vote-type <type>', 'Prepare | Commit', oneOfArg('--vote-type', ['Prepare', 'Commit', 'PrePrepare'] as const))
    .requiredOption('--block-hash <hex>', '0x + 64 hex digits')
    .requiredOption('--signature <sig>', 'ed25519:<128 hex digits>')
    .option('--round-number <n>', 'round number', intArg('--round-number', 0, Number.MAX_SAFE_INTEGER), 0)
    .action(
      act(async (o: { validatorId: string; voteType: string; blockHash: string; signature: string; roundNumber: number }) => {
        show(
          await client().ibftVote({
            validator_id: o.validatorId,
            vote_type: o.voteType,
            block_hash: o.blockHash,
            round_number: o.roundNumber,
            signature: o.signature,
          }),
        );
      }),
    );
  ibft
    .command('state')
    .description("this validator's consensus state, or one round's with --round-id")
    .option('--round-id <id>', 'sequence number', roundIdArg)
    .action(act(async (o: { roundId?: string }) => show(await client().ibftState(o.roundId))));
  ibft
    .command('votes')
    .description('votes seen for a round')
    .requiredOption('--round-id <id>', 'sequence number', roundIdArg)
    .action(act(async (o: { roundId: string }) => show(await client().ibftVotes(o.roundId))));
  ibft
    .command('proposal')
    .description('the proposal (pre-prepared batch) of a round')
    .requiredOption('--round-id <id>', 'sequence number', roundIdArg)
    .action(act(async (o: { roundId: string }) => show(await client().ibftProposal(o.roundId))));

  // ---------------------------------------------------------------- transactions, blocks, evidence, health
  program
    .command('submit')
    .description('submit transactions; with --count > 1 runs a closed-loop load with a progress bar and a latency summary')
    .argument('[payload]', 'transaction payload (utf8 unless --encoding)', 'hello')
    .option('--encoding <enc>', 'utf8 | hex | base64', oneOfArg('--encoding', ['utf8', 'hex', 'base64'] as const), 'utf8')
    .option('--wait', 'wait until committed', false)
    .option('--count <n>', 'how many (payload gets "-<i>" appended when > 1)', intArg('--count', 1, 10_000_000), 1)
    .option('--concurrency <n>', 'requests in flight', intArg('--concurrency', 1, 4096), 1)
    .option('--client-id <id>', 'exactly-once client id (request_seq counts from 1)')
    .action(
      act(async (payload: string, o: { encoding: 'utf8' | 'hex' | 'base64'; wait: boolean; count: number; concurrency: number; clientId?: string }) => {
        const c = client();
        const one = (i: number) =>
          c.submitTransaction(
            {
              payload: o.count > 1 && o.encoding === 'utf8' ? `${payload}-${i}` : payload,
              encoding: o.encoding,
              ...(o.clientId ? { client_id: o.clientId, request_seq: i + 1 } : {}),
            },
            { wait: o.wait },
          );
        if (o.count === 1) {
          show(await one(0));
          return;
        }
        const lat: number[] = [];
        const t0 = performance.now();
        await runWithProgress(
          o.count,
          o.concurrency,
          'submit',
          async (i) => {
            const s = performance.now();
            await one(i);
            lat.push(performance.now() - s);
          },
          { enabled: (io.progress ?? false) && !globals().json },
        );
        const seconds = (performance.now() - t0) / 1000;
        lat.sort((a, b) => a - b);
        const q = (p: number) => Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(3));
        show({ requests: o.count, concurrency: o.concurrency, waited_for_commit: o.wait, p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), throughput_rps: Math.round(o.count / seconds) });
      }),
    );

  program
    .command('tx')
    .description('status of a transaction')
    .argument('<tx-id>', '64 hex digits')
    .action(act(async (id: string) => show(await client().transaction(id))));

  program
    .command('block')
    .description('a committed block; with --tx, the Merkle inclusion proof of that transaction')
    .argument('<height>', 'block height (= sequence number)', intArg('height', 0, Number.MAX_SAFE_INTEGER))
    .option('--tx <tx-id>', 'transaction id to prove')
    .action(act(async (height: number, o: { tx?: string }) => show(await client().block(height, o.tx))));

  program
    .command('evidence')
    .description('equivocation evidence recorded by the validator')
    .option('--limit <n>', 'how many', intArg('--limit', 1, 1000), 100)
    .action(act(async (o: { limit: number }) => show(await client().evidence(o.limit))));

  program
    .command('health')
    .description('process health, or consensus health with --consensus')
    .option('--consensus', 'consensus health (quorum of links; behind, alone in a view or out of normal mode past a grace period)', false)
    .action(
      act(async (o: { consensus: boolean }) => {
        try {
          show(await client().health(o.consensus ? 'consensus' : undefined));
        } catch (err) {
          // 503 = "down": the body is the health report, which is the answer the user wants.
          if (err instanceof ApiClientError && err.status === 503 && err.body !== null) {
            show(err.body);
            throw new CliFailure(1, 'unhealthy');
          }
          throw err;
        }
      }),
    );

  // ---------------------------------------------------------------- keys
  registerLedgerCommands(program, { client, show: (d) => show(d), act, fail: (code, message) => {
    io.err(`error: ${message}`);
    throw new CliFailure(code, message);
  } });

  const keys = program.command('keys').description('validator identity keys');
  keys
    .command('generate')
    .description('write a new Ed25519 validator key file (mode 0600) and print its public key')
    .requiredOption('--out <file>', 'key file to create')
    .option('--validator-id <id>', 'validator id recorded in the file')
    .option('--force', 'overwrite an existing file', false)
    .action(
      act(async (o: { out: string; validatorId?: string; force: boolean }) => {
        const k = generateKeyFile(o.out, { force: o.force, ...(o.validatorId ? { validatorId: o.validatorId } : {}) });
        show({ file: o.out, validator_id: k.validatorId, public_key: k.publicKeyText });
      }),
    );

  // ---------------------------------------------------------------- config
  const config = program.command('config').description('validator configuration files');
  config
    .command('init')
    .description('write keys, API certificates (one cluster CA), an API token and a config per validator, for N validators on N hosts')
    .requiredOption('--validators <n>', 'how many validators', intArg('--validators', 1, 100))
    .option('--hosts <list>', 'comma-separated hosts (IP or DNS name), one per validator, in order')
    .option('--hosts-file <file>', 'a file with one host per line (# comments) instead of --hosts')
    .requiredOption('--out <dir>', 'output folder (one sub-folder per validator; see docs/deploy.md)')
    .option('--api-port <port>', 'HTTP API port on every host', intArg('--api-port', 1, 65535), DEPLOY_DEFAULTS.apiPort)
    .option('--peer-port <port>', 'validator-to-validator port on every host', intArg('--peer-port', 1, 65535), DEPLOY_DEFAULTS.peerPort)
    .option('--client-port <port>', 'client request port on every host', intArg('--client-port', 1, 65535), DEPLOY_DEFAULTS.clientPort)
    .option('--api-listen <addr>', "where the API listens (node.api.host), e.g. 0.0.0.0 in a container; default each validator's host")
    .option('--data-root <dir>', 'node.data_dir is <data-root>/<validator-id> on each host', DEPLOY_DEFAULTS.dataRoot)
    .option('--san <list>', 'extra DNS names / IPs in every API certificate (a load balancer, a k8s Service)', listArg('--san', String), [])
    .option('--cert-days <n>', 'API certificate lifetime', intArg('--cert-days', 1, 10_950), DEPLOY_DEFAULTS.certDays)
    .option('--ca-days <n>', 'cluster CA lifetime', intArg('--ca-days', 1, 10_950), DEPLOY_DEFAULTS.caDays)
    .option('--force', 'replace existing keys, certificates and the token (new identities!)', false)
    .action(
      act(
        async (o: {
          validators: number; hosts?: string; hostsFile?: string; out: string; apiPort: number; peerPort: number; clientPort: number;
          apiListen?: string; dataRoot: string; san: string[]; certDays: number; caDays: number; force: boolean;
        }) => {
          if ((o.hosts === undefined) === (o.hostsFile === undefined)) throw new DeployInitError('give the hosts with exactly one of --hosts a,b,c or --hosts-file <file>');
          const hosts = o.hosts !== undefined ? parseHostList(o.hosts) : parseHostList(readCliFile(o.hostsFile!, '--hosts-file'));
          const r = deployInit({
            validators: o.validators,
            hosts,
            out: o.out,
            apiPort: o.apiPort,
            peerPort: o.peerPort,
            clientPort: o.clientPort,
            ...(o.apiListen !== undefined ? { apiListen: o.apiListen } : {}),
            dataRoot: o.dataRoot,
            san: o.san,
            certDays: o.certDays,
            caDays: o.caDays,
            force: o.force,
          });
          for (const w of r.warnings) io.err(`warning: ${w}`);
          show({
            out: r.out,
            ca_file: r.caFile,
            token_file: r.tokenFile,
            validators: r.validators.map((v) => ({
              validator_id: v.validatorId,
              host: v.host,
              config: v.configFile,
              public_key: v.publicKey,
              peer: v.peerEndpoint,
              client: v.clientEndpoint,
              api: v.apiUrl,
            })),
            next: `copy each <out>/<validator-id>/ folder to its host as /etc/bpci/<validator-id>/; move ${path.join(r.out, 'ca', 'ca-key.pem')} offline (see docs/deploy.md)`,
          });
        },
      ),
    );

  // ---------------------------------------------------------------- runtime commands
  const runtime = (name: keyof RuntimeCommands) => {
    const impl = runtimeImpls.get(program)?.[name];
    if (!impl) throw new CliFailure(4, `"${name}" is not available: this build has no runtime registered (registerRuntimeCommands)`);
    return impl;
  };

  program
    .command('node')
    .description('run a validator')
    .command('start')
    .description('start a validator from a config file (runs until SIGINT/SIGTERM)')
    .requiredOption('--config <file>', 'YAML config (see packages/node/README.md)')
    .action(act(async (o: { config: string }) => (runtime('nodeStart') as RuntimeCommands['nodeStart'])({ config: o.config }, io)));

  const cluster = program.command('cluster').description('a local validator cluster on loopback');
  cluster
    .command('up')
    .description('generate keys + configs and run n validators as separate processes until Ctrl-C')
    .option('--validators <n>', 'how many validators', intArg('--validators', 1, 100), 4)
    .option('--dir <dir>', 'folder for keys, configs, data and logs', '.bpci-cluster')
    .option('--host <host>', 'listen host', '127.0.0.1')
    .option('--base-port <port>', 'validator i listens on base-port + i', intArg('--base-port', 1, 65_000), 7001)
    .option('--api-base-port <port>', 'validator i serves its API on api-base-port + i', intArg('--api-base-port', 1, 65_000), 8081)
    .option('--durability <mode>', 'durable | memory', oneOfArg('--durability', ['durable', 'memory'] as const), 'durable')
    .option('--verify <mode>', 'lazy | eager', oneOfArg('--verify', ['lazy', 'eager'] as const), 'lazy')
    .option('--app <app>', 'kv (text ops) | ledger (signed transfers, genesis in <dir>/config/genesis.json)', oneOfArg('--app', ['kv', 'ledger'] as const), 'kv')
    // Default: spawn `bpci node start` per validator (cli/cluster.ts); a runtime may replace it.
    .action(act(async (o: ClusterUpOptions) => (runtimeImpls.get(program)?.clusterUp ?? runLocalCluster)(o, io)));
  cluster
    .command('status')
    .description("each validator's pid (the holder of its data dir lock), state and /health; exit 1 unless every one shown is running and ok")
    .argument('[validator]', 'one validator id, e.g. validator-002')
    .option('--dir <dir>', 'the folder given to cluster up', '.bpci-cluster')
    .action(
      act(async (validator: string | undefined, o: { dir: string }) => {
        const rows = await clusterStatus(o.dir, validator);
        if (globals().json) io.out(JSON.stringify(rows, null, 2));
        else io.out(formatClusterStatus(rows));
        if (!rows.every((r) => r.state === 'running' && r.health === 'ok')) throw new CliFailure(1, 'not every validator is running and ok');
      }),
    );
  cluster
    .command('stop')
    .description('stop one validator of the local cluster (SIGTERM to its pid, SIGKILL after --grace-ms)')
    .argument('<validator>', 'validator id, e.g. validator-002')
    .option('--dir <dir>', 'the folder given to cluster up', '.bpci-cluster')
    .option('--grace-ms <ms>', 'wait this long after SIGTERM before SIGKILL', intArg('--grace-ms', 0, 600_000), 10_000)
    .action(act(async (validator: string, o: { dir: string; graceMs: number }) => io.out(await clusterStop(o.dir, validator, { stopGraceMs: o.graceMs }))));
  cluster
    .command('restart')
    .description('stop one validator (if running) and start it again in the background, logging to <dir>/logs; waits until it is up')
    .argument('<validator>', 'validator id, e.g. validator-002')
    .option('--dir <dir>', 'the folder given to cluster up', '.bpci-cluster')
    .option('--grace-ms <ms>', 'wait this long after SIGTERM before SIGKILL', intArg('--grace-ms', 0, 600_000), 10_000)
    .action(act(async (validator: string, o: { dir: string; graceMs: number }) => io.out(await clusterRestart(o.dir, validator, { stopGraceMs: o.graceMs }))));

  const bench = program.command('bench').description('benchmarks');
  bench
    .command('consensus')
    .description('multi-process consensus benchmark: latency percentiles and throughput per scenario')
    .option('--validators <list>', 'cluster sizes', listArg('--validators', intArg('--validators', 1, 100)), [4])
    .option('--clients <list>', 'client counts', listArg('--clients', intArg('--clients', 1, 100_000)), [1, 32, 128])
    .option('--requests <n>', 'measured requests per scenario', intArg('--requests', 1, 100_000_000), 10_000)
    .option('--warmup <n>', 'warm-up requests per scenario', intArg('--warmup', 0, 100_000_000), 1_000)
    .option('--durability <list>', 'durable,memory', listArg('--durability', oneOfArg('--durability', ['durable', 'memory'] as const)), ['durable'])
    .option('--verify <list>', 'lazy,eager', listArg('--verify', oneOfArg('--verify', ['lazy', 'eager'] as const)), ['lazy'])
    .option('--out <dir>', 'results directory', 'bench/results')
    .action(act(async (o: Omit<BenchConsensusOptions, 'json'>) => (runtime('benchConsensus') as RuntimeCommands['benchConsensus'])({ ...o, json: globals().json }, io)));

  bench
    .command('storage')
    .description('group-commit latency of the LMDB store (durable vs no fsync, 1/8/64 persists per turn)')
    .option('--dir <dir>', 'where to create the scratch database (use the disk you will run on)')
    .action(
      act(async (o: { dir?: string }) => {
        const { runGroupCommitBench, formatGroupCommitTable } = await import('../storage/group-commit-bench.js');
        const results = await runGroupCommitBench(o.dir);
        if (globals().json) io.out(JSON.stringify(results, null, 2));
        else io.out(formatGroupCommitTable(results));
      }),
    );

  bench
    .command('transport')
    .description('loopback link benchmark: ping-pong RTT and one-way frames/s with MACs')
    .option('--crypto <backend>', 'js | wasm | native (default: the auto-selected one)', oneOfArg('--crypto', ['js', 'wasm', 'native'] as const))
    .option('--payload-bytes <n>', 'payload size', intArg('--payload-bytes', 1, 1 << 20), 200)
    .action(
      act(async (o: { crypto?: 'js' | 'wasm' | 'native'; payloadBytes: number }) => {
        const { selectBackend } = await import('../crypto/select.js');
        const { measureTransport } = await import('../transport/transport-bench.js');
        const sel = await selectBackend({ ...(o.crypto ? { prefer: o.crypto } : {}), log: false });
        const r = await measureTransport(sel.backend, { payloadBytes: o.payloadBytes });
        show(toJsonSafe(r));
      }),
    );

  return program;
}

function toJsonSafe(v: object): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}

/**
 * Parses argv (without the node and script entries) and runs the command. Returns the exit code
 * instead of exiting, so tests can call it.
 */
export async function runCli(argv: readonly string[], opts: BuildOptions = {}): Promise<number> {
  const io = opts.io ?? processIo;
  const program = buildProgram(opts);
  program.exitOverride();
  for (const c of allCommands(program)) c.exitOverride();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CliFailure) return err.exitCode;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      if (err.code === 'bpci.usage') io.err(err.message);
      return 2;
    }
    io.err(`error: ${(err as Error).message}`);
    return 4;
  }
}

function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap((x) => allCommands(x as Command))];
}
