// BLAKE3 over linear memory: chunk state, the tree (subtrees hashed wide, 4 chunks or 4 parents
// per v128), keyed mode, and batched hashing of many short messages.
//
// Memory contract (the JS side keeps it): every input region handed in has at least 64 readable
// bytes after its end and 16 before its start (masked v128 loads may touch them; their values
// never reach a result). Nothing here allocates: scratch lives in static data segments, so one
// instance must not be re-entered (one instance per worker; wasm calls never interleave).

import { compress, compress4 } from './compress';

export const BLOCK_LEN: u32 = 64;
export const CHUNK_LEN: u32 = 1024;
export const CHUNK_START: u32 = 1;
export const CHUNK_END: u32 = 2;
export const PARENT: u32 = 4;
export const ROOT: u32 = 8;
export const KEYED_HASH: u32 = 16;

/** The IV, which is also the "key" of unkeyed hashing. */
export const IV_PTR: usize = memory.data<u32>([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
], 16);

/** Transposed chaining values of 4 lanes (8 x v128) and message words (16 x v128). */
export const H4: usize = memory.data(128, 16);
export const M4: usize = memory.data(256, 16);
/** A zero-padded last block for the scalar path. */
const LAST_BLOCK: usize = memory.data(64 + 64, 16);
const CV_TMP: usize = memory.data(32, 16);
/** Landing place for the outputs of unused lanes. */
const DUMMY_OUT: usize = memory.data(32 * 4, 16);
/**
 * Chaining values of the subtree recursion: 8 CVs (256 bytes) per level. Inputs below 4 GiB
 * (what wasm32 can address) need at most 23 levels.
 */
const SUBTREE_DEPTH_MAX: usize = 40;
const SUBTREE_CVS: usize = memory.data(<i32>(SUBTREE_DEPTH_MAX * 256), 16);
/**
 * Single-chunk messages waiting for a 4-lane batch, one queue per block count (1..16): entries
 * of (pointer, length, output pointer), and the fill of each queue.
 */
const PENDING: usize = memory.data(16 * 4 * 12, 16);
const QUEUE_FILL: usize = memory.data(16 * 4, 16);

const ZERO4: v128 = i8x16.splat(0);

@inline export function copy32(dst: usize, src: usize): void {
  v128.store(dst, v128.load(src));
  v128.store(dst, v128.load(src, 16), 16);
}

/**
 * 4x4 transpose of 32-bit words: rows a, b, c, d in, columns out, column k stored at dk.
 * The shuffle patterns are interleave-low/high of 32- and 64-bit lanes, which engines map to
 * single unpack instructions.
 */
@inline function transposeStore(a: v128, b: v128, c: v128, d: v128, d0: usize, d1: usize, d2: usize, d3: usize): void {
  const t0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(a, b, 2, 6, 3, 7);
  const t2 = v128.shuffle<i32>(c, d, 0, 4, 1, 5);
  const t3 = v128.shuffle<i32>(c, d, 2, 6, 3, 7);
  v128.store(d0, v128.shuffle<i64>(t0, t2, 0, 2));
  v128.store(d1, v128.shuffle<i64>(t0, t2, 1, 3));
  v128.store(d2, v128.shuffle<i64>(t1, t3, 0, 2));
  v128.store(d3, v128.shuffle<i64>(t1, t3, 1, 3));
}

/** One 64-byte block of each of four inputs into M4, transposed. */
@inline export function loadBlocks4(p0: usize, p1: usize, p2: usize, p3: usize): void {
  for (let g: usize = 0; g < 4; g++) {
    const o = g << 4;
    transposeStore(
      v128.load(p0 + o), v128.load(p1 + o), v128.load(p2 + o), v128.load(p3 + o),
      M4 + (o << 2), M4 + (o << 2) + 16, M4 + (o << 2) + 32, M4 + (o << 2) + 48,
    );
  }
}

/** The four chaining values in H4 out to o0..o3 (32 bytes each). */
@inline export function storeCvs4(o0: usize, o1: usize, o2: usize, o3: usize): void {
  transposeStore(v128.load(H4), v128.load(H4, 16), v128.load(H4, 32), v128.load(H4, 48), o0, o1, o2, o3);
  transposeStore(v128.load(H4, 64), v128.load(H4, 80), v128.load(H4, 96), v128.load(H4, 112), o0 + 16, o1 + 16, o2 + 16, o3 + 16);
}

