// The CryptoBackend contract: one interface, several implementations (js here, wasm in
// @bpci/crypto-wasm, native in @bpci/native). Every backend returns byte-identical results for
// every input; the js backend is the oracle the others are tested against.

/** Messages packed into one buffer: message i is data[offsets[i] .. offsets[i+1]). */
export interface PackedMessages {
  readonly data: Uint8Array;
  /** n + 1 offsets, non-decreasing, offsets[0] = 0, offsets[n] = data.length. */
  readonly offsets: Uint32Array;
}

export interface MerkleProof {
  /** Index of the proven leaf. */
  readonly index: number;
  /** Number of leaves in the tree (fixes where the promoted nodes are). */
  readonly leafCount: number;
  /** Sibling hashes, bottom-up, one per level where the node had a sibling. */
  readonly siblings: readonly Uint8Array[];
}

export interface PowResult {
  readonly nonce: bigint;
  readonly hash: Uint8Array;
}

export interface SignedItem {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

export interface CryptoBackend {
  readonly name: 'js' | 'wasm' | 'native' | (string & {});
  /** BLAKE3, 32-byte output. */
  blake3(data: Uint8Array): Uint8Array;
  /** BLAKE3 keyed mode (the link MAC); key is 32 bytes. */
  blake3Keyed(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** One hash per message, in one boundary crossing. */
  blake3Many(messages: readonly Uint8Array[]): Uint8Array[];
  /** Packed variant: returns n x 32 bytes. */
  blake3ManyPacked(messages: PackedMessages): Uint8Array;
  /**
   * Merkle root under the rule in merkle.ts (domain-separated, odd node promoted). For many
   * leaves, pass them as consecutive views of one buffer (`buf.subarray(i * 32, i * 32 + 32)`):
   * they are handed over without a copy (packMessages); a million separate arrays cost more to
   * gather than to hash natively (the native backend's `merkleRootPacked` takes packed leaves
   * directly).
   */
  merkleRoot(leaves: readonly Uint8Array[]): Uint8Array;
  merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProof;
  /** Lowest nonce in [nonceStart, nonceStart + count) whose hash (big-endian) <= target. */
  powSearch(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): PowResult | null;
  /** 32-byte public key of a 32-byte RFC 8032 seed. */
  ed25519PublicKey(seed32: Uint8Array): Uint8Array;
  /** RFC 8032 deterministic signature (64 bytes). */
  ed25519Sign(seed32: Uint8Array, message: Uint8Array): Uint8Array;
  /** ZIP-215 verification (see ed25519-rule.md); never throws on malformed items: they are 0. */
  ed25519VerifyBatch(items: readonly SignedItem[]): Uint8Array;
}

/**
 * One buffer and offsets for `messages`. Messages that are consecutive views of one buffer (as
 * `subarray` of a packed array gives) come back as a view of it, without a copy: a million
 * 32-byte leaves cost about 80 ms to copy here, more than hashing them natively (45 ms).
 */
export function packMessages(messages: readonly Uint8Array[]): PackedMessages {
  const n = messages.length;
  const offsets = new Uint32Array(n + 1);
  let total = 0;
  const first = messages[0];
  let contiguous = first !== undefined;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    // byteOffset first: reading `.buffer` of a small array V8 keeps on its heap moves it off,
    // which would cost an allocation per message.
    if (contiguous && (m.byteOffset !== first!.byteOffset + total || m.buffer !== first!.buffer)) contiguous = false;
    total += m.length;
    offsets[i + 1] = total;
  }
  if (contiguous) return { data: new Uint8Array(first!.buffer, first!.byteOffset, total), offsets };
  const data = new Uint8Array(total);
  for (let i = 0; i < n; i++) data.set(messages[i]!, offsets[i]!);
  return { data, offsets };
}

export function unpackHashes(out: Uint8Array, count: number): Uint8Array[] {
  const res = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) res[i] = out.subarray(i * 32, i * 32 + 32);
  return res;
}
