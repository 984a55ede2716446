// The ledger application: a deterministic StateMachine (consensus/types.ts) holding accounts with
// integer balances per asset, per-account nonces and risk limits, replicated by consensus.
//
// Rules (every validator applies them identically; integers are bigint, maps are read in sorted
// order, nothing depends on a clock or on anything local):
// - An account is an Ed25519 public key. Accounts come from the genesis, or from the mint
//   authority (a mint to a new key, or a configure op, opens it). Nobody else creates one: a
//   transfer to an unknown key is `unknown_account` (a typo must not burn funds).
// - Every transaction is signed by its signer (and a transfer by every other account it spends
//   from), over SIGNING_DOMAIN || body, verified through the CryptoBackend under the project's one
//   rule (ZIP-215, crypto/ed25519-rule.ts), in one batch per execute() call.
// - Nonces: the signer's transaction must carry exactly its next nonce (0 first). A used nonce (a
//   replay, a second spend) or a gap is `bad_nonce`, so at most one transaction per
//   (account, nonce) ever takes effect.
// - Order of checks: malformed -> wrong_chain -> unauthorized -> unknown_asset -> unknown_account
//   -> bad_signature -> bad_nonce; none of these touch the state. A transaction that passes them
//   consumes the nonce whatever follows (so a transaction that failed for lack of funds cannot be
//   replayed later, when funds have arrived and its signer no longer wants it): limit_exceeded,
//   insufficient_funds, overflow, capacity_exceeded leave every balance as it was.
// - Transfers are atomic: legs apply in order on a scratch copy; if any leg fails, none applies.
//   Limits (per account and asset): `perTxMax` bounds what one transaction takes out (the sum of
//   its legs from that account); `outflowMax` is an allowance: the total taken out since the
//   authority last set it (setting it resets the count).
// - No balance is ever negative; the supply of each asset equals the sum of its balances and
//   changes only by mint (authority) and burn (the holder, from its own balance); every amount,
//   balance and supply stays within 1 .. 2^63-1 (`overflow` otherwise).
// - Results are text (reasons.ts): "ok" or "<reason>: <detail>". execute() never throws on a bad op.
//
// Snapshot (canonical; equal states give equal bytes; restore() checks all of it, the supply sums
// included, and throws CodecError otherwise):
//   u8 version=1, chain id (u8 len + ASCII), u8 hasAuthority [key],
//   u8 assets, each: sym, u64 supply                         (ascending symbol)
//   u32 accounts, each: key, u53 nonce, u8 entries, each:    (ascending key; ascending symbol)
//     sym, u64 balance, u8 flags (bit 0 perTxMax, bit 1 outflowMax), [u64 perTxMax],
//     [u64 outflowMax, u64 outflow used]
//   An entry exists only when its balance is positive or it holds a limit.
//
// Digest (what an account proof is checked against): the Merkle root (crypto/merkle.ts rule) of
// leaf 0 = 0x00 || the snapshot's header (everything before the account count) and leaf i >= 1 =
// 0x01 || the snapshot encoding of the i-th account in key order. `accountProof(key)` returns
// one account's leaf and its Merkle proof; `verifyLedgerAccountProof(digest, leaf, proof)` checks
// it and decodes the account. Equal states give equal digests (the leaves are the snapshot's).

import { CodecError, Reader, Writer, utf8Encode } from '../../codec/wire.js';
import type { CryptoBackend, MerkleProof, SignedItem } from '../../crypto/backend.js';
import { verifyMerkleProof } from '../../crypto/merkle.js';
import type { Digest, StateMachine } from '../../consensus/types.js';
import type { Genesis } from './genesis.js';
import { CHAIN_ID_RE, LEDGER_LIMITS, SNAPSHOT_BYTES_MAX, SYMBOL_RE } from './limits.js';
import { formatOutcome, type LedgerOutcome, type LedgerReason } from './reasons.js';
import { accountsOf, compareBytes, decodeLedgerTx, ledgerSigningMessage, toHex, type DecodedLedgerTx, type TransferLeg } from './tx.js';
import { Auction, type AuctionLedgerPort } from '../auction/auction.js';
import { AUCTION_SNAPSHOT_BYTES_MAX, checkAuctionConfig, type AuctionConfig } from '../auction/limits.js';
import { formatAuctionOutcome, type AuctionOutcome } from '../auction/reasons.js';
import { auctionRoundId, decodeAuctionTx, isAuctionOp, type DecodedAuctionTx } from '../auction/tx.js';
import { readU64, writeU64 } from './u64.js';

const SNAPSHOT_VERSION = 1;
const FLAG_PER_TX = 1;
const FLAG_OUTFLOW = 2;

interface Entry {
  balance: bigint;
  perTxMax: bigint | null;
  outflowMax: bigint | null;
  /** Taken out since outflowMax was set (meaningful only with outflowMax). */
  outflow: bigint;
}

interface Account {
  readonly key: Uint8Array;
  nonce: number;
  readonly entries: Map<string, Entry>;
}

export interface LedgerEntryView {
  readonly asset: string;
  readonly balance: bigint;
  readonly perTxMax: bigint | null;
  readonly outflowMax: bigint | null;
  /** Allowance left (outflowMax - taken out since it was set); null without an allowance. */
  readonly outflowLeft: bigint | null;
}

