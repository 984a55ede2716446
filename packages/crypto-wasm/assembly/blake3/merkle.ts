// The Merkle rule of packages/core-ts/src/crypto/merkle.ts, inside wasm:
//   leaf = BLAKE3(0x00 || x), node = BLAKE3(0x01 || l || r), an odd last node is promoted,
//   the root of zero leaves is BLAKE3("").
// The JS side packs each leaf with its 0x00 prefix already in place, so the leaf level is one
// hashManyPacked call (leaves up to 63 bytes go four to a compression). Each level is reduced in
// place in the `level` buffer; nodes are hashed four per v128 (two compressions: 64 + 1 bytes).

import { compress4 } from './compress';
import {
  CHUNK_END, CHUNK_START, H4, IV_PTR, M4, ROOT,
  copy32, hashInto, hashManyPacked, loadBlocks4, splatCv4, storeCvs4, vec4,
} from './hash';

/** 0x01 || l || r for the scalar path (65 bytes, 64 readable after). */
const NODE_BUF: usize = memory.data(16 + 65 + 64, 16) + 16;
const NODE_STAGE: usize = memory.data(4 * 64, 16);
const ZERO4: v128 = i8x16.splat(0);

/** Four nodes: pairs at level + 64k (k = 0..3) to parents at out + 32k. Safe in place (out <= level). */
function node4(pairs: usize, out: usize): void {
  // Block 1 of lane k is 0x01 followed by the first 63 bytes of the pair: stage it, so the
  // transposed load reads aligned, self-contained blocks (the level is rewritten in place).
  for (let k: usize = 0; k < 4; k++) {
    const p = pairs + (k << 6);
    const s = NODE_STAGE + (k << 6);
    v128.store(s, i8x16.replace_lane(v128.load(p - 1), 0, 1));
    v128.store(s, v128.load(p, 15), 16);
    v128.store(s, v128.load(p, 31), 32);
    v128.store(s, v128.load(p, 47), 48);
  }
  const last = vec4(load<u8>(pairs, 63), load<u8>(pairs, 127), load<u8>(pairs, 191), load<u8>(pairs, 255));
  loadBlocks4(NODE_STAGE, NODE_STAGE + 64, NODE_STAGE + 128, NODE_STAGE + 192);
  splatCv4(IV_PTR);
  compress4(H4, M4, ZERO4, ZERO4, i32x4.splat(64), i32x4.splat(CHUNK_START));
  v128.store(M4, last);
  for (let i: usize = 1; i < 16; i++) v128.store(M4 + (i << 4), ZERO4);
  compress4(H4, M4, ZERO4, ZERO4, i32x4.splat(1), i32x4.splat(CHUNK_END | ROOT));
  storeCvs4(out, out + 32, out + 64, out + 96);
}

/** One level up, in place: n hashes at level -> ceil(n/2) hashes at level; returns the count. */
function reduceLevel(level: usize, n: u32): u32 {
  const pairs = n >> 1;
  let i: u32 = 0;
  for (; i + 4 <= pairs; i += 4) node4(level + (<usize>i << 6), level + (<usize>i << 5));
  for (; i < pairs; i++) {
    store<u8>(NODE_BUF, 1);
    memory.copy(NODE_BUF + 1, level + (<usize>i << 6), 64);
    hashInto(NODE_BUF, 65, IV_PTR, 0, level + (<usize>i << 5));
  }
  if (n & 1) copy32(level + (<usize>pairs << 5), level + (<usize>(n - 1) << 5));
  return pairs + (n & 1);
}

/** Root of n prefixed leaves (packed at data/offsets); level: n * 32 bytes of scratch. */
export function merkleRoot(data: usize, offsets: usize, n: u32, level: usize, out: usize): void {
  if (n == 0) {
    hashInto(data, 0, IV_PTR, 0, out);
    return;
  }
  hashManyPacked(data, offsets, n, IV_PTR, 0, level);
  while (n > 1) n = reduceLevel(level, n);
  copy32(out, level);
}

/** Siblings (bottom-up) of leaf `index` to sibOut, 32 bytes each; returns their number. */
export function merkleProof(data: usize, offsets: usize, n: u32, index: u32, level: usize, sibOut: usize): u32 {
  hashManyPacked(data, offsets, n, IV_PTR, 0, level);
  let count: u32 = 0;
  let i = index;
  while (n > 1) {
    const sib = i ^ 1;
    if (sib < n) {
      copy32(sibOut + (<usize>count << 5), level + (<usize>sib << 5));
      count++;
    }
    n = reduceLevel(level, n);
    i >>= 1;
  }
  return count;
}