/** Every lane of H4 starts from the same 8-word chaining value at cv. */
@inline export function splatCv4(cv: usize): void {
  for (let i: usize = 0; i < 8; i++) v128.store(H4 + (i << 4), v128.load32_splat(cv + (i << 2)));
}

/** A vector of four run-time words (the i32x4(...) literal takes constants only). */
@inline export function vec4(a: u32, b: u32, c: u32, d: u32): v128 {
  return i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(a), 1, b), 2, c), 3, d);
}

const IOTA: v128 = i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

/** 16 bytes at p + 16g with every byte at or past `len` (counted from p) zeroed. */
@inline function maskedLoad(p: usize, g: u32, len: u32): v128 {
  const start = g << 4;
  const keep = len <= start ? 0 : min(len - start, 16);
  return v128.and(v128.load(p + start), i8x16.lt_u(IOTA, i8x16.splat(<i8>keep)));
}

/** Hash of one chunk (or the whole input when it is a single chunk), len <= 1024. */
export function hashChunk(input: usize, len: u32, key: usize, counter: u64, flags: u32, root: bool, out: usize): void {
  copy32(out, key);
  const blocks: u32 = len == 0 ? 1 : (len + 63) >> 6;
  let start = CHUNK_START;
  for (let b: u32 = 0; b + 1 < blocks; b++) {
    compress(out, input + (<usize>b << 6), counter, 64, flags | start, out);
    start = 0;
  }
  const lastOff: u32 = (blocks - 1) << 6;
  const lastLen = len - lastOff;
  const p = input + lastOff;
  for (let g: u32 = 0; g < 4; g++) v128.store(LAST_BLOCK + (g << 4), maskedLoad(p, g, lastLen));
  compress(out, LAST_BLOCK, counter, lastLen, flags | start | CHUNK_END | (root ? ROOT : 0), out);
}

/**
 * Four inputs at input + k*stride, each `blocks` full blocks, hashed in the lanes of v128.
 * Lane k gets counter + k when incrementCounter. Outputs land at out + 32k.
 */
function hashMany4(
  input: usize, stride: usize, blocks: u32, key: usize, counter: u64, incrementCounter: bool,
  flags: u32, flagsStart: u32, flagsEnd: u32, out: usize,
): void {
  splatCv4(key);
  const d: u64 = incrementCounter ? 1 : 0;
  const c1 = counter + d, c2 = counter + 2 * d, c3 = counter + 3 * d;
  const lo = vec4(<u32>counter, <u32>c1, <u32>c2, <u32>c3);
  const hi = vec4(<u32>(counter >>> 32), <u32>(c1 >>> 32), <u32>(c2 >>> 32), <u32>(c3 >>> 32));
  const len = i32x4.splat(64);
  const p1 = input + stride, p2 = p1 + stride, p3 = p2 + stride;
  for (let b: u32 = 0; b < blocks; b++) {
    const o = <usize>b << 6;
    loadBlocks4(input + o, p1 + o, p2 + o, p3 + o);
    let f = flags;
    if (b == 0) f |= flagsStart;
    if (b + 1 == blocks) f |= flagsEnd;
    compress4(H4, M4, lo, hi, len, i32x4.splat(f));
  }
  storeCvs4(out, out + 32, out + 64, out + 96);
}

/** One input of `blocks` full blocks, scalar. */
function hashOne(input: usize, blocks: u32, key: usize, counter: u64, flags: u32, flagsStart: u32, flagsEnd: u32, out: usize): void {
  // The CV is kept in CV_TMP, not out: parents are reduced in place, so out may overlap input.
  copy32(CV_TMP, key);
  for (let b: u32 = 0; b < blocks; b++) {
    let f = flags;
    if (b == 0) f |= flagsStart;
    if (b + 1 == blocks) f |= flagsEnd;
    compress(CV_TMP, input + (<usize>b << 6), counter, 64, f, CV_TMP);
  }
  copy32(out, CV_TMP);
}

/** The reference hash_many: n inputs at a stride, 4 at a time, the rest scalar. */
function hashMany(
  input: usize, stride: usize, n: u32, blocks: u32, key: usize, counter: u64, incrementCounter: bool,
  flags: u32, flagsStart: u32, flagsEnd: u32, out: usize,
): void {
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    hashMany4(input + <usize>i * stride, stride, blocks, key, counter, incrementCounter, flags, flagsStart, flagsEnd, out + (<usize>i << 5));
    if (incrementCounter) counter += 4;
  }
  for (; i < n; i++) {
    hashOne(input + <usize>i * stride, blocks, key, counter, flags, flagsStart, flagsEnd, out + (<usize>i << 5));
    if (incrementCounter) counter += 1;
  }
}

