// Block back-fill (src/runtime/backfill.ts): gap finding in a real store, serving bounds and the
// per-peer rate, and a requester that verifies every block against its commit certificate before
// it stores it. Peers are in-process fakes over the real codec; time is an injected clock.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  decodeMessage,
  encodeBatch,
  encodeMessage,
  signingPayload,
  signRequest,
  ValidatorSet,
  type Blocks,
  type BlocksRequest,
  type CertifiedBatch,
  type ClientRequest,
  type Commit,
  type PrePrepare,
} from '@bpci/core';
import { openStore, type Store } from '../src/storage/store.js';
import { decodeBlock, decodeTxRecord, encodeCertified, encodeTxRecord, txIdOf } from '../src/runtime/records.js';
import { BlockBackfill, BlocksServer, findGap, memoryBlockSource, missingBlocks, storeBlockSource, type BackfillOptions } from '../src/runtime/backfill.js';
import { identity } from './helpers.js';
import { nodeJsBackend } from '../src/crypto/select.js';

// Node's own Ed25519 (OpenSSL, ZIP-215 re-check on rejects): thousands of signatures per test.
const crypto = nodeJsBackend();
const clientSeed = new Uint8Array(32).fill(5);

const N = 4;
const ids = Array.from({ length: N }, (_, i) => identity(i));
const validators = new ValidatorSet(ids.map((k) => ({ publicKey: k.publicKey, stake: 1 })));
const enc = new TextEncoder();

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function newStore(): Store {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-backfill-'));
  dirs.push(d);
  const s = openStore(d, { durable: false });
  stores.push(s);
  return s;
}

const certCache = new Map<number, CertifiedBatch>();
/** A genuinely certified batch for `seq`: the view's primary (or `proposer`) proposes, `signers` commit. */
function certified(seq: number, opts: { view?: number; signers?: readonly number[]; requests?: number; proposer?: number } = {}): CertifiedBatch {
  if (Object.keys(opts).length > 0) return makeCertified(seq, opts);
  let c = certCache.get(seq);
  if (!c) certCache.set(seq, (c = makeCertified(seq, opts)));
  return c;
}
function makeCertified(seq: number, opts: { view?: number; signers?: readonly number[]; requests?: number; proposer?: number } = {}): CertifiedBatch {
  const view = opts.view ?? 0;
  const batch: ClientRequest[] = Array.from({ length: opts.requests ?? 2 }, (_, i) => signRequest(crypto, clientSeed, `c${i}`, seq, enc.encode(`add k${i} ${seq}`)));
  const digest = crypto.blake3(encodeBatch(batch));
  const primary = opts.proposer ?? validators.primary(view);
  const ppBody = { kind: 'pre-prepare' as const, view, seq, digest, batch, from: primary };
  const prePrepare: PrePrepare = { ...ppBody, sig: crypto.ed25519Sign(ids[primary]!.seed, signingPayload({ ...ppBody, sig: new Uint8Array(64) })) };
  const commits: Commit[] = (opts.signers ?? [0, 1, 2]).map((from) => {
    const body = { kind: 'commit' as const, view, seq, digest, from };
    return { ...body, sig: crypto.ed25519Sign(ids[from]!.seed, signingPayload({ ...body, sig: new Uint8Array(64) })) };
  });
  return { prePrepare, commits };
}

