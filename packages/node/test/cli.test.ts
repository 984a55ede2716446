import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createApi } from '../src/api/server.js';
import { runCli, type BenchConsensusOptions, type RuntimeCommands } from '../src/cli/program.js';
import { loadKeyFile } from '../src/keys/keyfile.js';
import { clusterRestart, runLocalCluster } from '../src/cli/cluster.js';
import { processAlive } from '../src/storage/dir-lock.js';
import { FakeNode } from './fake-node.js';
import { freeBase } from './helpers.js';

let app: FastifyInstance;
let api: string;
let node: FakeNode;
beforeAll(async () => {
  node = new FakeNode();
  app = createApi({ node });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  api = `http://127.0.0.1:${addr.port}`;
});
afterAll(async () => {
  await app.close();
});

async function cli(args: string[], runtime?: Partial<RuntimeCommands>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--api', api, ...args], {
    io: { out: (s) => out.push(s), err: (s) => err.push(s), progress: false },
    ...(runtime ? { runtime } : {}),
  });
  return { code, out: out.join(''), err: err.join('') };
}

describe('bpci consensus', () => {
  it('start-round, round-status, history, list-rounds, metrics', async () => {
    const s = await cli(['--json', 'consensus', 'start-round', '--bundles', 'bundle1,bundle2', '--transactions', 'tx1,tx2', '--timeout', '5']);
    expect(s.code, s.err).toBe(0);
    const started = JSON.parse(s.out);
    expect(started.tx_ids).toHaveLength(4);
    const id = started.round_id as string;
    const st = await cli(['--json', 'consensus', 'round-status', '--round-id', `round-${id}`]);
    expect(JSON.parse(st.out)).toMatchObject({ round_id: id, phase: 'committed' });
    const human = await cli(['consensus', 'round-status', '--round-id', id]);
    expect(human.out).toMatch(/phase: committed/);
    const hist = await cli(['consensus', 'history', '--limit', '5']);
    expect(hist.out).toMatch(/^ROUND\s+VIEW\s+PHASE/);
    expect(hist.out).toMatch(new RegExp(`\\n${id}\\s+0\\s+committed`));
    expect((await cli(['consensus', 'list-rounds', '--status', 'active'])).out).toBe('(no rounds)');
    expect(JSON.parse((await cli(['--json', 'consensus', 'metrics'])).out)).toHaveProperty('success_rate');
  });

  it('ibft state / votes / proposal, and vote is refused with the reason', async () => {
    await cli(['consensus', 'start-round', '--bundles', 'b']);
    expect(JSON.parse((await cli(['--json', 'consensus', 'ibft', 'state'])).out)).toMatchObject({ protocol: 'pbft' });
    expect(JSON.parse((await cli(['--json', 'consensus', 'ibft', 'state', '--round-id', '1'])).out).round.sequence).toBe(1);
    expect(JSON.parse((await cli(['--json', 'consensus', 'ibft', 'votes', '--round-id', '1'])).out).votes).toHaveLength(3);
    expect((await cli(['consensus', 'ibft', 'proposal', '--round-id', '1'])).out).toMatch(/merkle_root/);
    const v = await cli([
      'consensus', 'ibft', 'vote', '--validator-id', 'validator-001', '--vote-type', 'Prepare',
      '--block-hash', `0x${'ab'.repeat(32)}`, '--signature', `ed25519:${'cd'.repeat(64)}`,
    ]);
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/authenticated validator link.*HTTP 403/);
  });

  it('maps errors to exit codes: 404 -> 1, bad usage -> 2, unreachable -> 3', async () => {
    const nf = await cli(['consensus', 'round-status', '--round-id', '999']);
    expect(nf.code).toBe(1);
    expect(nf.err).toMatch(/no round 999 \(HTTP 404 not_found\)/);
    const bad = await cli(['consensus', 'round-status', '--round-id', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/round id must be a sequence number/);
    expect((await cli(['consensus', 'history', '--limit', 'lots'])).code).toBe(2);
    expect((await cli(['consensus', 'bogus'])).code).toBe(2);
    node.consensusDown = true;
    const h = await cli(['health', '--consensus']);
    node.consensusDown = false;
    expect(h.code).toBe(1);
    expect(h.out).toMatch(/status: down/);
    expect(h.out).toMatch(/1 of 3 peers connected/);
    expect((await cli(['health'])).code).toBe(0);
    const down = await runCli(['--api', 'http://127.0.0.1:1', 'consensus', 'metrics'], { io: { out() {}, err() {} } });
    expect(down).toBe(3);
  });
});

