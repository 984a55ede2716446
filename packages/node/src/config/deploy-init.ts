// `bpci config init`: keys, certificates, a token and one config per validator for a cluster of N
// validators on N hosts (issue 13 §2). Nothing here starts a process or touches the network.
//
// Output (every folder 0700, every secret 0600):
//   <out>/ca/ca.pem              the cluster CA: give it to clients (bpci --ca-file) and Prometheus
//   <out>/ca/ca-key.pem          its private key: keep it offline once the certificates are made
//   <out>/client/api-token       the API bearer token for clients (bpci --token-file / BPCI_TOKEN)
//   <out>/client/client-token    the client port's token (BpciClient `token`, with `tls.ca` = ca.pem)
//   <out>/<validator-id>/        everything one host needs, copied as a unit to /etc/bpci/<id>/:
//     config.yaml                the node config (relative paths: the folder is self-contained)
//     keys/validator.json        the Ed25519 identity key
//     tls/cert.pem, tls/key.pem  the API's and the client port's server certificate (SANs: the host, --san, localhost)
//     api-token                  the API bearer token (the same for every validator)
//     client-token               the client port's token (the same for every validator)
//     ca.pem                     the CA, for local checks (docker HEALTHCHECK, bpci health)
//
// Contract: every input is checked before anything is written, with a DeployInitError naming the
// option and the bad value; existing secrets are never overwritten without `force` (the check
// covers all of them first, so a refused run writes nothing); every config written is loaded back
// with the real loader (`loadConfig`) and must list the same validator set as the others.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { generateKeyFile } from '../keys/keyfile.js';
import { loadConfig, type NodeConfig } from './config.js';
import { validatorName } from './local-cluster.js';
import { createCa, issueServerCert, CERT_DAYS_MAX } from './certs.js';

export class DeployInitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployInitError';
  }
}

/** The seed's ports: API 8080 (its `curl localhost:8080/health`), then 8081 and 8082. */
export const DEPLOY_DEFAULTS = {
  apiPort: 8080,
  peerPort: 8081,
  clientPort: 8082,
  dataRoot: '/var/lib/bpci',
  certDays: 825,
  caDays: 3650,
} as const;

export const DEPLOY_VALIDATORS_MAX = 100;
const STAKE = 1_000_000;

export interface DeployInitOptions {
  readonly validators: number;
  /** One per validator, in validator order: validator-001 runs on hosts[0]. */
  readonly hosts: readonly string[];
  readonly out: string;
  readonly apiPort?: number;
  readonly peerPort?: number;
  readonly clientPort?: number;
  /** Where the API listens (node.api.host) when not the validator's host, e.g. 0.0.0.0 in a container. */
  readonly apiListen?: string;
  /** node.data_dir = <dataRoot>/<validator-id>. */
  readonly dataRoot?: string;
  /** Extra DNS names / IPs in every API certificate (a load balancer's name, a k8s Service). */
  readonly san?: readonly string[];
  readonly certDays?: number;
  readonly caDays?: number;
  readonly force?: boolean;
}

export interface DeployValidator {
  readonly validatorId: string;
  readonly host: string;
  readonly dir: string;
  readonly configFile: string;
  readonly keyFile: string;
  readonly publicKey: string;
  readonly peerEndpoint: string;
  readonly clientEndpoint: string;
  readonly apiUrl: string;
  readonly config: NodeConfig;
}

export interface DeployInitResult {
  readonly out: string;
  readonly caFile: string;
  readonly tokenFile: string;
  /** The client port's token for BpciClient (node.client_port.token_file). */
  readonly clientTokenFile: string;
  readonly validators: readonly DeployValidator[];
  /** Things the operator should hear (e.g. a cluster that tolerates no fault). */
  readonly warnings: readonly string[];
}

const DNS_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkHost(h: string, what: string): string {
  const host = h.trim().replace(/^\[|\]$/g, '');
  if (net.isIP(host) === 0 && !DNS_RE.test(host)) throw new DeployInitError(`${what}: ${JSON.stringify(h)} is not an IP address or a DNS name`);
  return host;
}

function checkPort(v: number | undefined, def: number, flag: string): number {
  const p = v ?? def;
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new DeployInitError(`${flag} must be a port 1..65535, got ${String(v)}`);
  return p;
}

/** "10.0.0.1,10.0.0.2" or a hosts file's text (one per line, # comments) -> hosts. */
export function parseHostList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l.length > 0);
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function writeSecret(file: string, data: string): void {
  fs.writeFileSync(file, data, { mode: 0o600 });
  fs.chmodSync(file, 0o600); // an overwritten file keeps its old mode otherwise
}

