import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { verifyMerkleProof } from '@bpci/core';
import { createApi, toSnake } from '../src/api/server.js';
import { NodeMetrics } from '../src/metrics/metrics.js';
import { FakeNode } from './fake-node.js';

let node: FakeNode;
let metrics: NodeMetrics;
let app: FastifyInstance;
beforeEach(async () => {
  node = new FakeNode();
  metrics = new NodeMetrics({ validator: 'validator-001', processMetrics: false });
  app = createApi({ node, metrics, txBytesMax: 1024 });
  await app.ready();
});
afterEach(async () => {
  await app.close();
});

const C = '/api/v1/consensus';
const json = (r: { body: string }) => JSON.parse(r.body);

async function expect400(method: 'GET' | 'POST', url: string, payload: unknown, message: RegExp) {
  const r = await app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) });
  expect(r.statusCode, r.body).toBe(400);
  expect(json(r)).toMatchObject({ error: 'bad_request', status_code: 400 });
  expect(json(r).message).toMatch(message);
}

describe('transactions', () => {
  it('submits, waits for commit, and reports status', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: 'hello' } });
    expect(r.statusCode).toBe(202);
    const { tx_id, status } = json(r);
    expect(status).toBe('pending');
    expect(tx_id).toMatch(/^[0-9a-f]{64}$/);
    const w = await app.inject({ method: 'POST', url: '/api/v1/transactions?wait=true', payload: { payload: '00ff', encoding: 'hex', client_id: 'c1', request_seq: 1 } });
    expect(w.statusCode).toBe(200);
    expect(json(w)).toMatchObject({ status: 'committed', height: 1, index: 1 });
    expect(node.submitted[1]).toMatchObject({ clientId: 'c1', requestSeq: 1, payload: new Uint8Array([0, 255]) });
    const s = await app.inject({ method: 'GET', url: `/api/v1/transactions/${tx_id}` });
    expect(json(s)).toMatchObject({ tx_id, status: 'committed', height: 1, index: 0, round_id: '1' });
  });

  it('rejects bad bodies with a message naming the field', async () => {
    await expect400('POST', '/api/v1/transactions', {}, /payload/);
    await expect400('POST', '/api/v1/transactions', { payload: 5, extra: 1 }, /additional properties|payload/);
    await expect400('POST', '/api/v1/transactions', { payload: 'x', colour: 'red' }, /must NOT have additional properties/);
    await expect400('POST', '/api/v1/transactions', { payload: 'zz', encoding: 'hex' }, /hex digits/);
    await expect400('POST', '/api/v1/transactions', { payload: 'abc', encoding: 'base64' }, /base64/);
    await expect400('POST', '/api/v1/transactions', { payload: 'x', encoding: 'rot13' }, /encoding/);
    await expect400('POST', '/api/v1/transactions', { payload: 'a'.repeat(1500) }, /at most 1024/);
    await expect400('POST', '/api/v1/transactions', { payload: 'x', client_id: 'c1' }, /go together/);
    await expect400('POST', '/api/v1/transactions?timeout_ms=0', { payload: 'x' }, /timeout_ms/);
    const r = await app.inject({ method: 'POST', url: '/api/v1/transactions', headers: { 'content-type': 'application/json' }, payload: '{"payload":' });
    expect(r.statusCode).toBe(400);
    expect(node.submitted).toHaveLength(0);
  });

  it('404s an unknown transaction and 400s a malformed id', async () => {
    const r = await app.inject({ method: 'GET', url: `/api/v1/transactions/${'ab'.repeat(32)}` });
    expect(r.statusCode).toBe(404);
    expect(json(r).error).toBe('not_found');
    await expect400('GET', '/api/v1/transactions/xyz', undefined, /params\/id must match pattern/);
  });

  it('passes a port refusal through with its status', async () => {
    node.overloaded = true;
    const r = await app.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: 'x' } });
    expect(r.statusCode).toBe(503);
    expect(json(r)).toMatchObject({ error: 'overloaded' });
  });
});

