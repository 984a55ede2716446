// One process per validator identity (issue 13 §2). With a 4-validator cluster running, second
// copies of validator-002 are started: on the same config (its data dir is locked), and on copies
// whose data dir is fresh but whose peer port, client port or HTTP API port is the live one's.
// Each must exit non-zero with one line naming the directory or port and the live process, and
// never disturb the live validator: no link of the cluster is replaced (no new "link up" line in
// any log), the live validator-002 keeps its lock and the cluster keeps committing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, bpciJs, ensureBuilt, freePorts, getJson, postJson } from './harness.js';
import { readDirLock } from '@bpci/node/storage/dir-lock';

let cluster: Cluster;
let livePid: number;

beforeAll(async () => {
  ensureBuilt();
  cluster = await Cluster.create({ label: 'duplicate', phaseTimeoutSeconds: 1 });
  // validator-004 also logs to a small rotating file (the seed's logging.outputs, plus rotation).
  const v4 = cluster.members[3]!;
  const doc = YAML.parse(fs.readFileSync(v4.configFile, 'utf8'));
  doc.logging.outputs = [{ type: 'stdout' }, { type: 'file', path: fileLog(), max_size_bytes: 1024, max_files: 2 }, { type: 'elasticsearch', endpoint: 'http://127.0.0.1:9/' }];
  fs.writeFileSync(v4.configFile, YAML.stringify(doc));
  for (const m of cluster.members) cluster.start(m.index);
  await cluster.waitHealthy([0, 1, 2, 3]);
  livePid = readDirLock(path.join(cluster.dir, 'data', 'validator-002'))!.pid;
}, 180_000);

afterAll(async () => {
  await cluster?.stopAll();
  cluster?.cleanup();
});

const fileLog = () => path.join(cluster.dir, 'logs', 'v4-file.log');

/** Runs `bpci node start --config file` to its exit (killed after 60 s: then the test fails on the code). */
function runNode(configFile: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bpciJs, 'node', 'start', '--config', configFile], { env: { ...process.env, BPCI_POOL_THREADS: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stderr, stdout });
    });
  });
}

/** validator-002's config with some changes, written next to it. */
function variant(name: string, change: (doc: any) => void): string {
  const m = cluster.members[1]!;
  const doc = YAML.parse(fs.readFileSync(m.configFile, 'utf8'));
  doc.node.data_dir = path.join(cluster.dir, 'data', `dup-${name}`);
  change(doc);
  const file = path.join(cluster.dir, 'config', `dup-${name}.yaml`);
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

const linkUps = (): number[] => cluster.members.map((m) => (fs.readFileSync(m.logFile, 'utf8').match(/"msg":"link up"/g) ?? []).length);

function expectRefused(r: { code: number | null; stderr: string }, what: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: validator-002 not started: /);
  expect(lines[0]).toMatch(what);
}

