// The Merkle tree rule, written once. Every backend must produce the same root and proofs.
//
//   leafHash(x)   = BLAKE3(0x00 || x)
//   nodeHash(l,r) = BLAKE3(0x01 || l || r)
//   Level by level, pairs (0,1), (2,3), ... are combined; an odd last node is promoted to the
//   next level unchanged (never paired with itself). The root of one leaf is its leafHash; the
//   root of zero leaves is BLAKE3 of the empty string.
//
// Promotion instead of duplication means [a,b,c] and [a,b,c,c] have different roots, and the
// prefixes make a leaf unable to pose as an inner node. The shape equals RFC 6962's (split at the
// largest power of two below n), computed bottom-up so levels can be hashed in parallel.

import { blake3 } from '@noble/hashes/blake3.js';
import { assertBytes, assertCount } from './args.js';
import type { MerkleProof } from './backend.js';

export const MERKLE_LEAF_PREFIX = 0x00;
export const MERKLE_NODE_PREFIX = 0x01;

export type NodeHasher = (left: Uint8Array, right: Uint8Array) => Uint8Array;

/** Root from already-hashed leaves (each 32 bytes). */
export function merkleRootFromHashes(level: Uint8Array[], node: NodeHasher): Uint8Array {
  if (level.length === 0) return blake3(new Uint8Array(0));
  let cur = level;
  while (cur.length > 1) {
    const next: Uint8Array[] = new Array(Math.ceil(cur.length / 2));
    for (let i = 0; i + 1 < cur.length; i += 2) next[i >> 1] = node(cur[i]!, cur[i + 1]!);
    if (cur.length & 1) next[next.length - 1] = cur[cur.length - 1]!;
    cur = next;
  }
  return cur[0]!;
}

/** Proof from already-hashed leaves. */
export function merkleProofFromHashes(level: Uint8Array[], index: number, node: NodeHasher): MerkleProof {
  const leafCount = level.length;
  if (index >= leafCount) throw new RangeError(`index must be < leaves.length (${leafCount}), got ${index}`);
  const siblings: Uint8Array[] = [];
  let cur = level;
  let i = index;
  while (cur.length > 1) {
    const sib = i ^ 1;
    if (sib < cur.length) siblings.push(cur[sib]!);
    const next: Uint8Array[] = new Array(Math.ceil(cur.length / 2));
    for (let j = 0; j + 1 < cur.length; j += 2) next[j >> 1] = node(cur[j]!, cur[j + 1]!);
    if (cur.length & 1) next[next.length - 1] = cur[cur.length - 1]!;
    cur = next;
    i >>= 1;
  }
  return { index, leafCount, siblings };
}

export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  const buf = new Uint8Array(leaf.length + 1);
  buf[0] = MERKLE_LEAF_PREFIX;
  buf.set(leaf, 1);
  return blake3(buf);
}

export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(65);
  buf[0] = MERKLE_NODE_PREFIX;
  buf.set(left, 1);
  buf.set(right, 33);
  return blake3(buf);
}

/**
 * Checks that `leaf` is at `proof.index` of a tree of `proof.leafCount` leaves with this root.
 * Never throws on a malformed proof: it is false.
 */
export function verifyMerkleProof(root: Uint8Array, leaf: Uint8Array, proof: MerkleProof): boolean {
  assertBytes('root', root, 32);
  assertBytes('leaf', leaf);
  if (proof === null || typeof proof !== 'object') return false;
  const { index, leafCount, siblings } = proof;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(leafCount)) return false;
  if (index < 0 || leafCount <= 0 || index >= leafCount || !Array.isArray(siblings)) return false;
  let h = merkleLeafHash(leaf);
  let i = index;
  let n = leafCount;
  let used = 0;
  while (n > 1) {
    const sib = i ^ 1;
    if (sib < n) {
      const s = siblings[used++];
      if (!(s instanceof Uint8Array) || s.length !== 32) return false;
      h = (i & 1) === 0 ? merkleNodeHash(h, s) : merkleNodeHash(s, h);
    }
    i >>= 1;
    n = (n + 1) >> 1;
  }
  if (used !== siblings.length) return false;
  return equalBytes(h, root);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function checkMerkleArgs(leaves: unknown, index?: unknown): void {
  if (!Array.isArray(leaves)) throw new TypeError('leaves must be an array of Uint8Array');
  for (let i = 0; i < leaves.length; i++) assertBytes(`leaves[${i}]`, leaves[i]);
  if (index !== undefined) assertCount('index', index);
}
