// Maps the replica's PersistRecord union onto the Store's generic (kind, key, bytes) records,
// and rebuilds a RestoredState from the store and the safety log after a restart.
//
// Since issue 10 the validator writes its safety records ('vote', 'view', 'prepared') to the
// safety log (safety-log.ts, a write-ahead log) and only 'committed' and 'checkpoint' here. The
// 'safety' and 'cert' kinds below are still read (a data directory written before) and still
// encoded by toStoreRecords for such records, but the node no longer passes it any.
//
// Layout (kind / key -> value):
//   safety / "reservation" -> u53 view, u53 upTo (SafetyRules' reservation; the node writes it to
//                             the safety log, this key is the legacy layout's)
//   safety / "view"        -> u53 highest view SafetyRules signed a view-change for, then (since
//                             issue 14) the timeout certificate for view - 1 it rests on, encoded
//                             as a 'timeout-cert' message (absent: none, or written before)
//   safety / "v:<seq>:<k>" -> vote record (kind, view, seq, digest) for slot seq, k = pp|p|c
//   cert   / seq           -> the prepared certificate this validator signed its commit for seq on
//                             (the highest view: a later one overwrites), so a view-change after a
//                             restart still reports it (see @bpci/core's SafetyRules)
//   block  / seq           -> canonical encoding of the CertifiedBatch (a 'state' message holding
//                             only that batch: the codec's strict decoder checks it on the way back)
//   checkpoint / seq       -> the stable checkpoint with its snapshot and quorum proof
//   tx / <tx id hex>       -> (height, index in the batch, committed-at ms, result), written in the
//                             same transaction as its block, so the API answers after a restart.
//                             A block back-filled from a peer (backfill.ts: below a snapshot this
//                             validator caught up from, so it never executed it) writes
//                             (height, index, 0, empty) plus a trailing flags byte 1 = "result
//                             unknown": the certificate proves the block, not the results, and the
//                             state before it is gone. Records without the byte have a known result.
// Older checkpoints and prepared certificates at or below a stable checkpoint's seq are deleted in
// the same write that stores the checkpoint, so they stay bounded by the watermark window; blocks
// (the API's block log), votes (tiny) and the tx index stay.

import { CodecError, Reader, Writer } from '@bpci/core/codec/wire';
import {
  CODEC_LIMITS,
  DurableState,
  decodeMessage,
  decodePreparedCert,
  decodeTimeoutCert,
  encodeMessage,
  encodePreparedCert,
  encodeTimeoutCert,
  type CertifiedBatch,
  type ClientRequest,
  type CommittedBatch,
  type CryptoBackend,
  type PersistRecord,
  type PreparedCert,
  type RestoredState,
  type StableCheckpoint,
  type TimeoutCert,
  type VoteRecord,
} from '@bpci/core';
import type { Store, StoreRecord } from '../storage/store.js';

const VOTE_KIND = { 'pre-prepare': 1, prepare: 2, commit: 3 } as const;
const VOTE_KIND_BY_TAG = ['', 'pre-prepare', 'prepare', 'commit'] as const;
const VOTE_SHORT = { 'pre-prepare': 'pp', prepare: 'p', commit: 'c' } as const;
/** Votes kept in the safety record: older slots are below every watermark and can never be re-signed. */
const RESTORE_BLOCKS_MAX = 1_000_000;
/**
 * Prepared certificates deleted per checkpoint write: at most the watermark window's worth exist
 * below it (anything left over by a crash between checkpoints goes with the next one, and restore
 * ignores certificates at or below its checkpoint).
 */
const PRUNE_CERTS_MAX = 16_384;

export function encodeVote(v: VoteRecord): Uint8Array {
  const w = new Writer(64);
  w.u8(VOTE_KIND[v.kind]);
  w.u53(v.view);
  w.u53(v.seq);
  w.fixed(v.digest, 32);
  return w.finish();
}

export function decodeVote(b: Uint8Array): VoteRecord {
  const r = new Reader(b);
  const tag = r.u8('vote kind');
  const kind = VOTE_KIND_BY_TAG[tag];
  if (kind === undefined || kind === '') throw new CodecError('bad-tag', `vote record kind ${tag}`);
  const view = r.u53('view');
  const seq = r.u53('seq');
  const digest = r.fixed(32, 'digest');
  r.end();
  return { kind, view, seq, digest };
}

function encodeU53(n: number): Uint8Array {
  const w = new Writer(8);
  w.u53(n);
  return w.finish();
}

