// The Tranverse auction's rules (apps/auction inside the ledger app): phases by height,
// commit-reveal (hiding, mismatches, windows), deposits and forfeits, scoring and tie-breaks, net
// payment, settlement in the submitter's order with fallback, bounds, malformed input,
// determinism across instances and restores, and a seeded property test.
import { describe, expect, it } from 'vitest';
import {
  AUCTION_LIMITS,
  AuctionBidder,
  LedgerApp,
  LedgerWallet,
  auctionEscrowKey,
  auctionTreasuryKey,
  parseAuctionOutcome,
  parseGenesis,
  signLedgerTx,
  toHex,
  type AuctionConfig,
  type AuctionResultCode,
  type AuctionRoundView,
  type Genesis,
} from '../src/index.js';
import { Prng } from '../src/testing/prng.js';
import { nodeEd25519Backend } from './helpers/node-ed25519.js';

const crypto = nodeEd25519Backend();
const CHAIN = 'bpci-auction-test';
const seedOf = (label: string): Uint8Array => crypto.blake3(new TextEncoder().encode(`auction-test/${label}`));
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
type Name = (typeof NAMES)[number];
const W = Object.fromEntries(NAMES.map((n) => [n, new LedgerWallet(crypto, seedOf(n))])) as Record<Name, LedgerWallet>;
const B = Object.fromEntries(NAMES.map((n) => [n, new AuctionBidder(crypto, seedOf(n))])) as Record<Name, AuctionBidder>;
const ESCROW = auctionEscrowKey(crypto);
const TREASURY = auctionTreasuryKey(crypto);

const CONFIG: AuctionConfig = { asset: 'GEN', deposit: 10n, collectHeights: 3, revealHeights: 3, economicWeightBp: 7000, priorityWeightBp: 3000, activeRoundsMax: 4, treasury: null };

function genesis(): Genesis {
  return parseGenesis({
    chain_id: CHAIN,
    assets: ['GEN', 'NEX'],
    accounts: NAMES.map((n, i) => ({ public_key: `ed25519:${toHex(W[n].publicKey)}`, balances: { GEN: String(1000 + i), NEX: '50' } })),
  });
}
const newApp = (config: Partial<AuctionConfig> = {}): LedgerApp => new LedgerApp({ crypto, genesis: genesis(), auction: { ...CONFIG, ...config } });

/** One batch: results as codes. */
function batch(app: LedgerApp, ...ops: Uint8Array[]): AuctionResultCode[] {
  return app.execute(ops).map((r) => {
    const t = new TextDecoder().decode(r);
    const o = parseAuctionOutcome(t);
    if (!o) throw new Error(`not an auction/ledger result: ${t}`);
    return o.code;
  });
}
const texts = (app: LedgerApp, ...ops: Uint8Array[]): string[] => app.execute(ops).map((r) => new TextDecoder().decode(r));
const idle = (app: LedgerApp, n: number): void => {
  for (let i = 0; i < n; i++) app.execute([]);
};
const view = (app: LedgerApp, id: Uint8Array): AuctionRoundView => app.auction!.round(id)!;
const pay = (from: Name, nonce: number, to: Name | Uint8Array, amount: bigint): Uint8Array =>
  W[from].transfer({ chainId: CHAIN, nonce, legs: [{ to: to instanceof Uint8Array ? to : W[to].publicKey, asset: 'GEN', amount }] });
const salt = (label: string): Uint8Array => crypto.blake3(new TextEncoder().encode(`salt/${label}`));

function seal(who: Name, nonce: number, roundId: Uint8Array, bundleId: string, bid: bigint, priorityPpm: number, txs: Uint8Array[]) {
  return B[who].seal({ chainId: CHAIN, nonce, roundId, bundleId, bid, priorityPpm, salt: salt(`${who}/${bundleId}`), txs });
}

