// Canonical binary codec for every PBFT message: what is signed, hashed and sent.
//
// Contract: encodeMessage is a function (one encoding per value); decodeMessage accepts exactly
// the encodings encodeMessage produces and throws CodecError on anything else (truncated,
// oversized, unknown tag, out-of-range value, non-canonical string, trailing bytes). Every size
// has a named maximum in CODEC_LIMITS, checked before allocation, so a hostile frame cannot make
// the decoder allocate more than the frame's own size.
//
// Layout: u8 tag, then fields in declaration order; integers big-endian (u16 validator ids, u53
// views/seqs as 8 bytes); variable fields u32-length-prefixed; signatures last (64 bytes).

import type {
  Blocks,
  BlocksRequest,
  CertifiedBatch,
  Checkpoint,
  ClientRequest,
  Commit,
  Digest,
  Message,
  NewView,
  PrePrepare,
  Prepare,
  PreparedCert,
  Reply,
  SignedStatement,
  StableCheckpoint,
  StateTransfer,
  Timeout,
  TimeoutCert,
  ViewChange,
  Vote,
} from '../consensus/types.js';
import { CodecError, Reader, Writer, encodeWith, utf8Encode } from './wire.js';

export { CodecError } from './wire.js';
export type { CodecErrorCode } from './wire.js';

export const CODEC_LIMITS = {
  clientIdBytesMax: 64,
  /** A session id, sessionOf(request): clientId, '@', 64 hex digits of the client's key. */
  sessionBytesMax: 64 + 1 + 64,
  opBytesMax: 64 * 1024,
  resultBytesMax: 64 * 1024,
  batchRequestsMax: 4096,
  /** Signers in one certificate: at most one message per validator. */
  certSignersMax: 256,
  /** Prepared certificates in one view-change (bounded by the watermark window). */
  preparedCertsMax: 1024,
  /** Pre-prepares in one new-view. */
  newViewProposalsMax: 1024,
  snapshotBytesMax: 64 * 1024 * 1024,
  transferBatchesMax: 256,
  /** A whole frame; the transport rejects longer frames before decoding. */
  messageBytesMax: 128 * 1024 * 1024,
} as const;

const DIGEST_BYTES = 32;
const SIG_BYTES = 64;
const KEY_BYTES = 32;

const TAG = {
  request: 1,
  'pre-prepare': 2,
  prepare: 3,
  commit: 4,
  checkpoint: 5,
  'view-change': 6,
  'new-view': 7,
  reply: 8,
  fetch: 9,
  state: 10,
  timeout: 11,
  'timeout-cert': 12,
  'blocks-request': 13,
  blocks: 14,
} as const satisfies Record<Message['kind'], number>;

/** Domain separation for everything this protocol signs. */
const SIGN_DOMAIN = utf8Encode('bpci/pbft/v1');
/** Domain separation for what clients sign (their requests): never a validator statement. */
const REQUEST_DOMAIN = utf8Encode('bpci/request/v1');

// ---------------------------------------------------------------------------------------------
// Writers

function writeRequestBody(w: Writer, clientId: string, requestSeq: number, op: Uint8Array): void {
  w.string(clientId, CODEC_LIMITS.clientIdBytesMax);
  w.u53(requestSeq);
  w.bytes(op, CODEC_LIMITS.opBytesMax);
}

function writeRequest(w: Writer, r: ClientRequest): void {
  writeRequestBody(w, r.clientId, r.requestSeq, r.op);
  w.fixed(r.key, KEY_BYTES);
  w.fixed(r.sig, SIG_BYTES);
}

/** Bytes a client signs for one request: domain, clientId, requestSeq, op (the key is the signer). */
export function requestPayload(clientId: string, requestSeq: number, op: Uint8Array): Uint8Array {
  return encodeWith(REQUEST_DOMAIN.length + 16 + clientId.length * 3 + op.length, (w) => {
    w.fixed(REQUEST_DOMAIN, REQUEST_DOMAIN.length);
    writeRequestBody(w, clientId, requestSeq, op);
  });
}