export interface LedgerAccountView {
  readonly publicKey: Uint8Array;
  /** The nonce its next transaction must carry. */
  readonly nonce: number;
  /** Every genesis asset, in symbol order (0 balances included). */
  readonly assets: readonly LedgerEntryView[];
}

export interface LedgerInfo {
  readonly chainId: string;
  readonly mintAuthority: Uint8Array | null;
  readonly accounts: number;
  readonly supply: readonly { readonly asset: string; readonly supply: bigint }[];
}

export interface LedgerAppOptions {
  readonly crypto: Pick<CryptoBackend, 'blake3' | 'ed25519VerifyBatch' | 'merkleRoot' | 'merkleProof'>;
  readonly genesis: Genesis;
  /**
   * The Tranverse auction (apps/auction): absent, auction ops are rejected (`auction_disabled`)
   * and the state, snapshot and digest are exactly the plain ledger's.
   */
  readonly auction?: AuctionConfig;
}

const ascii0 = (s: string): Uint8Array => Uint8Array.from([...s].map((c) => c.charCodeAt(0)).concat(0));
/**
 * The auction's escrow (deposits) and default treasury (bids, forfeits): keys derived by hashing a
 * label, so nobody holds their secret keys and no transaction can spend from them; only the
 * auction moves their funds.
 */
export function auctionEscrowKey(crypto: Pick<CryptoBackend, 'blake3'>): Uint8Array {
  return crypto.blake3(ascii0('bpci/auction/escrow/v1'));
}
export function auctionTreasuryKey(crypto: Pick<CryptoBackend, 'blake3'>): Uint8Array {
  return crypto.blake3(ascii0('bpci/auction/treasury/v1'));
}

const reject = (code: LedgerReason, detail: string): LedgerOutcome => ({ code, detail });
const OK: LedgerOutcome = { code: 'ok', detail: '' };

/**
 * The clock op: changes nothing but is a request, so the batch that carries it is one more
 * execute() call, the auction's clock. A validator submits it while a round is open and the
 * cluster is idle (the node's AuctionService), or phases would wait for unrelated traffic.
 */
export const LEDGER_CLOCK_OP: Uint8Array = utf8Encode('bpci/ledger-clock/v1');

export function isLedgerClockOp(op: Uint8Array): boolean {
  if (op.length !== LEDGER_CLOCK_OP.length) return false;
  for (let i = 0; i < op.length; i++) if (op[i] !== LEDGER_CLOCK_OP[i]) return false;
  return true;
}
const short = (k: Uint8Array): string => toHex(k);

export class LedgerApp implements StateMachine {
  private readonly crypto: LedgerAppOptions['crypto'];
  private chainId: string;
  private authority: Uint8Array | null;
  /** By symbol; the key set is the genesis asset set and never changes. */
  private supply: Map<string, bigint>;
  /** By hex key (lowercase, fixed length: string order = byte order). */
  private accounts: Map<string, Account>;
  /** The auction in this ledger's state; null without LedgerAppOptions.auction. */
  readonly auction: Auction | null;

  constructor(opts: LedgerAppOptions) {
    this.crypto = opts.crypto;
    const g = opts.genesis;
    this.chainId = g.chainId;
    this.authority = g.mintAuthority;
    this.supply = new Map(g.assets.map((a) => [a, 0n]));
    this.accounts = new Map();
    for (const a of g.accounts) {
      const acct: Account = { key: a.publicKey, nonce: 0, entries: new Map() };
      for (const asset of g.assets) {
        const balance = a.balances.get(asset) ?? 0n;
        const l = a.limits.get(asset);
        if (balance > 0n || l) acct.entries.set(asset, { balance, perTxMax: l?.perTxMax ?? null, outflowMax: l?.outflowMax ?? null, outflow: 0n });
        this.supply.set(asset, this.supply.get(asset)! + balance);
      }
      this.accounts.set(toHex(a.publicKey), acct);
    }
    // The authority needs an account for its nonce.
    if (g.mintAuthority && !this.accounts.has(toHex(g.mintAuthority))) {
      this.accounts.set(toHex(g.mintAuthority), { key: g.mintAuthority, nonce: 0, entries: new Map() });
    }
    this.auction = null;
    if (opts.auction) {
      checkAuctionConfig(opts.auction);
      if (!this.supply.has(opts.auction.asset)) throw new RangeError(`auction asset ${opts.auction.asset} is not one of the genesis assets ${g.assets.join(', ')}`);
      const escrow = auctionEscrowKey(this.crypto);
      const treasury = opts.auction.treasury ?? auctionTreasuryKey(this.crypto);
      if (compareBytes(escrow, treasury) === 0) throw new RangeError('auction treasury must not be the escrow');
      for (const k of [escrow, treasury]) if (!this.accounts.has(toHex(k))) this.accounts.set(toHex(k), { key: k, nonce: 0, entries: new Map() });
      this.auction = new Auction(opts.auction, this.crypto, escrow, treasury);
    }
    this.assertInvariants();
  }

  // ------------------------------------------------------------------ reads (API, tests)

  get info(): LedgerInfo {
    return {
      chainId: this.chainId,
      mintAuthority: this.authority,
      accounts: this.accounts.size,
      supply: [...this.supply.keys()].sort().map((asset) => ({ asset, supply: this.supply.get(asset)! })),
    };
  }