function supplyOk(app: LedgerApp, initial: readonly { asset: string; supply: bigint }[]): void {
  app.assertInvariants();
  expect(app.info.supply).toEqual(initial);
  // The escrow holds exactly the deposits of active rounds.
  expect(app.balance(ESCROW, 'GEN')).toBe(app.auction!.lockedDeposits());
}

/** Opens a round at the next height (height 1 for a fresh app); returns its id. */
function open(app: LedgerApp, who: Name, nonce: number): Uint8Array {
  const o = B[who].open({ chainId: CHAIN, nonce });
  expect(batch(app, o.op)).toEqual(['ok']);
  return o.roundId;
}

describe('auction: phases advance by committed height', () => {
  it('BidCollection -> BidEvaluation -> WinnerSelection -> Settlement -> Finalized at the configured heights', () => {
    const app = newApp();
    const id = open(app, 'alice', 0); // height 1: collection [1, 4), reveals [4, 7)
    const s = seal('bob', 0, id, 'b-1', 50n, 500_000, [pay('bob', 1, 'carol', 5n)]);
    expect(batch(app, s.commit)).toEqual(['ok']); // height 2
    const phases: string[] = [view(app, id).phase];
    for (let h = 3; h <= 9; h++) {
      const ops = h === 4 ? [s.reveal] : [];
      expect(batch(app, ...ops)).toEqual(ops.map(() => 'ok'));
      phases.push(`${h}:${view(app, id).phase}`);
    }
    expect(phases).toEqual(['BidCollection', '3:BidCollection', '4:BidEvaluation', '5:BidEvaluation', '6:BidEvaluation', '7:WinnerSelection', '8:Settlement', '9:Finalized']);
    const v = view(app, id);
    expect([v.openedAt, v.collectEnd, v.revealEnd, v.finishedAt, v.winner]).toEqual([1, 4, 7, 9, 'b-1']);
    expect(app.auction!.rounds().active).toHaveLength(0);
    expect(app.auction!.rounds().history.map((r) => r.roundId)).toEqual([v.roundId]);
  });

  it('during Settlement the candidate is rank 0; a round without reveals fails with no_valid_bids', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    const s = seal('bob', 0, id, 'lonely', 5n, 0, [pay('bob', 1, 'carol', 1n)]);
    batch(app, s.commit);
    idle(app, 6); // height 8, never revealed: failed at height 7
    const v = view(app, id);
    expect(v.phase).toBe('Failed');
    expect(v.reason).toMatch(/^no_valid_bids: none of 1 commitments was revealed$/);
    expect(v.finishedAt).toBe(7);
  });

  it('the clock is in the state: a restored replica continues at the same height', () => {
    const a = newApp();
    const id = open(a, 'alice', 0);
    idle(a, 2);
    const b = newApp();
    b.restore(a.snapshot());
    expect(b.auction!.height).toBe(3);
    idle(a, 1);
    idle(b, 1);
    expect(view(b, id).phase).toBe('BidEvaluation');
    expect(b.snapshot()).toEqual(a.snapshot());
  });
});

