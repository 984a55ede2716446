// CryptoPool and powSearchParallel against the js oracle: verify with bad items, blake3Many,
// Merkle roots, transferables, the queue bound, close, and the lowest-nonce guarantee of the
// parallel PoW search. Runs for every worker backend that loads here (js always does).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { jsBackend, type SignedItem } from '@bpci/core';
import { CryptoPool, DEFAULT_THRESHOLDS, PoolClosedError, PoolQueueFullError, defaultWorkerFile, readThresholds } from '../../packages/node/src/crypto/pool.js';
import { packMessagesBuffer, packSignedBuffer, unpackMessagesBuffer, unpackSignedBuffer } from '../../packages/node/src/crypto/pack.js';
import { powSearchParallel } from '../../packages/node/src/crypto/pow-parallel.js';
import { loadBackend, type BackendName } from '../../packages/node/src/crypto/select.js';
import { ed25519Cases, rng } from './suite.js';

const oracle = jsBackend();
const root = fileURLToPath(new URL('../../', import.meta.url));

/** Worker threads run compiled JS: rebuild packages/node when its crypto sources are newer. */
function ensureWorkerBuilt(): void {
  const worker = `${root}packages/node/dist/crypto/worker.js`;
  const srcDir = `${root}packages/node/src/crypto`;
  const distDir = `${root}packages/node/dist/crypto`;
  const newestIn = (dir: string, ext: string) =>
    existsSync(dir) ? Math.max(0, ...readdirSync(dir).filter((f) => f.endsWith(ext)).map((f) => statSync(`${dir}/${f}`).mtimeMs)) : 0;
  // tsc -b re-emits only changed files: compare the newest source with the newest output.
  if (existsSync(worker) && newestIn(distDir, '.js') >= newestIn(srcDir, '.ts')) return;
  try {
    execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'packages/node'], { cwd: root, stdio: 'pipe' });
  } catch {
    // Type errors elsewhere in the package do not stop emit; the check below decides.
  }
  if (!existsSync(worker)) throw new Error('packages/node/dist/crypto/worker.js missing after tsc -b packages/node');
}

function signedItems(seed: number, n: number): { items: SignedItem[]; expected: Uint8Array } {
  const r = rng(seed);
  const seeds = [r.bytes(32), r.bytes(32), r.bytes(32)];
  const pks = seeds.map((s) => oracle.ed25519PublicKey(s));
  const items: SignedItem[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    const msg = r.bytes(r.int(200));
    const sig = oracle.ed25519Sign(seeds[k]!, msg);
    let it: SignedItem = { publicKey: pks[k]!, message: msg, signature: sig };
    switch (i % 7) {
      case 1: { const s = sig.slice(); s[r.int(64)]! ^= 1 << r.int(8); it = { ...it, signature: s }; break; }
      case 2: it = { ...it, message: r.bytes(msg.length + 1) }; break;
      case 3: it = { ...it, publicKey: pks[(k + 1) % 3]! }; break;
      case 4: it = { ...it, signature: sig.subarray(0, 63) }; break; // malformed length
      case 5: it = { ...it, publicKey: new Uint8Array(31) }; break; // malformed length
      default: break;
    }
    items.push(it);
  }
  const { cases } = ed25519Cases();
  for (const c of cases) items.push(c.item);
  return { items, expected: oracle.ed25519VerifyBatch(items) };
}

const candidates: BackendName[] = ['js', 'wasm', 'native'];

beforeAll(() => ensureWorkerBuilt(), 120_000);