function writeBatch(w: Writer, batch: readonly ClientRequest[]): void {
  if (batch.length > CODEC_LIMITS.batchRequestsMax) throw new CodecError('too-large', `batch of ${batch.length} requests`);
  w.u32(batch.length);
  for (const r of batch) writeRequest(w, r);
}

function writePrePrepare(w: Writer, m: PrePrepare): void {
  w.u53(m.view);
  w.u53(m.seq);
  w.fixed(m.digest, DIGEST_BYTES);
  writeBatch(w, m.batch);
  w.u16(m.from);
  w.fixed(m.sig, SIG_BYTES);
}

function writeVote(w: Writer, m: Vote): void {
  w.u53(m.view);
  w.u53(m.seq);
  w.fixed(m.digest, DIGEST_BYTES);
  w.u16(m.from);
  w.fixed(m.sig, SIG_BYTES);
}

function writeCheckpoint(w: Writer, m: Checkpoint): void {
  w.u53(m.seq);
  w.fixed(m.stateDigest, DIGEST_BYTES);
  w.u16(m.from);
  w.fixed(m.sig, SIG_BYTES);
}

function writeList<T>(w: Writer, items: readonly T[], max: number, what: string, each: (w: Writer, t: T) => void): void {
  if (items.length > max) throw new CodecError('too-large', `${what}: ${items.length} items > max ${max}`);
  w.u32(items.length);
  for (const it of items) each(w, it);
}

function writePreparedCert(w: Writer, c: PreparedCert): void {
  writePrePrepare(w, c.prePrepare);
  writeList(w, c.prepares, CODEC_LIMITS.certSignersMax, 'prepares', writeVote);
  writeList(w, c.commits, CODEC_LIMITS.certSignersMax, 'commits', writeVote);
}

function writeViewChangeBody(w: Writer, m: ViewChange): void {
  w.u53(m.newView);
  w.u53(m.stableSeq);
  w.fixed(m.stableDigest, DIGEST_BYTES);
  writeList(w, m.checkpointProof, CODEC_LIMITS.certSignersMax, 'checkpointProof', writeCheckpoint);
  writeList(w, m.prepared, CODEC_LIMITS.preparedCertsMax, 'prepared', writePreparedCert);
  w.u16(m.from);
}

function writeViewChange(w: Writer, m: ViewChange): void {
  writeViewChangeBody(w, m);
  w.fixed(m.sig, SIG_BYTES);
}

function writeNewViewBody(w: Writer, m: NewView): void {
  w.u53(m.view);
  writeList(w, m.viewChanges, CODEC_LIMITS.certSignersMax, 'viewChanges', writeViewChange);
  writeList(w, m.prePrepares, CODEC_LIMITS.newViewProposalsMax, 'prePrepares', writePrePrepare);
  w.u16(m.from);
}

function writeNewView(w: Writer, m: NewView): void {
  writeNewViewBody(w, m);
  w.fixed(m.sig, SIG_BYTES);
}

/** Depth of a tree of batchRequestsMax leaves: no proof has more siblings. */
const REPLY_PROOF_DEPTH_MAX = Math.ceil(Math.log2(CODEC_LIMITS.batchRequestsMax));

/** The part of a reply that is a Merkle leaf (see replyLeaf). */
function writeReplyLeaf(w: Writer, m: Pick<Reply, 'seq' | 'session' | 'requestSeq' | 'result'>): void {
  w.u53(m.seq);
  w.string(m.session, CODEC_LIMITS.sessionBytesMax);
  w.u53(m.requestSeq);
  w.bytes(m.result, CODEC_LIMITS.resultBytesMax);
}