describe('auction: sealed bids by commit-reveal', () => {
  it('the committed state holds only the hash during BidCollection', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    const tx = pay('bob', 1, 'carol', 77n);
    const s = seal('bob', 0, id, 'secret-bundle-id', 4321n, 123_456, [tx]);
    expect(batch(app, s.commit)).toEqual(['ok']);
    const snap = app.snapshot();
    const has = (hay: Uint8Array, needle: Uint8Array): boolean => {
      outer: for (let i = 0; i + needle.length <= hay.length; i++) {
        for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
        return true;
      }
      return false;
    };
    expect(has(snap, s.commitment)).toBe(true);
    expect(has(snap, tx)).toBe(false);
    expect(has(snap, new TextEncoder().encode('secret-bundle-id'))).toBe(false);
    expect(has(snap, salt('bob/secret-bundle-id'))).toBe(false);
    const c = view(app, id).commitments;
    expect(c).toHaveLength(1);
    expect(c[0]!.revealed).toBeNull();
    expect(toHex(c[0]!.commitment)).toBe(toHex(s.commitment));
  });

  it('a reveal that does not match its commitment is rejected; windows are enforced', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    const s = seal('bob', 0, id, 'b', 50n, 0, [pay('bob', 1, 'carol', 5n)]);
    expect(batch(app, s.commit)).toEqual(['ok']);
    // Too early: it would show the bundle while bids are open.
    expect(batch(app, s.reveal)).toEqual(['collection_open']); // height 3
    idle(app, 1); // height 4: BidEvaluation
    const lateCommit = seal('carol', 0, id, 'late', 1n, 0, [pay('carol', 1, 'bob', 1n)]).commit;
    // The same bundle with a higher bid does not open the commitment.
    const other = seal('bob', 0, id, 'b', 51n, 0, [pay('bob', 1, 'carol', 5n)]);
    // A copier cannot reveal someone else's commitment: the signer is in the hash.
    const copy = seal('carol', 0, id, 'b', 50n, 0, [pay('bob', 1, 'carol', 5n)]);
    const t = texts(app, lateCommit, other.reveal, copy.reveal, s.reveal, s.reveal); // height 5
    expect(t.map((x) => x.split(':')[0])).toEqual(['collection_closed', 'reveal_mismatch', 'no_commitment', 'ok', 'already_revealed']);
    idle(app, 2); // height 7: evaluated; the next batch is past revealEnd
    const late = seal('bob', 0, id, 'b', 50n, 0, [pay('bob', 1, 'carol', 5n)]);
    expect(batch(app, late.reveal)).toEqual(['reveal_closed']);
  });

  it('a withheld reveal forfeits the deposit; a revealed bid gets it back; supply is conserved', () => {
    const app = newApp();
    const initial = app.info.supply;
    const id = open(app, 'alice', 0);
    const bobSeal = seal('bob', 0, id, 'bob-b', 100n, 0, [pay('bob', 1, 'alice', 1n)]);
    const carolSeal = seal('carol', 0, id, 'carol-b', 999n, 0, [pay('carol', 1, 'alice', 1n)]);
    expect(batch(app, bobSeal.commit, carolSeal.commit)).toEqual(['ok', 'ok']);
    expect(app.balance(W.bob.publicKey, 'GEN')).toBe(1001n - 10n);
    expect(app.balance(ESCROW, 'GEN')).toBe(20n);
    supplyOk(app, initial);
    idle(app, 1);
    expect(batch(app, bobSeal.reveal)).toEqual(['ok']); // carol withholds (her bid would have won)
    for (let i = 0; i < 5; i++) {
      idle(app, 1);
      supplyOk(app, initial);
    }
    const v = view(app, id);
    expect(v.phase).toBe('Finalized');
    expect(v.winner).toBe('bob-b');
    expect(v.forfeited).toBe(10n);
    expect(v.commitments.map((c) => c.deposit)).toEqual(['returned', 'forfeited']);
    // bob: -1 (his bundle) -100 (bid), deposit back; carol: -10 forever; treasury: bid + forfeit.
    expect(app.balance(W.bob.publicKey, 'GEN')).toBe(1001n - 1n - 100n);
    expect(app.balance(W.carol.publicKey, 'GEN')).toBe(1002n - 10n);
    expect(app.balance(TREASURY, 'GEN')).toBe(110n);
    expect(app.balance(ESCROW, 'GEN')).toBe(0n);
    supplyOk(app, initial);
  });

  it('a commit the bidder cannot fund is insufficient_funds and changes no balance', () => {
    const app = newApp({ deposit: 5000n });
    const id = open(app, 'alice', 0);
    const s = seal('bob', 0, id, 'b', 1n, 0, [pay('bob', 1, 'alice', 1n)]);
    expect(texts(app, s.commit)[0]).toMatch(/^insufficient_funds: deposit of 5000 GEN: /);
    expect(app.balance(W.bob.publicKey, 'GEN')).toBe(1001n);
    expect(view(app, id).commitments).toHaveLength(0);
  });
});