async function putBlocks(store: Store, seqs: Iterable<number>): Promise<void> {
  const records = [...seqs].map((seq) => ({ kind: 'block' as const, key: seq, value: encodeCertified(certified(seq), 1) }));
  for (let i = 0; i < records.length; i += 1000) await store.persistBatch(records.slice(i, i + 1000));
}
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('gap finding', () => {
  it('finds a gap at the start, in the middle, and none when the log is whole', async () => {
    const s = newStore();
    expect(findGap(s, 1, 10, 100)).toEqual({ gap: { fromSeq: 1, toSeq: 10 }, scannedTo: 0 });
    await putBlocks(s, [...range(1, 5), ...range(20, 25)]);
    expect(findGap(s, 1, 25, 100)).toEqual({ gap: { fromSeq: 6, toSeq: 19 }, scannedTo: 5 });
    // The floor cuts a gap (blocks above the stable checkpoint are not the back-fill's business).
    expect(findGap(s, 1, 12, 100)).toEqual({ gap: { fromSeq: 6, toSeq: 12 }, scannedTo: 5 });
    expect(findGap(s, 1, 4, 100)).toEqual({ gap: null, scannedTo: 4 });
    expect(missingBlocks(s, 1, 25)).toBe(14);
    expect(missingBlocks(s, 6, 30)).toBe(19); // 6..19 and 26..30
    await putBlocks(s, range(6, 19));
    expect(findGap(s, 1, 25, 100)).toEqual({ gap: null, scannedTo: 25 });
    expect(missingBlocks(s, 1, 25)).toBe(0);
  });

  it('reads at most keysMax keys per call and resumes from where it stopped', async () => {
    const s = newStore();
    await putBlocks(s, [...range(1, 30), ...range(40, 50)]);
    expect(findGap(s, 1, 50, 10)).toEqual({ gap: null, scannedTo: 10 });
    expect(findGap(s, 11, 50, 10)).toEqual({ gap: null, scannedTo: 20 });
    expect(findGap(s, 21, 50, 10)).toEqual({ gap: null, scannedTo: 30 });
    expect(findGap(s, 31, 50, 10)).toEqual({ gap: { fromSeq: 31, toSeq: 39 }, scannedTo: 30 });
    // A gap that starts at the very end of a full page is found by the next call.
    expect(findGap(s, 21, 60, 10)).toEqual({ gap: null, scannedTo: 30 });
    expect(findGap(s, 41, 60, 20)).toEqual({ gap: { fromSeq: 51, toSeq: 60 }, scannedTo: 50 });
  });
});

describe('serving blocks', () => {
  const request = (fromSeq: number, toSeq: number): BlocksRequest => ({ kind: 'blocks-request', fromSeq, toSeq, from: 2 });
  const answer = (bytes: Uint8Array): Blocks => {
    const m = decodeMessage(bytes);
    if (m.kind !== 'blocks') throw new Error(`answer is ${m.kind}`);
    return m;
  };

  it('answers the contiguous run it holds from fromSeq, at most the range asked for', async () => {
    const s = newStore();
    await putBlocks(s, [...range(1, 300), ...range(310, 320)]);
    const server = new BlocksServer({ self: 1, source: storeBlockSource(s), requestsBurst: 100 });
    const full = server.serve(2, request(1, 256));
    expect(full.kind).toBe('served');
    const got = answer((full as { bytes: Uint8Array }).bytes).batches.map((b) => b.prePrepare.seq);
    expect(got).toEqual(range(1, 256));
    // Up to the hole at 301 and no further, even though 310.. exist.
    const partial = answer((server.serve(2, request(290, 320)) as { bytes: Uint8Array }).bytes);
    expect(partial.batches.map((b) => b.prePrepare.seq)).toEqual(range(290, 300));
    // A range it does not hold at all: an empty answer (the requester moves on to another peer).
    expect(answer((server.serve(2, request(301, 305)) as { bytes: Uint8Array }).bytes).batches).toEqual([]);
    // What it sends is what it stored.
    expect(partial.batches[0]).toEqual(decodeBlock(s.get('block', 290)!));
  });

  it('keeps every answer under its byte bound and below the frame', async () => {
    const s = newStore();
    const big = range(1, 40).map((seq) => ({ kind: 'block' as const, key: seq, value: encodeCertified(certified(seq, { requests: 40 }), 1) }));
    await s.persistBatch(big);
    const one = big[0]!.value.length;
    const server = new BlocksServer({ self: 1, source: storeBlockSource(s), answerBytesMax: 10 * one + one / 2, requestsBurst: 100 });
    const r = server.serve(2, request(1, 40)) as { kind: 'served'; bytes: Uint8Array; blocks: number };
    expect(r.blocks).toBe(10);
    expect(r.bytes.length).toBeLessThanOrEqual(server.answerBytesMax + 64);
    // frameBytesMax lowers the bound further.
    const framed = new BlocksServer({ self: 1, source: storeBlockSource(s), frameBytesMax: 4096 + 3 * one, requestsBurst: 100 });
    expect(framed.answerBytesMax).toBe(3 * one);
    expect((framed.serve(2, request(1, 40)) as { blocks: number }).blocks).toBe(3);
    // A block larger than the bound is never sent (empty answer), not a frame the transport rejects.
    const tiny = new BlocksServer({ self: 1, source: storeBlockSource(s), answerBytesMax: one - 1, requestsBurst: 100 });
    expect((tiny.serve(2, request(1, 1)) as { blocks: number }).blocks).toBe(0);
  });

  it('rate-limits each peer on its own: over the burst, requests are dropped until tokens refill', async () => {
    const s = newStore();
    await putBlocks(s, range(1, 5));
    let now = 1_000;
    const server = new BlocksServer({ self: 1, source: storeBlockSource(s), requestsPerSecond: 2, requestsBurst: 3, now: () => now });
    const kinds = (peer: number, n: number) => Array.from({ length: n }, () => server.serve(peer, request(1, 5)).kind);
    expect(kinds(2, 5)).toEqual(['served', 'served', 'served', 'throttled', 'throttled']);
    // Another peer has its own budget.
    expect(kinds(3, 1)).toEqual(['served']);
    now += 500; // one token back at 2 per second
    expect(kinds(2, 2)).toEqual(['served', 'throttled']);
    now += 60_000; // refills to the burst, no further
    expect(kinds(2, 4)).toEqual(['served', 'served', 'served', 'throttled']);
  });

  it('serves memory-mode validators from their recent blocks', () => {
    const recent = new Map(range(5, 9).map((seq) => [seq, { cert: certified(seq) }]));
    const server = new BlocksServer({ self: 1, source: memoryBlockSource(recent) });
    const r = server.serve(2, request(5, 20)) as { bytes: Uint8Array };
    expect(answer(r.bytes).batches.map((b) => b.prePrepare.seq)).toEqual(range(5, 9));
  });
});

