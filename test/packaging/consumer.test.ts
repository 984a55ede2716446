// Packages a downstream project installs (issue 13 §1): pack every workspace package the way a
// release would (`npm pack`, which runs each package's prepack build), install the tarballs into
// a fresh project outside the repository, and use them from there: imports resolve to the
// installed copies only, so a missing dist/, wasm file, native binary or export fails here.
//
// Then, from the installed copies: consumer-smoke.mjs (every package's API on every backend),
// consumer-cluster.mjs (4 validators through the installed `bpci` bin, a BpciClient against them),
// and the wasm fallback where no native binary fits.
// Pack once, install once (beforeAll); the registry is only asked for third-party dependencies
// the npm cache lacks (--prefer-offline).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = ['@bpci/core', '@bpci/crypto-wasm', '@bpci/native', '@bpci/node'] as const;
const NATIVE_BINARY = /^prebuilds\/[^/]+\/bpci_native\.node$/;

// Official BLAKE3 test vectors (empty input, "abc").
const BLAKE3_EMPTY = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
const BLAKE3_ABC = '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85';

interface PackResult {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** The environment of a consumer: nothing that points back into the repository or forces a backend. */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k.startsWith('VITEST') || k === 'NODE_PATH' || k === 'NODE_OPTIONS') continue;
    if (k === 'BPCI_CRYPTO' || k === 'BPCI_NATIVE_ADDON' || k === 'BPCI_POOL_THRESHOLDS') continue;
    env[k] = v;
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = consumerEnv()) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

