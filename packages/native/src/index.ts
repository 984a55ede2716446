// @bpci/native: the CryptoBackend implemented by a Rust Node-API addon (bpci_native.node).
//
// Contract: byte-identical results to the js backend (@bpci/core) for every input, the same
// argument errors (the checks below are @bpci/core's own helpers), and Ed25519 under the one
// ZIP-215 rule. Optional by design: loadNativeBackend() returns null when the addon was not
// built or fails to load, and nativeUnavailableReason() says why.
//
// Batches cross the boundary packed (one buffer + Uint32Array offsets), so one call costs one
// crossing whatever the batch size. The *Async variants run on the libuv pool (fanning out to
// rayon) and return Promises, so long calls do not block the event loop.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { platformKey } from './platform.js';
import {
  assertBytes,
  assertBytesArray,
  checkMerkleArgs,
  checkPowArgs,
  checkSignedItems,
  packMessages,
  unpackHashes,
  type CryptoBackend,
  type MerkleProof,
  type PackedMessages,
  type PowResult,
  type SignedItem,
} from '@bpci/core';

/** The raw addon surface (see src/lib.rs EXPORTS). Not for direct use: no argument checks. */
interface Addon {
  /** With `out`, each of these writes its result there and returns null. */
  blake3(data: Uint8Array, out?: Uint8Array): Uint8Array | null;
  blake3Serial(data: Uint8Array): Uint8Array;
  blake3Keyed(key: Uint8Array, data: Uint8Array, out?: Uint8Array): Uint8Array | null;
  blake3Many(data: Uint8Array, offsets: Uint32Array): Uint8Array;
  merkleRoot(data: Uint8Array, offsets: Uint32Array): Uint8Array;
  merkleRootAsync(data: Uint8Array, offsets: Uint32Array): Promise<Uint8Array>;
  merkleProof(data: Uint8Array, offsets: Uint32Array, index: number): Uint8Array;
  powSearch(header: Uint8Array, target: Uint8Array, lo: number, hi: number, count: number): Uint8Array | null;
  powSearchAsync(header: Uint8Array, target: Uint8Array, lo: number, hi: number, count: number): Promise<Uint8Array | null>;
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  ed25519Sign(seed: Uint8Array, message: Uint8Array, out?: Uint8Array): Uint8Array | null;
  ed25519VerifyBatch(pks: Uint8Array, sigs: Uint8Array, data: Uint8Array, offsets: Uint32Array, wellFormed: Uint8Array): Uint8Array;
  ed25519VerifyBatchAsync(pks: Uint8Array, sigs: Uint8Array, data: Uint8Array, offsets: Uint32Array, wellFormed: Uint8Array): Promise<Uint8Array>;
  ed25519VerifyEachOwn(pks: Uint8Array, sigs: Uint8Array, data: Uint8Array, offsets: Uint32Array, wellFormed: Uint8Array): Uint8Array;
  laneKernel(): Uint8Array;
  msmSelfCheck(n: number, seed: number): Uint8Array;
  panicForTest(): never;
  panicForTestAsync(): Promise<never>;
}

/** CryptoBackend plus what only the native backend offers. */
export interface NativeBackend extends CryptoBackend {
  readonly name: 'native';
  /** Which 16-lane BLAKE3 kernel serves Merkle and PoW: 'avx512' or 'portable'. */
  readonly laneKernel: string;
  ed25519VerifyBatchAsync(items: readonly SignedItem[]): Promise<Uint8Array>;
  powSearchAsync(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): Promise<PowResult | null>;
  merkleRootAsync(leaves: readonly Uint8Array[]): Promise<Uint8Array>;
  /** Merkle root of already-packed leaves (skips the packing copy). */
  merkleRootPacked(leaves: PackedMessages): Uint8Array;
  /** BLAKE3 on the calling thread only, never rayon (for benchmarks). */
  blake3Serial(data: Uint8Array): Uint8Array;
  /** Test hooks: each panics inside Rust; the panic must arrive as a JS Error / rejection. */
  readonly testHooks: {
    panic(): void;
    panicAsync(): Promise<void>;
    /** Our own ZIP-215 verifier per item (no ring fast path, no batching). */
    verifyEachOwn(items: readonly SignedItem[]): Uint8Array;
    /**
     * The multi-scalar multiplication with and without the AVX-512 IFMA window kernel agree on
     * n pseudo-random points and scalars (trivially true on CPUs without IFMA).
     */
    msmSelfCheck(n: number, seed: number): boolean;
  };
}

