// Block back-fill: a validator that caught up from a peer's stable checkpoint (a snapshot) never
// executed the batches that checkpoint covers, so its block log has a gap below it. This module
// fetches those blocks from peers, checks each one against its own commit certificate, and stores
// it, so that every validator can serve the whole log. It also serves peers' requests.
//
// Wire: `blocks-request {fromSeq, toSeq}` (at most CODEC_LIMITS.transferBatchesMax = 256 seqs)
// and `blocks {batches}` from @bpci/core's codec, over the authenticated validator links. The
// replica ignores both; the runtime hands them here before it steps the replica.
//
// Serving (BlocksServer): the longest run of consecutive blocks from fromSeq that the store (or,
// in memory mode, the in-memory recent blocks) holds, at most 256 blocks and `answerBytesMax`
// bytes (below a transport frame). Each peer gets a token bucket of requests (default 8 per
// second, burst 8): a request over it is dropped unanswered, so a peer can make this validator
// read at most rate x answerBytesMax bytes per second.
//
// Back-filling (BlockBackfill), driven by the runtime's tick:
//   1. while the replica is in normal mode, find the first gap in the block log in [cursor,
//      floor], floor = the newest stable checkpoint in the store: every block record at or below
//      it went in the same group commit or an earlier one, so it is in the store or was never
//      written (a snapshot covered it); above it, records may still be in flight, and a back-fill
//      write must never race the commit path's write of the same block and its results.
//      `cursor`: every block below it is known present; it only moves forward (blocks are never
//      deleted), so each key is scanned about once, at most `scanKeysPerStep` keys per step;
//   2. ask one peer for the gap's first <= 256 blocks; one request in flight; rotate to the next
//      peer on a timeout, an empty answer or a bad one; after every peer failed in a row, back off;
//   3. verify the answer in chunks of `verifyBlocksPerStep` blocks per tick (a 256-block answer is
//      about a thousand signatures: verified in one go it would stall the event loop, and with it
//      consensus, for tens of ms): each block must have the seq asked for next and pass
//      verifyCommitCertificate (primary of its view, digest binds the batch, distinct signers with
//      a quorum of stake, signatures valid). The verified prefix is kept, the rest dropped, counted
//      and logged; nothing a peer sends can throw out of here;
//   4. write verified blocks in store transactions of at most `writeBlocksMax` blocks /
//      `writeBytesMax` bytes, one in flight, when the runtime's group commit is idle (no safety
//      records waiting, no flush running); after waiting `writeDeferMsMax` it writes as soon as no
//      safety write is queued for the current turn, so it never shares a transaction with one
//      (lmdb-js batches the writes of one event-loop turn) and delays the next one by at most
//      one bounded transaction.
// Memory held: one answer (<= 256 blocks, <= answerBytesMax of the sender's) plus its verified
// blocks waiting to be written.
//
// Transaction index of back-filled blocks: the certificate proves the requests, not their results,
// and this validator cannot re-execute them (the state before the snapshot is gone). Each request
// gets a tx record with its height and index, committed-at 0 and the flag "result unknown"
// (records.ts); the API then answers `result_known: false` without a result. An existing tx record
// is never overwritten (it is at least as good: it knows the result).

import { CODEC_LIMITS, encodeMessage, verifyCommitCertificate, type Blocks, type BlocksRequest, type CertifiedBatch, type CryptoBackend, type ValidatorSet } from '@bpci/core';
import type { Store, StoreRecord } from '../storage/store.js';
import type { Logger } from '../log.js';
import { decodeBlock, encodeCertified, encodeTxRecord, txIdOf } from './records.js';

/** Largest answer this validator sends (further capped below the transport frame). */
export const BLOCKS_ANSWER_BYTES_MAX = 4 * 1024 * 1024;
/** Room left in a frame for the answer's header and the MAC. */
const ANSWER_FRAME_MARGIN_BYTES = 4096;

// ------------------------------------------------------------------------------- gap finding

export interface Gap {
  readonly fromSeq: number;
  readonly toSeq: number;
}

/**
 * The first gap of the block log in [from, floor], reading at most `keysMax` keys. `scannedTo`:
 * every block in [from, scannedTo] is present (the next scan may start after it).
 */