function writeReply(w: Writer, m: Reply): void {
  w.u53(m.view);
  w.u53(m.batchSeq);
  w.fixed(m.root, DIGEST_BYTES);
  const p = m.proof;
  if (!Number.isSafeInteger(p.leafCount) || p.leafCount < 1 || p.leafCount > CODEC_LIMITS.batchRequestsMax) {
    throw new CodecError('bad-value', `reply proof leafCount ${p.leafCount} outside [1, ${CODEC_LIMITS.batchRequestsMax}]`);
  }
  if (!Number.isSafeInteger(p.index) || p.index < 0 || p.index >= p.leafCount) throw new CodecError('bad-value', `reply proof index ${p.index} outside [0, ${p.leafCount})`);
  w.u32(p.leafCount);
  w.u32(p.index);
  writeList(w, p.siblings, REPLY_PROOF_DEPTH_MAX, 'siblings', (ww, s) => ww.fixed(s, DIGEST_BYTES));
  writeReplyLeaf(w, m);
  w.u16(m.from);
  w.fixed(m.sig, SIG_BYTES);
}

/** Canonical bytes of one reply's Merkle leaf: (seq, session, requestSeq, result). */
export function replyLeaf(m: Pick<Reply, 'seq' | 'session' | 'requestSeq' | 'result'>): Uint8Array {
  return encodeWith(32 + m.session.length * 3 + m.result.length, (w) => writeReplyLeaf(w, m));
}

/** Bytes a reply signature signs: the batch's reply root, by view and batch seq. */
export function replyRootPayload(view: number, batchSeq: number, root: Digest, from: number): Uint8Array {
  return encodeWith(SIGN_DOMAIN.length + 1 + 8 + 8 + DIGEST_BYTES + 2, (w) => {
    w.fixed(SIGN_DOMAIN, SIGN_DOMAIN.length);
    w.u8(TAG.reply);
    w.u53(view);
    w.u53(batchSeq);
    w.fixed(root, DIGEST_BYTES);
    w.u16(from);
  });
}

function writeStableCheckpoint(w: Writer, c: StableCheckpoint): void {
  w.u53(c.seq);
  w.fixed(c.stateDigest, DIGEST_BYTES);
  w.bytes(c.snapshot, CODEC_LIMITS.snapshotBytesMax);
  writeList(w, c.proof, CODEC_LIMITS.certSignersMax, 'proof', writeCheckpoint);
}

function writeCertifiedBatch(w: Writer, b: CertifiedBatch): void {
  writePrePrepare(w, b.prePrepare);
  writeList(w, b.commits, CODEC_LIMITS.certSignersMax, 'commits', writeVote);
}

function writeTimeout(w: Writer, m: Timeout): void {
  w.u53(m.view);
  w.u16(m.from);
  w.fixed(m.sig, SIG_BYTES);
}

function writeTimeoutCert(w: Writer, m: TimeoutCert): void {
  w.u53(m.view);
  writeList(w, m.timeouts, CODEC_LIMITS.certSignersMax, 'timeouts', writeTimeout);
  w.u16(m.from);
}

function writeMessage(w: Writer, m: Message): void {
  w.u8(TAG[m.kind]);
  switch (m.kind) {
    case 'request':
      return writeRequest(w, m);
    case 'pre-prepare':
      return writePrePrepare(w, m);
    case 'prepare':
    case 'commit':
      return writeVote(w, m);
    case 'checkpoint':
      return writeCheckpoint(w, m);
    case 'view-change':
      return writeViewChange(w, m);
    case 'new-view':
      return writeNewView(w, m);
    case 'reply':
      return writeReply(w, m);
    case 'fetch':
      w.u53(m.nextSeq);
      return w.u16(m.from);
    case 'state':
      w.u8(m.checkpoint === null ? 0 : 1);
      if (m.checkpoint !== null) writeStableCheckpoint(w, m.checkpoint);
      writeList(w, m.batches, CODEC_LIMITS.transferBatchesMax, 'batches', writeCertifiedBatch);
      w.u8(m.newView === null ? 0 : 1);
      if (m.newView !== null) writeNewView(w, m.newView);
      return w.u16(m.from);
    case 'timeout':
      return writeTimeout(w, m);
    case 'timeout-cert':
      return writeTimeoutCert(w, m);
    case 'blocks-request':
      if (!Number.isSafeInteger(m.fromSeq) || !Number.isSafeInteger(m.toSeq) || m.fromSeq < 1 || m.toSeq < m.fromSeq || m.toSeq - m.fromSeq >= CODEC_LIMITS.transferBatchesMax) {
        throw new CodecError('bad-value', `blocks-request ${m.fromSeq}..${m.toSeq}: need 1 <= from <= to < from + ${CODEC_LIMITS.transferBatchesMax}`);
      }
      w.u53(m.fromSeq);
      w.u53(m.toSeq);
      return w.u16(m.from);
    case 'blocks':
      writeList(w, m.batches, CODEC_LIMITS.transferBatchesMax, 'batches', writeCertifiedBatch);
      return w.u16(m.from);
    default:
      return assertNever(m);
  }
}