export function encodeViewRecord(view: number, justification: TimeoutCert | null): Uint8Array {
  const head = encodeU53(view);
  if (justification === null) return head;
  const tc = encodeTimeoutCert(justification);
  const out = new Uint8Array(head.length + tc.length);
  out.set(head, 0);
  out.set(tc, head.length);
  return out;
}

export function decodeViewRecord(b: Uint8Array): { view: number; justification: TimeoutCert | null } {
  if (b.length < 8) throw new CodecError('truncated', `view record of ${b.length} bytes`);
  const view = new Reader(b.subarray(0, 8)).u53('view');
  return { view, justification: b.length > 8 ? decodeTimeoutCert(b.subarray(8)) : null };
}

export function encodeReservation(view: number, upTo: number): Uint8Array {
  const w = new Writer(16);
  w.u53(view);
  w.u53(upTo);
  return w.finish();
}

export function decodeReservation(b: Uint8Array): { view: number; upTo: number } {
  const r = new Reader(b);
  const view = r.u53('view');
  const upTo = r.u53('upTo');
  r.end();
  return { view, upTo };
}

/** A block record's value: a 'state' message holding only `cert`. */
export function encodeCertified(cert: CertifiedBatch, from: number): Uint8Array {
  return encodeMessage({ kind: 'state', checkpoint: null, batches: [cert], newView: null, from });
}

function encodeCheckpoint(cp: StableCheckpoint, from: number): Uint8Array {
  return encodeMessage({ kind: 'state', checkpoint: cp, batches: [], newView: null, from });
}

/** The API's transaction id: hex of BLAKE3 of the request's canonical encoding. */
export function txIdOf(crypto: Pick<CryptoBackend, 'blake3'>, r: ClientRequest): string {
  const d = crypto.blake3(encodeMessage(r));
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex');
}

export interface TxRecord {
  readonly height: number;
  readonly index: number;
  /** Wall-clock ms when it committed here; 0 when unknown (back-filled). */
  readonly committedAt: number;
  readonly result: Uint8Array;
  /**
   * False for a transaction of a back-filled block: this validator never executed it, so it does
   * not know the result (`result` is then empty and means nothing). Absent = true.
   */
  readonly resultKnown?: boolean;
}

const TX_FLAG_RESULT_UNKNOWN = 1;

export function encodeTxRecord(t: TxRecord): Uint8Array {
  const w = new Writer(33 + t.result.length);
  w.u53(t.height);
  w.u32(t.index);
  w.u53(t.committedAt);
  w.bytes(t.result, CODEC_LIMITS.resultBytesMax);
  // Records of executed transactions keep the original layout (no flags byte).
  if (t.resultKnown === false) w.u8(TX_FLAG_RESULT_UNKNOWN);
  return w.finish();
}

export function decodeTxRecord(b: Uint8Array): TxRecord {
  const r = new Reader(b);
  const height = r.u53('height');
  const index = r.u32('index');
  const committedAt = r.u53('committedAt');
  const result = r.bytes(CODEC_LIMITS.resultBytesMax, 'result');
  let resultKnown = true;
  if (r.remaining > 0) {
    const flags = r.u8('tx flags');
    if (flags !== TX_FLAG_RESULT_UNKNOWN) throw new CodecError('bad-value', `tx record flags ${flags}`);
    resultKnown = false;
  }
  r.end();
  return resultKnown ? { height, index, committedAt, result } : { height, index, committedAt, result, resultKnown };
}

/** With `tx`, committed batches also write one transaction-index record per request. */
export interface TxIndexing {
  readonly crypto: Pick<CryptoBackend, 'blake3'>;
  /** Wall clock (ms) recorded as committed-at: the API's, not consensus data. */
  readonly now: () => number;
}

