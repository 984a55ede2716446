#!/usr/bin/env node
// The crypto benchmark: every backend of ours present (js, wasm, native) against the peers a user
// would pick instead, in one run, as medians (tinybench) and ratios to the best peer measured in
// the same process. Writes bench/results/crypto.json and bench/results/crypto.md.
//
// Usage: npm run bench:crypto [-- --quick]
//   --quick   CI smoke: smaller inputs, ~100 ms per task (seconds, not minutes); writes
//             bench/results/crypto.quick.{json,md} so it never replaces a full run's figures
// Native single-thread figures come from a child process with RAYON_NUM_THREADS=1 (the addon's
// synchronous calls use rayon on every core otherwise).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { Bench } from 'tinybench';
import { ROOT, machine, nodeCrypto, ourBackends, prng, signedItems as makeSignedItems, writeResult } from './lib.mjs';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const CHILD_NATIVE_1T = args.includes('--child-native-1t');
const CHILD_PEERS = args.includes('--child-peers');
const TP = `${ROOT}bench/thirdparty`;

// ---- sizes and budgets ------------------------------------------------------------------------
const S = QUICK
  ? { taskMs: 100, mib: 1 << 20, manyN: 1024, powOurs: 1 << 18, powNative: 1 << 20, powJs: 4000, powPeer: 20000, merkleLog2: 14, verifyBatches: [64, 1024], signN: 16 }
  : { taskMs: 1000, mib: 1 << 20, manyN: 4096, powOurs: 1 << 22, powNative: 1 << 24, powJs: 20000, powPeer: 200000, merkleLog2: 20, verifyBatches: [64, 1024], signN: 64 };

// ---- measurement ------------------------------------------------------------------------------
/** Median ms of fn (tinybench), with a time budget; `slow` tasks run a fixed small count. */
async function median(name, fn, { slow = false, runs, warm = !QUICK } = {}) {
  const opts = slow
    ? { time: 0, iterations: runs ?? (QUICK ? 1 : 3), warmup: warm, warmupIterations: 1, warmupTime: 0 }
    : { time: S.taskMs, iterations: runs ?? 5, warmupTime: Math.min(200, S.taskMs / 2), warmupIterations: 2 };
  const b = new Bench({ name, ...opts });
  b.add(name, fn);
  await b.run();
  const r = b.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`${name}: ${r.state} ${r.error?.message ?? ''}`);
  return { ms: r.latency.p50, samples: r.latency.samplesCount ?? r.latency.samples?.length ?? null };
}

const rows = [];
// Signing 1024 items with the js oracle takes a second: do it once.
let signedCache;
const signedItems = async () => (signedCache ??= await makeSignedItems(Math.max(...S.verifyBatches), 8, 100));
const T0 = Date.now();
function row(group, impl, ours, threads, value, unit, better, samples, note) {
  rows.push({ group, impl, ours, threads, value, unit, better, samples, note });
  const v = value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toPrecision(3);
  process.stderr.write(`  ${group.padEnd(28)} ${impl.padEnd(40)} ${String(threads).padStart(2)}T ${v.padStart(10)} ${unit.padEnd(11)} [${((Date.now() - T0) / 1000).toFixed(1)} s]\n`);
}

// ---- inputs -------------------------------------------------------------------------------------
const rnd = prng(1);
const MIB = rnd.bytes(S.mib);
const many = Array.from({ length: S.manyN }, () => rnd.bytes(64));
const manyPacked = (() => {
  const data = new Uint8Array(64 * many.length);
  const offsets = new Uint32Array(many.length + 1);
  many.forEach((m, i) => { data.set(m, 64 * i); offsets[i + 1] = 64 * (i + 1); });
  return { data, offsets };
})();
const HEADER = rnd.bytes(80);
const IMPOSSIBLE = new Uint8Array(32); // hash <= 0: never met, so every nonce is hashed
const nLeaves = 1 << S.merkleLog2;
const leafBuf = rnd.bytes(32 * nLeaves);
const leaves = Array.from({ length: nLeaves }, (_, i) => leafBuf.subarray(32 * i, 32 * i + 32));
const leavesPacked = { data: leafBuf, offsets: Uint32Array.from({ length: nLeaves + 1 }, (_, i) => 32 * i) };
const MERKLE = `Merkle root 2^${S.merkleLog2} leaves`;