export function findGap(store: Pick<Store, 'keys'>, from: number, floor: number, keysMax: number): { gap: Gap | null; scannedTo: number } {
  if (from < 1) throw new RangeError(`findGap: from must be >= 1, got ${from}`);
  if (from > floor) return { gap: null, scannedTo: floor };
  const keys = store.keys('block', { start: from, end: floor + 1, limit: keysMax });
  let expected = from;
  for (const k of keys) {
    if (typeof k !== 'number') break; // numbers sort before strings: the numeric range is over
    if (k > expected) return { gap: { fromSeq: expected, toSeq: k - 1 }, scannedTo: expected - 1 };
    expected = k + 1;
  }
  if (keys.length < keysMax && expected <= floor) return { gap: { fromSeq: expected, toSeq: floor }, scannedTo: expected - 1 };
  return { gap: null, scannedTo: expected - 1 };
}

/** Blocks missing in [1, floor], given that every block below `cursor` is present. */
export function missingBlocks(store: Pick<Store, 'count'>, cursor: number, floor: number): number {
  if (cursor > floor) return 0;
  return Math.max(0, floor - cursor + 1 - store.count('block', { start: cursor, end: floor + 1 }));
}

// ------------------------------------------------------------------------------- serving

/** Where served blocks come from: consecutive blocks from `fromSeq`, each with its encoded size. */
export interface BlockSource {
  read(fromSeq: number, toSeq: number, bytesMax: number): CertifiedBatch[];
}

/** The store's block log (a damaged record ends the run, it is never sent). */
export function storeBlockSource(store: Pick<Store, 'range'>): BlockSource {
  return {
    read(fromSeq, toSeq, bytesMax) {
      const out: CertifiedBatch[] = [];
      let bytes = 0;
      let expected = fromSeq;
      for (const e of store.range('block', { start: fromSeq, end: toSeq + 1, limit: toSeq - fromSeq + 1 })) {
        if (e.key !== expected || bytes + e.value.length > bytesMax) break;
        let cert: CertifiedBatch;
        try {
          cert = decodeBlock(e.value);
        } catch {
          break;
        }
        if (cert.prePrepare.seq !== expected) break;
        out.push(cert);
        bytes += e.value.length;
        expected++;
      }
      return out;
    },
  };
}

/** Memory mode: the recent committed blocks the runtime keeps (BLOCK_INDEX_MAX of them). */
export function memoryBlockSource(recent: ReadonlyMap<number, { readonly cert: CertifiedBatch }>): BlockSource {
  return {
    read(fromSeq, toSeq, bytesMax) {
      const out: CertifiedBatch[] = [];
      let bytes = 0;
      for (let seq = fromSeq; seq <= toSeq; seq++) {
        const b = recent.get(seq);
        if (!b) break;
        const size = encodeCertified(b.cert, 0).length;
        if (bytes + size > bytesMax) break;
        out.push(b.cert);
        bytes += size;
      }
      return out;
    },
  };
}

export interface BlocksServerOptions {
  readonly self: number;
  readonly source: BlockSource;
  /** Largest encoded answer (default BLOCKS_ANSWER_BYTES_MAX, or less to fit `frameBytesMax`). */
  readonly answerBytesMax?: number;
  /** Transport frame bound; the answer stays below it. */
  readonly frameBytesMax?: number;
  /** Requests per second each peer may make, and the burst (default 8 and 8). */
  readonly requestsPerSecond?: number;
  readonly requestsBurst?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export type ServeResult = { kind: 'served'; bytes: Uint8Array; blocks: number } | { kind: 'throttled' };

export class BlocksServer {
  readonly answerBytesMax: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly buckets = new Map<number, { tokens: number; at: number; warnedAt: number }>();

  constructor(private readonly opts: BlocksServerOptions) {
    const frameRoom = opts.frameBytesMax === undefined ? Infinity : opts.frameBytesMax - ANSWER_FRAME_MARGIN_BYTES;
    this.answerBytesMax = Math.max(0, Math.min(opts.answerBytesMax ?? BLOCKS_ANSWER_BYTES_MAX, frameRoom));
    this.rate = opts.requestsPerSecond ?? 8;
    this.burst = opts.requestsBurst ?? 8;
    this.now = opts.now ?? Date.now;
  }

