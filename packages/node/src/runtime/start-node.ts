// Starts one validator from its YAML config: key file, crypto backend, store, runtime, HTTP API,
// metrics. Returns a handle whose stop() shuts everything down in order (API, then runtime,
// which lets the last group commit land before the store closes).
//
// One process per validator (issue 13 §2). The order guarantees that a second copy of a running
// validator never disturbs the live one:
//   1. the data dir lock (storage/dir-lock.ts), before anything touches the directory: a copy on
//      the same data dir stops here and never opens LMDB;
//   2. the store, under that lock, and the runtime built on it (nothing listens or dials yet);
//   3. every port: peer port, client port, HTTP API: a copy with any port taken stops here;
//   4. only then the links to peers are dialed.
// A failure at any step undoes the earlier ones and throws StartupError, whose message is one
// line naming the validator, the port or directory, and the process holding it.

import path from 'node:path';
import { LedgerApp, resolveConfig, toHex, type PbftConfig } from '@bpci/core';
import type { FastifyBaseLogger } from 'fastify';
import { isLoopbackHost, loadConfig, type NodeConfig } from '../config/config.js';
import { loadKeyFile, publicKeyText } from '../keys/keyfile.js';
import { identityHeaders } from '../cli/identity.js';
import { selectBackend } from '../crypto/select.js';
import { CryptoPool } from '../crypto/pool.js';
import { openStore } from '../storage/store.js';
import { openSafetyLog } from './safety-log.js';
import { acquireDirLock, DirLockedError } from '../storage/dir-lock.js';
import { findPortOwner } from '../transport/port-owner.js';
import { createLogger, type LogOutput } from '../log.js';
import { NodeMetrics } from '../metrics/metrics.js';
import { createApi } from '../api/server.js';
import { readApiTls, readApiToken } from '../api/auth.js';
import { NodeService } from './node-service.js';
import { LedgerService } from './ledger-service.js';
import { AuctionService, coreAuctionConfig } from './auction-service.js';
import { healthThresholdsOf } from './consensus-health.js';
import { DEFAULT_TICK_MS, ValidatorNode } from './validator-node.js';

export interface RunningNode {
  readonly config: NodeConfig;
  readonly node: ValidatorNode;
  readonly apiUrl: string;
  /** Stops everything in order; logs `validator stopping` (with why) and `validator stopped`. */
  stop(why?: StopReason): Promise<void>;
}

/** Why a validator stops, for its last log lines. */
export interface StopReason {
  /** The signal that asked for it (SIGTERM, SIGINT). */
  readonly signal?: string;
  /** In words, e.g. "signal", "test". */
  readonly reason?: string;
}

export interface StartNodeOptions {
  /** Worker threads for signature batches (0 = verify inline). Default: BPCI_POOL_THREADS or 1. */
  readonly poolThreads?: number;
}

