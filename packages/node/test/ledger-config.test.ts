// node.app / node.genesis (issue 12 §2): the ledger is chosen in the YAML, its genesis given as a
// file or inline and validated with the config, errors naming the key inside the genesis.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/config/config.js';
import { writeLocalCluster, ledgerClientKeys, LOCAL_CHAIN_ID } from '../src/config/local-cluster.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-ledger-cfg-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A local cluster's validator-001 config as a document, and its directory. */
function ledgerDoc(): { doc: any; confDir: string } {
  const dir = tmpDir();
  const [m] = writeLocalCluster({ dir, validators: 4, basePort: 7101, apiBasePort: 8101, app: 'ledger', ledgerClients: 2 });
  return { doc: YAML.parse(fs.readFileSync(m!.configFile, 'utf8')), confDir: path.dirname(m!.configFile) };
}

function configError(doc: any, baseDir: string): ConfigError {
  try {
    parseConfig(YAML.stringify(doc), baseDir);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('accepted a bad config');
}

describe('node.app and node.genesis', () => {
  it('kv is the default app and takes no genesis', () => {
    const { doc, confDir } = ledgerDoc();
    delete doc.node.app;
    delete doc.node.genesis;
    const c = parseConfig(YAML.stringify(doc), confDir);
    expect(c.node.app).toBe('kv');
    expect(c.node.genesis).toBeUndefined();
    doc.node.genesis = 'genesis.json';
    expect(configError(doc, confDir).message).toMatch(/config key "node\.genesis": expected no genesis with node\.app "kv"/);
  });

  it('the local cluster writes a ledger config with a genesis file funding its clients', () => {
    const dir = tmpDir();
    const members = writeLocalCluster({ dir, validators: 4, basePort: 7201, apiBasePort: 8201, app: 'ledger', ledgerClients: 5 });
    const c = loadConfig(members[2]!.configFile);
    expect(c.node.app).toBe('ledger');
    expect(c.node.genesisFile).toBe(path.join(dir, 'config', 'genesis.json'));
    expect(c.node.genesis!.chainId).toBe(LOCAL_CHAIN_ID);
    expect(c.node.genesis!.assets).toEqual(['AUR', 'FLX', 'GEN', 'NEX']);
    const keys = ledgerClientKeys(dir);
    expect(keys.clients).toHaveLength(5);
    expect(c.node.genesis!.accounts.map((a) => Buffer.from(a.publicKey).toString('hex')).sort()).toEqual(keys.clients.map((k) => Buffer.from(k.publicKey).toString('hex')).sort());
    expect(Buffer.from(c.node.genesis!.mintAuthority!).toString('hex')).toBe(Buffer.from(keys.mintAuthority.publicKey).toString('hex'));
    // Client keys are private: owner-only, like the validator keys.
    expect(fs.statSync(path.join(dir, 'keys', 'clients')).mode & 0o777).toBe(0o700);
    // A second write reuses the keys: the same genesis (a restarted cluster keeps its state).
    const before = fs.readFileSync(path.join(dir, 'config', 'genesis.json'), 'utf8');
    writeLocalCluster({ dir, validators: 4, basePort: 7201, apiBasePort: 8201, app: 'ledger', ledgerClients: 5 });
    expect(fs.readFileSync(path.join(dir, 'config', 'genesis.json'), 'utf8')).toBe(before);
  });

  it('takes the genesis inline', () => {
    const { doc, confDir } = ledgerDoc();
    doc.node.genesis = { chain_id: 'inline-chain', assets: ['GEN'], accounts: [] };
    const c = parseConfig(YAML.stringify(doc), confDir);
    expect(c.node.genesis!.chainId).toBe('inline-chain');
    expect(c.node.genesisFile).toBeUndefined();
  });

  it('names the bad key inside the genesis, and the file', () => {
    const { doc, confDir } = ledgerDoc();
    const file = path.join(confDir, 'genesis.json');
    const g = JSON.parse(fs.readFileSync(file, 'utf8'));
    g.accounts[1].balances.GEN = '-1';
    fs.writeFileSync(file, JSON.stringify(g));
    const e = configError(doc, confDir);
    expect(e.keyPath).toBe('node.genesis.accounts[1].balances.GEN');
    expect(e.message).toContain(`(in ${file})`);
    doc.node.genesis = { chain_id: 'x', assets: ['GEN'], acounts: [] };
    expect(configError(doc, confDir).keyPath).toBe('node.genesis.acounts');
    doc.node.genesis = 'missing.json';
    expect(configError(doc, confDir).message).toMatch(/config key "node\.genesis": expected a readable genesis file \(JSON or YAML\), got ".*missing\.json: ENOENT/);
    delete doc.node.genesis;
    expect(configError(doc, confDir).message).toMatch(/config key "node\.genesis": expected a genesis file path or an inline genesis mapping/);
    doc.node.app = 'bank';
    expect(configError(doc, confDir).message).toMatch(/config key "node\.app": expected one of "kv", "ledger", got "bank"/);
  });

  it('reads amounts above 2^53 exactly from a genesis file', () => {
    const { doc, confDir } = ledgerDoc();
    fs.writeFileSync(path.join(confDir, 'big.yaml'), 'chain_id: big\nassets: [GEN]\naccounts:\n  - public_key: "ed25519:' + 'ab'.repeat(32) + '"\n    balances: { GEN: 9007199254740993 }\n');
    doc.node.genesis = 'big.yaml';
    const c = parseConfig(YAML.stringify(doc), confDir);
    expect(c.node.genesis!.accounts[0]!.balances.get('GEN')).toBe(9007199254740993n);
  });
});