describe('auction: scoring, ties and net payment', () => {
  it('score = 0.7 x normalized bid + 0.3 x priority, components listed, rank order', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    const seals = [
      seal('bob', 0, id, 'high-bid', 200n, 100_000, [pay('bob', 1, 'alice', 1n)]),
      seal('carol', 0, id, 'high-prio', 100n, 1_000_000, [pay('carol', 1, 'alice', 1n)]),
      seal('dave', 0, id, 'middle', 150n, 500_000, [pay('dave', 1, 'alice', 1n)]),
    ];
    batch(app, ...seals.map((s) => s.commit));
    idle(app, 1);
    batch(app, ...seals.map((s) => s.reveal));
    idle(app, 3); // height 7: evaluated
    const e = view(app, id).evaluations;
    // high-bid: 7000*1e6 + 3000*1e5 = 7.3e9; high-prio: 7000*5e5 + 3000*1e6 = 6.5e9; middle: 7000*750000 + 3000*500000 = 6.75e9
    expect(e.map((x) => [x.bundleId, x.bidNormPpm, x.priorityPpm, x.economicPart, x.priorityPart, x.score, x.rank])).toEqual([
      ['high-bid', 1_000_000, 100_000, 7_000_000_000n, 300_000_000n, 7_300_000_000n, 0],
      ['middle', 750_000, 500_000, 5_250_000_000n, 1_500_000_000n, 6_750_000_000n, 1],
      ['high-prio', 500_000, 1_000_000, 3_500_000_000n, 3_000_000_000n, 6_500_000_000n, 2],
    ]);
    idle(app, 2);
    expect(view(app, id).winner).toBe('high-bid');
  });

  it('ties: equal score goes to the higher bid, then to the earlier commitment', () => {
    const app = newApp({ economicWeightBp: 0, priorityWeightBp: 10_000 }); // score = priority only
    const id = open(app, 'alice', 0);
    const s = [
      seal('bob', 0, id, 'first', 10n, 500_000, [pay('bob', 1, 'alice', 1n)]),
      seal('carol', 0, id, 'richer', 20n, 500_000, [pay('carol', 1, 'alice', 1n)]),
      seal('dave', 0, id, 'second', 10n, 500_000, [pay('dave', 1, 'alice', 1n)]),
    ];
    batch(app, s[0]!.commit);
    batch(app, s[1]!.commit, s[2]!.commit);
    idle(app, 1);
    batch(app, s[2]!.reveal, s[1]!.reveal, s[0]!.reveal); // reveal order does not matter
    idle(app, 3);
    expect(view(app, id).evaluations.map((x) => x.bundleId)).toEqual(['richer', 'first', 'second']);
  });

  it('net payment: stuffing a bundle with other people\'s payments to the treasury does not raise its score', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    // erin's bundle carries frank's and dave's (already signed) payments to the treasury; its bid is 10.
    const stuffed = seal('erin', 0, id, 'stuffed', 10n, 0, [pay('frank', 0, TREASURY, 500n), pay('dave', 0, TREASURY, 400n), pay('erin', 1, 'alice', 1n)]);
    const honest = seal('bob', 0, id, 'honest', 20n, 0, [pay('bob', 1, 'alice', 1n)]);
    batch(app, stuffed.commit, honest.commit);
    idle(app, 1);
    batch(app, stuffed.reveal, honest.reveal);
    idle(app, 5);
    const v = view(app, id);
    expect(v.evaluations.map((x) => [x.bundleId, x.bid, x.bidNormPpm])).toEqual([
      ['honest', 20n, 1_000_000],
      ['stuffed', 10n, 500_000],
    ]);
    expect(v.winner).toBe('honest');
    expect(app.balance(TREASURY, 'GEN')).toBe(20n);
  });
});

