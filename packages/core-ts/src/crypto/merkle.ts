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
import { unpackHashes, type MerkleProof, type PackedMessages } from './backend.js';

export const MERKLE_LEAF_PREFIX = 0x00;
export const MERKLE_NODE_PREFIX = 0x01;

export type NodeHasher = (left: Uint8Array, right: Uint8Array) => Uint8Array;

/** Every level of the tree, leaves first, root last (a single level for one leaf). */
export function merkleLevels(hashes: Uint8Array[], node: NodeHasher): Uint8Array[][] {
  const levels = [hashes];
  let cur = hashes;
  while (cur.length > 1) {
    const next: Uint8Array[] = new Array(Math.ceil(cur.length / 2));
    for (let i = 0; i + 1 < cur.length; i += 2) next[i >> 1] = node(cur[i]!, cur[i + 1]!);
    if (cur.length & 1) next[next.length - 1] = cur[cur.length - 1]!;
    levels.push(next);
    cur = next;
  }
  return levels;
}

/**
 * merkleLevels over raw leaves with a batch BLAKE3 (one call per level instead of one per node:
 * the win when every call crosses into WASM or native code).
 */
export function merkleLevelsBatched(leaves: readonly Uint8Array[], many: (messages: Uint8Array[]) => Uint8Array[]): Uint8Array[][] {
  let cur = many(leaves.map((x) => prefixed(MERKLE_LEAF_PREFIX, x)));
  const levels = [cur];
  while (cur.length > 1) {
    const inputs: Uint8Array[] = new Array(cur.length >> 1);
    for (let i = 0; i + 1 < cur.length; i += 2) inputs[i >> 1] = nodeInput(cur[i]!, cur[i + 1]!);
    const next = many(inputs);
    if (cur.length & 1) next.push(cur[cur.length - 1]!);
    levels.push(next);
    cur = next;
  }
  return levels;
}

/**
 * merkleLevelsBatched over a packed batch BLAKE3: each level's inputs are written straight into
 * one buffer (no per-node arrays, no packing copy), and each level's hashes are views into the
 * one buffer the backend returned.
 */
export function merkleLevelsPacked(leaves: readonly Uint8Array[], manyPacked: (messages: PackedMessages) => Uint8Array): Uint8Array[][] {
  const offsets = new Uint32Array(leaves.length + 1);
  let total = 0;
  for (let i = 0; i < leaves.length; i++) offsets[i + 1] = total += leaves[i]!.length + 1;
  const data = new Uint8Array(total);
  for (let i = 0; i < leaves.length; i++) {
    data[offsets[i]!] = MERKLE_LEAF_PREFIX;
    data.set(leaves[i]!, offsets[i]! + 1);
  }
  let cur = unpackHashes(manyPacked({ data, offsets }), leaves.length);
  const levels = [cur];
  while (cur.length > 1) {
    const pairs = cur.length >> 1;
    const inputs = new Uint8Array(pairs * 65);
    const at = new Uint32Array(pairs + 1);
    for (let p = 0; p < pairs; p++) {
      const o = p * 65;
      inputs[o] = MERKLE_NODE_PREFIX;
      inputs.set(cur[2 * p]!, o + 1);
      inputs.set(cur[2 * p + 1]!, o + 33);
      at[p + 1] = o + 65;
    }
    const next = unpackHashes(manyPacked({ data: inputs, offsets: at }), pairs);
    if (cur.length & 1) next.push(cur[cur.length - 1]!);
    levels.push(next);
    cur = next;
  }
  return levels;
}

/** Proof for leaf `index` from prebuilt levels (one tree, many proofs). */
export function merkleProofFromLevels(levels: Uint8Array[][], index: number): MerkleProof {
  const leafCount = levels[0]!.length;
  if (index >= leafCount) throw new RangeError(`index must be < leaves.length (${leafCount}), got ${index}`);
  const siblings: Uint8Array[] = [];
  let i = index;
  for (let l = 0; l + 1 < levels.length; l++) {
    const sib = i ^ 1;
    if (sib < levels[l]!.length) siblings.push(levels[l]![sib]!);
    i >>= 1;
  }
  return { index, leafCount, siblings };
}

