#!/usr/bin/env node
// Long simulator runs: seeds FROM .. FROM+SEEDS-1 over JOBS child processes, in chunks, with the
// fastest Ed25519 available (the native addon behind the simulator's memo cache; results are
// byte-identical to the js/node:crypto backends, so every seed replays the same with
// `npm run sim -- --protocol pbft --seed N`). Appends one line per finished chunk to --log, so a
// run that is stopped can be resumed with --from at the next unfinished chunk.
//
//   node scripts/sim-long.mjs --from 400000 --seeds 100000 [--jobs 2] [--chunk 1000]
//        [--crypto native|node] [--log sim-long.log] [--core packages/core-ts/dist]
//        [--profile crash-heavy]
//
// --core runs a frozen copy of @bpci/core's dist (so one long run is one code version while the
// tree moves on). --profile applies one of the core's SIM_PROFILES (the frozen core must have it). Ends with `runs=N safety_violations=X liveness_failures=Y`; exit 0 only when
// both are 0. Failing seeds are listed with their reproduce line.
import { fork } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const { values } = parseArgs({
  options: {
    from: { type: 'string', default: '1' },
    seeds: { type: 'string', default: '1000' },
    jobs: { type: 'string', default: String(cpus().length) },
    chunk: { type: 'string', default: '1000' },
    crypto: { type: 'string', default: 'native' },
    log: { type: 'string' },
    core: { type: 'string', default: resolve(here, '../../packages/core-ts/dist') },
    profile: { type: 'string' },
    worker: { type: 'boolean', default: false },
  },
  strict: true,
});

function int(name, min) {
  const v = values[name];
  if (!/^[0-9]+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
    process.stderr.write(`sim-long: --${name} must be an integer >= ${min}, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return Number(v);
}

async function cryptoFor(kind, core) {
  const { cachingCrypto } = await import(pathToFileURL(`${core}/testing/sim-crypto.js`).href);
  if (kind === 'node') {
    const { nodeEd25519Backend } = await import(pathToFileURL(`${core}/testing/node-ed25519.js`).href);
    return cachingCrypto(nodeEd25519Backend());
  }
  if (kind !== 'native') throw new Error(`--crypto must be native or node, got ${kind}`);
  const native = (await import('@bpci/native')).loadNativeBackend();
  if (native === null) throw new Error('the native addon is not built (npm run build:native), or use --crypto node');
  return cachingCrypto(native);
}

if (values.worker) {
  // Child: run the chunks the parent sends, answer with their counts and failing seeds.
  const { runSimulation, SIM_PROFILES } = await import(pathToFileURL(`${values.core}/testing/sim.js`).href);
  const profile = values.profile === undefined ? {} : SIM_PROFILES?.[values.profile];
  if (profile === undefined || !(values.profile === undefined || Object.hasOwn(SIM_PROFILES, values.profile))) {
    process.stderr.write(`sim-long: the core at ${values.core} has no profile ${JSON.stringify(values.profile)}\n`);
    process.exit(2);
  }
  const crypto = await cryptoFor(values.crypto, values.core);
  process.on('message', (msg) => {
    if (msg.kind === 'exit') process.exit(0);
    const failures = [];
    let safety = 0;
    let liveness = 0;
    for (let seed = msg.from; seed < msg.from + msg.count; seed++) {
      const res = runSimulation({ seed, crypto, ...profile });
      if (res.safetyViolations.length > 0) safety++;
      if (res.livenessFailure !== null) liveness++;
      if (res.safetyViolations.length > 0 || res.livenessFailure !== null) {
        failures.push({ seed, n: res.n, safety: res.safetyViolations, liveness: res.livenessFailure });
      }
    }
    process.send({ kind: 'done', from: msg.from, count: msg.count, safety, liveness, failures });
  });
  process.send({ kind: 'ready' });
} else {
  if (values.profile !== undefined) {
    const { SIM_PROFILES } = await import(pathToFileURL(`${values.core}/testing/sim.js`).href);
    if (SIM_PROFILES === undefined || !Object.hasOwn(SIM_PROFILES, values.profile)) {
      const known = SIM_PROFILES === undefined ? 'none' : Object.keys(SIM_PROFILES).join(', ');
      process.stderr.write(`sim-long: the core at ${values.core} has no profile ${JSON.stringify(values.profile)} (it has: ${known})\n`);
      process.exit(2);
    }
  }
  const from = int('from', 0);
  const total = int('seeds', 1);
  const jobs = int('jobs', 1);
  const chunk = int('chunk', 1);
  const log = (line) => {
    process.stdout.write(`${line}\n`);
    if (values.log !== undefined) appendFileSync(values.log, `${line}\n`);
  };
  const started = Date.now();
  const stamp = () => new Date().toISOString().slice(11, 19);
  const profileFlag = values.profile === undefined ? '' : ` --profile ${values.profile}`;
  log(`${stamp()} start seeds ${from}..${from + total - 1} jobs=${jobs} chunk=${chunk} crypto=${values.crypto} core=${values.core}${profileFlag}`);
  let next = from;
  let done = 0;
  let safety = 0;
  let liveness = 0;
  const failures = [];
  const give = (child) => {
    if (next >= from + total) return child.send({ kind: 'exit' });
    const count = Math.min(chunk, from + total - next);
    child.send({ kind: 'run', from: next, count });
    next += count;
  };
  await Promise.all(
    Array.from({ length: Math.min(jobs, Math.ceil(total / chunk)) }, () =>
      new Promise((resolveChild, reject) => {
        const args = ['--worker', '--crypto', values.crypto, '--core', values.core, ...(values.profile === undefined ? [] : ['--profile', values.profile])];
        const child = fork(here, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        child.on('message', (m) => {
          if (m.kind === 'done') {
            done += m.count;
            safety += m.safety;
            liveness += m.liveness;
            failures.push(...m.failures);
            const rate = done / ((Date.now() - started) / 1000);
            log(`${stamp()} ${m.from}..${m.from + m.count - 1} runs=${m.count} safety_violations=${m.safety} liveness_failures=${m.liveness} (total ${done}/${total}, ${rate.toFixed(1)} seeds/s)`);
            for (const f of m.failures) log(`  seed=${f.seed} n=${f.n} ${[...f.safety, f.liveness ?? ''].join('; ')}\n  reproduce: npm run sim -- --protocol pbft --seed ${f.seed}${profileFlag}`);
          }
          give(child);
        });
        child.on('exit', (code) => (code === 0 ? resolveChild() : reject(new Error(`worker exited with ${code}`))));
      }),
    ),
  );
  log(`${stamp()} done seeds ${from}..${from + total - 1} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  log(`runs=${done} safety_violations=${safety} liveness_failures=${liveness}`);
  process.exit(safety === 0 && liveness === 0 ? 0 : 1);
}
