// The write-ahead log (src/storage/wal.ts): format, group commit, bounds, recovery after crashes
// simulated byte by byte and at every file-system call, fatal IO errors, and a SIGKILLed child.
// No assertion here depends on time.

import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { crc32c } from '../src/storage/wal-crc32c.js';
import { callbackIo, promisesIo, type WalIo } from '../src/storage/wal-io.js';
import {
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  decodeRecord,
  decodeSegmentHeader,
  encodeRecord,
  encodeSegmentHeader,
  parseSegmentFileName,
  recordBytes,
  segmentFileName,
} from '../src/storage/wal-segment.js';
import { openWal, Wal, WalCorruptionError, WalError, WalFailedError, WalQueueFullError, type WalOptions, type WalRecord } from '../src/storage/wal.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const wals: Wal[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bpci-wal-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const w of wals.splice(0)) await w.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const SEG = 64 * 1024;

async function open(dir: string, opts: WalOptions = {}) {
  const r = await openWal(dir, { segmentBytes: SEG, ...opts });
  wals.push(r.wal);
  return r;
}

function segFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => parseSegmentFileName(n) !== undefined).sort();
}

/** The payload of record i in the fixtures: lengths vary so that padding is exercised. */
const payloadOf = (i: number): Uint8Array => bytes(`record ${i} `.padEnd(9 + ((i * 7) % 23), '*'));

interface Layout {
  /** Record LSN -> [start offset, end of header+payload (checksummed bytes), end with padding]. */
  spans: Map<number, [number, number, number]>;
  /** LSNs of each group, in order. */
  groups: number[][];
  file: string;
  image: Buffer;
}

/** Writes groups of 5, 3 and 2 records (each group one commit) into one segment and maps them. */
async function writeFixture(dir: string, groupSizes = [5, 3, 2]): Promise<Layout> {
  const { wal } = await open(dir);
  const groups: number[][] = [];
  let i = 1;
  for (const n of groupSizes) {
    const ps: Promise<number>[] = [];
    for (let k = 0; k < n; k++, i++) ps.push(wal.append(i % 7, payloadOf(i)));
    groups.push(await Promise.all(ps));
  }
  expect(wal.stats().groups).toBe(groupSizes.length);
  await wal.close();
  const spans = new Map<number, [number, number, number]>();
  let off = SEGMENT_HEADER_BYTES;
  for (let lsn = 1; lsn < i; lsn++) {
    const len = payloadOf(lsn).length;
    spans.set(lsn, [off, off + RECORD_HEADER_BYTES + len, off + recordBytes(len)]);
    off += recordBytes(len);
  }
  const file = path.join(dir, segFiles(dir)[0]!);
  return { spans, groups, file, image: fs.readFileSync(file) };
}

function expectRecords(records: readonly WalRecord[], lastLsn: number): void {
  expect(records.map((r) => r.lsn)).toEqual(Array.from({ length: lastLsn }, (_, k) => k + 1));
  for (const r of records) {
    expect(r.type).toBe(r.lsn % 7);
    expect(dec.decode(r.payload)).toBe(dec.decode(payloadOf(r.lsn)));
  }
}

/** Opens the damaged log, checks it holds exactly 1..lastLsn, appends one record and checks again. */
async function recoverAndContinue(dir: string, lastLsn: number): Promise<void> {
  const a = await open(dir);
  expectRecords(a.records, lastLsn);
  expect(await a.wal.append((lastLsn + 1) % 7, payloadOf(lastLsn + 1))).toBe(lastLsn + 1);
  await a.wal.close();
  const b = await open(dir);
  expectRecords(b.records, lastLsn + 1);
  expect(b.recovery.torn).toBeNull();
  await b.wal.close();
}