/** A validator that cannot start; the message is one line for the operator. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export async function startNodeFromConfig(file: string, opts: StartNodeOptions = {}): Promise<RunningNode> {
  const config = loadConfig(file);
  const nd = config.node;
  const logger = loggerOf(config);
  const me = config.activeValidators[nd.index]!;
  // Undone in reverse order when a later step fails.
  const undo: (() => Promise<void> | void)[] = [];
  let node: ValidatorNode | undefined;
  try {
    const key = loadKeyFile(nd.keyFile);
    if (Buffer.compare(Buffer.from(me.publicKey), Buffer.from(key.publicKey)) !== 0) {
      throw new Error(`key file ${nd.keyFile} does not hold the public key configured for ${nd.validatorId}`);
    }
    // node.api.tls / token_*: read before the data dir is touched, so a missing or too-open secret stops
    // the start with a line naming the key. Loopback without them is the local-cluster default.
    const apiTls = readApiTls(nd.api);
    const apiToken = readApiToken(nd.api);
    const clientTls = readApiTls(nd.clientPort, 'node.client_port');
    const clientToken = readApiToken(nd.clientPort, process.env, 'node.client_port');
    if (me.client && nd.clientPort.insecure && !isLoopbackHost(me.client.host) && (!clientTls || clientToken === undefined)) {
      logger.warn(
        { client_host: me.client.host, tls: Boolean(clientTls), token: clientToken !== undefined },
        'node.client_port.insecure is true: the client port on a non-loopback host runs WITHOUT TLS and/or a token; anyone who can reach it can open sessions (requests stay signed)',
      );
    }
    if (nd.api.insecure && !isLoopbackHost(nd.api.host) && (!apiTls || apiToken === undefined)) {
      logger.warn(
        { api_host: nd.api.host, tls: Boolean(apiTls), token: apiToken !== undefined },
        'node.api.insecure is true: the HTTP API on a non-loopback host runs WITHOUT TLS and/or a bearer token; anyone who can reach the port can submit and read everything',
      );
    }
    // 1. The data dir lock, in memory mode too (nothing else is written there then): it is how a
    //    second process for this validator, and `bpci cluster status`, find the running one.
    const dataDir = path.resolve(nd.dataDir);
    const lock = acquireDirLock(dataDir, { owner: nd.validatorId, logger });
    undo.push(() => lock.release());
    const selection = await selectBackend({ log: (line) => logger.info({ backend: 'crypto' }, line) });
    const crypto = selection.backend;
    const threads = opts.poolThreads ?? Number(process.env.BPCI_POOL_THREADS ?? 1);
    let pool: CryptoPool | null = null;
    if (threads > 0) {
      try {
        pool = await CryptoPool.create({ threads, inline: crypto });
        const p = pool;
        undo.push(() => p.close());
      } catch (e) {
        logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'crypto pool unavailable; verifying inline');
      }
    }
    const pbft = pbftConfigOf(config);
    const resolved = resolveConfig(pbft); // throws a ConfigError naming a bad relation before anything listens
    // 2. The store, under the lock (the runtime restores from it when it is built).
    const store = nd.durability === 'memory' ? null : openStore(dataDir, { durable: true, lock, logger });
    if (store) undo.push(() => store.close());
    // The safety log (a write-ahead log next to LMDB, safety-log.ts): what a vote waits for.
    let safety: Awaited<ReturnType<typeof openSafetyLog>> | null = null;
    if (store) {
      safety = await openSafetyLog(dataDir);
      const log = safety.log;
      undo.push(() => log.close());
      const r = safety.recovery;
      if (r.records > 0 || r.torn !== null) {
        logger.info({ records: r.records, segments: r.segments, torn: r.torn !== null, zeroed_bytes: r.zeroedBytes }, 'safety log read back');
      }
    }
    const metrics = new NodeMetrics();
    const names = config.activeValidators.map((v) => v.validatorId);
    const healthThresholds = healthThresholdsOf(resolved, tickMsOf(config));
    // The replicated app: the ledger (node.app: ledger, from its genesis) or the kv text store.
    const auctionConfig = nd.app === 'ledger' && nd.genesis ? coreAuctionConfig(config, nd.genesis) : undefined;
    const ledgerApp = nd.app === 'ledger' && nd.genesis ? new LedgerApp({ crypto, genesis: nd.genesis, ...(auctionConfig ? { auction: auctionConfig } : {}) }) : null;
    const ledger = ledgerApp ? new LedgerService({ app: ledgerApp, crypto, store, logger }) : null;
    if (ledgerApp) logger.info({ app: 'ledger', chain_id: nd.genesis!.chainId, genesis: nd.genesisFile ?? 'inline', genesis_digest: toHex(ledgerApp.digest()) }, 'ledger app from genesis');
    const service = new NodeService({ validatorNames: names, verify: nd.verify, crypto, metrics, healthThresholds });
    undo.push(() => service.close());
    const auction = ledgerApp?.auction ? new AuctionService(ledgerApp, crypto, () => service, metrics) : null;
    const api = createApi({
      node: service,
      metrics,
      logger: logger as unknown as FastifyBaseLogger,
      ledger,
      auction,
      ...(apiTls ? { tls: apiTls } : {}),
      ...(apiToken !== undefined ? { token: apiToken } : {}),
    });
    undo.push(() => api.close());
    // Who answers: every response names this validator, its key and its pid, so `bpci cluster up`
    // can tell its own process from another one on the same port (issue 13 §2).
    const identity = identityHeaders(nd.validatorId, publicKeyText(me.publicKey), process.pid);
    api.addHook('onSend', async (_req, reply, payload) => {
      for (const [k, v] of Object.entries(identity)) reply.header(k, v);
      return payload;
    });
    // 3 and 4: ValidatorNode.start binds the peer and client ports, calls beforeLinks (the API
    // port), and dials peers only when all three are bound; on a failure it stops itself.
    node = await ValidatorNode.start({
      index: nd.index,
      validators: config.activeValidators.map((v) => ({ publicKey: v.publicKey, stake: v.stake, host: v.host, port: v.port, name: v.validatorId })),
      seed32: key.seed,
      crypto,
      pool,
      store,
      safety,
      listen: { host: me.host, port: me.port },
      clientListen: me.client ?? null,
      ...(clientTls ? { clientTls } : {}),
      ...(clientToken !== undefined ? { clientToken } : {}),
      pbft,
      tickMs: tickMsOf(config),
      transportLimits: nd.transport,
      logger,
      observer: ((o) => (auction ? auction.observe(o) : o))(ledger ? ledger.observe(service.observer()) : service.observer()),
      ...(ledgerApp ? { app: ledgerApp } : {}),
      beforeLinks: async (n) => {
        service.attach(n);
        ledger?.attach(n, service);
        await api.listen({ host: nd.api.host, port: nd.api.port });
      },
    });
    const running = node;
    if (auction && config.tripleConsensus.auction) {
      auction.startClock({
        idleMs: config.tripleConsensus.auction.clockIdleMs,
        isPrimary: () => {
          const st = running.replica.status();
          return st.mode === 'normal' && st.primary === running.index;
        },
      });
    }
    const apiUrl = `${apiTls ? 'https' : 'http'}://${nd.api.host}:${nd.api.port}`;
    logger.info({ api: apiUrl, api_tls: Boolean(apiTls), api_token: apiToken !== undefined, client_tls: Boolean(clientTls), client_token: clientToken !== undefined, crypto: `${selection.name} (${selection.reason})`, durability: nd.durability, verify: nd.verify, app: nd.app, data_dir: dataDir }, 'validator ready');
    return {
      config,
      node: running,
      apiUrl,
      async stop(why: StopReason = {}) {
        const t0 = Date.now();
        logger.info({ signal: why.signal ?? null, reason: why.reason ?? (why.signal ? 'signal' : 'stop requested') }, 'validator stopping');
        auction?.stopClock();
        await api.close();
        service.close();
        await running.stop();
        lock.release();
        logger.info({ signal: why.signal ?? null, stop_ms: Date.now() - t0, committed: running.committedCount }, 'validator stopped');
        logger.flush?.();
      },
    };
  } catch (e) {
    const message = startupMessage(config, e);
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // best effort: the process is about to exit
      }
    }
    logger.fatal({ err: e instanceof Error ? e.message : String(e) }, message);
    logger.flush?.();
    throw new StartupError(message);
  }
}

/** The process logger from the config's `logging` block (outputs: stdout, rotating files). */
function loggerOf(config: NodeConfig): ReturnType<typeof createLogger> {
  const lg = config.logging;
  const outputs: LogOutput[] = [];
  const ignored: string[] = [];
  for (const o of lg.outputs) {
    switch (o.type) {
      case 'stdout':
        outputs.push({ type: 'stdout' });
        break;
      case 'file':
        outputs.push({ type: 'file', path: o.path, maxSizeBytes: o.maxSizeBytes, maxFiles: o.maxFiles });
        break;
      case 'elasticsearch':
        ignored.push(`elasticsearch ${o.endpoint}`);
        break;
      default: {
        const never: never = o;
        throw new Error(`unknown log output ${JSON.stringify(never)}`);
      }
    }
  }
  if (outputs.length === 0) outputs.push({ type: 'stdout' });
  const logger = createLogger({ validator: config.node.validatorId, level: lg.level, outputs });
  if (ignored.length > 0) logger.warn({ outputs: ignored }, 'log outputs not supported by this build, ignored (ship the stdout or file output with a log collector)');
  return logger;
}

