// The ledger through running validators (issue 12 §2): four durable validators in this process
// (the local-cluster configs with node.app: ledger and its genesis), signed transactions through
// POST /api/v1/ledger/transactions, balances, nonces, history and transactions by id; then every
// validator is stopped and started again on the same data, and the same transactions, balances
// and history answer alike (the audit trail survives restarts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWallet, toHex, verifyLedgerAccountProof } from '@bpci/core';
import { writeLocalCluster, ledgerClientKeys, LOCAL_CHAIN_ID, LOCAL_CLIENT_BALANCE, type LocalClusterMember } from '../src/config/local-cluster.js';
import { startNodeFromConfig, type RunningNode } from '../src/runtime/start-node.js';
import { nodeJsBackend } from '../src/crypto/select.js';
import { createApi } from '../src/api/server.js';
import { FakeNode } from './fake-node.js';
import { runCli } from '../src/cli/program.js';
import { freeBase } from './helpers.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--api', members[0]!.apiUrl, ...args], { io: { out: (t) => out.push(t), err: (t) => err.push(t), progress: false } });
  return { code, out: out.join(''), err: err.join('') };
}

const crypto = nodeJsBackend();
const N = 4;
let dir: string;
let members: LocalClusterMember[];
let running: RunningNode[] = [];
let alice: LedgerWallet;
let bob: LedgerWallet;
let carol: LedgerWallet;


async function startAll(): Promise<void> {
  running = await Promise.all(members.map((m) => startNodeFromConfig(m.configFile, { poolThreads: 0 })));
}
async function stopAll(): Promise<void> {
  await Promise.all(running.map((r) => r?.stop({ reason: 'test' })));
  running = [];
}

