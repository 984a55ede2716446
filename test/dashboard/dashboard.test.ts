// The live dashboard in a real headless browser (issue 13 §3): Debian's chromium, driven by
// playwright-core, loads a validator's /dashboard and the whole-cluster dashboard (what
// `bpci cluster up` serves) against a running 4-process cluster; the figures change as requests
// commit, every panel shows real data (no NaN, no placeholder), a killed primary shows up as
// unreachable with a view change and its cause, and screenshots land in test-results/.
//
// chromium missing is a failure, not a skip: CI runs scripts/setup.sh first, which installs it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createClusterDashboard } from '@bpci/node/api/dashboard/cluster';
import { Cluster, ensureBuilt, getJson, root, startLoad, until, type Load } from '../cluster/harness.js';

const CHROMIUM = process.env.BPCI_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(root, 'test-results');

let cluster: Cluster;
let browser: Browser;
let clusterDash: FastifyInstance;
let clusterDashUrl: string;
let load: Load | undefined;
/** Every URL the pages asked for: the page must fetch nothing from anywhere else. */
const requested: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no headless browser: ${CHROMIUM} does not exist. Run \`bash scripts/setup.sh\` (as root on Debian it installs the chromium package), or set BPCI_CHROMIUM to a Chromium binary.`);
  }
  ensureBuilt();
  fs.mkdirSync(SHOTS, { recursive: true });
  // Start the browser while the validators boot (both take a moment on a loaded machine).
  const launching = chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  cluster = await Cluster.create({ label: 'dashboard', phaseTimeoutSeconds: 1 });
  for (const m of cluster.members) cluster.start(m.index);
  browser = await launching;
  await cluster.waitHealthy([0, 1, 2, 3]);
  clusterDash = createClusterDashboard({ members: cluster.members.map((m) => ({ validatorId: m.validatorId, apiUrl: m.apiUrl })) });
  clusterDashUrl = `${await clusterDash.listen({ host: '127.0.0.1', port: 0 })}/dashboard`;
}, 120_000);

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await clusterDash?.close().catch(() => undefined);
  await cluster?.stopAll();
  cluster?.cleanup();
});

