// Shared helpers of the crypto benchmarks: loading our backends from the compiled packages,
// median timing, and deterministic inputs. Benchmarks run compiled JS (packages/*/dist):
// build first (npm run build, or at least `npx tsc -b packages/node`).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RESULTS = `${ROOT}bench/results`;

/** Compiles packages/node (and its references) when its crypto module is missing. */
export function ensureNodeBuilt() {
  const probe = `${ROOT}packages/node/dist/crypto/pool.js`;
  if (existsSync(probe)) return;
  try {
    execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-b', 'packages/node'], { cwd: ROOT, stdio: 'inherit' });
  } catch {
    // Type errors elsewhere do not stop emit; the check below decides.
  }
  if (!existsSync(probe)) throw new Error('packages/node/dist/crypto/pool.js missing: run npx tsc -b packages/node');
}

export async function nodeCrypto() {
  ensureNodeBuilt();
  const select = await import(`${ROOT}packages/node/dist/crypto/select.js`);
  const pool = await import(`${ROOT}packages/node/dist/crypto/pool.js`);
  const pow = await import(`${ROOT}packages/node/dist/crypto/pow-parallel.js`);
  return { ...select, ...pool, ...pow };
}

/** Our backends that load here: [{ name, backend }] plus reasons for the missing ones. */
export async function ourBackends() {
  const { loadBackend } = await nodeCrypto();
  const present = [];
  const missing = {};
  for (const name of ['js', 'wasm', 'native']) {
    const r = await loadBackend(name);
    if (r.ok) present.push({ name, backend: r.backend });
    else missing[name] = r.reason;
  }
  return { present, missing };
}

/** Median wall time in nanoseconds of `fn` over `runs` runs after `warmup` runs. */
export async function medianNs(fn, { runs = 15, warmup = 3 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0));
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1];
}

/** xorshift32 bytes: reproducible inputs. */
export function prng(seed) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  return {
    bytes(n) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = next() & 0xff;
      return b;
    },
  };
}

/** `n` valid Ed25519 items over `keys` keys (signed with the js oracle), messages of `msgLen`. */
export async function signedItems(n, keys = 4, msgLen = 100, seed = 7) {
  const { jsBackend } = await import('@bpci/core');
  const js = jsBackend();
  const r = prng(seed);
  const seeds = Array.from({ length: keys }, () => r.bytes(32));
  const pks = seeds.map((s) => js.ed25519PublicKey(s));
  const items = [];
  for (let i = 0; i < n; i++) {
    const k = i % keys;
    const message = r.bytes(msgLen);
    items.push({ publicKey: pks[k], message, signature: js.ed25519Sign(seeds[k], message) });
  }
  return { items, seeds, pks };
}

/** The SIMD extensions the native kernels care about (Linux; [] elsewhere). */
export function simdFlags() {
  try {
    const flags = new Set((readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));
    return ['avx2', 'avx512f', 'avx512ifma'].filter((f) => flags.has(f));
  } catch {
    return [];
  }
}

export function machine() {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: availableParallelism(), simd: simdFlags(), node: process.version, platform: `${process.platform}-${process.arch}` };
}

export function writeResult(name, text) {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(`${RESULTS}/${name}`, text);
}