async function get(i: number, url: string): Promise<{ status: number; json: any }> {
  const r = await fetch(`${members[i]!.apiUrl}${url}`);
  return { status: r.status, json: await r.json() };
}
async function post(i: number, url: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${members[i]!.apiUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}
const submit = (i: number, tx: Uint8Array) => post(i, '/api/v1/ledger/transactions?wait=true&timeout_ms=20000', { tx: toHex(tx) });

/** Polls until every validator reports the same height >= min; returns the summaries. */
async function sameHeight(min: number): Promise<any[]> {
  const end = Date.now() + 30_000;
  for (;;) {
    const s = await Promise.all(members.map((_, i) => get(i, '/api/v1/ledger').then((r) => r.json)));
    if (s.every((x) => x.height >= min && x.height === s[0].height)) return s;
    if (Date.now() > end) throw new Error(`heights never met: ${s.map((x) => x.height).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-ledger-node-'));
  const base = await freeBase(N, 1000);
  members = writeLocalCluster({ dir, validators: N, basePort: base, clientBasePort: base + 500, apiBasePort: base + 1000, app: 'ledger', ledgerClients: 3 });
  // Quiet validators: only errors reach the test output.
  for (const m of members) {
    const doc = YAML.parse(fs.readFileSync(m.configFile, 'utf8'));
    doc.logging.level = 'error';
    // Short checkpoints so a validator that was down catches up from a peer's snapshot (the ledger's restore).
    doc.node.consensus = { checkpoint_interval: 4, watermark_window: 16, inflight_max: 8 };
    fs.writeFileSync(m.configFile, YAML.stringify(doc));
  }
  const keys = ledgerClientKeys(dir);
  expect(keys.clients).toHaveLength(3);
  [alice, bob, carol] = keys.clients.map((k) => new LedgerWallet(crypto, k.seed)) as [LedgerWallet, LedgerWallet, LedgerWallet];
  await startAll();
});

afterAll(async () => {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

const pay = (w: LedgerWallet, nonce: number, legs: { to: LedgerWallet; amount: bigint; asset?: string }[]) =>
  w.transfer({ chainId: LOCAL_CHAIN_ID, nonce, legs: legs.map((l) => ({ to: l.to.publicKey, asset: l.asset ?? 'GEN', amount: l.amount })) });

describe('ledger through a running cluster', () => {
  let first: Uint8Array;
  let firstTx: any;

  it('commits a signed transfer and answers its result by id', async () => {
    first = pay(alice, 0, [{ to: bob, amount: 100n }]);
    const r = await submit(0, first);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: 'committed', code: 'ok', result: 'ok', kind: 'transfer', signer: toHex(alice.publicKey), nonce: 0 });
    expect(r.json.legs).toEqual([{ from: toHex(alice.publicKey), to: toHex(bob.publicKey), asset: 'GEN', amount: '100' }]);
    expect(r.json.height).toBeGreaterThan(0);
    firstTx = r.json;
    const byLedgerId = await get(1, `/api/v1/ledger/transactions/${r.json.ledger_tx_id}`);
    expect(byLedgerId.status).toBe(200);
    expect(byLedgerId.json).toMatchObject({ tx_id: r.json.tx_id, height: r.json.height, index: r.json.index, code: 'ok' });
  });

  it('rejects a replay, a lack of funds and a gap with reasons; applies a multi-leg transfer atomically', async () => {
    const replay = await submit(2, first);
    expect(replay.status).toBe(200);
    expect(replay.json).toMatchObject({ status: 'committed', code: 'bad_nonce' });
    expect(replay.json.detail).toMatch(/nonce 0 .* is already used; the next nonce is 1/);
    const broke = await submit(0, pay(alice, 1, [{ to: bob, amount: 1n }, { to: carol, amount: LOCAL_CLIENT_BALANCE }]));
    expect(broke.json).toMatchObject({ code: 'insufficient_funds' });
    const gap = await submit(0, pay(alice, 9, [{ to: bob, amount: 1n }]));
    expect(gap.json).toMatchObject({ code: 'bad_nonce' });
    const multi = await submit(3, pay(alice, 2, [{ to: bob, amount: 5n }, { to: carol, amount: 7n, asset: 'NEX' }]));
    expect(multi.json).toMatchObject({ code: 'ok' });
    // The replay's bytes are the first transaction's: both inclusions are listed.
    const both = await get(0, `/api/v1/ledger/transactions/${firstTx.ledger_tx_id}`);
    expect(both.json.inclusions.map((x: any) => x.code)).toEqual(['ok', 'bad_nonce']);
  });

  it('answers balances, nonces and the supply, equal on every validator', async () => {
    const s = await sameHeight(1);
    expect(new Set(s.map((x) => x.state_digest)).size).toBe(1);
    expect(s[0].assets).toEqual(['AUR', 'FLX', 'GEN', 'NEX'].map((asset) => ({ asset, supply: (3n * LOCAL_CLIENT_BALANCE).toString() })));
    for (let i = 0; i < N; i++) {
      const a = await get(i, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}`);
      expect(a.status).toBe(200);
      // nonces 0, 1 (insufficient funds: consumed) and 2 used; 9 was a gap
      expect(a.json).toMatchObject({ nonce: 3, balances: { GEN: (LOCAL_CLIENT_BALANCE - 105n).toString(), NEX: (LOCAL_CLIENT_BALANCE - 7n).toString() } });
    }
    const b = await get(1, `/api/v1/ledger/accounts/ed25519:${toHex(bob.publicKey)}`);
    expect(b.json.balances.GEN).toBe((LOCAL_CLIENT_BALANCE + 105n).toString());
    // The account proof verifies against the state digest every validator reports at this height.
    const pr = await get(2, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}/proof`);
    expect(pr.status).toBe(200);
    expect(pr.json.state_digest).toBe(s[0].state_digest);
    const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
    const proven = verifyLedgerAccountProof(bytes(pr.json.state_digest), bytes(pr.json.leaf), {
      index: pr.json.proof.index,
      leafCount: pr.json.proof.leaf_count,
      siblings: pr.json.proof.siblings.map(bytes),
    });
    expect(proven!.nonce).toBe(3);
    expect(proven!.entries.find((e) => e.asset === 'GEN')!.balance).toBe(LOCAL_CLIENT_BALANCE - 105n);
    expect((await get(2, `/api/v1/ledger/accounts/${'ab'.repeat(32)}/proof`)).status).toBe(404);
  });

  it('lists an account history newest first, in pages', async () => {
    const h = await get(0, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}/history?limit=3`);
    expect(h.status).toBe(200);
    expect(h.json.indexed).toBe(5);
    expect(h.json.transactions.map((t: any) => [t.nonce, t.code])).toEqual([
      [2, 'ok'],
      [9, 'bad_nonce'],
      [1, 'insufficient_funds'],
    ]);
    const next = await get(0, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}/history?limit=3&before=${h.json.next_cursor}`);
    expect(next.json.transactions.map((t: any) => [t.nonce, t.code])).toEqual([
      [0, 'bad_nonce'],
      [0, 'ok'],
    ]);
    expect(next.json.next_cursor).toBeUndefined();
    const carolH = await get(2, `/api/v1/ledger/accounts/${toHex(carol.publicKey)}/history`);
    expect(carolH.json.transactions.map((t: any) => t.code)).toEqual(['ok', 'insufficient_funds']);
  });

  it('refuses bytes that are not a ledger transaction, and unknown accounts and ids, in the API error shape', async () => {
    const notHex = await post(0, '/api/v1/ledger/transactions', { tx: 'zz' });
    expect(notHex).toMatchObject({ status: 400, json: { error: 'bad_request', status_code: 400 } });
    const garbage = await post(0, '/api/v1/ledger/transactions', { tx: '0102' });
    expect(garbage.status).toBe(400);
    expect(garbage.json).toMatchObject({ error: 'bad_transaction' });
    expect(garbage.json.message).toMatch(/^body\/tx is not a ledger transaction: /);
    const extra = await post(0, '/api/v1/ledger/transactions', { tx: toHex(first), amount: 5 });
    expect(extra.status).toBe(400);
    const nobody = await get(0, `/api/v1/ledger/accounts/${'ab'.repeat(32)}`);
    expect(nobody).toMatchObject({ status: 404, json: { error: 'not_found' } });
    expect((await get(0, `/api/v1/ledger/accounts/xyz`)).status).toBe(400);
    expect((await get(0, `/api/v1/ledger/transactions/${'cd'.repeat(32)}`)).status).toBe(404);
    expect((await get(0, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}/history?limit=1000`)).status).toBe(400);
  });

  it('bpci ledger: a transfer signed locally from a key file, the account, the tx, a refusal with its reason', async () => {
    const keyFile = path.join(dir, 'keys', 'clients', 'client-001.json'); // bob's
    const t = await cli(['--json', 'ledger', 'transfer', '--key-file', keyFile, '--leg', `${toHex(carol.publicKey)}:FLX:4`, '--leg', `${toHex(alice.publicKey)}:AUR:1`, '--wait']);
    expect(t.code, t.err).toBe(0);
    const tx = JSON.parse(t.out);
    expect(tx).toMatchObject({ code: 'ok', signer: toHex(bob.publicKey), nonce: 0, status: 'committed' });
    expect(tx.legs).toHaveLength(2);
    const a = await cli(['--json', 'ledger', 'account', toHex(carol.publicKey)]);
    expect(JSON.parse(a.out).balances.FLX).toBe((LOCAL_CLIENT_BALANCE + 4n).toString());
    const byId = await cli(['--json', 'ledger', 'tx', tx.ledger_tx_id]);
    expect(JSON.parse(byId.out)).toMatchObject({ tx_id: tx.tx_id, code: 'ok' });
    const refused = await cli(['ledger', 'transfer', '--key-file', keyFile, '--leg', `${toHex(carol.publicKey)}:GEN:${LOCAL_CLIENT_BALANCE * 2n}`, '--wait']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/the ledger refused the transfer: insufficient_funds: /);
    const stale = await cli(['ledger', 'transfer', '--key-file', keyFile, '--leg', `${toHex(carol.publicKey)}:GEN:1`, '--nonce', '0', '--wait']);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(/bad_nonce: nonce 0 .* already used; the next nonce is 2/);
    expect((await cli(['ledger', 'transfer', '--key-file', keyFile, '--leg', 'nope'])).code).toBe(2);
    const info = await cli(['--json', 'ledger', 'info']);
    expect(JSON.parse(info.out).chain_id).toBe(LOCAL_CHAIN_ID);
  });

  it('after every validator restarts: the same transactions by id, balances and history', async () => {
    const before = await Promise.all(members.map((_, i) => get(i, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}`)));
    await stopAll();
    await startAll();
    for (let i = 0; i < N; i++) {
      const t = await get(i, `/api/v1/ledger/transactions/${firstTx.ledger_tx_id}`);
      expect(t.status, `validator ${i}: ${JSON.stringify(t.json)}`).toBe(200);
      expect(t.json).toMatchObject({ tx_id: firstTx.tx_id, height: firstTx.height, index: firstTx.index, code: 'ok', result_known: true });
      const byApiId = await get(i, `/api/v1/ledger/transactions/${firstTx.tx_id}`);
      expect(byApiId.json).toMatchObject({ ledger_tx_id: firstTx.ledger_tx_id, code: 'ok' });
      const plain = await get(i, `/api/v1/transactions/${firstTx.tx_id}`);
      expect(plain.json).toMatchObject({ status: 'committed', height: firstTx.height, result: 'ok' });
      const a = await get(i, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}`);
      expect(a.json.balances).toEqual(before[i]!.json.balances);
      expect(a.json.nonce).toBe(3);
      const h = await get(i, `/api/v1/ledger/accounts/${toHex(alice.publicKey)}/history?limit=100`);
      expect(h.json.transactions).toHaveLength(6);
    }
    // And the ledger keeps going after the restart.
    const after = await submit(1, pay(alice, 3, [{ to: carol, amount: 1n, asset: 'AUR' }]));
    expect(after.json).toMatchObject({ code: 'ok', nonce: 3 });
  });
});

