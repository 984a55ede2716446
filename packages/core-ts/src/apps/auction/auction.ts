// The Tranverse auction: sealed-bid bundle rounds inside the ledger's replicated state.
//
// Clock. StateMachine.execute(ops) is not told the height it executes at, so the auction keeps
// its own: `height` counts the execute() calls of the ledger app, one per committed batch that
// ReplicatedState hands it (an empty batch counts too). Every validator executes the same
// committed batches, and the counter is in the snapshot, so every validator (a restored one too)
// reads the same clock. No wall clock is read anywhere. A cluster without traffic commits no
// batches, so its rounds wait: any op (even one that is rejected) moves the clock by its batch.
//
// A round (opened by any account: `open`, nonce consumed) goes through, by height:
//   BidCollection    [openedAt, collectEnd)      commits accepted: a signed hash; the deposit
//                                                 (config.deposit of config.asset) moves from the
//                                                 bidder to the escrow account
//   BidEvaluation    [collectEnd, revealEnd)      reveals accepted: the payload must hash to one
//                                                 of the signer's commitments
//   WinnerSelection  at revealEnd                 every valid reveal is scored and ranked
//   Settlement       at revealEnd + 1             the ranking is final, rank 0 is the candidate
//   Finalized|Failed at revealEnd + 2             bundles are tried in rank order; the first that
//                                                 executes wins; deposits settle
// Transitions happen at the start of a batch (before its ops), one phase per round per batch.
// A round without a valid reveal fails at revealEnd with `no_valid_bids`.
//
// Score (integers, so every validator computes the same bits):
//   bidNorm   = floor(bid * 1e6 / max bid of the round's valid reveals)     (0 when all bid 0)
//   score     = economicWeightBp * bidNorm + priorityWeightBp * priorityPpm  (units: bp x 1e-6)
//   ranking   = score desc, then bid desc, then earlier commit (height, then order in the round)
//
// Net payment. A bundle's value is exactly its bid: an amount the bidder pays from its own
// balance to the treasury, in the same atomic step as the bundle. What the bundle's
// transactions move (to the treasury or anyone) counts for nothing, so stuffing a bundle with
// other people's transactions (their payments included) does not raise its score; and the bid is
// only paid when the bundle executes.
//
// Settlement. The winning bundle's transactions execute in the submitter's order, contiguously,
// as one step at the start of one batch: all of them and the bid payment, or none (a failure
// restores every account they touched, nonces included). On a failure the attempt is recorded
// with the ledger reason and the index of the transaction that failed (txs.length = the bid
// payment), and the next bundle by rank is tried.
//
// Deposits. A commitment's deposit is returned when its round ends if it was validly revealed
// (winner or not, bundle failed or not); a commitment never validly revealed forfeits its deposit
// to the treasury (the last-revealer attack: withholding a reveal after seeing the others costs
// the deposit). Deposits sit in the escrow account meanwhile, so the ledger's supply is
// conserved throughout; only forfeits and bids change hands, to the treasury.
//
// Known limits: the reveal phase is public (a reveal is visible as soon as it is ordered), so a
// bidder who has not revealed yet sees the others' reveals; it can only withhold (and forfeit),
// not change its bid. A primary can delay or censor reveals like any request; that costs the
// bidder its deposit. Priority is declared by the bidder (sealed with the bid) and bounded 0..1.

import { CodecError, Reader, Writer } from '../../codec/wire.js';
import type { CryptoBackend } from '../../crypto/backend.js';
import { LEDGER_LIMITS } from '../ledger/limits.js';
import type { LedgerOutcome } from '../ledger/reasons.js';
import { compareBytes, decodeLedgerTx, toHex } from '../ledger/tx.js';
import { AUCTION_LIMITS, PRIORITY_SCALE, WEIGHT_SCALE, type AuctionConfig } from './limits.js';
import type { AuctionOutcome } from './reasons.js';
import { auctionCommitment, formatRoundId, type DecodedAuctionTx } from './tx.js';
import { readU64, writeU64 } from '../ledger/u64.js';

export const AUCTION_PHASES = ['BidCollection', 'BidEvaluation', 'WinnerSelection', 'Settlement', 'Finalized', 'Failed'] as const;
export type AuctionPhase = (typeof AUCTION_PHASES)[number];