/** Root from already-hashed leaves (each 32 bytes). */
export function merkleRootFromHashes(level: Uint8Array[], node: NodeHasher): Uint8Array {
  if (level.length === 0) return blake3(new Uint8Array(0));
  const levels = merkleLevels(level, node);
  return levels[levels.length - 1]![0]!;
}

/** Proof from already-hashed leaves. */
export function merkleProofFromHashes(level: Uint8Array[], index: number, node: NodeHasher): MerkleProof {
  if (index >= level.length) throw new RangeError(`index must be < leaves.length (${level.length}), got ${index}`);
  return merkleProofFromLevels(merkleLevels(level, node), index);
}

export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  return blake3(prefixed(MERKLE_LEAF_PREFIX, leaf));
}

export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return blake3(nodeInput(left, right));
}

/**
 * Checks that `leaf` is at `proof.index` of a tree of `proof.leafCount` leaves with this root.
 * Never throws on a malformed proof: it is false.
 */
export function verifyMerkleProof(root: Uint8Array, leaf: Uint8Array, proof: MerkleProof): boolean {
  return verifyMerkleProofWith(blake3, root, leaf, proof);
}

/** verifyMerkleProof with the BLAKE3 of the caller's choice (e.g. a faster backend's). */
export function verifyMerkleProofWith(hash: (bytes: Uint8Array) => Uint8Array, root: Uint8Array, leaf: Uint8Array, proof: MerkleProof): boolean {
  assertBytes('root', root, 32);
  assertBytes('leaf', leaf);
  if (proof === null || typeof proof !== 'object') return false;
  const { index, leafCount, siblings } = proof;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(leafCount)) return false;
  if (index < 0 || leafCount <= 0 || index >= leafCount || !Array.isArray(siblings)) return false;
  let h = hash(prefixed(MERKLE_LEAF_PREFIX, leaf));
  let i = index;
  let n = leafCount;
  let used = 0;
  const input = new Uint8Array(65); // reused per level: `hash` reads it before returning
  input[0] = MERKLE_NODE_PREFIX;
  while (n > 1) {
    const sib = i ^ 1;
    if (sib < n) {
      const s = siblings[used++];
      if (!(s instanceof Uint8Array) || s.length !== 32) return false;
      input.set((i & 1) === 0 ? h : s, 1);
      input.set((i & 1) === 0 ? s : h, 33);
      h = hash(input);
    }
    i >>= 1;
    n = (n + 1) >> 1;
  }
  if (used !== siblings.length) return false;
  return equalBytes(h, root);
}

function prefixed(prefix: number, x: Uint8Array): Uint8Array {
  const buf = new Uint8Array(x.length + 1);
  buf[0] = prefix;
  buf.set(x, 1);
  return buf;
}

function nodeInput(left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(65);
  buf[0] = MERKLE_NODE_PREFIX;
  buf.set(left, 1);
  buf.set(right, 33);
  return buf;
}

/** Leaf and node hashers over any BLAKE3 (the backend's, for speed). */
export function merkleHashers(hash: (bytes: Uint8Array) => Uint8Array): { leaf: (x: Uint8Array) => Uint8Array; node: NodeHasher } {
  return { leaf: (x) => hash(prefixed(MERKLE_LEAF_PREFIX, x)), node: (l, r) => hash(nodeInput(l, r)) };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function checkMerkleArgs(leaves: unknown, index?: unknown): void {
  if (!Array.isArray(leaves)) throw new TypeError('leaves must be an array of Uint8Array');
  // The name of a bad leaf is built only when one is found (a string per leaf cost more than
  // hashing it: 70-120 ms for 2^20 leaves).
  for (let i = 0; i < leaves.length; i++) if (!(leaves[i] instanceof Uint8Array)) assertBytes(`leaves[${i}]`, leaves[i]);
  if (index !== undefined) assertCount('index', index);
}
