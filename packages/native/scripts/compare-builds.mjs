// Compares two builds of the addon with the project's crypto benchmark, in one invocation:
// the tuned repository build (-C target-cpu=native, bpci_native.node) against the portable one
// that `npm pack` ships (prebuilds/<platform>/bpci_native.node), issue 13 §1.
//
//   node packages/native/scripts/compare-builds.mjs [--rounds N] [--full] [--build LABEL=FILE ...]
//
// Each round runs `node bench/crypto/run.mjs --quick --child-native-1t` (the native rows on one
// thread, RAYON_NUM_THREADS=1; that mode writes no result file) once per build, with
// BPCI_NATIVE_ADDON pointing the loader at the build; the order alternates per round so drift in
// the machine's load hits both alike. Prints, per row, the median over rounds of each build and
// min-max, and the ratio of each build to the first (> 1: faster than the first). Without
// --build the two are the tuned and the portable build; build them first:
//   npm run build -w @bpci/native && bash packages/native/scripts/build.sh --portable
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { platformKey } from '../dist/platform.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const rounds = Number(arg('--rounds', '3'));
// --full: the benchmark's full sizes and budgets (about 15 s per build and round) instead of --quick.
const benchArgs = process.argv.includes('--full') ? ['--child-native-1t'] : ['--quick', '--child-native-1t'];
const given = process.argv.flatMap((a, i) => (a === '--build' && process.argv[i + 1] ? [process.argv[i + 1]] : []));
const builds = given.length
  ? given.map((g) => ({ label: g.slice(0, g.indexOf('=')), file: g.slice(g.indexOf('=') + 1) }))
  : [
      { label: 'target-cpu=native', file: `${pkg}bpci_native.node` },
      { label: 'portable', file: `${pkg}prebuilds/${platformKey()}/bpci_native.node` },
    ];
for (const b of builds) {
  if (!existsSync(b.file)) {
    console.error(`missing ${b.file} (see the header of this script)`);
    process.exit(1);
  }
}
const info = `${pkg}prebuilds/${platformKey()}/build-info.json`;
if (existsSync(info)) console.log(`portable build info: ${JSON.stringify(JSON.parse(readFileSync(info, 'utf8')))}`);

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** key -> { group, impl, unit, better, values: [[a...], [b...]] } */
const rows = new Map();
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds; bench/crypto/run.mjs ${benchArgs.join(' ')}`);
for (let r = 0; r < rounds; r++) {
  const order = builds.map((_, i) => i);
  if (r % 2 === 1) order.reverse();
  for (const i of order) {
    const child = spawnSync(process.execPath, [`${root}bench/crypto/run.mjs`, ...benchArgs], {
      env: { ...process.env, RAYON_NUM_THREADS: '1', BPCI_NATIVE_ADDON: builds[i].file, BPCI_CRYPTO: '' },
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 16 << 20,
    });
    const out = child.stdout.toString().trim();
    if (child.status !== 0 || !out.startsWith('[')) {
      console.error(`round ${r + 1}, ${builds[i].label}: status ${child.status}, signal ${child.signal}`);
      process.exit(1);
    }
    for (const row of JSON.parse(out)) {
      const key = `${row.group} | ${row.impl}`;
      if (!rows.has(key)) rows.set(key, { ...row, values: builds.map(() => []) });
      rows.get(key).values[i].push(row.value);
    }
    process.stderr.write(`round ${r + 1}/${rounds}: ${builds[i].label} done\n`);
  }
}
console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const others = builds.slice(1);
console.log(`\n| row (1 thread) | unit | ${builds.map((b) => `${b.label}: median (min-max)`).join(' | ')} | ${others.map((b) => `${b.label} / ${builds[0].label}`).join(' | ')} |`);
console.log(`|---|---|${builds.map(() => '---:|').join('')}${others.map(() => '---:|').join('')}`);
const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3));
for (const [key, row] of rows) {
  const meds = row.values.map(median);
  const cells = row.values.map((vs, i) => `${fmt(meds[i])} (${fmt(Math.min(...vs))}-${fmt(Math.max(...vs))})`);
  const rel = meds.slice(1).map((m) => (row.better === 'lower' ? meds[0] / m : m / meds[0]).toFixed(3) + 'x');
  console.log(`| ${key} | ${row.unit} | ${cells.join(' | ')} | ${rel.join(' | ')} |`);
}