/** What the auction needs from the ledger it lives in (LedgerApp implements it). */
export interface AuctionLedgerPort {
  /** A plain move (no nonce, no limits); on failure nothing changed. */
  move(from: Uint8Array, to: Uint8Array, asset: string, amount: bigint): LedgerOutcome;
  /** The bundle's transactions in order, then the bid payment payer -> treasury; all or none. */
  settle(txs: readonly Uint8Array[], payer: Uint8Array, asset: string, bid: bigint, treasury: Uint8Array): { readonly outcome: LedgerOutcome; readonly failedIndex: number };
}

interface Reveal {
  readonly bundleId: string;
  readonly bid: bigint;
  readonly priorityPpm: number;
  readonly height: number;
  /** The bundle while the round is active; empty once it is in the history (txIds remain). */
  txs: Uint8Array[];
  readonly txIds: Uint8Array[];
}

interface Commit {
  readonly bidder: Uint8Array;
  readonly commitment: Uint8Array;
  readonly height: number;
  reveal: Reveal | null;
  deposit: 'locked' | 'returned' | 'forfeited';
}

export interface BidEvaluation {
  readonly bundleId: string;
  readonly bidder: Uint8Array;
  readonly bid: bigint;
  readonly bidNormPpm: number;
  readonly priorityPpm: number;
  /** economicWeightBp x bidNormPpm and priorityWeightBp x priorityPpm; score = their sum. */
  readonly economicPart: bigint;
  readonly priorityPart: bigint;
  readonly score: bigint;
  readonly rank: number;
  /** Index of the commitment in the round. */
  readonly commitIndex: number;
}

export interface SettlementAttempt {
  readonly bundleId: string;
  /** "ok" or "<ledger reason>: <detail>". */
  readonly outcome: string;
  /** The bundle transaction that failed (txs.length: the bid payment); -1 when it succeeded. */
  readonly failedIndex: number;
}

interface Round {
  readonly id: Uint8Array;
  readonly opener: Uint8Array;
  readonly openedAt: number;
  readonly collectEnd: number;
  readonly revealEnd: number;
  readonly asset: string;
  readonly deposit: bigint;
  phase: AuctionPhase;
  phaseSince: number;
  readonly commits: Commit[];
  evaluations: BidEvaluation[];
  attempts: SettlementAttempt[];
  /** Commit index of the winner; -1 none (yet). */
  winner: number;
  /** Why it failed; empty otherwise. */
  reason: string;
  finishedAt: number;
  forfeited: bigint;
}

export interface AuctionRoundView {
  readonly roundId: string;
  readonly opener: Uint8Array;
  readonly phase: AuctionPhase;
  readonly phaseSince: number;
  readonly openedAt: number;
  readonly collectEnd: number;
  readonly revealEnd: number;
  /** -1 while active. */
  readonly finishedAt: number;
  readonly asset: string;
  readonly deposit: bigint;
  /** During BidCollection only hashes exist: bidder, commitment, height; the bundle after its reveal. */
  readonly commitments: readonly {
    readonly bidder: Uint8Array;
    readonly commitment: Uint8Array;
    readonly height: number;
    readonly deposit: 'locked' | 'returned' | 'forfeited';
    readonly revealed: { readonly bundleId: string; readonly bid: bigint; readonly priorityPpm: number; readonly height: number; readonly txIds: readonly Uint8Array[] } | null;
  }[];
  readonly evaluations: readonly BidEvaluation[];
  readonly attempts: readonly SettlementAttempt[];
  /** The winner's bundle id; during Settlement the candidate (rank 0); null when none. */
  readonly winner: string | null;
  readonly reason: string;
  readonly forfeited: bigint;
}

const ok: AuctionOutcome = { code: 'ok', detail: '' };
const no = (code: AuctionOutcome['code'], detail: string): AuctionOutcome => ({ code, detail });

export class Auction {
  /** Committed batches executed so far (see the clock above). */
  height = 0;
  /** Active rounds in open order; then finished rounds, oldest first. */
  private active: Round[] = [];
  private history: Round[] = [];

  constructor(
    readonly config: AuctionConfig,
    private readonly crypto: Pick<CryptoBackend, 'blake3'>,
    readonly escrow: Uint8Array,
    readonly treasury: Uint8Array,
  ) {}

  // ------------------------------------------------------------------ reads

