// `bpci config init` (issue 13 §2): run through the CLI, every generated config loaded with the real
// loader, one validator set across all files, owner-only secrets, certificates that verify, no
// overwrite without --force, and a clear error for each kind of bad input.

import { afterAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../src/cli/program.js';
import { loadConfig } from '../src/config/config.js';
import { loadKeyFile } from '../src/keys/keyfile.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-init-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { io: { out: (t) => out.push(t), err: (t) => err.push(t), progress: false } });
  return { code, out: out.join(''), err: err.join('') };
}

const mode = (f: string) => fs.statSync(f).mode & 0o777;
const HOSTS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];

describe('bpci config init', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'deploy');

  it('writes 4 validators on 4 hosts that the real loader accepts, with one validator set', async () => {
    const r = await cli(['--json', 'config', 'init', '--validators', '4', '--hosts', HOSTS.join(','), '--out', out, '--data-root', '/srv/bpci']);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.validators.map((v: { validator_id: string }) => v.validator_id)).toEqual(['validator-001', 'validator-002', 'validator-003', 'validator-004']);

    const configs = HOSTS.map((_, i) => loadConfig(path.join(out, `validator-00${i + 1}`, 'config.yaml')));
    const setOf = (c: (typeof configs)[number]) => c.validators.map((v) => ({ id: v.validatorId, key: v.publicKeyHex, host: v.host, port: v.port, client: v.client, stake: v.stake, index: v.index }));
    for (const c of configs) expect(setOf(c)).toEqual(setOf(configs[0]!));
    configs.forEach((c, i) => {
      const id = `validator-00${i + 1}`;
      const d = path.join(out, id);
      expect(c.node.validatorId).toBe(id);
      expect(c.node.index).toBe(i);
      expect(c.validators[i]).toMatchObject({ host: HOSTS[i], port: 8081, client: { host: HOSTS[i], port: 8082 } });
      expect(c.node.api).toMatchObject({ host: HOSTS[i], port: 8080, tls: { certFile: path.join(d, 'tls', 'cert.pem'), keyFile: path.join(d, 'tls', 'key.pem') }, token: { file: path.join(d, 'api-token') } });
      // The client port off loopback: TLS with the same certificate and its own token.
      expect(c.node.clientPort).toEqual({ tls: { certFile: path.join(d, 'tls', 'cert.pem'), keyFile: path.join(d, 'tls', 'key.pem') }, token: { file: path.join(d, 'client-token') }, insecure: false });
      expect(c.node.dataDir).toBe(`/srv/bpci/${id}`);
      expect(c.thresholds).toMatchObject({ minimumValidators: 4, byzantineFaultTolerance: 1 });
      // The key file is the one the validator set lists, and it loads (owner-only).
      expect(Buffer.from(loadKeyFile(c.node.keyFile).publicKey).toString('hex')).toBe(c.validators[i]!.publicKeyHex);
      // Modes: folders 0700, secrets 0600.
      for (const sub of ['', 'keys', 'tls']) expect(mode(path.join(d, sub)), `${id}/${sub}`).toBe(0o700);
      for (const f of ['keys/validator.json', 'tls/key.pem', 'api-token', 'client-token']) expect(mode(path.join(d, f)), `${id}/${f}`).toBe(0o600);
      // The API certificate names the host and is signed by the cluster CA.
      const ca = new X509Certificate(fs.readFileSync(path.join(out, 'ca', 'ca.pem')));
      const cert = new X509Certificate(fs.readFileSync(path.join(d, 'tls', 'cert.pem')));
      expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkIP(HOSTS[i]!)).toBe(HOSTS[i]);
      expect(cert.checkHost('localhost')).toBe('localhost');
      expect(cert.checkIP(HOSTS[(i + 1) % 4]!)).toBeUndefined();
    });
    for (const sub of ['', 'ca', 'client']) expect(mode(path.join(out, sub))).toBe(0o700);
    expect(mode(path.join(out, 'ca', 'ca-key.pem'))).toBe(0o600);
    const token = fs.readFileSync(path.join(out, 'client', 'api-token'), 'utf8');
    expect(token.trim().length).toBeGreaterThanOrEqual(32);
    for (let i = 1; i <= 4; i++) expect(fs.readFileSync(path.join(out, `validator-00${i}`, 'api-token'), 'utf8')).toBe(token);
    const clientToken = fs.readFileSync(path.join(out, 'client', 'client-token'), 'utf8');
    expect(clientToken.trim().length).toBeGreaterThanOrEqual(32);
    expect(clientToken).not.toBe(token);
    for (let i = 1; i <= 4; i++) expect(fs.readFileSync(path.join(out, `validator-00${i}`, 'client-token'), 'utf8')).toBe(clientToken);
  });

  it('never overwrites existing keys without --force; --force replaces them', async () => {
    const keyFile = path.join(out, 'validator-002', 'keys', 'validator.json');
    const before = fs.readFileSync(keyFile, 'utf8');
    const again = await cli(['config', 'init', '--validators', '4', '--hosts', HOSTS.join(','), '--out', out]);
    expect(again.code).toBe(4);
    expect(again.err).toMatch(/key files already exist under .*nothing was written\. Pass --force/);
    expect(fs.readFileSync(keyFile, 'utf8')).toBe(before);
    const forced = await cli(['config', 'init', '--validators', '4', '--hosts', HOSTS.join(','), '--out', out, '--force']);
    expect(forced.code, forced.err).toBe(0);
    expect(fs.readFileSync(keyFile, 'utf8')).not.toBe(before);
    expect(mode(keyFile)).toBe(0o600);
  });

  it('reads a hosts file, custom ports, --api-listen and --san (the container layout)', async () => {
    const d = tmpDir();
    const hostsFile = path.join(d, 'hosts.txt');
    fs.writeFileSync(hostsFile, '# validators\nvalidator-001\nvalidator-002  # second\n\nvalidator-003\nvalidator-004\n');
    const r = await cli(['config', 'init', '--validators', '4', '--hosts-file', hostsFile, '--out', path.join(d, 'o'), '--api-port', '9443', '--peer-port', '9001', '--client-port', '9002', '--api-listen', '0.0.0.0', '--san', 'bpci-api,api.example.org', '--data-root', '/data']);
    expect(r.code, r.err).toBe(0);
    const c = loadConfig(path.join(d, 'o', 'validator-003', 'config.yaml'));
    expect(c.node.api).toMatchObject({ host: '0.0.0.0', port: 9443 });
    expect(c.validators.map((v) => v.host)).toEqual(['validator-001', 'validator-002', 'validator-003', 'validator-004']);
    expect(c.validators[2]).toMatchObject({ port: 9001, client: { port: 9002 } });
    const cert = new X509Certificate(fs.readFileSync(path.join(d, 'o', 'validator-003', 'tls', 'cert.pem')));
    for (const h of ['validator-003', 'bpci-api', 'api.example.org', 'localhost']) expect(cert.checkHost(h)).toBe(h);
  });

  it('warns that fewer than 4 validators tolerate no fault', async () => {
    const r = await cli(['config', 'init', '--validators', '1', '--hosts', '10.0.0.9', '--out', path.join(tmpDir(), 'o')]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/warning: 1 validator tolerate no faulty validator \(f = 0\)/);
  });

  it('bad input: a clear error, exit code 2 or 4, nothing written', async () => {
    const o = path.join(tmpDir(), 'o');
    const cases: [string[], number, RegExp][] = [
      [['--validators', '3', '--hosts', '10.0.0.1,10.0.0.2,10.0.0.1'], 4, /host "10\.0\.0\.1" is given twice \(host 1 and host 3\)/],
      [['--validators', '3', '--hosts', 'A.example,a.example,b'], 4, /given twice/],
      [['--validators', '4', '--hosts', '10.0.0.1,10.0.0.2'], 4, /--validators is 4 but 2 hosts were given/],
      [['--validators', '0', '--hosts', '10.0.0.1'], 2, /--validators must be in 1\.\.100, got 0/],
      [['--validators', 'four', '--hosts', '10.0.0.1'], 2, /--validators must be an integer/],
      [['--validators', '1', '--hosts', '10.0.0.1', '--api-port', '70000'], 2, /--api-port must be in 1\.\.65535, got 70000/],
      [['--validators', '1', '--hosts', '10.0.0.1', '--peer-port', '8080'], 4, /--api-port \(8080\), --peer-port \(8080\) and --client-port \(8082\) must differ/],
      [['--validators', '1', '--hosts', 'bad_host!'], 4, /host 1: "bad_host!" is not an IP address or a DNS name/],
      [['--validators', '1', '--hosts', '0.0.0.0'], 4, /give the address peers dial/],
      [['--validators', '1', '--hosts', 'fd00::1'], 4, /IPv6 .* not supported/],
      [['--validators', '1'], 4, /exactly one of --hosts a,b,c or --hosts-file/],
      [['--validators', '1', '--hosts', '10.0.0.1', '--hosts-file', 'x'], 4, /exactly one of/],
      [['--validators', '1', '--hosts-file', path.join(o, 'missing.txt')], 2, /--hosts-file: cannot read/],
      [['--validators', '1', '--hosts', '10.0.0.1', '--cert-days', '0'], 2, /--cert-days must be in 1\.\./],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(['config', 'init', '--out', o, ...args]);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.err, args.join(' ')).toMatch(message);
    }
    expect(fs.existsSync(o)).toBe(false);
  });
});