describe('pack layouts', () => {
  it('round-trip messages and signed items', () => {
    const msgs = [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(70).fill(9)];
    const p = unpackMessagesBuffer(packMessagesBuffer(msgs));
    expect(Array.from(p.offsets)).toEqual([0, 0, 3, 73]);
    expect(p.data.length).toBe(73);
    const { items } = signedItems(5, 7);
    const ok = items.filter((i) => i.publicKey.length === 32 && i.signature.length === 64).slice(0, 6);
    const back = unpackSignedBuffer(packSignedBuffer(ok));
    expect(back.map((i) => [i.publicKey, i.message, i.signature])).toEqual(ok.map((i) => [i.publicKey, i.message, i.signature]));
  });

  it('reject corrupted buffers with an error', () => {
    const buf = packMessagesBuffer([Uint8Array.of(1, 2)]);
    new Uint32Array(buf, 0, 1)[0] = 1000;
    expect(() => unpackMessagesBuffer(buf)).toThrow(/too short/);
    expect(() => unpackSignedBuffer(new ArrayBuffer(2))).toThrow(/shorter than its header/);
  });
});

describe('pool thresholds', () => {
  it('come from the measurement file, keyed by inline backend, else the documented defaults', () => {
    const dir = mkdtempSync(`${tmpdir()}/bpci-thr-`);
    const file = `${dir}/pool-threshold.json`;
    writeFileSync(file, JSON.stringify({ verify: { wasm: { thresholdItems: 7 } }, blake3Many: { wasm: { thresholdMessages: 300, thresholdBytes: 19200 } } }));
    const t = readThresholds('wasm', file);
    expect(t).toMatchObject({ verifyItems: 7, blake3Messages: 300, blake3Bytes: 19200 });
    expect(t.source).toContain(file);
    expect(readThresholds('native', file)).toEqual(DEFAULT_THRESHOLDS); // no entry for native
    expect(readThresholds('wasm', `${dir}/missing.json`)).toEqual(DEFAULT_THRESHOLDS);
    writeFileSync(`${dir}/bad.json`, '{ not json');
    expect(readThresholds('wasm', `${dir}/bad.json`)).toEqual(DEFAULT_THRESHOLDS);
    writeFileSync(`${dir}/neg.json`, JSON.stringify({ verify: { wasm: { thresholdItems: -3 } } }));
    expect(readThresholds('wasm', `${dir}/neg.json`)).toEqual(DEFAULT_THRESHOLDS);
  });

  it('a pool created with a threshold file uses its figures', async () => {
    const dir = mkdtempSync(`${tmpdir()}/bpci-thr-`);
    const file = `${dir}/pool-threshold.json`;
    writeFileSync(file, JSON.stringify({ verify: { js: { thresholdItems: 9 } } }));
    const pool = await CryptoPool.create({ backend: 'js', threads: 1, thresholdFile: file });
    try {
      expect(pool.thresholds.verifyItems).toBe(9);
      const { items, expected } = signedItems(8, 12);
      expect(await pool.verifyBatch(items.slice(0, 8))).toEqual(expected.slice(0, 8)); // inline
      expect(await pool.verifyBatch(items)).toEqual(expected); // pool
    } finally {
      await pool.close();
    }
  });
});

describe('worker protocol', () => {
  it('batches move as one transferred ArrayBuffer each way', async () => {
    const p = new Piscina({ filename: defaultWorkerFile(), minThreads: 1, maxThreads: 1, workerData: { backend: 'js' } });
    try {
      const msgs = [Uint8Array.of(1), new Uint8Array(100).fill(3), new Uint8Array(0)];
      const buf = packMessagesBuffer(msgs);
      const res: unknown = await p.run(Piscina.move(buf), { name: 'blake3Many' });
      expect(buf.byteLength).toBe(0); // detached: transferred, not copied
      expect(res).toBeInstanceOf(ArrayBuffer);
      expect(new Uint8Array(res as ArrayBuffer)).toEqual(oracle.blake3ManyPacked({ data: new Uint8Array([1, ...new Uint8Array(100).fill(3)]), offsets: Uint32Array.of(0, 1, 101, 101) }));
    } finally {
      await p.destroy();
    }
  });
});