const G = {
  b3: 'BLAKE3 1 MiB',
  many: 'BLAKE3 64-byte messages',
  pow: 'PoW 80-byte header',
  verify: (n) => `Ed25519 verify, batch ${n}`,
  sign: 'Ed25519 sign',
  merkle: MERKLE,
};
const UNIT = { b3: 'GB/s', many: 'ns/msg', pow: 'M hashes/s', verify: 'verifies/s', sign: 'signs/s', merkle: 'ms' };

// ---- our backends -------------------------------------------------------------------------------
async function benchOurs(present, { nativeOneThread }) {
  const byName = Object.fromEntries(present.map((p) => [p.name, p.backend]));
  const { CryptoPool, powSearchParallel } = await nodeCrypto();
  const { items: items1024 } = await signedItems();
  const seed = rnd.bytes(32);
  const msg = rnd.bytes(100);
  const label = (n) => (n === 'native' && nativeOneThread ? 'ours native' : `ours ${n}`);
  const T = nativeOneThread ? 1 : undefined;

  for (const { name, backend } of present) {
    const threads = name === 'native' ? (T ?? 2) : 1;
    // BLAKE3 1 MiB. Native: blake3Serial is one thread by construction; blake3 uses rayon.
    if (name === 'native' && !nativeOneThread) {
      const m2 = await median('b3 native rayon', () => backend.blake3(MIB));
      row(G.b3, 'ours native (rayon)', true, 2, S.mib / m2.ms / 1e6, UNIT.b3, 'higher', m2.samples);
      continue;
    }
    const f = name === 'native' ? () => backend.blake3Serial(MIB) : () => backend.blake3(MIB);
    const m = await median(`b3 ${name}`, f, { slow: name === 'js' && QUICK });
    row(G.b3, label(name), true, 1, S.mib / m.ms / 1e6, UNIT.b3, 'higher', m.samples);
  }

  for (const { name, backend } of present) {
    if (name === 'native' && !nativeOneThread) continue; // 1-thread figure comes from the child
    const m = await median(`many ${name}`, () => backend.blake3ManyPacked(manyPacked));
    row(G.many, `${label(name)} blake3ManyPacked`, true, 1, (m.ms * 1e6) / S.manyN, UNIT.many, 'lower', m.samples);
  }
  if (byName.native && !nativeOneThread) {
    const m = await median('many native rayon', () => byName.native.blake3ManyPacked(manyPacked));
    row(G.many, 'ours native blake3ManyPacked', true, 2, (m.ms * 1e6) / S.manyN, UNIT.many, 'lower', m.samples, 'rayon splits large batches');
  }

  // PoW: single thread (inline) and all cores (powSearchParallel).
  for (const { name, backend } of present) {
    if (name === 'native' && !nativeOneThread) continue;
    const count = name === 'js' ? S.powJs : name === 'native' ? S.powNative : S.powOurs;
    const m = await median(`pow ${name}`, () => backend.powSearch(HEADER, IMPOSSIBLE, 0n, count), { slow: true, runs: QUICK ? 1 : 5 });
    row(G.pow, label(name), true, 1, count / m.ms / 1e3, UNIT.pow, 'higher', m.samples);
  }

  // Ed25519 sign (single thread for every backend).
  for (const { name, backend } of present) {
    if (name === 'native' && !nativeOneThread) continue;
    const m = await median(`sign ${name}`, () => { for (let i = 0; i < S.signN; i++) backend.ed25519Sign(seed, msg); });
    row(G.sign, label(name), true, 1, (S.signN * 1000) / m.ms, UNIT.sign, 'higher', m.samples);
  }

  // Ed25519 verify, one core.
  for (const n of S.verifyBatches) {
    const items = items1024.slice(0, n);
    for (const { name, backend } of present) {
      if (name === 'native' && !nativeOneThread) continue;
      const m = await median(`verify${n} ${name}`, () => backend.ed25519VerifyBatch(items), { slow: name === 'js' && n > 64 && QUICK });
      const note = name === 'js' ? 'node:crypto, rejects re-checked with noble (ZIP-215)' : undefined;
      row(G.verify(n), label(name), true, 1, (n * 1000) / m.ms, UNIT.verify, 'higher', m.samples, note);
    }
  }

  // Merkle root.
  for (const { name, backend } of present) {
    if (name === 'native' && !nativeOneThread) continue;
    const f = name === 'native' ? () => backend.merkleRootPacked(leavesPacked) : () => backend.merkleRoot(leaves);
    const m = await median(`merkle ${name}`, f, { slow: name === 'js' || name === 'wasm', runs: name === 'js' ? 1 : undefined, warm: name !== 'js' && !QUICK });
    row(G.merkle, label(name), true, 1, m.ms, UNIT.merkle, 'lower', m.samples);
  }
  if (nativeOneThread) return;

  // ---- two cores ----
  if (byName.native) {
    const nb = byName.native;
    const m = await median('merkle native rayon', () => nb.merkleRootPacked(leavesPacked));
    row(G.merkle, 'ours native (rayon)', true, 2, m.ms, UNIT.merkle, 'lower', m.samples);
    const p = await median('pow native all cores', () => powSearchParallel(HEADER, IMPOSSIBLE, 0n, S.powNative * 2, { backend: 'native' }), { slow: true, runs: QUICK ? 1 : 5, warm: true });
    row(G.pow, 'ours native powSearchParallel', true, 2, (S.powNative * 2) / p.ms / 1e3, UNIT.pow, 'higher', p.samples, "addon's own rayon search");
    for (const n of S.verifyBatches) {
      const items = items1024.slice(0, n);
      const v = await median(`verify${n} native rayon`, () => nb.ed25519VerifyBatch(items));
      row(G.verify(n), 'ours native (rayon)', true, 2, (n * 1000) / v.ms, UNIT.verify, 'higher', v.samples);
    }
  }
  for (const host of ['wasm', 'native']) {
    if (!byName[host]) continue;
    const pool = await CryptoPool.create({ backend: host, threads: 2, inline: byName[host] });
    try {
      if (host === 'wasm') {
        const p = await median('pow wasm pool', () => powSearchParallel(HEADER, IMPOSSIBLE, 0n, S.powOurs * 2, { pool }), { slow: true, runs: QUICK ? 1 : 5, warm: true });
        row(G.pow, 'ours wasm powSearchParallel (pool)', true, 2, (S.powOurs * 2) / p.ms / 1e3, UNIT.pow, 'higher', p.samples);
      }
      for (const n of S.verifyBatches) {
        const items = items1024.slice(0, n);
        const v = await median(`verify${n} ${host} pool`, () => pool.verifyBatchInPool(items, 2));
        row(G.verify(n), `ours ${host} CryptoPool (2 workers)`, true, 2, (n * 1000) / v.ms, UNIT.verify, 'higher', v.samples, 'includes the pool round trip');
      }
    } finally {
      await pool.close();
    }
  }
}

