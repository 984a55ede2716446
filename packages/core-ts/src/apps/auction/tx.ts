// The auction's transactions: new kinds of the ledger transaction codec (apps/ledger/tx.ts keeps
// kinds 1..4; the auction takes 16..18), so one client op stream carries both and one nonce
// sequence per account orders them.
//
// Layout (integers big-endian; "key" = 32-byte Ed25519 public key; "round" = 8-byte round id):
//
//   u8  version = 1
//   u8  kind: 16 open | 17 commit | 18 reveal
//   u8  chain id length 1..64, then ASCII [A-Za-z0-9._-]
//   key signer
//   open:    u53 nonce                                   then the signature block
//   commit:  u53 nonce, round, 32 commitment             then the signature block
//   reveal:  payload (below); no nonce, no signature: a reveal is authenticated by the
//            commitment it opens, which binds the signer (see `auctionCommitment`)
//   signature block (open, commit): 64 signature over SIGNING_DOMAIN || body, u8 co-signers = 0
//
//   payload: round, u8 bundle id length 1..64 ASCII [A-Za-z0-9._-], u64 bid (0 .. 2^63-1),
//            u32 priority in millionths (0 .. 1_000_000), 32 salt,
//            u8 transactions 1..txsPerBundleMax, each: u16 length, that many bytes (a ledger
//            transaction; decoded when the reveal executes)
//
// commitment = BLAKE3(COMMIT_DOMAIN || signer || payload): the committed state holds this hash
// and nothing else about the bundle, so nobody (the primary included) reads a bundle, its bid
// or its priority before the reveal. The salt (32 random bytes, chosen by the bidder) keeps a
// guessable bundle from being confirmed by hashing guesses. The signer in the hash keeps a
// copied commitment from being revealed by the copier.
//
// The round id is derived from the open transaction: the first 8 bytes of
// BLAKE3(ROUND_DOMAIN || opener || u53 nonce), so the opener knows it before submitting and a
// nonce is used once, so an id names one round (a collision is rejected: `round_exists`).

import { CodecError, Reader, Writer } from '../../codec/wire.js';
import type { CryptoBackend } from '../../crypto/backend.js';
import { CHAIN_ID_RE, LEDGER_LIMITS } from '../ledger/limits.js';
import { toHex } from '../ledger/tx.js';
import { AUCTION_LIMITS, PRIORITY_SCALE, REVEAL_BYTES_MAX } from './limits.js';

export const AUCTION_TX_VERSION = 1;
export const AUCTION_KIND_TAG = { open: 16, commit: 17, reveal: 18 } as const;
const ascii = (s: string): Uint8Array => Uint8Array.from([...s].map((c) => c.charCodeAt(0)).concat(0));
/** Domain separation for commitments and round ids. */
export const COMMIT_DOMAIN: Uint8Array = ascii('bpci/auction/commit/v1');
export const ROUND_DOMAIN: Uint8Array = ascii('bpci/auction/round/v1');
export const BUNDLE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** True when the op's kind byte is an auction kind (the ledger codec routes on it). */
export function isAuctionOp(op: Uint8Array): boolean {
  return op.length >= 2 && op[0] === AUCTION_TX_VERSION && op[1]! >= AUCTION_KIND_TAG.open && op[1]! <= AUCTION_KIND_TAG.reveal;
}

export interface RevealPayload {
  readonly roundId: Uint8Array;
  readonly bundleId: string;
  readonly bid: bigint;
  /** 0 .. 1_000_000 (millionths of 1.0). */
  readonly priorityPpm: number;
  readonly salt: Uint8Array;
  /** Ledger transactions, in the order they must execute. */
  readonly txs: readonly Uint8Array[];
}

export type AuctionTxBody =
  | { readonly kind: 'open' }
  | { readonly kind: 'commit'; readonly roundId: Uint8Array; readonly commitment: Uint8Array }
  | { readonly kind: 'reveal'; readonly payload: RevealPayload; readonly payloadBytes: Uint8Array };

export interface DecodedAuctionTx {
  readonly chainId: string;
  readonly signer: Uint8Array;
  /** Open and commit only (a reveal has none): -1 for a reveal. */
  readonly nonce: number;
  readonly body: AuctionTxBody;
  /** Open and commit: the signed body bytes and the signature; a reveal has neither. */
  readonly bodyBytes: Uint8Array | null;
  readonly signature: Uint8Array | null;
}

function writeAscii(w: Writer, s: string, re: RegExp, what: string): void {
  if (!re.test(s)) throw new CodecError('bad-value', `${what} ${JSON.stringify(s)} does not match ${re}`);
  w.u8(s.length);
  for (let i = 0; i < s.length; i++) w.u8(s.charCodeAt(i));
}

