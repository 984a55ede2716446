import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeMetrics, PhaseTimer } from '../src/metrics/metrics.js';
import { consensusLogger, createLogger, type Logger } from '../src/log.js';

async function value(m: NodeMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  // Histogram series (_sum, _count, _bucket) live under the histogram, named by `metricName`.
  for (const metric of await m.registry.getMetricsAsJSON()) {
    for (const v of metric.values as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>) {
      if ((v.metricName ?? metric.name) !== name) continue;
      if (Object.entries(labels).every(([k, l]) => v.labels[k] === l)) return v.value;
    }
  }
  return undefined;
}

describe('metrics', () => {
  it('times phases per sequence with an injected clock and stays bounded', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    let t = 0n;
    const timer = new PhaseTimer(m, 2, () => t);
    timer.mark(1, 'pre_prepare');
    t = 100_000n; // 100 µs
    timer.mark(1, 'prepared');
    t = 300_000n;
    timer.mark(1, 'committed');
    expect(await value(m, 'bpci_phase_latency_seconds_sum', { phase: 'pre_prepare_to_prepared' })).toBeCloseTo(0.0001, 9);
    expect(await value(m, 'bpci_phase_latency_seconds_sum', { phase: 'prepared_to_committed' })).toBeCloseTo(0.0002, 9);
    expect(await value(m, 'triple_consensus_round_duration_seconds_sum')).toBeCloseTo(0.0003, 9);
    expect(await value(m, 'triple_consensus_rounds_total', { outcome: 'committed' })).toBe(1);
    for (const s of [2, 3, 4]) timer.mark(s, 'pre_prepare');
    expect(timer.tracked).toBe(2); // bound holds: sequence 2 was forgotten
    timer.mark(9, 'committed'); // never seen start: counted, not timed
    expect(await value(m, 'triple_consensus_rounds_total', { outcome: 'committed' })).toBe(2);
    timer.abandonAll();
    expect(await value(m, 'triple_consensus_rounds_total', { outcome: 'failed' })).toBe(2);
    expect(await value(m, 'ibft_consensus_success_rate')).toBe(0.5);
  });

  it('samples registered queue depths at scrape time', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    let depth = 3;
    m.addQueueSource('pending_requests', () => depth);
    expect(await value(m, 'bpci_queue_depth', { queue: 'pending_requests' })).toBe(3);
    depth = 7;
    expect(await value(m, 'bpci_queue_depth', { queue: 'pending_requests' })).toBe(7);
  });

  it('samples the session table size and evictions at scrape time', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    expect(await value(m, 'bpci_client_sessions')).toBe(0); // no source yet
    let s = { sessions: 12, evicted: 0 };
    m.setSessionSource(() => s);
    expect(await value(m, 'bpci_client_sessions')).toBe(12);
    s = { sessions: 100_000, evicted: 4096 };
    expect([await value(m, 'bpci_client_sessions'), await value(m, 'bpci_client_sessions_evicted')]).toEqual([100_000, 4096]);
  });

  it('writes JSON log lines with validator, view and sequence', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-log-'));
    try {
      const file = path.join(dir, 'node.log');
      const log = createLogger({ validator: 'validator-002', destination: file, sync: true });
      const l: Logger = log; // pino satisfies the modules' Logger interface
      consensusLogger(l, 3, 41).info({ digest: 'ab' }, 'committed');
      const line = JSON.parse(fs.readFileSync(file, 'utf8').trim());
      expect(line).toMatchObject({ level: 'info', validator: 'validator-002', view: 3, sequence: 41, digest: 'ab', msg: 'committed' });
      expect(typeof line.time).toBe('string');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps transport events to counters', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    const o = m.transportObserver();
    o.frameRejected!('bad_mac', 1);
    o.frameRejected!('bad_mac', 2);
    o.framesDropped!(3, 5);
    o.linkUp!(1);
    o.inboundThrottled!(2);
    expect(await value(m, 'bpci_transport_frames_rejected_total', { reason: 'bad_mac' })).toBe(2);
    expect(await value(m, 'bpci_transport_inbound_throttled_total', { peer: '2' })).toBe(1);
    expect(await value(m, 'bpci_transport_frames_dropped_total', { peer: '3' })).toBe(5);
    expect(await value(m, 'bpci_transport_links_up')).toBe(1);
  });

  it('exports Node.js process metrics under their standard names, with one prefix (issue 13 §4)', async () => {
    const m = new NodeMetrics({ validator: 'validator-001' });
    const text = (await m.exposition()).body;
    expect(text).toMatch(/^process_cpu_user_seconds_total\{validator="validator-001"\} /m);
    expect(text).toMatch(/^process_resident_memory_bytes\{validator="validator-001"\} /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes\{validator="validator-001"\} /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{validator="validator-001"\} /m);
    expect(text).not.toMatch(/process_process_|bpci_process_|bpci_nodejs_/);
  });

  it('counts a replaced primary apart from Byzantine faults', async () => {
    const m = new NodeMetrics({ processMetrics: false });
    m.leaderReplaced('validator-001');
    expect(await value(m, 'bpci_leader_replacements_total', { primary: 'validator-001' })).toBe(1);
    expect(() => m.byzantineFault('inactivity')).toThrow(/not a Byzantine fault/);
    expect(await value(m, 'consensus_byzantine_faults_detected_total', { kind: 'inactivity' })).toBeUndefined();
  });
});
