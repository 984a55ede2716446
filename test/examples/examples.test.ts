// Every example in examples/ runs and says what it promises (issue 13 §1: examples that run in CI).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = (file: string): string => execFileSync(process.execPath, [path.join(root, 'examples', file)], { cwd: root, encoding: 'utf8', timeout: 60_000 });

describe('examples', () => {
  it('every example has a test here', () => {
    const files = fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.mjs')).sort();
    expect(files).toEqual(['crypto.mjs', 'ledger.mjs']);
  });

  it('crypto.mjs: hashes, a Merkle root, a proof that verifies (and not for another leaf), a batch verify that finds the bad signature', () => {
    const out = run('crypto.mjs');
    expect(out).toMatch(/^backend: (native|wasm|js) /m);
    expect(out).toContain('blake3("abc") = 6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
    expect(out).toMatch(/merkle root of 1048576 leaves: [0-9a-f]{64} in /);
    expect(out).toContain('verifies: true, for another leaf: false');
    expect(out).toContain('invalid: [5]');
  });

  it('ledger.mjs: two instances agree; a replay and an overdraft are rejected with their reasons', () => {
    const out = run('ledger.mjs');
    expect(out).toMatch(/^tx 0: ok$/m);
    expect(out).toMatch(/^tx 1: bad_nonce: /m);
    expect(out).toMatch(/^tx 2: insufficient_funds: /m);
    expect(out).toContain('alice GEN 80, bob GEN 20, bob NEX 5');
    expect(out).toMatch(/both validators agree .*: true$/m);
  });
});
