import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { openStore, StoreError, type Store, type StoreRecord } from '../src/storage/store.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const stores: Store[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-store-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe('store', () => {
  it('keeps every kind of record across close and reopen', async () => {
    const dir = tmpDir();
    const a = openStore(dir, { durable: true });
    await a.persistBatch([
      { kind: 'safety', key: 'replica', value: bytes('view=3 seq=9') },
      { kind: 'block', key: 1, value: bytes('b1') },
      { kind: 'block', key: 2, value: bytes('b2') },
      { kind: 'block', key: 10, value: bytes('b10') },
      { kind: 'cert', key: 2, value: bytes('qc2') },
      { kind: 'checkpoint', key: 8, value: bytes('cp8') },
      { kind: 'session', key: 'client-7', value: bytes('seq=41') },
      { kind: 'evidence', key: 0, value: bytes('ev0') },
    ]);
    await a.persistBatch([{ kind: 'block', key: 1, value: null }]); // truncation
    await a.close();

    const b = openStore(dir, { durable: true });
    stores.push(b);
    expect(text(b.get('safety', 'replica'))).toBe('view=3 seq=9');
    expect(b.get('block', 1)).toBeUndefined();
    expect(b.range('block', { limit: 10 }).map((e) => [e.key, text(e.value)])).toEqual([
      [2, 'b2'],
      [10, 'b10'], // numeric order, not lexicographic
    ]);
    expect(b.range('block', { start: 3, limit: 10 }).map((e) => e.key)).toEqual([10]);
    expect(b.lastNumericKey('block')).toBe(10);
    expect(b.lastNumericKey('checkpoint')).toBe(8);
    expect(b.lastNumericKey('cert')).toBe(2);
    expect(b.lastNumericKey('meta')).toBeUndefined();
    expect(text(b.get('session', 'client-7'))).toBe('seq=41');
    expect(b.count('evidence')).toBe(1);
  });

  it('orders tuple keys element-wise and prunes below a sequence', async () => {
    const s = openStore(tmpDir(), { durable: false, batchRecordsMax: 4 });
    stores.push(s);
    const recs: StoreRecord[] = [];
    for (const seq of [1, 2, 10, 11]) for (const k of ['commit', 'prepare']) recs.push({ kind: 'safety', key: [seq, k], value: bytes(`${k}@${seq}`) });
    await s.persistBatch(recs.slice(0, 4));
    await s.persistBatch(recs.slice(4));
    expect(s.range('safety', { start: [2], end: [11], limit: 10 }).map((e) => e.key)).toEqual([
      [2, 'commit'],
      [2, 'prepare'],
      [10, 'commit'],
      [10, 'prepare'],
    ]);
    expect(text(s.get('safety', [10, 'prepare']))).toBe('prepare@10');
    expect(await s.pruneBelow('safety', [10])).toBe(4); // two batches of at most 4
    expect(s.range('safety', { limit: 10 }).map((e) => (e.key as [number, string])[0])).toEqual([10, 10, 11, 11]);
    await expect(s.persistBatch([{ kind: 'safety', key: [], value: bytes('x') }])).rejects.toThrow(/1..4 parts/);
  });

  it('group-commits persists issued in the same turn, each resolving when written', async () => {
    const s = openStore(tmpDir(), { durable: true });
    stores.push(s);
    const before = s.persistsCompleted;
    const ps = [];
    for (let i = 0; i < 50; i++) ps.push(s.persistBatch([{ kind: 'block', key: i, value: bytes(`b${i}`) }]));
    await Promise.all(ps);
    expect(s.persistsCompleted - before).toBe(50);
    expect(s.range('block', { limit: 100 })).toHaveLength(50);
  });

  it('rejects bad records before writing any of the batch', async () => {
    const s = openStore(tmpDir(), { durable: false, valueBytesMax: 8 });
    stores.push(s);
    await expect(s.persistBatch([{ kind: 'block', key: -1, value: bytes('x') }])).rejects.toThrow(StoreError);
    await expect(s.persistBatch([{ kind: 'block', key: 1.5, value: bytes('x') }])).rejects.toThrow(/safe integer/);
    await expect(
      s.persistBatch([
        { kind: 'block', key: 1, value: bytes('ok') },
        { kind: 'block', key: 2, value: bytes('way too long') },
      ]),
    ).rejects.toThrow(/valueBytesMax/);
    await expect(s.persistBatch([{ kind: 'nope', key: 1, value: bytes('x') } as unknown as StoreRecord])).rejects.toThrow(/unknown record kind/);
    expect(s.get('block', 1)).toBeUndefined();
  });

  it('after SIGKILL mid-write, every record whose persist resolved is there, and batches are atomic', async () => {
    // The child runs the real Store (transpiled from source) and prints "ack <i>" after the persist
    // of batch i resolved; we kill it while it is writing.
    const work = fs.mkdtempSync(path.join(here, '.kill-'));
    dirs.push(work);
    const src = fs.readFileSync(path.join(here, '../src/storage/store.ts'), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    fs.writeFileSync(path.join(work, 'store.mjs'), js);
    fs.writeFileSync(
      path.join(work, 'child.mjs'),
      `import { openStore } from './store.mjs';
const s = openStore(process.argv[2], { durable: true });
const enc = new TextEncoder();
let i = 0;
function batch(i) {
  return [
    { kind: 'block', key: i, value: enc.encode('block ' + i + ' '.repeat(200)) },
    { kind: 'cert', key: i, value: enc.encode('cert ' + i) },
    { kind: 'safety', key: 'replica', value: enc.encode('last ' + i) },
  ];
}
// Four persists in flight at a time, so group commits cover several batches.
async function lane() {
  for (;;) {
    const n = i++;
    await s.persistBatch(batch(n));
    process.stdout.write('ack ' + n + '\\n');
  }
}
for (let k = 0; k < 4; k++) lane();
`,
    );
    const dbDir = path.join(work, 'db');
    const child = spawn(process.execPath, [path.join(work, 'child.mjs'), dbDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Set<number>();
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => resolve());
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) if (l.startsWith('ack ')) acked.add(Number(l.slice(4)));
        if (acked.size >= 300 && !child.killed) child.kill('SIGKILL');
      });
    });
    expect(child.signalCode).toBe('SIGKILL');
    expect(acked.size).toBeGreaterThanOrEqual(300);

    const s = openStore(dbDir, { durable: true });
    stores.push(s);
    for (const i of acked) {
      expect(text(s.get('block', i))?.trim()).toBe(`block ${i}`);
      expect(text(s.get('cert', i))).toBe(`cert ${i}`);
    }
    // Atomicity: a block without its cert (or the reverse) would mean a torn batch.
    const blocks = s.range('block', { limit: 1_000_000 }).map((e) => e.key);
    const certs = s.range('cert', { limit: 1_000_000 }).map((e) => e.key);
    expect(blocks).toEqual(certs);
    const last = Number(text(s.get('safety', 'replica'))!.slice(5));
    expect(blocks).toContain(last);
  });
});
