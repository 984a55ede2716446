// Node configuration: YAML in the seed's shape, validated in full before anything starts.
//
//   triple_consensus:        # the seed's sections; coordinator + ibft drive this PBFT engine,
//     coordinator: {...}     # hotstuff + auction are accepted (type-checked) for compatibility
//     ibft: {...}            # with seed configs but are not used by the pbft engine
//     hotstuff: {...}
//     auction: {...}
//   validators:              # the validator set; active ones get replica ids 0..n-1 in list order
//     - { validator_id, stake, endpoint, public_key, is_active }
//   consensus_thresholds: { minimum_validators, byzantine_fault_tolerance, stake_threshold }
//   node:                    # this process
//     { validator_id, key_file, data_dir, api: { host, port, tls?, token_file? | token_env?, insecure? },
//       durability, verify, transport?,
//       consensus? (PBFT tuning: tick_ms, checkpoint_interval, watermark_window, batch_*, inflight_max),
//       app? (kv | ledger; default kv), genesis? (ledger only: a genesis file path, or the genesis inline) }
//   logging: { level, format, outputs?: [{ type: stdout | file | elasticsearch, ... }], consensus_logging? }
//
// Contract: `parseConfig(text)` returns a typed, normalised NodeConfig or throws ConfigError naming
// the key path (e.g. `validators[2].endpoint`), what was expected and what was found. Unknown keys
// are errors too (a typo must not silently fall back to a default). Relative paths are resolved
// against the config file's directory by `loadConfig`.

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { GenesisError, parseGenesis, VALIDATORS_MAX as CORE_VALIDATORS_MAX, type Genesis } from '@bpci/core';