// Where the addon may be, in this order (issue 13 §1):
//   1. $BPCI_NATIVE_ADDON: exactly that file (benchmarks compare builds with it), nothing else;
//   2. ../bpci_native.node: the repository's own build (`npm run build`, tuned for this CPU);
//   3. ../prebuilds/<platformKey()>/bpci_native.node: the portable binary `npm pack` ships.
// None fits (another OS, architecture or libc, or no Rust toolchain at pack time): null, and
// the reason lists what was tried.
const LOCAL_FILE = '../bpci_native.node';
const PREBUILDS_DIR = '../prebuilds/';
const STATUS_FILE = '../build-status.txt';

let cached: { addon: Addon | null; path: string | null; reason: string | null } | undefined;

function candidates(): string[] {
  const explicit = process.env.BPCI_NATIVE_ADDON;
  if (explicit !== undefined && explicit.trim() !== '') return [explicit.trim()];
  return [
    fileURLToPath(new URL(LOCAL_FILE, import.meta.url)),
    fileURLToPath(new URL(`${PREBUILDS_DIR}${platformKey()}/bpci_native.node`, import.meta.url)),
  ];
}

function load(): { addon: Addon | null; path: string | null; reason: string | null } {
  if (cached) return cached;
  const tried = candidates();
  const addonPath = tried.find((p) => existsSync(p));
  if (addonPath === undefined) {
    const statusPath = fileURLToPath(new URL(STATUS_FILE, import.meta.url));
    const status = existsSync(statusPath)
      ? readFileSync(statusPath, 'utf8').trim()
      : `no binary for ${platformKey()} (build one: npm run build -w @bpci/native)`;
    cached = { addon: null, path: null, reason: `${tried.join(' and ')} missing: ${status}` };
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    const addon = require(addonPath) as Partial<Addon> | null;
    // A file that loads but is not this addon (or an older build missing an export) is a reason.
    const missing = ['blake3', 'blake3Many', 'merkleRoot', 'ed25519VerifyBatch', 'laneKernel'].filter(
      (k) => typeof (addon as Record<string, unknown> | null)?.[k] !== 'function',
    );
    cached = missing.length
      ? { addon: null, path: null, reason: `${addonPath} is not the bpci addon (no ${missing.join(', ')})` }
      : { addon: addon as Addon, path: addonPath, reason: null };
  } catch (e) {
    cached = { addon: null, path: null, reason: `${addonPath} failed to load: ${(e as Error).message}` };
  }
  return cached;
}

/** Why the native backend is unavailable, or null when it loads. */
export function nativeUnavailableReason(): string | null {
  return load().reason;
}

/** The addon file that loaded, or null when none did. */
export function nativeAddonPath(): string | null {
  return load().path;
}

export { platformKey } from './platform.js';

function packSignedItems(items: readonly SignedItem[]) {
  const n = items.length;
  const pks = new Uint8Array(n * 32);
  const sigs = new Uint8Array(n * 64);
  const wellFormed = new Uint8Array(n);
  const msgs: Uint8Array[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const it = items[i]!;
    msgs[i] = it.message;
    // Malformed lengths are a 0 verdict, never an exception (the ZIP-215 rule module says so).
    if (it.publicKey.length !== 32 || it.signature.length !== 64) continue;
    wellFormed[i] = 1;
    pks.set(it.publicKey, i * 32);
    sigs.set(it.signature, i * 64);
  }
  const { data, offsets } = packMessages(msgs);
  return [pks, sigs, data, offsets, wellFormed] as const;
}

function powArgs(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number) {
  checkPowArgs(header, target, nonceStart, count);
  return [header, target, Number(nonceStart & 0xffff_ffffn), Number(nonceStart >> 32n), count] as const;
}

function powResult(r: Uint8Array | null): PowResult | null {
  if (r === null) return null;
  const nonce = new DataView(r.buffer, r.byteOffset, 8).getBigUint64(0, true);
  return { nonce, hash: r.slice(8, 40) };
}

