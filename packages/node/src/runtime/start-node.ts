// Starts one validator from its YAML config: key file, crypto backend, store, runtime, HTTP API,
// metrics. Returns a handle whose stop() shuts everything down in order (API, then runtime,
// which lets the last group commit land before the store closes).

import path from 'node:path';
import { resolveConfig, type PbftConfig } from '@bpci/core';
import type { FastifyBaseLogger } from 'fastify';
import { loadConfig, type NodeConfig } from '../config/config.js';
import { loadKeyFile } from '../keys/keyfile.js';
import { selectBackend } from '../crypto/select.js';
import { CryptoPool } from '../crypto/pool.js';
import { openStore } from '../storage/store.js';
import { createLogger } from '../log.js';
import { NodeMetrics } from '../metrics/metrics.js';
import { createApi } from '../api/server.js';
import { NodeService } from './node-service.js';
import { healthThresholdsOf } from './consensus-health.js';
import { DEFAULT_TICK_MS, ValidatorNode } from './validator-node.js';

export interface RunningNode {
  readonly config: NodeConfig;
  readonly node: ValidatorNode;
  readonly apiUrl: string;
  stop(): Promise<void>;
}

export interface StartNodeOptions {
  /** Worker threads for signature batches (0 = verify inline). Default: BPCI_POOL_THREADS or 1. */
  readonly poolThreads?: number;
}

export async function startNodeFromConfig(file: string, opts: StartNodeOptions = {}): Promise<RunningNode> {
  const config = loadConfig(file);
  const nd = config.node;
  const logger = createLogger({ validator: nd.validatorId, level: config.logging.level });
  const key = loadKeyFile(nd.keyFile);
  const me = config.activeValidators[nd.index];
  if (!me || Buffer.compare(Buffer.from(me.publicKey), Buffer.from(key.publicKey)) !== 0) {
    throw new Error(`key file ${nd.keyFile} does not hold the public key configured for ${nd.validatorId}`);
  }
  const selection = await selectBackend({ log: (line) => logger.info({ backend: 'crypto' }, line) });
  const crypto = selection.backend;
  const threads = opts.poolThreads ?? Number(process.env.BPCI_POOL_THREADS ?? 1);
  let pool: CryptoPool | null = null;
  if (threads > 0) {
    try {
      pool = await CryptoPool.create({ threads, inline: crypto });
    } catch (e) {
      logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'crypto pool unavailable; verifying inline');
    }
  }
  const store = nd.durability === 'memory' ? null : openStore(path.resolve(nd.dataDir), { durable: true });
  const metrics = new NodeMetrics();
  const names = config.activeValidators.map((v) => v.validatorId);
  const pbft = pbftConfigOf(config);
  const resolved = resolveConfig(pbft); // throws a ConfigError naming a bad relation before anything listens
  const healthThresholds = healthThresholdsOf(resolved, tickMsOf(config));
  const service = new NodeService({ validatorNames: names, verify: nd.verify, crypto, metrics, healthThresholds });
  const node = await ValidatorNode.start({
    index: nd.index,
    validators: config.activeValidators.map((v) => ({ publicKey: v.publicKey, stake: v.stake, host: v.host, port: v.port })),
    seed32: key.seed,
    crypto,
    pool,
    store,
    listen: { host: me.host, port: me.port },
    clientListen: me.client ?? null,
    pbft,
    tickMs: tickMsOf(config),
    transportLimits: nd.transport,
    logger,
    observer: service.observer(),
  });
  service.attach(node);
  const api = createApi({ node: service, metrics, logger: logger as unknown as FastifyBaseLogger });
  await api.listen({ host: nd.api.host, port: nd.api.port });
  const apiUrl = `http://${nd.api.host}:${nd.api.port}`;
  logger.info({ api: apiUrl, crypto: `${selection.name} (${selection.reason})`, durability: nd.durability, verify: nd.verify }, 'validator ready');
  return {
    config,
    node,
    apiUrl,
    async stop() {
      await api.close();
      service.close();
      await node.stop();
      logger.flush?.();
    },
  };
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