export function encodeMessage(m: Message): Uint8Array {
  return encodeWith(m.kind === 'pre-prepare' || m.kind === 'state' || m.kind === 'view-change' || m.kind === 'blocks' || m.kind === 'timeout-cert' ? 1024 : 192, (w) => writeMessage(w, m));
}

/** Canonical encoding of a batch of requests (its blake3 is the pre-prepare digest). */
export function encodeBatch(batch: readonly ClientRequest[]): Uint8Array {
  return encodeWith(64 + batch.length * 144, (w) => writeBatch(w, batch));
}

// ---------------------------------------------------------------------------------------------
// Readers

function readValidatorId(r: Reader, what: string): number {
  return r.u16(what);
}

function readRequest(r: Reader): ClientRequest {
  const clientId = r.string(CODEC_LIMITS.clientIdBytesMax, 'clientId');
  const requestSeq = r.u53('requestSeq');
  const op = r.bytes(CODEC_LIMITS.opBytesMax, 'op');
  const key = r.fixed(KEY_BYTES, 'key');
  const sig = r.fixed(SIG_BYTES, 'sig');
  return { kind: 'request', clientId, requestSeq, op, key, sig };
}

// Minimum encoded sizes, used to reject absurd counts before looping.
const REQUEST_BYTES_MIN = 4 + 8 + 4 + KEY_BYTES + SIG_BYTES;
const VOTE_BYTES = 8 + 8 + DIGEST_BYTES + 2 + SIG_BYTES;
const CHECKPOINT_BYTES = 8 + DIGEST_BYTES + 2 + SIG_BYTES;
const PREPREPARE_BYTES_MIN = 8 + 8 + DIGEST_BYTES + 4 + 2 + SIG_BYTES;
const VIEWCHANGE_BYTES_MIN = 8 + 8 + DIGEST_BYTES + 4 + 4 + 2 + SIG_BYTES;

function readPrePrepare(r: Reader): PrePrepare {
  const view = r.u53('view');
  const seq = r.u53('seq');
  const digest = r.fixed(DIGEST_BYTES, 'digest');
  const n = r.count(CODEC_LIMITS.batchRequestsMax, REQUEST_BYTES_MIN, 'batch');
  const batch: ClientRequest[] = [];
  for (let i = 0; i < n; i++) batch.push(readRequest(r));
  const from = readValidatorId(r, 'from');
  const sig = r.fixed(SIG_BYTES, 'sig');
  return { kind: 'pre-prepare', view, seq, digest, batch, from, sig };
}

function readVote<K extends 'prepare' | 'commit'>(r: Reader, kind: K): Vote & { kind: K } {
  const view = r.u53('view');
  const seq = r.u53('seq');
  const digest = r.fixed(DIGEST_BYTES, 'digest');
  const from = readValidatorId(r, 'from');
  const sig = r.fixed(SIG_BYTES, 'sig');
  return { kind, view, seq, digest, from, sig };
}

function readCheckpoint(r: Reader): Checkpoint {
  const seq = r.u53('seq');
  const stateDigest = r.fixed(DIGEST_BYTES, 'stateDigest');
  const from = readValidatorId(r, 'from');
  const sig = r.fixed(SIG_BYTES, 'sig');
  return { kind: 'checkpoint', seq, stateDigest, from, sig };
}

function readList<T>(r: Reader, max: number, minItemBytes: number, what: string, each: (r: Reader) => T): T[] {
  const n = r.count(max, minItemBytes, what);
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(each(r));
  return out;
}