/** Store records for one group of replica outputs (in order). */
export function toStoreRecords(records: readonly PersistRecord[], self: number, store: Store, tx?: TxIndexing): StoreRecord[] {
  const out: StoreRecord[] = [];
  for (const rec of records) {
    switch (rec.kind) {
      case 'vote':
        out.push({ kind: 'safety', key: `v:${rec.vote.seq}:${VOTE_SHORT[rec.vote.kind]}`, value: encodeVote(rec.vote) });
        break;
      case 'view':
        out.push({ kind: 'safety', key: 'view', value: encodeViewRecord(rec.view, rec.justification) });
        break;
      case 'reservation':
        out.push({ kind: 'safety', key: 'reservation', value: encodeReservation(rec.view, rec.upTo) });
        break;
      case 'prepared':
        out.push({ kind: 'cert', key: rec.cert.prePrepare.seq, value: encodePreparedCert(rec.cert) });
        break;
      case 'committed': {
        const b = rec.batch;
        out.push({ kind: 'block', key: b.seq, value: encodeCertified(b.cert, self) });
        if (tx !== undefined) {
          const committedAt = tx.now();
          b.requests.forEach((req, index) => {
            const value = encodeTxRecord({ height: b.seq, index, committedAt, result: b.results[index] ?? new Uint8Array(0) });
            out.push({ kind: 'tx', key: txIdOf(tx.crypto, req), value });
          });
        }
        break;
      }
      case 'checkpoint': {
        const seq = rec.checkpoint.seq;
        out.push({ kind: 'checkpoint', key: seq, value: encodeCheckpoint(rec.checkpoint, self) });
        // Truncate older checkpoints and the prepared certificates it covers (a view-change
        // reports only seqs above its stable checkpoint). Blocks stay as the block log; votes
        // below the checkpoint can never be re-signed (watermarks) but are tiny and keep the
        // "never sign twice" record complete, so they stay too.
        for (const e of store.range('checkpoint', { end: seq, limit: 64 })) out.push({ kind: 'checkpoint', key: e.key, value: null });
        for (const e of store.range('cert', { end: seq + 1, limit: PRUNE_CERTS_MAX })) out.push({ kind: 'cert', key: e.key, value: null });
        break;
      }
      default: {
        const never: never = rec;
        throw new Error(`unknown persist record ${(never as { kind: string }).kind}`);
      }
    }
  }
  return out;
}

export function decodeBlock(bytes: Uint8Array): CertifiedBatch {
  const m = decodeMessage(bytes);
  if (m.kind !== 'state' || m.batches.length !== 1) throw new CodecError('bad-tag', 'block record is not a single certified batch');
  return m.batches[0]!;
}

export function committedFromCert(cert: CertifiedBatch): CommittedBatch {
  const pp = cert.prePrepare;
  return { seq: pp.seq, view: pp.view, digest: pp.digest, requests: pp.batch, results: [], cert };
}

/**
 * Rebuilds what the replica needs after a restart; null when there is nothing (first start).
 * One rule for every runtime (core kit/durable.ts DurableState, as in the simulator): the safety
 * records come first, in the order they were written (legacy ones from the store's 'safety' and
 * 'cert' kinds, written before the safety log existed, then `safety`, the safety log's), then the
 * newest stable checkpoint (which prunes what it covers), then the blocks above it.
 */
export function loadRestoredState(store: Store, safety: readonly PersistRecord[] = []): RestoredState | null {
  const d = new DurableState();
  let any = safety.length > 0;
  const legacy: PersistRecord[] = [];
  for (let start: string | undefined = undefined; ; ) {
    const page = store.range('safety', { start: start ?? '', limit: 4096 });
    for (const e of page) {
      any = true;
      if (e.key === 'view') legacy.push({ kind: 'view', ...decodeViewRecord(e.value) });
      else if (e.key === 'reservation') legacy.push({ kind: 'reservation', ...decodeReservation(e.value) });
      else legacy.push({ kind: 'vote', vote: decodeVote(e.value) });
    }
    if (page.length < 4096) break;
    start = `${String(page[page.length - 1]!.key)}\u0000`;
  }
  const cpEntry = store.range('checkpoint', { reverse: true, limit: 1 })[0];
  let checkpoint: StableCheckpoint | null = null;
  if (cpEntry) {
    const m = decodeMessage(cpEntry.value);
    if (m.kind !== 'state' || m.checkpoint === null) throw new CodecError('bad-tag', 'checkpoint record is malformed');
    checkpoint = m.checkpoint;
    any = true;
  }
  const from = (checkpoint?.seq ?? 0) + 1;
  for (const e of store.range('cert', { start: from, limit: RESTORE_BLOCKS_MAX })) {
    legacy.push({ kind: 'prepared', cert: decodePreparedCert(e.value) });
    any = true;
  }
  d.apply(legacy);
  d.apply(safety);
  if (checkpoint !== null) d.apply([{ kind: 'checkpoint', checkpoint }]);
  for (const e of store.range('block', { start: from, limit: RESTORE_BLOCKS_MAX })) {
    d.apply([{ kind: 'committed', batch: committedFromCert(decodeBlock(e.value)) }]);
    any = true;
  }
  return any ? d.restored() : null;
}
