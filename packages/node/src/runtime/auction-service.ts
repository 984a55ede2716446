// The auction's API port (api/auction-routes.ts) on a running ledger validator: ops go in as
// ordinary client requests through consensus (NodeApiPort.submitTransaction); reads come from the
// replicated auction state of this validator's LedgerApp (the same on every validator at the same
// height). It also feeds the seed's auction metrics from what the state shows.

import { CodecError } from '@bpci/core/codec/wire';
import { LEDGER_CLOCK_OP, auctionRoundId, decodeAuctionTx, formatRoundId, isAuctionOp, parseAuctionOutcome, toHex, type AuctionRoundView, type CryptoBackend, type LedgerApp, AUCTION_LIMITS, weightBp, type AuctionConfig, type Genesis } from '@bpci/core';
import { ConfigError, type NodeConfig } from '../config/config.js';
import { Counter, Histogram } from 'prom-client';
import type { NodeMetrics } from '../metrics/metrics.js';
import type { NodeObserver } from './validator-node.js';
import { ApiError, type NodeApiPort } from '../api/port.js';
import type { AuctionApiPort, AuctionRoundJson, AuctionSubmitResult } from '../api/auction-routes.js';

/** Integer score units per 1.0 (basis points x millionths). */
const SCORE_SCALE = 10_000 * 1_000_000;

export function roundJson(v: AuctionRoundView): AuctionRoundJson {
  return {
    roundId: v.roundId,
    phase: v.phase,
    phaseSince: v.phaseSince,
    openedAt: v.openedAt,
    collectEnd: v.collectEnd,
    revealEnd: v.revealEnd,
    finishedAt: v.finishedAt >= 0 ? v.finishedAt : null,
    opener: toHex(v.opener),
    asset: v.asset,
    deposit: v.deposit.toString(),
    winner: v.winner,
    reason: v.reason,
    forfeited: v.forfeited.toString(),
    commitments: v.commitments.map((c) => ({
      bidder: toHex(c.bidder),
      commitment: toHex(c.commitment),
      height: c.height,
      deposit: c.deposit,
      revealed: c.revealed && { bundleId: c.revealed.bundleId, bid: c.revealed.bid.toString(), priorityScore: c.revealed.priorityPpm / 1_000_000, height: c.revealed.height, txIds: c.revealed.txIds.map(toHex) },
    })),
    evaluations: v.evaluations.map((e) => ({
      rank: e.rank,
      bundleId: e.bundleId,
      bidder: toHex(e.bidder),
      bid: e.bid.toString(),
      normalizedBid: e.bidNormPpm / 1_000_000,
      priorityScore: e.priorityPpm / 1_000_000,
      economicPart: e.economicPart.toString(),
      priorityPart: e.priorityPart.toString(),
      scoreUnits: e.score.toString(),
      score: Number(e.score) / SCORE_SCALE,
    })),
    attempts: v.attempts.map((a) => ({ bundleId: a.bundleId, outcome: a.outcome, failedIndex: a.failedIndex })),
  };
}

/** Buckets of the winner selection histogram (seconds): a round settles two batches after WinnerSelection. */
const SELECTION_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Seen {
  commits: number;
  reveals: number;
  /** performance.now() when this validator saw the round enter WinnerSelection. */
  selectionAt: number | null;
}