/** Counts calls per operation, and can fail or "crash" (stop touching the disk) on demand. */
function instrumentedIo(base: WalIo = callbackIo) {
  const calls: Record<string, number> = {};
  const state = { ops: 0, crashAtOp: Infinity, crashed: false, skipSyncs: false, failDatasyncAt: Infinity, failWriteAt: Infinity };
  const count = (op: string): void => {
    calls[op] = (calls[op] ?? 0) + 1;
    state.ops++;
    if (state.crashed || state.ops >= state.crashAtOp) {
      state.crashed = true;
      throw Object.assign(new Error(`simulated crash before ${op}`), { code: 'ECRASH' });
    }
  };
  const io: WalIo = {
    name: 'instrumented',
    open: async (p, f, m) => (count('open'), base.open(p, f, m)),
    // Closing a descriptor changes nothing on disk: allowed after a crash, so tests do not leak.
    close: (fd) => base.close(fd),
    write: async (fd, b, o, l, p) => {
      count('write');
      if (calls.write === state.failWriteAt) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
      return base.write(fd, b, o, l, p);
    },
    read: async (fd, b, o, l, p) => (count('read'), base.read(fd, b, o, l, p)),
    datasync: async (fd) => {
      count('datasync');
      if (calls.datasync === state.failDatasyncAt) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', syscall: 'fdatasync' });
      if (!state.skipSyncs) await base.datasync(fd);
    },
    fsync: async (fd) => {
      count('fsync');
      if (!state.skipSyncs) await base.fsync(fd);
    },
    ftruncate: async (fd, l) => (count('ftruncate'), base.ftruncate(fd, l)),
    size: async (fd) => (count('size'), base.size(fd)),
    rename: async (a, b) => (count('rename'), base.rename(a, b)),
    unlink: async (p) => (count('unlink'), base.unlink(p)),
    readdir: async (d) => (count('readdir'), base.readdir(d)),
    mkdir: async (d) => (count('mkdir'), base.mkdir(d)),
  };
  return { io, calls, state };
}