// ---- peers ----------------------------------------------------------------------------------------
function ensureThirdparty() {
  if (existsSync(`${TP}/node_modules/.package-lock.json`)) return;
  process.stderr.write('installing bench/thirdparty peers (once)...\n');
  // `npm install`, not `npm ci`: npm 11's ci rejects this lock on a fresh machine (it wants
  // entries for @napi-rs/blake-hash's optional packages of other platforms) while install
  // resolves the same locked versions.
  // npm's stdout goes to our stderr: this runs in the peers child, whose stdout is its JSON result.
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: TP, stdio: ['ignore', 2, 'inherit'] });
  if (r.status !== 0) throw new Error(`installing bench/thirdparty failed (npm exit ${r.status ?? r.signal}): no peers to compare against`);
}

async function benchPeers() {
  ensureThirdparty();
  const { loadPeers, peerVersions } = await import(`${TP}/peers.mjs`);
  const { loaded: P, failed } = await loadPeers();
  const versions = peerVersions();
  const nb = P['@noble/hashes'];
  const hw = P['hash-wasm'] ? await P['hash-wasm'].createBLAKE3() : null;
  const b3w = P['blake3-wasm'];
  const napi = P['@napi-rs/blake-hash'];

  // BLAKE3 1 MiB and 64-byte messages.
  const hashers = [
    nb && ['@noble/hashes', (d) => nb.blake3(d)],
    hw && ['hash-wasm', (d) => { hw.init(); hw.update(d); return hw.digest('binary'); }],
    b3w && ['blake3-wasm', (d) => b3w.hash(d)],
    napi && ['@napi-rs/blake-hash', (d) => napi.blake3(d)],
  ].filter(Boolean);
  for (const [name, h] of hashers) {
    const m = await median(`b3 ${name}`, () => h(MIB), { slow: QUICK && name === '@noble/hashes' });
    row(G.b3, name, false, 1, S.mib / m.ms / 1e6, UNIT.b3, 'higher', m.samples);
  }
  for (const [name, h] of hashers) {
    const m = await median(`many ${name}`, () => { for (let i = 0; i < many.length; i++) h(many[i]); });
    row(G.many, `${name} (one call per message)`, false, 1, (m.ms * 1e6) / S.manyN, UNIT.many, 'lower', m.samples);
  }
  // PoW loops: write the nonce, hash, compare, as a user of each library would.
  for (const [name, h] of hashers) {
    const count = name === '@noble/hashes' ? S.powJs * 2 : S.powPeer;
    const buf = HEADER.slice();
    const view = new DataView(buf.buffer);
    const m = await median(`pow ${name}`, () => {
      for (let i = 0; i < count; i++) {
        view.setUint32(72, i, true);
        const d = h(buf);
        if (d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0 && d[4] === 0 && d[5] === 0) return i; // never with IMPOSSIBLE
      }
      return -1;
    }, { slow: true, runs: QUICK ? 1 : 5 });
    row(G.pow, `${name} (loop)`, false, 1, count / m.ms / 1e3, UNIT.pow, 'higher', m.samples);
  }

  // Ed25519.
  const { items: items1024, seeds, pks } = await signedItems();
  const msg = rnd.bytes(100);
  const verifiers = [];
  const signers = [];
  const sodium = P['sodium-native'];
  if (sodium) {
    const bpk = Buffer.alloc(32);
    const bsk = Buffer.alloc(64);
    sodium.crypto_sign_seed_keypair(bpk, bsk, Buffer.from(seeds[0]));
    const sig = Buffer.alloc(64);
    const bm = Buffer.from(msg);
    signers.push(['sodium-native', () => sodium.crypto_sign_detached(sig, bm, bsk)]);
    verifiers.push(['sodium-native', (it) => sodium.crypto_sign_verify_detached(Buffer.from(it.signature.buffer, it.signature.byteOffset, 64), Buffer.from(it.message.buffer, it.message.byteOffset, it.message.length), Buffer.from(it.publicKey.buffer, it.publicKey.byteOffset, 32))]);
  }
  const nacl = P.tweetnacl;
  if (nacl) {
    const kp = nacl.sign.keyPair.fromSeed(seeds[0]);
    signers.push(['tweetnacl', () => nacl.sign.detached(msg, kp.secretKey)]);
    verifiers.push(['tweetnacl', (it) => nacl.sign.detached.verify(it.message, it.signature, it.publicKey)]);
  }
  const curves = P['@noble/curves'];
  if (curves) {
    signers.push(['@noble/curves', () => curves.ed25519.sign(msg, seeds[0])]);
    verifiers.push(['@noble/curves', (it) => curves.ed25519.verify(it.signature, it.message, it.publicKey)]);
  }
  {
    const prefix = Buffer.from('302a300506032b6570032100', 'hex');
    const keyObjs = new Map(pks.map((pk) => [Buffer.from(pk).toString('hex'), createPublicKey({ key: Buffer.concat([prefix, pk]), format: 'der', type: 'spki' })]));
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seeds[0]]);
    const sk = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    signers.push(['node:crypto', () => nodeSign(null, msg, sk)]);
    verifiers.push(['node:crypto', (it) => nodeVerify(null, it.message, keyObjs.get(Buffer.from(it.publicKey).toString('hex')), it.signature)]);
  }
  for (const [name, s] of signers) {
    const k = name === 'tweetnacl' ? Math.max(2, S.signN >> 3) : S.signN;
    const m = await median(`sign ${name}`, () => { for (let i = 0; i < k; i++) s(); });
    row(G.sign, name, false, 1, (k * 1000) / m.ms, UNIT.sign, 'higher', m.samples);
  }
  for (const n of S.verifyBatches) {
    const items = items1024.slice(0, n);
    for (const [name, v] of verifiers) {
      // A per-item loop gains nothing from a bigger batch: the slow pure-JS peers are timed on
      // 64 items to keep the run short, and the rate is the same.
      const cap = name === 'tweetnacl' ? (QUICK ? 4 : 16) : name === '@noble/curves' ? (QUICK ? 16 : 64) : n;
      const few = cap < n;
      const its = few ? items.slice(0, cap) : items;
      const m = await median(`verify${n} ${name}`, () => { for (const it of its) if (!v(it)) throw new Error(`${name} rejected a valid signature`); });
      row(G.verify(n), `${name} (loop)`, false, 1, (its.length * 1000) / m.ms, UNIT.verify, 'higher', m.samples, few ? `rate measured on ${cap} items` : undefined);
    }
  }

  // The fastest verify peers and the fastest PoW peer on 2 worker threads, beside our 2-core rows.
  const { startPeerThreads } = await import('./peer-threads.mjs');
  const halves = (arr) => [arr.slice(0, arr.length >> 1), arr.slice(arr.length >> 1)];
  for (const n of S.verifyBatches) {
    const plain = items1024.slice(0, n).map((it) => ({ publicKey: it.publicKey, message: it.message, signature: it.signature }));
    for (const name of ['sodium-native', 'node:crypto']) {
      if (name === 'sodium-native' && !sodium) continue;
      const th = await startPeerThreads('verify', name, halves(plain));
      try {
        const m = await median(`verify${n} ${name} 2T`, () => th.run());
        row(G.verify(n), `${name} (2 worker threads)`, false, 2, (n * 1000) / m.ms, UNIT.verify, 'higher', m.samples, 'includes the thread round trip');
      } finally {
        await th.close();
      }
    }
  }
  if (hw) {
    const count = S.powPeer;
    const th = await startPeerThreads('pow', 'hash-wasm', [{ header: HEADER, start: 0, count: count >> 1 }, { header: HEADER, start: count >> 1, count: count >> 1 }]);
    try {
      const m = await median('pow hash-wasm 2T', () => th.run(), { slow: true, runs: QUICK ? 1 : 5 });
      row(G.pow, 'hash-wasm (loop, 2 worker threads)', false, 2, count / m.ms / 1e3, UNIT.pow, 'higher', m.samples);
    } finally {
      await th.close();
    }
  }

  // Merkle: merkletreejs with sha256 (its usual setup), and our tree rule over two fast hashers.
  const mt = P.merkletreejs;
  if (mt) {
    const sha256 = (d) => createHash('sha256').update(d).digest();
    const bufs = leaves.map((l) => Buffer.from(l.buffer, l.byteOffset, 32));
    const m = await median('merkle merkletreejs', () => new mt.MerkleTree(bufs, sha256).getRoot(), { slow: true, runs: 1, warm: false });
    row(G.merkle, 'merkletreejs (sha256)', false, 1, m.ms, UNIT.merkle, 'lower', m.samples, 'a different tree rule and hash; what users reach for');
  }
  const ruleRoot = (h) => {
    let level = leaves.map((l) => { const b = new Uint8Array(33); b.set(l, 1); return h(b); });
    const nb65 = new Uint8Array(65);
    nb65[0] = 1;
    while (level.length > 1) {
      const next = [];
      for (let i = 0; i + 1 < level.length; i += 2) { nb65.set(level[i], 1); nb65.set(level[i + 1], 33); next.push(h(nb65).slice()); }
      if (level.length & 1) next.push(level[level.length - 1]);
      level = next;
    }
    return level[0];
  };
  for (const [name, h] of hashers.filter(([n]) => n === '@napi-rs/blake-hash' || n === 'hash-wasm')) {
    const m = await median(`merkle ${name}`, () => ruleRoot((d) => h(d).slice()), { slow: true, runs: 1, warm: false });
    row(G.merkle, `${name} (JS loop, our rule)`, false, 1, m.ms, UNIT.merkle, 'lower', m.samples);
  }
  return { versions, failed };
}