export class AuctionService implements AuctionApiPort {
  /** The seed's auction metrics, on the node's registry (only a node that runs the auction has them). */
  private readonly proposals: Counter<'stage'> | null = null;
  private readonly selection: Histogram | null = null;
  private readonly finished: Counter<'outcome'> | null = null;
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly app: LedgerApp,
    private readonly crypto: Pick<CryptoBackend, 'blake3'>,
    private readonly api: () => NodeApiPort,
    metrics?: NodeMetrics,
  ) {
    if (!app.auction) throw new Error('AuctionService needs a LedgerApp with the auction');
    if (metrics) {
      const registers = [metrics.registry];
      this.proposals = new Counter({ name: 'auction_bundle_proposals_total', help: 'Bundle proposals that entered the replicated auction, by stage (committed = a sealed commitment accepted; revealed = its reveal accepted)', labelNames: ['stage'], registers });
      this.selection = new Histogram({ name: 'auction_winner_selection_duration_seconds', help: 'Time at this validator from a round entering WinnerSelection to its settlement (Finalized or Failed)', buckets: SELECTION_BUCKETS_SECONDS, registers });
      this.finished = new Counter({ name: 'bpci_auction_rounds_total', help: 'Auction rounds finished, by outcome (Finalized | Failed)', labelNames: ['outcome'], registers });
    }
  }

  private lastCommitAt = Date.now();
  private clockTimer: NodeJS.Timeout | null = null;
  /** Clock ops this validator submitted (tests and metrics read it). */
  clockTicks = 0;

  /**
   * The idle clock: every `idleMs / 2` (at least 50 ms), when a round is open, nothing committed
   * for `idleMs` and this validator is the primary in normal mode, submit the ledger's clock op
   * (one request: one more committed batch, the auction's clock). One validator at a time, so an
   * idle cluster commits about one clock batch per `idleMs`; any traffic makes it unnecessary.
   * The phases stay deterministic: they count committed batches, whoever submitted them.
   */
  startClock(opts: { readonly idleMs: number; readonly isPrimary: () => boolean; readonly now?: () => number }): void {
    if (opts.idleMs <= 0 || this.clockTimer !== null) return;
    const now = opts.now ?? Date.now;
    this.clockTimer = setInterval(() => this.clockTick(opts.idleMs, opts.isPrimary, now()), Math.max(50, Math.floor(opts.idleMs / 2)));
    this.clockTimer.unref();
  }

  stopClock(): void {
    if (this.clockTimer !== null) clearInterval(this.clockTimer);
    this.clockTimer = null;
  }

  /** One check of the idle clock (exposed for tests). True when it submitted a clock op. */
  clockTick(idleMs: number, isPrimary: () => boolean, now: number): boolean {
    if (now - this.lastCommitAt < idleMs || !isPrimary() || this.auction.activeSummary().length === 0) return false;
    this.lastCommitAt = now; // one submission per idle period, not one per check
    this.clockTicks++;
    this.api()
      .submitTransaction({ payload: LEDGER_CLOCK_OP }, { waitForCommit: false, timeoutMs: 1 })
      .catch(() => undefined); // no quorum of links, overloaded: the next idle period tries again
    return true;
  }

  /** Wraps the node observer: after every committed batch, the metrics follow the auction's state. */
  observe(inner: NodeObserver): NodeObserver {
    return {
      ...inner,
      committed: (b, at) => {
        inner.committed?.(b, at);
        this.lastCommitAt = Date.now();
        this.onCommitted();
      },
    };
  }

  private onCommitted(): void {
    if (!this.proposals) return;
    const now = performance.now();
    const active = new Set<string>();
    for (const r of this.auction.activeSummary()) {
      active.add(r.roundId);
      const s = this.seen.get(r.roundId) ?? { commits: 0, reveals: 0, selectionAt: null };
      if (r.commits > s.commits) this.proposals.inc({ stage: 'committed' }, r.commits - s.commits);
      if (r.reveals > s.reveals) this.proposals.inc({ stage: 'revealed' }, r.reveals - s.reveals);
      s.commits = r.commits;
      s.reveals = r.reveals;
      if (r.phase === 'WinnerSelection' && s.selectionAt === null) s.selectionAt = now;
      this.seen.set(r.roundId, s);
    }
    for (const [id, s] of this.seen) {
      if (active.has(id)) continue;
      this.seen.delete(id);
      const v = this.round(id);
      if (!v) continue;
      this.finished!.inc({ outcome: v.phase });
      if (s.selectionAt !== null) this.selection!.observe((now - s.selectionAt) / 1000);
    }
  }

  private get auction() {
    return this.app.auction!;
  }

  inspect(op: Uint8Array): { kind: 'open' | 'commit' | 'reveal'; roundId: string } {
    if (!isAuctionOp(op)) throw new ApiError(400, 'bad_transaction', 'not an auction op (version 1, kind 16 open / 17 commit / 18 reveal)');
    try {
      const d = decodeAuctionTx(op);
      switch (d.body.kind) {
        case 'open':
          return { kind: 'open', roundId: formatRoundId(auctionRoundId(this.crypto, d.signer, d.nonce)) };
        case 'commit':
          return { kind: 'commit', roundId: formatRoundId(d.body.roundId) };
        case 'reveal':
          return { kind: 'reveal', roundId: formatRoundId(d.body.payload.roundId) };
        default: {
          const never: never = d.body;
          throw new Error(`unknown auction kind ${String(never)}`);
        }
      }
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(400, 'bad_transaction', `not an auction op: ${e instanceof CodecError ? e.message : String(e)}`);
    }
  }

  async submit(op: Uint8Array, opts: { readonly waitForCommit: boolean; readonly timeoutMs: number }): Promise<AuctionSubmitResult> {
    const st = await this.api().submitTransaction({ payload: op }, opts);
    const outcome = st.result !== undefined ? parseAuctionOutcome(st.result) : null;
    return {
      txId: st.txId,
      status: st.status,
      ...(st.height !== undefined ? { height: st.height } : {}),
      ...(st.result !== undefined ? { result: st.result } : {}),
      ...(outcome ? { code: outcome.code, detail: outcome.detail } : {}),
    };
  }

  round(roundId: string): AuctionRoundJson | undefined {
    const m = /^round-([0-9a-f]{16})$/.exec(roundId);
    if (!m) return undefined;
    const v = this.auction.round(new Uint8Array(Buffer.from(m[1]!, 'hex')));
    return v && roundJson(v);
  }

  active(): readonly AuctionRoundJson[] {
    return this.auction.rounds().active.map(roundJson);
  }

  history(limit: number): readonly AuctionRoundJson[] {
    return this.auction.rounds().history.slice(-limit).reverse().map(roundJson);
  }

  health(): Record<string, unknown> {
    const { active, history } = this.auction.rounds();
    const c = this.auction.config;
    return {
      status: 'up',
      mevProtection: 'commit-reveal',
      height: this.auction.height,
      activeRounds: active.length,
      keptRounds: history.length,
      finalized: history.filter((r) => r.phase === 'Finalized').length,
      failed: history.filter((r) => r.phase === 'Failed').length,
      lockedDeposits: this.auction.lockedDeposits().toString(),
      config: {
        asset: c.asset,
        deposit: c.deposit.toString(),
        bidCollectionHeights: c.collectHeights,
        bidEvaluationHeights: c.revealHeights,
        economicWeight: c.economicWeightBp / 10_000,
        priorityWeight: c.priorityWeightBp / 10_000,
        maxActiveRounds: c.activeRoundsMax,
        treasury: toHex(this.auction.treasury),
        escrow: toHex(this.auction.escrow),
      },
    };
  }
}

