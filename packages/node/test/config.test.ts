import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, loadConfig, parseConfig, parseEndpoint } from '../src/config/config.js';
import { writeLocalCluster } from '../src/config/local-cluster.js';
import { KeyFileError, generateKeyFile, loadKeyFile } from '../src/keys/keyfile.js';
import { identity } from './helpers.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-cfg-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const pk = (i: number) => `ed25519:${Buffer.from(identity(i).publicKey).toString('hex')}`;

function baseDoc(): any {
  return {
    triple_consensus: {
      coordinator: { max_active_rounds: 10, round_timeout_seconds: 30, validator_timeout_seconds: 10 },
      ibft: { byzantine_tolerance_ratio: 0.33, required_vote_threshold: 0.67, phase_timeout_seconds: 5, signature_verification: true },
      hotstuff: { pipeline_depth: 3, optimistic_execution: true, view_timeout_seconds: 10, leader_rotation_enabled: true },
      auction: { bid_evaluation_timeout_seconds: 5, mev_protection_enabled: true, priority_weight: 0.3, economic_weight: 0.7 },
    },
    validators: [0, 1, 2, 3].map((i) => ({
      validator_id: `validator-00${i + 1}`,
      stake: 1_000_000 - i * 100_000,
      endpoint: `tcp://127.0.0.1:${7001 + i}`,
      public_key: pk(i),
      is_active: true,
    })),
    consensus_thresholds: { minimum_validators: 4, byzantine_fault_tolerance: 1, stake_threshold: 500000 },
    node: {
      validator_id: 'validator-002',
      key_file: 'keys/v2.json',
      data_dir: 'data/v2',
      api: { host: '127.0.0.1', port: 8080 },
      durability: 'durable',
      verify: 'lazy',
    },
    logging: { level: 'info', format: 'json' },
  };
}