async function open(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('request', (r) => requested.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(`${url}: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 20_000 });
  return page;
}

/** The text of a data-field element, as shown. */
async function field(page: Page, name: string): Promise<string> {
  return (await page.textContent(`[data-field="${name}"]`))?.trim() ?? '';
}

async function num(page: Page, name: string): Promise<number> {
  const t = await field(page, name);
  const n = Number(t.replace(/[, ]/g, '').replace(/ms$/, ''));
  if (!Number.isFinite(n)) throw new Error(`field ${name} is not a number: ${JSON.stringify(t)}`);
  return n;
}

/** Waits until `probe` holds on the page's figures (the page polls about once a second). */
async function waitPage(what: string, page: Page, ms: number, probe: () => Promise<boolean>): Promise<void> {
  await until(what, ms, async () => ((await probe()) ? true : undefined), async () => (await page.textContent('main'))?.slice(0, 800) ?? '');
}

/** Every panel has content, and none of it is NaN, a placeholder or an unfilled value. */
async function expectRealPanels(page: Page, panels: readonly string[]): Promise<void> {
  const shown = await page.$$eval('[data-panel]', (els) => els.map((e) => ({ id: e.getAttribute('data-panel') ?? '', text: (e as unknown as { innerText: string }).innerText })));
  expect(shown.map((p) => p.id).sort()).toEqual([...panels].sort());
  for (const p of shown) {
    const body = p.text.replace(/^[^\n]*\n/, '').trim(); // without the panel title
    expect(body.length, `panel ${p.id} is empty`).toBeGreaterThan(0);
    expect(body, `panel ${p.id}`).not.toMatch(/NaN|undefined|null|Infinity|…|not reported|n\/a|connecting/);
  }
}

const PANELS = ['validators', 'consensus', 'throughput', 'latency', 'viewchanges', 'evidence', 'crypto'];

describe('dashboard in a headless browser against a running cluster', () => {
  it("a validator's page shows its real figures, and they change as requests commit", async () => {
    // A backup's page: the primary is killed in the next test.
    const st = await cluster.state(0);
    const me = cluster.members.find((m) => m.validatorId !== st.primary)!;
    const page = await open(`${me.apiUrl}/dashboard`);
    expect(await page.textContent('#title')).toContain(me.validatorId);
    const h0 = await num(page, 'committed-height');
    const r0 = await num(page, 'requests-committed');

    load = await startLoad(cluster, 2, 'dash');
    await waitPage('committed height and throughput to rise on the page', page, 30_000, async () => (await num(page, 'committed-height')) >= h0 + 10 && (await num(page, 'throughput-mean')) > 0);
    expect(await num(page, 'requests-committed')).toBeGreaterThan(r0);
    // The page shows what the validator says (it lags by at most a poll).
    const api = await cluster.state(me.index);
    const shown = await num(page, 'committed-height');
    expect(shown).toBeLessThanOrEqual(api.last_committed_sequence);
    expect(shown).toBeGreaterThan(h0);
    expect(await field(page, 'leader')).toBe(api.primary);
    expect(await field(page, 'view')).toBe(String(api.view));
    // The histogram has bars from real rounds, the throughput chart a line.
    await waitPage('latency histogram bars', page, 15_000, async () => (await num(page, 'latency-count')) > 0);
    const bars = await page.$$eval('[data-field="latency-histogram"] rect', (rs) => rs.filter((r) => Number(r.getAttribute('height')) > 0).length);
    expect(bars).toBeGreaterThan(0);
    // A line needs two history points (three samples, one a second); until then a dot.
    await waitPage('a throughput line', page, 15_000, async () => (await page.$$eval('[data-panel="throughput"] polyline', (ls) => ls.length)) > 0);
    const backend = await field(page, 'crypto-backend');
    expect(['native', 'wasm', 'js']).toContain(backend);
    expect(await field(page, 'links')).toMatch(/validator-00\d up/);
    await expectRealPanels(page, PANELS);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-validator.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('the cluster page shows every validator, and a killed primary with the view change and its cause', async () => {
    const page = await open(clusterDashUrl);
    expect(await page.textContent('#title')).toContain('4 validators');
    await waitPage('four healthy validators', page, 15_000, async () => (await page.$$eval('tr[data-validator] td.st-ok', (t) => t.length)) === 4);
    await expectRealPanels(page, PANELS);
    const before = await num(page, 'committed-height');

    const st = await cluster.state(1);
    const primary = cluster.members.find((m) => m.validatorId === st.primary)!;
    await cluster.kill(primary.index, 'SIGKILL');
    await waitPage('the killed primary unreachable, a new leader, commits again', page, 40_000, async () => {
      const row = (await page.textContent(`tr[data-validator="${primary.validatorId}"]`)) ?? '';
      return row.includes('unreachable') && (await field(page, 'leader')) !== primary.validatorId && (await num(page, 'view-changes')) >= 1 && (await num(page, 'committed-height')) > before + 5;
    });
    // The view change is listed with its cause, and the replaced primary is named.
    const started = await page.$$eval('tr[data-kind="view_change_started"]', (rs) => rs.map((r) => (r as unknown as { innerText: string }).innerText));
    expect(started.length).toBeGreaterThan(0);
    expect(started.join('\n')).toMatch(/local timeout|peers timeout/);
    expect(await field(page, 'replaced-primaries')).toContain(primary.validatorId);
    expect(await num(page, 'leader-replacements')).toBeGreaterThanOrEqual(1);
    expect(await field(page, 'validators-ok')).toMatch(/^3 of 4/);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-cluster.png'), fullPage: true });
    await page.close();

    // Nothing was fetched from outside the cluster, and no script error happened.
    const origins = new Set([...cluster.members.map((m) => m.apiUrl), new URL(clusterDashUrl).origin]);
    expect(requested.filter((u) => !origins.has(new URL(u).origin))).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 75_000);

  it('the dashboard endpoints answer bad input with 400 / 404 / 405 in the API error shape', async () => {
    const live = cluster.members.find((m) => cluster.running(m.index))!;
    const errShape = (j: unknown, status: number) => expect(j).toMatchObject({ error: expect.any(String), message: expect.any(String), status_code: status });
    for (const q of ['history=-1', 'history=601', 'events=abc', 'evidence=101', 'surprise=1']) {
      const r = await getJson(`${live.apiUrl}/api/v1/dashboard/snapshot?${q}`);
      expect(r.status, q).toBe(400);
      errShape(r.json, 400);
    }
    const ok = await getJson<{ history: unknown[]; events: unknown[] }>(`${live.apiUrl}/api/v1/dashboard/snapshot?history=5&events=0`);
    expect(ok.status).toBe(200);
    expect(ok.json.history.length).toBeLessThanOrEqual(5);
    expect(ok.json.events).toEqual([]);
    const post = await fetch(`${live.apiUrl}/dashboard`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toContain('GET');
    errShape(await post.json(), 405);
    const page = await fetch(`${live.apiUrl}/dashboard`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/connect-src 'self'/);

    const base = new URL(clusterDashUrl).origin;
    const unknown = await getJson(`${base}/api/v1/dashboard/cluster?validator=validator-999`);
    expect(unknown.status).toBe(404);
    errShape(unknown.json, 404);
    const bad = await getJson(`${base}/api/v1/dashboard/cluster?history=10000`);
    expect(bad.status).toBe(400);
    errShape(bad.json, 400);
    const one = await getJson<{ validators: Array<{ validator_id: string; reachable: boolean }> }>(`${base}/api/v1/dashboard/cluster?validator=${live.validatorId}&history=2`);
    expect(one.status).toBe(200);
    expect(one.json.validators).toMatchObject([{ validator_id: live.validatorId, reachable: true }]);
    const del = await fetch(`${base}/api/v1/dashboard/cluster`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    errShape(await del.json(), 405);
    errShape((await getJson(`${base}/nothing-here`)).json, 404);
  }, 30_000);
});