/** One line: which validator, what it could not have (a port, its data dir) and who holds it. */
function startupMessage(config: NodeConfig, e: unknown): string {
  const nd = config.node;
  const me = config.activeValidators[nd.index]!;
  const id = nd.validatorId;
  if (e instanceof DirLockedError) return `${id} not started: ${e.message}`;
  const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
  if (err?.code === 'EADDRINUSE' || err?.code === 'EACCES' || err?.code === 'EADDRNOTAVAIL') {
    const port = err.port;
    const which =
      port === me.port ? `peer port (validators[].endpoint ${me.host}:${me.port})`
      : me.client && port === me.client.port ? `client port (validators[].client_endpoint ${me.client.host}:${me.client.port})`
      : port === nd.api.port ? `HTTP API port (node.api ${nd.api.host}:${nd.api.port})`
      : `port ${err.address ?? '?'}:${port ?? '?'}`;
    const why = err.code === 'EADDRINUSE' ? 'address in use' : err.code === 'EACCES' ? 'permission denied' : 'address not available on this host';
    let holder = '';
    if (err.code === 'EADDRINUSE' && port !== undefined) {
      const o = findPortOwner(port);
      holder = o ? ` by pid ${o.pid} (${o.command})` : ' by another process';
    }
    return `${id} not started: cannot listen on its ${which}: ${why}${holder}; is this validator already running?`;
  }
  return `${id} not started: ${e instanceof Error ? e.message : String(e)}`;
}

function tickMsOf(config: NodeConfig): number {
  return config.node.consensus.tickMs ?? DEFAULT_TICK_MS;
}

/** The core's PbftConfig from the seed-shaped config (timeouts in seconds become ticks). */
export function pbftConfigOf(config: NodeConfig): Partial<PbftConfig> {
  const c = config.node.consensus;
  const tickMs = tickMsOf(config);
  const vcTicks = Math.max(2, Math.round((config.tripleConsensus.ibft.phaseTimeoutSeconds * 1000) / tickMs));
  const out: { -readonly [K in keyof PbftConfig]?: PbftConfig[K] } = {
    verify: config.node.verify,
    viewChangeTimeoutTicks: vcTicks,
    viewChangeTimeoutTicksMax: vcTicks * 32,
    inflightMax: c.inflightMax ?? config.tripleConsensus.coordinator.maxActiveRounds,
  };
  if (c.checkpointInterval !== undefined) out.checkpointInterval = c.checkpointInterval;
  if (c.watermarkWindow !== undefined) out.watermarkWindow = c.watermarkWindow;
  if (c.batchSizeMax !== undefined) out.batchSizeMax = c.batchSizeMax;
  if (c.batchBytesMax !== undefined) out.batchBytesMax = c.batchBytesMax;
  if (c.batchDelayTicks !== undefined) out.batchDelayTicks = c.batchDelayTicks;
  return out;
}
