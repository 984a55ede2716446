// `bpci cluster up` serves the whole-cluster dashboard (issue 13 §3): it prints the address, the
// page is served, and the cluster endpoint lists every validator (here stand-in processes that
// answer /health but have no dashboard, so each is listed as not reachable, with the reason).
// When the default dashboard port is taken it serves on another one and says where.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLocalCluster } from '@bpci/node/cli/cluster';
import { root } from '../cluster/harness.js';

const fake = path.join(root, 'packages/node/test/fixtures/fake-validator.mjs');

async function upAndLook(apiBasePort: number): Promise<{ out: string; url: string | null; page: Response; cluster: { validators: Array<{ validator_id: string; reachable: boolean; error?: string }> } }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-dash-up-'));
  const ac = new AbortController();
  const out: string[] = [];
  let seen: { url: string | null; page: Response; cluster: never } | undefined;
  let failure: unknown;
  try {
    await runLocalCluster(
      { validators: 4, dir, host: '127.0.0.1', basePort: apiBasePort - 100, apiBasePort, durability: 'memory', verify: 'lazy' },
      { out: (s) => out.push(s), err: (s) => out.push(s) },
      {
        nodeArgv: (config) => [process.execPath, fake, 'node', 'start', '--config', config],
        signal: ac.signal,
        onReady: (_members, info) => {
          void (async () => {
            try {
              const page = await fetch(info.dashboardUrl!);
              const cluster = await (await fetch(new URL('/api/v1/dashboard/cluster', info.dashboardUrl!))).json();
              seen = { url: info.dashboardUrl, page, cluster: cluster as never };
            } catch (e) {
              failure = e;
            } finally {
              ac.abort();
            }
          })();
        },
      },
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (failure) throw failure;
  expect(seen, out.join('\n')).toBeDefined();
  return { out: out.join('\n'), ...seen! };
}

describe('bpci cluster up: the whole-cluster dashboard', () => {
  it('serves the page on api-base-port + n and lists every validator with why it has no snapshot', async () => {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    const r = await upAndLook(base);
    expect(r.url).toBe(`http://127.0.0.1:${base + 4}/dashboard`);
    expect(r.out).toContain(`cluster dashboard: http://127.0.0.1:${base + 4}/dashboard`);
    expect(r.out).toContain(`dashboard http://127.0.0.1:${base}/dashboard`);
    expect(r.page.status).toBe(200);
    expect(await r.page.text()).toContain('data-mode="cluster"');
    expect(r.cluster.validators.map((v) => v.validator_id)).toEqual(['validator-001', 'validator-002', 'validator-003', 'validator-004']);
    for (const v of r.cluster.validators) {
      expect(v.reachable).toBe(false);
      expect(v.error).toMatch(/HTTP 404/);
    }
  }, 30_000);

  it('takes another port when api-base-port + n is taken, and prints it', async () => {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => blocker.once('error', reject).listen(base + 4, '127.0.0.1', () => resolve()));
    try {
      const r = await upAndLook(base);
      expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard$/);
      expect(r.url).not.toBe(`http://127.0.0.1:${base + 4}/dashboard`);
      expect(r.out).toContain(`cluster dashboard: ${r.url}`);
      expect(r.page.status).toBe(200);
    } finally {
      await new Promise((res) => blocker.close(res));
    }
  }, 30_000);
});