function expectConfigError(mutate: (d: any) => void, keyPath: string, expected: RegExp): void {
  const d = baseDoc();
  mutate(d);
  let err: unknown;
  try {
    parseConfig(YAML.stringify(d), '/base');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  const ce = err as ConfigError;
  expect(ce.keyPath).toBe(keyPath);
  expect(ce.message).toMatch(expected);
  expect(ce.message).toContain(keyPath);
}

describe('config', () => {
  it('accepts the seed-shaped config and normalises it', () => {
    const c = parseConfig(YAML.stringify(baseDoc()), '/base');
    expect(c.activeValidators.map((v) => v.index)).toEqual([0, 1, 2, 3]);
    expect(c.validators[3]).toMatchObject({ host: '127.0.0.1', port: 7004, stake: 700_000, isActive: true });
    expect(c.validators[0]!.publicKey).toEqual(identity(0).publicKey);
    expect(c.node).toMatchObject({ validatorId: 'validator-002', index: 1, keyFile: '/base/keys/v2.json', dataDir: '/base/data/v2', verify: 'lazy', durability: 'durable' });
    expect(c.node.transport.frameBytesMax).toBeGreaterThan(0);
    expect(c.node.consensus).toEqual({});
    const tuned = baseDoc();
    tuned.node.consensus = { tick_ms: 5, checkpoint_interval: 100, watermark_window: 400, batch_size_max: 256, inflight_max: 8 };
    expect(parseConfig(YAML.stringify(tuned)).node.consensus).toEqual({ tickMs: 5, checkpointInterval: 100, watermarkWindow: 400, batchSizeMax: 256, inflightMax: 8 });
    expect(c.tripleConsensus.ibft.requiredVoteThreshold).toBe(0.67);
    expect(c.tripleConsensus.hotstuff?.pipelineDepth).toBe(3);
  });

  it("refuses more active validators than the consensus core takes, naming the key", () => {
    const d = baseDoc();
    d.validators = Array.from({ length: 257 }, (_, i) => ({
      validator_id: `validator-${String(i + 1).padStart(3, '0')}`,
      stake: 1,
      endpoint: `tcp://127.0.0.1:${20000 + i}`,
      public_key: pk(i % 4),
      is_active: true,
    }));
    d.consensus_thresholds = { minimum_validators: 4, byzantine_fault_tolerance: 1, stake_threshold: 0 };
    expect(() => parseConfig(YAML.stringify(d), '/base')).toThrow(/config key "validators": expected at most 256 active validators/);
  });

  it('skips inactive validators when numbering replicas', () => {
    const d = baseDoc();
    d.validators.push({ validator_id: 'validator-005', stake: 1, endpoint: 'h:1', public_key: pk(4), is_active: false });
    d.validators.push({ validator_id: 'validator-006', stake: 600000, endpoint: '10.0.0.6:7006', public_key: pk(5) });
    const c = parseConfig(YAML.stringify(d));
    expect(c.validators.map((v) => v.index)).toEqual([0, 1, 2, 3, -1, 4]);
    expect(c.activeValidators).toHaveLength(5);
  });

  it('names the key of an unknown key, a wrong type and a bad value', () => {
    expectConfigError((d) => (d.triple_consensus.ibft.phase_timeout = 5), 'triple_consensus.ibft.phase_timeout', /no such key/);
    expectConfigError((d) => (d.triple_consensus.ibft.phase_timeout_seconds = 'five'), 'triple_consensus.ibft.phase_timeout_seconds', /a number > 0.*"five"/);
    expectConfigError((d) => (d.triple_consensus.ibft.required_vote_threshold = 0.5), 'triple_consensus.ibft.required_vote_threshold', /> 0.666/);
    expectConfigError((d) => (d.triple_consensus.ibft.signature_verification = false), 'triple_consensus.ibft.signature_verification', /cannot be switched off/);
    expectConfigError((d) => (d.validators[2].endpoint = 'https://validator3.bpci.network'), 'validators[2].endpoint', /host:port/);
    expectConfigError((d) => (d.validators[1].public_key = 'ed25519:...'), 'validators[1].public_key', /64 hex/);
    expectConfigError((d) => (d.validators[1].stake = 1.5), 'validators[1].stake', /integer/);
    expectConfigError((d) => (d.validators[3].validator_id = 'validator-001'), 'validators[3].validator_id', /not used by an earlier/);
    expectConfigError((d) => (d.validators[3].endpoint = '127.0.0.1:7001'), 'validators[3].endpoint', /not used by an earlier/);
    expectConfigError((d) => (d.validators[3].stake = 100), 'validators[3].stake', /stake_threshold/);
    expectConfigError((d) => (d.consensus_thresholds.byzantine_fault_tolerance = 2), 'consensus_thresholds.byzantine_fault_tolerance', /3f\+1/);
    expectConfigError((d) => (d.validators[3].is_active = false), 'validators', /at least .* 4 active/);
    expectConfigError((d) => (d.node.validator_id = 'validator-042'), 'node.validator_id', /one of the validators/);
    expectConfigError((d) => (d.node.verify = 'sometimes'), 'node.verify', /"lazy", "eager"/);
    expectConfigError((d) => (d.node.api.port = 70000), 'node.api.port', /<= 65535/);
    expectConfigError((d) => delete d.node.key_file, 'node.key_file', /missing/);
    expectConfigError((d) => (d.node.transport = { frame_bytes_max: 1 }), 'node.transport.frame_bytes_max', />= 4096/);
    expectConfigError((d) => (d.extra = 1), 'extra', /allowed here: triple_consensus/);
    expectConfigError((d) => (d.node.consensus = { checkpoint_interval: 100, watermark_window: 250 }), 'node.consensus.watermark_window', /multiple of/);
    expectConfigError((d) => (d.node.consensus = { watermark_window: 200, inflight_max: 300 }), 'node.consensus.inflight_max', /<= node.consensus.watermark_window/);
    expectConfigError((d) => (d.node.consensus = { batch_size: 10 }), 'node.consensus.batch_size', /no such key/);
    expectConfigError((d) => (d.validators = {}), 'validators', /a list/);
  });

  it('reports YAML syntax errors and duplicate keys with a line', () => {
    expect(() => parseConfig('node: [unclosed')).toThrow(ConfigError);
    expect(() => parseConfig('node: {}\nnode: {}\n')).toThrow(/line 2/);
    expect(() => parseConfig('')).toThrow(/document: expected a mapping/);
  });

  it('loadConfig names the file and resolves paths against its directory', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'node.yaml');
    fs.writeFileSync(f, YAML.stringify(baseDoc()));
    expect(loadConfig(f).node.dataDir).toBe(path.join(dir, 'data/v2'));
    const bad = baseDoc();
    bad.logging.format = 'text';
    fs.writeFileSync(f, YAML.stringify(bad));
    expect(() => loadConfig(f)).toThrow(new RegExp(`${f}: config key "logging.format"`));
    expect(() => loadConfig(path.join(dir, 'missing.yaml'))).toThrow(/readable config file/);
  });

  it('parses endpoints', () => {
    expect(parseEndpoint('tcp://127.0.0.1:7001')).toEqual({ host: '127.0.0.1', port: 7001 });
    expect(parseEndpoint('node-1.example:9')).toEqual({ host: 'node-1.example', port: 9 });
    expect(parseEndpoint('[::1]:7001')).toEqual({ host: '::1', port: 7001 });
    expect(parseEndpoint('127.0.0.1:0')).toBeUndefined();
    expect(parseEndpoint('127.0.0.1')).toBeUndefined();
  });
});