  /** Answers `req` from `from` (an authenticated peer), or says it is over its rate. */
  serve(from: number, req: BlocksRequest): ServeResult {
    if (!this.take(from)) return { kind: 'throttled' };
    // The codec already bounds the range (<= 256, fromSeq >= 1); clamp anyway.
    const toSeq = Math.min(req.toSeq, req.fromSeq + CODEC_LIMITS.transferBatchesMax - 1);
    const batches = toSeq >= req.fromSeq ? this.opts.source.read(req.fromSeq, toSeq, this.answerBytesMax) : [];
    let bytes = encodeMessage({ kind: 'blocks', batches, from: this.opts.self } satisfies Blocks);
    // The source bounds the sum of the blocks' own encodings; the answer's framing adds a few
    // bytes. Should that still overshoot, drop blocks from the end.
    while (bytes.length > this.answerBytesMax + ANSWER_FRAME_MARGIN_BYTES / 2 && batches.length > 0) {
      batches.pop();
      bytes = encodeMessage({ kind: 'blocks', batches, from: this.opts.self } satisfies Blocks);
    }
    return { kind: 'served', bytes, blocks: batches.length };
  }

  private take(peer: number): boolean {
    const t = this.now();
    let b = this.buckets.get(peer);
    if (!b) {
      b = { tokens: this.burst, at: t, warnedAt: -Infinity };
      this.buckets.set(peer, b); // one entry per validator id that ever asked: bounded by the set
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    if (t - b.warnedAt >= 10_000) {
      b.warnedAt = t;
      this.opts.logger?.warn({ peer, requestsPerSecond: this.rate }, 'blocks requests from this peer over their rate; dropping them');
    }
    return false;
  }
}

// ------------------------------------------------------------------------------- back-filling

export interface BackfillLimits {
  /** Blocks asked for per request (<= CODEC_LIMITS.transferBatchesMax). */
  readonly requestBlocksMax: number;
  /** A request unanswered after this long goes to the next peer. */
  readonly requestTimeoutMs: number;
  /** Shortest time between two requests (an honest requester stays below the servers' rate). */
  readonly requestSpacingMs: number;
  /** After every peer failed in a row: wait this long, doubling up to retryBackoffMsMax. */
  readonly retryBackoffMs: number;
  readonly retryBackoffMsMax: number;
  /** Blocks whose certificates are verified per step. */
  readonly verifyBlocksPerStep: number;
  /** Blocks / bytes per store transaction. */
  readonly writeBlocksMax: number;
  readonly writeBytesMax: number;
  /** Longest a verified chunk waits for a fully idle group commit (see the header). */
  readonly writeDeferMsMax: number;
  /** Block keys read per gap scan. */
  readonly scanKeysPerStep: number;
  /** With no gap found, look again this often. */
  readonly idleScanMs: number;
}

export const BACKFILL_DEFAULTS: BackfillLimits = {
  requestBlocksMax: CODEC_LIMITS.transferBatchesMax,
  requestTimeoutMs: 3_000,
  requestSpacingMs: 150,
  retryBackoffMs: 1_000,
  retryBackoffMsMax: 30_000,
  verifyBlocksPerStep: 32,
  writeBlocksMax: 128,
  writeBytesMax: 2 * 1024 * 1024,
  writeDeferMsMax: 200,
  scanKeysPerStep: 16_384,
  idleScanMs: 200,
};

export type BackfillRejectReason =
  | 'unsolicited' // an answer nobody asked this peer for (or one that arrived after its timeout)
  | 'empty' // the peer has none of them (it may have a gap of its own): not a fault
  | 'too_many' // more blocks than asked for
  | 'wrong_seq' // a block that is not the next seq asked for
  | 'bad_certificate' // verifyCommitCertificate said no
  | 'timeout'
  | 'write_failed';

export interface BackfillObserver {
  /** Blocks verified and durably stored. */
  stored?(blocks: number): void;
  rejected?(reason: BackfillRejectReason): void;
}

export interface BackfillOptions {
  readonly self: number;
  readonly validators: ValidatorSet;
  readonly crypto: Pick<CryptoBackend, 'ed25519VerifyBatch' | 'blake3'>;
  readonly store: Pick<Store, 'keys' | 'count' | 'get' | 'persistBatch'>;
  /** Validator ids this one may ask, in rotation order (every other validator). */
  readonly peers: readonly number[];
  /** Whether there is an authenticated link to `peer` now. */
  readonly connected: (peer: number) => boolean;
  /** Sends an encoded message to a peer. */
  readonly send: (peer: number, bytes: Uint8Array) => void;
  /** Highest seq whose block must be in the log (the newest stable checkpoint in the store). */
  readonly floor: () => number;
  /** Whether to ask peers now (the replica is not catching up itself); default always. */
  readonly ready?: () => boolean;
  /** 'idle': nothing of the runtime's group commit pending or running; 'turn-free': no safety write queued this turn. */
  readonly writeState: () => 'idle' | 'turn-free' | 'busy';
  readonly now?: () => number;
  readonly logger?: Logger;
  readonly observer?: BackfillObserver;
  readonly limits?: Partial<BackfillLimits>;
}

interface Inflight {
  readonly peer: number;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly sentAt: number;
}

interface Received {
  readonly peer: number;
  readonly batches: readonly CertifiedBatch[];
  next: number;
  expectedSeq: number;
}

export interface BackfillStatus {
  readonly cursor: number;
  readonly inflight: { peer: number; fromSeq: number; toSeq: number } | null;
  readonly pendingVerify: number;
  readonly pendingWrite: number;
  readonly stored: number;
  readonly rejected: Readonly<Record<BackfillRejectReason, number>>;
  readonly running: boolean;
}

export class BlockBackfill {
  private readonly limits: BackfillLimits;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  /** Every block below it is in the store. */
  private cursor = 1;
  private inflight: Inflight | null = null;
  private received: Received | null = null;
  private verified: CertifiedBatch[] = [];
  private writing: Promise<void> | null = null;
  private writeWaitSince: number | null = null;
  private peerCursor = 0;
  private failuresInRow = 0;
  private backoffMs: number;
  private notBefore = 0;
  private nextScanAt = 0;
  private run: { startedAt: number; fromSeq: number; toSeq: number; missing: number; stored: number } | null = null;
  private stopped = false;
  private readonly warnedAt = new Map<BackfillRejectReason, number>();
  stored = 0;
  readonly rejected: Record<BackfillRejectReason, number> = {
    unsolicited: 0,
    empty: 0,
    too_many: 0,
    wrong_seq: 0,
    bad_certificate: 0,
    timeout: 0,
    write_failed: 0,
  };

