import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { openStore, StoreError, type Store, type StoreRecord } from '../src/storage/store.js';
import { acquireDirLock, DirLockedError, LOCK_FILE_NAME, processStartTicks, readDirLock } from '../src/storage/dir-lock.js';
import { silentLogger } from '../src/log.js';

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
    for (const [from, to] of [['store.ts', 'store.mjs'], ['dir-lock.ts', 'dir-lock.js']] as const) {
      const src = fs.readFileSync(path.join(here, '../src/storage', from), 'utf8');
      const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      fs.writeFileSync(path.join(work, to), js);
    }
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
    let duplicate: unknown;
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => resolve());
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) if (l.startsWith('ack ')) acked.add(Number(l.slice(4)));
        if (acked.size >= 300 && !child.killed) {
          // While the child lives, its directory is locked: a second store refuses before LMDB opens.
          try {
            openStore(dbDir, { durable: true });
            duplicate = 'opened';
          } catch (e) {
            duplicate = e;
          }
          child.kill('SIGKILL');
        }
      });
    });
    expect(child.signalCode).toBe('SIGKILL');
    expect(acked.size).toBeGreaterThanOrEqual(300);
    expect(duplicate).toBeInstanceOf(DirLockedError);
    expect(String(duplicate)).toMatch(new RegExp(`locked by another live process: pid ${child.pid}`));

    // The child's lock is stale now (kill -9 leaves it behind): taken over, with one log line.
    const lines: string[] = [];
    const logger = { ...silentLogger, warn: (_o: object, msg?: string) => void lines.push(msg ?? '') };
    const s = openStore(dbDir, { durable: true, logger });
    stores.push(s);
    expect(lines).toEqual([expect.stringMatching(new RegExp(`took over the stale lock .* pid ${child.pid} is gone`))]);
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

describe('data dir lock (issue 13 §2: one process per validator)', () => {
  it('refuses a second store on a directory in use, in this process too, and frees it on close', async () => {
    const dir = tmpDir();
    const a = openStore(dir, { durable: false, lockOwner: 'validator-002' });
    expect(readDirLock(dir)).toMatchObject({ pid: process.pid, owner: 'validator-002' });
    expect(() => openStore(dir, { durable: false })).toThrow(/already locked by this process \(pid \d+ \(validator-002\)/);
    await a.close();
    expect(fs.existsSync(path.join(dir, LOCK_FILE_NAME))).toBe(false);
    const b = openStore(dir, { durable: false });
    stores.push(b);
  });

  it('never opens LMDB under a lock held by another live process', async () => {
    const dir = tmpDir();
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const ticks = processStartTicks(child.pid!);
      fs.writeFileSync(
        path.join(dir, LOCK_FILE_NAME),
        JSON.stringify({ pid: child.pid, hostname: os.hostname(), owner: 'validator-002', started_at: 'then', token: 'x', ...(ticks ? { start_ticks: ticks } : {}) }),
      );
      expect(() => openStore(dir, { durable: true })).toThrow(new RegExp(`${dir} is locked by another live process: pid ${child.pid} \\(validator-002\\)`));
      expect(fs.readdirSync(dir)).toEqual([LOCK_FILE_NAME]); // no data.mdb / lock.mdb: LMDB never opened
      // A lock from another host cannot be checked: refused, never taken over.
      fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), JSON.stringify({ pid: 1, hostname: 'elsewhere', started_at: 'then', token: 'y' }));
      expect(() => acquireDirLock(dir)).toThrow(/pid 1 on host elsewhere/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a lock whose pid now belongs to another process (pid reuse after a crash)', () => {
    if (processStartTicks(process.pid) === undefined) return; // no /proc: start times unknown
    const dir = tmpDir();
    // Our own pid, but another start time: the process that wrote it is gone.
    fs.writeFileSync(path.join(dir, LOCK_FILE_NAME), JSON.stringify({ pid: process.pid, hostname: os.hostname(), started_at: 'then', start_ticks: '1', token: 'z' }));
    const warned: string[] = [];
    const lock = acquireDirLock(dir, { logger: { ...silentLogger, warn: (_o: object, m?: string) => void warned.push(m ?? '') } });
    expect(warned).toHaveLength(1);
    expect(readDirLock(dir)?.token).toBe(lock.owner.token);
    lock.release();
    expect(readDirLock(dir)).toBeUndefined();
  });
});
