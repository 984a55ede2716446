// @bpci/node root entry (issue 13 §1): what a downstream project imports as `@bpci/node`.
//
//   import { selectBackend, CryptoPool, powSearchParallel, BpciClient, startNodeFromConfig } from '@bpci/node';
//
// Everything here is re-exported from its module unchanged; the modules stay importable by
// file (`@bpci/node/crypto/select`, `@bpci/node/transport/transport`, ...) for the rest.

// Crypto: backend selection (native -> wasm -> js), the worker pool, parallel proof-of-work.
export {
  selectBackend,
  loadBackend,
  loadNative,
  loadWasm,
  nodeJsBackend,
  BackendUnavailableError,
  BACKEND_NAMES,
  type BackendName,
  type SelectOptions,
  type Selection,
  type LoadResult,
} from './crypto/select.js';
export {
  CryptoPool,
  DEFAULT_THRESHOLDS,
  PoolQueueFullError,
  PoolClosedError,
  PoolWorkerMissingError,
  type CryptoPoolOptions,
  type PoolThresholds,
} from './crypto/pool.js';
export { powSearchParallel, type PowParallelOptions, type PowParallelResult } from './crypto/pow-parallel.js';

// Client: submits requests to every validator, accepts f+1 matching verified replies.
export {
  BpciClient,
  ClientTimeoutError,
  type ClientOptions,
  type ClientValidator,
  type SubmitResult,
} from './client/client.js';

// Validator: start one from its YAML config (what `bpci node start --config F` runs).
export { startNodeFromConfig, StartupError, type RunningNode, type StartNodeOptions, type StopReason } from './runtime/start-node.js';
export { loadConfig, parseConfig, ConfigError, type NodeConfig } from './config/config.js';
export { writeLocalCluster, type LocalClusterOptions, type LocalClusterMember } from './config/local-cluster.js';
export { generateKeyFile, loadKeyFile, publicKeyText, KeyFileError, type ValidatorKey } from './keys/keyfile.js';

// The ledger app's node side (issue 12 §2): its HTTP routes' shapes, the service behind them,
// and the local cluster's ledger genesis and client keys.
export { LOCAL_CHAIN_ID, LOCAL_ASSETS, LOCAL_CLIENT_BALANCE, ledgerClientKeys } from './config/local-cluster.js';
export { LedgerService, ACCOUNT_HISTORY_MAX, LEDGER_IDS_MAX, type LedgerServiceOptions } from './runtime/ledger-service.js';
export type { LedgerApiPort, LedgerAccountProofView, LedgerTxView, LedgerAccountInfo, LedgerHistoryPage, LedgerSummary, LedgerInclusion, LedgerLegView } from './api/ledger-routes.js';
export { ledgerTransfers, type LedgerWorkload } from './runtime/ledger-workload.js';

// Types the API above refers to (so the generated reference links them; issue 13 §1).
export type {
  NodeSection,
  Thresholds,
  LoggingConfig,
  ValidatorEntry,
  AuctionConfig,
  CoordinatorConfig,
  HotstuffConfig,
  IbftConfig,
  LogLevel,
  LogOutputConfig,
  ApiConfig,
  TransportConfig,
  ConsensusTuning,
  ClientPortConfig,
} from './config/config.js';
export type { Logger } from './log.js';
// The HTTP API's port: what a NodeApiPort implementation (NodeService, LedgerService) answers.
export type * from './api/port.js';
export { ApiError } from './api/port.js';
export type { NodeObserver } from './runtime/validator-node.js';
export type { BackfillRejectReason } from './runtime/backfill.js';
export type { SharedPowReply, SharedPowTask } from './crypto/pow-shared.js';
export type { Store, KeyPart, RecordKey, StoreRecord, RangeQuery, StoreEntry } from './storage/store.js';
export type { Position } from './runtime/ledger-service.js';
