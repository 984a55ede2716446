#!/usr/bin/env node
// Measures where the crypto pool starts to pay, and writes bench/results/pool-threshold.json,
// which CryptoPool reads (packages/node/src/crypto/pool.ts).
//
// Method, per inline backend present (js = noble + node:crypto, wasm, native), with the pool
// hosting the best worker backend (native -> wasm -> js) on one thread:
//   inline cost per item  c = median time of an inline batch / batch size
//   pool round trip       R = median time of a 1-item pool call - the worker's compute for that
//                             item (estimated by the same backend inline in this thread)
//   threshold             = ceil(R / c): below it the work costs less than the round trip.
// For verify the unit is an Ed25519 item (100-byte message); for blake3Many a 64-byte message
// (thresholdBytes = threshold x 64, used for batches of larger messages).
// Usage: node bench/crypto/pool-threshold.mjs [--quick]

import { medianNs, nodeCrypto, ourBackends, prng, signedItems, machine, writeResult } from './lib.mjs';

const quick = process.argv.includes('--quick');
const runs = quick ? 7 : 41;
const { CryptoPool, readThresholds } = await nodeCrypto();
const { present, missing } = await ourBackends();

const workerName = ['native', 'wasm', 'js'].find((n) => present.some((p) => p.name === n));
const worker = present.find((p) => p.name === workerName).backend;
const pool = await CryptoPool.create({ backend: workerName, threads: 1, inline: worker });

const VERIFY_BATCH = 64;
const { items } = await signedItems(VERIFY_BATCH, 4, 100);
const one = items.slice(0, 1);
const r = prng(3);
const MSG_BATCH = 4096;
const msgs = Array.from({ length: MSG_BATCH }, () => r.bytes(64));

const us = (ns) => Math.round(ns / 10) / 100;

// Round trip: 1 item through the pool minus that item's compute on the hosting backend.
const poolVerify1 = await medianNs(() => pool.verifyBatchInPool(one, 1), { runs: runs * 2 });
const hostVerify1 = await medianNs(() => worker.ed25519VerifyBatch(one), { runs: runs * 2 });
const poolVerifyN = await medianNs(() => pool.verifyBatchInPool(items, 1), { runs });
const poolB1 = await medianNs(() => pool.blake3ManyInPool(msgs.slice(0, 1), 1), { runs: runs * 2 });
const hostB1 = await medianNs(() => worker.blake3ManyPacked({ data: msgs[0], offsets: Uint32Array.of(0, 64) }), { runs: runs * 2 });
const poolBN = await medianNs(() => pool.blake3ManyInPool(msgs, 1), { runs });
await pool.close();

const verifyRoundTripNs = Math.max(0, poolVerify1 - hostVerify1);
const blake3RoundTripNs = Math.max(0, poolB1 - hostB1);

const out = {
  measuredAt: new Date().toISOString(),
  machine: machine(),
  command: `node bench/crypto/pool-threshold.mjs${quick ? ' --quick' : ''}`,
  poolBackend: workerName,
  missing,
  method: 'threshold = ceil(pool round trip / inline cost per item); medians',
  verify: {},
  blake3Many: {},
};

for (const { name, backend } of present) {
  const inlineVerify = await medianNs(() => backend.ed25519VerifyBatch(items), { runs });
  const c = inlineVerify / VERIFY_BATCH;
  out.verify[name] = {
    inlineUsPerItem: us(c),
    poolRoundTripUs: us(verifyRoundTripNs),
    poolUsPerItemOneThread: us(poolVerifyN / VERIFY_BATCH),
    thresholdItems: Math.max(1, Math.ceil(verifyRoundTripNs / c)),
  };
  const packed = (() => {
    const data = new Uint8Array(64 * MSG_BATCH);
    const offsets = new Uint32Array(MSG_BATCH + 1);
    msgs.forEach((m, i) => { data.set(m, 64 * i); offsets[i + 1] = 64 * (i + 1); });
    return { data, offsets };
  })();
  const inlineB = await medianNs(() => backend.blake3ManyPacked(packed), { runs });
  const cb = inlineB / MSG_BATCH;
  const thresholdMessages = Math.max(1, Math.ceil(blake3RoundTripNs / cb));
  out.blake3Many[name] = {
    inlineNsPerMessage64: Math.round(cb),
    poolRoundTripUs: us(blake3RoundTripNs),
    poolNsPerMessageOneThread: Math.round(poolBN / MSG_BATCH),
    thresholdMessages,
    thresholdBytes: thresholdMessages * 64,
  };
}

writeResult('pool-threshold.json', JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify(out, null, 2));
for (const { name } of present) console.log(`pool thresholds for inline ${name}:`, readThresholds(name));