  constructor(private readonly opts: BackfillOptions) {
    this.limits = { ...BACKFILL_DEFAULTS, ...opts.limits };
    if (this.limits.requestBlocksMax < 1 || this.limits.requestBlocksMax > CODEC_LIMITS.transferBatchesMax) {
      throw new RangeError(`requestBlocksMax must be in [1, ${CODEC_LIMITS.transferBatchesMax}]`);
    }
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
    this.backoffMs = this.limits.retryBackoffMs;
  }

  /** Blocks missing from the log at or below the current floor. */
  remaining(): number {
    return missingBlocks(this.opts.store, this.cursor, this.opts.floor());
  }

  status(): BackfillStatus {
    const f = this.inflight;
    return {
      cursor: this.cursor,
      inflight: f ? { peer: f.peer, fromSeq: f.fromSeq, toSeq: f.toSeq } : null,
      pendingVerify: this.received ? this.received.batches.length - this.received.next : 0,
      pendingWrite: this.verified.length,
      stored: this.stored,
      rejected: { ...this.rejected },
      running: this.run !== null,
    };
  }

  /** One step of work; the runtime calls it on its tick. Never throws. */
  tick(): void {
    if (this.stopped) return;
    try {
      const t = this.now();
      if (this.received) this.verifyChunk();
      if (this.verified.length > 0 && this.writing === null) this.maybeWrite(t);
      if (this.inflight && t - this.inflight.sentAt >= this.limits.requestTimeoutMs) {
        const f = this.inflight;
        this.inflight = null;
        this.reject('timeout', f.peer, `no answer to blocks ${f.fromSeq}..${f.toSeq} within ${this.limits.requestTimeoutMs} ms`);
        this.peerFailed();
      }
      if (!this.inflight && !this.received && this.verified.length === 0 && this.writing === null) this.maybeRequest(t);
    } catch (e) {
      this.log?.error({ err: e instanceof Error ? e.message : String(e) }, 'block back-fill step failed');
    }
  }