  account(publicKey: Uint8Array): LedgerAccountView | undefined {
    const a = this.accounts.get(toHex(publicKey));
    if (!a) return undefined;
    return {
      publicKey: a.key,
      nonce: a.nonce,
      assets: [...this.supply.keys()].sort().map((asset) => {
        const e = a.entries.get(asset);
        return {
          asset,
          balance: e?.balance ?? 0n,
          perTxMax: e?.perTxMax ?? null,
          outflowMax: e?.outflowMax ?? null,
          outflowLeft: e && e.outflowMax !== null ? e.outflowMax - e.outflow : null,
        };
      }),
    };
  }

  balance(publicKey: Uint8Array, asset: string): bigint {
    return this.accounts.get(toHex(publicKey))?.entries.get(asset)?.balance ?? 0n;
  }

  /** Throws when a ledger invariant is broken (a bug): supply = sum of balances, nothing negative or above 2^63-1. */
  assertInvariants(): void {
    const sums = new Map<string, bigint>([...this.supply.keys()].map((a) => [a, 0n]));
    if (this.accounts.size > LEDGER_LIMITS.accountsMax) throw new Error(`ledger invariant: ${this.accounts.size} accounts > max`);
    for (const a of this.accounts.values()) {
      for (const [asset, e] of a.entries) {
        if (!sums.has(asset)) throw new Error(`ledger invariant: unknown asset ${asset}`);
        if (e.balance < 0n || e.balance > LEDGER_LIMITS.amountMax) throw new Error(`ledger invariant: balance ${e.balance} of ${asset} out of range`);
        if (e.outflowMax !== null && (e.outflow < 0n || e.outflow > e.outflowMax)) throw new Error(`ledger invariant: outflow ${e.outflow} beyond allowance ${e.outflowMax}`);
        sums.set(asset, sums.get(asset)! + e.balance);
      }
    }
    for (const [asset, s] of this.supply) {
      if (sums.get(asset) !== s) throw new Error(`ledger invariant: ${asset} supply ${s} != sum of balances ${sums.get(asset)}`);
      if (s > LEDGER_LIMITS.amountMax) throw new Error(`ledger invariant: ${asset} supply above 2^63-1`);
    }
    if (this.auction) {
      const escrow = this.accounts.get(toHex(this.auction.escrow));
      const held = escrow?.entries.get(this.auction.config.asset)?.balance ?? 0n;
      if (!escrow || escrow.entries.size > (held > 0n ? 1 : 0) || held !== this.auction.lockedDeposits()) throw new Error(`auction invariant: the escrow holds ${held} ${this.auction.config.asset}, the locked deposits are ${this.auction.lockedDeposits()}`);
    }
  }

  // ------------------------------------------------------------------ execute

  execute(ops: readonly Uint8Array[]): Uint8Array[] {
    // The auction's clock is this call (one per committed batch); phases move before the ops.
    this.auction?.tick(this.port);
    const decoded: (DecodedLedgerTx | DecodedAuctionTx | string | null)[] = ops.map((op) => {
      if (isLedgerClockOp(op)) return null;
      try {
        return isAuctionOp(op) ? decodeAuctionTx(op) : decodeLedgerTx(op);
      } catch (e) {
        return e instanceof CodecError ? e.message : 'not a ledger transaction';
      }
    });
    // One verification batch for every signature of every decoded op: signature validity does
    // not depend on the state, so the verdicts can be computed before any op executes.
    const items: SignedItem[] = [];
    const first: number[] = [];
    for (const d of decoded) {
      first.push(items.length);
      if (d === null || typeof d === 'string') continue;
      if (isAuctionTx(d)) {
        // A reveal is unsigned (its commitment authenticates it).
        if (d.bodyBytes !== null && d.signature !== null) items.push({ publicKey: d.signer, message: ledgerSigningMessage(d.bodyBytes), signature: d.signature });
        continue;
      }
      const message = ledgerSigningMessage(d.bodyBytes);
      items.push({ publicKey: d.signer, message, signature: d.signature });
      for (const c of d.cosignatures) items.push({ publicKey: c.publicKey, message, signature: c.signature });
    }
    const valid = items.length > 0 ? this.crypto.ed25519VerifyBatch(items) : new Uint8Array(0);
    return decoded.map((d, i) => {
      if (d === null) return utf8Encode(formatOutcome(OK)); // the clock op
      if (typeof d === 'string') return utf8Encode(formatOutcome(reject('malformed', d)));
      if (isAuctionTx(d)) return utf8Encode(formatAuctionOutcome(this.applyAuction(d, valid[first[i]!] === 1)));
      return utf8Encode(formatOutcome(this.apply(d, valid.subarray(first[i]!, first[i]! + 1 + d.cosignatures.length))));
    });
  }

  // ------------------------------------------------------------------ the auction's ops and port

