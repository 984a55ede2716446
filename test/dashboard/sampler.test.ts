// The dashboard's data path without a browser: the sampler turns successive samples of the node's
// cumulative counters into rates and a recent latency histogram, keeps a bounded ring, and the
// snapshot route answers in the API's shape (a fake node; the browser test runs a real cluster).
import { describe, expect, it } from 'vitest';
import { createApi } from '@bpci/node/api/server';
import { DashboardSampler, DASHBOARD_HISTORY_MAX } from '@bpci/node/api/dashboard';
import { NodeMetrics, LATENCY_BUCKETS_SECONDS } from '@bpci/node/metrics/metrics';
import { FakeNode } from '../../packages/node/test/fake-node.js';

async function commit(node: FakeNode, metrics: NodeMetrics, txs: number, roundSeconds: number): Promise<void> {
  for (let i = 0; i < txs; i++) await node.submitTransaction({ payload: new TextEncoder().encode(`tx ${Math.random()}`) }, { waitForCommit: false, timeoutMs: 1 });
  node.commitPending();
  metrics.roundCommitted(roundSeconds);
}

describe('dashboard sampler', () => {
  it('computes rates and mean latency per interval from successive samples of the counters', async () => {
    const node = new FakeNode();
    const metrics = new NodeMetrics({ processMetrics: false });
    const s = new DashboardSampler(node, metrics, 1000, 10);
    await s.sample(10_000);
    await commit(node, metrics, 6, 0.002);
    await s.sample(12_000); // 6 requests, 1 round in 2 s
    await commit(node, metrics, 3, 0.004);
    await commit(node, metrics, 1, 0.006);
    await s.sample(13_000); // 4 requests, 2 rounds in 1 s
    await s.sample(14_000); // nothing
    const h = s.history(100);
    expect(h.map((p) => p.requestsPerSecond)).toEqual([3, 4, 0]);
    expect(h.map((p) => p.roundsPerSecond)).toEqual([0.5, 2, 0]);
    expect(h.map((p) => p.height)).toEqual([1, 3, 3]);
    expect(h[0]!.latencyMeanMs).toBeCloseTo(2, 6);
    expect(h[1]!.latencyMeanMs).toBeCloseTo(5, 6);
    expect(h[2]!.latencyMeanMs).toBeUndefined(); // no round in that interval: no made-up figure
    expect(s.history(1).map((p) => p.t)).toEqual([14_000]);
  });

  it('keeps at most historyMax samples', async () => {
    const node = new FakeNode();
    const s = new DashboardSampler(node, undefined, 1000, 5);
    for (let i = 0; i < 20; i++) await s.sample(i * 1000);
    expect(s.samples).toBe(5);
    expect(s.history(DASHBOARD_HISTORY_MAX).map((p) => p.t)).toEqual([16_000, 17_000, 18_000, 19_000]);
    expect(() => new DashboardSampler(node, undefined, 0)).toThrow(/sampleMs/);
  });

  it('gives the latency histogram per bucket, since start and over the recent window', async () => {
    const node = new FakeNode();
    const metrics = new NodeMetrics({ processMetrics: false });
    const s = new DashboardSampler(node, metrics, 1000, 10);
    await commit(node, metrics, 1, 0.00003); // <= 50 µs, before the first sample
    await s.sample(1000);
    await commit(node, metrics, 1, 0.003); // <= 3.2 ms
    await commit(node, metrics, 1, 20); // above every bound
    await s.sample(2000);
    const snap = await s.snapshot({ history: 10, events: 10, evidence: 10 });
    const L = snap.latency!;
    expect(L.bucketsLeSeconds).toEqual(LATENCY_BUCKETS_SECONDS);
    expect(L.countsTotal.length).toBe(LATENCY_BUCKETS_SECONDS.length + 1);
    const at = (le: number) => LATENCY_BUCKETS_SECONDS.indexOf(le);
    expect(L.countsTotal[at(0.00005)]).toBe(1);
    expect(L.countsTotal[at(0.0032)]).toBe(1);
    expect(L.countsTotal[LATENCY_BUCKETS_SECONDS.length]).toBe(1);
    expect(L.countsRecent[at(0.00005)]).toBe(0);
    expect(L.countsRecent[at(0.0032)]).toBe(1);
    expect(L.countsRecent.reduce((a, b) => a + b, 0)).toBe(2);
    expect(L.recentWindowSeconds).toBe(1);
    expect(L.count).toBe(3);
    expect(snap.counters!.roundsCommitted).toBe(3);
    // The fake node names no crypto backend and keeps no events: shown as such, not invented.
    expect(snap.cryptoBackend).toBeNull();
    expect(snap.events).toEqual([]);
    expect(snap.evidence[0]).not.toHaveProperty('messages');
  });
});

describe('dashboard routes on the API (fake node)', () => {
  it('serves the page and a snake_case snapshot; bad query is a 400 in the API shape', async () => {
    const node = new FakeNode();
    const app = createApi({ node, metrics: new NodeMetrics({ processMetrics: false }) });
    try {
      const page = await app.inject({ method: 'GET', url: '/dashboard' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      // Self-contained: no external script, style or image, and a CSP that allows only this origin.
      // (the SVG namespace is a name, not a fetch)
      expect(page.body.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\//);
      expect(String(page.headers['content-security-policy'])).toMatch(/default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
      const snap = await app.inject({ method: 'GET', url: '/api/v1/dashboard/snapshot' });
      expect(snap.statusCode).toBe(200);
      const j = snap.json();
      expect(j).toMatchObject({ validator_id: 'validator-001', protocol: 'pbft', status: { last_committed_sequence: 0 }, counters: { requests_committed: 0 } });
      expect(j.latency.buckets_le_seconds.length).toBeGreaterThan(0);
      for (const url of ['/api/v1/dashboard/snapshot?history=abc', '/api/v1/dashboard/snapshot?events=-1', '/api/v1/dashboard/snapshot?x=1']) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(400);
        expect(r.json()).toMatchObject({ error: 'bad_request', status_code: 400 });
      }
      const wrong = await app.inject({ method: 'PUT', url: '/api/v1/dashboard/snapshot' });
      expect(wrong.statusCode).toBe(405);
      expect(wrong.json()).toMatchObject({ error: 'method_not_allowed', status_code: 405 });
      expect((await app.inject({ method: 'GET', url: '/api/v1/dashboard/nope' })).json()).toMatchObject({ error: 'not_found', status_code: 404 });
    } finally {
      await app.close();
    }
  });
});
