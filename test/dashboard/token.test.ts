// The dashboard behind the API's bearer token (issue 13 §2/§3), in a real headless browser: the
// page loads without the token (it holds no data), asks for it when its data request gets 401,
// and shows live figures once given it, by the form or by #token=... in the address (which no
// server sees). A fake node: this is about the page and the auth path, not consensus.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createApi } from '@bpci/node/api/server';
import { NodeMetrics } from '@bpci/node/metrics/metrics';
import { FakeNode } from '../../packages/node/test/fake-node.js';

const CHROMIUM = process.env.BPCI_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'dashboard-token-0123456789abcdefghijklmnopqrstuvwxyz';
let browser: Browser;
let app: FastifyInstance;
let base: string;
const authHeaders: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no headless browser: ${CHROMIUM} does not exist. Run \`bash scripts/setup.sh\`, or set BPCI_CHROMIUM.`);
  const launching = chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const node = new FakeNode();
  app = createApi({ node, metrics: new NodeMetrics(), token: TOKEN });
  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/api/v1/dashboard/')) authHeaders.push(String(req.headers.authorization ?? ''));
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await launching;
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await app?.close().catch(() => undefined);
});

async function page(url: string): Promise<Page> {
  const p = await browser.newPage();
  await p.goto(url);
  return p;
}

describe('dashboard behind a bearer token', () => {
  it('asks for the token, then shows live data with it', async () => {
    const p = await page(`${base}/dashboard`);
    await p.waitForSelector('#token-form:not([hidden])', { timeout: 15_000 });
    expect(await p.textContent('#token-message')).toMatch(/needs its token/);
    expect(await p.getAttribute('body', 'data-ready')).toBeNull();
    await p.fill('#token-input', TOKEN);
    await p.click('#token-form button');
    await p.waitForSelector('body[data-ready="1"]', { timeout: 15_000 });
    expect(await p.isHidden('#token-form')).toBe(true);
    expect(authHeaders).toContain(`Bearer ${TOKEN}`);
    await p.close();
  }, 60_000);

  it('takes the token from #token=... and drops it from the address', async () => {
    const p = await page(`${base}/dashboard#token=${encodeURIComponent(TOKEN)}`);
    await p.waitForSelector('body[data-ready="1"]', { timeout: 15_000 });
    expect(p.url()).toBe(`${base}/dashboard`);
    await p.close();
  }, 60_000);

  it('a wrong token is refused and asked for again', async () => {
    const p = await page(`${base}/dashboard#token=wrong-token-0123456789abcdefghijklmnop`);
    await p.waitForSelector('#token-form:not([hidden])', { timeout: 15_000 });
    expect(await p.textContent('#token-message')).toMatch(/refused/);
    expect(await p.getAttribute('body', 'data-ready')).toBeNull();
    await p.close();
  }, 60_000);
});
