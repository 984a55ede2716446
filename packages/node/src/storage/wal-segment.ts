// On-disk format of the write-ahead log (wal.ts) and the recovery scan over its segments.
//
// A log is a directory of segment files named by the first LSN they hold, `%016x.wal`, each a
// preallocated file (zeros, or an old segment recycled) that starts with a segment header:
//
//   segment header, 32 bytes, little-endian
//     0  u32  CRC-32C of bytes [4, 32)
//     4  u32  magic 0x4c415742 ("BWAL")
//     8  u16  format version (1)
//    10  u16  0
//    12  u32  0
//    16  u64  base LSN: the LSN of the first record in this segment (= the file name)
//    24  u64  0
//
// followed by records, each starting on an 8-byte boundary:
//
//   record header, 32 bytes, little-endian, then the payload, then zero padding to 8 bytes
//     0  u32  CRC-32C of bytes [4, 32 + length): the rest of the header and the payload
//     4  u16  magic 0x4c57 ("WL")
//     6  u8   format version (1)
//     7  u8   record type (the caller's; opaque to the WAL)
//     8  u32  payload length in bytes
//    12  u32  0
//    16  u64  LSN: 1, 2, 3, ... across the whole log, no gaps
//    24  u64  synced LSN: every record with an LSN at or below it was durable (fdatasync returned)
//             when this record was written. Always < LSN.
//
// Records never span segments: one that does not fit in the rest of a segment starts the next.
//
// Recovery (scanSegments) reads the segments in LSN order and accepts records while each has a
// valid checksum and the next LSN. It stops at the first position that is not such a record (a
// zero header, a record of an older life of a recycled segment, a bad checksum, a short file).
// That position is the end of the log, unless the bytes after it prove it is not:
//
// - Torn tail: the last group of records was being written when the process or machine died, so
//   any subset of its bytes may have reached the disk (sectors are not persisted in order). None
//   of that group's appends had resolved. Recovery keeps the valid prefix and zeroes the rest.
// - Mid-log corruption: a record after the stop point is valid, belongs to this life of the log
//   (LSN >= the one expected at the stop point) and says, in its synced LSN, that the damaged
//   record had already been durable when it was written. Damage to acknowledged data: the scan
//   throws WalCorruptionError and changes nothing. (A valid record whose synced LSN is below the
//   stop point belongs to the same unsynced group: torn, dropped.)
//
// This is the distinction etcd's WAL draws (a torn last entry is repaired, a CRC mismatch before
// it is an error) and TigerBeetle's journal draws with its redundant headers, decided here by the
// synced LSN each record carries. What it cannot see: damage to records of the LAST group that
// completed before the crash, when nothing was written after it. Without a second copy such a
// record looks like a torn write and is dropped (see packages/node/README.md, "Write-ahead log").

import { crc32c } from './wal-crc32c.js';

export const WAL_FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 32;
export const RECORD_HEADER_BYTES = 32;
export const RECORD_ALIGN_BYTES = 8;
/** Largest payload the format can describe (the WAL's own limit, recordBytesMax, is lower). */
export const RECORD_PAYLOAD_BYTES_FORMAT_MAX = 1 << 30;
export const SEGMENT_MAGIC = 0x4c415742;
export const RECORD_MAGIC = 0x4c57;
/** LSNs are JavaScript numbers: 2^53 - 1 appends is more than any validator will make. */
export const LSN_MAX = Number.MAX_SAFE_INTEGER;

const TWO_32 = 2 ** 32;

export interface WalRecord {
  readonly lsn: number;
  /** The caller's record type, 0..255. */
  readonly type: number;
  readonly payload: Uint8Array;
}

export class WalCorruptionError extends Error {
  constructor(
    message: string,
    readonly segment: string,
    readonly offset: number,
    readonly expectedLsn: number,
  ) {
    super(message);
    this.name = 'WalCorruptionError';
  }
}

/** Bytes a record with `payloadBytes` of payload occupies in a segment, padding included. */
export function recordBytes(payloadBytes: number): number {
  return (RECORD_HEADER_BYTES + payloadBytes + RECORD_ALIGN_BYTES - 1) & ~(RECORD_ALIGN_BYTES - 1);
}

export function segmentFileName(baseLsn: number): string {
  return `${baseLsn.toString(16).padStart(16, '0')}.wal`;
}

/** The base LSN a segment file name stands for, or undefined if it is not a segment's name. */
export function parseSegmentFileName(name: string): number | undefined {
  if (!/^[0-9a-f]{16}\.wal$/.test(name)) return undefined;
  const lsn = Number.parseInt(name.slice(0, 16), 16);
  return lsn >= 1 && lsn <= LSN_MAX ? lsn : undefined;
}