describe('a validator that was down catches up from a snapshot', () => {
  it('restores the ledger from a peer checkpoint and agrees on balances and the state digest', async () => {
    await running[3]!.stop({ reason: 'test' });
    const nonce0 = (await get(0, `/api/v1/ledger/accounts/${toHex(carol.publicKey)}`)).json.nonce as number;
    const during: string[] = [];
    for (let k = 0; k < 30; k++) {
      const r = await submit(k % 3, pay(carol, nonce0 + k, [{ to: k % 2 ? alice : bob, amount: 1n, asset: 'FLX' }]));
      expect(r.json.code, JSON.stringify(r.json)).toBe('ok');
      during.push(r.json.tx_id);
    }
    running[3] = await startNodeFromConfig(members[3]!.configFile, { poolThreads: 0 });
    const s = await sameHeight(30);
    expect(new Set(s.map((x) => x.state_digest)).size).toBe(1);
    const st = await get(3, '/api/v1/consensus/ibft/state');
    expect(st.json.last_stable_checkpoint).toBeGreaterThan(0);
    const c3 = await get(3, `/api/v1/ledger/accounts/${toHex(carol.publicKey)}`);
    const c0 = await get(0, `/api/v1/ledger/accounts/${toHex(carol.publicKey)}`);
    expect(c3.json).toEqual({ ...c0.json, height: c3.json.height });
    expect(c3.json.nonce).toBe(nonce0 + 30);
    // Once the blocks below the snapshot are back-filled, they are in its ledger index too:
    // history and ids as at the others (polls: back-fill runs in the background).
    const url = `/api/v1/ledger/accounts/${toHex(carol.publicKey)}/history?limit=100`;
    const want = (await get(0, url)).json;
    const end = Date.now() + 30_000;
    let got = (await get(3, url)).json;
    while (got.indexed !== want.indexed && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      got = (await get(3, url)).json;
    }
    expect(got.transactions.map((t: any) => t.tx_id)).toEqual(want.transactions.map((t: any) => t.tx_id));
    // It restored a snapshot: most of what committed while it was down it never executed (the
    // blocks came back by back-fill, results unknown here).
    let seen = await Promise.all(during.map((id) => get(3, `/api/v1/transactions/${id}`)));
    while (seen.some((x) => x.status !== 200) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await Promise.all(during.map((id) => get(3, `/api/v1/transactions/${id}`)));
    }
    expect(seen.map((x) => x.status)).toEqual(during.map(() => 200));
    expect(seen.filter((x) => x.json.result_known === false).length, seen.map((x) => `${x.status}:${x.json.result_known}`).join(" ")).toBeGreaterThan(0);
    const back = seen.findIndex((x) => x.json.result_known === false);
    const v3 = await get(3, `/api/v1/ledger/transactions/${(await get(0, `/api/v1/ledger/transactions/${during[back]}`)).json.ledger_tx_id}`);
    expect(v3.status).toBe(200);
    expect(v3.json).toMatchObject({ tx_id: during[back], result_known: false });
    expect(v3.json.code).toBeUndefined();
  });
});

describe('a kv node', () => {
  it('answers the ledger routes 404 not_applicable', async () => {
    const app = createApi({ node: new FakeNode() });
    await app.ready();
    try {
      for (const url of ['/api/v1/ledger', `/api/v1/ledger/accounts/${'ab'.repeat(32)}`]) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode).toBe(404);
        expect(JSON.parse(r.body)).toMatchObject({ error: 'not_applicable', status_code: 404 });
        expect(JSON.parse(r.body).message).toMatch(/node\.app: ledger/);
      }
    } finally {
      await app.close();
    }
  });
});
