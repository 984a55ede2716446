// Generates a local n-validator cluster on loopback: one key file and one config file per
// validator, in the seed's YAML shape, all validated by parsing them back. Used by `bpci cluster up`,
// `npm start` and tests; nothing here starts a process.
//
// With `app: 'ledger'` it also writes keys/clients/ (one Ed25519 key per workload client and one
// for the mint authority, owner-only like the validator keys) and config/genesis.json: chain
// LOCAL_CHAIN_ID, the four coins GEN, NEX, FLX, AUR, and LOCAL_CLIENT_BALANCE of each for every
// client (`ledgerClientKeys` reads them back for the workload).

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { generateKeyFile, loadKeyFile } from '../keys/keyfile.js';
import { loadConfig, type NodeConfig } from './config.js';
import type { ValidatorKey } from '../keys/keyfile.js';

/** The local cluster's ledger chain id, assets and per-client opening balance. */
export const LOCAL_CHAIN_ID = 'bpci-local';
export const LOCAL_ASSETS = ['GEN', 'NEX', 'FLX', 'AUR'] as const;
export const LOCAL_CLIENT_BALANCE = 1_000_000_000n;
const LEDGER_CLIENTS_DEFAULT = 16;

export interface LocalClusterOptions {
  /** Directory for keys/, config/ and data/ (created). */
  readonly dir: string;
  readonly validators: number;
  readonly host?: string;
  /** Validator i listens on basePort + i (transport) and apiBasePort + i (HTTP). */
  readonly basePort: number;
  readonly apiBasePort: number;
  /** Client request port of validator i = clientBasePort + i (default basePort + 500). */
  readonly clientBasePort?: number;
  readonly durability?: 'durable' | 'memory';
  readonly verify?: 'lazy' | 'eager';
  /** Reuse existing key files (a restarted cluster keeps its identities). Default true. */
  readonly reuseKeys?: boolean;
  /** The replicated app (node.app). Default 'kv'. */
  readonly app?: 'kv' | 'ledger';
  /** Ledger only: funded client accounts in the genesis (default 16). */
  readonly ledgerClients?: number;
}

export interface LocalClusterMember {
  readonly validatorId: string;
  readonly index: number;
  readonly configFile: string;
  readonly keyFile: string;
  readonly apiUrl: string;
  readonly config: NodeConfig;
}

export function validatorName(i: number): string {
  return `validator-${String(i + 1).padStart(3, '0')}`;
}

