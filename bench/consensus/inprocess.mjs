#!/usr/bin/env node
// In-process PBFT benchmark: n replicas in one process over an in-memory transport (frames are
// the canonical bytes, decoded on delivery), real Ed25519 signing and verification through the
// fastest backend available, no storage (sendAfterPersist is delivered at once: this is the
// floor, not a durable figure).
//
//   node bench/consensus/inprocess.mjs [--requests 10000] [--warmup 1000] [--n 4,7,10]
//        [--throughput-requests 20000] [--clients 64,512]
// Needs `npx tsc -b packages/core-ts` first. BPCI_CRYPTO=js|wasm|native forces a backend.
//
// Latency: one closed-loop client; time from submitting a request until it holds f+1 matching
// replies whose signatures it verified itself (p50/p90/p99 over --requests after --warmup).
// "commit" latency: until f+1 replicas executed it (before the replies' signatures).
// Throughput: many closed-loop clients; accepted requests per second of wall time.
// Verify jobs are coalesced: whenever the transport is idle, all pending 'critical' jobs of all
// replicas go to the backend in one ed25519VerifyBatch call (the native backend spreads a large
// batch over its threads); lazy-mode 'background' jobs (commit certificates) run only after
// that, off the request's critical path but on the same CPU.
// Single thread: every replica's work is serialized, so these are upper bounds on latency
// compared with n processes on n cores.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { simdFlags } from '../crypto/lib.mjs';

const core = await import('../../packages/core-ts/dist/index.js');
const { PbftReplica, KvApp, ValidatorSet, ReplyCollector, ReplySignatureCache, decodeMessage, jsBackend, sessionOf, signRequest } = core;

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '1000' },
    n: { type: 'string', default: '4,7,10' },
    'throughput-requests': { type: 'string', default: '20000' },
    clients: { type: 'string', default: '64,512' },
    verify: { type: 'string', default: 'lazy,eager' },
  },
});

async function pickBackend() {
  const want = process.env.BPCI_CRYPTO;
  const notes = [];
  if (want === undefined || want === 'native') {
    try {
      const m = await import('@bpci/native');
      const b = m.loadNativeBackend();
      if (b !== null) return { backend: b, notes };
      notes.push(`native unavailable: ${m.nativeUnavailableReason?.() ?? 'unknown'}`);
    } catch (e) {
      notes.push(`native import failed: ${e.message}`);
    }
  }
  if (want === undefined || want === 'wasm') {
    try {
      const m = await import('@bpci/crypto-wasm');
      return { backend: await m.loadWasmBackend(), notes };
    } catch (e) {
      notes.push(`wasm import failed: ${e.message}`);
    }
  }
  return { backend: jsBackend(), notes };
}

function seedOf(i) {
  const s = new Uint8Array(32);
  s[0] = 0x42;
  s[1] = i;
  return s;
}

class Cluster {
  constructor(n, verify, crypto) {
    this.n = n;
    this.crypto = crypto;
    const seeds = Array.from({ length: n }, (_, i) => seedOf(i));
    this.vs = new ValidatorSet(seeds.map((s) => ({ publicKey: crypto.ed25519PublicKey(s) })));
    const config = { verify, checkpointInterval: 128, watermarkWindow: 512, inflightMax: 64, batchSizeMax: 512, batchDelayTicks: 1 };
    this.replicas = seeds.map((seed32, id) => new PbftReplica({ id, validators: this.vs, seed32, crypto, app: new KvApp(crypto), config }));
    this.work = []; // FIFO of { to, input } or { to, from, bytes }
    this.head = 0;
    this.background = [];
    this.critical = [];
    this.onReply = null;
    this.onCommit = null;
    this.batches = 0;
    this.batchedRequests = 0;
  }

  push(item) {
    this.work.push(item);
  }

  handle(id, out) {
    for (const list of [out.sendAfterPersist, out.send]) {
      for (const env of list) {
        if (env.dest.kind === 'broadcast') {
          for (let to = 0; to < this.n; to++) if (to !== id) this.push({ to, from: id, bytes: env.bytes });
        } else if (env.dest.kind === 'replica') this.push({ to: env.dest.to, from: id, bytes: env.bytes });
      }
    }
    for (const env of out.replies) this.onReply?.(env.bytes);
    if (id === 0) {
      for (const c of out.commit) {
        this.batches++;
        this.batchedRequests += c.requests.length;
      }
    }
    if (this.onCommit !== null) for (const c of out.commit) this.onCommit(id, c);
    for (const job of out.verify) (job.priority === 'background' ? this.background : this.critical).push({ to: id, job });
  }