// ------------------------------------------------------------------ the requester

type Peer = (req: BlocksRequest) => Blocks | null;

/** A requester (validator 3) over a real store, its peers answering through the real codec. */
function harness(store: Store, peers: Record<number, Peer>, opts: Partial<BackfillOptions> = {}) {
  let now = 0;
  const outbox: { to: number; bytes: Uint8Array }[] = [];
  const asked: { to: number; fromSeq: number; toSeq: number }[] = [];
  const observed = { stored: 0, rejected: [] as string[] };
  let floor = 0;
  const bf = new BlockBackfill({
    self: 3,
    validators,
    crypto,
    store,
    peers: [0, 1, 2],
    connected: (p) => peers[p] !== undefined,
    send: (to, bytes) => outbox.push({ to, bytes }),
    floor: () => floor,
    writeState: () => 'idle',
    now: () => now,
    observer: { stored: (n) => (observed.stored += n), rejected: (r) => observed.rejected.push(r) },
    ...opts,
  });
  /** Ticks, delivers what was sent, lets writes land; `steps` rounds. */
  const run = async (steps: number, advanceMs = 50): Promise<void> => {
    for (let i = 0; i < steps; i++) {
      bf.tick();
      for (const { to, bytes } of outbox.splice(0)) {
        const req = decodeMessage(bytes);
        if (req.kind !== 'blocks-request') throw new Error(`requester sent ${req.kind}`);
        asked.push({ to, fromSeq: req.fromSeq, toSeq: req.toSeq });
        const ans = peers[to]!(req);
        if (ans) bf.onBlocks(to, decodeMessage(encodeMessage(ans)) as Blocks);
      }
      await bf.settled();
      now += advanceMs;
    }
  };
  return { bf, run, asked, observed, setFloor: (f: number) => (floor = f), advance: (ms: number) => (now += ms) };
}

/** An honest peer: serves from the full log of certified blocks 1..height. */
function honest(height: number): Peer {
  const log = new Map(range(1, height).map((seq) => [seq, { cert: certified(seq) }]));
  const server = new BlocksServer({ self: 0, source: memoryBlockSource(log), requestsBurst: 1e9 });
  return (req) => decodeMessage((server.serve(0, req) as { bytes: Uint8Array }).bytes) as Blocks;
}

async function settle(store: Store, bf: BlockBackfill, run: (n: number) => Promise<void>, floor: number, maxSteps = 400): Promise<void> {
  for (let i = 0; i < maxSteps && missingBlocks(store, 1, floor) > 0; i++) await run(1);
  // Let the last write land and the finish be seen.
  await run(3);
  expect(bf.remaining()).toBe(0);
}