function mkdirPrivate(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/** Validates everything, refuses to overwrite secrets without force, then writes the cluster. */
export function deployInit(opts: DeployInitOptions): DeployInitResult {
  // ---- inputs
  const n = opts.validators;
  if (!Number.isInteger(n) || n < 1 || n > DEPLOY_VALIDATORS_MAX) throw new DeployInitError(`--validators must be 1..${DEPLOY_VALIDATORS_MAX}, got ${String(n)}`);
  if (opts.hosts.length !== n) {
    throw new DeployInitError(`--validators is ${n} but ${opts.hosts.length} host${opts.hosts.length === 1 ? ' was' : 's were'} given (--hosts / --hosts-file): give one host per validator`);
  }
  const hosts = opts.hosts.map((h, i) => checkHost(h, `host ${i + 1}`));
  const seen = new Map<string, number>();
  hosts.forEach((h, i) => {
    const key = h.toLowerCase();
    const j = seen.get(key);
    if (j !== undefined) throw new DeployInitError(`host ${JSON.stringify(h)} is given twice (host ${j + 1} and host ${i + 1}): one validator per host, since each uses the same ports`);
    seen.set(key, i);
    // node.api.host accepts no bare IPv6 literal yet, so an IPv6 host could not carry its API.
    if (net.isIPv6(h)) throw new DeployInitError(`host ${i + 1} is the IPv6 address ${h}: not supported by config init yet; give a DNS name that resolves to it`);
    if (h === '0.0.0.0') throw new DeployInitError(`host ${i + 1} is ${h}: give the address peers dial (listening on all interfaces is --api-listen's job)`);
  });
  const apiPort = checkPort(opts.apiPort, DEPLOY_DEFAULTS.apiPort, '--api-port');
  const peerPort = checkPort(opts.peerPort, DEPLOY_DEFAULTS.peerPort, '--peer-port');
  const clientPort = checkPort(opts.clientPort, DEPLOY_DEFAULTS.clientPort, '--client-port');
  if (new Set([apiPort, peerPort, clientPort]).size !== 3) {
    throw new DeployInitError(`--api-port (${apiPort}), --peer-port (${peerPort}) and --client-port (${clientPort}) must differ: they share each host`);
  }
  const apiListen = opts.apiListen === undefined ? undefined : checkHost(opts.apiListen, '--api-listen');
  if (apiListen !== undefined && net.isIPv6(apiListen)) throw new DeployInitError(`--api-listen ${apiListen}: IPv6 literals are not supported by config init yet`);
  const san = (opts.san ?? []).map((s) => checkHost(s, '--san'));
  const certDays = opts.certDays ?? DEPLOY_DEFAULTS.certDays;
  const caDays = opts.caDays ?? DEPLOY_DEFAULTS.caDays;
  for (const [flag, d] of [['--cert-days', certDays], ['--ca-days', caDays]] as const) {
    if (!Number.isInteger(d) || d < 1 || d > CERT_DAYS_MAX) throw new DeployInitError(`${flag} must be 1..${CERT_DAYS_MAX}, got ${String(d)}`);
  }
  const dataRoot = opts.dataRoot ?? DEPLOY_DEFAULTS.dataRoot;
  if (dataRoot.length === 0) throw new DeployInitError('--data-root must be a directory path');
  if (opts.out.length === 0) throw new DeployInitError('--out must be a directory path');

  // ---- never overwrite a secret without --force (checked for all before writing any)
  const out = path.resolve(opts.out);
  const ids = hosts.map((_, i) => validatorName(i));
  const caDir = path.join(out, 'ca');
  const clientDir = path.join(out, 'client');
  const secrets = [path.join(caDir, 'ca-key.pem'), path.join(clientDir, 'api-token'), path.join(clientDir, 'client-token')];
  for (const id of ids) {
    const d = path.join(out, id);
    secrets.push(path.join(d, 'keys', 'validator.json'), path.join(d, 'tls', 'key.pem'), path.join(d, 'api-token'), path.join(d, 'client-token'));
  }
  const existing = secrets.filter((f) => fs.existsSync(f));
  if (existing.length > 0 && !opts.force) {
    throw new DeployInitError(
      `${existing.length} key file${existing.length === 1 ? '' : 's'} already exist${existing.length === 1 ? 's' : ''} under ${out} (e.g. ${existing[0]}); ` +
        'nothing was written. Pass --force to replace every key, certificate and token (validators then get new identities), or choose another --out',
    );
  }

  // ---- write
  mkdirPrivate(out);
  mkdirPrivate(caDir);
  mkdirPrivate(clientDir);
  const ca = createCa({ commonName: `bpci cluster CA (${n} validators)`, days: caDays });
  fs.writeFileSync(path.join(caDir, 'ca.pem'), ca.certPem);
  writeSecret(path.join(caDir, 'ca-key.pem'), ca.keyPem);
  const token = randomBytes(32).toString('base64url');
  writeSecret(path.join(clientDir, 'api-token'), `${token}\n`);
  const clientToken = randomBytes(32).toString('base64url');
  writeSecret(path.join(clientDir, 'client-token'), `${clientToken}\n`);

  const keys = ids.map((id) => {
    const d = path.join(out, id);
    mkdirPrivate(d);
    mkdirPrivate(path.join(d, 'keys'));
    return generateKeyFile(path.join(d, 'keys', 'validator.json'), { validatorId: id, force: true });
  });
  const validatorsDoc = ids.map((id, i) => ({
    validator_id: id,
    stake: STAKE,
    endpoint: `tcp://${hostPort(hosts[i]!, peerPort)}`,
    client_endpoint: `tcp://${hostPort(hosts[i]!, clientPort)}`,
    public_key: keys[i]!.publicKeyText,
    is_active: true,
  }));

  const members: DeployValidator[] = [];
  ids.forEach((id, i) => {
    const d = path.join(out, id);
    const host = hosts[i]!;
    mkdirPrivate(path.join(d, 'tls'));
    const certHosts = [host, ...(apiListen !== undefined && apiListen !== '0.0.0.0' ? [apiListen] : []), ...san, 'localhost', '127.0.0.1'];
    const leaf = issueServerCert(ca, { commonName: id, hosts: certHosts, days: certDays });
    fs.writeFileSync(path.join(d, 'tls', 'cert.pem'), leaf.certPem);
    writeSecret(path.join(d, 'tls', 'key.pem'), leaf.keyPem);
    writeSecret(path.join(d, 'api-token'), `${token}\n`);
    writeSecret(path.join(d, 'client-token'), `${clientToken}\n`);
    fs.writeFileSync(path.join(d, 'ca.pem'), ca.certPem);
    const doc = {
      triple_consensus: {
        coordinator: { max_active_rounds: 10, round_timeout_seconds: 30, validator_timeout_seconds: 10 },
        ibft: { byzantine_tolerance_ratio: 0.33, required_vote_threshold: 0.67, phase_timeout_seconds: 5, signature_verification: true },
      },
      validators: validatorsDoc,
      consensus_thresholds: { minimum_validators: Math.min(4, n), byzantine_fault_tolerance: Math.floor((n - 1) / 3), stake_threshold: 500_000 },
      node: {
        validator_id: id,
        key_file: 'keys/validator.json',
        data_dir: path.posix.join(dataRoot.split(path.sep).join('/'), id),
        api: { host: apiListen ?? host, port: apiPort, tls: { cert_file: 'tls/cert.pem', key_file: 'tls/key.pem' }, token_file: 'api-token' },
        client_port: { tls: { cert_file: 'tls/cert.pem', key_file: 'tls/key.pem' }, token_file: 'client-token' },
        durability: 'durable',
        verify: 'lazy',
      },
      logging: { level: 'info', format: 'json' },
    };
    const configFile = path.join(d, 'config.yaml');
    fs.writeFileSync(
      configFile,
      `# generated by bpci config init: ${id}, validator ${i + 1} of ${n}, on ${host}\n` +
        `# Copy this folder to ${host}:/etc/bpci/${id}/ (keep its modes) and run: bpci node start --config /etc/bpci/${id}/config.yaml\n` +
        YAML.stringify(doc),
    );
    members.push({
      validatorId: id,
      host,
      dir: d,
      configFile,
      keyFile: path.join(d, 'keys', 'validator.json'),
      publicKey: keys[i]!.publicKeyText,
      peerEndpoint: validatorsDoc[i]!.endpoint,
      clientEndpoint: validatorsDoc[i]!.client_endpoint,
      apiUrl: `https://${hostPort(host, apiPort)}`,
      config: loadConfig(configFile),
    });
  });

  // Every file must describe one cluster: same ids, keys, endpoints, stakes, in the same order.
  const setOf = (c: NodeConfig) => JSON.stringify(c.validators.map((v) => [v.validatorId, v.publicKeyHex, v.host, v.port, v.client?.port, v.stake, v.index]));
  const first = setOf(members[0]!.config);
  for (const m of members) {
    if (setOf(m.config) !== first) throw new Error(`internal error: ${m.configFile} lists a different validator set`);
  }

  const warnings: string[] = [];
  if (n < 4) warnings.push(`${n} validator${n === 1 ? '' : 's'} tolerate no faulty validator (f = 0); BFT needs 3f+1, so 4 for f = 1`);
  return { out, caFile: path.join(caDir, 'ca.pem'), tokenFile: path.join(clientDir, 'api-token'), clientTokenFile: path.join(clientDir, 'client-token'), validators: members, warnings };
}