function setU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v % TWO_32, true);
  dv.setUint32(off + 4, Math.floor(v / TWO_32), true);
}

/** A u64 as a number, or -1 when it does not fit in 53 bits (never written by us). */
function getU64(dv: DataView, off: number): number {
  const hi = dv.getUint32(off + 4, true);
  if (hi >= 2 ** 21) return -1;
  return hi * TWO_32 + dv.getUint32(off, true);
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

export function encodeSegmentHeader(baseLsn: number): Uint8Array {
  const b = new Uint8Array(SEGMENT_HEADER_BYTES);
  const dv = view(b);
  dv.setUint32(4, SEGMENT_MAGIC, true);
  dv.setUint16(8, WAL_FORMAT_VERSION, true);
  setU64(dv, 16, baseLsn);
  dv.setUint32(0, crc32c(b, 4, SEGMENT_HEADER_BYTES), true);
  return b;
}

/** The base LSN in a segment header, or why the header is not valid. */
export function decodeSegmentHeader(b: Uint8Array): number | string {
  if (b.length < SEGMENT_HEADER_BYTES) return 'short segment header';
  const dv = view(b);
  if (dv.getUint32(4, true) !== SEGMENT_MAGIC) return 'bad segment magic';
  if (dv.getUint32(0, true) !== crc32c(b, 4, SEGMENT_HEADER_BYTES)) return 'bad segment header checksum';
  if (dv.getUint16(8, true) !== WAL_FORMAT_VERSION) return `unsupported segment version ${dv.getUint16(8, true)}`;
  const base = getU64(dv, 16);
  if (base < 1) return 'bad base LSN';
  return base;
}

/**
 * Encodes one record at `off` of `buf` (which must have recordBytes(payload.length) bytes there)
 * and returns the bytes used. Padding is zeroed.
 */
export function encodeRecord(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  type: number,
  lsn: number,
  syncedLsn: number,
  payload: Uint8Array,
): number {
  const len = payload.length;
  dv.setUint16(off + 4, RECORD_MAGIC, true);
  buf[off + 6] = WAL_FORMAT_VERSION;
  buf[off + 7] = type;
  dv.setUint32(off + 8, len, true);
  dv.setUint32(off + 12, 0, true);
  setU64(dv, off + 16, lsn);
  setU64(dv, off + 24, syncedLsn);
  buf.set(payload, off + RECORD_HEADER_BYTES);
  const end = off + RECORD_HEADER_BYTES + len;
  const size = recordBytes(len);
  buf.fill(0, end, off + size);
  dv.setUint32(off, crc32c(buf, off + 4, end), true);
  return size;
}

export interface DecodedRecord {
  readonly lsn: number;
  readonly syncedLsn: number;
  readonly type: number;
  readonly length: number;
  /** Bytes the record occupies, padding included. */
  readonly size: number;
}

/** Why the bytes at an offset are not a record. */
export type NotARecord = 'zero' | 'short' | 'magic' | 'version' | 'length' | 'checksum' | 'fields';

/** The record at `off` (its header and payload within `buf[0, limit)`), or why there is none. */
export function decodeRecord(buf: Uint8Array, dv: DataView, off: number, limit = buf.length): DecodedRecord | NotARecord {
  if (off + RECORD_HEADER_BYTES > limit) return 'short';
  if (dv.getUint16(off + 4, true) !== RECORD_MAGIC) {
    for (let i = off; i < off + RECORD_HEADER_BYTES; i++) if (buf[i] !== 0) return 'magic';
    return 'zero';
  }
  if (buf[off + 6] !== WAL_FORMAT_VERSION) return 'version';
  const length = dv.getUint32(off + 8, true);
  if (length > RECORD_PAYLOAD_BYTES_FORMAT_MAX || off + RECORD_HEADER_BYTES + length > limit) return 'length';
  if (dv.getUint32(off, true) !== crc32c(buf, off + 4, off + RECORD_HEADER_BYTES + length)) return 'checksum';
  const lsn = getU64(dv, off + 16);
  const syncedLsn = getU64(dv, off + 24);
  if (dv.getUint32(off + 12, true) !== 0 || lsn < 1 || syncedLsn < 0 || syncedLsn >= lsn) return 'fields';
  return { lsn, syncedLsn, type: buf[off + 7]!, length, size: recordBytes(length) };
}

const ZERO_CHUNK = new Uint8Array(64 * 1024);

/** Index of the last non-zero byte in `buf[from, end)`, or from - 1 when all are zero. */
export function lastNonZero(buf: Uint8Array, from: number, end = buf.length): number {
  let hi = end;
  // Compare whole chunks with memcmp (Buffer.compare) from the end; scan bytes only in the last
  // chunk that is not all zeros.
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  while (hi - from >= ZERO_CHUNK.length) {
    if (b.compare(ZERO_CHUNK, 0, ZERO_CHUNK.length, hi - ZERO_CHUNK.length, hi) !== 0) break;
    hi -= ZERO_CHUNK.length;
  }
  for (let i = hi - 1; i >= from; i--) if (buf[i] !== 0) return i;
  return from - 1;
}

interface LookAhead {
  /** Valid records with LSN >= the expected one (this life of the log) found. */
  count: number;
  /** The first of them written after the expected LSN was durable: proof of mid-log corruption. */
  violation: { offset: number; lsn: number; syncedLsn: number } | null;
}

/**
 * Looks for valid records of this life of the log (LSN >= expectedLsn) at every aligned offset of
 * `buf[from, end)`, without trusting any length on the way (the bytes before may be garbage).
 */
function lookAhead(buf: Uint8Array, from: number, end: number, expectedLsn: number): LookAhead {
  const dv = view(buf);
  const out: LookAhead = { count: 0, violation: null };
  const first = (from + RECORD_ALIGN_BYTES - 1) & ~(RECORD_ALIGN_BYTES - 1);
  const magicLo = RECORD_MAGIC & 0xff;
  const magicHi = RECORD_MAGIC >>> 8;
  for (let p = first; p + RECORD_HEADER_BYTES <= end; p += RECORD_ALIGN_BYTES) {
    if (buf[p + 4] !== magicLo || buf[p + 5] !== magicHi) continue;
    // Cheap field checks before the checksum: old records of a recycled segment are valid but
    // have LSNs below the expected one, and need no CRC.
    const lsn = getU64(dv, p + 16);
    if (lsn < expectedLsn) continue;
    const r = decodeRecord(buf, dv, p, buf.length);
    if (typeof r === 'string') continue;
    out.count++;
    if (r.syncedLsn >= expectedLsn && out.violation === null) out.violation = { offset: p, lsn: r.lsn, syncedLsn: r.syncedLsn };
  }
  return out;
}

/** One segment file as the scan sees it. */
export interface SegmentSource {
  readonly name: string;
  /** The base LSN its name stands for. */
  readonly baseLsn: number;
  /** The whole file. Called at most once per scan, in order; the scan keeps at most two. */
  load(): Promise<Uint8Array>;
}

export interface ScanOutcome {
  /** Every record of the log, in LSN order (payloads are copies). */
  readonly records: WalRecord[];
  /** The LSN the next append gets. */
  readonly nextLsn: number;
  /**
   * Where appends continue: segment index, the offset after the last record, and the end of the
   * range [offset, zeroEnd) that must be zeroed (durably) before anything is appended. null when
   * no segment is usable (none, or only a damaged empty first one): start a new segment at nextLsn.
   */
  readonly tail: { readonly index: number; readonly offset: number; readonly zeroEnd: number } | null;
  /** Segments with index >= keepSegments hold nothing acknowledged and must be removed. */
  readonly keepSegments: number;
  /** Set when the end of the log was a torn write (something other than zeros or old records). */
  readonly torn: {
    readonly segment: string;
    readonly offset: number;
    readonly reason: string;
    /** Complete records of the torn group found after the tear (their appends never resolved). */
    readonly discardedRecords: number;
  } | null;
}

/**
 * Reads the segments (in ascending base LSN order) and finds the end of the log as described at
 * the top of this file. Throws WalCorruptionError on damage to acknowledged records, and changes
 * nothing itself: the caller applies `tail.zeroEnd` and `keepSegments`.
 */
export async function scanSegments(sources: readonly SegmentSource[], firstLsnIfEmpty = 1): Promise<ScanOutcome> {
  const records: WalRecord[] = [];
  if (sources.length === 0) return { records, nextLsn: firstLsnIfEmpty, tail: null, keepSegments: 0, torn: null };
  for (let i = 1; i < sources.length; i++) {
    if (sources[i]!.baseLsn <= sources[i - 1]!.baseLsn) throw new Error('scanSegments: sources must be in ascending LSN order');
  }
  let expected = sources[0]!.baseLsn;
  let prev: { index: number; offset: number; bytes: Uint8Array } | null = null;

  const corrupt = (src: SegmentSource, offset: number, what: string): never => {
    throw new WalCorruptionError(
      `WAL corruption in the middle of the log, segment ${src.name} offset ${offset}: ${what}. ` +
        `Acknowledged records would be lost, so recovery stops without changing anything; ` +
        `restore this validator's state from its peers or a backup, or inspect the file.`,
      src.name,
      offset,
      expected,
    );
  };

  // The log stops at (index, offset) of segment `bytes`; decide torn tail vs. corruption.
  const finish = async (index: number, offset: number, bytes: Uint8Array, reason: string, headerBroken: boolean): Promise<ScanOutcome> => {
    const src = sources[index]!;
    const nz = lastNonZero(bytes, offset);
    const here = lookAhead(bytes, offset, nz + 1, expected);
    if (here.violation !== null) {
      const v = here.violation;
      corrupt(src, offset, `${reason} where LSN ${expected} should be, but LSN ${v.lsn} at offset ${v.offset} was written after LSN ${v.syncedLsn} was durable`);
    }
    if (headerBroken && here.count > 0) corrupt(src, 0, `${reason}, yet the segment holds ${here.count} record(s) of this log`);
    let discarded = here.count;
    for (let j = index + 1; j < sources.length; j++) {
      const later = sources[j]!;
      const b = await later.load();
      const found = lookAhead(b, SEGMENT_HEADER_BYTES, lastNonZero(b, SEGMENT_HEADER_BYTES) + 1, expected);
      if (found.violation !== null) {
        const v = found.violation;
        corrupt(src, offset, `${reason} where LSN ${expected} should be, but segment ${later.name} holds LSN ${v.lsn} (offset ${v.offset}), written after LSN ${v.syncedLsn} was durable`);
      }
      discarded += found.count;
    }
    // Zeros or old records of a recycled segment at the stop point, and nothing of ours after it,
    // is a clean end. Anything else is a torn write: zero it all, so later appends are unambiguous.
    const atStop = offset + RECORD_HEADER_BYTES <= bytes.length ? decodeRecord(bytes, view(bytes), offset) : 'short';
    const stale = typeof atStop !== 'string' && atStop.lsn < src.baseLsn;
    const clean = discarded === 0 && sources.length === index + 1 && !headerBroken && (stale || nz < offset);
    const torn = clean ? null : { segment: src.name, offset, reason, discardedRecords: discarded };
    if (headerBroken) {
      // The damaged segment holds nothing of ours: drop it and continue after the previous one.
      const tail = prev === null ? null : { index: prev.index, offset: prev.offset, zeroEnd: lastNonZero(prev.bytes, prev.offset) + 1 };
      return { records, nextLsn: expected, tail, keepSegments: index, torn };
    }
    const zeroEnd = stale && discarded === 0 ? offset : Math.max(offset, nz + 1);
    return { records, nextLsn: expected, tail: { index, offset, zeroEnd }, keepSegments: index + 1, torn };
  };

  for (let i = 0; i < sources.length; i++) {
    const src = sources[i]!;
    const bytes = await src.load();
    const header = decodeSegmentHeader(bytes);
    if (typeof header === 'string') return finish(i, SEGMENT_HEADER_BYTES, bytes, header, true);
    if (header !== src.baseLsn) return finish(i, SEGMENT_HEADER_BYTES, bytes, `segment header says base LSN ${header}, its name ${src.baseLsn}`, true);
    if (src.baseLsn !== expected) return finish(i, SEGMENT_HEADER_BYTES, bytes, `segment starts at LSN ${src.baseLsn}, expected ${expected}`, true);
    const dv = view(bytes);
    let off = SEGMENT_HEADER_BYTES;
    let reason: string;
    for (;;) {
      const r = decodeRecord(bytes, dv, off);
      if (typeof r === 'string') {
        reason = r === 'zero' ? 'zeros' : `bad record (${r})`;
        break;
      }
      if (r.lsn === expected) {
        const start = off + RECORD_HEADER_BYTES;
        records.push({ lsn: r.lsn, type: r.type, payload: new Uint8Array(bytes.subarray(start, start + r.length)) });
        expected++;
        off += r.size;
        continue;
      }
      if (r.lsn < src.baseLsn) {
        reason = 'a record of an earlier use of this recycled segment';
        break;
      }
      corrupt(src, off, `LSN ${r.lsn} where LSN ${expected} should be`);
    }
    const next = sources[i + 1];
    if (next !== undefined && next.baseLsn === expected) {
      // A regular end of segment: the next one starts where this one stopped. Nothing of this
      // life of the log may follow in the unused end of this one.
      const rest = lookAhead(bytes, off, lastNonZero(bytes, off) + 1, expected);
      if (rest.count > 0) corrupt(src, off, `${rest.count} record(s) with LSN >= ${expected} after the end of the segment`);
      prev = { index: i, offset: off, bytes };
      continue;
    }
    return finish(i, off, bytes, reason, false);
  }
  throw new Error('unreachable: the last segment always finishes the scan');
}
