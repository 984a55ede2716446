// The ledger transaction and its one canonical binary encoding.
//
// Layout (integers big-endian; "sym" = u8 length 2..8 then ASCII [A-Z][A-Z0-9]*; "amount" = u64
// in 1 .. 2^63-1; "key" = 32-byte Ed25519 public key):
//
//   body:
//     u8  version = 1
//     u8  kind: 1 transfer | 2 mint | 3 burn | 4 configure
//     u8  chain id length 1..64, then ASCII [A-Za-z0-9._-]
//     key signer
//     u53 nonce (8 bytes; the signer's next nonce, starting at 0)
//     transfer:  u8 legs 1..16, each: key from, key to (from != to), sym asset, amount
//     mint:      u8 legs 1..16, each: key to, sym asset, amount
//     burn:      u8 legs 1..16, each: sym asset, amount          (from the signer's balances)
//     configure: key account, u8 entries 0..8 with strictly ascending assets, each:
//                sym asset, u8 flags (bit 0: per-tx maximum follows, bit 1: outflow allowance
//                follows; other bits 0), [u64 perTxMax], [u64 outflowMax] (0 allowed: "nothing")
//   signature block:
//     64  the signer's signature
//     u8  co-signers 0..8, strictly ascending by key, none equal to the signer, each: key, 64 sig
//
// Every signature is over SIGNING_DOMAIN || body. A transfer's co-signers must be exactly the
// leg sources other than the signer (checked when executed: `unauthorized`). The decoder rejects
// anything else with a CodecError: truncation, trailing bytes, unknown tags, bounds, zero
// amounts, non-canonical order. Equal transactions have equal bytes, so the transaction id
// (BLAKE3 of the whole encoding) names one transaction.

import { CodecError, Reader, Writer } from '../../codec/wire.js';
import type { CryptoBackend } from '../../crypto/backend.js';
import { CHAIN_ID_RE, LEDGER_LIMITS, SYMBOL_RE, TX_BYTES_MAX } from './limits.js';

export const LEDGER_TX_VERSION = 1;
/** Domain separation: a ledger signature can never be mistaken for a consensus or link signature. */
export const SIGNING_DOMAIN: Uint8Array = Uint8Array.from([...'bpci/ledger/tx/v1'].map((c) => c.charCodeAt(0)).concat(0));

const KIND_TAG = { transfer: 1, mint: 2, burn: 3, configure: 4 } as const;
const KIND_BY_TAG = [undefined, 'transfer', 'mint', 'burn', 'configure'] as const;
const FLAG_PER_TX = 1;
const FLAG_OUTFLOW = 2;

export interface TransferLeg {
  readonly from: Uint8Array;
  readonly to: Uint8Array;
  readonly asset: string;
  readonly amount: bigint;
}
export interface MintLeg {
  readonly to: Uint8Array;
  readonly asset: string;
  readonly amount: bigint;
}
export interface BurnLeg {
  readonly asset: string;
  readonly amount: bigint;
}
/** null = no such limit (removes it). */
export interface LimitSetting {
  readonly asset: string;
  readonly perTxMax: bigint | null;
  readonly outflowMax: bigint | null;
}

export type LedgerTxBody =
  | { readonly kind: 'transfer'; readonly legs: readonly TransferLeg[] }
  | { readonly kind: 'mint'; readonly legs: readonly MintLeg[] }
  | { readonly kind: 'burn'; readonly legs: readonly BurnLeg[] }
  | { readonly kind: 'configure'; readonly account: Uint8Array; readonly limits: readonly LimitSetting[] };

export type LedgerTxKind = LedgerTxBody['kind'];

/** What the signer signs. */
export interface UnsignedLedgerTx {
  readonly chainId: string;
  readonly signer: Uint8Array;
  readonly nonce: number;
  readonly body: LedgerTxBody;
}

export interface Cosignature {
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

export interface SignedLedgerTx extends UnsignedLedgerTx {
  readonly signature: Uint8Array;
  /** Strictly ascending by public key. */
  readonly cosignatures: readonly Cosignature[];
}

/** A decoded transaction with the exact body bytes its signatures cover. */
export interface DecodedLedgerTx extends SignedLedgerTx {
  readonly bodyBytes: Uint8Array;
}

// ------------------------------------------------------------------ small helpers

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const HEX = '0123456789abcdef';
export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += HEX[x >> 4]! + HEX[x & 15]!;
  return s;
}