function proofOf(sibs: Uint8Array, index: number, leafCount: number): MerkleProof {
  const siblings: Uint8Array[] = [];
  for (let o = 0; o < sibs.length; o += 32) siblings.push(sibs.subarray(o, o + 32));
  return { index, leafCount, siblings };
}

/** Output scratch buffers (one per thread: JS cannot re-enter while the addon writes them). */
const hashOut = new Uint8Array(32);
const sigOut = new Uint8Array(64);

/** The native backend, or null when the addon is not available (see nativeUnavailableReason). */
export function loadNativeBackend(): NativeBackend | null {
  const { addon } = load();
  if (!addon) return null;
  const a = addon;
  return {
    name: 'native',
    laneKernel: new TextDecoder().decode(a.laneKernel()),
    blake3(data: Uint8Array): Uint8Array {
      assertBytes('data', data);
      // Into a scratch buffer, then a JS copy: a Node-API ArrayBuffer per call costs more than
      // hashing a short message.
      a.blake3(data, hashOut);
      return hashOut.slice();
    },
    blake3Serial(data: Uint8Array): Uint8Array {
      assertBytes('data', data);
      return a.blake3Serial(data);
    },
    blake3Keyed(key: Uint8Array, data: Uint8Array): Uint8Array {
      assertBytes('key', key, 32);
      assertBytes('data', data);
      a.blake3Keyed(key, data, hashOut);
      return hashOut.slice();
    },
    blake3Many(messages: readonly Uint8Array[]): Uint8Array[] {
      assertBytesArray('messages', messages);
      const p = packMessages(messages);
      return unpackHashes(a.blake3Many(p.data, p.offsets), messages.length);
    },
    blake3ManyPacked(messages: PackedMessages): Uint8Array {
      return a.blake3Many(messages.data, messages.offsets);
    },
    merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
      checkMerkleArgs(leaves);
      const p = packMessages(leaves);
      return a.merkleRoot(p.data, p.offsets);
    },
    merkleRootPacked(leaves: PackedMessages): Uint8Array {
      return a.merkleRoot(leaves.data, leaves.offsets);
    },
    merkleRootAsync(leaves: readonly Uint8Array[]): Promise<Uint8Array> {
      checkMerkleArgs(leaves);
      const p = packMessages(leaves);
      return a.merkleRootAsync(p.data, p.offsets);
    },
    merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProof {
      checkMerkleArgs(leaves, index);
      if (index >= leaves.length) throw new RangeError(`index must be < leaves.length (${leaves.length}), got ${index}`);
      const p = packMessages(leaves);
      return proofOf(a.merkleProof(p.data, p.offsets, index), index, leaves.length);
    },
    powSearch(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): PowResult | null {
      return powResult(a.powSearch(...powArgs(header, target, nonceStart, count)));
    },
    async powSearchAsync(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): Promise<PowResult | null> {
      return powResult(await a.powSearchAsync(...powArgs(header, target, nonceStart, count)));
    },
    ed25519PublicKey(seed32: Uint8Array): Uint8Array {
      assertBytes('seed32', seed32, 32);
      return a.ed25519PublicKey(seed32);
    },
    ed25519Sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
      assertBytes('seed32', seed32, 32);
      assertBytes('message', message);
      a.ed25519Sign(seed32, message, sigOut);
      return sigOut.slice();
    },
    ed25519VerifyBatch(items: readonly SignedItem[]): Uint8Array {
      checkSignedItems(items);
      return a.ed25519VerifyBatch(...packSignedItems(items));
    },
    async ed25519VerifyBatchAsync(items: readonly SignedItem[]): Promise<Uint8Array> {
      checkSignedItems(items);
      return a.ed25519VerifyBatchAsync(...packSignedItems(items));
    },
    testHooks: {
      panic(): void {
        a.panicForTest();
      },
      async panicAsync(): Promise<void> {
        await a.panicForTestAsync();
      },
      verifyEachOwn(items: readonly SignedItem[]): Uint8Array {
        checkSignedItems(items);
        return a.ed25519VerifyEachOwn(...packSignedItems(items));
      },
      msmSelfCheck(n: number, seed: number): boolean {
        return a.msmSelfCheck(n, seed)[0] === 1;
      },
    },
  };
}