  /** Verify many jobs in one backend call (as the node's pool does), then feed each result back. */
  verifyJobs(jobs) {
    const items = jobs.flatMap(({ job }) => job.items);
    const valid = this.crypto.ed25519VerifyBatch(items);
    let o = 0;
    for (const { to, job } of jobs) {
      const v = valid.subarray(o, o + job.items.length);
      o += job.items.length;
      this.push({ to, input: { kind: 'verified', jobId: job.jobId, valid: v } });
    }
  }

  /** Drain the transport; then, when idle, run background verification. */
  run(until = () => false) {
    for (;;) {
      while (this.head < this.work.length) {
        const w = this.work[this.head++];
        const input = w.input ?? { kind: 'message', from: w.from, message: decodeMessage(w.bytes) };
        this.handle(w.to, this.replicas[w.to].step(input));
        if (until()) return;
      }
      this.work.length = 0;
      this.head = 0;
      // Transport idle: verify what progress waits on first, background checks only after.
      if (this.critical.length > 0) {
        const jobs = this.critical;
        this.critical = [];
        this.verifyJobs(jobs);
        continue;
      }
      if (this.background.length === 0) return;
      const jobs = this.background;
      this.background = [];
      this.verifyJobs(jobs);
    }
  }

  tick() {
    for (let id = 0; id < this.n; id++) this.handle(id, this.replicas[id].step({ kind: 'tick' }));
  }