for (const name of candidates) {
  describe(`CryptoPool hosting ${name}`, async () => {
    const available = (await loadBackend(name)).ok;
    let pool: CryptoPool;
    beforeAll(async () => {
      if (available) pool = await CryptoPool.create({ backend: name, threads: 2, thresholds: { verifyItems: 1, blake3Messages: 2, blake3Bytes: 1 } });
    });
    afterAll(async () => {
      await pool?.close();
    });

    it.skipIf(!available)('verify with bad items equals the oracle, in the pool and inline', async () => {
      const { items, expected } = signedItems(11, 60);
      expect(await pool.verifyBatch(items)).toEqual(expected);
      expect(await pool.verifyBatchInPool(items, 3)).toEqual(expected);
      expect(pool.inline.ed25519VerifyBatch(items)).toEqual(expected);
      expect(await pool.verifyBatch([])).toEqual(new Uint8Array(0));
    });

    it.skipIf(!available)('blake3Many equals the oracle (split over threads)', async () => {
      const r = rng(21);
      const msgs = Array.from({ length: 300 }, (_, i) => r.bytes(i % 5 === 0 ? 1024 + r.int(3000) : r.int(130)));
      const want = oracle.blake3Many(msgs);
      expect(await pool.blake3Many(msgs)).toEqual(want);
      expect(await pool.blake3ManyInPool(msgs, 3)).toEqual(Uint8Array.from(want.flatMap((h) => Array.from(h))));
    });

    it.skipIf(!available)('merkleRoot equals the oracle', async () => {
      const r = rng(31);
      for (const n of [1, 2, 3, 7, 64, 1000, 1025]) {
        const leaves = Array.from({ length: n }, () => r.bytes(32));
        expect(await pool.merkleRoot(leaves)).toEqual(oracle.merkleRoot(leaves));
        expect(await pool.merkleRootInPool(leaves)).toEqual(oracle.merkleRoot(leaves));
      }
    });

    it.skipIf(!available)('powSearch and powSearchParallel return the single-thread lowest nonce', async () => {
      const r = rng(41);
      const target = new Uint8Array(32).fill(0xff);
      target[0] = 0;
      target[1] = 0x20; // about 1 winner in 2048
      for (const start of [0n, 123_456_789n, (1n << 40n) - 5000n]) {
        const header = r.bytes(80);
        const want = oracle.powSearch(header, target, start, 20_000);
        expect(want).not.toBeNull();
        expect(await pool.powSearch(header, target, start, 20_000)).toEqual(want);
        // Small chunks force many claims and interleaving between the two threads.
        for (const chunkSize of [37, 500, 4096]) {
          const got = await powSearchParallel(header, target, start, 20_000, { pool, chunkSize });
          expect(got.nonce).toBe(want!.nonce);
          expect(got.hash).toEqual(want!.hash);
          expect(got.hashes).toBeGreaterThanOrEqual(Number(want!.nonce - start) + 1 - chunkSize * pool.threads);
        }
      }
      // No winner in range: null, and every nonce was hashed exactly once.
      const none = await powSearchParallel(r.bytes(80), new Uint8Array(32), 7n, 3000, { pool, chunkSize: 100 });
      expect(none.nonce).toBeNull();
      expect(none.hashes).toBe(3000);
    });
  });
}

describe('powSearchParallel without a pool', () => {
  for (const name of candidates) {
    it(`backend ${name}: the lowest nonce, like the single-thread search`, async (ctx) => {
      if (!(await loadBackend(name)).ok) return ctx.skip();
      const r = rng(51);
      const target = new Uint8Array(32).fill(0xff);
      target[0] = 0;
      target[1] = 0x10;
      const header = r.bytes(80);
      const want = oracle.powSearch(header, target, 99n, 30_000);
      expect(want).not.toBeNull();
      // native: the addon's own multi-core search; wasm/js: a temporary pool of 2 workers.
      const got = await powSearchParallel(header, target, 99n, 30_000, { backend: name, threads: 2, chunkSize: 256 });
      expect(got.nonce).toBe(want!.nonce);
      expect(got.hash).toEqual(want!.hash);
      expect(got.via).toBe(name === 'native' ? 'native' : `pool:${name}`);
    });
  }
});