describe('bpci submit / block / keys', () => {
  it('submits one and many transactions and proves one in its block', async () => {
    const one = JSON.parse((await cli(['--json', 'submit', 'hello', '--wait'])).out);
    expect(one.status).toBe('committed');
    const many = await cli(['--json', 'submit', 'load', '--count', '20', '--concurrency', '4']);
    expect(many.code, many.err).toBe(0);
    expect(JSON.parse(many.out)).toMatchObject({ requests: 20, concurrency: 4 });
    const proof = JSON.parse((await cli(['--json', 'block', String(one.height), '--tx', one.tx_id])).out);
    expect(proof.proof.tx_id).toBe(one.tx_id);
    expect(JSON.parse((await cli(['--json', 'tx', one.tx_id])).out).status).toBe('committed');
  });

  it('keys generate writes a 0600 key file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-cli-'));
    try {
      const f = path.join(dir, 'v.json');
      const r = await cli(['--json', 'keys', 'generate', '--out', f, '--validator-id', 'validator-009']);
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out).public_key).toBe(loadKeyFile(f).publicKeyText);
      expect(fs.statSync(f).mode & 0o777).toBe(0o600);
      const again = await cli(['keys', 'generate', '--out', f]);
      expect(again.code).toBe(4);
      expect(again.err).toMatch(/already exists/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runtime command hooks', () => {
  it('fail clearly without a runtime and call the registered one with parsed options', async () => {
    const none = await cli(['node', 'start', '--config', 'x.yaml']);
    expect(none.code).toBe(4);
    let bench: BenchConsensusOptions | undefined;
    let started: string | undefined;
    const runtime: Partial<RuntimeCommands> = {
      nodeStart: async (o) => {
        started = o.config;
      },
      benchConsensus: async (o) => {
        bench = o;
      },
    };
    expect((await cli(['node', 'start', '--config', 'x.yaml'], runtime)).code).toBe(0);
    expect(started).toBe('x.yaml');
    expect((await cli(['bench', 'consensus', '--validators', '4,7', '--clients', '1,32', '--durability', 'durable,memory'], runtime)).code).toBe(0);
    expect(bench).toMatchObject({ validators: [4, 7], clients: [1, 32], durability: ['durable', 'memory'], verify: ['lazy'], requests: 10_000 });
    expect((await cli(['bench', 'consensus', '--verify', 'sometimes'], runtime)).code).toBe(2);
  });

  it('cluster up spawns one process per validator, waits for health, stops them on abort', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-cluster-'));
    const fake = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'fake-validator.mjs');
    const ac = new AbortController();
    const out: string[] = [];
    const base = await freeBase();
    let ready = 0;
    try {
      await runLocalCluster(
        { validators: 4, dir, host: '127.0.0.1', basePort: base, apiBasePort: base + 100, durability: 'memory', verify: 'lazy' },
        { out: (s) => out.push(s), err: (s) => out.push(s) },
        {
          nodeArgv: (config) => [process.execPath, fake, 'node', 'start', '--config', config],
          signal: ac.signal,
          onReady: (members) => {
            ready = members.length;
            setImmediate(() => ac.abort());
          },
        },
      );
      expect(ready).toBe(4);
      expect(out.join('\n')).toMatch(/4 validators up/);
      expect(fs.readFileSync(path.join(dir, 'logs', 'validator-003.log'), 'utf8')).toMatch(/fake validator-003 up/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cluster status, stop and restart <validator> act on a running local cluster (issue 13 §2)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-cluster-'));
    const fake = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'fake-validator.mjs');
    const nodeArgv = (config: string) => [process.execPath, fake, 'node', 'start', '--config', config];
    const ac = new AbortController();
    const base = await freeBase();
    let readyNow!: () => void;
    const ready = new Promise<void>((r) => (readyNow = r));
    const upErr: string[] = [];
    const up = runLocalCluster(
      { validators: 4, dir, host: '127.0.0.1', basePort: base, apiBasePort: base + 100, durability: 'memory', verify: 'lazy' },
      { out: () => {}, err: (s) => upErr.push(s) },
      { nodeArgv, signal: ac.signal, onReady: () => readyNow() },
    );
    const run = (args: string[]) => cli([...args, '--dir', dir]);
    const pidOf = (out: string, id: string) => Number(new RegExp(`^${id}\\s+(\\d+)\\s`, 'm').exec(out)?.[1]);
    try {
      await ready;
      const s1 = await run(['cluster', 'status']);
      expect(s1.code, s1.out + s1.err).toBe(0);
      expect(s1.out.match(/running\s+ok/g)).toHaveLength(4);
      const pid2 = pidOf(s1.out, 'validator-002');
      expect(pid2).toBeGreaterThan(0);

      const stop = await run(['cluster', 'stop', 'validator-002']);
      expect(stop.code, stop.err).toBe(0);
      expect(stop.out).toMatch(new RegExp(`validator-002 stopped \\(pid ${pid2}\\)`));
      const s2 = await run(['cluster', 'status', 'validator-002']);
      expect(s2.code).toBe(1);
      expect(s2.out).toMatch(/validator-002\s+-\s+stopped/);
      expect((await run(['cluster', 'stop', 'validator-002'])).out).toMatch(/validator-002 is not running/);
      expect(upErr.join('')).toMatch(/validator-002 exited \(code 0\)/);

      const restarted = await clusterRestart(dir, 'validator-002', { nodeArgv });
      expect(restarted).toMatch(/validator-002 was not running; validator-002 started \(pid \d+\)/);
      const s3 = await run(['cluster', 'status']);
      expect(s3.code, s3.out).toBe(0);
      const pid2b = pidOf(s3.out, 'validator-002');
      expect(pid2b).not.toBe(pid2);
      // A restart of a running one stops it first.
      const again = await clusterRestart(dir, 'validator-002', { nodeArgv });
      expect(again).toMatch(new RegExp(`validator-002 stopped \\(pid ${pid2b}\\); validator-002 started`));
      const pid2c = Number(/started \(pid (\d+)\)/.exec(again)![1]);

      const unknown = await run(['cluster', 'stop', 'validator-009']);
      expect(unknown.code).toBe(4);
      expect(unknown.err).toMatch(/no validator "validator-009" in this cluster \(it has validator-001, validator-002, validator-003, validator-004\)/);

      // Stopping `cluster up` also stops the validator restarted outside it.
      ac.abort();
      await up;
      expect(processAlive(pid2c)).toBe(false);
      expect((await run(['cluster', 'status'])).out.match(/stopped/g)).toHaveLength(4);
    } finally {
      ac.abort();
      await up.catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // issue 13 §2: "2 validators up" was printed while both had died with EADDRINUSE, because
  // another cluster answered on their ports.
  it('cluster up fails when the process answering a validator\'s port is not the one it started', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-cluster-'));
    const fake = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'fake-validator.mjs');
    const base = await freeBase();
    // "Another cluster": a validator-001 with its own key and pid on our validator-001's API port.
    const other = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-bpci-validator-id': 'validator-001', 'x-bpci-public-key': `ed25519:${'ab'.repeat(32)}`, 'x-bpci-pid': String(process.pid) });
      res.end('{"status":"ok"}');
    });
    await new Promise<void>((r) => other.listen(base + 100, '127.0.0.1', () => r()));
    const ac = new AbortController();
    try {
      const run = runLocalCluster(
        { validators: 4, dir, host: '127.0.0.1', basePort: base, apiBasePort: base + 100, durability: 'memory', verify: 'lazy' },
        { out: () => {}, err: () => {} },
        {
          // validator-001 stays alive but never serves (its port is taken); the others are fakes.
          nodeArgv: (config) => (config.endsWith('validator-001.yaml') ? [process.execPath, '-e', 'setInterval(() => {}, 1000)'] : [process.execPath, fake, 'node', 'start', '--config', config]),
          signal: ac.signal,
          readyTimeoutMs: 20_000,
          onReady: () => setImmediate(() => ac.abort()),
        },
      );
      await expect(run).rejects.toThrow(
        new RegExp(`validator-001: the process answering http://127.0.0.1:${base + 100} is not the one this command started \\(pid \\d+\\): it is key ed25519:abab.*, not ed25519:.*, pid ${process.pid}, not \\d+; another cluster`),
      );
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cluster up fails at once, with its last line, when a validator exits before it is up', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-cluster-'));
    const fake = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'fake-validator.mjs');
    const base = await freeBase();
    const dies = "console.error('error: validator-002 not started: cannot listen on its HTTP API port: address in use'); process.exit(4)";
    try {
      await expect(
        runLocalCluster(
          { validators: 4, dir, host: '127.0.0.1', basePort: base, apiBasePort: base + 100, durability: 'memory', verify: 'lazy' },
          { out: () => {}, err: () => {} },
          {
            nodeArgv: (config) => (config.endsWith('validator-002.yaml') ? [process.execPath, '-e', dies] : [process.execPath, fake, 'node', 'start', '--config', config]),
            signal: new AbortController().signal,
            readyTimeoutMs: 20_000,
          },
        ),
      ).rejects.toThrow(/validator-002 exited before it was up \(code 4\): error: validator-002 not started: cannot listen on its HTTP API port/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