describe('consensus rounds', () => {
  it('starts a round from bundles (seed body) and reads it back', async () => {
    const r = await app.inject({
      method: 'POST',
      url: `${C}/rounds/start`,
      payload: {
        bundle_proposals: [
          { bundle_id: 'bundle-001', proposer_id: 'validator-001', bid_amount: 1000, priority_score: 0.85, transactions: ['tx1', 'tx2', 'tx3'], gas_limit: 21000000 },
        ],
      },
    });
    expect(r.statusCode).toBe(202);
    const body = json(r);
    expect(body).toMatchObject({ round_id: '1', status: 'committed' });
    expect(body.tx_ids).toHaveLength(3);
    for (const id of ['1', 'round-1']) {
      const s = await app.inject({ method: 'GET', url: `${C}/rounds/${id}/status` });
      expect(s.statusCode).toBe(200);
      expect(json(s)).toMatchObject({ round_id: '1', sequence: 1, phase: 'committed', transaction_count: 3 });
    }
    expect(json(await app.inject({ method: 'GET', url: `${C}/rounds/history?limit=5` })).rounds).toHaveLength(1);
    expect(json(await app.inject({ method: 'GET', url: `${C}/rounds/active` })).rounds).toHaveLength(0);
    const st = json(await app.inject({ method: 'GET', url: `${C}/ibft/state/1` }));
    expect(st).toMatchObject({ quorum: 3, round: { sequence: 1 } });
    expect(st.votes).toHaveLength(3);
    expect(json(await app.inject({ method: 'GET', url: `${C}/ibft/votes/round-1` })).votes[0]).toMatchObject({ validator_id: 'validator-001', vote_type: 'commit', signature_verified: true });
    expect(json(await app.inject({ method: 'GET', url: `${C}/ibft/proposal/1` })).transactions).toHaveLength(3);
    expect(json(await app.inject({ method: 'GET', url: `${C}/ibft/state` }))).toMatchObject({ protocol: 'pbft', is_primary: true, last_committed_sequence: 1 });
    expect(json(await app.inject({ method: 'GET', url: `${C}/metrics` }))).toMatchObject({ total_rounds: 1, success_rate: 1 });
  });

  it('validates round bodies, ids and limits; 404s unknown rounds', async () => {
    await expect400('POST', `${C}/rounds/start`, { bundle_proposals: [] }, /fewer than 1/);
    await expect400('POST', `${C}/rounds/start`, { bundle_proposals: [{ bundle_id: 'b' }] }, /transactions/);
    await expect400('POST', `${C}/rounds/start`, { bundle_proposals: [{ bundle_id: 'b', transactions: ['t'], priority_score: 3 }] }, /priority_score/);
    await expect400('GET', `${C}/rounds/abc/status`, undefined, /round_id/);
    await expect400('GET', `${C}/rounds/history?limit=0`, undefined, /limit/);
    await expect400('GET', `${C}/rounds/history?limit=5000`, undefined, /limit/);
    await expect400('GET', `${C}/rounds/history?colour=red`, undefined, /additional/);
    for (const url of [`${C}/rounds/42/status`, `${C}/ibft/state/42`, `${C}/ibft/votes/42`, `${C}/ibft/proposal/42`]) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(404);
    }
  });

  it('refuses votes over HTTP with 403 after validating the seed body', async () => {
    const vote = { validator_id: 'validator-001', vote_type: 'Prepare', block_hash: '0x' + 'ab'.repeat(32), round_number: 12345, signature: 'ed25519:' + 'cd'.repeat(64) };
    const r = await app.inject({ method: 'POST', url: `${C}/ibft/vote`, payload: vote });
    expect(r.statusCode).toBe(403);
    expect(json(r).message).toMatch(/authenticated validator link/);
    await expect400('POST', `${C}/ibft/vote`, { ...vote, vote_type: 'Maybe' }, /vote_type/);
    await expect400('POST', `${C}/ibft/vote`, { ...vote, signature: 'ed25519:...' }, /signature/);
  });
});

