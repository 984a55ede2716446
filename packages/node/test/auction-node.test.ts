// The Tranverse auction through running validators (issue 12 §3): four durable validators in this
// process (the local-cluster ledger configs plus `triple_consensus.auction`), a round opened with
// POST /rounds/start, sealed bids through POST /auction/bundles, phases that move with committed
// heights, a withheld reveal, settlement on the ledger; every validator answers the same state.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuctionBidder, LedgerWallet, auctionTreasuryKey, toHex } from '@bpci/core';
import { writeLocalCluster, ledgerClientKeys, LOCAL_CHAIN_ID, LOCAL_CLIENT_BALANCE, type LocalClusterMember } from '../src/config/local-cluster.js';
import { startNodeFromConfig, type RunningNode } from '../src/runtime/start-node.js';
import { nodeJsBackend } from '../src/crypto/select.js';
import { runCli } from '../src/cli/program.js';
import { fetchJson, freeBase } from './helpers.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--api', members[0]!.apiUrl, ...args], { io: { out: (t) => out.push(t), err: (t) => err.push(t), progress: false } });
  return { code, out: out.join(''), err: err.join('') };
}
const keyFile = (i: number): string => path.join(dir, 'keys', 'clients', `client-${String(i).padStart(3, '0')}.json`);

const crypto = nodeJsBackend();
const N = 4;
const C = '/api/v1/consensus';
let dir: string;
let members: LocalClusterMember[];
let running: RunningNode[] = [];
let seeds: Uint8Array[];


