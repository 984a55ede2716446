// npm start: a local four-validator cluster as separate processes on loopback (durable LMDB
// storage under .bpci/start) running the ledger app (BPCI_START_APP=kv for the text store), a
// closed-loop workload from several clients over the client port (signed ledger transfers
// between genesis-funded accounts, nonce by nonce; each result accepted on f+1 matching
// Ed25519-signed replies and required to be "ok"), a check that every validator holds the same
// committed log (and, for the ledger, the same state digest and the genesis supply), and a
// latency/throughput table. Exits 0 only if all of it holds.
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
const { ledgerTransfers } = await import(dist('runtime/ledger-workload.js'));
const { ledgerClientKeys, LOCAL_CHAIN_ID, LOCAL_ASSETS, LOCAL_CLIENT_BALANCE } = await import(dist('config/local-cluster.js'));
const { selectBackend } = await import(dist('crypto/select.js'));
const { createProgress } = await import(dist('cli/progress.js'));

const VALIDATORS = 4;
const CLIENTS = Number(process.env.BPCI_START_CLIENTS ?? 8);
const PER_CLIENT = Number(process.env.BPCI_START_REQUESTS ?? 500);
const WARMUP = 20;
// Then one closed-loop client alone, for the single-request latency (the figure issue 10 targets).
const SINGLE = Number(process.env.BPCI_START_SINGLE ?? 400);
const SINGLE_WARMUP = 20;
const APP = process.env.BPCI_START_APP ?? 'ledger';
if (APP !== 'ledger' && APP !== 'kv') throw new Error(`BPCI_START_APP must be ledger or kv, got ${APP}`);
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
  { validators: VALIDATORS, dir, host: '127.0.0.1', basePort: base, apiBasePort: base + 1000, durability: process.env.BPCI_START_DURABILITY ?? 'durable', verify: process.env.BPCI_START_VERIFY ?? 'lazy', app: APP, ledgerClients: Math.max(2, CLIENTS) },
  quietIo,
  {
    signal: abort.signal,
    onReady: (members) => {
      void (async () => {
        try {
          console.log(`[start] ${VALIDATORS} validators up in ${((Date.now() - t0) / 1000).toFixed(1)} s (app: ${APP}; crypto: ${cryptoName}; data in ${path.relative(root, dir)})`);
          const ledger = APP === 'ledger' ? ledgerTransfers(backend, ledgerClientKeys(dir).clients, { chainId: LOCAL_CHAIN_ID, clients: CLIENTS }) : undefined;
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
            ...(ledger ? { op: ledger.op, resultOk: ledger.resultOk } : {}),
            onProgress: (d) => {
              bar.tick(d - last);
              if (!process.stderr.isTTY && Math.floor(d / 1000) > Math.floor(last / 1000)) console.log(`[start] ${d}/${total} requests committed`);
              last = d;
            },
          });
          bar.stop();
          const s = summarize(res.latenciesMs);
          // One client alone: workload client 0 again, its nonces continuing after the run above.
          const used = WARMUP + PER_CLIENT;
          const single = SINGLE > 0
            ? await runClosedLoop({
                validators, crypto: backend, clients: 1, requestsPerClient: SINGLE, warmupPerClient: SINGLE_WARMUP,
                clientPrefix: `start1-${Date.now().toString(36)}`,
                ...(ledger ? { op: (_c, k) => ledger.op(0, used + k), resultOk: (_c, k, r) => ledger.resultOk(0, used + k, r) } : {}),
              })
            : null;
          const s1 = single ? summarize(single.latenciesMs) : null;
          const apiUrls = members.map((m) => m.apiUrl);
          const check = await checkSameLog(apiUrls);
          // The ledger: the same state on every validator at the same height, the genesis supply intact.
          let ledgerCheck = null;
          if (ledger) {
            const sums = await Promise.all(apiUrls.map(async (u) => (await fetch(`${u}/api/v1/ledger`)).json()));
            const sameState = sums.every((x) => x.height === sums[0].height && x.state_digest === sums[0].state_digest);
            const genesisSupply = (BigInt(Math.max(2, CLIENTS)) * LOCAL_CLIENT_BALANCE).toString();
            const conserved = sums.every((x) => LOCAL_ASSETS.every((a) => x.assets.find((s) => s.asset === a)?.supply === genesisSupply));
            ledgerCheck = { sameState, conserved, digest: sums[0].state_digest };
          }
          const row = (k, v) => `| ${k.padEnd(34)} | ${String(v).padStart(14)} |`;
          console.log('');
          console.log(row('metric', 'value'));
          console.log(`|${'-'.repeat(36)}|${'-'.repeat(16)}|`);
          console.log(row('validators (processes)', VALIDATORS));
          console.log(row('clients (closed loop)', CLIENTS));
          console.log(row('requests committed', `${res.requests + (single?.requests ?? 0)}`));
          console.log(row('failed requests', res.failures + (single?.failures ?? 0)));
          const rejected = res.rejected + (single?.rejected ?? 0);
          if (ledger) {
            console.log(row('ledger results not ok', rejected === 0 ? 0 : `${rejected} (${res.firstRejection ?? single?.firstRejection})`));
            console.log(row('same ledger state everywhere', ledgerCheck.sameState ? `yes ${ledgerCheck.digest.slice(0, 8)}` : 'NO'));
            console.log(row('supply conserved (4 coins)', ledgerCheck.conserved ? 'yes' : 'NO'));
          }
          console.log(row(`throughput, ${CLIENTS} clients (req/s)`, res.throughputRps.toFixed(0)));
          console.log(row(`latency p50, ${CLIENTS} clients (ms)`, s.p50.toFixed(3)));
          console.log(row(`latency p90, ${CLIENTS} clients (ms)`, s.p90.toFixed(3)));
          console.log(row(`latency p99, ${CLIENTS} clients (ms)`, s.p99.toFixed(3)));
          if (s1) {
            console.log(row('latency p50, 1 client (ms)', s1.p50.toFixed(3)));
            console.log(row('latency p99, 1 client (ms)', s1.p99.toFixed(3)));
          }
          console.log(row('committed height (batches)', check.height));
          console.log(row('same log on every validator', check.mismatch === null ? 'yes' : `NO: ${check.mismatch}`));
          console.log('');
          console.log(`Latency is per request, durable, lazy verify, accepted on f+1 signed replies checked by each client${ledger ? '; each request a signed ledger transfer, verified by every validator' : ''}:`);
          console.log(`first with ${CLIENTS} concurrent closed-loop clients, then ${SINGLE} requests from one client alone. A shared or loaded machine`);
          console.log('shows in both; `npm run bench:consensus -- --baseline <checkout>` compares builds in one invocation.');
          console.log('');
          console.log('A long-running cluster:  npm run bpci -- cluster up --validators 4');
          console.log(`then e.g.:               npm run bpci -- --api http://127.0.0.1:8081 submit "add alice 5" --wait`);
          console.log('The ledger on it:        npm run bpci -- cluster up --validators 4 --app ledger');
          console.log('then e.g.:               curl http://127.0.0.1:8081/api/v1/ledger   (routes: packages/node/README.md)');
          const ledgerOk = !ledger || (res.rejected === 0 && ledgerCheck.sameState && ledgerCheck.conserved);
          const singleOk = single === null || (single.failures === 0 && single.requests === SINGLE && (!ledger || single.rejected === 0));
          exitCode = res.failures === 0 && res.requests === total && singleOk && check.mismatch === null && check.height > 0 && ledgerOk ? 0 : 1;
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