/** 64 hex digits, optionally prefixed "ed25519:", to 32 bytes; undefined otherwise. */
export function parseAccountKey(text: string): Uint8Array | undefined {
  const m = /^(?:ed25519:)?([0-9a-fA-F]{64})$/.exec(text);
  if (!m) return undefined;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(m[1]!.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function writeAscii(w: Writer, s: string, maxBytes: number, re: RegExp, what: string): void {
  if (!re.test(s) || s.length > maxBytes) throw new CodecError('bad-value', `${what} ${JSON.stringify(s)} does not match ${re}`);
  w.u8(s.length);
  for (let i = 0; i < s.length; i++) w.u8(s.charCodeAt(i));
}

function readAscii(r: Reader, maxBytes: number, re: RegExp, what: string): string {
  const n = r.u8(`${what} length`);
  if (n > maxBytes) throw new CodecError('too-large', `${what}: ${n} bytes > max ${maxBytes}`);
  const b = r.fixed(n, what);
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  if (!re.test(s)) throw new CodecError('bad-value', `${what} ${JSON.stringify(s)} does not match ${re}`);
  return s;
}

function writeAmount(w: Writer, v: bigint, what: string, min: bigint): void {
  if (typeof v !== 'bigint' || v < min || v > LEDGER_LIMITS.amountMax) throw new CodecError('bad-value', `${what} ${String(v)} is outside ${min}..2^63-1`);
  w.u32(Number(v >> 32n));
  w.u32(Number(v & 0xffff_ffffn));
}

function readAmount(r: Reader, what: string, min: bigint): bigint {
  const hi = r.u32(what);
  const lo = r.u32(what);
  const v = (BigInt(hi) << 32n) | BigInt(lo);
  if (v < min || v > LEDGER_LIMITS.amountMax) throw new CodecError('bad-value', `${what} ${v} is outside ${min}..2^63-1`);
  return v;
}

function writeKey(w: Writer, k: Uint8Array, what: string): void {
  if (!(k instanceof Uint8Array) || k.length !== 32) throw new CodecError('bad-value', `${what} must be 32 bytes`);
  w.fixed(k, 32);
}

function legCount(r: Reader, what: string, min: number, max: number): number {
  const n = r.u8(`${what} count`);
  if (n < min || n > max) throw new CodecError(n > max ? 'too-large' : 'bad-value', `${what}: ${n} items, expected ${min}..${max}`);
  return n;
}

function checkCount(n: number, what: string, min: number, max: number): void {
  if (!Number.isInteger(n) || n < min || n > max) throw new CodecError('bad-value', `${what}: ${n} items, expected ${min}..${max}`);
}

// ------------------------------------------------------------------ encode

/** The body bytes (what every signature covers, after SIGNING_DOMAIN). Throws CodecError on bad values. */
export function encodeLedgerTxBody(tx: UnsignedLedgerTx): Uint8Array {
  const w = new Writer(256);
  w.u8(LEDGER_TX_VERSION);
  w.u8(KIND_TAG[tx.body.kind]);
  writeAscii(w, tx.chainId, LEDGER_LIMITS.chainIdBytesMax, CHAIN_ID_RE, 'chain id');
  writeKey(w, tx.signer, 'signer');
  w.u53(tx.nonce);
  const body = tx.body;
  switch (body.kind) {
    case 'transfer':
      checkCount(body.legs.length, 'transfer legs', 1, LEDGER_LIMITS.legsMax);
      w.u8(body.legs.length);
      body.legs.forEach((l, i) => {
        writeKey(w, l.from, `legs[${i}].from`);
        writeKey(w, l.to, `legs[${i}].to`);
        if (compareBytes(l.from, l.to) === 0) throw new CodecError('bad-value', `legs[${i}]: from and to are the same account`);
        writeAscii(w, l.asset, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `legs[${i}].asset`);
        writeAmount(w, l.amount, `legs[${i}].amount`, 1n);
      });
      break;
    case 'mint':
      checkCount(body.legs.length, 'mint legs', 1, LEDGER_LIMITS.legsMax);
      w.u8(body.legs.length);
      body.legs.forEach((l, i) => {
        writeKey(w, l.to, `legs[${i}].to`);
        writeAscii(w, l.asset, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `legs[${i}].asset`);
        writeAmount(w, l.amount, `legs[${i}].amount`, 1n);
      });
      break;
    case 'burn':
      checkCount(body.legs.length, 'burn legs', 1, LEDGER_LIMITS.legsMax);
      w.u8(body.legs.length);
      body.legs.forEach((l, i) => {
        writeAscii(w, l.asset, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `legs[${i}].asset`);
        writeAmount(w, l.amount, `legs[${i}].amount`, 1n);
      });
      break;
    case 'configure': {
      writeKey(w, body.account, 'account');
      checkCount(body.limits.length, 'configure limits', 0, LEDGER_LIMITS.configureLimitsMax);
      w.u8(body.limits.length);
      body.limits.forEach((l, i) => {
        if (i > 0 && !(body.limits[i - 1]!.asset < l.asset)) throw new CodecError('not-canonical', 'configure limits must be in strictly ascending asset order');
        writeAscii(w, l.asset, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `limits[${i}].asset`);
        w.u8((l.perTxMax !== null ? FLAG_PER_TX : 0) | (l.outflowMax !== null ? FLAG_OUTFLOW : 0));
        if (l.perTxMax !== null) writeAmount(w, l.perTxMax, `limits[${i}].perTxMax`, 0n);
        if (l.outflowMax !== null) writeAmount(w, l.outflowMax, `limits[${i}].outflowMax`, 0n);
      });
      break;
    }
    default: {
      const never: never = body;
      throw new CodecError('bad-tag', `unknown ledger tx kind ${(never as { kind: string }).kind}`);
    }
  }
  return w.finish();
}

/** SIGNING_DOMAIN || body: the message every signer of the transaction signs. */
export function ledgerSigningMessage(bodyBytes: Uint8Array): Uint8Array {
  const m = new Uint8Array(SIGNING_DOMAIN.length + bodyBytes.length);
  m.set(SIGNING_DOMAIN, 0);
  m.set(bodyBytes, SIGNING_DOMAIN.length);
  return m;
}

/** The full canonical encoding (body, then the signature block). */
export function encodeLedgerTx(tx: SignedLedgerTx): Uint8Array {
  const body = encodeLedgerTxBody(tx);
  const w = new Writer(body.length + 64 + 1 + tx.cosignatures.length * 96);
  w.fixed(body, body.length);
  w.fixed(tx.signature, 64);
  checkCount(tx.cosignatures.length, 'co-signatures', 0, LEDGER_LIMITS.cosignersMax);
  w.u8(tx.cosignatures.length);
  tx.cosignatures.forEach((c, i) => {
    if (i > 0 && compareBytes(tx.cosignatures[i - 1]!.publicKey, c.publicKey) >= 0) throw new CodecError('not-canonical', 'co-signatures must be in strictly ascending key order');
    if (compareBytes(c.publicKey, tx.signer) === 0) throw new CodecError('bad-value', 'the signer is not its own co-signer');
    writeKey(w, c.publicKey, `cosignatures[${i}].publicKey`);
    w.fixed(c.signature, 64);
  });
  return w.finish();
}

// ------------------------------------------------------------------ decode

/** Strict decoder: the canonical encoding or a CodecError, never another exception. */
export function decodeLedgerTx(bytes: Uint8Array): DecodedLedgerTx {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('bad-value', 'a ledger transaction must be bytes');
  if (bytes.length > TX_BYTES_MAX) throw new CodecError('too-large', `ledger transaction of ${bytes.length} bytes > max ${TX_BYTES_MAX}`);
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== LEDGER_TX_VERSION) throw new CodecError('bad-tag', `ledger tx version ${version}, expected ${LEDGER_TX_VERSION}`);
  const tag = r.u8('kind');
  const kind = KIND_BY_TAG[tag];
  if (kind === undefined) throw new CodecError('bad-tag', `ledger tx kind ${tag}, expected 1 (transfer) .. 4 (configure)`);
  const chainId = readAscii(r, LEDGER_LIMITS.chainIdBytesMax, CHAIN_ID_RE, 'chain id');
  const signer = r.fixed(32, 'signer');
  const nonce = r.u53('nonce');
  let body: LedgerTxBody;
  switch (kind) {
    case 'transfer': {
      const n = legCount(r, 'transfer legs', 1, LEDGER_LIMITS.legsMax);
      const legs: TransferLeg[] = [];
      for (let i = 0; i < n; i++) {
        const from = r.fixed(32, `legs[${i}].from`);
        const to = r.fixed(32, `legs[${i}].to`);
        if (compareBytes(from, to) === 0) throw new CodecError('bad-value', `legs[${i}]: from and to are the same account`);
        const asset = readAscii(r, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `legs[${i}].asset`);
        legs.push({ from, to, asset, amount: readAmount(r, `legs[${i}].amount`, 1n) });
      }
      body = { kind, legs };
      break;
    }
    case 'mint': {
      const n = legCount(r, 'mint legs', 1, LEDGER_LIMITS.legsMax);
      const legs: MintLeg[] = [];
      for (let i = 0; i < n; i++) {
        const to = r.fixed(32, `legs[${i}].to`);
        const asset = readAscii(r, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `legs[${i}].asset`);
        legs.push({ to, asset, amount: readAmount(r, `legs[${i}].amount`, 1n) });
      }
      body = { kind, legs };
      break;
    }
    case 'burn': {
      const n = legCount(r, 'burn legs', 1, LEDGER_LIMITS.legsMax);
      const legs: BurnLeg[] = [];
      for (let i = 0; i < n; i++) {
        const asset = readAscii(r, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `legs[${i}].asset`);
        legs.push({ asset, amount: readAmount(r, `legs[${i}].amount`, 1n) });
      }
      body = { kind, legs };
      break;
    }
    case 'configure': {
      const account = r.fixed(32, 'account');
      const n = legCount(r, 'configure limits', 0, LEDGER_LIMITS.configureLimitsMax);
      const limits: LimitSetting[] = [];
      for (let i = 0; i < n; i++) {
        const asset = readAscii(r, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, `limits[${i}].asset`);
        if (i > 0 && !(limits[i - 1]!.asset < asset)) throw new CodecError('not-canonical', 'configure limits must be in strictly ascending asset order');
        const flags = r.u8(`limits[${i}].flags`);
        if ((flags & ~(FLAG_PER_TX | FLAG_OUTFLOW)) !== 0) throw new CodecError('bad-value', `limits[${i}].flags ${flags}: only bits 0 and 1 are defined`);
        const perTxMax = flags & FLAG_PER_TX ? readAmount(r, `limits[${i}].perTxMax`, 0n) : null;
        const outflowMax = flags & FLAG_OUTFLOW ? readAmount(r, `limits[${i}].outflowMax`, 0n) : null;
        limits.push({ asset, perTxMax, outflowMax });
      }
      body = { kind, account, limits };
      break;
    }
    default: {
      const never: never = kind;
      throw new CodecError('bad-tag', `unknown ledger tx kind ${String(never)}`);
    }
  }
  const bodyBytes = bytes.slice(0, r.offset);
  const signature = r.fixed(64, 'signature');
  const nc = legCount(r, 'co-signatures', 0, LEDGER_LIMITS.cosignersMax);
  const cosignatures: Cosignature[] = [];
  for (let i = 0; i < nc; i++) {
    const publicKey = r.fixed(32, `cosignatures[${i}].publicKey`);
    if (i > 0 && compareBytes(cosignatures[i - 1]!.publicKey, publicKey) >= 0) throw new CodecError('not-canonical', 'co-signatures must be in strictly ascending key order');
    if (compareBytes(publicKey, signer) === 0) throw new CodecError('bad-value', 'the signer is not its own co-signer');
    cosignatures.push({ publicKey, signature: r.fixed(64, `cosignatures[${i}].signature`) });
  }
  if (nc > 0 && kind !== 'transfer') throw new CodecError('bad-value', `a ${kind} has no co-signers`);
  r.end();
  return { chainId, signer, nonce, body, signature, cosignatures, bodyBytes };
}

/** The ledger transaction id: hex BLAKE3 of its canonical encoding. */
export function ledgerTxId(crypto: Pick<CryptoBackend, 'blake3'>, bytes: Uint8Array): string {
  return toHex(crypto.blake3(bytes));
}

/** Every account a transaction names (signer first, then sorted, once each): the account history index. */
export function accountsOf(tx: SignedLedgerTx): Uint8Array[] {
  const keys: Uint8Array[] = [];
  const b = tx.body;
  switch (b.kind) {
    case 'transfer':
      for (const l of b.legs) keys.push(l.from, l.to);
      break;
    case 'mint':
      for (const l of b.legs) keys.push(l.to);
      break;
    case 'burn':
      break;
    case 'configure':
      keys.push(b.account);
      break;
    default: {
      const never: never = b;
      throw new Error(`unknown ledger tx kind ${(never as { kind: string }).kind}`);
    }
  }
  const seen = new Set<string>([toHex(tx.signer)]);
  const rest: Uint8Array[] = [];
  for (const k of keys) {
    const h = toHex(k);
    if (!seen.has(h)) {
      seen.add(h);
      rest.push(k);
    }
  }
  rest.sort(compareBytes);
  return [tx.signer, ...rest];
}