describe('wal format', () => {
  it('CRC-32C matches the published check values (RFC 3720 B.4)', () => {
    expect(crc32c(bytes('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    const b = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) expect(crc32c(b, cut, b.length, crc32c(b, 0, cut))).toBe(crc32c(b));
  });

  it('encodes and decodes records and segment headers, and names segments by base LSN', () => {
    const buf = new Uint8Array(256);
    const dv = new DataView(buf.buffer);
    const size = encodeRecord(buf, dv, 8, 200, 2 ** 40 + 5, 2 ** 40 + 1, bytes('hello'));
    expect(size).toBe(40);
    expect(decodeRecord(buf, dv, 8)).toEqual({ lsn: 2 ** 40 + 5, syncedLsn: 2 ** 40 + 1, type: 200, length: 5, size: 40 });
    expect(decodeRecord(buf, dv, 48)).toBe('zero');
    buf[8 + 33]! ^= 1;
    expect(decodeRecord(buf, dv, 8)).toBe('checksum');
    expect(decodeRecord(buf, dv, 8, 40)).toBe('length');
    expect(decodeSegmentHeader(encodeSegmentHeader(77))).toBe(77);
    const h = encodeSegmentHeader(77);
    h[20]! ^= 4;
    expect(decodeSegmentHeader(h)).toBe('bad segment header checksum');
    expect(segmentFileName(0x1234)).toBe('0000000000001234.wal');
    expect(parseSegmentFileName('0000000000001234.wal')).toBe(0x1234);
    expect(parseSegmentFileName('wal.spare')).toBeUndefined();
    expect(parseSegmentFileName('0000000000000000.wal')).toBeUndefined();
  });
});

describe('wal append and group commit', () => {
  it('gives LSNs in call order and returns every record after reopen', async () => {
    const dir = tmpDir();
    const a = await open(dir);
    expect(a.records).toEqual([]);
    expect(a.recovery.torn).toBeNull();
    const lsns: number[] = [];
    for (let i = 1; i <= 20; i++) lsns.push(await a.wal.append(i % 7, payloadOf(i)));
    expect(lsns).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
    expect(a.wal.durableLsn).toBe(20);
    await a.wal.append(3, new Uint8Array(0)); // empty payloads are records too
    await a.wal.close();
    const b = await open(dir);
    expectRecords(b.records.slice(0, 20), 20);
    expect(b.records[20]).toEqual({ lsn: 21, type: 3, payload: new Uint8Array(0) });
    expect(b.wal.nextLsn).toBe(22);
  });

  it('commits every append of one event-loop turn with one write and one fdatasync', async () => {
    // Sparse preallocation: preparing the next segment in the background makes no write calls.
    const { io, calls } = instrumentedIo();
    const { wal } = await open(tmpDir(), { io, preallocate: 'sparse' });
    await wal.append(1, bytes('warm-up'));
    const w0 = calls.write ?? 0;
    const d0 = calls.datasync ?? 0;
    const ps = Array.from({ length: 100 }, (_, i) => wal.append(2, payloadOf(i)));
    expect(await Promise.all(ps)).toEqual(Array.from({ length: 100 }, (_, k) => k + 2));
    expect((calls.write ?? 0) - w0).toBe(1);
    expect((calls.datasync ?? 0) - d0).toBe(1);
    expect(wal.stats().groups).toBe(2);
  });

  it('bounds the bytes in flight: extra appends wait in order, and beyond waitersMax they are refused', async () => {
    const rec = recordBytes(100);
    const { wal } = await open(tmpDir(), { recordBytesMax: 100, queueBytesMax: rec * 4, waitersMax: 1000 });
    const ps = Array.from({ length: 50 }, (_, i) => wal.append(1, new Uint8Array(100).fill(i)));
    expect(await Promise.all(ps)).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
    const s = wal.stats();
    expect(s.queuedBytesPeak).toBeLessThanOrEqual(rec * 4);
    expect(s.groups).toBeGreaterThanOrEqual(13);
    await wal.close();

    const b = await open(tmpDir(), { recordBytesMax: 100, queueBytesMax: rec * 2, waitersMax: 2 });
    const admitted = [b.wal.append(1, new Uint8Array(100)), b.wal.append(1, new Uint8Array(100))];
    const waiting = [b.wal.append(1, new Uint8Array(100)), b.wal.append(1, new Uint8Array(100))];
    await expect(b.wal.append(1, new Uint8Array(100))).rejects.toThrow(WalQueueFullError);
    expect(await Promise.all([...admitted, ...waiting])).toEqual([1, 2, 3, 4]);
    expect(await b.wal.append(1, new Uint8Array(1))).toBe(5);
  });

  it('rejects bad arguments before queueing anything', async () => {
    const { wal } = await open(tmpDir(), { recordBytesMax: 64 });
    await expect(wal.append(256, bytes('x'))).rejects.toThrow(/type must be an integer 0..255, got 256/);
    await expect(wal.append(-1, bytes('x'))).rejects.toThrow(WalError);
    await expect(wal.append(1.5, bytes('x'))).rejects.toThrow(WalError);
    await expect(wal.append(1, new Uint8Array(65))).rejects.toThrow(/65 bytes exceeds recordBytesMax 64/);
    await expect(wal.append(1, 'text' as unknown as Uint8Array)).rejects.toThrow(/Uint8Array/);
    await expect(wal.truncateBefore(0)).rejects.toThrow(/truncateBefore/);
    await expect(wal.truncateBefore(5)).rejects.toThrow(/1..1/);
    expect(wal.nextLsn).toBe(1);
    await expect(openWal(tmpDir(), { segmentBytes: 1000 })).rejects.toThrow(/segmentBytes must be an integer in 4096/);
    await wal.close();
    await expect(wal.append(1, bytes('x'))).rejects.toThrow(/closed/);
  });

  it('works with O_DSYNC writes and with fs.promises file handles', async () => {
    for (const opts of [{ syncMode: 'dsync' as const }, { io: promisesIo() }, { preallocate: 'sparse' as const }]) {
      const dir = tmpDir();
      const a = await open(dir, { ...opts, segmentBytes: 8192 });
      const ps = Array.from({ length: 300 }, (_, i) => a.wal.append((i + 1) % 7, payloadOf(i + 1)));
      await Promise.all(ps);
      expect(a.wal.segmentCount).toBeGreaterThan(1);
      await a.wal.close();
      const b = await open(dir, { ...opts, segmentBytes: 8192 });
      expectRecords(b.records, 300);
      await b.wal.close();
    }
  });
});

describe('wal segments and truncation', () => {
  it('rolls over into new segments, truncates whole segments below an LSN, and recycles them', async () => {
    const dir = tmpDir();
    const opts = { segmentBytes: 4096 };
    const a = await open(dir, opts);
    for (let i = 1; i <= 250; i++) await a.wal.append(i % 7, payloadOf(i));
    const n = segFiles(dir).length;
    expect(n).toBeGreaterThanOrEqual(4);
    expect(a.wal.segmentCount).toBe(n);
    const bases = segFiles(dir).map((f) => parseSegmentFileName(f)!);
    // Below the third segment's base: the first two go; the third (holding that LSN) stays.
    expect(await a.wal.truncateBefore(bases[2]! + 1)).toBe(2);
    expect(segFiles(dir).map((f) => parseSegmentFileName(f))).toEqual(bases.slice(2));
    expect(a.wal.firstLsn).toBe(bases[2]);
    expect(await a.wal.truncateBefore(bases[2]! + 1)).toBe(0);
    // Never the segment being written, even past its base.
    expect(await a.wal.truncateBefore(a.wal.nextLsn)).toBe(n - 3);
    expect(segFiles(dir)).toHaveLength(1);
    // Keep writing: new segments reuse the removed files (their old records read as the end).
    for (let i = 251; i <= 500; i++) await a.wal.append(i % 7, payloadOf(i));
    const s = a.wal.stats();
    expect(s.segmentsRecycled).toBeGreaterThanOrEqual(1);
    expect(s.segmentsRemoved).toBe(n - 1);
    await a.wal.close();

    const b = await open(dir, opts);
    expect(b.recovery.torn).toBeNull();
    expect(b.recovery.zeroedBytes).toBe(0);
    const first = b.records[0]!.lsn;
    expect(first).toBe(parseSegmentFileName(segFiles(dir)[0]!));
    expect(b.records.map((r) => r.lsn)).toEqual(Array.from({ length: 500 - first + 1 }, (_, k) => first + k));
    for (const r of b.records) expect(dec.decode(r.payload)).toBe(dec.decode(payloadOf(r.lsn)));
  });

  it('ignores a half-prepared spare and replaces a spare of the wrong size', async () => {
    const dir = tmpDir();
    const a = await open(dir, { segmentBytes: 4096 });
    await a.wal.append(1, bytes('one'));
    await a.wal.close();
    fs.writeFileSync(path.join(dir, 'wal.spare.tmp'), 'partial');
    fs.writeFileSync(path.join(dir, 'wal.spare.7'), 'too short');
    fs.writeFileSync(path.join(dir, 'unrelated.txt'), 'not ours');
    const b = await open(dir, { segmentBytes: 4096 });
    expect(b.records.map((r) => dec.decode(r.payload))).toEqual(['one']);
    for (let i = 0; i < 100; i++) await b.wal.append(2, new Uint8Array(100));
    await b.wal.close();
    const spares = fs.readdirSync(dir).filter((n) => n.startsWith('wal.spare.'));
    expect(spares.length).toBeGreaterThanOrEqual(1);
    expect(spares).not.toContain('wal.spare.7');
    for (const n of spares) expect(fs.statSync(path.join(dir, n)).size).toBe(4096);
    expect(fs.existsSync(path.join(dir, 'wal.spare.tmp'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'unrelated.txt'), 'utf8')).toBe('not ours');
    const c = await open(dir, { segmentBytes: 4096 });
    expect(c.records).toHaveLength(101);
  });
});

describe('wal recovery from damaged tails (crash injection)', () => {
  it('a file cut at every byte of the last group keeps exactly the complete records before the cut', async () => {
    const src = tmpDir();
    const fx = await writeFixture(src);
    const lastGroup = fx.groups[2]!;
    const from = fx.spans.get(lastGroup[0]!)![0];
    const to = fx.spans.get(lastGroup[lastGroup.length - 1]!)![2];
    for (let cut = from; cut <= to; cut++) {
      const dir = tmpDir();
      fs.writeFileSync(path.join(dir, path.basename(fx.file)), fx.image.subarray(0, cut));
      let complete = 0;
      for (const [lsn, [, end]] of fx.spans) if (end <= cut) complete = lsn;
      expect(complete).toBeGreaterThanOrEqual(8); // groups 1 and 2 were acknowledged
      await recoverAndContinue(dir, complete);
      expect(fs.statSync(path.join(dir, path.basename(fx.file))).size).toBe(SEG);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a preallocated file whose last group reached the disk only up to any byte keeps the complete prefix', async () => {
    const src = tmpDir();
    const fx = await writeFixture(src);
    const lastGroup = fx.groups[2]!;
    const from = fx.spans.get(lastGroup[0]!)![0];
    const to = fx.spans.get(lastGroup[lastGroup.length - 1]!)![2];
    for (let cut = from; cut <= to; cut++) {
      const dir = tmpDir();
      const img = Buffer.from(fx.image);
      img.fill(0, cut, to);
      fs.writeFileSync(path.join(dir, path.basename(fx.file)), img);
      let complete = 0;
      for (const [lsn, [, end]] of fx.spans) if (end <= cut) complete = lsn;
      await recoverAndContinue(dir, complete);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a flipped bit anywhere in the last group drops that record and the rest of its group, not more', async () => {
    const src = tmpDir();
    const fx = await writeFixture(src);
    const lastGroup = fx.groups[2]!;
    for (const lsn of lastGroup) {
      const [start, end] = fx.spans.get(lsn)!;
      for (let at = start; at < end; at++) {
        const dir = tmpDir();
        const img = Buffer.from(fx.image);
        img[at]! ^= 1 << at % 8;
        fs.writeFileSync(path.join(dir, path.basename(fx.file)), img);
        const r = await open(dir);
        expectRecords(r.records, lsn - 1);
        expect(r.recovery.torn).not.toBeNull();
        expect(r.recovery.torn!.discardedRecords).toBe(lastGroup[lastGroup.length - 1]! - lsn);
        await r.wal.close();
        await recoverAndContinue(dir, lsn - 1);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('the last group persisted out of order (a hole, later records intact) is still a torn tail', async () => {
    const src = tmpDir();
    const fx = await writeFixture(src, [4, 4, 6]);
    const [g3first] = fx.groups[2]!;
    const [start, end] = fx.spans.get(g3first!)!;
    const dir = tmpDir();
    const img = Buffer.from(fx.image);
    img.fill(0, start, end); // this sector never made it; the records after it did
    fs.writeFileSync(path.join(dir, path.basename(fx.file)), img);
    const r = await open(dir);
    expectRecords(r.records, 8);
    expect(r.recovery.torn?.discardedRecords).toBe(5);
    await r.wal.close();
    await recoverAndContinue(dir, 8);
  });

  it('damage to an acknowledged record followed by later groups is reported, and nothing is changed', async () => {
    const src = tmpDir();
    const fx = await writeFixture(src);
    const targets: [string, number][] = [];
    for (const lsn of [...fx.groups[0]!, ...fx.groups[1]!]) {
      const [start, end] = fx.spans.get(lsn)!;
      targets.push([`header of LSN ${lsn}`, start + 5], [`payload of LSN ${lsn}`, end - 1], [`checksum of LSN ${lsn}`, start]);
    }
    targets.push(['segment header', 20]);
    for (const [what, at] of targets) {
      const dir = tmpDir();
      const file = path.join(dir, path.basename(fx.file));
      const img = Buffer.from(fx.image);
      img[at]! ^= 0x10;
      fs.writeFileSync(file, img);
      const err = await openWal(dir, { segmentBytes: SEG }).then(
        (r) => (wals.push(r.wal), new Error(`${what}: opened with ${r.records.length} records`)),
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(WalCorruptionError);
      expect((err as WalCorruptionError).message).toMatch(/corruption in the middle of the log/);
      expect(fs.readFileSync(file).equals(img), what).toBe(true);
      expect(fs.readdirSync(dir)).toEqual([path.basename(fx.file)]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('garbage after the last record is zeroed; a zero-filled tail is a clean end', async () => {
    const src = tmpDir();
    const fx = await writeFixture(src);
    const end = fx.spans.get(10)![2];
    const clean = tmpDir();
    fs.writeFileSync(path.join(clean, path.basename(fx.file)), fx.image);
    const c = await open(clean);
    expectRecords(c.records, 10);
    expect(c.recovery.torn).toBeNull();
    expect(c.recovery.zeroedBytes).toBe(0);
    await c.wal.close();

    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (const [at, n] of [[end, 1], [end, 1000], [end + 3, 31], [end + 64, 4096], [SEG - 100, 100]] as const) {
      const dir = tmpDir();
      const img = Buffer.from(fx.image);
      for (let i = 0; i < n; i++) img[at + i] = rnd() | 1;
      // A record magic at an aligned offset: the look-ahead must not trust it without the checksum.
      img.writeUInt16LE(0x4c57, ((at + 8) & ~7) + 4);
      fs.writeFileSync(path.join(dir, path.basename(fx.file)), img);
      const r = await open(dir);
      expectRecords(r.records, 10);
      expect(r.recovery.torn).not.toBeNull();
      expect(r.recovery.zeroedBytes).toBeGreaterThanOrEqual(n);
      await r.wal.close();
      await recoverAndContinue(dir, 10);
      const after = fs.readFileSync(path.join(dir, path.basename(fx.file)));
      expect(after.subarray(end + recordBytes(payloadOf(11).length)).every((b) => b === 0)).toBe(true);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a crash before any file-system call of a run (rollovers included) loses no acknowledged append', async () => {
    // Process crash: every call before op k happened, none after. Syncs are skipped (a process
    // crash keeps the page cache), which keeps this fast; torn bytes are the tests above.
    const opts = { segmentBytes: 4096, recordBytesMax: 600 };
    let completedRun = false;
    for (let k = 1; !completedRun; k++) {
      expect(k).toBeLessThan(2000);
      const dir = tmpDir();
      const { io, state } = instrumentedIo();
      state.skipSyncs = true;
      state.crashAtOp = k;
      const acked = new Map<number, number>();
      let failed = false;
      try {
        const { wal } = await openWal(dir, { ...opts, io });
        let next = 1;
        for (let g = 0; g < 24 && !failed; g++) {
          // Groups of 1..3 appends of 40..520 bytes: several rollovers, some mid-group.
          const ids = Array.from({ length: 1 + (g % 3) }, () => next++);
          const settled = await Promise.allSettled(ids.map((id) => wal.append(id % 7, new Uint8Array(40 + ((id * 97) % 480)).fill(id & 0xff))));
          settled.forEach((s, j) => {
            if (s.status === 'fulfilled') acked.set(s.value, ids[j]!);
            else failed = true;
          });
        }
        await wal.close().catch(() => undefined);
        if (!state.crashed) completedRun = true;
      } catch (err) {
        // openWal itself was cut short.
        expect(state.crashed, String(err)).toBe(true);
      }
      const r = await open(dir, opts);
      const byLsn = new Map(r.records.map((x) => [x.lsn, x]));
      expect(r.records.map((x) => x.lsn)).toEqual(Array.from({ length: r.records.length }, (_, j) => j + 1));
      for (const [lsn, id] of acked) {
        const rec = byLsn.get(lsn);
        expect(rec, `op ${k}: acknowledged LSN ${lsn} missing`).toBeDefined();
        expect(rec!.payload.length).toBe(40 + ((id * 97) % 480));
        expect(rec!.payload[0]).toBe(id & 0xff);
      }
      const lsn = await r.wal.append(1, bytes('after'));
      expect(lsn).toBe(r.records.length + 1);
      await r.wal.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('wal IO failures', () => {
  it('a failed fdatasync fails the WAL: the group, the waiting and all later appends reject; no retry', async () => {
    const { io, calls, state } = instrumentedIo();
    const { wal } = await open(tmpDir(), { io, recordBytesMax: 64, queueBytesMax: recordBytes(64) * 2 });
    expect(await wal.append(1, bytes('durable'))).toBe(1);
    state.failDatasyncAt = (calls.datasync ?? 0) + 1;
    const group = [wal.append(1, new Uint8Array(64)), wal.append(1, new Uint8Array(64))];
    const waiting = wal.append(1, new Uint8Array(64)); // over queueBytesMax: waits
    for (const p of [...group, waiting]) {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(WalFailedError);
      expect((err as Error).message).toMatch(/fdatasync failed \(EIO\).*not retried/);
      expect(((err as Error).cause as { code: string }).code).toBe('EIO');
    }
    const syncsAfter = calls.datasync;
    await expect(wal.append(1, bytes('later'))).rejects.toBeInstanceOf(WalFailedError);
    await expect(wal.truncateBefore(1)).rejects.toBeInstanceOf(WalFailedError);
    await new Promise((r) => setImmediate(r));
    expect(calls.datasync).toBe(syncsAfter);
    expect(wal.failed).toBeInstanceOf(WalFailedError);
    expect(wal.durableLsn).toBe(1);
    await wal.close();
  });

  it('a failed write is fatal in the same way', async () => {
    const { io, calls, state } = instrumentedIo();
    const dir = tmpDir();
    const { wal } = await open(dir, { io });
    await wal.append(1, bytes('one'));
    state.failWriteAt = (calls.write ?? 0) + 1;
    await expect(wal.append(1, bytes('two'))).rejects.toThrow(/write failed \(ENOSPC\)/);
    await expect(wal.append(1, bytes('three'))).rejects.toBeInstanceOf(WalFailedError);
    await wal.close();
    const r = await open(dir);
    expect(r.records.map((x) => dec.decode(x.payload))).toEqual(['one']);
  });
});

describe('wal and a killed process', () => {
  it('after SIGKILL mid-append, every append whose promise resolved is there', async () => {
    // The child runs the WAL (transpiled from source) with 8 concurrent appenders, small segments
    // (rollovers) and truncation (recycling), and prints "ack <lsn> <id>" once an append resolved.
    const work = fs.mkdtempSync(path.join(here, '.wal-kill-'));
    dirs.push(work);
    for (const f of ['wal.ts', 'wal-io.ts', 'wal-segment.ts', 'wal-crc32c.ts']) {
      const src = fs.readFileSync(path.join(here, '../src/storage', f), 'utf8');
      const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      fs.writeFileSync(path.join(work, f.replace(/\.ts$/, '.js')), js);
    }
    fs.writeFileSync(path.join(work, 'package.json'), '{"type":"module"}');
    fs.writeFileSync(
      path.join(work, 'child.js'),
      `import { openWal } from './wal.js';
const { wal } = await openWal(process.argv[2], { segmentBytes: 32768 });
const enc = new TextEncoder();
let n = 0;
async function lane() {
  for (;;) {
    const id = n++;
    const lsn = await wal.append(id % 256, enc.encode('rec ' + id + ' ' + 'x'.repeat(id % 113)));
    process.stdout.write('ack ' + lsn + ' ' + id + '\\n');
    if (lsn % 700 === 0) {
      process.stdout.write('trunc ' + (lsn - 300) + '\\n');
      wal.truncateBefore(lsn - 300);
    }
  }
}
for (let k = 0; k < 8; k++) lane();
`,
    );
    const walDir = path.join(work, 'wal');
    const child = spawn(process.execPath, [path.join(work, 'child.js'), walDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Map<number, number>();
    let truncMax = 0;
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => resolve());
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          const [what, a, b] = l.split(' ');
          if (what === 'ack') acked.set(Number(a), Number(b));
          if (what === 'trunc') truncMax = Math.max(truncMax, Number(a));
        }
        if (acked.size >= 2500 && !child.killed) child.kill('SIGKILL');
      });
    });
    expect(child.signalCode).toBe('SIGKILL');
    expect(acked.size).toBeGreaterThanOrEqual(2500);
    expect(truncMax).toBeGreaterThan(0);

    const r = await open(walDir, { segmentBytes: 32768 });
    const first = r.records[0]!.lsn;
    expect(first).toBeLessThanOrEqual(truncMax);
    expect(r.records.map((x) => x.lsn)).toEqual(Array.from({ length: r.records.length }, (_, k) => first + k));
    const byLsn = new Map(r.records.map((x) => [x.lsn, x]));
    let checked = 0;
    for (const [lsn, id] of acked) {
      if (lsn < truncMax) continue; // may have been truncated away
      const rec = byLsn.get(lsn);
      expect(rec, `acknowledged LSN ${lsn} missing`).toBeDefined();
      expect(rec!.type).toBe(id % 256);
      expect(dec.decode(rec!.payload)).toBe(`rec ${id} ${'x'.repeat(id % 113)}`);
      checked++;
    }
    expect(checked).toBeGreaterThan(200);
    expect(await r.wal.append(1, bytes('after kill'))).toBe(r.records[r.records.length - 1]!.lsn + 1);
  });
});