  rounds(): { readonly active: AuctionRoundView[]; readonly history: AuctionRoundView[] } {
    return { active: this.active.map((r) => this.view(r)), history: this.history.map((r) => this.view(r)) };
  }

  round(id: Uint8Array): AuctionRoundView | undefined {
    const r = this.find(id);
    return r && this.view(r);
  }

  /** A cheap per-batch summary of the active rounds (the node's metrics read it after every commit). */
  activeSummary(): { readonly roundId: string; readonly phase: AuctionPhase; readonly commits: number; readonly reveals: number }[] {
    return this.active.map((r) => ({ roundId: formatRoundId(r.id), phase: r.phase, commits: r.commits.length, reveals: r.commits.filter((c) => c.reveal !== null).length }));
  }

  /** Deposits held by the escrow for active rounds (what the escrow balance must equal). */
  lockedDeposits(): bigint {
    let s = 0n;
    for (const r of this.active) for (const c of r.commits) if (c.deposit === 'locked') s += r.deposit;
    return s;
  }

  private find(id: Uint8Array): Round | undefined {
    return this.active.find((r) => compareBytes(r.id, id) === 0) ?? this.history.find((r) => compareBytes(r.id, id) === 0);
  }

  private view(r: Round): AuctionRoundView {
    const winnerIdx = r.winner >= 0 ? r.winner : r.phase === 'Settlement' && r.evaluations.length > 0 ? r.evaluations[0]!.commitIndex : -1;
    return {
      roundId: formatRoundId(r.id),
      opener: r.opener,
      phase: r.phase,
      phaseSince: r.phaseSince,
      openedAt: r.openedAt,
      collectEnd: r.collectEnd,
      revealEnd: r.revealEnd,
      finishedAt: r.finishedAt,
      asset: r.asset,
      deposit: r.deposit,
      commitments: r.commits.map((c) => ({
        bidder: c.bidder,
        commitment: c.commitment,
        height: c.height,
        deposit: c.deposit,
        revealed: c.reveal && { bundleId: c.reveal.bundleId, bid: c.reveal.bid, priorityPpm: c.reveal.priorityPpm, height: c.reveal.height, txIds: c.reveal.txIds },
      })),
      evaluations: r.evaluations,
      attempts: r.attempts,
      winner: winnerIdx >= 0 ? r.commits[winnerIdx]!.reveal!.bundleId : null,
      reason: r.reason,
      forfeited: r.forfeited,
    };
  }

  // ------------------------------------------------------------------ the clock

  /** Start of a batch: the clock moves one height and every round takes at most one step. */
  tick(port: AuctionLedgerPort): void {
    this.height++;
    const h = this.height;
    for (const r of [...this.active]) {
      switch (r.phase) {
        case 'BidCollection':
          if (h >= r.collectEnd) this.enter(r, 'BidEvaluation');
          break;
        case 'BidEvaluation':
          if (h >= r.revealEnd) this.evaluate(r, port);
          break;
        case 'WinnerSelection':
          if (h > r.phaseSince) this.enter(r, 'Settlement');
          break;
        case 'Settlement':
          if (h > r.phaseSince) this.settle(r, port);
          break;
        case 'Finalized':
        case 'Failed':
          throw new Error(`auction invariant: finished round ${formatRoundId(r.id)} among the active ones`);
        default: {
          const never: never = r.phase;
          throw new Error(`unknown phase ${String(never)}`);
        }
      }
    }
  }

  private enter(r: Round, phase: AuctionPhase): void {
    r.phase = phase;
    r.phaseSince = this.height;
  }

