// TLS and the bearer token on the HTTP API (issue 13 §2): real HTTPS requests against the API
// with a certificate from the cluster CA, 401s in the API's error shape, the loader's refusal of a
// non-loopback API without TLS or a token, and a real validator started with both.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { FastifyInstance } from 'fastify';
import { createApi } from '../src/api/server.js';
import { readApiToken, tokenMatches } from '../src/api/auth.js';
import { ApiClient, ApiClientError } from '../src/cli/client.js';
import { runCli } from '../src/cli/program.js';
import { createCa, issueServerCert } from '../src/config/certs.js';
import { ConfigError, loadConfig, parseConfig } from '../src/config/config.js';
import { deployInit } from '../src/config/deploy-init.js';
import { runtimeCommands } from '../src/runtime/cli.js';
import { startNodeFromConfig } from '../src/runtime/start-node.js';
import { NodeMetrics } from '../src/metrics/metrics.js';
import { FakeNode } from './fake-node.js';

const TOKEN = 'test-token-0123456789abcdefghijklmnopqrstuvwxyz';
const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-auth-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { io: { out: (t) => out.push(t), err: (t) => err.push(t), progress: false }, runtime: runtimeCommands });
  return { code, out: out.join(''), err: err.join('') };
}

/** A raw HTTPS request (no client code of ours), trusting `ca`. */
function httpsGet(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers }, (res) => {
        let text = '';
        res.on('data', (c) => (text += String(c)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text.startsWith('{') ? JSON.parse(text) : text }));
      })
      .on('error', reject);
  });
}

describe('HTTPS + bearer token on the API (fake node)', () => {
  let app: FastifyInstance;
  let base: string;
  let dir: string;
  const ca = createCa({ commonName: 'test CA', days: 2 });
  beforeAll(async () => {
    dir = tmpDir();
    const leaf = issueServerCert(ca, { commonName: 'validator-001', hosts: ['127.0.0.1', 'localhost'], days: 2 });
    app = createApi({ node: new FakeNode(), metrics: new NodeMetrics({ validator: 'validator-001', processMetrics: false }), tls: { cert: leaf.certPem, key: leaf.keyPem }, token: TOKEN });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `https://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers a real HTTPS request with the right token', async () => {
    const r = await httpsGet(`${base}/api/v1/consensus/ibft/state`, ca.certPem, { authorization: `Bearer ${TOKEN}` });
    expect(r.status).toBe(200);
    expect(r.body).toHaveProperty('view');
  });

  it('401 in the API error shape without a token, with a wrong one, and with a wrong scheme', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Bearer ${TOKEN.replace(/.$/, '!')}` }, { authorization: `Basic ${TOKEN}` }, { authorization: 'Bearer' }]) {
      const r = await httpsGet(`${base}/api/v1/consensus/ibft/state`, ca.certPem, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.body).toMatchObject({ error: 'unauthorized', status_code: 401 });
      expect(r.body.message).toMatch(/bearer token/);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="bpci"');
    }
    // Every route is covered: a submit, /metrics and the dashboard's data too, and unknown paths
    // give no hint of what exists.
    expect((await httpsGet(`${base}/metrics`, ca.certPem)).status).toBe(401);
    expect((await httpsGet(`${base}/api/v1/dashboard/snapshot`, ca.certPem)).status).toBe(401);
    expect((await httpsGet(`${base}/dashboard/x`, ca.certPem)).status).toBe(401);
    expect((await httpsGet(`${base}/no/such/route`, ca.certPem)).status).toBe(401);
    const post = await app.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: 'x' } });
    expect(post.statusCode).toBe(401);
  });

  it('the dashboard page alone is open: fixed HTML without data; its data needs the token', async () => {
    const page = await httpsGet(`${base}/dashboard`, ca.certPem);
    expect(page.status).toBe(200);
    expect(String(page.headers['content-type'])).toMatch(/text\/html/);
    expect((await httpsGet(`${base}/dashboard?x=1`, ca.certPem)).status).toBe(200);
    expect((await httpsGet(`${base}/api/v1/dashboard/snapshot`, ca.certPem, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('/health and /health/* stay open (probes)', async () => {
    expect((await httpsGet(`${base}/health`, ca.certPem)).status).toBe(200);
    expect((await httpsGet(`${base}/health/consensus`, ca.certPem)).status).toBe(200);
    // "/healthz" is not under /health/: it needs the token like everything else.
    expect((await httpsGet(`${base}/healthz`, ca.certPem)).status).toBe(401);
  });

  it('ApiClient: token + CA works; without the CA the TLS error is named', async () => {
    const ok = new ApiClient({ baseUrl: base, token: TOKEN, ca: ca.certPem });
    expect(await ok.ibftState()).toHaveProperty('view');
    await expect(new ApiClient({ baseUrl: base, ca: ca.certPem }).ibftState()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    const err = await new ApiClient({ baseUrl: base, token: TOKEN }).ibftState().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiClientError);
    expect((err as ApiClientError).status).toBe(0);
    expect((err as Error).message).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    expect((err as Error).message).toMatch(/--ca-file/);
  });

  it('bpci --ca-file with --token, --token-file or BPCI_TOKEN', async () => {
    const caFile = path.join(dir, 'ca.pem');
    const withToken = await cli(['--api', base, '--ca-file', caFile, '--token', TOKEN, '--json', 'consensus', 'ibft', 'state']);
    expect(withToken.code, withToken.err).toBe(0);
    expect(JSON.parse(withToken.out)).toHaveProperty('view');
    const withFile = await cli(['--api', base, '--ca-file', caFile, '--token-file', path.join(dir, 'token'), 'consensus', 'metrics']);
    expect(withFile.code, withFile.err).toBe(0);
    process.env.BPCI_TOKEN = TOKEN;
    try {
      expect((await cli(['--api', base, '--ca-file', caFile, 'consensus', 'metrics'])).code).toBe(0);
    } finally {
      delete process.env.BPCI_TOKEN;
    }
    const none = await cli(['--api', base, '--ca-file', caFile, 'consensus', 'metrics']);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/HTTP 401 unauthorized/);
    const health = await cli(['--api', base, '--ca-file', caFile, 'health']);
    expect(health.code, health.err).toBe(0);
    const missing = await cli(['--api', base, '--ca-file', path.join(dir, 'nope.pem'), 'health']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--ca-file: cannot read/);
  });

  it('tokenMatches compares whole tokens', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN.slice(0, -1), TOKEN)).toBe(false);
    expect(tokenMatches('', TOKEN)).toBe(false);
  });
});