describe('auction: settlement', () => {
  it('the winner executes in the submitter\'s order, contiguously, all in one step', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    // carol starts at 1002 GEN; the bundle has bob pay carol 500, then carol pass 1400 on to dave:
    // only in this order can it execute (and carol's tx needs the bob payment first).
    const t1 = pay('bob', 1, 'carol', 500n);
    const t2 = signLedgerTx(crypto, { chainId: CHAIN, signer: W.carol.publicKey, nonce: 0, body: { kind: 'transfer', legs: [{ from: W.carol.publicKey, to: W.dave.publicKey, asset: 'GEN', amount: 1400n }] } }, [seedOf('carol')]);
    const s = seal('bob', 0, id, 'chain', 3n, 0, [t1, t2]);
    batch(app, s.commit);
    idle(app, 1);
    batch(app, s.reveal);
    idle(app, 5);
    const v = view(app, id);
    expect(v.phase).toBe('Finalized');
    expect(v.attempts).toEqual([{ bundleId: 'chain', outcome: 'ok', failedIndex: -1 }]);
    expect(app.balance(W.carol.publicKey, 'GEN')).toBe(1002n + 500n - 1400n);
    expect(app.balance(W.dave.publicKey, 'GEN')).toBe(1003n + 1400n);
    expect(app.account(W.bob.publicKey)!.nonce).toBe(2);
    expect(app.account(W.carol.publicKey)!.nonce).toBe(1);
    // The txs are kept as ids once the round is history.
    expect(v.commitments[0]!.revealed!.txIds.map(toHex)).toEqual([toHex(crypto.blake3(t1)), toHex(crypto.blake3(t2))]);
  });

  it('a failing winner falls back to the next bundle by score, records why, and leaves no trace', () => {
    const app = newApp();
    const initial = app.info.supply;
    const id = open(app, 'alice', 0);
    // bob's bundle: a good transfer, then one bob cannot fund: none of it may apply.
    const bad = seal('bob', 0, id, 'greedy', 500n, 0, [pay('bob', 1, 'carol', 5n), pay('bob', 2, 'carol', 999_999n)]);
    // dave's bundle: its bid is more than he holds.
    const broke = seal('dave', 0, id, 'broke', 400n, 0, [pay('dave', 1, 'carol', 1n)]);
    const good = seal('erin', 0, id, 'backup', 100n, 0, [pay('erin', 1, 'carol', 7n)]);
    batch(app, bad.commit, broke.commit, good.commit);
    // dave spends nearly everything in between, so his bid cannot be paid at settlement.
    expect(batch(app, pay('dave', 1, 'alice', 950n))).toEqual(['ok']); // consumes the nonce his bundle needs too
    idle(app, 1);
    batch(app, bad.reveal, broke.reveal, good.reveal);
    idle(app, 4);
    const v = view(app, id);
    expect(v.phase).toBe('Finalized');
    expect(v.winner).toBe('backup');
    expect(v.attempts.map((a) => [a.bundleId, a.outcome.split(':')[0], a.failedIndex])).toEqual([
      ['greedy', 'insufficient_funds', 1],
      ['broke', 'bad_nonce', 0],
      ['backup', 'ok', -1],
    ]);
    expect(app.balance(W.carol.publicKey, 'GEN')).toBe(1002n + 7n);
    expect(app.account(W.bob.publicKey)!.nonce).toBe(1); // the commit only; the bundle's nonces rolled back
    expect(app.balance(W.bob.publicKey, 'GEN')).toBe(1001n);
    expect(app.balance(TREASURY, 'GEN')).toBe(100n);
    supplyOk(app, initial);
  });

  it('the bid payment is part of the atomic step: an unfunded bid undoes the bundle (failedIndex = txs.length)', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    const s = seal('bob', 0, id, 'all-in', 995n, 0, [pay('bob', 1, 'carol', 5n)]); // bob: 1001 - 10 deposit - 5 = 986 < 995
    batch(app, s.commit);
    idle(app, 1);
    batch(app, s.reveal);
    idle(app, 5);
    const v = view(app, id);
    expect(v.phase).toBe('Failed');
    expect(v.reason).toMatch(/^all_bundles_failed: /);
    expect(v.attempts[0]).toMatchObject({ bundleId: 'all-in', failedIndex: 1 });
    expect(v.attempts[0]!.outcome).toMatch(/^insufficient_funds: the bid of 995 GEN: /);
    expect(app.balance(W.carol.publicKey, 'GEN')).toBe(1002n);
    expect(app.balance(W.bob.publicKey, 'GEN')).toBe(1001n); // deposit returned: it was revealed
  });
});