  private evaluate(r: Round, port: AuctionLedgerPort): void {
    const revealed = r.commits.map((c, i) => ({ c, i })).filter((x) => x.c.reveal !== null);
    if (revealed.length === 0) {
      r.reason = `no_valid_bids: none of ${r.commits.length} commitments was revealed`;
      this.finish(r, 'Failed', port);
      return;
    }
    let maxBid = 0n;
    for (const { c } of revealed) if (c.reveal!.bid > maxBid) maxBid = c.reveal!.bid;
    const ew = BigInt(this.config.economicWeightBp);
    const pw = BigInt(this.config.priorityWeightBp);
    const evals = revealed.map(({ c, i }) => {
      const rv = c.reveal!;
      const bidNormPpm = maxBid === 0n ? 0 : Number((rv.bid * BigInt(PRIORITY_SCALE)) / maxBid);
      const economicPart = ew * BigInt(bidNormPpm);
      const priorityPart = pw * BigInt(rv.priorityPpm);
      return { bundleId: rv.bundleId, bidder: c.bidder, bid: rv.bid, bidNormPpm, priorityPpm: rv.priorityPpm, economicPart, priorityPart, score: economicPart + priorityPart, rank: 0, commitIndex: i };
    });
    evals.sort((a, b) => (a.score !== b.score ? (a.score > b.score ? -1 : 1) : a.bid !== b.bid ? (a.bid > b.bid ? -1 : 1) : a.commitIndex - b.commitIndex));
    r.evaluations = evals.map((e, rank) => ({ ...e, rank }));
    this.enter(r, 'WinnerSelection');
  }

  private settle(r: Round, port: AuctionLedgerPort): void {
    for (const e of r.evaluations) {
      const c = r.commits[e.commitIndex]!;
      const res = port.settle(c.reveal!.txs, c.bidder, r.asset, c.reveal!.bid, this.treasury);
      r.attempts.push({ bundleId: e.bundleId, outcome: res.outcome.code === 'ok' ? 'ok' : `${res.outcome.code}: ${res.outcome.detail}`, failedIndex: res.outcome.code === 'ok' ? -1 : res.failedIndex });
      if (res.outcome.code === 'ok') {
        r.winner = e.commitIndex;
        this.finish(r, 'Finalized', port);
        return;
      }
    }
    r.reason = `all_bundles_failed: ${r.attempts.length} bundles tried, none executed`;
    this.finish(r, 'Failed', port);
  }

  /** Deposits settle, the bundles shrink to their tx ids, the round moves to the history. */
  private finish(r: Round, phase: 'Finalized' | 'Failed', port: AuctionLedgerPort): void {
    for (const c of r.commits) {
      if (c.deposit !== 'locked') continue;
      const to = c.reveal !== null ? c.bidder : this.treasury;
      const moved = port.move(this.escrow, to, r.asset, r.deposit);
      // The escrow holds every locked deposit and supply bounds every balance: this cannot fail.
      if (moved.code !== 'ok') throw new Error(`auction invariant: deposit release failed: ${moved.code}: ${moved.detail}`);
      c.deposit = c.reveal !== null ? 'returned' : 'forfeited';
      if (c.reveal === null) r.forfeited += r.deposit;
    }
    for (const c of r.commits) if (c.reveal !== null) c.reveal.txs = [];
    this.enter(r, phase);
    r.finishedAt = this.height;
    this.active = this.active.filter((x) => x !== r);
    this.history.push(r);
    while (this.history.length > AUCTION_LIMITS.historyMax) this.history.shift();
  }

  // ------------------------------------------------------------------ ops

  /** An open whose signature and nonce the ledger checked (and consumed). */
  open(signer: Uint8Array, roundId: Uint8Array): AuctionOutcome {
    if (this.find(roundId)) return no('round_exists', `round ${formatRoundId(roundId)} exists`);
    if (this.active.length >= this.config.activeRoundsMax) return no('too_many_active_rounds', `${this.active.length} rounds are active; max_active_rounds is ${this.config.activeRoundsMax}`);
    const collectEnd = this.height + this.config.collectHeights;
    this.active.push({
      id: roundId,
      opener: signer,
      openedAt: this.height,
      collectEnd,
      revealEnd: collectEnd + this.config.revealHeights,
      asset: this.config.asset,
      deposit: this.config.deposit,
      phase: 'BidCollection',
      phaseSince: this.height,
      commits: [],
      evaluations: [],
      attempts: [],
      winner: -1,
      reason: '',
      finishedAt: -1,
      forfeited: 0n,
    });
    return ok;
  }

