// Golden simulator fingerprints: for a fixed range of seeds, the outcome, counts and a digest of
// every frame delivered (time, sender, receiver, bytes). A refactor that claims "no behaviour
// change" (issue 11's replica kit) must leave this file untouched; a deliberate protocol change
// regenerates it with UPDATE_TESTDATA=1, and the diff shows which seeds it changed.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cachingCrypto } from '../src/testing/sim-crypto.js';
import { fingerprintLine, runSimulation, SIM_PROFILES, type SimResult } from '../src/testing/sim.js';
import { nodeEd25519Backend } from './helpers/node-ed25519.js';

const path = fileURLToPath(new URL('./golden/sim-fingerprints.txt', import.meta.url));
const crypto = cachingCrypto(nodeEd25519Backend());
const DEFAULT_SEEDS = 60;
const CRASH_SEEDS = 20;

function line(profile: string, r: SimResult): string {
  return `${profile} ${fingerprintLine(r)}`;
}

describe('simulator fingerprints', () => {
  it('are deterministic and absent unless asked for', () => {
    const a = runSimulation({ seed: 7, crypto, fingerprint: true });
    const b = runSimulation({ seed: 7, crypto, fingerprint: true });
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(runSimulation({ seed: 8, crypto, fingerprint: true }).fingerprint).not.toBe(a.fingerprint);
    expect(runSimulation({ seed: 7, crypto }).fingerprint).toBeNull();
  });

  it(`match the golden file for ${DEFAULT_SEEDS} default and ${CRASH_SEEDS} crash-heavy seeds`, () => {
    const lines = ['# regenerate with UPDATE_TESTDATA=1 npx vitest run packages/core-ts/test/fingerprints.test.ts; review the diff'];
    for (let seed = 1; seed <= DEFAULT_SEEDS; seed++) lines.push(line('default', runSimulation({ seed, crypto, fingerprint: true })));
    for (let seed = 1; seed <= CRASH_SEEDS; seed++) {
      lines.push(line('crash-heavy', runSimulation({ seed, crypto, fingerprint: true, ...SIM_PROFILES['crash-heavy'] })));
    }
    const fresh = `${lines.join('\n')}\n`;
    if (process.env.UPDATE_TESTDATA === '1') writeFileSync(path, fresh);
    else expect(fresh).toBe(readFileSync(path, 'utf8'));
  }, 300_000);
});
