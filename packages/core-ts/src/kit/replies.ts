// Replies to clients, for any protocol (issue 11's replica kit): a replica signs one Merkle
// root over every reply of an executed batch, and each reply carries its leaf's proof, so a
// batch of k requests costs one signature, not k (the client side is consensus/client.ts).

import { replyLeaf } from '../codec/codec.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { merkleLevelsPacked, merkleProofFromLevels } from '../crypto/merkle.js';
import type { Digest, Reply, ValidatorId } from '../consensus/types.js';

/** What a reply says about one request, before the batch's root and proof are added. */
export type ReplyBody = Pick<Reply, 'seq' | 'session' | 'requestSeq' | 'result'>;

/**
 * The signed replies for `due` (in order), under one signature by `sign` over their Merkle
 * root. Empty `due`: no replies and no signature.
 */
export function signedReplies(
  crypto: Pick<CryptoBackend, 'blake3ManyPacked'>,
  view: number,
  batchSeq: number,
  due: readonly ReplyBody[],
  from: ValidatorId,
  sign: (view: number, batchSeq: number, root: Digest) => Uint8Array,
): Reply[] {
  if (due.length === 0) return [];
  const levels = merkleLevelsPacked(due.map(replyLeaf), (m) => crypto.blake3ManyPacked(m));
  const root = levels[levels.length - 1]![0]!;
  const sig = sign(view, batchSeq, root);
  return due.map((b, i) => ({ kind: 'reply', view, batchSeq, root, proof: merkleProofFromLevels(levels, i), ...b, from, sig }));
}