function mustRun(cmd: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): string {
  const r = run(cmd, args, cwd, env);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (cwd ${cwd}) exited ${r.status}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`);
  }
  return r.stdout;
}

describe('packed @bpci/* packages in a fresh project (issue 13 §1)', () => {
  let tmp = '';
  let project = '';
  let packed: PackResult[] = [];

  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'bpci-consumer-'));
    const tarballs = path.join(tmp, 'tarballs');
    project = path.join(tmp, 'project');
    mkdirSync(tarballs);
    mkdirSync(project);
    // One npm pack for all four: each package's prepack builds it (tsc, asc, the portable addon).
    const ws = PACKAGES.flatMap((p) => ['--workspace', p]);
    const json = mustRun('npm', ['pack', ...ws, '--pack-destination', tarballs, '--json', '--loglevel=error'], ROOT, { ...process.env });
    // The prepack builds print to stdout too; npm's JSON report is the array from the line "[" on.
    const start = json.search(/^\[$/m);
    if (start < 0) throw new Error(`npm pack printed no JSON report:\n${json.slice(-4000)}`);
    packed = JSON.parse(json.slice(start)) as PackResult[];

    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'bpci-consumer', private: true, type: 'module' }, null, 2));
    const files = packed.map((p) => path.join(tarballs, p.filename));
    mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...files], project);
    copyFileSync(path.join(ROOT, 'test/packaging/consumer-smoke.mjs'), path.join(project, 'smoke.mjs'));
    copyFileSync(path.join(ROOT, 'test/packaging/consumer-cluster.mjs'), path.join(project, 'cluster.mjs'));
  }, 900_000);

  afterAll(() => {
    if (tmp && !process.env.BPCI_KEEP_CONSUMER) rmSync(tmp, { recursive: true, force: true });
  });

  it('packs built output, not sources or tests', () => {
    expect(packed.map((p) => p.name).sort()).toEqual([...PACKAGES].sort());
    for (const p of packed) {
      const files = p.files.map((f) => f.path);
      expect(files, p.name).toContain('package.json');
      expect(files, p.name).toContain('dist/index.js');
      expect(files, p.name).toContain('dist/index.d.ts');
      const stray = files.filter((f) => /^(src|test|assembly|scripts|target)\//.test(f) || /\.(ts|rs|tsbuildinfo)$/.test(f) && !f.endsWith('.d.ts') || f === 'Cargo.toml');
      expect(stray, p.name).toEqual([]);
    }
    const wasm = packed.find((p) => p.name === '@bpci/crypto-wasm')!.files.map((f) => f.path);
    expect(wasm).toEqual(expect.arrayContaining(['build/blake3.wasm', 'build/ed25519.wasm']));
    const node = packed.find((p) => p.name === '@bpci/node')!.files.map((f) => f.path);
    expect(node).toEqual(expect.arrayContaining(['dist/cli/bpci.js', 'dist/crypto/worker.js']));
  });

  it('ships a portable native binary for this platform (no target-cpu=native)', () => {
    const files = packed.find((p) => p.name === '@bpci/native')!.files.map((f) => f.path);
    const binaries = files.filter((f) => NATIVE_BINARY.test(f));
    // Under CI the toolchain is installed (scripts/setup.sh), and where the repository's own
    // addon is built the toolchain is there: then the binary must be shipped.
    const toolchain = !!process.env.CI || existsSync(path.join(ROOT, 'packages/native/bpci_native.node'));
    if (binaries.length === 0 && !toolchain) return;
    expect(binaries.length).toBe(1);
    const dir = path.dirname(binaries[0]!);
    expect(files).toContain(`${dir}/build-info.json`);
    const info = JSON.parse(readFileSync(path.join(project, 'node_modules/@bpci/native', dir, 'build-info.json'), 'utf8')) as { rustflags: string };
    expect(info.rustflags).not.toMatch(/target-cpu/);
  });

  it('imports every package and runs a smoke of its API from the installed copies', () => {
    const r = run(process.execPath, ['smoke.mjs'], project);
    expect(r.status, `smoke.mjs failed:\n${r.stderr}`).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.errors).toEqual([]);
    for (const [spec, url] of Object.entries(out.resolved as Record<string, string>)) {
      expect(fileURLToPath(url).startsWith(path.join(project, 'node_modules') + path.sep), `${spec} -> ${url}`).toBe(true);
    }

    const nativeShipped = packed.find((p) => p.name === '@bpci/native')!.files.some((f) => NATIVE_BINARY.test(f.path));
    expect(out.native.loaded, out.native.reason).toBe(nativeShipped);
    const expected = ['js', 'js-node', 'wasm', ...(nativeShipped ? ['native'] : [])];
    expect(Object.keys(out.backends).sort()).toEqual(expected.sort());
    if (nativeShipped) expect(out.native.path.startsWith(path.join(project, 'node_modules/@bpci/native/prebuilds/'))).toBe(true);

    const jsRoot = out.backends.js.merkleRoot;
    for (const [name, b] of Object.entries(out.backends as Record<string, Record<string, unknown>>)) {
      expect(b.blake3Empty, name).toBe(BLAKE3_EMPTY);
      expect(b.blake3Abc, name).toBe(BLAKE3_ABC);
      expect(b.merkleRoot, name).toBe(jsRoot);
      expect(b.proofValid, name).toBe(true);
      expect(b.proofWrongLeafValid, name).toBe(false);
      expect(b.verdicts, name).toEqual([1, 1, 1, 1, 1, 0, 1, 1]);
    }

    expect(out.selected.name).toBe(nativeShipped ? 'native' : 'wasm');
    expect(out.selected.lines).toHaveLength(1);
    expect(out.pool.verdicts).toEqual([1, 1, 1, 1, 1, 0, 1, 1]);
    expect(out.pow.nonce).toBe('5');
    expect(out.exports).toEqual({ BpciClient: 'function', startNodeFromConfig: 'function', writeLocalCluster: 'function' });
  });

  it('a client gets f+1 matching replies from a 4-validator cluster run with the installed bin', () => {
    const resultFile = path.join(project, 'cluster-result.json');
    const r = run(process.execPath, ['cluster.mjs', resultFile], project);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(readFileSync(resultFile, 'utf8')) as {
      results: { op: string; result: string; signers: number }[];
      error: string | null;
      exits: { code: number | null; signal: string | null }[];
    };
    expect(out.error).toBeNull();
    expect(out.results.map((x) => [x.op, x.result])).toEqual([
      ['add alice 5', '5'],
      ['add alice 7', '12'],
    ]);
    for (const x of out.results) expect(x.signers).toBeGreaterThanOrEqual(2); // f + 1 at n = 4
    expect(out.exits).toHaveLength(4);
  }, 180_000);

  it('falls back to wasm with one logged line where no native binary fits', () => {
    // The consumer's copy only: as on a platform the package has no binary for.
    rmSync(path.join(project, 'node_modules/@bpci/native/prebuilds'), { recursive: true, force: true });
    const script = "import { selectBackend } from '@bpci/node'; const s = await selectBackend(); process.stdout.write(s.name);";
    const r = run(process.execPath, ['--input-type=module', '-e', script], project);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('wasm');
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[bpci\] crypto backend: wasm \(the wasm module loads; skipped native: .*no binary for /);
    expect(existsSync(path.join(project, 'node_modules/@bpci/native/dist/index.js'))).toBe(true);
    expect(readdirSync(path.join(project, 'node_modules/@bpci'))).toEqual(expect.arrayContaining(['core', 'crypto-wasm', 'native', 'node']));
  });
});