describe('auction: bounds, reasons, malformed input', () => {
  it('max_active_rounds, round_full, duplicate commitment, duplicate bundle id, bundle_malformed', () => {
    const app = newApp({ activeRoundsMax: 2 });
    const r1 = open(app, 'alice', 0);
    const s = seal('bob', 0, r1, 'x', 1n, 0, [pay('bob', 5, 'alice', 1n)]);
    const again = B.bob.seal({ chainId: CHAIN, nonce: 1, roundId: r1, bundleId: 'x', bid: 1n, priorityPpm: 0, salt: salt('bob/x'), txs: [pay('bob', 5, 'alice', 1n)] });
    const dupId = seal('carol', 0, r1, 'x', 2n, 0, [pay('carol', 1, 'alice', 1n)]);
    const junk = B.dave.seal({ chainId: CHAIN, nonce: 0, roundId: r1, bundleId: 'junk', bid: 1n, priorityPpm: 0, salt: salt('junk'), txs: [Uint8Array.of(1, 2, 3)] });
    expect(batch(app, s.commit, again.commit, dupId.commit, junk.commit)).toEqual(['ok', 'duplicate_commitment', 'ok', 'ok']); // height 2
    expect(batch(app, B.alice.open({ chainId: CHAIN, nonce: 1 }).op, B.alice.open({ chainId: CHAIN, nonce: 2 }).op)).toEqual(['ok', 'too_many_active_rounds']); // height 3
    idle(app, 1);
    expect(batch(app, s.reveal, dupId.reveal, junk.reveal)).toEqual(['ok', 'duplicate_bundle_id', 'bundle_malformed']);
    expect(batch(app, seal('bob', 0, new Uint8Array(8), 'y', 1n, 0, [pay('bob', 1, 'alice', 1n)]).reveal)).toEqual(['unknown_round']);
  });

  it('nothing but a deposit pays into the escrow: a transfer to it is unauthorized', () => {
    const app = newApp();
    expect(texts(app, pay('alice', 0, ESCROW, 5n))[0]).toMatch(/^unauthorized: legs\[0\]\.to is the auction escrow/);
    expect(app.balance(ESCROW, 'GEN')).toBe(0n);
    // The same transfer to the treasury is an ordinary transfer.
    expect(batch(app, pay('alice', 0, TREASURY, 5n))).toEqual(['ok']);
    app.assertInvariants();
  });

  it('round_full at bundlesPerRoundMax commitments', () => {
    const app = newApp({ deposit: 0n });
    const id = open(app, 'alice', 0);
    const commits = Array.from({ length: AUCTION_LIMITS.bundlesPerRoundMax + 1 }, (_, i) => seal('bob', i, id, `b${i}`, 1n, 0, [pay('bob', 99, 'alice', 1n)]).commit);
    const codes = batch(app, ...commits);
    expect(codes.slice(0, -1).every((c) => c === 'ok')).toBe(true);
    expect(codes.at(-1)).toBe('round_full');
  });

  it('signed ops: bad signature, bad nonce, unknown account, wrong chain, auction disabled', () => {
    const app = newApp();
    const o = B.alice.open({ chainId: CHAIN, nonce: 0 });
    const forged = o.op.slice();
    forged[forged.length - 10] = forged[forged.length - 10]! ^ 1;
    expect(batch(app, forged)).toEqual(['bad_signature']);
    expect(batch(app, B.alice.open({ chainId: CHAIN, nonce: 3 }).op)).toEqual(['bad_nonce']);
    const stranger = new AuctionBidder(crypto, seedOf('stranger'));
    expect(batch(app, stranger.open({ chainId: CHAIN, nonce: 0 }).op)).toEqual(['unknown_account']);
    expect(batch(app, B.alice.open({ chainId: 'other-chain', nonce: 0 }).op)).toEqual(['wrong_chain']);
    expect(batch(app, o.op, o.op)).toEqual(['ok', 'bad_nonce']); // a replay
    const plain = new LedgerApp({ crypto, genesis: genesis() });
    expect(batch(plain, o.op)).toEqual(['auction_disabled']);
  });

  it('malformed auction bytes get `malformed`, never a throw (seeded corruption)', () => {
    const app = newApp();
    const id = open(app, 'alice', 0);
    const s = seal('bob', 0, id, 'b', 1n, 0, [pay('bob', 1, 'alice', 1n)]);
    const samples = [B.alice.open({ chainId: CHAIN, nonce: 1 }).op, s.commit, s.reveal];
    const rng = new Prng(0xa0c7);
    const ops: Uint8Array[] = [Uint8Array.of(1, 16), Uint8Array.of(1, 19, 0), Uint8Array.of(1, 17)];
    for (let i = 0; i < 300; i++) {
      const base = rng.pick(samples);
      const op = rng.int(0, 1) === 0 ? base.slice(0, rng.int(2, base.length - 1)) : base.slice();
      if (op.length === base.length) {
        const at = rng.int(2, op.length - 1);
        op[at] = op[at]! ^ (1 << rng.int(0, 7));
      }
      ops.push(op);
    }
    let results: string[] = [];
    expect(() => (results = texts(app, ...ops))).not.toThrow();
    for (const t of results) expect(parseAuctionOutcome(t)).not.toBeNull();
    expect(results.slice(0, 3).every((t) => t.startsWith('malformed: '))).toBe(true);
    app.assertInvariants();
  });
});