  /**
   * Order of checks for an auction op: malformed -> wrong_chain -> auction_disabled, then for a
   * signed op (open, commit) unknown_account -> bad_signature -> bad_nonce (none touch the state;
   * past them the nonce is consumed), then the auction's own checks (auction.ts).
   */
  private applyAuction(tx: DecodedAuctionTx, sigValid: boolean): AuctionOutcome {
    if (tx.chainId !== this.chainId) return reject('wrong_chain', `signed for chain "${tx.chainId}", this ledger is "${this.chainId}"`);
    const auction = this.auction;
    if (auction === null) return { code: 'auction_disabled', detail: 'this ledger runs without the auction (LedgerAppOptions.auction / triple_consensus.auction)' };
    if (tx.body.kind === 'reveal') return auction.reveal(tx);
    const signer = this.accounts.get(toHex(tx.signer));
    if (!signer) return reject('unknown_account', `signer ${toHex(tx.signer)} has no account`);
    if (!sigValid) return reject('bad_signature', `the signer's signature does not verify for ${toHex(tx.signer)}`);
    if (tx.nonce !== signer.nonce) return reject('bad_nonce', `nonce ${tx.nonce} of ${toHex(tx.signer)} is ${tx.nonce < signer.nonce ? 'already used' : 'ahead'}; the next nonce is ${signer.nonce}`);
    if (signer.nonce >= Number.MAX_SAFE_INTEGER - 1) return reject('bad_nonce', `the nonces of ${toHex(tx.signer)} are exhausted`);
    signer.nonce++;
    switch (tx.body.kind) {
      case 'open':
        return auction.open(tx.signer, auctionRoundId(this.crypto, tx.signer, tx.nonce));
      case 'commit':
        return auction.commit(tx.signer, tx.body.roundId, tx.body.commitment, this.port);
      default: {
        const never: never = tx.body;
        return reject('malformed', `unknown auction kind ${(never as { kind: string }).kind}`);
      }
    }
  }

  private readonly port: AuctionLedgerPort = {
    move: (from, to, asset, amount) => this.move(from, to, asset, amount),
    settle: (txs, payer, asset, bid, treasury) => this.settleBundle(txs, payer, asset, bid, treasury),
  };

  /** A plain move of one asset (no nonce, no limits: the auction's deposits, refunds and bids). */
  private move(from: Uint8Array, to: Uint8Array, asset: string, amount: bigint): LedgerOutcome {
    const a = this.accounts.get(toHex(from));
    const b = this.accounts.get(toHex(to));
    if (!a) return reject('unknown_account', `${toHex(from)} has no account`);
    if (!b) return reject('unknown_account', `${toHex(to)} has no account`);
    if (!this.supply.has(asset)) return reject('unknown_asset', `${asset} is not a genesis asset`);
    if (amount === 0n || a === b) return OK;
    const have = a.entries.get(asset)?.balance ?? 0n;
    if (have < amount) return reject('insufficient_funds', `${toHex(from)} has ${have} ${asset}, needs ${amount}`);
    this.setBalance(a, asset, have - amount);
    this.setBalance(b, asset, (b.entries.get(asset)?.balance ?? 0n) + amount); // supply bounds it
    return OK;
  }

  /**
   * The bundle's transactions in order, then the bid payer -> treasury, all or none: every
   * account they name (and the supply) is copied first and put back on the first failure, so a
   * failed bundle leaves no trace (its nonces are not consumed either).
   */
  private settleBundle(txs: readonly Uint8Array[], payer: Uint8Array, asset: string, bid: bigint, treasury: Uint8Array): { outcome: LedgerOutcome; failedIndex: number } {
    const decoded: DecodedLedgerTx[] = [];
    for (let i = 0; i < txs.length; i++) {
      try {
        decoded.push(decodeLedgerTx(txs[i]!));
      } catch (e) {
        return { outcome: reject('malformed', e instanceof CodecError ? e.message : 'not a ledger transaction'), failedIndex: i };
      }
    }
    const items: SignedItem[] = [];
    for (const d of decoded) {
      const message = ledgerSigningMessage(d.bodyBytes);
      items.push({ publicKey: d.signer, message, signature: d.signature });
      for (const c of d.cosignatures) items.push({ publicKey: c.publicKey, message, signature: c.signature });
    }
    const valid = this.crypto.ed25519VerifyBatch(items);
    const touched = new Map<string, Account | null>();
    const save = (k: Uint8Array): void => {
      const h = toHex(k);
      if (touched.has(h)) return;
      const a = this.accounts.get(h);
      touched.set(h, a ? { key: a.key, nonce: a.nonce, entries: new Map([...a.entries].map(([s, e]) => [s, { ...e }])) } : null);
    };
    for (const d of decoded) for (const k of accountsOf(d)) save(k);
    save(payer);
    save(treasury);
    const supply = new Map(this.supply);
    const undo = (): void => {
      for (const [h, a] of touched) {
        if (a) this.accounts.set(h, a);
        else this.accounts.delete(h);
      }
      this.supply = supply;
    };
    let at = 0;
    for (let i = 0; i < decoded.length; i++) {
      const d = decoded[i]!;
      const o = this.apply(d, valid.subarray(at, at + 1 + d.cosignatures.length));
      at += 1 + d.cosignatures.length;
      if (o.code !== 'ok') {
        undo();
        return { outcome: o, failedIndex: i };
      }
    }
    const paid = this.move(payer, treasury, asset, bid);
    if (paid.code !== 'ok') {
      undo();
      return { outcome: { code: paid.code, detail: `the bid of ${bid} ${asset}: ${paid.detail}` }, failedIndex: decoded.length };
    }
    return { outcome: OK, failedIndex: -1 };
  }