describe('blocks, evidence, health, metrics', () => {
  it('serves a block and a Merkle proof that verifies against its root', async () => {
    const ids: string[] = [];
    for (const p of ['a', 'b', 'c', 'd', 'e']) ids.push(json(await app.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: p } })).tx_id);
    node.commitPending();
    const b = json(await app.inject({ method: 'GET', url: '/api/v1/blocks/1' }));
    expect(b.tx_ids).toEqual(ids);
    const r = json(await app.inject({ method: 'GET', url: `/api/v1/blocks/1?tx=${ids[3]}` }));
    expect(r.proof).toMatchObject({ index: 3, leaf_count: 5, merkle_root: b.merkle_root });
    const ok = verifyMerkleProof(
      Buffer.from(r.proof.merkle_root, 'hex'),
      Buffer.from(r.proof.leaf, 'hex'),
      { index: r.proof.index, leafCount: r.proof.leaf_count, siblings: r.proof.siblings.map((s: string) => Buffer.from(s, 'hex')) },
    );
    expect(ok).toBe(true);
    expect((await app.inject({ method: 'GET', url: `/api/v1/blocks/1?tx=${'00'.repeat(32)}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/api/v1/blocks/9' })).statusCode).toBe(404);
    await expect400('GET', '/api/v1/blocks/-1', undefined, /height/);
    await expect400('GET', '/api/v1/blocks/one', undefined, /height/);
  });

  it('lists evidence and answers health routes for what exists', async () => {
    expect(json(await app.inject({ method: 'GET', url: '/api/v1/evidence?limit=10' })).evidence[0]).toMatchObject({ kind: 'equivocation', validator_id: 'validator-004' });
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect(json(await app.inject({ method: 'GET', url: '/health/consensus' }))).toMatchObject({ status: 'ok', protocol: 'pbft' });
    expect((await app.inject({ method: 'GET', url: '/health/ibft' })).statusCode).toBe(200);
    node.consensusDown = true;
    expect((await app.inject({ method: 'GET', url: '/health/consensus' })).statusCode).toBe(503);
    const hs = await app.inject({ method: 'GET', url: '/health/hotstuff' });
    expect(hs.statusCode).toBe(404);
    expect(json(hs).error).toBe('not_applicable');
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
  });

  it('exposes Prometheus metrics with the seed names', async () => {
    await app.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: 'x' } });
    metrics.roundCommitted(0.0004);
    metrics.vote('prepare', 2);
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/plain/);
    for (const name of [
      'triple_consensus_rounds_total{outcome="committed",validator="validator-001"} 1',
      'triple_consensus_round_duration_seconds_bucket',
      'ibft_validator_votes_total{vote_type="prepare",from="2",validator="validator-001"} 1',
      'ibft_consensus_success_rate{validator="validator-001"} 1',
      'consensus_byzantine_faults_detected_total',
      'bpci_phase_latency_seconds',
      'bpci_transport_frames_rejected_total',
      'bpci_transactions_submitted_total{result="accepted",validator="validator-001"} 1',
    ]) {
      expect(r.body).toContain(name);
    }
  });

  it('enforces the body limit', async () => {
    const small = createApi({ node, bodyLimitBytes: 100 });
    const r = await small.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: 'x'.repeat(200) } });
    expect(r.statusCode).toBe(413);
    expect(json(r)).toMatchObject({ error: 'payload_too_large', status_code: 413 });
    await small.close();
  });
});

describe('errors in the API shape (issue 13 §4)', () => {
  it('answers a known path with the wrong method 405 with an Allow header', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/v1/transactions' });
    expect(r.statusCode).toBe(405);
    expect(r.headers.allow).toBe('POST');
    expect(json(r)).toMatchObject({ error: 'method_not_allowed', status_code: 405 });
    const d = await app.inject({ method: 'DELETE', url: '/api/v1/transactions/' + 'a'.repeat(64) });
    expect(d.statusCode).toBe(405);
    expect(String(d.headers.allow).split(', ')).toEqual(['GET', 'HEAD']);
    const p = await app.inject({ method: 'POST', url: '/health' });
    expect(p.statusCode).toBe(405);
    // An unknown path is still a 404.
    expect(json(await app.inject({ method: 'DELETE', url: '/api/v1/nothing' }))).toMatchObject({ error: 'not_found', status_code: 404 });
  });

  it("maps Fastify's own errors to the API's codes, never fst_err_*", async () => {
    const cases = [
      { headers: { 'content-type': 'application/xml' }, payload: '<x/>', status: 415, error: 'unsupported_media_type' },
      { headers: { 'content-type': 'application/json' }, payload: '{"payload":', status: 400, error: 'bad_request' },
      { headers: { 'content-type': 'application/json' }, payload: '', status: 400, error: 'bad_request' },
    ];
    for (const c of cases) {
      const r = await app.inject({ method: 'POST', url: '/api/v1/transactions', headers: c.headers, payload: c.payload });
      expect(r.statusCode, r.body).toBe(c.status);
      expect(json(r)).toMatchObject({ error: c.error, status_code: c.status });
      expect(r.body).not.toMatch(/fst_err/i);
    }
  });

  it("answers the seed's hotstuff and auction routes not_applicable, naming the running protocol", async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/consensus/hotstuff/state/round-3'],
      ['GET', '/api/v1/consensus/hotstuff/pipeline'],
      ['GET', '/api/v1/consensus/hotstuff/metrics'],
      ['GET', '/api/v1/consensus/hotstuff/execution/3'],
      ['POST', '/api/v1/consensus/auction/bundles'],
      ['GET', '/api/v1/consensus/auction/state/3'],
      ['GET', '/api/v1/consensus/auction/winner/3'],
      ['GET', '/api/v1/consensus/auction/evaluations/3'],
      ['GET', '/health/hotstuff'],
      ['GET', '/health/auction'],
    ] as const) {
      const r = await app.inject({ method, url, ...(method === 'POST' ? { payload: {} } : {}) });
      expect(r.statusCode, url).toBe(404);
      expect(json(r), url).toMatchObject({ error: 'not_applicable', status_code: 404, protocol: 'pbft' });
      expect(json(r).message).toMatch(/runs pbft/);
    }
  });

  it('says bytes when a utf8 payload is over the limit', async () => {
    // 600 two-byte characters: 1200 bytes, over txBytesMax 1024, under any character count
    const r = await app.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: 'é'.repeat(600) } });
    expect(r.statusCode).toBe(400);
    expect(json(r).message).toBe('body/payload is 1200 bytes (encoding utf8); at most 1024 bytes allowed');
    const long = await app.inject({ method: 'POST', url: '/api/v1/transactions', payload: { payload: 'a'.repeat(3000) } });
    expect(json(long).message).toMatch(/3000 bytes .*at most 1024 bytes/);
    expect(json(long).message).not.toMatch(/characters/);
  });

  it('rounds durations in ms to 3 decimals', async () => {
    expect(toSnake({ durationMs: 17.303508000000875, p99LatencyMs: 0.1 + 0.2, count: 0.123456 })).toEqual({ duration_ms: 17.304, p99_latency_ms: 0.3, count: 0.123456 });
  });
});
