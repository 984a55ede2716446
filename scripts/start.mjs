// npm start: a local four-validator cluster as separate processes on loopback (durable LMDB
// storage under .bpci/start), a closed-loop workload from several clients over the client port
// (each result accepted on f+1 matching Ed25519-signed replies), a check that every validator
// holds the same committed log, and a latency/throughput table. Exits 0 only if all of it holds.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => path.join(root, 'packages/node/dist', p);
if (!fs.existsSync(dist('runtime/workload.js')) || !fs.existsSync(path.join(root, 'packages/crypto-wasm/build/blake3.wasm'))) {
  console.log('[start] building (first run)…');
  execFileSync('bash', [path.join(root, 'scripts/build.sh')], { stdio: 'inherit' });
}

const { runLocalCluster } = await import(dist('cli/cluster.js'));
const { runClosedLoop, summarize, checkSameLog } = await import(dist('runtime/workload.js'));
const { selectBackend } = await import(dist('crypto/select.js'));
const { createProgress } = await import(dist('cli/progress.js'));

const VALIDATORS = 4;
const CLIENTS = Number(process.env.BPCI_START_CLIENTS ?? 8);
const PER_CLIENT = Number(process.env.BPCI_START_REQUESTS ?? 500);
const WARMUP = 20;
const dir = path.join(root, '.bpci', 'start');
fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });

async function free(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
async function pickBase() {
  for (let base = 17100; base < 30000; base += 37) {
    const ports = [];
    for (let i = 0; i < VALIDATORS; i++) ports.push(base + i, base + 1000 + i, base + 500 + i);
    if ((await Promise.all(ports.map(free))).every(Boolean)) return base;
  }
  throw new Error('no free loopback ports found');
}
const base = await pickBase();
const { backend, name: cryptoName } = await selectBackend({ log: false });

const abort = new AbortController();
let exitCode = 1;
const quietIo = { out: () => {}, err: (t) => process.stderr.write(`[cluster] ${t}\n`), progress: false };
const t0 = Date.now();
await runLocalCluster(
  { validators: VALIDATORS, dir, host: '127.0.0.1', basePort: base, apiBasePort: base + 1000, durability: process.env.BPCI_START_DURABILITY ?? 'durable', verify: process.env.BPCI_START_VERIFY ?? 'lazy' },
  quietIo,
  {
    signal: abort.signal,
    onReady: (members) => {
      void (async () => {
        try {
          console.log(`[start] ${VALIDATORS} validators up in ${((Date.now() - t0) / 1000).toFixed(1)} s (crypto: ${cryptoName}; data in ${path.relative(root, dir)})`);
          const validators = members.map((m) => {
            const v = m.config.validators[m.index];
            return { host: v.client.host, port: v.client.port, publicKey: v.publicKey, stake: v.stake };
          });
          const total = CLIENTS * PER_CLIENT;
          const bar = createProgress(total, `workload: ${CLIENTS} clients`, { enabled: Boolean(process.stderr.isTTY) });
          let last = 0;
          const res = await runClosedLoop({
            validators, crypto: backend, clients: CLIENTS, requestsPerClient: PER_CLIENT, warmupPerClient: WARMUP,
            clientPrefix: `start-${Date.now().toString(36)}`,
            onProgress: (d) => {
              bar.tick(d - last);
              if (!process.stderr.isTTY && Math.floor(d / 1000) > Math.floor(last / 1000)) console.log(`[start] ${d}/${total} requests committed`);
              last = d;
            },
          });
          bar.stop();
          const s = summarize(res.latenciesMs);
          const apiUrls = members.map((m) => m.apiUrl);
          const check = await checkSameLog(apiUrls);
          const row = (k, v) => `| ${k.padEnd(34)} | ${String(v).padStart(14)} |`;
          console.log('');
          console.log(row('metric', 'value'));
          console.log(`|${'-'.repeat(36)}|${'-'.repeat(16)}|`);
          console.log(row('validators (processes)', VALIDATORS));
          console.log(row('clients (closed loop)', CLIENTS));
          console.log(row('requests committed', `${res.requests}`));
          console.log(row('failed requests', res.failures));
          console.log(row('throughput (requests/s)', res.throughputRps.toFixed(0)));
          console.log(row('latency p50 (ms)', s.p50.toFixed(3)));
          console.log(row('latency p90 (ms)', s.p90.toFixed(3)));
          console.log(row('latency p99 (ms)', s.p99.toFixed(3)));
          console.log(row('committed height (batches)', check.height));
          console.log(row('same log on every validator', check.mismatch === null ? 'yes' : `NO: ${check.mismatch}`));
          console.log('');
          console.log('Latency is per request with 8 concurrent clients (durable, lazy verify, f+1 signed replies');
          console.log('checked by each client); see `npm run bench:consensus` for the single-client figures.');
          console.log('');
          console.log('A long-running cluster:  npm run bpci -- cluster up --validators 4');
          console.log(`then e.g.:               npm run bpci -- --api http://127.0.0.1:8081 submit "add alice 5" --wait`);
          exitCode = res.failures === 0 && res.requests === total && check.mismatch === null && check.height > 0 ? 0 : 1;
        } catch (e) {
          console.error(`[start] failed: ${e instanceof Error ? e.stack : e}`);
          exitCode = 1;
        } finally {
          abort.abort();
        }
      })();
    },
  },
);
process.exit(exitCode);
