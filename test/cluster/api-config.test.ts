// Bad input over HTTP and a broken config against real processes (issue 4, section 9): every bad
// API body or parameter gets 400 with a message naming what is wrong, unknown ids get 404, and the
// validator keeps serving; `bpci node start --config bad.yaml` exits non-zero with a message that
// names the offending key (unknown key, wrong type, bad endpoint, ...) and no stack trace.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, bpciJs, ensureBuilt, getJson, postJson } from './harness.js';

let cluster: Cluster;
let api: string;

beforeAll(async () => {
  ensureBuilt();
  cluster = await Cluster.create({ label: 'api-config', phaseTimeoutSeconds: 1 });
  for (const m of cluster.members) cluster.start(m.index);
  await cluster.waitHealthy([0, 1, 2, 3]);
  api = cluster.members[1]!.apiUrl;
}, 180_000);

afterAll(async () => {
  await cluster?.stopAll();
  cluster?.cleanup();
});

interface ApiErr {
  error: string;
  message: string;
  status_code: number;
}

function expectError(r: { status: number; json: unknown }, status: number, mentions: RegExp): void {
  const j = r.json as ApiErr;
  expect(r.status, JSON.stringify(j)).toBe(status);
  expect(j.status_code).toBe(status);
  expect(typeof j.error).toBe('string');
  expect(j.message).toMatch(mentions);
}

describe('HTTP API of a running validator: bad input and unknown ids', () => {
  it('answers 400 with a message for bad transaction bodies', async () => {
    const tx = `${api}/api/v1/transactions`;
    expectError(await postJson(tx, {}), 400, /payload/);
    expectError(await postJson(tx, { payload: 5 }), 400, /payload/);
    expectError(await postJson(tx, { payload: 'add a 1', surprise: true }), 400, /additional|surprise/i);
    expectError(await postJson(tx, { payload: 'abc', encoding: 'hex' }), 400, /hex/);
    expectError(await postJson(tx, { payload: 'add a 1', encoding: 'rot13' }), 400, /encoding/);
    expectError(await postJson(tx, { payload: 'add a 1', client_id: 'c1' }), 400, /request_seq/);
    expectError(await postJson(tx, { payload: 'x'.repeat(70_000) }), 400, /payload/);
    expectError(await postJson(tx, null, 15_000, '{"payload": "add a 1"'), 400, /JSON|json|Unexpected|end/i);
    expectError(await postJson(`${tx}?timeout_ms=-5`, { payload: 'add a 1' }), 400, /timeout_ms/);
  });

  it('answers 400 for bad round bodies and query parameters', async () => {
    const C = `${api}/api/v1/consensus`;
    expectError(await postJson(`${C}/rounds/start`, {}), 400, /bundle_proposals/);
    expectError(await postJson(`${C}/rounds/start`, { bundle_proposals: [] }), 400, /bundle_proposals|fewer|NOT have/i);
    expectError(await postJson(`${C}/rounds/start`, { bundle_proposals: [{ bundle_id: 'b', transactions: 'not a list' }] }), 400, /transactions/);
    expectError(await getJson(`${C}/rounds/history?limit=0`), 400, /limit/);
    expectError(await getJson(`${C}/rounds/history?limit=many`), 400, /limit/);
    expectError(await getJson(`${C}/rounds/history?bogus=1`), 400, /additional|bogus/i);
    expectError(await getJson(`${api}/api/v1/evidence?limit=-1`), 400, /limit/);
    expectError(await getJson(`${api}/api/v1/transactions/not-a-tx-id`), 400, /id/);
    expectError(await getJson(`${api}/api/v1/blocks/minus-one`), 400, /height/);
  });

  it('answers 404 for unknown rounds, blocks, transactions and routes', async () => {
    const C = `${api}/api/v1/consensus`;
    const far = 999_999_999;
    expectError(await getJson(`${C}/rounds/${far}/status`), 404, new RegExp(String(far)));
    expectError(await getJson(`${C}/ibft/state/${far}`), 404, new RegExp(String(far)));
    expectError(await getJson(`${C}/ibft/votes/${far}`), 404, new RegExp(String(far)));
    expectError(await getJson(`${C}/ibft/proposal/${far}`), 404, new RegExp(String(far)));
    expectError(await getJson(`${api}/api/v1/blocks/${far}`), 404, new RegExp(String(far)));
    expectError(await getJson(`${api}/api/v1/transactions/${'0'.repeat(64)}`), 404, /0{64}/);
    expectError(await getJson(`${api}/api/v1/no/such/route`), 404, /no\/such\/route/);
  });

  it('still commits a good transaction and proves it, after all of that', async () => {
    const r = await postJson<{ tx_id: string; status: string; height: number; result: string }>(`${api}/api/v1/transactions?wait=true&timeout_ms=30000`, { payload: 'add api-test 5' }, 40_000);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.status).toBe('committed');
    const s = await getJson<{ status: string; height: number }>(`${api}/api/v1/transactions/${r.json.tx_id}`);
    expect(s.status).toBe(200);
    expect(s.json.height).toBe(r.json.height);
    const p = await getJson<{ proof: { tx_id: string } }>(`${api}/api/v1/blocks/${r.json.height}?tx=${r.json.tx_id}`);
    expect(p.status).toBe(200);
    expect(p.json.proof.tx_id).toBe(r.json.tx_id);
    // A transaction id that is well-formed but not in that block: 404.
    expectError(await getJson(`${api}/api/v1/blocks/${r.json.height}?tx=${'f'.repeat(64)}`), 404, /not in block/);
    expect((await getJson(`${api}/health`)).status).toBe(200);
    expect(cluster.running(1)).toBe(true);
  });
});