describe('key files', () => {
  it('generates a 0600 file that loads back to the same key', () => {
    const f = path.join(tmpDir(), 'sub', 'v1.json');
    const k = generateKeyFile(f, { validatorId: 'validator-001' });
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    const l = loadKeyFile(f);
    expect(l.seed).toEqual(k.seed);
    expect(l.publicKey).toEqual(k.publicKey);
    expect(l.publicKeyText).toMatch(/^ed25519:[0-9a-f]{64}$/);
    expect(l.validatorId).toBe('validator-001');
    expect(() => generateKeyFile(f)).toThrow(/already exists/);
  });

  it('refuses loose permissions, a mismatched public key and garbage', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'k.json');
    generateKeyFile(f);
    fs.chmodSync(f, 0o644);
    expect(() => loadKeyFile(f)).toThrow(/0644 are too open/);
    fs.chmodSync(f, 0o600);
    const doc = JSON.parse(fs.readFileSync(f, 'utf8'));
    doc.public_key = pk(3);
    fs.writeFileSync(f, JSON.stringify(doc));
    expect(() => loadKeyFile(f)).toThrow(/does not match the seed/);
    fs.writeFileSync(f, '{not json');
    expect(() => loadKeyFile(f)).toThrow(KeyFileError);
    expect(() => loadKeyFile(path.join(dir, 'none.json'))).toThrow(/cannot read/);
  });

  it('writes a valid local cluster and keeps identities on rewrite', () => {
    const dir = tmpDir();
    const a = writeLocalCluster({ dir, validators: 4, basePort: 17001, apiBasePort: 18001 });
    expect(a.map((m) => m.config.node.index)).toEqual([0, 1, 2, 3]);
    expect(a[2]!.config.validators[2]!.publicKey).toEqual(loadKeyFile(a[2]!.keyFile).publicKey);
    expect(a[3]!.apiUrl).toBe('http://127.0.0.1:18004');
    const b = writeLocalCluster({ dir, validators: 4, basePort: 17001, apiBasePort: 18001 });
    expect(b[1]!.config.validators[1]!.publicKeyHex).toBe(a[1]!.config.validators[1]!.publicKeyHex);
  });

  it('accepts the seed\'s logging block: outputs (file with rotation, elasticsearch) and consensus_logging (issue 13 §2)', () => {
    const d = baseDoc();
    // Verbatim from the seed, plus our rotation keys on the file output.
    d.logging = {
      level: 'info',
      format: 'json',
      outputs: [
        { type: 'file', path: '/var/log/bpci/consensus.log' },
        { type: 'elasticsearch', endpoint: 'http://elasticsearch:9200' },
        { type: 'file', path: 'logs/v2.log', max_size_bytes: 10_485_760, max_files: 3 },
        { type: 'stdout' },
      ],
      consensus_logging: { enabled: true, level: 'detailed', include_validator_votes: true, include_auction_bids: true },
    };
    const c = parseConfig(YAML.stringify(d), '/base');
    expect(c.logging.outputs).toEqual([
      { type: 'file', path: '/var/log/bpci/consensus.log', maxSizeBytes: undefined, maxFiles: 5 },
      { type: 'elasticsearch', endpoint: 'http://elasticsearch:9200' },
      { type: 'file', path: '/base/logs/v2.log', maxSizeBytes: 10_485_760, maxFiles: 3 },
      { type: 'stdout' },
    ]);
    expect(c.logging.consensusLogging).toEqual({ enabled: true, level: 'detailed', includeValidatorVotes: true, includeAuctionBids: true });
    expect(parseConfig(YAML.stringify(baseDoc()), '/base').logging.outputs).toEqual([{ type: 'stdout' }]);
    expectConfigError((x) => (x.logging.outputs = [{ type: 'stdout' }, { type: 'syslog' }]), 'logging.outputs[1].type', /one of "stdout", "file", "elasticsearch"/);
    expectConfigError((x) => (x.logging.outputs = [{ type: 'file', path: 'a.log', max_files: 2 }]), 'logging.outputs[0].max_files', /max_size_bytes/);
    expectConfigError((x) => (x.logging.outputs = [{ type: 'file', path: 'a.log', max_size_bytes: 10 }]), 'logging.outputs[0].max_size_bytes', />= 1024/);
    expectConfigError((x) => (x.logging.outputs = [{ type: 'stdout', path: 'a.log' }]), 'logging.outputs[0].path', /no such key/);
    expectConfigError((x) => (x.logging.outputs = []), 'logging.outputs', /a list of 1\.\.8/);
    expectConfigError((x) => (x.logging.consensus_logging = { level: 'verbose' }), 'logging.consensus_logging.level', /"basic", "detailed"/);
  });

  it('keeps a local cluster\'s private keys private: keys/ 0700, key files 0600, .bpci-cluster/ git-ignored (issue 13 §2)', () => {
    const dir = tmpDir();
    const members = writeLocalCluster({ dir, validators: 4, basePort: 17001, apiBasePort: 18001 });
    expect(fs.statSync(path.join(dir, 'keys')).mode & 0o777).toBe(0o700);
    for (const m of members) expect(fs.statSync(m.keyFile).mode & 0o777).toBe(0o600);
    // A keys/ folder made earlier with the default mode is tightened on the next write.
    fs.chmodSync(path.join(dir, 'keys'), 0o755);
    writeLocalCluster({ dir, validators: 4, basePort: 17001, apiBasePort: 18001 });
    expect(fs.statSync(path.join(dir, 'keys')).mode & 0o777).toBe(0o700);
    // `bpci cluster up` defaults to ./.bpci-cluster: its keys must never be committed.
    const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
    const ignored = (p: string) => spawnSync('git', ['check-ignore', '-q', p], { cwd: repo }).status === 0;
    expect(ignored('.bpci-cluster/keys/validator-001.json')).toBe(true);
    expect(ignored('packages/node/.bpci-cluster/data/validator-001/data.mdb')).toBe(true);
  });
});
