// Logging outputs (issue 13 §2): a file output appends, rotates by size to path.1 .. path.N and
// keeps at most N rotated files; several outputs each get every line.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RotatingLogFile, createLogger } from '../src/log.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-log-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const line = (i: number) => `${JSON.stringify({ i, pad: 'x'.repeat(80) })}\n`; // 100 bytes with i < 10, 101 below 100

describe('RotatingLogFile', () => {
  it('rotates when the file reaches max size, keeping max_files rotated files in order', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'sub', 'v.log'); // the folder is created
    const f = new RotatingLogFile({ path: file, maxSizeBytes: 1000, maxFiles: 2 });
    for (let i = 0; i < 35; i++) f.write(line(i));
    f.flushSync();
    // Lines 0..9 (1000 bytes with 0..9 at 100 bytes each) filled the first file; then ~10 per file.
    expect(f.rotations).toBe(3);
    expect(fs.existsSync(`${file}.3`)).toBe(false); // the oldest went
    const ids = (p: string) => fs.readFileSync(p, 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    const older = ids(`${file}.2`);
    const old = ids(`${file}.1`);
    const cur = ids(file);
    expect([...older, ...old, ...cur]).toEqual(Array.from({ length: 35 - older[0]! }, (_, k) => older[0]! + k)); // contiguous, oldest first
    for (const p of [`${file}.2`, `${file}.1`]) {
      const size = fs.statSync(p).size;
      expect(size).toBeGreaterThanOrEqual(1000);
      expect(size).toBeLessThan(1000 + 101);
    }
    expect(fs.statSync(file).size).toBeLessThan(1000);
    f.end();
  });

  it('appends to an existing file and counts its size', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'v.log');
    fs.writeFileSync(file, 'y'.repeat(950));
    const f = new RotatingLogFile({ path: file, maxSizeBytes: 1000 });
    f.write(line(1));
    expect(f.rotations).toBe(1);
    expect(fs.readFileSync(`${file}.1`, 'utf8')).toBe(`${'y'.repeat(950)}${line(1)}`);
    expect(fs.statSync(file).size).toBe(0);
    f.end();
  });

  it('never rotates without max size', () => {
    const file = path.join(tmpDir(), 'v.log');
    const f = new RotatingLogFile({ path: file });
    for (let i = 0; i < 100; i++) f.write(line(i));
    expect(f.rotations).toBe(0);
    expect(fs.existsSync(`${file}.1`)).toBe(false);
    f.end();
  });
});

describe('createLogger outputs', () => {
  it('writes every line to each file output, with the validator id', () => {
    const dir = tmpDir();
    const a = path.join(dir, 'a.log');
    const b = path.join(dir, 'b.log');
    const log = createLogger({ validator: 'validator-003', level: 'info', outputs: [{ type: 'file', path: a }, { type: 'file', path: b, maxSizeBytes: 1 << 20 }] });
    log.info({ peer: 'validator-001' }, 'link up');
    log.debug({}, 'not at info');
    log.flush();
    for (const f of [a, b]) {
      const lines = fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'info', validator: 'validator-003', peer: 'validator-001', msg: 'link up' });
    }
  });
});
