// The one Ed25519 verification rule of bpci: ZIP-215 (https://zips.z.cash/zip-0215).
//
//   - A (public key) and R (signature's first half) are 32-byte encodings that must decode to a
//     curve point; non-canonical y (y >= p) is accepted and reduced; small-order and mixed-order
//     points are accepted.
//   - S (second half) must be canonical: S < L. S >= L is rejected.
//   - k = SHA-512(R_bytes || A_bytes || M) mod L, over the bytes as received (not re-encoded).
//   - Accept iff [8]([S]B - R - [k]A) is the identity (the cofactored equation).
//
// Why: the cofactored equation is the one a batch verifier (random linear combination) checks,
// so single and batch verification give the same verdict on every input, which is what keeps
// honest validators from disagreeing on a crafted signature. Strict RFC 8032 verifiers
// (OpenSSL, ring, libsodium) accept a subset of this rule: when one of them accepts, this rule
// accepts too; when one rejects, the item must be re-checked under this rule.
//
// Items that are not even well-formed (public key not 32 bytes, signature not 64 bytes) are
// invalid (0); they never throw.

import { assertBytes } from './args.js';
import type { SignedItem } from './backend.js';

export const ED25519_RULE = 'zip215' as const;
export const ED25519_RULE_OPTIONS = { zip215: true } as const;

/** Structural checks only: the batch must be an array of objects holding Uint8Arrays. */
export function checkSignedItems(items: unknown): asserts items is readonly SignedItem[] {
  if (!Array.isArray(items)) throw new TypeError('items must be an array of { publicKey, message, signature }');
  for (let i = 0; i < items.length; i++) {
    const it = items[i] as SignedItem | null;
    if (it === null || typeof it !== 'object') throw new TypeError(`items[${i}] must be an object`);
    assertBytes(`items[${i}].publicKey`, it.publicKey);
    assertBytes(`items[${i}].message`, it.message);
    assertBytes(`items[${i}].signature`, it.signature);
  }
}