describe('a second copy of a running validator', () => {
  it('refuses to start and leaves the live one alone', async () => {
    // The full mesh first: every validator has logged a link to each of its n - 1 peers. Taken
    // earlier, the count could still rise by a link that was simply late (CI saw [2,3,2,3]
    // become [3,3,3,3] on a loaded host) and look like a copy's doing.
    const meshBy = Date.now() + 20_000;
    while (linkUps().some((k) => k < cluster.members.length - 1) && Date.now() < meshBy) await new Promise((r) => setTimeout(r, 50));
    expect(linkUps().every((k) => k >= cluster.members.length - 1), `link ups ${JSON.stringify(linkUps())}`).toBe(true);
    const before = linkUps();
    const live = cluster.members[1]!;
    const [freePeer, freeClient] = await freePorts(2);

    // Same config: the data dir is locked by the live process; LMDB is never opened.
    expectRefused(await runNode(live.configFile), new RegExp(`data dir .*validator-002 is locked by another live process: pid ${livePid} \\(validator-002\\)`));

    // A fresh data dir but the live peer port.
    expectRefused(await runNode(variant('peer', () => {})), new RegExp(`cannot listen on its peer port .*:${live.port}\\): address in use by pid ${livePid} \\(.*node start --config .*validator-002\\.yaml\\)`));

    // Peer port free, client port the live one's: before issue 13 this copy dialed the peers.
    const clientCopy = variant('client', (d) => {
      d.validators[1].endpoint = `tcp://127.0.0.1:${freePeer}`;
    });
    expectRefused(await runNode(clientCopy), new RegExp(`cannot listen on its client port .*:${live.clientPort}\\): address in use by pid ${livePid}`));

    // Only the HTTP API port is the live one's.
    const apiCopy = variant('api', (d) => {
      d.validators[1].endpoint = `tcp://127.0.0.1:${freePeer}`;
      d.validators[1].client_endpoint = `tcp://127.0.0.1:${freeClient}`;
    });
    expectRefused(await runNode(apiCopy), new RegExp(`cannot listen on its HTTP API port \\(node.api 127.0.0.1:${live.apiPort}\\): address in use by pid ${livePid}`));

    // The refused copies released what they took: their data dirs are unlocked.
    for (const name of ['peer', 'client', 'api']) expect(readDirLock(path.join(cluster.dir, 'data', `dup-${name}`))).toBeUndefined();
    // The live validator still holds its lock, and the cluster still commits.
    expect(readDirLock(path.join(cluster.dir, 'data', 'validator-002'))?.pid).toBe(livePid);
    const tx = await postJson(`${live.apiUrl}/api/v1/transactions?wait=true&timeout_ms=20000`, { payload: 'set dup 1' }, 30_000);
    expect(tx.status, JSON.stringify(tx.json)).toBe(200);
    for (const m of cluster.members) expect((await getJson(`${m.apiUrl}/health`)).status).toBe(200);
    // Every response states who answers (what `bpci cluster up` checks).
    const h = await fetch(`${live.apiUrl}/health`);
    expect([h.headers.get('x-bpci-validator-id'), h.headers.get('x-bpci-public-key'), h.headers.get('x-bpci-pid')]).toEqual(['validator-002', live.key.publicKeyText, String(livePid)]);
    // No copy got as far as a link: no validator logged a new one.
    expect(linkUps()).toEqual(before);
    // Log lines name peers by validator id, as in the config (not "peer":3).
    for (const m of cluster.members) {
      const text = fs.readFileSync(m.logFile, 'utf8');
      expect(text).toMatch(/"peer":"validator-00\d"/);
      expect(text).not.toMatch(/"peer":\d/);
    }
  }, 240_000);

  it('logs where it logs to, rotates its log file, and logs its shutdown with the signal', async () => {
    await cluster.kill(3, 'SIGTERM');
    const stdout = fs.readFileSync(cluster.members[3]!.logFile, 'utf8');
    expect(stdout).toMatch(/"msg":"log outputs not supported by this build, ignored/);
    const stopping = stdout.split('\n').find((l) => l.includes('"msg":"validator stopping"'));
    expect(stopping, cluster.logTail(3)).toBeDefined();
    expect(JSON.parse(stopping!)).toMatchObject({ validator: 'validator-004', signal: 'SIGTERM', reason: 'signal' });
    expect(stdout).toMatch(/"signal":"SIGTERM".*"msg":"validator stopped"/);
    // The same lines went to the file output, which rotated at 1 KiB and kept two old files.
    expect(fs.existsSync(`${fileLog()}.1`)).toBe(true);
    expect(fs.existsSync(`${fileLog()}.3`)).toBe(false);
    const fileText = [`${fileLog()}.2`, `${fileLog()}.1`, fileLog()].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8')).join('');
    expect(fileText).toMatch(/"msg":"validator stopped"/);
    for (const f of [`${fileLog()}.1`, `${fileLog()}.2`]) if (fs.existsSync(f)) expect(fs.statSync(f).size).toBeLessThan(1024 + 4096);
  }, 60_000);
});
