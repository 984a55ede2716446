#!/usr/bin/env node
/// <reference types="node" />
// Simulator CLI (Node only; with node-ed25519.ts the only files in @bpci/core allowed to touch node:*).
//   npm run sim -- --protocol pbft --seeds N [--seed S] [--validators n] [--byzantine k]
//                  [--verify lazy|eager] [--behaviour b] [--trace]
//                  [--profile crash-heavy] [--fingerprint]
//                  [--plant weak-quorum|skip-new-view-check|forget-safety|forget-prepared|view-change-alone|skip-reservation|skip-client-signatures]   (planted bugs: must fail)
// Ends with `runs=N safety_violations=X liveness_failures=Y`; exit 0 only when both are 0.
// Each failing run prints `reproduce: npm run sim -- --protocol pbft --seed N`.
// --fingerprint prints one line per seed with its outcome, counts and a digest of every frame
// delivered: two builds that print the same lines for a seed range behave the same on it.

import { parseArgs } from 'node:util';
import type { CryptoBackend } from '../crypto/backend.js';
import { jsBackend } from '../crypto/js.js';
import { nodeEd25519Backend } from './node-ed25519.js';
import { cachingCrypto } from './sim-crypto.js';
import { BYZANTINE_BEHAVIOURS, fingerprintLine, runSimulation, SIM_PROFILES, type ByzantineBehaviour, type SimProfile } from './sim.js';

function fail(msg: string): never {
  process.stderr.write(`sim: ${msg}\n`);
  process.exit(2);
}

function intArg(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return Number(v);
}

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'pbft' },
    seeds: { type: 'string' },
    seed: { type: 'string' },
    validators: { type: 'string' },
    byzantine: { type: 'string' },
    verify: { type: 'string' },
    behaviour: { type: 'string' },
    trace: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    fingerprint: { type: 'boolean', default: false },
    crypto: { type: 'string', default: 'node' },
    plant: { type: 'string' },
    profile: { type: 'string' },
  },
  strict: true,
});

if (values.protocol !== 'pbft') fail(`--protocol ${values.protocol} is not implemented (available: pbft)`);
const first = intArg('seed', values.seed, 0) ?? 1;
const runs = intArg('seeds', values.seeds, 1) ?? 1;
const validators = intArg('validators', values.validators, 1);
const byzantine = intArg('byzantine', values.byzantine, 0);
if (values.verify !== undefined && values.verify !== 'lazy' && values.verify !== 'eager') fail(`--verify must be lazy or eager`);
if (values.behaviour !== undefined && !BYZANTINE_BEHAVIOURS.includes(values.behaviour as ByzantineBehaviour)) {
  fail(`--behaviour must be one of ${BYZANTINE_BEHAVIOURS.join(', ')}`);
}
if (validators !== undefined && byzantine !== undefined && byzantine > Math.floor((validators - 1) / 3)) {
  fail(`--byzantine ${byzantine} exceeds f = ${Math.floor((validators - 1) / 3)} for ${validators} validators`);
}

if (values.profile !== undefined && !Object.hasOwn(SIM_PROFILES, values.profile)) fail(`--profile must be one of ${Object.keys(SIM_PROFILES).join(', ')}`);
const profile = values.profile === undefined ? {} : SIM_PROFILES[values.profile as SimProfile];
if (byzantine !== undefined && byzantine > 0 && values.profile === 'crash-heavy') fail('--profile crash-heavy runs without Byzantine validators');

const PLANTS = ['weak-quorum', 'skip-new-view-check', 'forget-safety', 'forget-prepared', 'view-change-alone', 'skip-reservation', 'skip-client-signatures'];
if (values.plant !== undefined && !PLANTS.includes(values.plant)) fail(`--plant must be one of ${PLANTS.join(', ')}`);
const plant =
  values.plant === 'weak-quorum'
    ? { plantedBugs: { weakQuorum: true } }
    : values.plant === 'skip-new-view-check'
      ? { plantedBugs: { skipNewViewCertCheck: true } }
      : values.plant === 'forget-safety'
        ? { forgetSafetyOnRestart: true, crashRate: 0.05 }
        : values.plant === 'forget-prepared'
          ? { forgetPreparedOnRestart: true }
          : values.plant === 'view-change-alone'
            ? { plantedBugs: { viewChangeAlone: true } }
            : values.plant === 'skip-reservation'
              ? { plantedBugs: { skipReservation: true }, crashRate: 0.05 }
              : values.plant === 'skip-client-signatures'
                ? { plantedBugs: { skipClientSignatures: true }, byzantine: 1, behaviour: 'forge-request' as const }
              : {};
if (values.crypto !== 'node' && values.crypto !== 'js') fail('--crypto must be node or js');
const crypto = cachingCrypto(values.crypto === 'js' ? jsBackend() : nodeEd25519Backend());

let safety = 0;
let liveness = 0;
const started = Date.now();
for (let i = 0; i < runs; i++) {
  const seed = first + i;
  const res = runSimulation({
    seed,
    crypto,
    ...profile,
    ...plant,
    ...(validators === undefined ? {} : { validators }),
    ...(byzantine === undefined ? {} : { byzantine }),
    ...(values.verify === undefined ? {} : { verify: values.verify as 'lazy' | 'eager' }),
    ...(values.behaviour === undefined ? {} : { behaviour: values.behaviour as ByzantineBehaviour }),
    trace: values.trace,
    fingerprint: values.fingerprint,
  });
  if (values.trace) for (const line of res.trace) process.stdout.write(`${line}\n`);
  const bad = res.safetyViolations.length > 0 || res.livenessFailure !== null;
  if (res.safetyViolations.length > 0) safety++;
  if (res.livenessFailure !== null) liveness++;
  if (values.fingerprint) {
    process.stdout.write(`${fingerprintLine(res)}\n`);
  } else if (bad) {
    const byz = res.byzantine.map((b) => `${b.id}:${b.behaviour}`).join(',') || 'none';
    process.stdout.write(`seed=${seed} n=${res.n} byzantine=${byz} verify=${res.verify}\n`);
    for (const v of res.safetyViolations) process.stdout.write(`  safety: ${v}\n`);
    if (res.livenessFailure !== null) process.stdout.write(`  ${res.livenessFailure}\n`);
    const flags = [
      validators === undefined ? '' : ` --validators ${validators}`,
      byzantine === undefined ? '' : ` --byzantine ${byzantine}`,
      values.verify === undefined ? '' : ` --verify ${values.verify}`,
      values.behaviour === undefined ? '' : ` --behaviour ${values.behaviour}`,
      values.profile === undefined ? '' : ` --profile ${values.profile}`,
      values.plant === undefined ? '' : ` --plant ${values.plant}`,
    ].join('');
    process.stdout.write(`reproduce: npm run sim -- --protocol pbft --seed ${seed}${flags}\n`);
  } else if (!values.quiet && runs <= 20) {
    process.stdout.write(`seed=${seed} ok n=${res.n} byzantine=${res.byzantine.length} verify=${res.verify} requests=${res.committedRequests} view_changes=${res.viewChanges} ticks=${res.ticks}\n`);
  }
  if (!values.quiet && runs > 20 && (i + 1) % 1000 === 0) {
    process.stderr.write(`${i + 1}/${runs} runs, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
}
process.stdout.write(`runs=${runs} safety_violations=${safety} liveness_failures=${liveness}\n`);
process.exit(safety === 0 && liveness === 0 ? 0 : 1);