describe('auction: determinism', () => {
  /** A full round on a fresh app; returns the app. */
  function script(app: LedgerApp, commitOrder: readonly number[], revealOrder: readonly number[]): Uint8Array {
    const id = open(app, 'alice', 0);
    const seals = (['bob', 'carol', 'dave', 'erin'] as const).map((n, i) => seal(n, 0, id, `bundle-${n}`, BigInt(10 + 17 * i), (i * 277_000) % 1_000_001, [pay(n, 1, 'frank', BigInt(i + 1))]));
    batch(app, ...commitOrder.map((i) => seals[i]!.commit));
    idle(app, 1);
    batch(app, ...revealOrder.map((i) => seals[i]!.reveal));
    idle(app, 5);
    return id;
  }

  it('two instances fed the same ops agree byte for byte (snapshot and digest), and a restore continues identically', () => {
    const a = newApp();
    const b = newApp();
    script(a, [0, 1, 2, 3], [3, 2, 1, 0]);
    script(b, [0, 1, 2, 3], [3, 2, 1, 0]);
    expect(toHex(a.snapshot())).toBe(toHex(b.snapshot()));
    expect(toHex(a.digest())).toBe(toHex(b.digest()));
    const c = newApp();
    c.restore(a.snapshot());
    expect(toHex(c.snapshot())).toBe(toHex(a.snapshot()));
    for (const x of [a, c]) batch(x, B.frank.open({ chainId: CHAIN, nonce: 1 }).op);
    expect(toHex(c.digest())).toBe(toHex(a.digest()));
  });

  it('arrival order of commits and reveals does not change the winner or the evaluations', () => {
    const a = newApp();
    const b = newApp();
    const ia = script(a, [0, 1, 2, 3], [0, 1, 2, 3]);
    const ib = script(b, [2, 0, 3, 1], [1, 3, 0, 2]);
    const strip = (v: AuctionRoundView) => ({ winner: v.winner, evals: v.evaluations.map((e) => [e.bundleId, e.score]) });
    expect(strip(view(b, ib))).toEqual(strip(view(a, ia)));
    expect(view(a, ia).phase).toBe('Finalized');
  });

  it('a snapshot with a broken auction part is a CodecError and replaces nothing', () => {
    const a = newApp();
    script(a, [0, 1], [0, 1]);
    const good = a.snapshot();
    const b = newApp();
    const before = b.snapshot();
    expect(() => b.restore(good.slice(0, good.length - 3))).toThrow();
    expect(toHex(b.snapshot())).toBe(toHex(before));
  });
});