/** Full chunks 4-wide plus a trailing partial chunk; returns the number of CVs written. */
function compressChunksParallel(input: usize, len: usize, key: usize, counter: u64, flags: u32, out: usize): u32 {
  const full = <u32>(len >> 10);
  hashMany(input, CHUNK_LEN, full, CHUNK_LEN / BLOCK_LEN, key, counter, true, flags, CHUNK_START, CHUNK_END, out);
  const rest = <u32>(len - (<usize>full << 10));
  if (rest == 0) return full;
  hashChunk(input + (<usize>full << 10), rest, key, counter + full, flags, false, out + (<usize>full << 5));
  return full + 1;
}

/** Pairs of CVs to parent CVs (4-wide); an odd last CV is passed through. Safe in place. */
function compressParentsParallel(cvs: usize, n: u32, key: usize, flags: u32, out: usize): u32 {
  const pairs = n >> 1;
  hashMany(cvs, 64, pairs, 1, key, 0, false, flags | PARENT, 0, 0, out);
  if (n & 1) copy32(out + (<usize>pairs << 5), cvs + (<usize>(n - 1) << 5));
  return pairs + (n & 1);
}

/** Bytes in the left subtree: the largest power-of-two number of chunks that leaves >= 1 byte. */
@inline function leftLen(len: usize): usize {
  const fullChunks = (len - 1) >> 10;
  return (<usize>1 << (31 - clz<u32>(<u32>fullChunks))) << 10;
}

/**
 * The reference compress_subtree_wide: CVs of a subtree, partly reduced so that at most 4 (or 2)
 * remain, written to out; returns their number. The left part is always a power of two chunks,
 * so pairing the concatenated child CVs never pairs across the split.
 */
function compressSubtreeWide(input: usize, len: usize, key: usize, counter: u64, flags: u32, out: usize, depth: usize): u32 {
  if (len <= 4 * CHUNK_LEN) return compressChunksParallel(input, len, key, counter, flags, out);
  const l = leftLen(len);
  const cvs = SUBTREE_CVS + depth * 256;
  const nl = compressSubtreeWide(input, l, key, counter, flags, cvs, depth + 1);
  const nr = compressSubtreeWide(input + l, len - l, key, counter + (l >> 10), flags, cvs + (<usize>nl << 5), depth + 1);
  return compressParentsParallel(cvs, nl + nr, key, flags, out);
}

/** BLAKE3 of input[0..len) with the 8-word key at `key` (IV_PTR when unkeyed), 32 bytes to out. */
export function hashInto(input: usize, len: usize, key: usize, flags: u32, out: usize): void {
  if (len <= CHUNK_LEN) {
    hashChunk(input, <u32>len, key, 0, flags, true, out);
    return;
  }
  const cvs = SUBTREE_CVS;
  let n = compressSubtreeWide(input, len, key, 0, flags, cvs, 1);
  while (n > 2) n = compressParentsParallel(cvs, n, key, flags, cvs);
  compress(key, cvs, 0, 64, flags | PARENT | ROOT, out);
}

/**
 * Up to four single-chunk messages with the same block count (queue `q` of PENDING) in the lanes
 * of v128: full blocks load straight from the messages, the last block is masked per lane (its
 * length may differ). Unused lanes repeat lane 0 and write to DUMMY_OUT.
 */
