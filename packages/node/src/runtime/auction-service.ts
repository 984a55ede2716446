// The auction's API port (api/auction-routes.ts) on a running ledger validator: ops go in as
// ordinary client requests through consensus (NodeApiPort.submitTransaction); reads come from the
// replicated auction state of this validator's LedgerApp (the same on every validator at the same
// height). It also feeds the seed's auction metrics from what the state shows.

import { CodecError } from '@bpci/core/codec/wire';
import { auctionRoundId, decodeAuctionTx, formatRoundId, isAuctionOp, parseAuctionOutcome, toHex, type AuctionRoundView, type CryptoBackend, type LedgerApp, AUCTION_LIMITS, weightBp, type AuctionConfig, type Genesis } from '@bpci/core';
import { ConfigError, type NodeConfig } from '../config/config.js';
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

export class AuctionService implements AuctionApiPort {
  constructor(
    private readonly app: LedgerApp,
    private readonly crypto: Pick<CryptoBackend, 'blake3'>,
    private readonly api: () => NodeApiPort,
  ) {
    if (!app.auction) throw new Error('AuctionService needs a LedgerApp with the auction');
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