// ---- report -------------------------------------------------------------------------------------
function summarize(meta) {
  const groups = [...new Set(rows.map((r) => r.group))];
  // A row is compared with the best peer on the same number of threads, or with the best peer
  // on any thread count when no peer ran on that many.
  const bestOf = (rs) => rs.reduce((a, b) => ((a.better === 'higher' ? b.value > a.value : b.value < a.value) ? b : a));
  for (const r of rows) {
    const peers = rows.filter((p) => p.group === r.group && !p.ours);
    const same = peers.filter((p) => p.threads === r.threads);
    const bp = same.length ? bestOf(same) : peers.length ? bestOf(peers) : null;
    r.bestPeer = bp ? `${bp.impl}, ${bp.threads}T` : null;
    r.ratioToBestPeer = bp ? (r.better === 'higher' ? r.value / bp.value : bp.value / r.value) : null;
  }
  /** Best row of ours in group g whose impl starts with `prefix` (and has `threads`, if given). */
  const best = (g, prefix, threads) => {
    const rs = rows.filter((r) => r.group === g && r.ours && r.impl.startsWith(prefix) && (threads === undefined || r.threads === threads));
    if (!rs.length) return undefined;
    return rs.reduce((a, b) => ((a.better === 'higher' ? b.value > a.value : b.value < a.value) ? b : a));
  };
  const peerVal = (g, impl) => rows.find((r) => r.group === g && r.impl === impl)?.value;
  const targets = [];
  const t = (text, r, ok) => targets.push({ target: text, measured: r ? `${fmt(r.value)} ${r.unit} (${r.impl}, ${r.threads}T)` : 'not measured', status: r ? (ok(r.value) ? 'met' : 'missed') : 'n/a' });
  t('native BLAKE3 1 MiB >= 7 GB/s, 1 thread', best(G.b3, 'ours native', 1), (v) => v >= 7);
  t('native BLAKE3 1 MiB >= 12 GB/s, 2 threads', best(G.b3, 'ours native', 2), (v) => v >= 12);
  const b3w = peerVal(G.b3, 'blake3-wasm');
  t(`wasm BLAKE3 1 MiB >= 1.2x blake3-wasm (${b3w ? fmt(b3w) : '?'} GB/s here)`, best(G.b3, 'ours wasm'), (v) => b3w !== undefined && v >= 1.2 * b3w);
  t('64-byte messages via blake3Many <= 150 ns each (best of ours)', best(G.many, 'ours'), (v) => v <= 150);
  t('native PoW >= 25 M hashes/s on 2 cores', best(G.pow, 'ours native', 2), (v) => v >= 25);
  t('wasm PoW >= 12 M hashes/s per worker', best(G.pow, 'ours wasm', 1), (v) => v >= 12);
  const v1024 = G.verify(1024);
  t('native Ed25519 verify >= 100k/s on 2 cores (batch 1024, best of rayon and pool)', best(v1024, 'ours native', 2), (v) => v >= 100_000);
  const noble = peerVal(v1024, '@noble/curves (loop)');
  t(`wasm Ed25519 verify >= 5x @noble/curves (${noble ? fmt(noble) : '?'}/s here), batch 1024, 1 core`, best(v1024, 'ours wasm', 1), (v) => noble !== undefined && v >= 5 * noble);
  if (!QUICK) t('native Merkle root of 2^20 leaves <= 50 ms', best(G.merkle, 'ours native'), (v) => v <= 50);
  else targets.push({ target: 'native Merkle root of 2^20 leaves <= 50 ms', measured: `quick mode uses 2^${S.merkleLog2}`, status: 'n/a' });

  const lines = [];
  lines.push(`# Crypto benchmark${QUICK ? ' (quick mode: smaller inputs, short runs; not for comparison)' : ''}`, '');
  lines.push(`Measured ${meta.measuredAt} on ${meta.machine.cpu} (${meta.machine.simd.join(', ') || 'no AVX2/AVX-512'}), ${meta.machine.cores} cores, Node ${meta.machine.node}. Command: \`${meta.command}\`.`);
  lines.push('Medians (tinybench). "x best peer" > 1 means ours is faster than the fastest peer measured in the same run on the same number of threads (any thread count when no peer ran on that many). A shared, noisy 2-core machine: trust ratios more than absolute figures.', '');
  for (const g of groups) {
    lines.push(`## ${g}`, '', '| implementation | threads | median | x best peer | note |', '|---|---:|---:|---:|---|');
    const rs = rows.filter((r) => r.group === g).sort((a, b) => (b.ours - a.ours) || (a.better === 'higher' ? b.value - a.value : a.value - b.value));
    for (const r of rs) lines.push(`| ${r.ours ? `**${r.impl}**` : r.impl} | ${r.threads} | ${fmt(r.value)} ${r.unit} | ${r.ratioToBestPeer === null ? '' : `${r.ratioToBestPeer.toFixed(2)}x`} | ${r.note ?? ''} |`);
    lines.push('');
  }
  lines.push('## Targets (issue 2 §7)', '', '| target | measured | status |', '|---|---|---|');
  for (const x of targets) lines.push(`| ${x.target} | ${x.measured} | ${x.status} |`);
  lines.push('');
  if (Object.keys(meta.missingOurs).length) {
    lines.push('Backends of ours not measured:', '');
    for (const [k, v] of Object.entries(meta.missingOurs)) lines.push(`- ${k}: ${v}`);
    lines.push('');
  }
  if (Object.keys(meta.peersFailed).length) {
    lines.push('Peers that failed to load:', '');
    for (const [k, v] of Object.entries(meta.peersFailed)) lines.push(`- ${k}: ${v}`);
    lines.push('');
  }
  lines.push(`Peer versions: ${Object.entries(meta.peerVersions).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  return { targets, md: lines.join('\n') };
}

function fmt(v) {
  if (v >= 1000) return Math.round(v).toLocaleString('en-US');
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// ---- main ---------------------------------------------------------------------------------------
if (CHILD_NATIVE_1T) {
  const { present } = await ourBackends();
  const native = present.filter((p) => p.name === 'native');
  if (native.length) await benchOurs(native, { nativeOneThread: true });
  process.stdout.write(JSON.stringify(rows));
  process.exit(0);
}

if (CHILD_PEERS) {
  const { versions, failed } = await benchPeers();
  process.stdout.write(JSON.stringify({ rows, versions, failed }));
  process.exit(0);
}

const started = Date.now();
const { present, missing } = await ourBackends();
process.stderr.write(`our backends: ${present.map((p) => p.name).join(', ')}${Object.keys(missing).length ? ` (missing: ${Object.keys(missing).join(', ')})` : ''}\n`);
await benchOurs(present, { nativeOneThread: false });
if (present.some((p) => p.name === 'native')) {
  process.stderr.write('native, 1 thread (child process, RAYON_NUM_THREADS=1):\n');
  const child = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child-native-1t', ...(QUICK ? ['--quick'] : [])], {
    env: { ...process.env, RAYON_NUM_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 << 20,
  });
  const out = child.stdout.toString();
  if (out.trim().startsWith('[')) rows.push(...JSON.parse(out).map((r) => ({ ...r, note: [r.note, 'RAYON_NUM_THREADS=1'].filter(Boolean).join('; ') })));
  if (child.status !== 0) process.stderr.write(`native 1-thread child: status ${child.status}, signal ${child.signal}\n`);
}
// Peers run in their own process: their addons (sodium-native, @napi-rs/blake-hash) and ours
// never share a process, and a crash in one side's teardown cannot take the other's figures.
process.stderr.write('peers (child process):\n');
const peerChild = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child-peers', ...(QUICK ? ['--quick'] : [])], {
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 16 << 20,
});
let peers = { versions: {}, failed: { all: `peer child process failed (status ${peerChild.status}, signal ${peerChild.signal})` } };
const peerOut = peerChild.stdout.toString();
if (peerOut.trim().startsWith('{')) {
  const parsed = JSON.parse(peerOut);
  rows.push(...parsed.rows);
  peers = { versions: parsed.versions, failed: parsed.failed };
  if (peerChild.status !== 0) process.stderr.write(`peer child exited with status ${peerChild.status} signal ${peerChild.signal} after reporting\n`);
}
const meta = {
  measuredAt: new Date().toISOString(),
  command: `npm run bench:crypto${QUICK ? ' -- --quick' : ''}`,
  quick: QUICK,
  machine: machine(),
  sizes: S,
  missingOurs: missing,
  peersFailed: peers.failed,
  peerVersions: peers.versions,
  gitCommit: (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim(); } catch { return null; } })(),
  seconds: 0,
};
meta.seconds = Math.round((Date.now() - started) / 100) / 10;
const { targets, md } = summarize(meta);
// Quick (CI smoke) results go beside the real ones, never over them.
const base = QUICK ? 'crypto.quick' : 'crypto';
writeResult(`${base}.json`, JSON.stringify({ ...meta, rows, targets }, null, 2) + '\n');
writeResult(`${base}.md`, md);
process.stdout.write(md + '\n');
process.stderr.write(`done in ${meta.seconds} s; wrote bench/results/${base}.json and ${base}.md\n`);