describe('bpci node start with a broken config', () => {
  function runStart(configFile: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bpciJs, 'node', 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`bpci node start --config ${configFile} still running after 30 s: ${output}`));
      }, 30_000);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, output });
      });
    });
  }

  /** Writes validator 1's (valid) config with `mutate` applied; returns the file. */
  function badConfig(name: string, mutate: (doc: Record<string, any>) => void): string {
    const doc = YAML.parse(fs.readFileSync(cluster.members[0]!.configFile, 'utf8')) as Record<string, any>;
    mutate(doc);
    const file = path.join(cluster.dir, 'config', `bad-${name}.yaml`);
    fs.writeFileSync(file, YAML.stringify(doc));
    return file;
  }

  const cases: [string, (doc: Record<string, any>) => void, RegExp][] = [
    ['unknown key', (d) => (d.triple_consensus.ibft.phase_timeout_secs = 1), /triple_consensus\.ibft\.phase_timeout_secs/],
    ['unknown top-level key', (d) => (d.loging = { level: 'info' }), /"loging"/],
    ['wrong type', (d) => (d.node.api.port = 'eighty'), /node\.api\.port/],
    ['wrong type in a list', (d) => (d.validators[2].stake = 'lots'), /validators\[2\]\.stake/],
    ['bad endpoint', (d) => (d.validators[1].endpoint = 'tcp://127.0.0.1:99999'), /validators\[1\]\.endpoint/],
    ['bad public key', (d) => (d.validators[3].public_key = 'ed25519:1234'), /validators\[3\]\.public_key/],
    ['unsafe threshold', (d) => (d.triple_consensus.ibft.required_vote_threshold = 0.5), /required_vote_threshold/],
    ['bad enum', (d) => (d.node.durability = 'sometimes'), /node\.durability/],
  ];

  for (const [name, mutate, names] of cases) {
    it(`exits non-zero naming the key: ${name}`, async () => {
      const r = await runStart(badConfig(name.replace(/\W+/g, '-'), mutate));
      expect(r.signal).toBeNull();
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(names);
      expect(r.output).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/); // a message, not a stack trace
    });
  }

  it('exits non-zero on a file that is not YAML, and on a missing file', async () => {
    const notYaml = path.join(cluster.dir, 'config', 'bad-not-yaml.yaml');
    fs.writeFileSync(notYaml, 'node: {{{\n');
    const a = await runStart(notYaml);
    expect(a.code).not.toBe(0);
    expect(a.output).toMatch(/YAML/);
    const b = await runStart(path.join(cluster.dir, 'config', 'does-not-exist.yaml'));
    expect(b.code).not.toBe(0);
    expect(b.output).toMatch(/does-not-exist\.yaml/);
  });

  it('left the running validators alone', async () => {
    for (const m of cluster.members) {
      expect(cluster.running(m.index)).toBe(true);
      expect((await getJson(`${m.apiUrl}/health`)).status).toBe(200);
    }
  });
});