  /** A commit whose signature and nonce the ledger checked (and consumed). */
  commit(signer: Uint8Array, roundId: Uint8Array, commitment: Uint8Array, port: AuctionLedgerPort): AuctionOutcome {
    const r = this.active.find((x) => compareBytes(x.id, roundId) === 0);
    if (!r) return this.find(roundId) ? no('collection_closed', `round ${formatRoundId(roundId)} is finished`) : no('unknown_round', `no round ${formatRoundId(roundId)}`);
    if (r.phase !== 'BidCollection') return no('collection_closed', `round ${formatRoundId(roundId)} is in ${r.phase} since height ${r.phaseSince}; commits closed at height ${r.collectEnd}`);
    if (r.commits.length >= AUCTION_LIMITS.bundlesPerRoundMax) return no('round_full', `round ${formatRoundId(roundId)} holds its maximum of ${AUCTION_LIMITS.bundlesPerRoundMax} commitments`);
    if (r.commits.some((c) => compareBytes(c.commitment, commitment) === 0)) return no('duplicate_commitment', `commitment ${toHex(commitment)} is in round ${formatRoundId(roundId)} already`);
    if (r.deposit > 0n) {
      const moved = port.move(signer, this.escrow, r.asset, r.deposit);
      if (moved.code !== 'ok') return { code: moved.code, detail: `deposit of ${r.deposit} ${r.asset}: ${moved.detail}` };
    }
    r.commits.push({ bidder: signer, commitment, height: this.height, reveal: null, deposit: 'locked' });
    return ok;
  }

  /** A reveal: unsigned, authenticated by the commitment it opens. */
  reveal(tx: DecodedAuctionTx): AuctionOutcome {
    if (tx.body.kind !== 'reveal') return no('malformed', `expected a reveal, got ${tx.body.kind}`);
    const p = tx.body.payload;
    const id = formatRoundId(p.roundId);
    const r = this.active.find((x) => compareBytes(x.id, p.roundId) === 0);
    if (!r) return this.find(p.roundId) ? no('reveal_closed', `round ${id} is finished`) : no('unknown_round', `no round ${id}`);
    if (r.phase === 'BidCollection') return no('collection_open', `round ${id} collects bids until height ${r.collectEnd}; reveals are accepted from then until ${r.revealEnd}`);
    if (r.phase !== 'BidEvaluation') return no('reveal_closed', `round ${id} is in ${r.phase}; reveals closed at height ${r.revealEnd}`);
    const mine = r.commits.filter((c) => compareBytes(c.bidder, tx.signer) === 0);
    if (mine.length === 0) return no('no_commitment', `${toHex(tx.signer)} has no commitment in round ${id}`);
    const h = auctionCommitment(this.crypto, tx.signer, tx.body.payloadBytes);
    const c = mine.find((x) => compareBytes(x.commitment, h) === 0);
    if (!c) return no('reveal_mismatch', `the reveal hashes to ${toHex(h)}, which is none of the ${mine.length} commitments of ${toHex(tx.signer)} in round ${id}`);
    if (c.reveal !== null) return no('already_revealed', `commitment ${toHex(h)} was revealed at height ${c.reveal.height}`);
    if (r.commits.some((x) => x.reveal?.bundleId === p.bundleId)) return no('duplicate_bundle_id', `bundle id ${p.bundleId} was revealed already in round ${id}`);
    for (let i = 0; i < p.txs.length; i++) {
      try {
        decodeLedgerTx(p.txs[i]!);
      } catch (e) {
        return no('bundle_malformed', `txs[${i}]: ${e instanceof CodecError ? e.message : 'not a ledger transaction'}`);
      }
    }
    c.reveal = { bundleId: p.bundleId, bid: p.bid, priorityPpm: p.priorityPpm, height: this.height, txs: [...p.txs], txIds: p.txs.map((t) => this.crypto.blake3(t)) };
    return ok;
  }

  // ------------------------------------------------------------------ snapshot
  //
  //   u53 height, u8 active, u8 history, rounds (active in open order, then history oldest first):
  //   8 id, key opener, u53 openedAt, collectEnd, revealEnd, phaseSince, u53 finishedAt + 1,
  //   sym asset, u64 deposit, u8 phase, u64 forfeited, u8 winner + 1, string reason,
  //   u8 commits, each: key bidder, 32 commitment, u53 height, u8 deposit state, u8 revealed,
  //     [bundle id, u64 bid, u32 priority, u53 height, u8 txs, each 32 id, u8 has bytes,
  //      [bytes tx]]
  //   u8 evaluations (in rank order), each: u8 commit index, u32 bidNorm, (the rest is derived
  //     from the reveal and the config, and recomputed on restore)
  //   u8 attempts, each: u8 commit index, string outcome, i32 failed index + 1