const get = (i: number, url: string) => fetchJson(`${members[i]!.apiUrl}${url}`);
const post = (i: number, url: string, body: unknown) => fetchJson(`${members[i]!.apiUrl}${url}`, body);
let ticks = 0;
/** One committed batch (the auction's clock counts batches): a request the ledger rejects as malformed. */
async function tick(): Promise<void> {
  const r = await post(ticks % N, '/api/v1/transactions?wait=true&timeout_ms=20000', { payload: `tick-${ticks++}` });
  expect(r.json.status, JSON.stringify(r.json)).toBe('committed');
}
/** Ticks until validator 0 shows the round in `phase`. */
async function until(roundId: string, phase: string): Promise<any> {
  for (let i = 0; i < 40; i++) {
    const s = await get(0, `${C}/rounds/${roundId}/status`);
    if (s.json.phase === phase) return s.json;
    await tick();
  }
  throw new Error(`round ${roundId} never reached ${phase}`);
}
/** Polls until every validator reports the same ledger height >= min. */
async function sameHeight(min: number, label = ''): Promise<any[]> {
  const end = Date.now() + 30_000;
  for (;;) {
    const s = await Promise.all(members.map((_, i) => get(i, '/api/v1/ledger').then((r) => r.json)));
    if (s.every((x) => x.height >= min && x.height === s[0].height)) return s;
    if (Date.now() > end) throw new Error(`heights never met${label ? ` (${label})` : ''}: ${s.map((x) => x.height).join(', ')} (want >= ${min})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-auction-node-'));
  const base = await freeBase(N, 1000);
  members = writeLocalCluster({ dir, validators: N, basePort: base, clientBasePort: base + 500, apiBasePort: base + 1000, app: 'ledger', ledgerClients: 3 });
  for (const m of members) {
    const doc = YAML.parse(fs.readFileSync(m.configFile, 'utf8'));
    doc.logging.level = 'error';
    doc.triple_consensus.coordinator.max_active_rounds = 4;
    doc.triple_consensus.auction = { mev_protection_enabled: true, economic_weight: 0.7, priority_weight: 0.3, asset: 'GEN', deposit: 25, bid_collection_heights: 4, bid_evaluation_heights: 4, clock_idle_ms: 0 }; // the test ticks by itself
    fs.writeFileSync(m.configFile, YAML.stringify(doc));
  }
  seeds = ledgerClientKeys(dir).clients.map((k) => k.seed);
  running = await Promise.all(members.map((m) => startNodeFromConfig(m.configFile, { poolThreads: 0 })));
});

afterAll(async () => {
  await Promise.all(running.map((r) => r?.stop({ reason: 'test' })));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the auction through a running cluster', () => {
  it('opens a round, seals bids, moves phases by height, settles the winner and forfeits a withheld deposit, alike on every validator', async () => {
    const [alice, bob, carol] = seeds.map((s) => new AuctionBidder(crypto, s)) as [AuctionBidder, AuctionBidder, AuctionBidder];
    const bobW = new LedgerWallet(crypto, seeds[1]!);
    const carolW = new LedgerWallet(crypto, seeds[2]!);
    const open = alice.open({ chainId: LOCAL_CHAIN_ID, nonce: 0 });
    const roundId = `round-${toHex(open.roundId)}`;
    const bobTx = bobW.transfer({ chainId: LOCAL_CHAIN_ID, nonce: 1, legs: [{ to: carolW.publicKey, asset: 'GEN', amount: 40n }] });
    const bobBid = bob.seal({ chainId: LOCAL_CHAIN_ID, nonce: 0, roundId: open.roundId, bundleId: 'bob-bundle', bid: 300n, priorityPpm: 600_000, salt: crypto.blake3(Uint8Array.of(1)), txs: [bobTx] });
    const carolTx = carolW.transfer({ chainId: LOCAL_CHAIN_ID, nonce: 1, legs: [{ to: bobW.publicKey, asset: 'GEN', amount: 1n }] });
    const carolBid = carol.seal({ chainId: LOCAL_CHAIN_ID, nonce: 0, roundId: open.roundId, bundleId: 'carol-bundle', bid: 900n, priorityPpm: 0, salt: crypto.blake3(Uint8Array.of(2)), txs: [carolTx] });

    // Bad input is a 400 in the API's shape, before anything is submitted.
    const bad = await post(0, `${C}/rounds/start`, { open: toHex(bobBid.commit) });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'bad_request', status_code: 400 });
    expect(bad.json.message).toMatch(/is an auction commit, expected an open/);

    const started = await post(0, `${C}/rounds/start`, { open: toHex(open.op), bundle_proposals: [{ bundle_id: 'bob-bundle', commit: toHex(bobBid.commit) }] });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    expect(started.json.round_id).toBe(roundId);
    expect(started.json.open.code).toBe('ok');
    expect(started.json.bundle_proposals.map((p: any) => p.code)).toEqual(['ok']);

    const viaBundles = await post(1, `${C}/auction/bundles`, { round_id: roundId, commit: toHex(carolBid.commit) });
    expect(viaBundles.status, JSON.stringify(viaBundles.json)).toBe(200);
    expect(viaBundles.json).toMatchObject({ kind: 'commit', code: 'ok', status: 'committed' });

    // While bids are collected, no validator's state holds a bundle: only hashes. (Each validator
    // answers at its own height: wait until all four executed the commits.)
    await sameHeight(viaBundles.json.height, 'after the commits');
    const sealed = await get(2, `${C}/auction/state/${roundId}`);
    expect(sealed.json.phase).toBe('BidCollection');
    expect(sealed.json.commitments.map((c: any) => [c.commitment, c.revealed])).toEqual([
      [toHex(bobBid.commitment), null],
      [toHex(carolBid.commitment), null],
    ]);
    expect(JSON.stringify(sealed.json)).not.toContain('bob-bundle');
    const early = await post(2, `${C}/auction/bundles`, { reveal: toHex(bobBid.reveal) });
    expect(early.json.code).toBe('collection_open');
    expect((await get(3, `${C}/rounds/active`)).json.rounds.map((r: any) => r.round_id)).toEqual([roundId]);

    await until(roundId, 'BidEvaluation');
    const revealed = await post(3, `${C}/auction/bundles`, { round_id: roundId, reveal: toHex(bobBid.reveal) });
    expect(revealed.json).toMatchObject({ kind: 'reveal', code: 'ok' });
    // carol withholds her (higher) bid.
    await until(roundId, 'Finalized');

    const h = (await get(0, '/api/v1/ledger')).json.height;
    const summaries = await sameHeight(h);
    expect(new Set(summaries.map((s) => s.state_digest)).size).toBe(1);
    const winners = await Promise.all(members.map((_, i) => get(i, `${C}/auction/winner/${roundId}`).then((r) => r.json)));
    for (const w of winners) expect(w).toEqual(winners[0]);
    expect(winners[0]).toMatchObject({ phase: 'Finalized', final: true, winner: 'bob-bundle', attempts: [{ bundle_id: 'bob-bundle', outcome: 'ok', failed_index: -1 }] });
    const ev = (await get(1, `${C}/auction/evaluations/${roundId}`)).json.evaluations;
    expect(ev).toEqual([expect.objectContaining({ rank: 0, bundle_id: 'bob-bundle', bid: '300', normalized_bid: 1, priority_score: 0.6, economic_part: '7000000000', priority_part: '1800000000', score_units: '8800000000', score: 0.88 })]);
    const state = (await get(2, `${C}/auction/state/${roundId}`)).json;
    expect(state.commitments.map((c: any) => c.deposit)).toEqual(['returned', 'forfeited']);
    expect(state.forfeited).toBe('25');

    // Settlement on the ledger: bob's transfer and his bid; carol lost her deposit.
    const bal = async (key: Uint8Array): Promise<string> => (await get(0, `/api/v1/ledger/accounts/${toHex(key)}`)).json.balances.GEN;
    expect(await bal(bobW.publicKey)).toBe(String(LOCAL_CLIENT_BALANCE - 40n - 300n));
    expect(await bal(carolW.publicKey)).toBe(String(LOCAL_CLIENT_BALANCE + 40n - 25n));
    expect(await bal(auctionTreasuryKey(crypto))).toBe('325');

    expect((await get(0, `${C}/rounds/active`)).json.rounds).toEqual([]);
    expect((await get(0, `${C}/rounds/history?limit=5`)).json.rounds.map((r: any) => [r.round_id, r.phase])).toEqual([[roundId, 'Finalized']]);
    const health = await get(3, '/health/auction');
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'up', active_rounds: 0, finalized: 1, failed: 0, locked_deposits: '0', config: { asset: 'GEN', deposit: '25', economic_weight: 0.7, priority_weight: 0.3, max_active_rounds: 4 } });
    expect((await get(0, `${C}/rounds/round-0000000000000000/status`)).status).toBe(404);
    // The seed's auction metrics, from what this validator's replicated state showed.
    const metrics = await (await fetch(`${members[1]!.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/^auction_bundle_proposals_total\{stage="committed"[^}]*\} 2$/m);
    expect(metrics).toMatch(/^auction_bundle_proposals_total\{stage="revealed"[^}]*\} 1$/m);
    expect(metrics).toMatch(/^auction_winner_selection_duration_seconds_count(\{[^}]*\})? 1$/m);
    expect(metrics).toMatch(/^bpci_auction_rounds_total\{outcome="Finalized"[^}]*\} 1$/m);
  }, 120_000);

  it('runs a round from the CLI: start-round --key-file, submit-bundle (the reveal stays in a local file), reveal, winner, list-bundles, round-status', async () => {
    const mixed = await cli(['consensus', 'start-round', '--key-file', keyFile(2), '--bundles', 'a,b']);
    expect(mixed.code).toBe(2);
    // The seed's verb opens an auction round when given a key (the same as `consensus auction open`).
    const opened = await cli(['--json', 'consensus', 'start-round', '--key-file', keyFile(2)]);
    expect(opened.code, opened.err).toBe(0);
    const roundId = JSON.parse(opened.out).round_id as string;
    expect(roundId).toMatch(/^round-[0-9a-f]{16}$/);
    // alice (client 0) bids with a transfer to carol signed by her key (her nonce 1 follows the open of test 1 and this commit).
    const alice = new LedgerWallet(crypto, seeds[0]!);
    const tx = alice.transfer({ chainId: LOCAL_CHAIN_ID, nonce: 2, legs: [{ to: new LedgerWallet(crypto, seeds[2]!).publicKey, asset: 'GEN', amount: 5n }] });
    const revealFile = path.join(dir, 'alice.reveal.json');
    const sub = await cli(['--json', 'consensus', 'auction', 'submit-bundle', '--key-file', keyFile(0), '--round-id', roundId, '--bundle-id', 'cli-bundle', '--bid-amount', '12', '--priority-score', '0.5', '--transactions', toHex(tx), '--reveal-file', revealFile]);
    expect(sub.code, sub.err + sub.out).toBe(0);
    expect(JSON.parse(sub.out)).toMatchObject({ code: 'ok', kind: 'commit', reveal_file: revealFile });
    expect(fs.readFileSync(revealFile, 'utf8')).toContain('"reveal"');
    const early = await cli(['consensus', 'auction', 'reveal', '--reveal-file', revealFile]);
    expect(early.code).toBe(1);
    expect(early.err).toMatch(/collection_open/);
    await until(roundId, 'BidEvaluation');
    const rev = await cli(['--json', 'consensus', 'auction', 'reveal', '--reveal-file', revealFile]);
    expect(rev.code, rev.err).toBe(0);
    await until(roundId, 'Finalized');
    const win = await cli(['--json', 'consensus', 'auction', 'winner', '--round-id', roundId]);
    expect(JSON.parse(win.out)).toMatchObject({ winner: 'cli-bundle', final: true });
    const list = await cli(['--json', 'consensus', 'auction', 'list-bundles', '--round-id', roundId]);
    expect(JSON.parse(list.out).bundles.map((b: any) => b.revealed.bundle_id)).toEqual(['cli-bundle']);
    const st = await cli(['--json', 'consensus', 'round-status', '--round-id', roundId]);
    expect(JSON.parse(st.out)).toMatchObject({ round_id: roundId, phase: 'Finalized', winner: 'cli-bundle', bundles: 1 });
    const bad = await cli(['consensus', 'auction', 'winner', '--round-id', 'round-12']);
    expect(bad.code).toBe(2);
  }, 120_000);

  it('keeps the auction across a restart of every validator: history, an open round and its clock', async () => {
    const dave = new AuctionBidder(crypto, seeds[1]!); // bob's key: nonce 2 after test 1 (commit, bundle)
    const nonce = (await get(0, `/api/v1/ledger/accounts/${toHex(dave.publicKey)}`)).json.nonce as number;
    const open = dave.open({ chainId: LOCAL_CHAIN_ID, nonce });
    const roundId = `round-${toHex(open.roundId)}`;
    const sealed = dave.seal({ chainId: LOCAL_CHAIN_ID, nonce: nonce + 1, roundId: open.roundId, bundleId: 'across-restart', bid: 1n, priorityPpm: 0, salt: crypto.blake3(Uint8Array.of(3)), txs: [new LedgerWallet(crypto, seeds[1]!).transfer({ chainId: LOCAL_CHAIN_ID, nonce: nonce + 2, legs: [{ to: new LedgerWallet(crypto, seeds[0]!).publicKey, asset: 'GEN', amount: 1n }] })] });
    const started = await post(0, `${C}/rounds/start`, { open: toHex(open.op), bundle_proposals: [{ commit: toHex(sealed.commit) }] });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    const before = (await get(0, `${C}/auction/state/${roundId}`)).json;
    expect(before.phase).toBe('BidCollection');
    const h = (await get(0, '/api/v1/ledger')).json.height;
    await sameHeight(h, 'before the restart');

    await Promise.all(running.map((r) => r.stop({ reason: 'test restart' })));
    running = await Promise.all(members.map((m) => startNodeFromConfig(m.configFile, { poolThreads: 0 })));
    await sameHeight(h, 'after the restart');

    for (let i = 0; i < N; i++) {
      const after = (await get(i, `${C}/auction/state/${roundId}`)).json;
      expect(after).toEqual(before);
      expect((await get(i, `${C}/rounds/history`)).json.rounds).toHaveLength(2);
    }
    await until(roundId, 'BidEvaluation');
    expect((await post(2, `${C}/auction/bundles`, { reveal: toHex(sealed.reveal) })).json.code).toBe('ok');
    const done = await until(roundId, 'Finalized');
    expect(done.winner).toBe('across-restart');
    const digests = await sameHeight((await get(0, '/api/v1/ledger')).json.height, 'after the round');
    expect(new Set(digests.map((d) => d.state_digest)).size).toBe(1);
  }, 120_000);
});