function readPreparedCert(r: Reader): PreparedCert {
  const prePrepare = readPrePrepare(r);
  const prepares = readList(r, CODEC_LIMITS.certSignersMax, VOTE_BYTES, 'prepares', (x) => readVote(x, 'prepare'));
  const commits = readList(r, CODEC_LIMITS.certSignersMax, VOTE_BYTES, 'commits', (x) => readVote(x, 'commit'));
  return { prePrepare, prepares, commits };
}

function readViewChange(r: Reader): ViewChange {
  const newView = r.u53('newView');
  const stableSeq = r.u53('stableSeq');
  const stableDigest = r.fixed(DIGEST_BYTES, 'stableDigest');
  const checkpointProof = readList(r, CODEC_LIMITS.certSignersMax, CHECKPOINT_BYTES, 'checkpointProof', readCheckpoint);
  const prepared = readList(r, CODEC_LIMITS.preparedCertsMax, PREPREPARE_BYTES_MIN + 8, 'prepared', readPreparedCert);
  const from = readValidatorId(r, 'from');
  const sig = r.fixed(SIG_BYTES, 'sig');
  return { kind: 'view-change', newView, stableSeq, stableDigest, checkpointProof, prepared, from, sig };
}

function readStableCheckpoint(r: Reader): StableCheckpoint {
  const seq = r.u53('seq');
  const stateDigest = r.fixed(DIGEST_BYTES, 'stateDigest');
  const snapshot = r.bytes(CODEC_LIMITS.snapshotBytesMax, 'snapshot');
  const proof = readList(r, CODEC_LIMITS.certSignersMax, CHECKPOINT_BYTES, 'proof', readCheckpoint);
  return { seq, stateDigest, snapshot, proof };
}

function readNewView(r: Reader): NewView {
  const view = r.u53('view');
  const viewChanges = readList(r, CODEC_LIMITS.certSignersMax, VIEWCHANGE_BYTES_MIN, 'viewChanges', readViewChange);
  const prePrepares = readList(r, CODEC_LIMITS.newViewProposalsMax, PREPREPARE_BYTES_MIN, 'prePrepares', readPrePrepare);
  const from = readValidatorId(r, 'from');
  const sig = r.fixed(SIG_BYTES, 'sig');
  return { kind: 'new-view', view, viewChanges, prePrepares, from, sig };
}

const TIMEOUT_BYTES = 8 + 2 + SIG_BYTES;

function readTimeout(r: Reader): Timeout {
  const view = r.u53('view');
  const from = readValidatorId(r, 'from');
  const sig = r.fixed(SIG_BYTES, 'sig');
  return { kind: 'timeout', view, from, sig };
}

function readCertifiedBatch(r: Reader): CertifiedBatch {
  const prePrepare = readPrePrepare(r);
  const commits = readList(r, CODEC_LIMITS.certSignersMax, VOTE_BYTES, 'commits', (x) => readVote(x, 'commit'));
  return { prePrepare, commits };
}

