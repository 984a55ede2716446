// Consensus health (issue 14): the pure rules (behind, alone in a view, out of normal mode, each
// with a wall-time grace period), the tracker's degraded seconds, the NodeService wiring into
// /health and /health/consensus, and the metrics bpci_consensus_degraded and
// bpci_consensus_degraded_seconds_total. Every clock here is injected.
import { describe, expect, it } from 'vitest';
import { jsBackend, type ReplicaStatus } from '@bpci/core';
import { createApi } from '../src/api/server.js';
import { NodeMetrics } from '../src/metrics/metrics.js';
import { NodeService } from '../src/runtime/node-service.js';
import type { ValidatorNode } from '../src/runtime/validator-node.js';
import {
  ConsensusHealthTracker,
  HEALTH_GRACE_MIN_MS,
  assessConsensusHealth,
  healthThresholdsOf,
  type ConsensusSample,
  type HealthThresholds,
} from '../src/runtime/consensus-health.js';

const T: HealthThresholds = { behindSeqsMax: 16, behindSeqsNow: 64, graceMs: 5_000 };

function sample(over: Partial<ConsensusSample> & { behind?: number; alone?: boolean; views?: number[] } = {}): ConsensusSample {
  const views = over.views ?? [4, 4, 4, 4];
  return {
    mode: 'normal',
    view: views[0]!,
    committedHeight: 100,
    self: 0,
    peersConnected: 3,
    peersTotal: 3,
    quorumLinks: true,
    ...over,
    standing: over.standing ?? { behindSeqs: over.behind ?? 0, viewAlone: over.alone ?? false, peerViews: views },
  };
}

describe('consensus health rules', () => {
  it('derives thresholds from the config: a checkpoint interval, the window, grace of view timeouts with a floor', () => {
    expect(healthThresholdsOf({ checkpointInterval: 16, watermarkWindow: 64, viewChangeTimeoutTicks: 100 }, 10)).toEqual({ behindSeqsMax: 16, behindSeqsNow: 64, graceMs: HEALTH_GRACE_MIN_MS });
    expect(healthThresholdsOf({ checkpointInterval: 100, watermarkWindow: 400, viewChangeTimeoutTicks: 500 }, 10).graceMs).toBe(20_000);
  });

  it('is ok in step with the peers, and a few seqs behind is normal', () => {
    for (const behind of [0, 3, 16]) {
      const a = assessConsensusHealth(sample({ behind }), {}, 0, T);
      expect(a.report.status).toBe('ok');
      expect(a.degraded).toEqual([]);
      expect(a.report.reasons).toBeUndefined();
    }
  });

  it('behind by more than a checkpoint interval counts only after the grace period; beyond the window at once', () => {
    let a = assessConsensusHealth(sample({ behind: 40 }), {}, 1_000, T);
    expect(a.report.status).toBe('ok');
    expect(a.report.checks.behind!.detail).toMatch(/behind by 40 seqs for 0\.0 s \(counts after 5\.0 s\)/);
    a = assessConsensusHealth(sample({ behind: 40 }), a.onsets, 5_999, T);
    expect(a.report.status).toBe('ok');
    a = assessConsensusHealth(sample({ behind: 40 }), a.onsets, 6_000, T);
    expect(a.report.status).toBe('degraded');
    expect(a.report.reasons).toEqual(['behind by 40 seqs']);
    expect(a.report.checks.behind!.ok).toBe(false);
    const far = assessConsensusHealth(sample({ behind: 312 }), {}, 0, T);
    expect(far.report.status).toBe('degraded');
    expect(far.report.reasons).toEqual(['behind by 312 seqs']);
  });

  it('alone in a view counts after the grace period and names the peers views', () => {
    const s = sample({ alone: true, views: [5, 4, 4, 4], mode: 'view-change' });
    let a = assessConsensusHealth(s, {}, 0, T);
    expect(a.report.status).toBe('ok');
    a = assessConsensusHealth(s, a.onsets, 5_000, T);
    expect(a.report.status).toBe('degraded');
    expect(a.degraded).toEqual(['view_alone', 'not_normal']);
    expect(a.report.reasons).toEqual(['alone in view 5 (peers: 4,4,4)', 'in view-change mode for 5.0 s']);
    expect(a.report.checks.view).toEqual({ ok: false, detail: 'alone in view 5 (peers: 4,4,4) for 5.0 s' });
    // a peer never heard from shows as '?'
    expect(assessConsensusHealth(sample({ views: [2, -1, 2, 2] }), {}, 0, T).report.checks.view!.detail).toBe('view 2 (peers: ?,2,2)');
  });

  it('a brief view change is normal; a long one is not; the clock restarts after normal mode', () => {
    let a = assessConsensusHealth(sample({ mode: 'view-change' }), {}, 0, T);
    a = assessConsensusHealth(sample({ mode: 'view-change' }), a.onsets, 3_000, T);
    expect(a.report.status).toBe('ok');
    a = assessConsensusHealth(sample(), a.onsets, 3_100, T); // back to normal
    expect(a.onsets).toEqual({});
    a = assessConsensusHealth(sample({ mode: 'catching-up' }), a.onsets, 3_200, T);
    a = assessConsensusHealth(sample({ mode: 'catching-up' }), a.onsets, 8_100, T);
    expect(a.report.status).toBe('ok'); // 4.9 s in this spell, not 8.1 s
    a = assessConsensusHealth(sample({ mode: 'catching-up' }), a.onsets, 8_200, T);
    expect(a.report.status).toBe('degraded');
    expect(a.report.reasons).toEqual(['in catching-up mode for 5.0 s']);
  });

  it('no quorum of links is down at once', () => {
    const a = assessConsensusHealth(sample({ peersConnected: 1, quorumLinks: false }), {}, 0, T);
    expect(a.report.status).toBe('down');
    expect(a.report.reasons).toEqual(['no quorum of links (1/3 peers connected)']);
  });

  it('a minority of links up is down; a quorum of links is not', () => {
    // 7 validators (f = 2, quorum 5): 3 peers + self hold no quorum.
    expect(assessConsensusHealth(sample({ peersConnected: 3, peersTotal: 6, quorumLinks: false }), {}, 0, T).report.status).toBe('down');
    expect(assessConsensusHealth(sample({ peersConnected: 4, peersTotal: 6, quorumLinks: true }), {}, 0, T).report.status).toBe('ok');
  });

  it('committed: requests pending with no commit for the grace period is degraded; idle or committing is ok', () => {
    // idle: nothing pending, however long since the last commit
    const idle = assessConsensusHealth(sample({ pendingRequests: 0, commitAgeMs: 3_600_000 }), {}, 0, T);
    expect(idle.report.status).toBe('ok');
    expect(idle.report.checks.committed!.ok).toBe(true);
    // a burst after an idle hour: pending, last commit long ago, but not for the grace period yet
    const a0 = assessConsensusHealth(sample({ pendingRequests: 12, commitAgeMs: 3_600_000 }), {}, 0, T);
    expect(a0.report.status).toBe('ok');
    expect(a0.report.checks.committed!.detail).toMatch(/12 requests pending for 0\.0 s \(counts after 5\.0 s\)/);
    const a1 = assessConsensusHealth(sample({ pendingRequests: 12, commitAgeMs: 3_605_000 }), a0.onsets, 5_000, T);
    expect(a1.report.status).toBe('degraded');
    expect(a1.report.checks.committed!.ok).toBe(false);
    expect(a1.report.reasons).toEqual(['no commit for 3605.0 s with 12 requests pending']);
    // under load something is always pending, but commits keep coming: ok
    const b0 = assessConsensusHealth(sample({ pendingRequests: 40, commitAgeMs: 3 }), {}, 0, T);
    const b1 = assessConsensusHealth(sample({ pendingRequests: 40, commitAgeMs: 2 }), b0.onsets, 60_000, T);
    expect(b1.report.status).toBe('ok');
    expect(b1.report.checks.committed!.ok).toBe(true);
  });
});

