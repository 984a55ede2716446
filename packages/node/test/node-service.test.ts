// NodeService behind the HTTP API, on a stub ValidatorNode driven through the observer hooks
// (issue 13 §4, "numbers that tell the truth"): a submit counts once, a replaced primary is not a
// Byzantine fault, a vote counts once and says whether its signature was verified, a conflicting
// (client id, request seq) is a 409 at once, a submit without a quorum of links is a 503,
// results and payloads come back as labelled text, health shows f, and the 'committed' check is
// real. Clocks are injected; nothing here asserts on time.
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { jsBackend, signRequest, statementPayload, type ClientRequest, type CommittedBatch, type ReplicaStatus } from '@bpci/core';
import { createApi } from '../src/api/server.js';
import { NodeMetrics } from '../src/metrics/metrics.js';
import { NodeService, labelBytes } from '../src/runtime/node-service.js';
import type { ValidatorNode } from '../src/runtime/validator-node.js';
import type { HealthThresholds } from '../src/runtime/consensus-health.js';

const crypto = jsBackend();
/** Requests as the (fake) validator's agent signs them for HTTP submitters. */
const agentSeed = new Uint8Array(32).fill(9);
const agent = (clientId: string, requestSeq: number, op: Uint8Array): ClientRequest => signRequest(crypto, agentSeed, clientId, requestSeq, op);
const T: HealthThresholds = { behindSeqsMax: 16, behindSeqsNow: 64, graceMs: 5_000 };
const enc = (s: string) => new TextEncoder().encode(s);
const digest = new Uint8Array(32).fill(7);
const sigOf = (n: number) => new Uint8Array(64).fill(n);

type MutableStatus = { -readonly [K in keyof ReplicaStatus]: ReplicaStatus[K] };

interface Harness {
  app: FastifyInstance;
  service: NodeService;
  metrics: NodeMetrics;
  status: MutableStatus;
  peers: { connected: number };
  submitted: ClientRequest[];
  clock: { now: number };
  commit(seq: number, requests: ClientRequest[], results: Uint8Array[]): void;
  get(url: string): Promise<{ code: number; body: any; headers: Record<string, unknown> }>;
  post(url: string, payload: unknown): Promise<{ code: number; body: any }>;
}

let open: Harness[] = [];
afterEach(async () => {
  for (const h of open) {
    h.service.close();
    await h.app.close();
  }
  open = [];
});

async function harness(validators = 4): Promise<Harness> {
  const names = Array.from({ length: validators }, (_, i) => `validator-00${i + 1}`);
  const clock = { now: 0 };
  const metrics = new NodeMetrics({ validator: names[0], processMetrics: false });
  const service = new NodeService({ validatorNames: names, verify: 'lazy', crypto, metrics, healthThresholds: T, nowMs: () => clock.now });
  const status: MutableStatus = {
    id: 0,
    protocol: 'pbft',
    view: 0,
    primary: 0,
    mode: 'normal',
    lowWatermark: 0,
    highWatermark: 64,
    sequence: 0,
    committedHeight: 0,
    stableCheckpoint: { seq: 0, stateDigest: '00' },
    slots: [],
    lastProposal: null,
    pendingRequests: 0,
    sessions: 0,
    evictedSessions: 0,
    viewChangeTimeoutTicks: 100,
    standing: { behindSeqs: 0, viewAlone: false, peerViews: names.map(() => 0) },
  };
  const peers = { connected: validators - 1 };
  const submitted: ClientRequest[] = [];
  const recentBlocks = new Map<number, CommittedBatch>();
  const stakes = names.map(() => 1);
  const node = {
    index: 0,
    isStopped: false,
    persistError: null,
    durable: true,
    store: null,
    backfill: null,
    recentBlocks,
    requestsCommitted: 0,
    replica: { status: () => status },
    connectedPeers: () => peers.connected,
    validatorSet: { validators: stakes.map((stake) => ({ stake })), quorumPower: validators - Math.floor((validators - 1) / 3), faultyPowerMax: Math.floor((validators - 1) / 3) },
    transport: { stats: () => ({ peers: [] }), isConnected: () => true },
    submitRequest: (r: ClientRequest) => submitted.push(r),
    signAsAgent: agent,
    waitForRequest: () => Promise.reject(new Error('not committed')),
  } as unknown as ValidatorNode;
  const obs = service.observer();
  service.attach(node);
  const app = createApi({ node: service, metrics, txBytesMax: 1024 });
  await app.ready();
  const h: Harness = {
    app,
    service,
    metrics,
    status,
    peers,
    submitted,
    clock,
    commit(seq, requests, results) {
      const pp = { kind: 'pre-prepare' as const, view: 0, seq, digest, batch: requests, from: 0, sig: sigOf(1) };
      const b: CommittedBatch = { seq, view: 0, digest, requests, results, cert: { prePrepare: pp, commits: [] } };
      recentBlocks.set(seq, b);
      obs.committed!(b, 0);
    },
    async get(url) {
      const r = await app.inject({ method: 'GET', url });
      return { code: r.statusCode, body: JSON.parse(r.body), headers: r.headers };
    },
    async post(url, payload) {
      const r = await app.inject({ method: 'POST', url, payload: payload as object });
      return { code: r.statusCode, body: JSON.parse(r.body) };
    },
  };
  open.push(h);
  return h;
}