// ------------------------------------------------------------------ config keys

const PK = `ed25519:${'11'.repeat(32)}`;
function doc(api: Record<string, unknown>): string {
  return YAML.stringify({
    validators: [{ validator_id: 'v1', stake: 1, endpoint: 'tcp://10.0.0.1:8081', public_key: PK }],
    consensus_thresholds: { minimum_validators: 1 },
    node: { validator_id: 'v1', key_file: 'k.json', data_dir: 'data', api },
  });
}
function configError(api: Record<string, unknown>): ConfigError {
  try {
    parseConfig(doc(api), '/base');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('node.api config keys', () => {
  it('loopback needs neither TLS nor a token (npm start, bpci cluster up)', () => {
    for (const host of ['127.0.0.1', 'localhost', '127.1.2.3', '[::1]']) {
      const c = parseConfig(doc({ host, port: 8080 }), '/base');
      expect(c.node.api).toMatchObject({ host, tls: undefined, token: undefined, insecure: false });
    }
  });

  it('off loopback, a missing tls or token is refused naming the key', () => {
    const noTls = configError({ host: '0.0.0.0', port: 8080, token_file: 't' });
    expect(noTls.keyPath).toBe('node.api.tls');
    expect(noTls.message).toMatch(/"0\.0\.0\.0" is not loopback.*node\.api\.insecure: true opts out/);
    const noToken = configError({ host: '10.0.0.1', port: 8080, tls: { cert_file: 'c.pem', key_file: 'k.pem' } });
    expect(noToken.keyPath).toBe('node.api.token_file');
    const both = configError({ host: '10.0.0.1', port: 8080, tls: { cert_file: 'c', key_file: 'k' }, token_file: 't', token_env: 'X' });
    expect(both.keyPath).toBe('node.api.token_env');
    expect(configError({ host: '10.0.0.1', port: 8080, tls: { cert_file: 'c' }, token_file: 't' }).keyPath).toBe('node.api.tls.key_file');
    expect(configError({ host: '10.0.0.1', port: 8080, tls: { cert_file: 'c', key_file: 'k', ca: 'x' }, token_file: 't' }).keyPath).toBe('node.api.tls.ca');
    expect(configError({ host: '10.0.0.1', port: 8080, insecure: true, token_env: 'not a name' }).keyPath).toBe('node.api.token_env');
  });

  it('resolves paths against the config folder; insecure: true is an explicit opt-out', () => {
    const c = parseConfig(doc({ host: '10.0.0.1', port: 8080, tls: { cert_file: 'tls/c.pem', key_file: '/abs/k.pem' }, token_env: 'BPCI_API_TOKEN' }), '/base');
    expect(c.node.api.tls).toEqual({ certFile: '/base/tls/c.pem', keyFile: '/abs/k.pem' });
    expect(c.node.api.token).toEqual({ env: 'BPCI_API_TOKEN' });
    expect(parseConfig(doc({ host: '10.0.0.1', port: 8080, insecure: true }), '/base').node.api.insecure).toBe(true);
  });

  it('readApiToken: owner-only file, long enough, env variable set', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'tok');
    fs.writeFileSync(f, `${TOKEN}\n`, { mode: 0o644 });
    fs.chmodSync(f, 0o644);
    const api = { host: '10.0.0.1', port: 1, tls: undefined, insecure: false };
    expect(() => readApiToken({ ...api, token: { file: f } })).toThrow(/node\.api\.token_file: .* permissions 0644, too open/);
    fs.chmodSync(f, 0o600);
    expect(readApiToken({ ...api, token: { file: f } })).toBe(TOKEN);
    fs.writeFileSync(f, 'short\n');
    expect(() => readApiToken({ ...api, token: { file: f } })).toThrow(/at least|32\.\.4096/);
    expect(() => readApiToken({ ...api, token: { env: 'BPCI_TEST_UNSET_TOKEN' } }, {})).toThrow(/BPCI_TEST_UNSET_TOKEN is not set/);
    expect(readApiToken({ ...api, token: { env: 'T' } }, { T: TOKEN })).toBe(TOKEN);
  });
});