describe('back-filling', () => {
  it('fills a gap at the start and one below the snapshot, with tx records that say the result is unknown', async () => {
    const s = newStore();
    // Blocks 1..4 were executed before a crash (their tx records know results); then a snapshot
    // at 600 covered 5..600; 601..610 were executed after it.
    await putBlocks(s, [...range(1, 4), ...range(601, 610)]);
    const known = certified(2).prePrepare.batch[0]!;
    await s.persistBatch([{ kind: 'tx', key: txIdOf(crypto, known), value: encodeTxRecord({ height: 2, index: 0, committedAt: 5, result: enc.encode('ok') }) }]);
    const h = harness(s, { 0: honest(610), 1: honest(610), 2: honest(610) });
    h.setFloor(608);
    expect(h.bf.remaining()).toBe(596);
    await settle(s, h.bf, h.run, 608);
    expect(findGap(s, 1, 610, 10_000)).toEqual({ gap: null, scannedTo: 610 });
    expect(h.observed.stored).toBe(596);
    expect(h.observed.rejected).toEqual([]);
    // At most 256 blocks per request, never below 5 or above the floor.
    for (const a of h.asked) {
      expect(a.toSeq - a.fromSeq + 1).toBeLessThanOrEqual(256);
      expect(a.fromSeq).toBeGreaterThanOrEqual(5);
      expect(a.toSeq).toBeLessThanOrEqual(600);
    }
    // Every back-filled block is the certified one; its requests are indexed with height and
    // index, result unknown; the record that knew a result is untouched.
    expect(decodeBlock(s.get('block', 300)!)).toEqual(certified(300));
    const req = certified(300).prePrepare.batch[1]!;
    expect(decodeTxRecord(s.get('tx', txIdOf(crypto, req))!)).toEqual({ height: 300, index: 1, committedAt: 0, result: new Uint8Array(0), resultKnown: false });
    expect(decodeTxRecord(s.get('tx', txIdOf(crypto, known))!)).toEqual({ height: 2, index: 0, committedAt: 5, result: enc.encode('ok') });
  });

  it('drops forged, short-quorum, wrong-primary and wrong-seq answers, counts them, and gets the blocks from an honest peer', async () => {
    const cases: { name: string; reason: string; peer: Peer }[] = [
      {
        name: 'forged commit signature',
        reason: 'bad_certificate',
        peer: (req) => ({ kind: 'blocks', from: 0, batches: range(req.fromSeq, req.toSeq).map((seq) => {
          const c = certified(seq);
          return { ...c, commits: [{ ...c.commits[0]!, sig: c.commits[0]!.sig.map((x, i) => (i === 3 ? x ^ 0x40 : x)) }, ...c.commits.slice(1)] };
        }) }),
      },
      { name: 'proposed by a validator that is not the primary of its view', reason: 'bad_certificate', peer: (req) => ({ kind: 'blocks', from: 0, batches: range(req.fromSeq, req.toSeq).map((seq) => certified(seq, { proposer: 1 })) }) },
      { name: 'short quorum', reason: 'bad_certificate', peer: (req) => ({ kind: 'blocks', from: 0, batches: range(req.fromSeq, req.toSeq).map((seq) => certified(seq, { signers: [0, 1] })) }) },
      {
        name: 'a batch swapped under a valid certificate',
        reason: 'bad_certificate',
        peer: (req) => ({ kind: 'blocks', from: 0, batches: range(req.fromSeq, req.toSeq).map((seq) => {
          const c = certified(seq);
          return { ...c, prePrepare: { ...c.prePrepare, batch: certified(seq + 1).prePrepare.batch } };
        }) }),
      },
      { name: 'duplicate signer padding a quorum', reason: 'bad_certificate', peer: (req) => ({ kind: 'blocks', from: 0, batches: range(req.fromSeq, req.toSeq).map((seq) => {
        const c = certified(seq, { signers: [0, 1] });
        return { ...c, commits: [...c.commits, c.commits[1]!] };
      }) }) },
      { name: 'wrong seq (valid block, not the one asked for)', reason: 'wrong_seq', peer: (req) => ({ kind: 'blocks', from: 0, batches: [certified(req.fromSeq + 1)] }) },
      { name: 'more blocks than asked', reason: 'too_many', peer: (req) => ({ kind: 'blocks', from: 0, batches: range(req.fromSeq, req.toSeq + 1).map((seq) => certified(seq)) }) },
    ];
    for (const c of cases) {
      const s = newStore();
      await putBlocks(s, range(21, 25));
      const h = harness(s, { 0: c.peer, 1: honest(25) });
      h.setFloor(25);
      await settle(s, h.bf, h.run, 25);
      expect(h.observed.rejected, c.name).toContain(c.reason);
      expect(h.bf.rejected[c.reason as 'wrong_seq'], c.name).toBeGreaterThan(0);
      for (const seq of range(1, 20)) expect(decodeBlock(s.get('block', seq)!), `${c.name}: block ${seq}`).toEqual(certified(seq));
      expect(h.asked.some((a) => a.to === 1), c.name).toBe(true);
    }
  });

  it('keeps the verified prefix of an answer that goes bad halfway', async () => {
    const s = newStore();
    await putBlocks(s, range(11, 12));
    const half: Peer = (req) => ({ kind: 'blocks', from: 0, batches: range(req.fromSeq, req.toSeq).map((seq) => (seq <= 5 ? certified(seq) : certified(seq, { signers: [0] }))) });
    const h = harness(s, { 0: half });
    h.setFloor(12);
    await h.run(6);
    expect(range(1, 5).every((seq) => s.get('block', seq) !== undefined)).toBe(true);
    expect(s.get('block', 6)).toBeUndefined();
    expect(h.bf.rejected.bad_certificate).toBeGreaterThan(0);
  });

  it('moves on after a timeout or an empty answer, backs off when no peer helps, and never counts unsolicited answers as blocks', async () => {
    const s = newStore();
    await putBlocks(s, range(9, 10));
    const silent: Peer = () => null;
    const lacking: Peer = () => ({ kind: 'blocks', from: 1, batches: [] });
    const h = harness(s, { 0: silent, 1: lacking }, { limits: { requestTimeoutMs: 1_000, requestSpacingMs: 100, retryBackoffMs: 1_000, retryBackoffMsMax: 8_000 } });
    h.setFloor(10);
    await h.run(30, 100);
    expect(h.bf.rejected.timeout).toBeGreaterThan(0);
    expect(h.bf.rejected.empty).toBeGreaterThan(0);
    expect(new Set(h.asked.map((a) => a.to))).toEqual(new Set([0, 1]));
    expect(s.get('block', 1)).toBeUndefined();
    // Backing off: with nobody able to help, requests thin out instead of one every spacing
    // (over 100 simulated seconds, 1000 requests could have gone at the 100 ms spacing).
    const before = h.asked.length;
    await h.run(1000, 100);
    expect(h.asked.length - before).toBeLessThan(100);
    // An answer nobody asked for is dropped, not stored.
    h.bf.onBlocks(2, { kind: 'blocks', from: 2, batches: [certified(1)] });
    expect(h.bf.rejected.unsolicited).toBe(1);
    await h.run(1, 1);
    expect(s.get('block', 1)).toBeUndefined();
    expect(h.bf.remaining()).toBe(8);
  });

  it('writes only when the group commit leaves room', async () => {
    // Busy (safety records queued for this turn): verified blocks wait, however long.
    const s = newStore();
    await putBlocks(s, range(4, 5));
    let state: 'idle' | 'turn-free' | 'busy' = 'busy';
    const h = harness(s, { 0: honest(5) }, { writeState: () => state, limits: { writeDeferMsMax: 200 } });
    h.setFloor(5);
    await h.run(20, 50);
    expect(h.bf.status().pendingWrite).toBe(3);
    expect(s.get('block', 1)).toBeUndefined();
    state = 'idle';
    await h.run(1, 50);
    expect(s.get('block', 3)).toBeDefined();
    expect(h.bf.remaining()).toBe(0);

    // Turn-free (a flush running, nothing queued): waits up to writeDeferMsMax for idle, then writes.
    const s2 = newStore();
    await putBlocks(s2, range(4, 5));
    const h2 = harness(s2, { 0: honest(5) }, { writeState: () => 'turn-free', limits: { writeDeferMsMax: 200 } });
    h2.setFloor(5);
    await h2.run(3, 50); // request + verify at step 0, waiting since step 1
    expect(h2.bf.status().pendingWrite).toBe(3);
    expect(s2.get('block', 1)).toBeUndefined();
    await h2.run(4, 50);
    expect(s2.get('block', 1)).toBeDefined();
  });

  it('does nothing while the replica is not ready (floor 0); a malformed certificate is dropped, not thrown', async () => {
    const s = newStore();
    const h = harness(s, { 0: () => null });
    await h.run(10);
    expect(h.asked).toEqual([]);
    h.setFloor(3);
    await h.run(1);
    expect(h.asked).toEqual([{ to: 0, fromSeq: 1, toSeq: 3 }]);
    // A signer id outside the validator set.
    const c = certified(1);
    expect(() => h.bf.onBlocks(0, { kind: 'blocks', from: 0, batches: [{ ...c, commits: [...c.commits, { ...c.commits[0]!, from: 9 }] }] })).not.toThrow();
    expect(h.bf.rejected.bad_certificate).toBe(1);
    expect(s.get('block', 1)).toBeUndefined();
  });
});