/**
 * The core auction config of a ledger node, from `triple_consensus.auction` (absent: no auction,
 * undefined) and `triple_consensus.coordinator.max_active_rounds`. Throws ConfigError naming the
 * key when a value does not fit the auction's bounds.
 */
export function coreAuctionConfig(config: NodeConfig, genesis: Genesis): AuctionConfig | undefined {
  const a = config.tripleConsensus.auction;
  if (!a) return undefined;
  const p = 'triple_consensus.auction';
  if (!a.mevProtectionEnabled) throw new ConfigError(`${p}.mev_protection_enabled`, 'true (the auction always seals bids by commit-reveal; there is no open-bid mode)', false);
  const asset = a.asset ?? genesis.assets[0]!;
  if (!genesis.assets.includes(asset)) throw new ConfigError(`${p}.asset`, `one of the genesis assets ${genesis.assets.join(', ')}`, asset);
  const maxActive = config.tripleConsensus.coordinator.maxActiveRounds;
  if (maxActive > AUCTION_LIMITS.activeRoundsMax) throw new ConfigError('triple_consensus.coordinator.max_active_rounds', `at most ${AUCTION_LIMITS.activeRoundsMax} with the auction (AUCTION_LIMITS.activeRoundsMax)`, maxActive);
  return {
    asset,
    deposit: BigInt(a.deposit),
    collectHeights: a.bidCollectionHeights,
    revealHeights: a.bidEvaluationHeights,
    economicWeightBp: weightBp(a.economicWeight, `${p}.economic_weight`),
    priorityWeightBp: weightBp(a.priorityWeight, `${p}.priority_weight`),
    activeRoundsMax: maxActive,
    treasury: null,
  };
}
