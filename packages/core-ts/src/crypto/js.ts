// The pure-JS backend (noble). Always present, runs anywhere, and is the oracle every other
// backend is tested against. Not fast: use it for correctness, not for the hot path.

import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { assertBytes, assertBytesArray } from './args.js';
import type { CryptoBackend, MerkleProof, PackedMessages, PowResult, SignedItem } from './backend.js';
import {
  checkMerkleArgs,
  merkleLeafHash,
  merkleNodeHash,
  merkleProofFromHashes,
  merkleRootFromHashes,
} from './merkle.js';
import { powSearchWith } from './pow.js';
import { checkSignedItems, ED25519_RULE_OPTIONS } from './ed25519-rule.js';

function blake3(data: Uint8Array): Uint8Array {
  assertBytes('data', data);
  return nobleBlake3(data);
}

function blake3Keyed(key: Uint8Array, data: Uint8Array): Uint8Array {
  assertBytes('key', key, 32);
  assertBytes('data', data);
  return nobleBlake3(data, { key });
}

function blake3ManyPacked(messages: PackedMessages): Uint8Array {
  const { data, offsets } = messages;
  const n = offsets.length - 1;
  const out = new Uint8Array(Math.max(0, n) * 32);
  for (let i = 0; i < n; i++) out.set(nobleBlake3(data.subarray(offsets[i]!, offsets[i + 1]!)), i * 32);
  return out;
}

function verifyOne(item: SignedItem): boolean {
  const { publicKey, message, signature } = item;
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, message, publicKey, ED25519_RULE_OPTIONS);
  } catch {
    return false;
  }
}

export function jsBackend(): CryptoBackend {
  return {
    name: 'js',
    blake3,
    blake3Keyed,
    blake3Many(messages: readonly Uint8Array[]): Uint8Array[] {
      assertBytesArray('messages', messages);
      return messages.map((m) => nobleBlake3(m));
    },
    blake3ManyPacked,
    merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
      checkMerkleArgs(leaves);
      return merkleRootFromHashes(leaves.map(merkleLeafHash), merkleNodeHash);
    },
    merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProof {
      checkMerkleArgs(leaves, index);
      return merkleProofFromHashes(leaves.map(merkleLeafHash), index, merkleNodeHash);
    },
    powSearch(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): PowResult | null {
      return powSearchWith(nobleBlake3, header, target, nonceStart, count);
    },
    ed25519PublicKey(seed32: Uint8Array): Uint8Array {
      assertBytes('seed32', seed32, 32);
      return ed25519.getPublicKey(seed32);
    },
    ed25519Sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
      assertBytes('seed32', seed32, 32);
      assertBytes('message', message);
      return ed25519.sign(message, seed32);
    },
    ed25519VerifyBatch(items: readonly SignedItem[]): Uint8Array {
      checkSignedItems(items);
      const out = new Uint8Array(items.length);
      for (let i = 0; i < items.length; i++) out[i] = verifyOne(items[i]!) ? 1 : 0;
      return out;
    },
  };
}