describe('ConsensusHealthTracker', () => {
  it('accrues the seconds between samples to the reasons that counted, and to any', () => {
    const tr = new ConsensusHealthTracker(T);
    tr.sample(sample({ behind: 100 }), 0); // degraded at once
    tr.sample(sample({ behind: 100, alone: true, views: [5, 4, 4, 4] }), 2_000);
    tr.sample(sample({ behind: 100, alone: true, views: [5, 4, 4, 4] }), 7_000); // view_alone counts from here
    tr.sample(sample(), 8_000); // rejoined
    tr.sample(sample(), 20_000);
    const s = tr.degradedSeconds();
    expect(s.get('behind')).toBeCloseTo(8, 9);
    expect(s.get('view_alone')).toBeCloseTo(1, 9);
    expect(s.get('any')).toBeCloseTo(8, 9);
    expect(s.get('not_normal')).toBe(0);
    expect(tr.latest!.report.status).toBe('ok');
  });
});

// ---------------------------------------------------------------- NodeService, API and metrics

type MutableStatus = { -readonly [K in keyof ReplicaStatus]: ReplicaStatus[K] };

function stubNode(status: MutableStatus, peers: { connected: number }): ValidatorNode {
  return {
    index: 0,
    isStopped: false,
    persistError: null,
    durable: true,
    store: null,
    replica: { status: () => status },
    connectedPeers: () => peers.connected,
    validatorSet: { validators: [1, 2, 3, 4].map(() => ({ stake: 1_000_000 })), quorumPower: 3_000_000, faultyPowerMax: 1_000_000 },
    transport: { stats: () => ({ peers: [] }), isConnected: () => true },
  } as unknown as ValidatorNode;
}