  private apply(tx: DecodedLedgerTx, sigValid: Uint8Array): LedgerOutcome {
    if (tx.chainId !== this.chainId) return reject('wrong_chain', `signed for chain "${tx.chainId}", this ledger is "${this.chainId}"`);
    const b = tx.body;
    // Authorization by shape.
    switch (b.kind) {
      case 'mint':
      case 'configure':
        if (this.authority === null) return reject('unauthorized', `this ledger has no mint authority; ${b.kind} is not possible`);
        if (compareBytes(tx.signer, this.authority) !== 0) return reject('unauthorized', `only the mint authority ${short(this.authority)} may ${b.kind}; signer is ${short(tx.signer)}`);
        break;
      case 'transfer': {
        const signers = new Set([toHex(tx.signer), ...tx.cosignatures.map((c) => toHex(c.publicKey))]);
        const sources = new Set<string>();
        for (let i = 0; i < b.legs.length; i++) {
          const from = toHex(b.legs[i]!.from);
          if (!signers.has(from)) return reject('unauthorized', `legs[${i}] spends from ${from}, which did not sign`);
          sources.add(from);
        }
        for (const c of tx.cosignatures) {
          if (!sources.has(toHex(c.publicKey))) return reject('malformed', `co-signer ${toHex(c.publicKey)} is the source of no leg`);
        }
        break;
      }
      case 'burn':
        break;
      default: {
        const never: never = b;
        return reject('malformed', `unknown kind ${(never as { kind: string }).kind}`);
      }
    }
    // The auction's escrow holds exactly the locked deposits: nothing else may pay into it.
    if (this.auction && (b.kind === 'transfer' || b.kind === 'mint')) {
      const escrow = toHex(this.auction.escrow);
      for (let i = 0; i < b.legs.length; i++) if (toHex(b.legs[i]!.to) === escrow) return reject('unauthorized', `legs[${i}].to is the auction escrow, which takes only deposits`);
    }
    // Assets.
    const assets = b.kind === 'configure' ? b.limits.map((l) => l.asset) : b.legs.map((l) => l.asset);
    for (let i = 0; i < assets.length; i++) {
      if (!this.supply.has(assets[i]!)) return reject('unknown_asset', `${b.kind === 'configure' ? 'limits' : 'legs'}[${i}].asset ${assets[i]} is not one of ${[...this.supply.keys()].sort().join(', ')}`);
    }
    // Accounts that must exist.
    const signer = this.accounts.get(toHex(tx.signer));
    if (!signer) return reject('unknown_account', `signer ${toHex(tx.signer)} has no account`);
    for (const c of tx.cosignatures) if (!this.accounts.has(toHex(c.publicKey))) return reject('unknown_account', `co-signer ${toHex(c.publicKey)} has no account`);
    if (b.kind === 'transfer') {
      for (let i = 0; i < b.legs.length; i++) if (!this.accounts.has(toHex(b.legs[i]!.to))) return reject('unknown_account', `legs[${i}].to ${toHex(b.legs[i]!.to)} has no account`);
    }
    // Signatures.
    if (sigValid[0] !== 1) return reject('bad_signature', `the signer's signature does not verify for ${toHex(tx.signer)}`);
    for (let i = 0; i < tx.cosignatures.length; i++) {
      if (sigValid[i + 1] !== 1) return reject('bad_signature', `co-signature ${i} does not verify for ${toHex(tx.cosignatures[i]!.publicKey)}`);
    }
    // Nonce.
    if (tx.nonce < signer.nonce) return reject('bad_nonce', `nonce ${tx.nonce} of ${toHex(tx.signer)} is already used; the next nonce is ${signer.nonce}`);
    if (tx.nonce > signer.nonce) return reject('bad_nonce', `nonce ${tx.nonce} of ${toHex(tx.signer)} is ahead; the next nonce is ${signer.nonce}`);
    if (signer.nonce >= Number.MAX_SAFE_INTEGER - 1) return reject('bad_nonce', `the nonces of ${toHex(tx.signer)} are exhausted`);
    signer.nonce++;
    // From here on the nonce is consumed, and a rejection leaves every balance as it was.
    switch (b.kind) {
      case 'transfer':
        return this.transfer(b.legs);
      case 'mint':
        return this.mint(b.legs);
      case 'burn':
        return this.burn(signer, b.legs);
      case 'configure':
        return this.configure(b.account, b.limits);
      default: {
        const never: never = b;
        return reject('malformed', `unknown kind ${(never as { kind: string }).kind}`);
      }
    }
  }

  private transfer(legs: readonly TransferLeg[]): LedgerOutcome {
    // Limits first: what each (source, asset) takes out in total.
    const out = new Map<string, bigint>();
    for (const l of legs) {
      const k = `${toHex(l.from)}/${l.asset}`;
      out.set(k, (out.get(k) ?? 0n) + l.amount);
    }
    for (const k of [...out.keys()].sort()) {
      const [from, asset] = k.split('/') as [string, string];
      const e = this.accounts.get(from)!.entries.get(asset);
      const sum = out.get(k)!;
      if (e?.perTxMax != null && sum > e.perTxMax) return reject('limit_exceeded', `${from} sends ${sum} ${asset} in this transaction; its per-transaction maximum is ${e.perTxMax}`);
      if (e?.outflowMax != null && sum > e.outflowMax - e.outflow) {
        return reject('limit_exceeded', `${from} sends ${sum} ${asset}; ${e.outflowMax - e.outflow} of its ${e.outflowMax} ${asset} allowance is left`);
      }
    }
    // Legs in order on a scratch copy of the balances they touch.
    const scratch = new Map<string, bigint>();
    const get = (key: string, asset: string): bigint => scratch.get(`${key}/${asset}`) ?? this.accounts.get(key)!.entries.get(asset)?.balance ?? 0n;
    for (let i = 0; i < legs.length; i++) {
      const l = legs[i]!;
      const from = toHex(l.from);
      const to = toHex(l.to);
      const have = get(from, l.asset);
      if (have < l.amount) return reject('insufficient_funds', `legs[${i}]: ${from} has ${have} ${l.asset}, the leg needs ${l.amount}`);
      const dest = get(to, l.asset) + l.amount;
      if (dest > LEDGER_LIMITS.amountMax) return reject('overflow', `legs[${i}]: ${to} would hold more than 2^63-1 ${l.asset}`);
      scratch.set(`${from}/${l.asset}`, have - l.amount);
      scratch.set(`${to}/${l.asset}`, dest);
    }
    // Every leg holds: apply (sorted, though order does not matter here).
    for (const k of [...scratch.keys()].sort()) {
      const [key, asset] = k.split('/') as [string, string];
      this.setBalance(this.accounts.get(key)!, asset, scratch.get(k)!);
    }
    for (const [k, sum] of out) {
      const [from, asset] = k.split('/') as [string, string];
      const e = this.accounts.get(from)!.entries.get(asset);
      if (e && e.outflowMax !== null) e.outflow += sum;
    }
    return OK;
  }