  submit(request) {
    for (let to = 0; to < this.n; to++) this.push({ to, input: { kind: 'request', request } });
  }
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const enc = new TextEncoder();

/**
 * A bench client: its key and a signer. Clients sign every request (a validator checks the
 * signature); the signing is timed with the request, on the uncounted backend, so the
 * signatures-per-request column stays the validators' own.
 */
function benchClient(id) {
  const seed = picked.backend.blake3(enc.encode(`bpci-bench-client/${id}`));
  const key = picked.backend.ed25519PublicKey(seed);
  return { id, session: sessionOf({ clientId: id, key }), sign: (seq, op) => signRequest(picked.backend, seed, id, seq, op, key) };
}

function latencyRun(n, verify, crypto, requests, warmup) {
  const cl = new Cluster(n, verify, crypto);
  let collector = null;
  let accepted = false;
  cl.onReply = (bytes) => {
    if (accepted || collector === null) return;
    const m = decodeMessage(bytes);
    if (m.kind === 'reply' && collector.add(m) !== null) accepted = true;
  };
  const lat = [];
  const client = benchClient('bench');
  for (let i = 1; i <= warmup + requests; i++) {
    accepted = false;
    collector = new ReplyCollector(cl.vs, crypto, client.session, i);
    const t0 = performance.now();
    cl.submit(client.sign(i, enc.encode(`add k ${i & 7}`)));
    cl.run(() => accepted);
    const t1 = performance.now();
    if (!accepted) throw new Error(`request ${i} was not accepted (n=${n}, verify=${verify})`);
    if (i > warmup) {
      lat.push((t1 - t0) * 1000);
    }
    cl.run(); // finish the rest of this request's traffic and background checks before the next
    if (i % 50 === 0) cl.tick();
  }
  lat.sort((a, b) => a - b);
  return {
    requests,
    p50Us: percentile(lat, 50),
    p90Us: percentile(lat, 90),
    p99Us: percentile(lat, 99),
  };
}

function throughputRun(n, verify, crypto, clients, total) {
  const cl = new Cluster(n, verify, crypto);
  const state = Array.from({ length: clients }, (_, c) => ({ client: benchClient(`c${c}`), seq: 0, collector: null }));
  const bySession = new Map(state.map((s) => [s.client.session, s]));
  let accepted = 0;
  let submitted = 0;
  // The clients live in one process (a gateway): they share verified batch signatures.
  const cache = new ReplySignatureCache(8192);
  const submit = (s) => {
    s.seq++;
    submitted++;
    s.collector = new ReplyCollector(cl.vs, crypto, s.client.session, s.seq, cache);
    cl.submit(s.client.sign(s.seq, enc.encode(`add ${s.client.id} 1`)));
  };
  cl.onReply = (bytes) => {
    const m = decodeMessage(bytes);
    const s = bySession.get(m.session);
    if (s === undefined || s.collector === null || m.requestSeq !== s.seq) return;
    if (s.collector.add(m) !== null) {
      s.collector = null;
      accepted++;
      if (submitted < total) submit(s);
    }
  };
  const signs0 = counts.signs;
  const verifies0 = counts.verifies;
  const t0 = performance.now();
  for (const s of state) submit(s);
  let idle = 0;
  while (accepted < total) {
    const before = accepted;
    cl.run();
    cl.tick();
    idle = accepted === before ? idle + 1 : 0;
    if (idle > 1000) throw new Error(`throughput run stalled at ${accepted}/${total}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    clients,
    requests: total,
    requestsPerSecond: total / seconds,
    avgBatch: cl.batchedRequests / Math.max(1, cl.batches),
    signsPerRequest: (counts.signs - signs0) / total,
    verifiedItemsPerRequest: (counts.verifies - verifies0) / total,
  };
}

const picked = await pickBackend();
const notes = picked.notes;
// Count signatures and verified items per request (explains where the time goes).
const counts = { signs: 0, verifies: 0 };
const backend = Object.create(picked.backend);
backend.name = picked.backend.name;
backend.ed25519Sign = (seed, msg) => {
  counts.signs++;
  return picked.backend.ed25519Sign(seed, msg);
};
backend.ed25519VerifyBatch = (items) => {
  counts.verifies += items.length;
  return picked.backend.ed25519VerifyBatch(items);
};
const ns = values.n.split(',').map(Number);
const verifies = values.verify.split(',');
const clientCounts = values.clients.split(',').map(Number);
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const tpRequests = Number(values['throughput-requests']);

// Cost of the primitives on this backend, for reading the table.
const micro = (() => {
  const seed = seedOf(99);
  const msg = new Uint8Array(59);
  const pk = backend.ed25519PublicKey(seed);
  const sig = backend.ed25519Sign(seed, msg);
  const time = (fn, reps) => {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    return ((performance.now() - t) * 1000) / reps;
  };
  time(() => backend.ed25519Sign(seed, msg), 200);
  return {
    signUs: time(() => backend.ed25519Sign(seed, msg), 2000),
    verifyOneUs: time(() => backend.ed25519VerifyBatch([{ publicKey: pk, message: msg, signature: sig }]), 2000),
  };
})();

const results = [];
for (const n of ns) {
  for (const verify of verifies) {
    process.stderr.write(`n=${n} verify=${verify}: latency...`);
    counts.signs = counts.verifies = 0;
    const latency = latencyRun(n, verify, backend, requests, warmup);
    latency.signsPerRequest = counts.signs / (requests + warmup);
    latency.verifiedItemsPerRequest = counts.verifies / (requests + warmup);
    process.stderr.write(` p50 ${latency.p50Us.toFixed(0)} us; throughput...`);
    const throughput = clientCounts.map((c) => throughputRun(n, verify, backend, c, tpRequests));
    process.stderr.write(` ${throughput.map((t) => t.requestsPerSecond.toFixed(0)).join('/')} req/s\n`);
    results.push({ n, verify, latency, throughput });
  }
}

const report = {
  benchmark: 'consensus-inprocess',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  simd: simdFlags(),
  laneKernel: backend.laneKernel ?? null,
  backend: backend.name,
  backendNotes: notes,
  primitives: micro,
  durable: false,
  results,
};

const out = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(out + 'consensus-inprocess.json', JSON.stringify(report, null, 2) + '\n');
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const rows = results.map((r) =>
  `| ${r.n} | ${r.verify} | ${fmt(r.latency.p50Us)} | ${fmt(r.latency.p90Us)} | ${fmt(r.latency.p99Us)} | ${r.latency.signsPerRequest.toFixed(1)} / ${r.latency.verifiedItemsPerRequest.toFixed(1)} | ${r.throughput.map((t) => `${t.requestsPerSecond.toFixed(0)} (${t.clients} clients, batch ${t.avgBatch.toFixed(1)}, ${t.signsPerRequest.toFixed(2)} / ${t.verifiedItemsPerRequest.toFixed(2)})`).join('<br>')} |`,
);
const md = [
  `# Consensus, in-process (${report.date})`,
  '',
  `PBFT replicas in one Node ${report.node} process (${report.cpu} with ${report.simd.join(', ') || 'no AVX2/AVX-512'}, ${report.cores} cores, shared machine), in-memory transport of canonical frames, no storage (floor, not durable). Crypto backend: **${report.backend}**${notes.length ? ` (${notes.join('; ')})` : ''}; Ed25519 sign ${micro.signUs.toFixed(1)} µs, verify ${micro.verifyOneUs.toFixed(1)} µs on this backend.`,
  '',
  `Latency: one closed-loop client, ${requests} requests after ${warmup} warm-up, until the client holds f+1 matching replies it verified itself. Throughput: closed-loop clients in one process sharing one cache of verified batch signatures, ${tpRequests} requests (signs / verified signatures per request in brackets). A validator signs one Merkle root per batch for all its replies. Every replica runs on the same thread, so latency grows with n.`,
  '',
  '| n | verify | p50 µs | p90 µs | p99 µs | signs / verified sigs per request (all replicas + client) | throughput req/s (clients, batch, signs / verified per request) |',
  '|---|---|---|---|---|---|---|',
  ...rows,
  '',
  'Generated by `node bench/consensus/inprocess.mjs`.',
  '',
].join('\n');
writeFileSync(out + 'consensus-inprocess.md', md);
process.stdout.write(md);
