#!/usr/bin/env node
// npm run bench:consensus: the multi-process consensus benchmark. Validators are separate
// `bpci node start` processes on loopback TCP; closed-loop clients run here and accept each result
// on f+1 Ed25519-signed replies. The code is packages/node/src/runtime/bench-consensus.ts (the same
// that `bpci bench consensus` runs); this script picks the scenario matrix and prints the table.
//
//   node bench/consensus/run.mjs [--validators 4,7] [--clients 1,32,128] [--durability durable,memory]
//        [--verify lazy,eager] [--requests 10000] [--warmup 1000] [--quick] [--cpu-prof] [--out dir]
//        [--baseline DIR [--baseline-label L]] [--rounds N]
//
// Full run (no flags): n = 4 with every durability x verify, n = 7 durable/lazy and memory/lazy,
// clients 1, 32, 128; results in bench/results/consensus.{json,md,svg}. --quick: n = 4 only,
// 300 requests, 30 warm-up, results in .bpci/bench/results (never over the committed ones).
// --cpu-prof: each validator runs under `node --cpu-prof`; profiles in .bpci/bench/<scenario>/prof.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = path.join(root, 'packages/node/dist/runtime/bench-consensus.js');
if (!fs.existsSync(dist) || !fs.existsSync(path.join(root, 'packages/crypto-wasm/build/blake3.wasm'))) {
  console.error('[bench] building (first run)…');
  execFileSync('bash', [path.join(root, 'scripts/build.sh')], { stdio: 'inherit' });
}
const { runConsensusBench, formatTable, formatReferences, formatComparison } = await import(dist);

const { values: a } = parseArgs({
  options: {
    validators: { type: 'string' },
    clients: { type: 'string' },
    durability: { type: 'string' },
    verify: { type: 'string' },
    requests: { type: 'string' },
    warmup: { type: 'string' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    'baseline-label': { type: 'string' },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});

function list(v, allowed, flag) {
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const x of xs) if (allowed && !allowed.includes(x)) throw new Error(`${flag}: ${x} is not one of ${allowed.join(', ')}`);
  return xs;
}
function ints(v, flag, min) {
  return list(v, null, flag).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: expected integers >= ${min}, got ${s}`);
    return n;
  });
}

const quick = a.quick;
const requests = a.requests ? ints(a.requests, '--requests', 1)[0] : quick ? 300 : 10_000;
const warmup = a.warmup ? ints(a.warmup, '--warmup', 0)[0] : quick ? 30 : 1_000;
const clients = a.clients ? ints(a.clients, '--clients', 1) : [1, 32, 128];
const out = a.out ? path.resolve(a.out) : quick ? path.join(root, '.bpci', 'bench', 'results') : path.join(root, 'bench', 'results');

// Groups of (validators, durability, verify) to run; explicit flags give their full product.
let groups;
if (a.validators || a.durability || a.verify || quick) {
  const vs = a.validators ? ints(a.validators, '--validators', 1) : [4];
  const ds = a.durability ? list(a.durability, ['durable', 'memory'], '--durability') : ['durable', 'memory'];
  const vf = a.verify ? list(a.verify, ['lazy', 'eager'], '--verify') : ['lazy', 'eager'];
  groups = [{ validators: vs, durability: ds, verify: vf }];
} else {
  groups = [
    { validators: [4], durability: ['durable', 'memory'], verify: ['lazy', 'eager'] },
    { validators: [7], durability: ['durable', 'memory'], verify: ['lazy'] },
  ];
}

// --baseline DIR: another checkout (built) whose validators run the same scenarios in this
// invocation, alternating with this tree's, for ratios that the machine's load cannot fake.
let builds;
if (a.baseline) {
  const other = path.resolve(a.baseline);
  const js = path.join(other, 'packages/node/dist/cli/bpci.js');
  if (!fs.existsSync(js)) throw new Error(`--baseline ${other}: no ${path.relative(other, js)} (build that checkout first)`);
  let label = a['baseline-label'];
  if (!label) {
    try {
      label = `baseline ${execFileSync('git', ['-C', other, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()}`;
    } catch {
      label = 'baseline';
    }
  }
  let mine = 'this';
  try {
    mine = `this ${execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()}${execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() ? '+' : ''}`;
  } catch {}
  builds = [
    { label: mine, bpciJs: path.join(root, 'packages/node/dist/cli/bpci.js') },
    { label, bpciJs: js },
  ];
}
const rounds = a.rounds ? ints(a.rounds, '--rounds', 1)[0] : 1;

const command = `npm run bench:consensus${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const io = { out: (t) => console.log(t), err: (t) => console.error(t), progress: false };
let merged;
for (const g of groups) {
  // Each group writes nothing; the merged result is written once at the end.
  const r = await runConsensusBench({ ...g, clients, requests, warmup, root, out: null, command, cpuProf: a['cpu-prof'], builds, rounds }, io);
  if (merged === undefined) merged = r;
  else {
    merged.scenarios.push(...r.scenarios);
    for (const [k, v] of r.latencies) merged.latencies.set(k, v);
    merged.meta.loadavg_end = r.meta.loadavg_end;
    merged.meta.seconds += r.meta.seconds;
  }
}
// Context for the figures: one cross-process loopback round trip on this machine, right now.
try {
  const line = execFileSync(process.execPath, [path.join(root, 'bench/consensus/hop-rtt.mjs'), '--round-trips', '3000'], { encoding: 'utf8' }).trim();
  merged.meta.notes.push(line);
  console.error(`[bench] ${line}`);
} catch (e) {
  merged.meta.notes.push(`hop-rtt failed: ${e.message}`);
}
const { writeResults } = await import(dist);
writeResults(merged, out, 'consensus');
console.log('');
console.log(formatTable(merged.scenarios));
console.log('');
console.log(formatReferences(merged.scenarios));
const cmp = formatComparison(merged.scenarios);
if (cmp) {
  console.log('');
  console.log(cmp);
}
console.log('');
console.log(`results: ${path.relative(root, out)}/consensus.{json,md,svg}`);
const bad = merged.scenarios.filter((s) => !s.same_log || s.failures > 0);
if (bad.length > 0) {
  console.error(`[bench] ${bad.length} scenario(s) with failures or diverging logs: ${bad.map((s) => s.name).join(', ')}`);
  process.exitCode = 1;
}