function readMessage(r: Reader): Message {
  const tag = r.u8('tag');
  switch (tag) {
    case TAG.request:
      return readRequest(r);
    case TAG['pre-prepare']:
      return readPrePrepare(r);
    case TAG.prepare:
      return readVote(r, 'prepare');
    case TAG.commit:
      return readVote(r, 'commit');
    case TAG.checkpoint:
      return readCheckpoint(r);
    case TAG['view-change']:
      return readViewChange(r);
    case TAG['new-view']:
      return readNewView(r);
    case TAG.reply: {
      const view = r.u53('view');
      const batchSeq = r.u53('batchSeq');
      const root = r.fixed(DIGEST_BYTES, 'root');
      const leafCount = r.u32('leafCount');
      if (leafCount < 1 || leafCount > CODEC_LIMITS.batchRequestsMax) throw new CodecError('bad-value', `reply proof leafCount ${leafCount} outside [1, ${CODEC_LIMITS.batchRequestsMax}]`);
      const index = r.u32('index');
      if (index >= leafCount) throw new CodecError('bad-value', `reply proof index ${index} >= leafCount ${leafCount}`);
      const siblings = readList(r, REPLY_PROOF_DEPTH_MAX, DIGEST_BYTES, 'siblings', (rr) => rr.fixed(DIGEST_BYTES, 'sibling'));
      const seq = r.u53('seq');
      const session = r.string(CODEC_LIMITS.sessionBytesMax, 'session');
      const requestSeq = r.u53('requestSeq');
      const result = r.bytes(CODEC_LIMITS.resultBytesMax, 'result');
      const from = readValidatorId(r, 'from');
      const sig = r.fixed(SIG_BYTES, 'sig');
      return { kind: 'reply', view, batchSeq, root, proof: { index, leafCount, siblings }, seq, session, requestSeq, result, from, sig };
    }
    case TAG.fetch: {
      const nextSeq = r.u53('nextSeq');
      const from = readValidatorId(r, 'from');
      return { kind: 'fetch', nextSeq, from };
    }
    case TAG.state: {
      const has = r.u8('checkpoint flag');
      if (has > 1) throw new CodecError('bad-value', `checkpoint flag must be 0 or 1, got ${has}`);
      const checkpoint = has === 1 ? readStableCheckpoint(r) : null;
      const batches = readList(r, CODEC_LIMITS.transferBatchesMax, PREPREPARE_BYTES_MIN + 4, 'batches', readCertifiedBatch);
      const hasNewView = r.u8('new-view flag');
      if (hasNewView > 1) throw new CodecError('bad-value', `new-view flag must be 0 or 1, got ${hasNewView}`);
      const newView = hasNewView === 1 ? readNewView(r) : null;
      const from = readValidatorId(r, 'from');
      return { kind: 'state', checkpoint, batches, newView, from } satisfies StateTransfer;
    }
    case TAG.timeout:
      return readTimeout(r);
    case TAG['timeout-cert']: {
      const view = r.u53('view');
      const timeouts = readList(r, CODEC_LIMITS.certSignersMax, TIMEOUT_BYTES, 'timeouts', readTimeout);
      const from = readValidatorId(r, 'from');
      return { kind: 'timeout-cert', view, timeouts, from } satisfies TimeoutCert;
    }
    case TAG['blocks-request']: {
      const fromSeq = r.u53('fromSeq');
      const toSeq = r.u53('toSeq');
      if (fromSeq < 1 || toSeq < fromSeq || toSeq - fromSeq >= CODEC_LIMITS.transferBatchesMax) {
        throw new CodecError('bad-value', `blocks-request ${fromSeq}..${toSeq}: need 1 <= from <= to < from + ${CODEC_LIMITS.transferBatchesMax}`);
      }
      const from = readValidatorId(r, 'from');
      return { kind: 'blocks-request', fromSeq, toSeq, from } satisfies BlocksRequest;
    }
    case TAG.blocks: {
      const batches = readList(r, CODEC_LIMITS.transferBatchesMax, PREPREPARE_BYTES_MIN + 4, 'batches', readCertifiedBatch);
      const from = readValidatorId(r, 'from');
      return { kind: 'blocks', batches, from } satisfies Blocks;
    }
    default:
      throw new CodecError('bad-tag', `unknown message tag ${tag}`);
  }
}

/** A prepared certificate on its own (the validator's persisted record of what it committed to). */
export function encodePreparedCert(c: PreparedCert): Uint8Array {
  return encodeWith(1024, (w) => writePreparedCert(w, c));
}

/** Strict inverse of encodePreparedCert: malformed, truncated or oversized input throws CodecError. */
export function decodePreparedCert(bytes: Uint8Array): PreparedCert {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('bad-value', 'prepared certificate must be a Uint8Array');
  if (bytes.length > CODEC_LIMITS.messageBytesMax) {
    throw new CodecError('too-large', `prepared certificate of ${bytes.length} bytes > max ${CODEC_LIMITS.messageBytesMax}`);
  }
  const r = new Reader(bytes);
  const c = readPreparedCert(r);
  r.end();
  return c;
}

