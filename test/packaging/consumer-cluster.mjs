// A client against a cluster, from the installed packages only (issue 13 §1, optional part):
// writeLocalCluster() writes keys and configs for 4 validators on loopback, each runs as its own
// process through the installed `bpci` bin (`bpci node start --config F`, durable LMDB storage in
// the project's folder), and a BpciClient submits requests until f+1 validators answer alike.
// Usage (cwd = the consumer project): node cluster.mjs <result.json>
// Validators log to cluster/logs/; the result goes to the file named on the command line.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BpciClient, loadKeyFile, selectBackend, writeLocalCluster } from '@bpci/node';

const resultFile = process.argv[2];
const dir = path.resolve('cluster');
const N = 4;

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
/** A base port with base+i, base+500+i and base+1000+i free for every validator. */
async function freeBase() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ports = [0, 500, 1000].flatMap((o) => Array.from({ length: N }, (_, i) => base + o + i));
    let ok = true;
    for (const p of ports) if (!(await portFree(p))) { ok = false; break; }
    if (ok) return base;
  }
  throw new Error('no free port range found');
}
function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const base = await freeBase();
const members = writeLocalCluster({ dir, validators: N, basePort: base, clientBasePort: base + 500, apiBasePort: base + 1000 });
fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
const bin = path.resolve('node_modules/.bin/bpci');
const children = members.map((m) => {
  const log = fs.openSync(path.join(dir, 'logs', `${m.validatorId}.log`), 'a');
  return spawn(bin, ['node', 'start', '--config', m.configFile], { stdio: ['ignore', log, log] });
});
const exited = children.map((c) => new Promise((resolve) => c.once('exit', (code, signal) => resolve({ code, signal }))));

// Never leave validators behind: SIGKILL whatever still runs 10 s after SIGTERM, and a watchdog
// stops everything if the run hangs (the test's own limit is longer).
function stopAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  const t = setTimeout(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); }, 10_000);
  t.unref();
}
process.once('exit', () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
const watchdog = setTimeout(() => {
  fs.writeFileSync(resultFile, JSON.stringify({ base, results: [], error: 'watchdog: no result within 120 s' }));
  stopAll();
  setTimeout(() => process.exit(1), 11_000).unref();
}, 120_000);
watchdog.unref();

const out = { base, results: [], error: null };
try {
  // Bounded wait for every client port (a limit, not a measurement).
  for (let i = 0; i < N; i++) {
    let up = false;
    for (let t = 0; t < 600 && !up; t++) {
      up = await listening(base + 500 + i);
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) throw new Error(`validator ${i + 1}: client port ${base + 500 + i} never listened (see ${dir}/logs)`);
  }
  const { backend } = await selectBackend({ log: false });
  const validators = members.map((m, i) => ({ host: '127.0.0.1', port: base + 500 + i, publicKey: loadKeyFile(m.keyFile).publicKey }));
  const client = await BpciClient.connect({ clientId: 'consumer-1', validators, crypto: backend, timeoutMs: 60_000, retryMs: 500 });
  try {
    for (const op of ['add alice 5', 'add alice 7']) {
      const r = await client.submit(new TextEncoder().encode(op));
      out.results.push({ op, result: new TextDecoder().decode(r.result), signers: r.signers.length });
    }
  } finally {
    client.close();
  }
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  clearTimeout(watchdog);
  stopAll();
  out.exits = await Promise.all(exited);
  fs.writeFileSync(resultFile, JSON.stringify(out));
}