describe('powSearchParallel stopping', () => {
  let pool: CryptoPool;
  beforeAll(async () => {
    pool = await CryptoPool.create({ backend: 'js', threads: 2 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('stops every thread soon after a winner near the start of a large range', async () => {
    const target = new Uint8Array(32).fill(0xff);
    target[0] = 0;
    target[1] = 0x20;
    const header = rng(61).bytes(80);
    const want = oracle.powSearch(header, target, 0n, 50_000)!;
    expect(want).not.toBeNull();
    const count = 2_000_000; // ~10 s per thread for the js backend if nobody stopped
    const got = await powSearchParallel(header, target, 0n, count, { pool, chunkSize: 512 });
    expect(got.nonce).toBe(want.nonce);
    expect(got.hashes).toBeLessThan(count / 20);
  });

  it('an abort stops the search and rejects with the reason', async () => {
    const ac = new AbortController();
    const p = powSearchParallel(new Uint8Array(80), new Uint8Array(32), 0n, 50_000_000, { pool, chunkSize: 1024, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('enough')), 50);
    await expect(p).rejects.toThrow('enough');
    // The pool is free again: a new search completes.
    const r = await powSearchParallel(new Uint8Array(80), new Uint8Array(32).fill(0xff), 5n, 10, { pool });
    expect(r.nonce).toBe(5n);
  });
});

describe('CryptoPool limits', () => {
  it('a full queue rejects with PoolQueueFullError; accepted tasks still finish correctly', async () => {
    const pool = await CryptoPool.create({ backend: 'js', threads: 1, maxQueue: 2 });
    try {
      const header = new Uint8Array(80);
      const impossible = new Uint8Array(32); // hash <= 0 never happens in practice
      const runs = Array.from({ length: 6 }, () => pool.powSearch(header, impossible, 0n, 4000).then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e })));
      const settled = await Promise.all(runs);
      const rejected = settled.filter((s) => !s.ok);
      const accepted = settled.filter((s) => s.ok);
      expect(rejected.length).toBeGreaterThanOrEqual(6 - 1 - 2);
      for (const s of rejected) expect((s as { e: unknown }).e).toBeInstanceOf(PoolQueueFullError);
      for (const s of accepted) expect((s as { v: unknown }).v).toBeNull();
    } finally {
      await pool.close();
    }
  });

  it('close() waits, then every call rejects with PoolClosedError', async () => {
    const pool = await CryptoPool.create({ backend: 'js', threads: 1, thresholds: { verifyItems: 1 } });
    const { items, expected } = signedItems(3, 5);
    const running = pool.verifyBatch(items);
    await pool.close();
    expect(await running).toEqual(expected);
    await expect(pool.verifyBatch(items)).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.blake3Many([Uint8Array.of(1)])).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.powSearch(new Uint8Array(80), new Uint8Array(32), 0n, 1)).rejects.toBeInstanceOf(PoolClosedError);
    await pool.close(); // idempotent
  });

  it('bad arguments are typed errors before any round trip', async () => {
    const pool = await CryptoPool.create({ backend: 'js', threads: 1 });
    try {
      await expect(pool.verifyBatch('x' as never)).rejects.toBeInstanceOf(TypeError);
      await expect(pool.blake3Many([1] as never)).rejects.toBeInstanceOf(TypeError);
      await expect(pool.powSearch(new Uint8Array(80), new Uint8Array(31), 0n, 1)).rejects.toBeInstanceOf(RangeError);
      await expect(powSearchParallel(new Uint8Array(80), new Uint8Array(32), -1n, 1, { pool })).rejects.toBeInstanceOf(RangeError);
    } finally {
      await pool.close();
    }
  });
});