function flushQueue(q: usize, blocks: u32, count: u32, key: usize, flags: u32): void {
  for (let k: u32 = count; k < 4; k++) {
    store<u32>(q + k * 12, load<u32>(q));
    store<u32>(q + k * 12 + 4, load<u32>(q + 4));
    store<u32>(q + k * 12 + 8, <u32>(DUMMY_OUT + (k << 5)));
  }
  const p0 = <usize>load<u32>(q), l0 = load<u32>(q, 4);
  const p1 = <usize>load<u32>(q, 12), l1 = load<u32>(q, 16);
  const p2 = <usize>load<u32>(q, 24), l2 = load<u32>(q, 28);
  const p3 = <usize>load<u32>(q, 36), l3 = load<u32>(q, 40);
  splatCv4(key);
  const len64 = i32x4.splat(64);
  let start = CHUNK_START;
  for (let b: u32 = 0; b + 1 < blocks; b++) {
    const o = <usize>b << 6;
    loadBlocks4(p0 + o, p1 + o, p2 + o, p3 + o);
    compress4(H4, M4, ZERO4, ZERO4, len64, i32x4.splat(flags | start));
    start = 0;
  }
  const lastOff: u32 = (blocks - 1) << 6;
  const o = <usize>lastOff;
  for (let g: u32 = 0; g < 4; g++) {
    const m = <usize>g << 6;
    transposeStore(
      maskedLoad(p0 + o, g, l0 - lastOff), maskedLoad(p1 + o, g, l1 - lastOff),
      maskedLoad(p2 + o, g, l2 - lastOff), maskedLoad(p3 + o, g, l3 - lastOff),
      M4 + m, M4 + m + 16, M4 + m + 32, M4 + m + 48,
    );
  }
  const lens = vec4(l0 - lastOff, l1 - lastOff, l2 - lastOff, l3 - lastOff);
  compress4(H4, M4, ZERO4, ZERO4, lens, i32x4.splat(flags | start | CHUNK_END | ROOT));
  storeCvs4(<usize>load<u32>(q, 8), <usize>load<u32>(q, 20), <usize>load<u32>(q, 32), <usize>load<u32>(q, 44));
}

/**
 * n messages packed at data with n + 1 u32 offsets (checked by the caller: non-decreasing,
 * within the data); hash i to out + 32i. Single-chunk messages (<= 1024 bytes) wait in one
 * queue per block count and go four to a v128 compression; longer ones are hashed on their own.
 */
export function hashManyPacked(data: usize, offsets: usize, n: u32, key: usize, flags: u32, out: usize): void {
  for (let b: usize = 0; b < 16; b++) store<u32>(QUEUE_FILL + (b << 2), 0);
  let start = load<u32>(offsets);
  for (let i: u32 = 0; i < n; i++) {
    const end = load<u32>(offsets + ((<usize>i + 1) << 2));
    const len = end - start;
    const p = data + start;
    const o = out + (<usize>i << 5);
    if (len <= CHUNK_LEN) {
      const bi: usize = len == 0 ? 0 : (len - 1) >> 6;
      const q = PENDING + bi * 48;
      const fill = load<u32>(QUEUE_FILL + (bi << 2));
      const e = q + fill * 12;
      store<u32>(e, <u32>p);
      store<u32>(e, len, 4);
      store<u32>(e, <u32>o, 8);
      if (fill == 3) {
        flushQueue(q, <u32>bi + 1, 4, key, flags);
        store<u32>(QUEUE_FILL + (bi << 2), 0);
      } else {
        store<u32>(QUEUE_FILL + (bi << 2), fill + 1);
      }
    } else {
      hashInto(p, len, key, flags, o);
    }
    start = end;
  }
  for (let bi: usize = 0; bi < 16; bi++) {
    const fill = load<u32>(QUEUE_FILL + (bi << 2));
    const q = PENDING + bi * 48;
    if (fill == 1) hashChunk(<usize>load<u32>(q), load<u32>(q, 4), key, 0, flags, true, <usize>load<u32>(q, 8));
    else if (fill > 1) flushQueue(q, <u32>bi + 1, fill, key, flags);
  }
}

/**
 * The (non-root) chaining value of the subtree input[0..len) whose first chunk is number
 * `counter`, for hashing an input in segments: the caller cuts the input at multiples of a
 * power-of-two number of chunks, so every segment is a whole subtree of the BLAKE3 tree.
 */
export function subtreeCv(input: usize, len: usize, key: usize, counter: u64, flags: u32, out: usize): void {
  if (len <= CHUNK_LEN) {
    hashChunk(input, <u32>len, key, counter, flags, false, out);
    return;
  }
  const cvs = SUBTREE_CVS;
  let n = compressSubtreeWide(input, len, key, counter, flags, cvs, 1);
  while (n > 1) n = compressParentsParallel(cvs, n, key, flags, cvs);
  copy32(out, cvs);
}

/** Parent CV of the 64 bytes left || right at cvs (root: the final output). */
export function parentCv(cvs: usize, key: usize, flags: u32, root: bool, out: usize): void {
  compress(key, cvs, 0, 64, flags | PARENT | (root ? ROOT : 0), out);
}
