// Exports of build/blake3.wasm. Everything takes pointers and lengths into linear memory; the JS
// wrapper (src/index.ts) lays the memory out, grows it, and copies results out. See hash.ts for
// the memory contract (64 readable bytes after and 16 before every input region).

import { IV_PTR, KEYED_HASH, hashInto, hashManyPacked, parentCv, subtreeCv } from './hash';
import { merkleProof as proof, merkleRoot as root } from './merkle';
import { powSearch as pow } from './pow';

/** First byte the JS side may use: everything below is static data and scratch. */
export function heapBase(): usize {
  return __heap_base;
}

/** BLAKE3 of input[0..len) to out (32 bytes); keyed when key != 0 (32-byte key at key). */
export function blake3(input: usize, len: usize, key: usize, out: usize): void {
  if (key == 0) hashInto(input, len, IV_PTR, 0, out);
  else hashInto(input, len, key, KEYED_HASH, out);
}

/**
 * Segmented hashing of inputs too large to copy into memory at once: the non-root CV of one
 * whole subtree (first chunk number `counter`), and the parent of two CVs; the JS side keeps
 * the CV stack (the reference Hasher's lazy merge).
 */
export function blake3Subtree(input: usize, len: usize, key: usize, counter: u64, out: usize): void {
  if (key == 0) subtreeCv(input, len, IV_PTR, counter, 0, out);
  else subtreeCv(input, len, key, counter, KEYED_HASH, out);
}

export function blake3Parent(cvs: usize, key: usize, root: i32, out: usize): void {
  if (key == 0) parentCv(cvs, IV_PTR, 0, root != 0, out);
  else parentCv(cvs, key, KEYED_HASH, root != 0, out);
}

/** n packed messages (n + 1 u32 offsets) to out + 32i. */
export function blake3Many(data: usize, offsets: usize, n: u32, out: usize): void {
  hashManyPacked(data, offsets, n, IV_PTR, 0, out);
}

export function merkleRoot(data: usize, offsets: usize, n: u32, level: usize, out: usize): void {
  root(data, offsets, n, level, out);
}

export function merkleProof(data: usize, offsets: usize, n: u32, index: u32, level: usize, sibOut: usize): u32 {
  return proof(data, offsets, n, index, level, sibOut);
}

export function powSearch(header: usize, len: u32, target: usize, nonceStart: u64, count: u64, out: usize): i32 {
  return pow(header, len, target, nonceStart, count, out);
}
