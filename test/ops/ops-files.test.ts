// The operator files in ops/ (issue 13 §3): the Grafana dashboard JSON, the Prometheus scrape
// config and the alert rules parse, have the structure their tools expect, and name only metrics
// a validator really exports. The exported names come from the node's own metrics module: the
// `# TYPE` lines of a fresh NodeMetrics' exposition (a histogram adds _bucket, _sum, _count), so a
// renamed or removed metric fails here, not on an operator's empty graph.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { NodeMetrics } from '@bpci/node/metrics/metrics';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

const ops = (p: string) => path.join(root, 'ops', p);

/** Series names the node exports, from its exposition's TYPE lines. */
async function exportedSeries(): Promise<Set<string>> {
  const { body } = await new NodeMetrics().exposition();
  const names = new Set<string>();
  for (const line of body.split('\n')) {
    const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (!m) continue;
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** Series Prometheus itself makes for every target. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * Metric names a PromQL expression reads: identifiers that are not functions (followed by "("),
 * keywords, label names (inside {...} or a by/on/... list), strings, durations or numbers.
 */
function metricNamesIn(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers (and Grafana ${vars} in them)
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\w+/g, ' '); // Grafana variables outside matchers
  const out: string[] = [];
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const [, name, call] = m as unknown as [string, string, string | undefined];
    const before = s[m.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 5m, 1e3 ...
    if (call !== undefined || PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    out.push(name);
  }
  return out;
}

describe('metricNamesIn (the checker itself)', () => {
  it('finds metric names and skips functions, labels, keywords, strings and durations', () => {
    expect(metricNamesIn('histogram_quantile(0.99, sum by (validator, le) (rate(foo_bucket{a="b",c=~"$v"}[5m]))) > 0.25')).toEqual(['foo_bucket']);
    expect(metricNamesIn('(changes(a_total[2m]) == 0) and on (validator) (b{queue="x"} > 0)')).toEqual(['a_total', 'b']);
    expect(metricNamesIn('up{job="bpci"} == 0')).toEqual(['up']);
    expect(metricNamesIn('rate(x[$__rate_interval]) + rate(y[1h30m])')).toEqual(['x', 'y']);
  });

  it('knows the exported names: real ones are in, a made-up one is not', async () => {
    const exported = await exportedSeries();
    for (const n of ['bpci_requests_committed_total', 'triple_consensus_round_duration_seconds_bucket', 'process_cpu_user_seconds_total']) expect(exported.has(n), n).toBe(true);
    expect(exported.has('bpci_requests_committed')).toBe(false);
    expect(exported.has('bpci_process_process_cpu_user_seconds_total')).toBe(false);
  });
});

describe('ops/ files', () => {
  it('Grafana dashboard: panels with datasource and PromQL targets on exported metrics', async () => {
    const exported = await exportedSeries();
    const dash = JSON.parse(fs.readFileSync(ops('grafana/bpci-dashboard.json'), 'utf8')) as {
      title: string; uid: string; schemaVersion: number; panels: Array<Record<string, unknown>>; templating: { list: Array<{ name: string; type: string }> };
    };
    expect(dash.title).toMatch(/bpci/);
    expect(dash.uid).toMatch(/^[a-zA-Z0-9-_]{1,40}$/);
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(30);
    expect(dash.templating.list.map((v) => `${v.name}:${v.type}`)).toEqual(expect.arrayContaining(['datasource:datasource', 'validator:query']));
    const ids = new Set<number>();
    const used = new Set<string>();
    const graphs = dash.panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(15);
    for (const p of dash.panels) {
      expect(typeof p.id).toBe('number');
      expect(ids.has(p.id as number), `duplicate panel id ${p.id}`).toBe(false);
      ids.add(p.id as number);
      expect(p.gridPos).toMatchObject({ x: expect.any(Number), y: expect.any(Number), w: expect.any(Number), h: expect.any(Number) });
    }
    for (const p of graphs) {
      const where = `panel ${p.id} "${p.title}"`;
      expect(p.title, where).toEqual(expect.any(String));
      expect(p.datasource, where).toMatchObject({ type: 'prometheus', uid: expect.any(String) });
      const targets = p.targets as Array<{ refId: string; expr: string; datasource: unknown }>;
      expect(targets.length, where).toBeGreaterThan(0);
      for (const t of targets) {
        expect(t.refId, where).toMatch(/^[A-Z]$/);
        expect(t.datasource, where).toMatchObject({ type: 'prometheus' });
        expect(t.expr.trim().length, where).toBeGreaterThan(0);
        const names = metricNamesIn(t.expr);
        expect(names.length, `${where}: ${t.expr}`).toBeGreaterThan(0);
        for (const n of names) {
          expect(exported.has(n) || PROMETHEUS_SERIES.has(n), `${where}: ${n} is not a metric the node exports`).toBe(true);
          used.add(n);
        }
      }
    }
    // The dashboard covers what §3 asks for: health, view, height, latency histogram, throughput,
    // view changes, evidence / faults, verification.
    for (const n of ['up', 'bpci_view', 'bpci_last_committed_sequence', 'triple_consensus_round_duration_seconds_bucket', 'bpci_requests_committed_total', 'bpci_view_changes_total', 'bpci_leader_replacements_total', 'consensus_byzantine_faults_detected_total', 'bpci_signatures_verified_total', 'bpci_consensus_degraded']) {
      expect(used.has(n), `no panel shows ${n}`).toBe(true);
    }
  });

  it('Prometheus scrape config: the bpci job scrapes /metrics of four validators, each labelled, and loads the alert rules', () => {
    const cfg = YAML.parse(fs.readFileSync(ops('prometheus/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>; rule_files: string[]; scrape_configs: Array<{ job_name: string; metrics_path: string; static_configs: Array<{ targets: string[]; labels: Record<string, string> }> }>;
    };
    expect(cfg.global.scrape_interval).toMatch(/^\d+[smh]$/);
    expect(cfg.rule_files).toContain('alerts.yml');
    for (const f of cfg.rule_files) expect(fs.existsSync(ops(`prometheus/${f}`)), f).toBe(true);
    const job = cfg.scrape_configs.find((j) => j.job_name === 'bpci')!;
    expect(job.metrics_path).toBe('/metrics');
    const targets = job.static_configs.flatMap((s) => s.targets.map((t) => ({ t, validator: s.labels.validator })));
    expect(targets.length).toBe(4);
    for (const { t, validator } of targets) {
      expect(t).toMatch(/^[\w.-]+:\d{1,5}$/);
      expect(validator).toMatch(/^validator-\d{3}$/);
    }
    // `bpci cluster up`'s default ports: validator i's API on 8081 + i.
    expect(targets.map((x) => x.t)).toEqual(['127.0.0.1:8081', '127.0.0.1:8082', '127.0.0.1:8083', '127.0.0.1:8084']);
    expect(new Set(targets.map((x) => x.validator)).size).toBe(4);
  });

  it('alert rules: groups of rules with alert, expr, for, labels and annotations, on exported metrics', async () => {
    const exported = await exportedSeries();
    const doc = YAML.parse(fs.readFileSync(ops('prometheus/alerts.yml'), 'utf8')) as {
      groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }> }>;
    };
    expect(doc.groups.length).toBeGreaterThan(0);
    const alerts = new Set<string>();
    for (const g of doc.groups) {
      expect(g.name).toMatch(/^[\w-]+$/);
      expect(g.rules.length, g.name).toBeGreaterThan(0);
      for (const r of g.rules) {
        const where = `${g.name}/${r.alert}`;
        expect(Object.keys(r).sort(), where).toEqual(['alert', 'annotations', 'expr', 'for', 'labels']);
        expect(r.alert, where).toMatch(/^[A-Z][A-Za-z0-9]+$/);
        expect(alerts.has(r.alert), `duplicate alert ${r.alert}`).toBe(false);
        alerts.add(r.alert);
        expect(r.for, where).toMatch(/^\d+[smh]$/);
        expect(['critical', 'warning', 'info'], where).toContain(r.labels.severity);
        expect(r.annotations.summary, where).toEqual(expect.any(String));
        expect(r.annotations.description, where).toEqual(expect.any(String));
        const names = metricNamesIn(r.expr);
        expect(names.length, `${where}: ${r.expr}`).toBeGreaterThan(0);
        for (const n of names) expect(exported.has(n) || PROMETHEUS_SERIES.has(n), `${where}: ${n} is not a metric the node exports`).toBe(true);
      }
    }
    // The conditions §3 names: validator down, stall, view changes, degraded consensus, evidence, persistence.
    for (const a of ['BpciValidatorDown', 'BpciCommitsStalled', 'BpciFrequentViewChanges', 'BpciConsensusDegraded', 'BpciEquivocationEvidence', 'BpciPersistStopped']) {
      expect(alerts.has(a), a).toBe(true);
    }
  });
});
