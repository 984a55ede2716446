// Issue 12 §3: an auction round on an idle cluster. Phases count committed batches, so without
// traffic a round would wait forever; the primary's idle clock (triple_consensus.auction.
// clock_idle_ms) submits the ledger's clock op, and the round runs to its end with nobody else
// submitting anything. Four validators in this process, memory mode.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuctionBidder, LEDGER_CLOCK_OP, toHex } from '@bpci/core';
import { writeLocalCluster, ledgerClientKeys, LOCAL_CHAIN_ID, type LocalClusterMember } from '../src/config/local-cluster.js';
import { startNodeFromConfig, type RunningNode } from '../src/runtime/start-node.js';
import { nodeJsBackend } from '../src/crypto/select.js';
import { AuctionService } from '../src/runtime/auction-service.js';
import { fetchJson, freeBase } from './helpers.js';

const crypto = nodeJsBackend();
const N = 4;
const C = '/api/v1/consensus';
let dir: string;
let members: LocalClusterMember[];
let running: RunningNode[] = [];
let seeds: Uint8Array[];

const get = (i: number, url: string) => fetchJson(`${members[i]!.apiUrl}${url}`);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-auction-clock-'));
  const base = await freeBase(N, 1000);
  members = writeLocalCluster({ dir, validators: N, basePort: base, clientBasePort: base + 500, apiBasePort: base + 1000, app: 'ledger', ledgerClients: 1, durability: 'memory' });
  for (const m of members) {
    const doc = YAML.parse(fs.readFileSync(m.configFile, 'utf8'));
    doc.logging.level = 'error';
    doc.triple_consensus.auction = { asset: 'GEN', deposit: 25, bid_collection_heights: 3, bid_evaluation_heights: 3, clock_idle_ms: 200 };
    fs.writeFileSync(m.configFile, YAML.stringify(doc));
  }
  seeds = ledgerClientKeys(dir).clients.map((k) => k.seed);
  running = await Promise.all(members.map((m) => startNodeFromConfig(m.configFile, { poolThreads: 0 })));
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((r) => r?.stop({ reason: 'test' })));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the auction on an idle cluster', () => {
  it('a round opened with no other traffic runs to its end on the idle clock, alike everywhere', async () => {
    const open = new AuctionBidder(crypto, seeds[0]!).open({ chainId: LOCAL_CHAIN_ID, nonce: 0 });
    const roundId = `round-${toHex(open.roundId)}`;
    expect((await fetchJson(`${members[0]!.apiUrl}${C}/rounds/start`, { open: toHex(open.op) })).status).toBe(201);
    const end = Date.now() + 30_000;
    let phase = '';
    while (Date.now() < end) {
      phase = (await get(0, `${C}/rounds/${roundId}/status`)).json.phase;
      if (phase === 'Finalized' || phase === 'Failed') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(phase).toBe('Failed'); // no bundle was proposed
    const states = await Promise.all(members.map((_, i) => get(i, `${C}/auction/state/${roundId}`).then((x) => x.json)));
    // Every validator that got there holds the same round (they may differ in height by a batch).
    for (const s of states) if (s.phase === 'Failed') expect(s).toEqual(states.find((x) => x.phase === 'Failed'));
    // The clock stops with the round: no more clock batches once nothing is open.
    const h1 = (await get(0, '/api/v1/ledger')).json.height;
    await new Promise((res) => setTimeout(res, 1000));
    expect((await get(0, '/api/v1/ledger')).json.height).toBeLessThanOrEqual(h1 + 1);
  }, 60_000);
});

describe('AuctionService.clockTick', () => {
  it('submits the clock op only when a round is open, the cluster idle and this validator primary', () => {
    const submitted: Uint8Array[] = [];
    let active = [{ roundId: 'r' }];
    const app = { auction: { activeSummary: () => active } } as never;
    const api = () => ({ submitTransaction: async (tx: { payload: Uint8Array }) => (submitted.push(tx.payload), {} as never) }) as never;
    const svc = new AuctionService(app, crypto, api);
    const t0 = Date.now();
    expect(svc.clockTick(1000, () => true, t0 + 10)).toBe(false); // committed (constructed) just now
    expect(svc.clockTick(1000, () => false, t0 + 2000)).toBe(false); // not the primary
    expect(svc.clockTick(1000, () => true, t0 + 2000)).toBe(true);
    expect(svc.clockTick(1000, () => true, t0 + 2500)).toBe(false); // one per idle period
    active = [];
    expect(svc.clockTick(1000, () => true, t0 + 9000)).toBe(false); // nothing open
    expect(submitted).toEqual([LEDGER_CLOCK_OP]);
  });
});