describe('auction: seeded property test', () => {
  it('random rounds: conservation, no negative balance, the winner is the best executable bundle, replicas agree', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rng = new Prng(seed);
      const a = newApp({ deposit: BigInt(rng.int(0, 30)) });
      const b = newApp({ deposit: a.auction!.config.deposit });
      const initial = a.info.supply;
      const nonces = new Map<Name, number>(NAMES.map((n) => [n, 0]));
      const next = (n: Name): number => {
        const v = nonces.get(n)!;
        nonces.set(n, v + 1);
        return v;
      };
      const feed = (...ops: Uint8Array[]): void => {
        const ra = a.execute(ops);
        const rb = b.execute(ops);
        expect(rb).toEqual(ra);
        supplyOk(a, initial);
      };
      for (let round = 0; round < 3; round++) {
        const opener = rng.pick(NAMES);
        const o = B[opener].open({ chainId: CHAIN, nonce: next(opener) });
        feed(o.op);
        const bidders = rng.shuffle([...NAMES]).slice(0, rng.int(1, 4));
        const seals = bidders.map((n, i) => {
          const c = next(n);
          // Some bundles overspend (they must fail and fall back); bids are distinct so the ranking is strict.
          const amount = rng.int(0, 3) === 0 ? 1_000_000n : BigInt(rng.int(1, 20));
          const to = NAMES[(NAMES.indexOf(n) + 1) % NAMES.length]!;
          return { n, s: seal(n, c, o.roundId, `r${round}-${n}`, BigInt(rng.int(0, 50) * 8 + i), rng.int(0, 1_000_000), [pay(n, c + 1, to, amount)]), amount };
        });
        feed(...rng.shuffle(seals.map((x) => x.s.commit)));
        feed();
        feed();
        const revealing = seals.filter(() => rng.int(0, 4) !== 0);
        feed(...rng.shuffle(revealing.map((x) => x.s.reveal)));
        for (let i = 0; i < 6; i++) feed();
        const v = view(a, o.roundId);
        expect(['Finalized', 'Failed']).toContain(v.phase);
        // Every bundle is tried in rank order until one executes: the winner is the first
        // executable one by rank, and each earlier attempt failed.
        const okAt = v.attempts.findIndex((t) => t.outcome === 'ok');
        expect(v.attempts.map((t) => t.bundleId)).toEqual(v.evaluations.slice(0, okAt >= 0 ? okAt + 1 : v.evaluations.length).map((e) => e.bundleId));
        expect(v.winner).toBe(okAt >= 0 ? v.attempts[okAt]!.bundleId : null);
        for (let i = 1; i < v.evaluations.length; i++) expect(v.evaluations[i - 1]!.score >= v.evaluations[i]!.score).toBe(true);
        // The settled bundle consumed its transaction's nonce; a failed one did not.
        for (const x of seals) if (v.winner === `r${round}-${x.n}`) next(x.n);
        expect(v.forfeited).toBe(BigInt(seals.length - revealing.length) * a.auction!.config.deposit);
      }
      expect(toHex(a.digest())).toBe(toHex(b.digest()));
      for (const n of NAMES) expect(a.account(W[n].publicKey)!.nonce).toBe(nonces.get(n));
    }
  });
});