function readAscii(r: Reader, re: RegExp, what: string): string {
  const n = r.u8(`${what} length`);
  let s = '';
  for (const x of r.fixed(n, what)) s += String.fromCharCode(x);
  if (!re.test(s)) throw new CodecError('bad-value', `${what} ${JSON.stringify(s)} does not match ${re}`);
  return s;
}

function writeU64(w: Writer, v: bigint, what: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > LEDGER_LIMITS.amountMax) throw new CodecError('bad-value', `${what} ${String(v)} is outside 0..2^63-1`);
  w.u32(Number(v >> 32n));
  w.u32(Number(v & 0xffff_ffffn));
}

function readU64(r: Reader, what: string): bigint {
  const v = (BigInt(r.u32(what)) << 32n) | BigInt(r.u32(what));
  if (v > LEDGER_LIMITS.amountMax) throw new CodecError('bad-value', `${what} ${v} is outside 0..2^63-1`);
  return v;
}

function header(w: Writer, kind: keyof typeof AUCTION_KIND_TAG, chainId: string, signer: Uint8Array): void {
  w.u8(AUCTION_TX_VERSION);
  w.u8(AUCTION_KIND_TAG[kind]);
  writeAscii(w, chainId, CHAIN_ID_RE, 'chain id');
  if (!(signer instanceof Uint8Array) || signer.length !== 32) throw new CodecError('bad-value', 'signer must be 32 bytes');
  w.fixed(signer, 32);
}

/** The reveal payload bytes (what the commitment hashes, after the domain and the signer). */
export function encodeRevealPayload(p: RevealPayload): Uint8Array {
  const w = new Writer(256);
  if (!(p.roundId instanceof Uint8Array) || p.roundId.length !== 8) throw new CodecError('bad-value', 'round id must be 8 bytes');
  w.fixed(p.roundId, 8);
  writeAscii(w, p.bundleId, BUNDLE_ID_RE, 'bundle id');
  writeU64(w, p.bid, 'bid');
  if (!Number.isInteger(p.priorityPpm) || p.priorityPpm < 0 || p.priorityPpm > PRIORITY_SCALE) throw new CodecError('bad-value', `priority ${p.priorityPpm} is outside 0..${PRIORITY_SCALE} millionths`);
  w.u32(p.priorityPpm);
  if (!(p.salt instanceof Uint8Array) || p.salt.length !== 32) throw new CodecError('bad-value', 'salt must be 32 bytes');
  w.fixed(p.salt, 32);
  if (!Number.isInteger(p.txs.length) || p.txs.length < 1 || p.txs.length > AUCTION_LIMITS.txsPerBundleMax) throw new CodecError('bad-value', `a bundle holds 1..${AUCTION_LIMITS.txsPerBundleMax} transactions, got ${p.txs.length}`);
  w.u8(p.txs.length);
  p.txs.forEach((t, i) => {
    if (!(t instanceof Uint8Array) || t.length < 1 || t.length > 0xffff) throw new CodecError('bad-value', `txs[${i}] must be 1..65535 bytes`);
    w.u16(t.length);
    w.fixed(t, t.length);
  });
  return w.finish();
}

function readRevealPayload(r: Reader): RevealPayload {
  const roundId = r.fixed(8, 'round id');
  const bundleId = readAscii(r, BUNDLE_ID_RE, 'bundle id');
  const bid = readU64(r, 'bid');
  const priorityPpm = r.u32('priority');
  if (priorityPpm > PRIORITY_SCALE) throw new CodecError('bad-value', `priority ${priorityPpm} is above ${PRIORITY_SCALE} millionths`);
  const salt = r.fixed(32, 'salt');
  const n = r.u8('transactions count');
  if (n < 1 || n > AUCTION_LIMITS.txsPerBundleMax) throw new CodecError(n > AUCTION_LIMITS.txsPerBundleMax ? 'too-large' : 'bad-value', `a bundle holds 1..${AUCTION_LIMITS.txsPerBundleMax} transactions, got ${n}`);
  const txs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.u16(`txs[${i}] length`);
    if (len < 1) throw new CodecError('bad-value', `txs[${i}] is empty`);
    txs.push(r.fixed(len, `txs[${i}]`));
  }
  return { roundId, bundleId, bid, priorityPpm, salt, txs };
}

export function encodeAuctionOpenBody(o: { chainId: string; signer: Uint8Array; nonce: number }): Uint8Array {
  const w = new Writer(128);
  header(w, 'open', o.chainId, o.signer);
  w.u53(o.nonce);
  return w.finish();
}