export function writeLocalCluster(opts: LocalClusterOptions): LocalClusterMember[] {
  if (!Number.isInteger(opts.validators) || opts.validators < 1 || opts.validators > 100) {
    throw new RangeError(`validators must be 1..100, got ${opts.validators}`);
  }
  const host = opts.host ?? '127.0.0.1';
  const keysDir = path.join(opts.dir, 'keys');
  const confDir = path.join(opts.dir, 'config');
  // keys/ holds private keys: owner-only (mode 0700; mkdir's mode applies only at creation, so a
  // folder made earlier is tightened too). Each key file is created 0600 by generateKeyFile.
  fs.mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(keysDir, 0o700);
  fs.mkdirSync(confDir, { recursive: true });
  const n = opts.validators;
  const keys = [];
  for (let i = 0; i < n; i++) {
    const keyFile = path.join(keysDir, `${validatorName(i)}.json`);
    const reuse = (opts.reuseKeys ?? true) && fs.existsSync(keyFile);
    keys.push({ keyFile, key: reuse ? loadKeyFile(keyFile) : generateKeyFile(keyFile, { validatorId: validatorName(i), force: true }) });
  }
  const validators = keys.map((k, i) => ({
    validator_id: validatorName(i),
    stake: 1_000_000,
    endpoint: `tcp://${host}:${opts.basePort + i}`,
    client_endpoint: `tcp://${host}:${(opts.clientBasePort ?? opts.basePort + 500) + i}`,
    public_key: k.key.publicKeyText,
    is_active: true,
  }));
  const app = opts.app ?? 'kv';
  const genesisFile = path.join(confDir, 'genesis.json');
  if (app === 'ledger') writeLocalGenesis(opts.dir, genesisFile, opts.ledgerClients ?? LEDGER_CLIENTS_DEFAULT, opts.reuseKeys ?? true);
  const members: LocalClusterMember[] = [];
  for (let i = 0; i < n; i++) {
    const doc = {
      triple_consensus: {
        coordinator: { max_active_rounds: 10, round_timeout_seconds: 30, validator_timeout_seconds: 10 },
        ibft: { byzantine_tolerance_ratio: 0.33, required_vote_threshold: 0.67, phase_timeout_seconds: 5, signature_verification: true },
      },
      validators,
      consensus_thresholds: { minimum_validators: Math.min(4, n), byzantine_fault_tolerance: Math.floor((n - 1) / 3), stake_threshold: 500_000 },
      node: {
        validator_id: validatorName(i),
        key_file: path.relative(confDir, keys[i]!.keyFile),
        data_dir: path.relative(confDir, path.join(opts.dir, 'data', validatorName(i))),
        api: { host, port: opts.apiBasePort + i },
        durability: opts.durability ?? 'durable',
        verify: opts.verify ?? 'lazy',
        ...(app === 'ledger' ? { app, genesis: path.relative(confDir, genesisFile) } : {}),
      },
      logging: { level: 'info', format: 'json' },
    };
    const configFile = path.join(confDir, `${validatorName(i)}.yaml`);
    fs.writeFileSync(configFile, `# generated by bpci cluster: validator ${i + 1} of ${n}\n${YAML.stringify(doc)}`);
    members.push({
      validatorId: validatorName(i),
      index: i,
      configFile,
      keyFile: keys[i]!.keyFile,
      apiUrl: `http://${host}:${opts.apiBasePort + i}`,
      config: loadConfig(configFile),
    });
  }
  return members;
}

function clientKeyFile(dir: string, i: number): string {
  return path.join(dir, 'keys', 'clients', `client-${String(i).padStart(3, '0')}.json`);
}

/** Client keys (and the mint authority's), then a genesis funding every client with every coin. */
function writeLocalGenesis(dir: string, file: string, clients: number, reuse: boolean): void {
  if (!Number.isInteger(clients) || clients < 1 || clients > 10_000) throw new RangeError(`ledgerClients must be 1..10000, got ${clients}`);
  const clientsDir = path.join(dir, 'keys', 'clients');
  fs.mkdirSync(clientsDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(clientsDir, 0o700);
  const keyOf = (f: string): ValidatorKey => (reuse && fs.existsSync(f) ? loadKeyFile(f) : generateKeyFile(f, { force: true }));
  const authority = keyOf(path.join(clientsDir, 'mint-authority.json'));
  const balances = Object.fromEntries(LOCAL_ASSETS.map((a) => [a, LOCAL_CLIENT_BALANCE.toString()]));
  const accounts = Array.from({ length: clients }, (_, i) => ({ public_key: keyOf(clientKeyFile(dir, i)).publicKeyText, balances }));
  const genesis = { chain_id: LOCAL_CHAIN_ID, assets: [...LOCAL_ASSETS], mint_authority: authority.publicKeyText, accounts };
  fs.writeFileSync(file, `${JSON.stringify(genesis, null, 2)}\n`);
}

/** The funded client keys a ledger cluster's genesis holds (written by writeLocalCluster). */
export function ledgerClientKeys(dir: string): { readonly clients: readonly ValidatorKey[]; readonly mintAuthority: ValidatorKey } {
  const clients: ValidatorKey[] = [];
  for (let i = 0; fs.existsSync(clientKeyFile(dir, i)); i++) clients.push(loadKeyFile(clientKeyFile(dir, i)));
  return { clients, mintAuthority: loadKeyFile(path.join(dir, 'keys', 'clients', 'mint-authority.json')) };
}