  private mint(legs: readonly { readonly to: Uint8Array; readonly asset: string; readonly amount: bigint }[]): LedgerOutcome {
    const fresh = new Set<string>();
    const added = new Map<string, bigint>();
    for (const l of legs) {
      const to = toHex(l.to);
      if (!this.accounts.has(to)) fresh.add(to);
      added.set(l.asset, (added.get(l.asset) ?? 0n) + l.amount);
    }
    if (this.accounts.size + fresh.size > LEDGER_LIMITS.accountsMax) return reject('capacity_exceeded', `the ledger holds ${this.accounts.size} of at most ${LEDGER_LIMITS.accountsMax} accounts; this mint opens ${fresh.size}`);
    for (const asset of [...added.keys()].sort()) {
      if (this.supply.get(asset)! + added.get(asset)! > LEDGER_LIMITS.amountMax) return reject('overflow', `minting ${added.get(asset)} ${asset} would take its supply above 2^63-1`);
    }
    // Supply bounds every balance, so no recipient can overflow now.
    for (const l of legs) {
      const acct = this.openAccount(l.to);
      this.setBalance(acct, l.asset, (acct.entries.get(l.asset)?.balance ?? 0n) + l.amount);
    }
    for (const [asset, n] of added) this.supply.set(asset, this.supply.get(asset)! + n);
    return OK;
  }

  private burn(signer: Account, legs: readonly { readonly asset: string; readonly amount: bigint }[]): LedgerOutcome {
    const scratch = new Map<string, bigint>();
    for (let i = 0; i < legs.length; i++) {
      const l = legs[i]!;
      const have = scratch.get(l.asset) ?? signer.entries.get(l.asset)?.balance ?? 0n;
      if (have < l.amount) return reject('insufficient_funds', `legs[${i}]: ${toHex(signer.key)} has ${have} ${l.asset}, the burn needs ${l.amount}`);
      scratch.set(l.asset, have - l.amount);
    }
    for (const asset of [...scratch.keys()].sort()) {
      const before = signer.entries.get(asset)?.balance ?? 0n;
      const after = scratch.get(asset)!;
      this.setBalance(signer, asset, after);
      this.supply.set(asset, this.supply.get(asset)! - (before - after));
    }
    return OK;
  }

  private configure(account: Uint8Array, limits: readonly { readonly asset: string; readonly perTxMax: bigint | null; readonly outflowMax: bigint | null }[]): LedgerOutcome {
    if (!this.accounts.has(toHex(account)) && this.accounts.size >= LEDGER_LIMITS.accountsMax) {
      return reject('capacity_exceeded', `the ledger holds its maximum of ${LEDGER_LIMITS.accountsMax} accounts`);
    }
    const acct = this.openAccount(account);
    for (const l of limits) {
      const e = acct.entries.get(l.asset) ?? { balance: 0n, perTxMax: null, outflowMax: null, outflow: 0n };
      e.perTxMax = l.perTxMax;
      e.outflowMax = l.outflowMax;
      e.outflow = 0n; // a (re)set allowance starts afresh
      acct.entries.set(l.asset, e);
      this.normalize(acct, l.asset);
    }
    return OK;
  }

  private openAccount(key: Uint8Array): Account {
    const h = toHex(key);
    let a = this.accounts.get(h);
    if (!a) {
      a = { key: key.slice(), nonce: 0, entries: new Map() };
      this.accounts.set(h, a);
    }
    return a;
  }

  private setBalance(acct: Account, asset: string, balance: bigint): void {
    const e = acct.entries.get(asset);
    if (e) e.balance = balance;
    else acct.entries.set(asset, { balance, perTxMax: null, outflowMax: null, outflow: 0n });
    this.normalize(acct, asset);
  }

  /** An entry with nothing in it does not exist (canonical snapshot). */
  private normalize(acct: Account, asset: string): void {
    const e = acct.entries.get(asset);
    if (e && e.balance === 0n && e.perTxMax === null && e.outflowMax === null) acct.entries.delete(asset);
    else if (e && e.outflowMax === null) e.outflow = 0n;
  }

  // ------------------------------------------------------------------ snapshot