  /** A 'blocks' message from authenticated peer `from`. Never throws. */
  onBlocks(from: number, msg: Blocks): void {
    if (this.stopped) return;
    try {
      this.takeAnswer(from, msg);
    } catch (e) {
      this.received = null;
      this.log?.error({ peer: from, err: e instanceof Error ? e.message : String(e) }, 'block back-fill: handling an answer failed');
    }
  }

  private takeAnswer(from: number, msg: Blocks): void {
    const f = this.inflight;
    if (!f || f.peer !== from) {
      this.reject('unsolicited', from, `${msg.batches.length} blocks nobody asked this peer for`);
      return;
    }
    this.inflight = null;
    if (msg.batches.length === 0) {
      this.rejected.empty++;
      this.opts.observer?.rejected?.('empty');
      this.log?.debug({ peer: from, fromSeq: f.fromSeq, toSeq: f.toSeq }, 'peer has none of the blocks asked for');
      this.peerFailed();
      return;
    }
    if (msg.batches.length > f.toSeq - f.fromSeq + 1) {
      this.reject('too_many', from, `${msg.batches.length} blocks for ${f.fromSeq}..${f.toSeq}`);
      this.peerFailed();
      return;
    }
    this.received = { peer: from, batches: msg.batches, next: 0, expectedSeq: f.fromSeq };
    this.verifyChunk();
  }

  /** Resolves once the write in flight (if any) has landed. */
  async settled(): Promise<void> {
    await this.writing;
  }

