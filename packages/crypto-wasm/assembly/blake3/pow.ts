// BLAKE3 proof-of-work search under the rule of packages/core-ts/src/crypto/pow.ts:
//   candidate = header with its last 8 bytes = nonce (u64 LE); wins when BLAKE3(candidate),
//   read big-endian, <= target; the search returns the LOWEST winner of the range.
//
// Headers of one chunk (<= 1024 bytes) use a midstate: the blocks before the first block that
// holds a nonce byte are compressed once; per candidate only the last one or two blocks are
// compressed, four consecutive nonces in the lanes of v128. A first-word filter (SIMD compare of
// the byte-swapped first hash word against the target's) keeps the exact check off the common
// path; the exact check walks lanes in nonce order, so the first hit is the lowest nonce.
// Longer headers hash every candidate in full (correct, not fast: PoW headers are short).

import { compress, compress4 } from './compress';
import { CHUNK_END, CHUNK_START, H4, IV_PTR, M4, ROOT, copy32, hashInto, loadBlocks4, splatCv4, vec4 } from './hash';

const MID: usize = memory.data(32, 16);
/** Per-lane copies of the tail (the blocks holding the nonce): 4 x 128 bytes. */
const TAIL: usize = memory.data(4 * 128, 16);
/** Splatted message words of the (up to two) tail blocks for the aligned fast path. */
const MSG2: usize = memory.data(512, 16);
const HASH_TMP: usize = memory.data(32, 16);
const ZERO4: v128 = i8x16.splat(0);

@inline function bswap4(x: v128): v128 {
  return v128.shuffle<u8>(x, x, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
}

/** hash (8 LE words at h, word stride `stride`) <= target, both read as 32 big-endian bytes. */
@inline function meets(h: usize, stride: usize, target: usize): bool {
  for (let k: usize = 0; k < 8; k++) {
    const a = bswap<u32>(load<u32>(h + k * stride));
    const b = bswap<u32>(load<u32>(target + (k << 2)));
    if (a != b) return a < b;
  }
  return true;
}

function writeResult(out: usize, nonce: u64, h: usize, stride: usize): void {
  store<u64>(out, nonce);
  for (let k: usize = 0; k < 8; k++) store<u32>(out + 8 + (k << 2), load<u32>(h + k * stride));
}

/**
 * Search [nonceStart, nonceStart + count) (the caller checked it stays within u64). The header
 * region is scratch: its last 8 bytes are overwritten. On a hit writes nonce (u64 LE) and hash
 * (32 bytes) to out and returns 1; otherwise 0.
 */
export function powSearch(header: usize, len: u32, target: usize, nonceStart: u64, count: u64, out: usize): i32 {
  if (len > 1024) return powSearchLong(header, len, target, nonceStart, count, out);
  const b0: u32 = (len - 8) >> 6;
  const blocks: u32 = len <= 64 ? 1 : (len + 63) >> 6;
  const tailBlocks = blocks - b0;
  const lastLen = len - ((blocks - 1) << 6);
  const nonceOff: usize = len - 8 - (b0 << 6);

  copy32(MID, IV_PTR);
  for (let b: u32 = 0; b < b0; b++) compress(MID, header + (<usize>b << 6), 0, 64, b == 0 ? CHUNK_START : 0, MID);
  const firstFlags: u32 = b0 == 0 ? CHUNK_START : 0;
  for (let k: usize = 0; k < 4; k++) {
    const t = TAIL + (k << 7);
    for (let i: usize = 0; i < 128; i += 16) v128.store(t + i, ZERO4);
    memory.copy(t, header + (<usize>b0 << 6), len - (b0 << 6));
  }
  const t0 = i32x4.splat(bswap<u32>(load<u32>(target)));
  const flagsOne = i32x4.splat(firstFlags | CHUNK_END | ROOT);
  const flagsFirst = i32x4.splat(firstFlags);
  const flagsLast = i32x4.splat(CHUNK_END | ROOT);
  const lenLast = i32x4.splat(lastLen);
  const len64 = i32x4.splat(64);

  let nonce = nonceStart;
  let left = count;
  if ((nonceOff & 3) == 0) {
    // Fast path: the nonce is two whole message words. The message vectors are splatted once;
    // per batch only the two nonce vectors are rewritten (no per-lane copies, no transposition).
    for (let w: usize = 0; w < 32; w++) v128.store(MSG2 + (w << 4), v128.load32_splat(TAIL + (w << 2)));
    const loAt = MSG2 + (nonceOff << 2);
    const hiAt = loAt + 16;
    while (left > 0) {
      const n1 = nonce + 1, n2 = nonce + 2, n3 = nonce + 3;
      v128.store(loAt, vec4(<u32>nonce, <u32>n1, <u32>n2, <u32>n3));
      v128.store(hiAt, vec4(<u32>(nonce >>> 32), <u32>(n1 >>> 32), <u32>(n2 >>> 32), <u32>(n3 >>> 32)));
      splatCv4(MID);
      if (tailBlocks == 1) {
        compress4(H4, MSG2, ZERO4, ZERO4, lenLast, flagsOne);
      } else {
        compress4(H4, MSG2, ZERO4, ZERO4, len64, flagsFirst);
        compress4(H4, MSG2 + 256, ZERO4, ZERO4, lenLast, flagsLast);
      }
      const lanes: u64 = left < 4 ? left : 4;
      if (v128.any_true(i32x4.le_u(bswap4(v128.load(H4)), t0))) {
        for (let k: u32 = 0; k < <u32>lanes; k++) {
          if (meets(H4 + (<usize>k << 2), 16, target)) {
            writeResult(out, nonce + k, H4 + (<usize>k << 2), 16);
            return 1;
          }
        }
      }
      nonce += 4;
      left -= lanes;
    }
    return 0;
  }
  while (left > 0) {
    store<u64>(TAIL + nonceOff, nonce);
    store<u64>(TAIL + 128 + nonceOff, nonce + 1);
    store<u64>(TAIL + 256 + nonceOff, nonce + 2);
    store<u64>(TAIL + 384 + nonceOff, nonce + 3);
    splatCv4(MID);
    loadBlocks4(TAIL, TAIL + 128, TAIL + 256, TAIL + 384);
    if (tailBlocks == 1) {
      compress4(H4, M4, ZERO4, ZERO4, lenLast, flagsOne);
    } else {
      compress4(H4, M4, ZERO4, ZERO4, len64, flagsFirst);
      loadBlocks4(TAIL + 64, TAIL + 192, TAIL + 320, TAIL + 448);
      compress4(H4, M4, ZERO4, ZERO4, lenLast, flagsLast);
    }
    const lanes: u64 = left < 4 ? left : 4;
    if (v128.any_true(i32x4.le_u(bswap4(v128.load(H4)), t0))) {
      for (let k: u32 = 0; k < <u32>lanes; k++) {
        if (meets(H4 + (<usize>k << 2), 16, target)) {
          writeResult(out, nonce + k, H4 + (<usize>k << 2), 16);
          return 1;
        }
      }
    }
    nonce += 4;
    left -= lanes;
  }
  return 0;
}

function powSearchLong(header: usize, len: u32, target: usize, nonceStart: u64, count: u64, out: usize): i32 {
  const at = header + len - 8;
  for (let i: u64 = 0; i < count; i++) {
    store<u64>(at, nonceStart + i);
    hashInto(header, len, IV_PTR, 0, HASH_TMP);
    if (meets(HASH_TMP, 4, target)) {
      writeResult(out, nonceStart + i, HASH_TMP, 4);
      return 1;
    }
  }
  return 0;
}