export function decodeMessage(bytes: Uint8Array): Message {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('bad-value', 'frame must be a Uint8Array');
  if (bytes.length > CODEC_LIMITS.messageBytesMax) {
    throw new CodecError('too-large', `frame of ${bytes.length} bytes > max ${CODEC_LIMITS.messageBytesMax}`);
  }
  const r = new Reader(bytes);
  const m = readMessage(r);
  r.end();
  return m;
}

// ---------------------------------------------------------------------------------------------
// Signing payloads. A statement about one slot (pre-prepare header, prepare, commit, checkpoint)
// is signed over a fixed 59-byte layout, so evidence needs nothing but the statement itself.

const STATEMENT_TAG = { 'pre-prepare': 1, prepare: 2, commit: 3, checkpoint: 4 } as const;

export function statementPayload(
  kind: SignedStatement['kind'],
  view: number,
  seq: number,
  digest: Digest,
  from: number,
): Uint8Array {
  return encodeWith(SIGN_DOMAIN.length + 1 + 8 + 8 + DIGEST_BYTES + 2, (w) => {
    w.fixed(SIGN_DOMAIN, SIGN_DOMAIN.length);
    w.u8(STATEMENT_TAG[kind]);
    w.u53(view);
    w.u53(seq);
    w.fixed(digest, DIGEST_BYTES);
    w.u16(from);
  });
}

/** A signed message reduced to its statement (for evidence and signature checks). */
export function toStatement(m: PrePrepare | Prepare | Commit | Checkpoint): SignedStatement {
  if (m.kind === 'checkpoint') return { kind: 'checkpoint', view: 0, seq: m.seq, digest: m.stateDigest, from: m.from, sig: m.sig };
  return { kind: m.kind, view: m.view, seq: m.seq, digest: m.digest, from: m.from, sig: m.sig };
}

/** Bytes a timeout signature signs: (view, signer). */
export function timeoutPayload(view: number, from: number): Uint8Array {
  return encodeWith(SIGN_DOMAIN.length + 1 + 8 + 2, (w) => {
    w.fixed(SIGN_DOMAIN, SIGN_DOMAIN.length);
    w.u8(TAG.timeout);
    w.u53(view);
    w.u16(from);
  });
}

/** Encoding of a timeout certificate on its own (persisted with the view record). */
export function encodeTimeoutCert(c: TimeoutCert): Uint8Array {
  return encodeMessage(c);
}

/** Strict inverse of encodeTimeoutCert. */
export function decodeTimeoutCert(bytes: Uint8Array): TimeoutCert {
  const m = decodeMessage(bytes);
  if (m.kind !== 'timeout-cert') throw new CodecError('bad-tag', `expected a timeout-cert, got ${m.kind}`);
  return m;
}

/** Bytes that `m.sig` signs. Requests, fetches, state transfers and containers are not signed. */
export function signingPayload(m: PrePrepare | Vote | Checkpoint | ViewChange | NewView | Reply | Timeout): Uint8Array {
  switch (m.kind) {
    case 'pre-prepare':
    case 'prepare':
    case 'commit':
      return statementPayload(m.kind, m.view, m.seq, m.digest, m.from);
    case 'checkpoint':
      return statementPayload('checkpoint', 0, m.seq, m.stateDigest, m.from);
    case 'view-change':
      return encodeWith(1024, (w) => {
        w.fixed(SIGN_DOMAIN, SIGN_DOMAIN.length);
        w.u8(TAG['view-change']);
        writeViewChangeBody(w, m);
      });
    case 'new-view':
      return encodeWith(1024, (w) => {
        w.fixed(SIGN_DOMAIN, SIGN_DOMAIN.length);
        w.u8(TAG['new-view']);
        writeNewViewBody(w, m);
      });
    case 'reply':
      return replyRootPayload(m.view, m.batchSeq, m.root, m.from);
    case 'timeout':
      return timeoutPayload(m.view, m.from);
    default:
      return assertNever(m);
  }
}

export function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