  encode(w: Writer): void {
    w.u53(this.height);
    w.u8(this.active.length);
    w.u8(this.history.length);
    for (const r of [...this.active, ...this.history]) {
      w.fixed(r.id, 8);
      w.fixed(r.opener, 32);
      w.u53(r.openedAt);
      w.u53(r.collectEnd);
      w.u53(r.revealEnd);
      w.u53(r.phaseSince);
      w.u53(r.finishedAt + 1);
      writeSym(w, r.asset);
      writeU64(w, r.deposit);
      w.u8(AUCTION_PHASES.indexOf(r.phase));
      writeU64(w, r.forfeited);
      w.u8(r.winner + 1);
      w.string(r.reason, 1024);
      w.u8(r.commits.length);
      for (const c of r.commits) {
        w.fixed(c.bidder, 32);
        w.fixed(c.commitment, 32);
        w.u53(c.height);
        w.u8(DEPOSIT_STATES.indexOf(c.deposit));
        w.u8(c.reveal ? 1 : 0);
        if (c.reveal) {
          writeSym(w, c.reveal.bundleId);
          writeU64(w, c.reveal.bid);
          w.u32(c.reveal.priorityPpm);
          w.u53(c.reveal.height);
          w.u8(c.reveal.txIds.length);
          c.reveal.txIds.forEach((id, i) => {
            w.fixed(id, 32);
            const tx = c.reveal!.txs[i];
            w.u8(tx ? 1 : 0);
            if (tx) w.bytes(tx, 0xffff);
          });
        }
      }
      w.u8(r.evaluations.length);
      for (const e of r.evaluations) {
        w.u8(e.commitIndex);
        w.u32(e.bidNormPpm);
      }
      w.u8(r.attempts.length);
      for (const a of r.attempts) {
        w.u8(r.commits.findIndex((c) => c.reveal?.bundleId === a.bundleId));
        w.string(a.outcome, 1024);
        w.u32(a.failedIndex + 1);
      }
    }
  }