async function metricValue(m: NodeMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  for (const metric of await m.registry.getMetricsAsJSON()) {
    if (metric.name !== name) continue;
    for (const v of metric.values as Array<{ value: number; labels: Record<string, unknown> }>) {
      if (Object.entries(labels).every(([k, l]) => v.labels[k] === l)) return v.value;
    }
  }
  return undefined;
}

describe('NodeService numbers (issue 13 §4)', () => {
  it('counts a submitted transaction once', async () => {
    const h = await harness();
    expect((await h.post('/api/v1/transactions', { payload: 'add x 5' })).code).toBe(202);
    expect(h.submitted).toHaveLength(1);
    expect(await metricValue(h.metrics, 'bpci_transactions_submitted_total', { result: 'accepted' })).toBe(1);
  });

  it('counts a replaced primary (Inactivity) as a leader replacement, not a Byzantine fault', async () => {
    const h = await harness();
    const obs = h.service.observer();
    obs.event!({ kind: 'slash', reason: 'Inactivity', validator: 0, detail: 'primary of view 0 replaced by view 1' });
    expect(await metricValue(h.metrics, 'bpci_leader_replacements_total', { primary: 'validator-001' })).toBe(1);
    expect(await metricValue(h.metrics, 'consensus_byzantine_faults_detected_total', { kind: 'inactivity' })).toBeUndefined();
    obs.event!({ kind: 'slash', reason: 'InvalidVote', validator: 2, detail: 'bad signature' });
    expect(await metricValue(h.metrics, 'consensus_byzantine_faults_detected_total', { kind: 'bad_signature' })).toBe(1);
    const s = (await h.get('/api/v1/consensus/metrics')).body;
    expect(s).toMatchObject({ byzantine_faults_detected: 1, leader_replacements: 1 });
  });

  it('times both phases of a round it takes part in (bpci_phase_latency_seconds)', async () => {
    const h = await harness();
    const obs = h.service.observer();
    const batch: ClientRequest[] = [agent('p', 1, enc('x'))];
    obs.outbound!({ dest: { kind: 'broadcast' }, message: { kind: 'pre-prepare', view: 0, seq: 1, digest, batch, from: 0, sig: sigOf(1) } } as never);
    obs.outbound!({ dest: { kind: 'broadcast' }, message: { kind: 'commit', view: 0, seq: 1, digest, from: 0, sig: sigOf(2) } } as never);
    h.commit(1, batch, [enc('1')]);
    const text = await h.metrics.registry.getSingleMetricAsString('bpci_phase_latency_seconds');
    expect(text).toMatch(/bpci_phase_latency_seconds_count\{[^}]*phase="pre_prepare_to_prepared"\} 1/);
    expect(text).toMatch(/bpci_phase_latency_seconds_count\{[^}]*phase="prepared_to_committed"\} 1/);
  });

  it('lists a retransmitted vote once and reports its own signature verdict', async () => {
    const h = await harness();
    const obs = h.service.observer();
    const batch: ClientRequest[] = [agent('c', 1, enc('x'))];
    const pp = { kind: 'pre-prepare' as const, view: 0, seq: 1, digest, batch, from: 0, sig: sigOf(1) };
    obs.outbound!({ dest: { kind: 'broadcast' }, message: pp } as never);
    for (let copy = 0; copy < 3; copy++) {
      for (const from of [1, 2, 3]) {
        obs.inbound!(from, { kind: 'prepare', view: 0, seq: 1, digest, from, sig: sigOf(10 + from) });
        obs.inbound!(from, { kind: 'commit', view: 0, seq: 1, digest, from, sig: sigOf(20 + from) });
      }
    }
    let votes = (await h.get('/api/v1/consensus/ibft/votes/1')).body.votes as Array<{ validator_id: string; vote_type: string; signature_verified: boolean | null }>;
    expect(votes).toHaveLength(7); // 1 pre-prepare + 3 prepares + 3 commits, each once
    expect(votes.every((v) => v.signature_verified === null)).toBe(true); // nothing verified yet (lazy)
    // A verify job checks validator-002's prepare (valid) and validator-003's commit (invalid).
    obs.verified!(2, 1, 0, [
      { publicKey: new Uint8Array(32), message: statementPayload('prepare', 0, 1, digest, 1), signature: sigOf(11) },
      { publicKey: new Uint8Array(32), message: statementPayload('commit', 0, 1, digest, 2), signature: sigOf(22) },
    ], new Uint8Array([1, 0]));
    votes = (await h.get('/api/v1/consensus/ibft/votes/1')).body.votes;
    const verdict = (id: string, type: string) => votes.find((v) => v.validator_id === id && v.vote_type === type)!.signature_verified;
    expect(verdict('validator-002', 'prepare')).toBe(true);
    expect(verdict('validator-003', 'commit')).toBe(false);
    expect(verdict('validator-004', 'prepare')).toBeNull();
    expect(verdict('validator-001', 'pre_prepare')).toBeNull(); // our own: never verified here
    const round = (await h.get('/api/v1/consensus/rounds/1/status')).body;
    expect(round).toMatchObject({ prepare_votes: 3, commit_votes: 3 });
    // The counter too: three copies of each peer vote count once, our own pre-prepare not at all.
    expect(await metricValue(h.metrics, 'ibft_validator_votes_total', { vote_type: 'prepare', from: 'validator-002' })).toBe(1);
    expect(await metricValue(h.metrics, 'ibft_validator_votes_total', { vote_type: 'commit', from: 'validator-004' })).toBe(1);
    expect(await metricValue(h.metrics, 'ibft_validator_votes_total', { vote_type: 'pre_prepare' })).toBeUndefined();
    for (let copy = 0; copy < 2; copy++) obs.inbound!(2, { kind: 'checkpoint', seq: 64, stateDigest: digest, from: 2, sig: sigOf(30) });
    expect(await metricValue(h.metrics, 'ibft_validator_votes_total', { vote_type: 'checkpoint', from: 'validator-003' })).toBe(1);
  });

  it('takes a request its client signed as it is, and refuses one whose signature does not verify', async () => {
    const h = await harness();
    const seed = new Uint8Array(32).fill(3);
    const signed = signRequest(crypto, seed, 'alice', 1, enc('add x 5'));
    const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const body = { payload: 'add x 5', client_id: 'alice', request_seq: 1, public_key: hexOf(signed.key), signature: hexOf(signed.sig) };
    expect((await h.post('/api/v1/transactions', body)).code).toBe(202);
    expect(h.submitted).toHaveLength(1);
    expect(h.submitted[0]).toEqual(signed); // not re-signed by the agent: the client's own session
    const bad = await h.post('/api/v1/transactions', { ...body, payload: 'add x 6' });
    expect(bad).toMatchObject({ code: 400, body: { error: 'bad_signature' } });
    expect(bad.body.message).toMatch(/does not verify/);
    expect((await h.post('/api/v1/transactions', { payload: 'add x 5', client_id: 'alice', request_seq: 1, public_key: body.public_key })).code).toBe(400);
    expect((await h.post('/api/v1/transactions', { payload: 'add x 5', public_key: body.public_key, signature: body.signature })).body.message).toMatch(/needs body\/client_id/);
    expect((await h.post('/api/v1/transactions', { payload: 'add x 5', client_id: 'alice', request_seq: 0 })).code).toBe(400);
    expect(h.submitted).toHaveLength(1);
  });

  it('answers a second payload under a taken (client_id, request_seq) with 409 at once', async () => {
    const h = await harness();
    const first = await h.post('/api/v1/transactions', { payload: 'add x 5', client_id: 'c1', request_seq: 1 });
    expect(first.code).toBe(202);
    const clash = await h.post('/api/v1/transactions?wait=true&timeout_ms=60000', { payload: 'add x 6', client_id: 'c1', request_seq: 1 });
    expect(clash.code).toBe(409);
    expect(clash.body).toMatchObject({ error: 'request_conflict', status_code: 409 });
    expect(clash.body.message).toContain(first.body.tx_id);
    expect(h.submitted).toHaveLength(1);
    // Committed: the same payload again is its status; another payload is still a conflict.
    h.commit(1, [h.submitted[0]!], [enc('5')]);
    expect(await h.post('/api/v1/transactions', { payload: 'add x 5', client_id: 'c1', request_seq: 1 })).toMatchObject({ code: 200, body: { status: 'committed', tx_id: first.body.tx_id } });
    expect((await h.post('/api/v1/transactions', { payload: 'add x 7', client_id: 'c1', request_seq: 1 })).code).toBe(409);
    // Below the client's last executed seq: the replica would drop it, so it is refused.
    h.commit(2, [agent('c2', 5, enc('get x'))], [enc('5')]);
    const stale = await h.post('/api/v1/transactions', { payload: 'get y', client_id: 'c2', request_seq: 3 });
    expect(stale).toMatchObject({ code: 409, body: { error: 'request_seq_stale' } });
    expect(stale.body.message).toMatch(/request_seq 6 or higher/);
    expect((await h.post('/api/v1/transactions', { payload: 'get y', client_id: 'c2', request_seq: 6 })).code).toBe(202);
  });

  it('refuses a submit without a quorum of links with 503 no_quorum_links', async () => {
    const h = await harness();
    h.peers.connected = 1; // 2 of 4: no quorum of 3
    const r = await h.post('/api/v1/transactions', { payload: 'add x 5' });
    expect(r).toMatchObject({ code: 503, body: { error: 'no_quorum_links', status_code: 503 } });
    expect(r.body.message).toMatch(/1 of 3 peers/);
    expect(h.submitted).toHaveLength(0);
    expect(await metricValue(h.metrics, 'bpci_transactions_submitted_total', { result: 'rejected' })).toBe(1);
    h.peers.connected = 2;
    expect((await h.post('/api/v1/transactions', { payload: 'add x 5' })).code).toBe(202);
  });

  it('returns text results as text and other bytes as hex, labelled, and the payload by id', async () => {
    const h = await harness();
    const a = await h.post('/api/v1/transactions', { payload: 'add x 5' });
    const b = await h.post('/api/v1/transactions', { payload: 'ff00', encoding: 'hex' });
    expect(a.body).toMatchObject({ status: 'pending', payload: 'add x 5', payload_encoding: 'utf8' });
    h.commit(1, h.submitted.slice(), [enc('5'), new Uint8Array([0xff, 0x00])]);
    const ta = (await h.get(`/api/v1/transactions/${a.body.tx_id}`)).body;
    expect(ta).toMatchObject({ status: 'committed', result: '5', result_encoding: 'utf8', payload: 'add x 5', payload_encoding: 'utf8', height: 1, index: 0 });
    const tb = (await h.get(`/api/v1/transactions/${b.body.tx_id}`)).body;
    expect(tb).toMatchObject({ result: 'ff00', result_encoding: 'hex', payload: 'ff00', payload_encoding: 'hex', index: 1 });
    expect(labelBytes(enc(''))).toEqual({ text: '', encoding: 'utf8' });
    expect(labelBytes(enc('line\nnext\ttab'))).toEqual({ text: 'line\nnext\ttab', encoding: 'utf8' });
    expect(labelBytes(new Uint8Array([0x41, 0x00]))).toEqual({ text: '4100', encoding: 'hex' });
    expect(labelBytes(new Uint8Array([0xc3, 0x28]))).toEqual({ text: 'c328', encoding: 'hex' });
  });

  it('counts a view left by a view change as a failed round (not a fixed 0 and success rate 1)', async () => {
    const h = await harness();
    await h.post('/api/v1/transactions', { payload: 'add x 5' });
    h.commit(1, h.submitted.slice(), [enc('5')]);
    expect((await h.get('/api/v1/consensus/metrics')).body).toMatchObject({ total_rounds: 1, failed_rounds: 0, success_rate: 1 });
    h.service.observer().event!({ kind: 'view-change-started', view: 1 });
    expect((await h.get('/api/v1/consensus/metrics')).body).toMatchObject({ total_rounds: 2, failed_rounds: 1, success_rate: 0.5 });
    expect(await metricValue(h.metrics, 'triple_consensus_rounds_total', { outcome: 'failed' })).toBe(1);
  });

  it('rounds durations to 3 decimals', async () => {
    const h = await harness();
    await h.post('/api/v1/transactions', { payload: 'add x 5' });
    h.commit(1, h.submitted.slice(), [enc('5')]);
    const r = (await h.get('/api/v1/consensus/rounds/1/status')).body;
    expect(String(r.duration_ms)).toMatch(/^\d+(\.\d{1,3})?$/);
    const m = (await h.get('/api/v1/consensus/metrics')).body;
    for (const k of ['average_latency_ms', 'p50_latency_ms', 'p99_latency_ms']) expect(String(m[k])).toMatch(/^\d+(\.\d{1,3})?$/);
  });

  it('shows f in health, with a warning when it is 0 (two validators)', async () => {
    const two = await harness(2);
    const c = await two.get('/health/consensus');
    expect(c.body.fault_tolerance).toBe(0);
    expect(c.body.warnings[0]).toMatch(/f = 0: 2 validator/);
    expect(c.body.status).toBe('ok');
    expect((await two.get('/health')).body).toMatchObject({ fault_tolerance: 0 });
    const four = await harness(4);
    const c4 = (await four.get('/health/consensus')).body;
    expect(c4.fault_tolerance).toBe(1);
    expect(c4.warnings).toBeUndefined();
  });

  it("degrades the 'committed' check when requests wait with no commit for the grace period", async () => {
    const h = await harness();
    h.status.pendingRequests = 5;
    h.clock.now = 1_000;
    expect((await h.get('/health/consensus')).body.status).toBe('ok');
    h.clock.now = 7_000;
    const c = (await h.get('/health/consensus')).body;
    expect(c.status).toBe('degraded');
    expect(c.checks.committed.ok).toBe(false);
    expect(c.reasons).toEqual(['no commit for 7.0 s with 5 requests pending']);
    // A commit clears it.
    h.commit(1, [agent('z', 1, enc('x'))], [enc('')]);
    h.clock.now = 7_100;
    expect((await h.get('/health/consensus')).body.status).toBe('ok');
  });
});
