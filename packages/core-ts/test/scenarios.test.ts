// Datadriven scenario tests: each file in testdata/ is a script of commands with the exact
// message trace expected after each. Regenerate with UPDATE_TESTDATA=1 and review the diff.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cachingCrypto } from '../src/testing/sim-crypto.js';
import { runScenarioScript } from '../src/testing/scenario.js';
import { nodeEd25519Backend } from './helpers/node-ed25519.js';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));
const crypto = cachingCrypto(nodeEd25519Backend());

describe('scenario traces', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
  it('has the scenarios the issue asks for', () => {
    expect(files).toEqual(expect.arrayContaining(['normal.txt', 'batching.txt', 'checkpoint.txt', 'view-change.txt', 'catch-up.txt', 'crash-recovery.txt', 'equivocation.txt', 'lone-timeout.txt']));
  });
  it.each(files)('%s', (file) => {
    const path = dir + file;
    const text = readFileSync(path, 'utf8');
    const fresh = runScenarioScript(text, crypto);
    if (process.env.UPDATE_TESTDATA === '1') writeFileSync(path, fresh);
    else expect(fresh).toBe(text);
  });
});