export class ConfigError extends Error {
  constructor(
    /** Dotted key path, e.g. "triple_consensus.ibft.phase_timeout_seconds" ("" = the document). */
    readonly keyPath: string,
    readonly expected: string,
    readonly got: unknown,
    readonly file?: string,
  ) {
    super(
      `${file ? `${file}: ` : ''}config ${keyPath === '' ? 'document' : `key "${keyPath}"`}: expected ${expected}, got ${describe(got)}`,
    );
    this.name = 'ConfigError';
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  return `${typeof v} ${String(v)}`;
}

export interface CoordinatorConfig {
  readonly maxActiveRounds: number;
  readonly roundTimeoutSeconds: number;
  readonly validatorTimeoutSeconds: number;
}
export interface IbftConfig {
  readonly byzantineToleranceRatio: number;
  readonly requiredVoteThreshold: number;
  readonly phaseTimeoutSeconds: number;
  readonly signatureVerification: true;
}
export interface HotstuffConfig {
  readonly pipelineDepth: number;
  readonly optimisticExecution: boolean;
  readonly viewTimeoutSeconds: number;
  readonly leaderRotationEnabled: boolean;
}
export interface AuctionConfig {
  readonly bidEvaluationTimeoutSeconds: number;
  readonly mevProtectionEnabled: boolean;
  readonly priorityWeight: number;
  readonly economicWeight: number;
  /**
   * The replicated auction of a ledger node (deadlines in committed heights, never seconds:
   * bid_collection_heights / bid_evaluation_heights); asset null = the genesis's first asset.
   */
  readonly asset: string | null;
  readonly deposit: number;
  readonly bidCollectionHeights: number;
  readonly bidEvaluationHeights: number;
  /**
   * While a round is open and nothing committed for this long, the primary submits the ledger's
   * clock op so that phases keep moving on an idle cluster (clock_idle_ms; 0: never).
   */
  readonly clockIdleMs: number;
}
export interface ValidatorEntry {
  readonly validatorId: string;
  /** Replica index (0..n-1 over active validators, in list order); -1 when inactive. */
  readonly index: number;
  readonly stake: number;
  readonly endpoint: string;
  readonly host: string;
  readonly port: number;
  readonly publicKey: Uint8Array;
  readonly publicKeyHex: string;
  readonly isActive: boolean;
  /** Client request endpoint (validators[].client_endpoint), if configured. */
  readonly client: { readonly host: string; readonly port: number } | undefined;
}
export interface Thresholds {
  readonly minimumValidators: number;
  readonly byzantineFaultTolerance: number;
  readonly stakeThreshold: number;
}
export interface TransportConfig {
  readonly frameBytesMax: number;
  readonly queueFramesMax: number;
  readonly queueBytesMax: number;
}
/**
 * Optional PBFT tuning (`node.consensus`); an absent key means "the core's default". The seed's
 * `triple_consensus.ibft.phase_timeout_seconds` is the view-change timeout and
 * `coordinator.max_active_rounds` the default for `inflight_max`; the runtime maps them to ticks.
 */
export interface ConsensusTuning {
  readonly tickMs?: number;
  readonly checkpointInterval?: number;
  readonly watermarkWindow?: number;
  readonly batchSizeMax?: number;
  readonly batchBytesMax?: number;
  readonly batchDelayTicks?: number;
  readonly inflightMax?: number;
}
/**
 * `node.api`: where the HTTP API listens and how it is protected. On a loopback host TLS and the
 * token are optional (`npm start`, `bpci cluster up`); on any other host both are required unless
 * `insecure: true` says otherwise on purpose (the node then logs a warning at every start).
 */
export interface ApiConfig {
  readonly host: string;
  readonly port: number;
  /** PEM files (absolute paths) for HTTPS. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** Where the bearer token comes from: a file (absolute path; first line) or an environment variable. */
  readonly token: { readonly file: string } | { readonly env: string } | undefined;
  readonly insecure: boolean;
}
/**
 * `node.client_port`: how the client request port (validators[].client_endpoint) is protected.
 * The same rule as `node.api`: on a loopback host TLS and the token are optional; elsewhere both
 * are required unless `insecure: true`. A client sends the token in its first frame
 * (ClientServer) after the TLS handshake.
 */
export interface ClientPortConfig {
  readonly tls: ApiConfig['tls'];
  readonly token: ApiConfig['token'];
  readonly insecure: boolean;
}
export interface NodeSection {
  readonly validatorId: string;
  /** This validator's replica index. */
  readonly index: number;
  readonly keyFile: string;
  readonly dataDir: string;
  readonly api: ApiConfig;
  readonly clientPort: ClientPortConfig;
  readonly durability: 'durable' | 'memory';
  readonly verify: 'lazy' | 'eager';
  readonly transport: TransportConfig;
  readonly consensus: ConsensusTuning;
  /** The replicated application: 'kv' (the text store of the CLI demo) or 'ledger'. */
  readonly app: 'kv' | 'ledger';
  /** The ledger's validated genesis (node.genesis); undefined with app 'kv'. */
  readonly genesis: Genesis | undefined;
  /** Where the genesis came from: its file (absolute), or undefined when inline. */
  readonly genesisFile: string | undefined;
}
export interface NodeConfig {
  readonly tripleConsensus: {
    readonly coordinator: CoordinatorConfig;
    readonly ibft: IbftConfig;
    readonly hotstuff: HotstuffConfig | undefined;
    readonly auction: AuctionConfig | undefined;
  };
  /** All validators as listed (active and inactive). */
  readonly validators: readonly ValidatorEntry[];
  /** Active validators ordered by replica index. */
  readonly activeValidators: readonly ValidatorEntry[];
  readonly thresholds: Thresholds;
  readonly node: NodeSection;
  readonly logging: LoggingConfig;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
/** One `logging.outputs[]` entry. */
export type LogOutputConfig =
  | { readonly type: 'stdout' }
  /** Appends to `path`; with maxSizeBytes, rotates to path.1 .. path.<maxFiles> when it reaches that size. */
  | { readonly type: 'file'; readonly path: string; readonly maxSizeBytes: number | undefined; readonly maxFiles: number }
  /** The seed's; accepted and type-checked, not shipped (the node warns at start). */
  | { readonly type: 'elasticsearch'; readonly endpoint: string };
export interface LoggingConfig {
  readonly level: LogLevel;
  readonly format: 'json';
  /** Where lines go; default one stdout output. */
  readonly outputs: readonly LogOutputConfig[];
  /** The seed's `consensus_logging`; accepted and type-checked, not used by this engine. */
  readonly consensusLogging:
    | { readonly enabled: boolean; readonly level: 'basic' | 'detailed'; readonly includeValidatorVotes: boolean; readonly includeAuctionBids: boolean }
    | undefined;
}

const LOG_OUTPUTS_MAX = 8;
const LOG_FILE_BYTES_MIN = 1024;
const LOG_FILES_MAX = 100;

export const DEFAULTS = {
  coordinator: { maxActiveRounds: 10, roundTimeoutSeconds: 30, validatorTimeoutSeconds: 10 },
  ibft: { byzantineToleranceRatio: 0.33, requiredVoteThreshold: 0.67, phaseTimeoutSeconds: 5 },
  transport: { frameBytesMax: 4 * 1024 * 1024, queueFramesMax: 16_384, queueBytesMax: 64 * 1024 * 1024 },
  apiHost: '127.0.0.1',
} as const;

// ------------------------------------------------------------------ small typed readers

type Obj = Record<string, unknown>;

function mapping(v: unknown, p: string, allowed: readonly string[]): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(p, 'a mapping', v);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new ConfigError(join(p, k), `no such key (allowed here: ${allowed.join(', ')})`, (v as Obj)[k]);
    }
  }
  return v as Obj;
}
function optMapping(v: unknown, p: string, allowed: readonly string[]): Obj {
  return v === undefined ? {} : mapping(v, p, allowed);
}
function join(p: string, k: string): string {
  return p === '' ? k : `${p}.${k}`;
}
function num(o: Obj, k: string, p: string, opts: { min?: number; max?: number; minExclusive?: boolean; int?: boolean; def?: number }): number {
  const v = o[k];
  const kp = join(p, k);
  const what = [
    opts.int ? 'an integer' : 'a number',
    opts.min !== undefined ? `${opts.minExclusive ? '>' : '>='} ${opts.min}` : '',
    opts.max !== undefined ? `<= ${opts.max}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  if (v === undefined && opts.def !== undefined) return opts.def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(kp, what, v);
  if (opts.int && !Number.isSafeInteger(v)) throw new ConfigError(kp, what, v);
  if (opts.min !== undefined && (opts.minExclusive ? v <= opts.min : v < opts.min)) throw new ConfigError(kp, what, v);
  if (opts.max !== undefined && v > opts.max) throw new ConfigError(kp, what, v);
  return v;
}
function bool(o: Obj, k: string, p: string, def?: boolean): boolean {
  const v = o[k];
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'boolean') throw new ConfigError(join(p, k), 'true or false', v);
  return v;
}
function str(o: Obj, k: string, p: string, opts: { def?: string; pattern?: RegExp; what?: string; lengthMax?: number } = {}): string {
  const v = o[k];
  if (v === undefined && opts.def !== undefined) return opts.def;
  const what = opts.what ?? 'a non-empty string';
  if (typeof v !== 'string' || v.length === 0 || v.length > (opts.lengthMax ?? 4096)) throw new ConfigError(join(p, k), what, v);
  if (opts.pattern && !opts.pattern.test(v)) throw new ConfigError(join(p, k), what, v);
  return v;
}
function oneOf<T extends string>(o: Obj, k: string, p: string, values: readonly T[], def?: T): T {
  const v = o[k];
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ConfigError(join(p, k), `one of ${values.map((x) => `"${x}"`).join(', ')}`, v);
  }
  return v as T;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

/** "tcp://host:port" or "host:port" -> host, port. */
export function parseEndpoint(endpoint: string): { host: string; port: number } | undefined {
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(endpoint);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535 || !HOST_RE.test(m[1]!)) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** "ed25519:<64 hex>" (the seed's form) or bare 64 hex -> 32 bytes. */
export function parsePublicKey(text: string): Uint8Array | undefined {
  const m = /^(?:ed25519:)?([0-9a-fA-F]{64})$/.exec(text);
  return m ? new Uint8Array(Buffer.from(m[1]!, 'hex')) : undefined;
}

// ------------------------------------------------------------------ the schema

const TOP_KEYS = ['triple_consensus', 'validators', 'consensus_thresholds', 'node', 'logging'] as const;
const VALIDATORS_MAX = 1024;

export function validateConfig(doc: unknown, baseDir = process.cwd()): NodeConfig {
  const top = mapping(doc, '', TOP_KEYS);

  const tc = mapping(top.triple_consensus ?? {}, 'triple_consensus', ['coordinator', 'ibft', 'hotstuff', 'auction']);
  const co = optMapping(tc.coordinator, 'triple_consensus.coordinator', ['max_active_rounds', 'round_timeout_seconds', 'validator_timeout_seconds']);
  const coP = 'triple_consensus.coordinator';
  const coordinator: CoordinatorConfig = {
    maxActiveRounds: num(co, 'max_active_rounds', coP, { int: true, min: 1, max: 100_000, def: DEFAULTS.coordinator.maxActiveRounds }),
    roundTimeoutSeconds: num(co, 'round_timeout_seconds', coP, { min: 0, minExclusive: true, max: 86_400, def: DEFAULTS.coordinator.roundTimeoutSeconds }),
    validatorTimeoutSeconds: num(co, 'validator_timeout_seconds', coP, { min: 0, minExclusive: true, max: 86_400, def: DEFAULTS.coordinator.validatorTimeoutSeconds }),
  };
  const ib = optMapping(tc.ibft, 'triple_consensus.ibft', ['byzantine_tolerance_ratio', 'required_vote_threshold', 'phase_timeout_seconds', 'signature_verification']);
  const ibP = 'triple_consensus.ibft';
  // BFT needs f < n/3 and quorums of more than 2/3 of the voting power; anything else is unsafe.
  const ratio = num(ib, 'byzantine_tolerance_ratio', ibP, { min: 0, max: 1 / 3, def: DEFAULTS.ibft.byzantineToleranceRatio });
  const threshold = num(ib, 'required_vote_threshold', ibP, { min: 2 / 3, minExclusive: true, max: 1, def: DEFAULTS.ibft.requiredVoteThreshold });
  const sigVerify = bool(ib, 'signature_verification', ibP, true);
  if (!sigVerify) {
    throw new ConfigError(`${ibP}.signature_verification`, 'true (signatures cannot be switched off; use node.verify: lazy for batched verification)', false);
  }
  const ibft: IbftConfig = {
    byzantineToleranceRatio: ratio,
    requiredVoteThreshold: threshold,
    phaseTimeoutSeconds: num(ib, 'phase_timeout_seconds', ibP, { min: 0, minExclusive: true, max: 3_600, def: DEFAULTS.ibft.phaseTimeoutSeconds }),
    signatureVerification: true,
  };
  let hotstuff: HotstuffConfig | undefined;
  if (tc.hotstuff !== undefined) {
    const hs = mapping(tc.hotstuff, 'triple_consensus.hotstuff', ['pipeline_depth', 'optimistic_execution', 'view_timeout_seconds', 'leader_rotation_enabled']);
    const p = 'triple_consensus.hotstuff';
    hotstuff = {
      pipelineDepth: num(hs, 'pipeline_depth', p, { int: true, min: 1, max: 64, def: 3 }),
      optimisticExecution: bool(hs, 'optimistic_execution', p, false),
      viewTimeoutSeconds: num(hs, 'view_timeout_seconds', p, { min: 0, minExclusive: true, max: 3_600, def: 10 }),
      leaderRotationEnabled: bool(hs, 'leader_rotation_enabled', p, true),
    };
  }
  let auction: AuctionConfig | undefined;
  if (tc.auction !== undefined) {
    const au = mapping(tc.auction, 'triple_consensus.auction', ['bid_evaluation_timeout_seconds', 'mev_protection_enabled', 'priority_weight', 'economic_weight', 'asset', 'deposit', 'bid_collection_heights', 'bid_evaluation_heights', 'clock_idle_ms']);
    const p = 'triple_consensus.auction';
    auction = {
      bidEvaluationTimeoutSeconds: num(au, 'bid_evaluation_timeout_seconds', p, { min: 0, minExclusive: true, max: 3_600, def: 5 }),
      mevProtectionEnabled: bool(au, 'mev_protection_enabled', p, true),
      priorityWeight: num(au, 'priority_weight', p, { min: 0, max: 1, def: 0.3 }),
      economicWeight: num(au, 'economic_weight', p, { min: 0, max: 1, def: 0.7 }),
      asset: au.asset === undefined ? null : str(au, 'asset', p, { pattern: /^[A-Z][A-Z0-9]{1,7}$/, what: 'an asset symbol of the genesis' }),
      deposit: num(au, 'deposit', p, { int: true, min: 0, max: Number.MAX_SAFE_INTEGER, def: 10 }),
      bidCollectionHeights: num(au, 'bid_collection_heights', p, { int: true, min: 1, max: 100_000, def: 5 }),
      bidEvaluationHeights: num(au, 'bid_evaluation_heights', p, { int: true, min: 1, max: 100_000, def: 5 }),
      clockIdleMs: num(au, 'clock_idle_ms', p, { int: true, min: 0, max: 3_600_000, def: 1000 }),
    };
  }

  // validators
  const vs = top.validators;
  if (!Array.isArray(vs) || vs.length === 0 || vs.length > VALIDATORS_MAX) {
    throw new ConfigError('validators', `a list of 1..${VALIDATORS_MAX} validators`, vs);
  }
  const validators: ValidatorEntry[] = [];
  const ids = new Set<string>();
  const endpoints = new Set<string>();
  let activeIndex = 0;
  vs.forEach((raw, i) => {
    const p = `validators[${i}]`;
    const v = mapping(raw, p, ['validator_id', 'stake', 'endpoint', 'client_endpoint', 'public_key', 'is_active']);
    const validatorId = str(v, 'validator_id', p, { pattern: /^[A-Za-z0-9_.-]{1,64}$/, what: 'an id of 1..64 letters, digits, "-", "_" or "."' });
    if (ids.has(validatorId)) throw new ConfigError(`${p}.validator_id`, 'a validator_id not used by an earlier validator', validatorId);
    ids.add(validatorId);
    const stake = num(v, 'stake', p, { int: true, min: 1 });
    const endpoint = str(v, 'endpoint', p, { what: 'an endpoint "tcp://host:port" or "host:port"' });
    const ep = parseEndpoint(endpoint);
    if (!ep) throw new ConfigError(`${p}.endpoint`, 'an endpoint "tcp://host:port" or "host:port" (port 1..65535)', endpoint);
    const epKey = `${ep.host}:${ep.port}`;
    if (endpoints.has(epKey)) throw new ConfigError(`${p}.endpoint`, 'an endpoint not used by an earlier validator', endpoint);
    endpoints.add(epKey);
    const pkText = str(v, 'public_key', p, { what: 'an Ed25519 public key "ed25519:<64 hex digits>"' });
    const publicKey = parsePublicKey(pkText);
    if (!publicKey) throw new ConfigError(`${p}.public_key`, 'an Ed25519 public key "ed25519:<64 hex digits>"', pkText);
    const isActive = bool(v, 'is_active', p, true);
    // Where clients send requests (plain TCP; replies are signed). Optional: without it the
    // validator takes requests through the HTTP API only.
    let client: { host: string; port: number } | undefined;
    if (v.client_endpoint !== undefined) {
      const ce = str(v, 'client_endpoint', p, { what: 'an endpoint "tcp://host:port" or "host:port"' });
      client = parseEndpoint(ce);
      if (!client) throw new ConfigError(`${p}.client_endpoint`, 'an endpoint "tcp://host:port" or "host:port" (port 1..65535)', ce);
      const ceKey = `${client.host}:${client.port}`;
      if (endpoints.has(ceKey)) throw new ConfigError(`${p}.client_endpoint`, 'an endpoint not used by another validator or endpoint', ce);
      endpoints.add(ceKey);
    }
    validators.push({
      validatorId,
      index: isActive ? activeIndex++ : -1,
      stake,
      endpoint,
      host: ep.host,
      port: ep.port,
      publicKey,
      publicKeyHex: Buffer.from(publicKey).toString('hex'),
      isActive,
      client,
    });
  });
  const active = validators.filter((v) => v.isActive);

  // thresholds
  const th = optMapping(top.consensus_thresholds, 'consensus_thresholds', ['minimum_validators', 'byzantine_fault_tolerance', 'stake_threshold']);
  const thP = 'consensus_thresholds';
  const thresholds: Thresholds = {
    minimumValidators: num(th, 'minimum_validators', thP, { int: true, min: 1, max: VALIDATORS_MAX, def: 4 }),
    byzantineFaultTolerance: num(th, 'byzantine_fault_tolerance', thP, { int: true, min: 0, max: VALIDATORS_MAX, def: Math.floor((active.length - 1) / 3) }),
    stakeThreshold: num(th, 'stake_threshold', thP, { int: true, min: 0, def: 0 }),
  };
  // core's ValidatorSet takes at most VALIDATORS_MAX (256) validators; the list may hold more
  // inactive ones, but an active set above it must fail here, naming the key, not at start.
  if (active.length > CORE_VALIDATORS_MAX) {
    throw new ConfigError('validators', `at most ${CORE_VALIDATORS_MAX} active validators (the consensus core's bound)`, `${active.length} active`);
  }
  if (active.length < thresholds.minimumValidators) {
    throw new ConfigError('validators', `at least consensus_thresholds.minimum_validators = ${thresholds.minimumValidators} active validators`, `${active.length} active`);
  }
  if (active.length < 3 * thresholds.byzantineFaultTolerance + 1) {
    throw new ConfigError(
      `${thP}.byzantine_fault_tolerance`,
      `f with 3f+1 <= ${active.length} active validators (at most ${Math.floor((active.length - 1) / 3)})`,
      thresholds.byzantineFaultTolerance,
    );
  }
  validators.forEach((v, i) => {
    if (v.isActive && v.stake < thresholds.stakeThreshold) {
      throw new ConfigError(`validators[${i}].stake`, `>= consensus_thresholds.stake_threshold (${thresholds.stakeThreshold}) for an active validator`, v.stake);
    }
  });

  // node
  const nd = mapping(top.node, 'node', ['validator_id', 'key_file', 'data_dir', 'api', 'client_port', 'durability', 'verify', 'transport', 'consensus', 'app', 'genesis']);
  const validatorId = str(nd, 'validator_id', 'node');
  const self = validators.find((v) => v.validatorId === validatorId);
  if (!self) throw new ConfigError('node.validator_id', `one of the validators' ids (${[...ids].join(', ')})`, validatorId);
  if (!self.isActive) throw new ConfigError('node.validator_id', 'an active validator (is_active: true)', validatorId);
  const apiConfig = validateApi(nd.api, baseDir);
  const clientPortConfig = validateClientPort(nd.client_port, baseDir, self.client?.host);
  const tr = optMapping(nd.transport, 'node.transport', ['frame_bytes_max', 'queue_frames_max', 'queue_bytes_max']);
  const transport: TransportConfig = {
    frameBytesMax: num(tr, 'frame_bytes_max', 'node.transport', { int: true, min: 4096, max: 256 * 1024 * 1024, def: DEFAULTS.transport.frameBytesMax }),
    queueFramesMax: num(tr, 'queue_frames_max', 'node.transport', { int: true, min: 1, max: 10_000_000, def: DEFAULTS.transport.queueFramesMax }),
    queueBytesMax: num(tr, 'queue_bytes_max', 'node.transport', { int: true, min: 4096, max: 16 * 1024 ** 3, def: DEFAULTS.transport.queueBytesMax }),
  };
  if (transport.queueBytesMax < transport.frameBytesMax) {
    throw new ConfigError('node.transport.queue_bytes_max', `>= node.transport.frame_bytes_max (${transport.frameBytesMax})`, transport.queueBytesMax);
  }
  const cs = optMapping(nd.consensus, 'node.consensus', [
    'tick_ms',
    'checkpoint_interval',
    'watermark_window',
    'batch_size_max',
    'batch_bytes_max',
    'batch_delay_ticks',
    'inflight_max',
  ]);
  const csP = 'node.consensus';
  const optInt = (k: string, min: number, max: number): number | undefined =>
    cs[k] === undefined ? undefined : num(cs, k, csP, { int: true, min, max });
  const consensusTuning: { -readonly [K in keyof ConsensusTuning]: ConsensusTuning[K] } = {};
  const tickMs = optInt('tick_ms', 1, 10_000);
  if (tickMs !== undefined) consensusTuning.tickMs = tickMs;
  const ci = optInt('checkpoint_interval', 1, 1_000_000);
  if (ci !== undefined) consensusTuning.checkpointInterval = ci;
  const ww = optInt('watermark_window', 1, 10_000_000);
  if (ww !== undefined) {
    if (ci !== undefined && ww % ci !== 0) throw new ConfigError(`${csP}.watermark_window`, `a multiple of node.consensus.checkpoint_interval (${ci})`, ww);
    consensusTuning.watermarkWindow = ww;
  }
  const bs = optInt('batch_size_max', 1, 1_000_000);
  if (bs !== undefined) consensusTuning.batchSizeMax = bs;
  const bb = optInt('batch_bytes_max', 1024, 256 * 1024 * 1024);
  if (bb !== undefined) consensusTuning.batchBytesMax = bb;
  const bd = optInt('batch_delay_ticks', 0, 1_000);
  if (bd !== undefined) consensusTuning.batchDelayTicks = bd;
  const im = optInt('inflight_max', 1, 1_000_000);
  if (im !== undefined) {
    if (ww !== undefined && im > ww) throw new ConfigError(`${csP}.inflight_max`, `<= node.consensus.watermark_window (${ww})`, im);
    consensusTuning.inflightMax = im;
  }

  const app = oneOf(nd, 'app', 'node', ['kv', 'ledger'] as const, 'kv');
  let genesis: { genesis: Genesis; file: string | undefined } | undefined;
  if (app === 'ledger') genesis = genesisOf(nd.genesis, baseDir);
  else if (nd.genesis !== undefined) throw new ConfigError('node.genesis', 'no genesis with node.app "kv" (only the ledger app has one; set node.app: ledger)', nd.genesis);

  const node: NodeSection = {
    validatorId,
    index: self.index,
    keyFile: path.resolve(baseDir, str(nd, 'key_file', 'node', { what: 'a path to the validator key file' })),
    dataDir: path.resolve(baseDir, str(nd, 'data_dir', 'node', { what: 'a path to the data directory' })),
    api: apiConfig,
    clientPort: clientPortConfig,
    durability: oneOf(nd, 'durability', 'node', ['durable', 'memory'] as const, 'durable'),
    verify: oneOf(nd, 'verify', 'node', ['lazy', 'eager'] as const, 'lazy'),
    transport,
    consensus: consensusTuning,
    app,
    genesis: genesis?.genesis,
    genesisFile: genesis?.file,
  };

  const logging = validateLogging(top.logging, baseDir);

  return {
    tripleConsensus: { coordinator, ibft, hotstuff, auction },
    validators,
    activeValidators: active,
    thresholds,
    node,
    logging,
  };
}

/** 127.0.0.0/8, ::1 and "localhost": the API is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const TOKEN_ENV_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * `node.api`. Outside loopback the API carries the cluster's control and data (submits, blocks,
 * evidence), so TLS and a bearer token are on by default there: a config that leaves either out is
 * refused here, before anything starts, naming the key to add. `insecure: true` is the explicit
 * opt-out (a TLS-terminating proxy in front, a private test network).
 */
function validateApi(v: unknown, baseDir: string): ApiConfig {
  const p = 'node.api';
  const api = mapping(v, p, ['host', 'port', 'tls', 'token_file', 'token_env', 'insecure']);
  const host = str(api, 'host', p, { def: DEFAULTS.apiHost, pattern: HOST_RE, what: 'a host name or IP address' });
  const port = num(api, 'port', p, { int: true, min: 0, max: 65535 });
  return { host, port, ...protection(api, p, baseDir, host, 'node.api.host', 'HTTPS') };
}

/** `node.client_port` (see ClientPortConfig); `host` is this validator's client endpoint host. */
function validateClientPort(v: unknown, baseDir: string, host: string | undefined): ClientPortConfig {
  const p = 'node.client_port';
  const cp = optMapping(v, p, ['tls', 'token_file', 'token_env', 'insecure']);
  if (host === undefined) {
    if (v !== undefined) throw new ConfigError(p, 'no client_port section: this validator has no client_endpoint (validators[].client_endpoint)', v);
    return { tls: undefined, token: undefined, insecure: false };
  }
  return protection(cp, p, baseDir, host, 'its client_endpoint', 'TLS');
}

/** TLS, token and the off-loopback rule, shared by node.api and node.client_port. */
function protection(api: Record<string, unknown>, p: string, baseDir: string, host: string, hostKey: string, tlsName: string): { tls: ApiConfig['tls']; token: ApiConfig['token']; insecure: boolean } {
  let tls: ApiConfig['tls'];
  if (api.tls !== undefined) {
    const t = mapping(api.tls, `${p}.tls`, ['cert_file', 'key_file']);
    tls = {
      certFile: path.resolve(baseDir, str(t, 'cert_file', `${p}.tls`, { what: 'a path to the PEM certificate (chain) file' })),
      keyFile: path.resolve(baseDir, str(t, 'key_file', `${p}.tls`, { what: 'a path to the PEM private key file' })),
    };
  }
  if (api.token_file !== undefined && api.token_env !== undefined) {
    throw new ConfigError(`${p}.token_env`, `one of ${p}.token_file or ${p}.token_env, not both`, api.token_env);
  }
  let token: ApiConfig['token'];
  if (api.token_file !== undefined) token = { file: path.resolve(baseDir, str(api, 'token_file', p, { what: 'a path to the token file' })) };
  else if (api.token_env !== undefined) token = { env: str(api, 'token_env', p, { pattern: TOKEN_ENV_RE, what: 'an environment variable name like BPCI_API_TOKEN' }) };
  const insecure = bool(api, 'insecure', p, false);
  if (!isLoopbackHost(host) && !insecure) {
    if (!tls) {
      throw new ConfigError(`${p}.tls`, `{ cert_file, key_file } because ${hostKey} "${host}" is not loopback (${tlsName} is required off loopback; ${p}.insecure: true opts out)`, undefined);
    }
    if (!token) {
      throw new ConfigError(`${p}.token_file`, `a token file (or ${p}.token_env) because ${hostKey} "${host}" is not loopback (a token is required off loopback; ${p}.insecure: true opts out)`, undefined);
    }
  }
  return { tls, token, insecure };
}

/**
 * `node.genesis` for the ledger: a path to a JSON or YAML genesis file (relative to the config's
 * directory), or the genesis inline as a mapping. Errors name the key inside the genesis, e.g.
 * `node.genesis.accounts[2].balances.GEN`, and the file.
 */
function genesisOf(v: unknown, baseDir: string): { genesis: Genesis; file: string | undefined } {
  const what = 'a genesis file path or an inline genesis mapping (node.app is "ledger")';
  let doc: unknown = v;
  let file: string | undefined;
  if (typeof v === 'string' && v.length > 0) {
    file = path.resolve(baseDir, v);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError('node.genesis', 'a readable genesis file (JSON or YAML)', `${file}: ${(e as Error).message}`);
    }
    try {
      doc = YAML.parse(text, { uniqueKeys: true, intAsBigInt: true });
    } catch (e) {
      throw new ConfigError('node.genesis', `a genesis file in JSON or YAML (${file})`, (e as Error).message.split('\n')[0]);
    }
  } else if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ConfigError('node.genesis', what, v);
  }
  try {
    return { genesis: parseGenesis(doc), file };
  } catch (e) {
    if (e instanceof GenesisError) {
      throw new ConfigError(e.keyPath === '' ? 'node.genesis' : `node.genesis.${e.keyPath}`, `${e.expected}${file ? ` (in ${file})` : ''}`, e.got);
    }
    throw e;
  }
}