  /** Stops; resolves once a write in flight has landed (call before closing the store). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.received = null;
    this.verified = [];
    this.inflight = null;
    await this.writing;
  }

  // ----------------------------------------------------------------------------- internals

  private verifyChunk(): void {
    const r = this.received!;
    const end = Math.min(r.batches.length, r.next + this.limits.verifyBlocksPerStep);
    for (; r.next < end; r.next++) {
      const b = r.batches[r.next]!;
      const seq = b.prePrepare.seq;
      if (seq !== r.expectedSeq) {
        this.received = null;
        this.reject('wrong_seq', r.peer, `block ${seq} where ${r.expectedSeq} was due`);
        this.peerFailed();
        return;
      }
      let verdict: { ok: true } | { ok: false; reason: string };
      try {
        verdict = verifyCommitCertificate(b, this.opts.validators, this.opts.crypto);
      } catch (e) {
        verdict = { ok: false, reason: e instanceof Error ? e.message : String(e) };
      }
      if (!verdict.ok) {
        this.received = null;
        this.reject('bad_certificate', r.peer, `block ${seq}: ${verdict.reason}`);
        this.peerFailed();
        return;
      }
      this.verified.push(b);
      r.expectedSeq++;
    }
    if (r.next >= r.batches.length) {
      this.received = null;
      // A good answer: keep asking this peer, and forget earlier failures.
      this.failuresInRow = 0;
      this.backoffMs = this.limits.retryBackoffMs;
    }
  }

  private maybeWrite(t: number): void {
    const state = this.opts.writeState();
    if (state !== 'idle') {
      this.writeWaitSince ??= t;
      if (state === 'busy' || t - this.writeWaitSince < this.limits.writeDeferMsMax) return;
    }
    this.writeWaitSince = null;
    const store = this.opts.store;
    const records: StoreRecord[] = [];
    const txSeen = new Set<string>();
    let bytes = 0;
    let blocks = 0;
    while (blocks < this.verified.length && blocks < this.limits.writeBlocksMax) {
      const cert = this.verified[blocks]!;
      const seq = cert.prePrepare.seq;
      const value = encodeCertified(cert, this.opts.self);
      if (blocks > 0 && bytes + value.length > this.limits.writeBytesMax) break;
      blocks++;
      bytes += value.length;
      if (store.get('block', seq) !== undefined) continue; // written meanwhile (by the commit path)
      records.push({ kind: 'block', key: seq, value });
      cert.prePrepare.batch.forEach((req, index) => {
        const id = txIdOf(this.opts.crypto, req);
        // A record that exists knows at least as much (the result, if this validator executed
        // it); a request repeated in a later block keeps its first height, where it executed.
        if (txSeen.has(id) || store.get('tx', id) !== undefined) return;
        txSeen.add(id);
        records.push({ kind: 'tx', key: id, value: encodeTxRecord({ height: seq, index, committedAt: 0, result: new Uint8Array(0), resultKnown: false }) });
      });
    }
    const chunk = this.verified.splice(0, blocks);
    const written = records.filter((r) => r.kind === 'block').length;
    const first = chunk[0]!.prePrepare.seq;
    const last = chunk[chunk.length - 1]!.prePrepare.seq;
    this.writing = store.persistBatch(records).then(
      () => {
        this.writing = null;
        this.stored += written;
        if (this.run) this.run.stored += written;
        if (written > 0) this.opts.observer?.stored?.(written);
        this.log?.debug({ fromSeq: first, toSeq: last, blocks: written }, 'back-filled blocks stored');
      },
      (e: unknown) => {
        this.writing = null;
        // Not a safety write: the blocks are found missing again and fetched again after a pause.
        this.reject('write_failed', this.opts.self, `blocks ${first}..${last}: ${e instanceof Error ? e.message : String(e)}`);
        this.verified = [];
        this.notBefore = this.now() + this.backoffMs;
      },
    );
  }

  private maybeRequest(t: number): void {
    if (t < this.notBefore || t < this.nextScanAt) return;
    if (this.opts.ready && !this.opts.ready()) return;
    const floor = this.opts.floor();
    if (floor < 1) return;
    const { gap, scannedTo } = findGap(this.opts.store, this.cursor, floor, this.limits.scanKeysPerStep);
    this.cursor = Math.max(this.cursor, scannedTo + 1);
    if (gap === null) {
      if (this.cursor > floor) {
        if (this.run) this.finishRun(t);
        this.nextScanAt = t + this.limits.idleScanMs;
      }
      return; // (not at the floor yet: the next step scans on)
    }
    const peer = this.choosePeer();
    if (peer === null) return;
    if (this.run === null) {
      const missing = missingBlocks(this.opts.store, this.cursor, floor);
      this.run = { startedAt: t, fromSeq: gap.fromSeq, toSeq: gap.toSeq, missing, stored: 0 };
      this.log?.info({ fromSeq: gap.fromSeq, toSeq: gap.toSeq, missing, floor }, 'block back-fill started');
    }
    const toSeq = Math.min(gap.toSeq, gap.fromSeq + this.limits.requestBlocksMax - 1);
    const req: BlocksRequest = { kind: 'blocks-request', fromSeq: gap.fromSeq, toSeq, from: this.opts.self };
    this.inflight = { peer, fromSeq: gap.fromSeq, toSeq, sentAt: t };
    this.notBefore = t + this.limits.requestSpacingMs;
    this.opts.send(peer, encodeMessage(req));
  }

  private finishRun(t: number): void {
    const r = this.run!;
    this.run = null;
    this.log?.info({ fromSeq: r.fromSeq, toSeq: r.toSeq, missing: r.missing, stored: r.stored, ms: t - r.startedAt }, 'block back-fill finished: no gap below the stable checkpoint');
  }

  /** The current peer in rotation if linked, else the next linked one; null when none is. */
  private choosePeer(): number | null {
    const peers = this.opts.peers;
    for (let k = 0; k < peers.length; k++) {
      const i = (this.peerCursor + k) % peers.length;
      if (this.opts.connected(peers[i]!)) {
        this.peerCursor = i;
        return peers[i]!;
      }
    }
    return null;
  }

  private peerFailed(): void {
    const n = this.opts.peers.length;
    if (n > 0) this.peerCursor = (this.peerCursor + 1) % n;
    this.failuresInRow++;
    if (this.failuresInRow >= n) {
      this.failuresInRow = 0;
      this.notBefore = this.now() + this.backoffMs;
      this.log?.warn({ cursor: this.cursor, retryInMs: this.backoffMs }, 'no peer served the missing blocks; backing off');
      this.backoffMs = Math.min(this.limits.retryBackoffMsMax, this.backoffMs * 2);
    }
  }

  private reject(reason: BackfillRejectReason, peer: number, detail: string): void {
    this.rejected[reason]++;
    this.opts.observer?.rejected?.(reason);
    // One line per reason per 10 s at most (a faulty peer must not fill the log); the counts are exact.
    const t = this.now();
    const last = this.warnedAt.get(reason);
    if (last !== undefined && t - last < 10_000) return;
    this.warnedAt.set(reason, t);
    this.log?.warn({ peer, reason, detail, count: this.rejected[reason] }, 'block back-fill: answer dropped');
  }
}
