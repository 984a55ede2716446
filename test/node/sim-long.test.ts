// scripts/sim-long.mjs (long simulator runs): chunks over child processes, one log line per
// chunk, the sim CLI's summary line and exit code. Runs on the built core (npm run build).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/sim-long.mjs', import.meta.url));

describe('scripts/sim-long.mjs', () => {
  it('runs seeds in chunks over workers, logs each chunk and ends with the summary line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-simlong-'));
    try {
      const log = path.join(dir, 'log.txt');
      const r = spawnSync(process.execPath, [script, '--from', '11', '--seeds', '5', '--jobs', '2', '--chunk', '2', '--crypto', 'node', '--log', log], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n').at(-1)).toBe('runs=5 safety_violations=0 liveness_failures=0');
      const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
      const chunks = lines.filter((l) => / runs=\d+ /.test(l) && !l.startsWith('runs='));
      expect(chunks.map((l) => l.split(' ')[1]).sort()).toEqual(['11..12', '13..14', '15..15']);
      expect(lines.at(-1)).toBe('runs=5 safety_violations=0 liveness_failures=0');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad arguments with a message and exit code 2', () => {
    const r = spawnSync(process.execPath, [script, '--seeds', '0'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--seeds must be an integer >= 1/);
  });

  it('applies a core profile to every seed and rejects an unknown one', () => {
    const ok = spawnSync(process.execPath, [script, '--from', '38', '--seeds', '1', '--jobs', '1', '--crypto', 'node', '--profile', 'crash-heavy'], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/start seeds 38\.\.38 .* --profile crash-heavy/);
    const bad = spawnSync(process.execPath, [script, '--seeds', '1', '--profile', 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/no profile "nope" \(it has: crash-heavy\)/);
  });
});