  snapshot(): Uint8Array {
    const w = new Writer(1024 + this.accounts.size * 64);
    this.writeHeader(w);
    const keys = [...this.accounts.keys()].sort();
    w.u32(keys.length);
    for (const k of keys) writeAccount(w, this.accounts.get(k)!);
    // With the auction, its state follows the accounts (the plain ledger's bytes are unchanged).
    if (this.auction) this.auction.encode(w);
    return w.finish();
  }

  private writeHeader(w: Writer): void {
    w.u8(SNAPSHOT_VERSION);
    writeAscii(w, this.chainId);
    if (this.authority) {
      w.u8(1);
      w.fixed(this.authority, 32);
    } else w.u8(0);
    const assets = [...this.supply.keys()].sort();
    w.u8(assets.length);
    for (const a of assets) {
      writeAscii(w, a);
      writeU64(w, this.supply.get(a)!);
    }
  }

  /** The digest's leaves: the header, then every account in key order (see the header comment). */
  private leaves(): { leaves: Uint8Array[]; keys: string[] } {
    const head = new Writer(256);
    head.u8(LEAF_HEADER);
    this.writeHeader(head);
    const keys = [...this.accounts.keys()].sort();
    const leaves = [head.finish()];
    for (const k of keys) {
      const w = new Writer(128);
      w.u8(LEAF_ACCOUNT);
      writeAccount(w, this.accounts.get(k)!);
      leaves.push(w.finish());
    }
    if (this.auction) {
      // The last leaf: 0x02 || the auction's snapshot encoding.
      const w = new Writer(1024);
      w.u8(LEAF_AUCTION);
      this.auction.encode(w);
      leaves.push(w.finish());
    }
    return { leaves, keys };
  }

  /** One account's leaf and its Merkle proof against digest(); undefined when it has no account. */
  accountProof(publicKey: Uint8Array): { readonly leaf: Uint8Array; readonly proof: MerkleProof } | undefined {
    const h = toHex(publicKey);
    if (!this.accounts.has(h)) return undefined;
    const { leaves, keys } = this.leaves();
    const index = 1 + keys.indexOf(h);
    return { leaf: leaves[index]!, proof: this.crypto.merkleProof(leaves, index) };
  }

  restore(snapshot: Uint8Array): void {
    const bytesMax = SNAPSHOT_BYTES_MAX + (this.auction ? AUCTION_SNAPSHOT_BYTES_MAX : 0);
    if (snapshot.length > bytesMax) throw new CodecError('too-large', `ledger snapshot of ${snapshot.length} bytes > max ${bytesMax}`);
    let installAuction: (() => void) | null = null;
    const r = new Reader(snapshot);
    const version = r.u8('ledger snapshot version');
    if (version !== SNAPSHOT_VERSION) throw new CodecError('bad-tag', `ledger snapshot version ${version}, expected ${SNAPSHOT_VERSION}`);
    const chainId = readAscii(r, LEDGER_LIMITS.chainIdBytesMax, CHAIN_ID_RE, 'chain id');
    const hasAuthority = r.u8('authority flag');
    if (hasAuthority > 1) throw new CodecError('bad-value', `authority flag ${hasAuthority}`);
    const authority = hasAuthority === 1 ? r.fixed(32, 'authority') : null;
    const na = r.u8('assets count');
    if (na < 1 || na > LEDGER_LIMITS.assetsMax) throw new CodecError('bad-value', `ledger snapshot: ${na} assets, expected 1..${LEDGER_LIMITS.assetsMax}`);
    const supply = new Map<string, bigint>();
    let prev = '';
    for (let i = 0; i < na; i++) {
      const a = readAscii(r, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, 'asset');
      if (i > 0 && !(prev < a)) throw new CodecError('not-canonical', 'ledger snapshot assets must be strictly ascending');
      supply.set(a, readU64(r, 'supply'));
      prev = a;
    }
    const nacct = r.count(LEDGER_LIMITS.accountsMax, 32 + 8 + 1, 'accounts');
    const accounts = new Map<string, Account>();
    const sums = new Map<string, bigint>([...supply.keys()].map((a) => [a, 0n]));
    let prevKey: Uint8Array | null = null;
    for (let i = 0; i < nacct; i++) {
      const key = r.fixed(32, 'account key');
      if (prevKey && compareBytes(prevKey, key) >= 0) throw new CodecError('not-canonical', 'ledger snapshot accounts must be strictly ascending by key');
      prevKey = key;
      const nonce = r.u53('nonce');
      const ne = r.u8('entries count');
      if (ne > na) throw new CodecError('bad-value', `account ${toHex(key)}: ${ne} entries for ${na} assets`);
      const entries = new Map<string, Entry>();
      let prevSym = '';
      for (let j = 0; j < ne; j++) {
        const s = readAscii(r, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, 'entry asset');
        if (!supply.has(s)) throw new CodecError('bad-value', `account ${toHex(key)}: unknown asset ${s}`);
        if (j > 0 && !(prevSym < s)) throw new CodecError('not-canonical', 'ledger snapshot entries must be strictly ascending by asset');
        prevSym = s;
        const balance = readU64(r, 'balance');
        const flags = r.u8('entry flags');
        if ((flags & ~(FLAG_PER_TX | FLAG_OUTFLOW)) !== 0) throw new CodecError('bad-value', `entry flags ${flags}`);
        const perTxMax = flags & FLAG_PER_TX ? readU64(r, 'perTxMax') : null;
        let outflowMax: bigint | null = null;
        let outflow = 0n;
        if (flags & FLAG_OUTFLOW) {
          outflowMax = readU64(r, 'outflowMax');
          outflow = readU64(r, 'outflow');
          if (outflow > outflowMax) throw new CodecError('bad-value', `account ${toHex(key)} ${s}: outflow ${outflow} above its allowance ${outflowMax}`);
        }
        if (balance === 0n && flags === 0) throw new CodecError('not-canonical', `account ${toHex(key)} ${s}: an empty entry`);
        sums.set(s, sums.get(s)! + balance);
        entries.set(s, { balance, perTxMax, outflowMax, outflow });
      }
      accounts.set(toHex(key), { key, nonce, entries });
    }
    if (this.auction) {
      for (const k of [this.auction.escrow, this.auction.treasury]) if (!accounts.has(toHex(k))) throw new CodecError('bad-value', 'ledger snapshot: the auction escrow or treasury has no account');
      installAuction = this.auction.decode(r);
    }
    r.end();
    for (const [a, s] of supply) if (sums.get(a) !== s) throw new CodecError('bad-value', `ledger snapshot: ${a} supply ${s} != sum of balances ${sums.get(a)}`);
    if (authority && !accounts.has(toHex(authority))) throw new CodecError('bad-value', 'ledger snapshot: the mint authority has no account');
    this.chainId = chainId;
    this.authority = authority;
    this.supply = supply;
    this.accounts = accounts;
    installAuction?.();
  }