// ------------------------------------------------------------------ a real validator

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

describe('a validator started from bpci config init output', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
  });

  it('serves HTTPS with the token on loopback (TLS and token work on loopback too)', async () => {
    const dir = tmpDir();
    const [apiPort, peerPort, clientPort] = await freePorts(3);
    const r = deployInit({ validators: 1, hosts: ['127.0.0.1'], out: path.join(dir, 'out'), apiPort, peerPort, clientPort, dataRoot: path.join(dir, 'data') });
    const running = await startNodeFromConfig(r.validators[0]!.configFile, { poolThreads: 0 });
    stops.push(() => running.stop({ reason: 'test' }));
    expect(running.apiUrl).toBe(`https://127.0.0.1:${apiPort}`);
    const ca = fs.readFileSync(r.caFile, 'utf8');
    const token = fs.readFileSync(r.tokenFile, 'utf8').trim();
    const ok = await httpsGet(`${running.apiUrl}/api/v1/consensus/ibft/state`, ca, { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-bpci-validator-id']).toBe('validator-001');
    expect((await httpsGet(`${running.apiUrl}/api/v1/consensus/ibft/state`, ca)).status).toBe(401);
    expect((await httpsGet(`${running.apiUrl}/health`, ca)).status).toBe(200);
    const sub = await cli(['--api', running.apiUrl, '--ca-file', r.caFile, '--token-file', r.tokenFile, '--json', 'submit', 'hello', '--wait']);
    expect(sub.code, sub.err).toBe(0);
    expect(JSON.parse(sub.out)).toMatchObject({ status: 'committed' });
  });

  it('refuses to start on a non-loopback API host without TLS or a token, naming the key', async () => {
    const dir = tmpDir();
    const r = deployInit({ validators: 1, hosts: ['10.255.0.1'], out: path.join(dir, 'out'), dataRoot: path.join(dir, 'data') });
    const file = r.validators[0]!.configFile;
    expect(loadConfig(file).node.api.tls).toBeDefined();
    const d = YAML.parse(fs.readFileSync(file, 'utf8'));
    delete d.node.api.tls;
    fs.writeFileSync(file, YAML.stringify(d));
    await expect(startNodeFromConfig(file, { poolThreads: 0 })).rejects.toThrow(/config key "node\.api\.tls": .*"10\.255\.0\.1" is not loopback/);
    const c = await cli(['node', 'start', '--config', file]);
    expect(c.code).toBe(4);
    expect(c.err).toMatch(/node\.api\.tls/);
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false); // refused before the data dir was touched
  });

  it('node.api.insecure: true starts a plain, open API off loopback and logs a warning', async () => {
    const dir = tmpDir();
    const [apiPort, peerPort, clientPort] = await freePorts(3);
    const r = deployInit({ validators: 1, hosts: ['127.0.0.1'], out: path.join(dir, 'out'), apiPort, peerPort, clientPort, dataRoot: path.join(dir, 'data') });
    const file = r.validators[0]!.configFile;
    const d = YAML.parse(fs.readFileSync(file, 'utf8'));
    d.node.api = { host: '0.0.0.0', port: apiPort, insecure: true };
    const logFile = path.join(dir, 'validator.log');
    d.logging.outputs = [{ type: 'file', path: logFile }];
    fs.writeFileSync(file, YAML.stringify(d));
    const running = await startNodeFromConfig(file, { poolThreads: 0 });
    stops.push(() => running.stop({ reason: 'test' }));
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/consensus/ibft/state`);
    expect(res.status).toBe(200);
    const warning = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('node.api.insecure is true')).map((l) => JSON.parse(l));
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatchObject({ level: 'warn', api_host: '0.0.0.0', tls: false, token: false });
  });

  it('refuses a too-open TLS key at start, naming node.api.tls.key_file', async () => {
    const dir = tmpDir();
    const [apiPort, peerPort, clientPort] = await freePorts(3);
    const r = deployInit({ validators: 1, hosts: ['127.0.0.1'], out: path.join(dir, 'out'), apiPort, peerPort, clientPort, dataRoot: path.join(dir, 'data') });
    fs.chmodSync(path.join(r.validators[0]!.dir, 'tls', 'key.pem'), 0o644);
    await expect(startNodeFromConfig(r.validators[0]!.configFile, { poolThreads: 0 })).rejects.toThrow(/validator-001 not started: node\.api\.tls\.key_file: .*too open/);
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false); // before the data dir lock
  });
});