export function encodeAuctionCommitBody(o: { chainId: string; signer: Uint8Array; nonce: number; roundId: Uint8Array; commitment: Uint8Array }): Uint8Array {
  const w = new Writer(160);
  header(w, 'commit', o.chainId, o.signer);
  w.u53(o.nonce);
  if (!(o.roundId instanceof Uint8Array) || o.roundId.length !== 8) throw new CodecError('bad-value', 'round id must be 8 bytes');
  w.fixed(o.roundId, 8);
  if (!(o.commitment instanceof Uint8Array) || o.commitment.length !== 32) throw new CodecError('bad-value', 'commitment must be 32 bytes');
  w.fixed(o.commitment, 32);
  return w.finish();
}

/** A signed op: body || signature || u8 0 (no co-signers), like a ledger transaction. */
export function withSignature(body: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.length !== 64) throw new CodecError('bad-value', 'signature must be 64 bytes');
  const out = new Uint8Array(body.length + 65);
  out.set(body, 0);
  out.set(signature, body.length);
  return out;
}

export function encodeAuctionReveal(o: { chainId: string; signer: Uint8Array; payload: RevealPayload }): Uint8Array {
  const w = new Writer(512);
  header(w, 'reveal', o.chainId, o.signer);
  const p = encodeRevealPayload(o.payload);
  w.fixed(p, p.length);
  return w.finish();
}

/** Strict decoder: the canonical encoding or a CodecError, never another exception. */
export function decodeAuctionTx(bytes: Uint8Array): DecodedAuctionTx {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('bad-value', 'an auction transaction must be bytes');
  if (bytes.length > REVEAL_BYTES_MAX) throw new CodecError('too-large', `auction transaction of ${bytes.length} bytes > max ${REVEAL_BYTES_MAX}`);
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== AUCTION_TX_VERSION) throw new CodecError('bad-tag', `auction tx version ${version}, expected ${AUCTION_TX_VERSION}`);
  const tag = r.u8('kind');
  const chainId = readAscii(r, CHAIN_ID_RE, 'chain id');
  const signer = r.fixed(32, 'signer');
  if (tag === AUCTION_KIND_TAG.reveal) {
    const start = r.offset;
    const payload = readRevealPayload(r);
    r.end();
    return { chainId, signer, nonce: -1, body: { kind: 'reveal', payload, payloadBytes: bytes.slice(start) }, bodyBytes: null, signature: null };
  }
  const nonce = r.u53('nonce');
  let body: AuctionTxBody;
  if (tag === AUCTION_KIND_TAG.open) body = { kind: 'open' };
  else if (tag === AUCTION_KIND_TAG.commit) body = { kind: 'commit', roundId: r.fixed(8, 'round id'), commitment: r.fixed(32, 'commitment') };
  else throw new CodecError('bad-tag', `auction tx kind ${tag}, expected 16 (open) .. 18 (reveal)`);
  const bodyBytes = bytes.slice(0, r.offset);
  const signature = r.fixed(64, 'signature');
  const nc = r.u8('co-signers');
  if (nc !== 0) throw new CodecError('bad-value', `an auction ${body.kind} has no co-signers, got ${nc}`);
  r.end();
  return { chainId, signer, nonce, body, bodyBytes, signature };
}

/** BLAKE3(COMMIT_DOMAIN || signer || payload). */
export function auctionCommitment(crypto: Pick<CryptoBackend, 'blake3'>, signer: Uint8Array, payloadBytes: Uint8Array): Uint8Array {
  const m = new Uint8Array(COMMIT_DOMAIN.length + 32 + payloadBytes.length);
  m.set(COMMIT_DOMAIN, 0);
  m.set(signer, COMMIT_DOMAIN.length);
  m.set(payloadBytes, COMMIT_DOMAIN.length + 32);
  return crypto.blake3(m);
}

/** The 8-byte id of the round an open by (opener, nonce) creates. */
export function auctionRoundId(crypto: Pick<CryptoBackend, 'blake3'>, opener: Uint8Array, nonce: number): Uint8Array {
  const w = new Writer(80);
  w.fixed(ROUND_DOMAIN, ROUND_DOMAIN.length);
  w.fixed(opener, 32);
  w.u53(nonce);
  return crypto.blake3(w.finish()).slice(0, 8);
}

/** "round-<16 hex>": the round id as the API and the CLI spell it. */
export function formatRoundId(id: Uint8Array): string {
  return `round-${toHex(id)}`;
}

/** The inverse of formatRoundId (the bare 16 hex digits are accepted too); undefined otherwise. */
export function parseRoundId(text: string): Uint8Array | undefined {
  const m = /^(?:round-)?([0-9a-f]{16})$/.exec(text);
  if (!m) return undefined;
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(m[1]!.slice(2 * i, 2 * i + 2), 16);
  return out;
}