function baseStatus(): MutableStatus {
  return {
    id: 0,
    protocol: 'pbft',
    view: 4,
    primary: 0,
    mode: 'normal',
    lowWatermark: 0,
    highWatermark: 64,
    sequence: 100,
    committedHeight: 100,
    stableCheckpoint: { seq: 96, stateDigest: '00' },
    slots: [],
    lastProposal: null,
    pendingRequests: 0,
    sessions: 0,
    evictedSessions: 0,
    viewChangeTimeoutTicks: 100,
    standing: { behindSeqs: 0, viewAlone: false, peerViews: [4, 4, 4, 4] },
  };
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

describe('NodeService health, API and metrics', () => {
  it('reports a stranded validator as degraded on /health, /health/consensus and /health/ibft, with reasons, and meters it', async () => {
    let now = 0;
    const metrics = new NodeMetrics({ validator: 'validator-001', processMetrics: false });
    const status = baseStatus();
    const peers = { connected: 3 };
    const service = new NodeService({ validatorNames: ['validator-001', 'validator-002', 'validator-003', 'validator-004'], verify: 'lazy', crypto: jsBackend(), metrics, healthThresholds: T, nowMs: () => now });
    service.attach(stubNode(status, peers));
    const app = createApi({ node: service, metrics });
    await app.ready();
    try {
      const get = async (url: string) => {
        const r = await app.inject({ method: 'GET', url });
        return { code: r.statusCode, body: JSON.parse(r.body) };
      };
      expect(await get('/health/consensus')).toMatchObject({ code: 200, body: { status: 'ok', protocol: 'pbft' } });
      expect((await get('/health')).body.status).toBe('ok');
      expect(await metricValue(metrics, 'bpci_consensus_degraded')).toBe(0);

      // Alone in view 5, in view-change mode, falling behind: within the grace period still ok.
      status.view = 5;
      status.mode = 'view-change';
      status.standing = { behindSeqs: 30, viewAlone: true, peerViews: [5, 4, 4, 4] };
      now = 1_000;
      expect((await get('/health/consensus')).body.status).toBe('ok');
      now = 6_000;
      const c = await get('/health/consensus');
      expect(c.code).toBe(200);
      expect(c.body).toMatchObject({ status: 'degraded', protocol: 'pbft' });
      expect(c.body.reasons).toEqual(['behind by 30 seqs', 'alone in view 5 (peers: 4,4,4)', 'in view-change mode for 5.0 s']);
      expect(c.body.checks.view.ok).toBe(false);
      expect((await get('/health/ibft')).body).toMatchObject({ status: 'degraded', reasons: c.body.reasons });
      const h = await get('/health');
      expect(h.code).toBe(200);
      expect(h.body.status).toBe('degraded');
      expect(h.body.checks.consensus.ok).toBe(false);
      expect(h.body.reasons).toEqual(c.body.reasons);

      now = 9_000;
      expect(await metricValue(metrics, 'bpci_consensus_degraded')).toBe(1);
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(text).toMatch(/^bpci_consensus_degraded\{validator="validator-001"\} 1$/m);
      expect(text).toMatch(/^bpci_consensus_degraded_seconds_total\{reason="view_alone",validator="validator-001"\} \d/m);
      // 6 s -> 9 s degraded (the first scrape sample at 9 s accrues 3 s to each reason that counted)
      expect(await metricValue(metrics, 'bpci_consensus_degraded_seconds_total', { reason: 'any' })).toBeCloseTo(3, 6);
      expect(await metricValue(metrics, 'bpci_consensus_degraded_seconds_total', { reason: 'behind' })).toBeCloseTo(3, 6);
      expect(await metricValue(metrics, 'bpci_consensus_degraded_seconds_total', { reason: 'no_quorum_links' })).toBe(0);

      // Rejoined: healthy again at once, the counter keeps what it had.
      status.view = 4;
      status.mode = 'normal';
      status.standing = { behindSeqs: 0, viewAlone: false, peerViews: [4, 4, 4, 4] };
      now = 10_000;
      expect((await get('/health/consensus')).body).toMatchObject({ status: 'ok' });
      expect((await get('/health/consensus')).body.reasons).toBeUndefined();
      now = 60_000;
      expect(await metricValue(metrics, 'bpci_consensus_degraded')).toBe(0);
      expect(await metricValue(metrics, 'bpci_consensus_degraded_seconds_total', { reason: 'any' })).toBeCloseTo(4, 6);

      // No quorum of links: /health/consensus 503 down, the process itself still up (200 degraded).
      peers.connected = 1;
      expect(await get('/health/consensus')).toMatchObject({ code: 503, body: { status: 'down', reasons: ['no quorum of links (1/3 peers connected)'] } });
      expect(await get('/health')).toMatchObject({ code: 200, body: { status: 'degraded' } });
    } finally {
      service.close();
      await app.close();
    }
  });
});
