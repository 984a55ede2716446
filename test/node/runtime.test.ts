// Four validator runtimes in one process over real loopback TCP and real LMDB stores: requests
// from several clients commit, every validator holds the same log, and a validator restarted
// from its store rejoins and converges.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jsBackend, type CryptoBackend } from '@bpci/core';
import { ValidatorNode, type ValidatorAddress } from '@bpci/node/runtime/validator-node';
import { BpciClient } from '@bpci/node/client/client';
import { openSafetyLog } from '@bpci/node/runtime/safety-log';
import { openStore } from '@bpci/node/storage/store';
import { decodeTxRecord, txIdOf } from '@bpci/node/runtime/records';
import { freePorts } from '../../packages/node/test/helpers.js';
import { nodeJsBackend } from '@bpci/node/crypto/select';

const crypto: CryptoBackend = nodeJsBackend();
const N = 4;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-rt-'));
const seeds = Array.from({ length: N }, (_, i) => new Uint8Array(32).fill(i + 1));
const ports = await freePorts(2 * seeds.length);
const validators: ValidatorAddress[] = seeds.map((s, i) => ({ publicKey: jsBackend().ed25519PublicKey(s), stake: 1, host: '127.0.0.1', port: ports[i]! }));
const clientPort = (i: number) => ports[seeds.length + i]!;

async function startNode(i: number): Promise<ValidatorNode> {
  const d = path.join(dir, `v${i}`);
  const store = openStore(d, { durable: true });
  const safety = await openSafetyLog(d, { segmentBytes: 64 * 1024, recordBytesMax: 60 * 1024 });
  return ValidatorNode.start({
    index: i,
    validators,
    seed32: seeds[i]!,
    crypto,
    store,
    safety,
    listen: { host: '127.0.0.1', port: validators[i]!.port },
    clientListen: { host: '127.0.0.1', port: clientPort(i) },
    pbft: { checkpointInterval: 16, watermarkWindow: 64 },
  });
}

const nodes: (ValidatorNode | undefined)[] = [];
afterAll(async () => {
  await Promise.all(nodes.map((n) => n?.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('validator runtime (in-process, loopback TCP, LMDB)', () => {
  it('commits requests from several clients; all validators agree; a restarted validator catches up', async () => {
    (await Promise.all(Array.from({ length: N }, (_, i) => startNode(i)))).forEach((n, i) => (nodes[i] = n));
    const clientValidators = validators.map((v, i) => ({ host: '127.0.0.1', port: clientPort(i), publicKey: v.publicKey }));
    const clients = await Promise.all([0, 1, 2].map((c) => BpciClient.connect({ clientId: `c${c}`, validators: clientValidators, crypto })));
    const results: string[] = [];
    const firstOp = new TextEncoder().encode('add acct0 1');
    await Promise.all(
      clients.map(async (cl, c) => {
        for (let k = 0; k < 40; k++) {
          const r = await cl.submit(new TextEncoder().encode(`add acct${c} 1`));
          results.push(new TextDecoder().decode(r.result));
        }
      }),
    );
    expect(results.length).toBe(120);
    // the last result of each client is its running total
    const height = Math.max(...nodes.map((n) => n!.replica.status().committedHeight));
    await until(() => nodes.every((n) => n!.replica.status().committedHeight === height), 5000).catch((e) => { console.log(nodes.map((n) => JSON.stringify({ ...n!.replica.status(), slots: n!.replica.status().slots.slice(0, 3) }))); throw e; });
    const digests = nodes.map((n) => Buffer.from(n!.app.digest()).toString('hex'));
    expect(new Set(digests).size).toBe(1);

    // restart validator 3 from its store while the others keep committing
    await nodes[3]!.stop();
    for (const cl of clients) await cl.submit(new TextEncoder().encode('add after 1'));
    nodes[3] = await startNode(3);
    for (const cl of clients) await cl.submit(new TextEncoder().encode('add after 1'));
    // Converged: every validator at the same height with the same state (the others may still
    // execute a last batch when the restarted one arrives, so compare at equal heights).
    const digest = (i: number) => Buffer.from(nodes[i]!.app.digest()).toString('hex');
    await until(() => {
      const hs = nodes.map((n) => n!.replica.status().committedHeight);
      return hs.every((h) => h === hs[0]) && [1, 2, 3].every((i) => digest(i) === digest(0));
    }, 15_000).catch((e) => {
      throw new Error(`${e.message}: heights ${nodes.map((n) => n!.replica.status().committedHeight)}, digests ${[0, 1, 2, 3].map(digest).map((d) => d.slice(0, 8))}`);
    });
    // The transaction index survived the restart: validator 3's store still says where and with
    // what result c0's first request committed.
    const rec = nodes[3]!.store?.get('tx', txIdOf(crypto, clients[0]!.signedRequest(1, firstOp)));
    expect(rec).toBeDefined();
    const t = decodeTxRecord(rec!);
    expect(new TextDecoder().decode(t.result)).toBe('1');
    expect(t.height).toBeGreaterThanOrEqual(1);
    for (const cl of clients) cl.close();
  });
});