/** The seed's `logging` block: level, format, outputs (stdout, file with rotation, elasticsearch), consensus_logging. */
function validateLogging(v: unknown, baseDir: string): LoggingConfig {
  const lg = optMapping(v, 'logging', ['level', 'format', 'outputs', 'consensus_logging']);
  const level = oneOf(lg, 'level', 'logging', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info');
  const format = oneOf(lg, 'format', 'logging', ['json'] as const, 'json');
  let outputs: LogOutputConfig[] = [{ type: 'stdout' }];
  if (lg.outputs !== undefined) {
    if (!Array.isArray(lg.outputs) || lg.outputs.length === 0 || lg.outputs.length > LOG_OUTPUTS_MAX) {
      throw new ConfigError('logging.outputs', `a list of 1..${LOG_OUTPUTS_MAX} outputs`, lg.outputs);
    }
    outputs = lg.outputs.map((item: unknown, i: number): LogOutputConfig => {
      const p = `logging.outputs[${i}]`;
      const type = oneOf(mapping(item, p, ['type', 'path', 'endpoint', 'max_size_bytes', 'max_files']), 'type', p, ['stdout', 'file', 'elasticsearch'] as const);
      switch (type) {
        case 'stdout':
          mapping(item, p, ['type']);
          return { type };
        case 'file': {
          const o = mapping(item, p, ['type', 'path', 'max_size_bytes', 'max_files']);
          const file = path.resolve(baseDir, str(o, 'path', p, { what: 'a path to the log file' }));
          const maxSizeBytes = o.max_size_bytes === undefined ? undefined : num(o, 'max_size_bytes', p, { int: true, min: LOG_FILE_BYTES_MIN, max: 2 ** 48 });
          if (maxSizeBytes === undefined && o.max_files !== undefined) {
            throw new ConfigError(`${p}.max_files`, 'max_size_bytes beside it (files rotate by size)', o.max_files);
          }
          return { type, path: file, maxSizeBytes, maxFiles: num(o, 'max_files', p, { int: true, min: 1, max: LOG_FILES_MAX, def: 5 }) };
        }
        case 'elasticsearch': {
          const o = mapping(item, p, ['type', 'endpoint']);
          return { type, endpoint: str(o, 'endpoint', p, { pattern: /^https?:\/\/\S+$/, what: 'an http(s) URL' }) };
        }
        default: {
          const never: never = type;
          throw new Error(`unreachable output type ${String(never)}`);
        }
      }
    });
    const files = outputs.flatMap((o) => (o.type === 'file' ? [o.path] : []));
    const dup = files.find((f, i) => files.indexOf(f) !== i);
    if (dup !== undefined) throw new ConfigError('logging.outputs', 'each file at most once', dup);
  }
  let consensusLogging: LoggingConfig['consensusLogging'];
  if (lg.consensus_logging !== undefined) {
    const p = 'logging.consensus_logging';
    const c = mapping(lg.consensus_logging, p, ['enabled', 'level', 'include_validator_votes', 'include_auction_bids']);
    consensusLogging = {
      enabled: bool(c, 'enabled', p, true),
      level: oneOf(c, 'level', p, ['basic', 'detailed'] as const, 'basic'),
      includeValidatorVotes: bool(c, 'include_validator_votes', p, false),
      includeAuctionBids: bool(c, 'include_auction_bids', p, false),
    };
  }
  return { level, format, outputs, consensusLogging };
}

/** Parses YAML text; YAML syntax errors become ConfigError with the line. */
export function parseConfig(text: string, baseDir?: string, file?: string): NodeConfig {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    throw new ConfigError('', `valid YAML${line ? ` (line ${line})` : ''}: ${e.message.split('\n')[0]}`, '(a syntax error)', file);
  }
  try {
    return validateConfig(doc.toJS(), baseDir);
  } catch (err) {
    if (err instanceof ConfigError && file) throw new ConfigError(err.keyPath, err.expected, err.got, file);
    throw err;
  }
}

/** Reads and validates a config file; relative paths inside resolve against its directory. */
export function loadConfig(file: string): NodeConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', 'a readable config file', (err as Error).message, file);
  }
  return parseConfig(text, path.dirname(path.resolve(file)), file);
}