  digest(): Digest {
    return this.crypto.merkleRoot(this.leaves().leaves);
  }
}

const LEAF_HEADER = 0;
const LEAF_ACCOUNT = 1;
const LEAF_AUCTION = 2;

function isAuctionTx(d: DecodedLedgerTx | DecodedAuctionTx): d is DecodedAuctionTx {
  return !('cosignatures' in d);
}

function writeAccount(w: Writer, acct: Account): void {
  w.fixed(acct.key, 32);
  w.u53(acct.nonce);
  const syms = [...acct.entries.keys()].sort();
  w.u8(syms.length);
  for (const s of syms) {
    const e = acct.entries.get(s)!;
    writeAscii(w, s);
    writeU64(w, e.balance);
    w.u8((e.perTxMax !== null ? FLAG_PER_TX : 0) | (e.outflowMax !== null ? FLAG_OUTFLOW : 0));
    if (e.perTxMax !== null) writeU64(w, e.perTxMax);
    if (e.outflowMax !== null) {
      writeU64(w, e.outflowMax);
      writeU64(w, e.outflow);
    }
  }
}

export interface ProvenLedgerAccount {
  readonly publicKey: Uint8Array;
  readonly nonce: number;
  /** Positive balances and limits as the leaf holds them (assets absent from it hold 0). */
  readonly entries: readonly { readonly asset: string; readonly balance: bigint; readonly perTxMax: bigint | null; readonly outflowMax: bigint | null; readonly outflow: bigint }[];
}

/**
 * Checks an account proof (LedgerApp.accountProof, or the API's) against a ledger digest and
 * returns the account it proves, or null when the leaf is not an account leaf, is malformed, or
 * is not under `digest`. Never throws on bad input.
 */
export function verifyLedgerAccountProof(digest: Uint8Array, leaf: Uint8Array, proof: MerkleProof): ProvenLedgerAccount | null {
  if (!(digest instanceof Uint8Array) || digest.length !== 32 || !(leaf instanceof Uint8Array)) return null;
  let account: ProvenLedgerAccount;
  try {
    const r = new Reader(leaf);
    if (r.u8('leaf tag') !== LEAF_ACCOUNT) return null;
    const publicKey = r.fixed(32, 'account key');
    const nonce = r.u53('nonce');
    const ne = r.u8('entries count');
    if (ne > LEDGER_LIMITS.assetsMax) return null;
    const entries: ProvenLedgerAccount['entries'][number][] = [];
    for (let j = 0; j < ne; j++) {
      const asset = readAscii(r, LEDGER_LIMITS.symbolBytesMax, SYMBOL_RE, 'entry asset');
      const balance = readU64(r, 'balance');
      const flags = r.u8('entry flags');
      if ((flags & ~(FLAG_PER_TX | FLAG_OUTFLOW)) !== 0) return null;
      const perTxMax = flags & FLAG_PER_TX ? readU64(r, 'perTxMax') : null;
      const outflowMax = flags & FLAG_OUTFLOW ? readU64(r, 'outflowMax') : null;
      const outflow = flags & FLAG_OUTFLOW ? readU64(r, 'outflow') : 0n;
      entries.push({ asset, balance, perTxMax, outflowMax, outflow });
    }
    r.end();
    account = { publicKey, nonce, entries };
  } catch {
    return null;
  }
  try {
    return proof.index >= 1 && verifyMerkleProof(digest, leaf, proof) ? account : null;
  } catch {
    return null;
  }
}

function writeAscii(w: Writer, s: string): void {
  w.u8(s.length);
  for (let i = 0; i < s.length; i++) w.u8(s.charCodeAt(i));
}

function readAscii(r: Reader, maxBytes: number, re: RegExp, what: string): string {
  const n = r.u8(`${what} length`);
  if (n > maxBytes) throw new CodecError('too-large', `${what}: ${n} bytes > max ${maxBytes}`);
  let s = '';
  for (const x of r.fixed(n, what)) s += String.fromCharCode(x);
  if (!re.test(s)) throw new CodecError('bad-value', `${what} ${JSON.stringify(s)} does not match ${re}`);
  return s;
}