  /**
   * Reads what encode() wrote; throws CodecError on anything malformed. Returns the function that
   * installs it, so a caller that checks more after this part replaces nothing on a failure.
   */
  decode(r: Reader): () => void {
    const height = r.u53('auction height');
    const na = r.u8('active rounds');
    const nh = r.u8('history rounds');
    if (na > AUCTION_LIMITS.activeRoundsMax || nh > AUCTION_LIMITS.historyMax) throw new CodecError('too-large', `auction snapshot: ${na} active / ${nh} kept rounds`);
    const rounds: Round[] = [];
    for (let k = 0; k < na + nh; k++) {
      const id = r.fixed(8, 'round id');
      const opener = r.fixed(32, 'opener');
      const openedAt = r.u53('openedAt');
      const collectEnd = r.u53('collectEnd');
      const revealEnd = r.u53('revealEnd');
      const phaseSince = r.u53('phaseSince');
      const finishedAt = r.u53('finishedAt') - 1;
      const asset = readSym(r, 'asset');
      const deposit = readU64(r, 'deposit');
      const phase = AUCTION_PHASES[r.u8('phase')];
      if (phase === undefined) throw new CodecError('bad-value', 'auction snapshot: unknown phase');
      const finished = phase === 'Finalized' || phase === 'Failed';
      if (finished !== k >= na) throw new CodecError('bad-value', `auction snapshot: round ${k} is ${phase} in the ${k >= na ? 'history' : 'active'} list`);
      const forfeited = readU64(r, 'forfeited');
      const winner = r.u8('winner') - 1;
      const reason = r.string(1024, 'reason');
      const ncommit = r.u8('commits');
      if (ncommit > AUCTION_LIMITS.bundlesPerRoundMax) throw new CodecError('too-large', `auction snapshot: ${ncommit} commits`);
      const commits: Commit[] = [];
      for (let i = 0; i < ncommit; i++) {
        const bidder = r.fixed(32, 'bidder');
        const commitment = r.fixed(32, 'commitment');
        const cHeight = r.u53('commit height');
        const dep = DEPOSIT_STATES[r.u8('deposit state')];
        if (dep === undefined) throw new CodecError('bad-value', 'auction snapshot: unknown deposit state');
        const revealed = r.u8('revealed');
        if (revealed > 1) throw new CodecError('bad-value', 'auction snapshot: revealed flag');
        let reveal: Reveal | null = null;
        if (revealed === 1) {
          const bundleId = readSym(r, 'bundle id');
          const bid = readU64(r, 'bid');
          const priorityPpm = r.u32('priority');
          if (priorityPpm > PRIORITY_SCALE) throw new CodecError('bad-value', 'auction snapshot: priority');
          const rh = r.u53('reveal height');
          const nt = r.u8('txs');
          if (nt < 1 || nt > AUCTION_LIMITS.txsPerBundleMax) throw new CodecError('bad-value', `auction snapshot: ${nt} txs`);
          const txIds: Uint8Array[] = [];
          const txs: Uint8Array[] = [];
          for (let t = 0; t < nt; t++) {
            txIds.push(r.fixed(32, 'tx id'));
            const has = r.u8('tx flag');
            if (has > 1 || (has === 1) === finished) throw new CodecError('bad-value', 'auction snapshot: bundle bytes are kept exactly while the round is active');
            if (has === 1) txs.push(r.bytes(0xffff, 'tx'));
          }
          reveal = { bundleId, bid, priorityPpm, height: rh, txs, txIds };
        }
        commits.push({ bidder, commitment, height: cHeight, reveal, deposit: dep });
      }
      const ne = r.u8('evaluations');
      const evaluations: BidEvaluation[] = [];
      const ew = BigInt(this.config.economicWeightBp);
      const pw = BigInt(this.config.priorityWeightBp);
      for (let i = 0; i < ne; i++) {
        const ci = r.u8('evaluation commit');
        const bidNormPpm = r.u32('bidNorm');
        const c = commits[ci];
        if (!c?.reveal || bidNormPpm > PRIORITY_SCALE) throw new CodecError('bad-value', 'auction snapshot: an evaluation of no reveal');
        const economicPart = ew * BigInt(bidNormPpm);
        const priorityPart = pw * BigInt(c.reveal.priorityPpm);
        evaluations.push({ bundleId: c.reveal.bundleId, bidder: c.bidder, bid: c.reveal.bid, bidNormPpm, priorityPpm: c.reveal.priorityPpm, economicPart, priorityPart, score: economicPart + priorityPart, rank: i, commitIndex: ci });
      }
      const nat = r.u8('attempts');
      const attempts: SettlementAttempt[] = [];
      for (let i = 0; i < nat; i++) {
        const ci = r.u8('attempt commit');
        const outcome = r.string(1024, 'attempt outcome');
        const failedIndex = r.u32('failed index') - 1;
        const c = commits[ci];
        if (!c?.reveal) throw new CodecError('bad-value', 'auction snapshot: an attempt of no reveal');
        attempts.push({ bundleId: c.reveal.bundleId, outcome, failedIndex });
      }
      if (winner >= ncommit || (winner >= 0 && !commits[winner]!.reveal)) throw new CodecError('bad-value', 'auction snapshot: winner');
      rounds.push({ id, opener, openedAt, collectEnd, revealEnd, asset, deposit, phase, phaseSince, commits, evaluations, attempts, winner, reason, finishedAt, forfeited });
    }
    return () => {
      this.height = height;
      this.active = rounds.slice(0, na);
      this.history = rounds.slice(na);
    };
  }
}

const DEPOSIT_STATES = ['locked', 'returned', 'forfeited'] as const;

function writeSym(w: Writer, s: string): void {
  w.u8(s.length);
  for (let i = 0; i < s.length; i++) w.u8(s.charCodeAt(i));
}

function readSym(r: Reader, what: string): string {
  const n = r.u8(`${what} length`);
  if (n < 1 || n > 64) throw new CodecError('bad-value', `${what}: ${n} bytes`);
  let s = '';
  for (const x of r.fixed(n, what)) s += String.fromCharCode(x);
  if (!/^[A-Za-z0-9._-]+$/.test(s)) throw new CodecError('bad-value', `${what} ${JSON.stringify(s)}`);
  return s;
}


/** Weight from a 0..1 float (config) to basis points; RangeError outside 0..1. */
export function weightBp(w: number, what: string): number {
  if (typeof w !== 'number' || !Number.isFinite(w) || w < 0 || w > 1) throw new RangeError(`${what} must be a number in 0..1, got ${String(w)}`);
  return Math.round(w * WEIGHT_SCALE);
}
