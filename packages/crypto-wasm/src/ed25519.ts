// Host side of build/ed25519.wasm: Ed25519 key derivation, RFC 8032 signing and ZIP-215 batch
// verification (the bpci rule, see @bpci/core ed25519-rule.ts) in AssemblyScript WebAssembly.
//
// Contract: one wasm instance per loader call, single-threaded use (the module keeps its
// scratch state in static memory). Inputs are copied into the module's linear memory at
// ioBase(); memory grows on demand. A batch is split into crossings of at most
// batchItemsMax items and about batchBytesMax message bytes. Items whose key is not 32 bytes or
// whose signature is not 64 bytes are 0 without entering wasm; nothing about an item throws.
// Bad arguments (not Uint8Arrays, wrong seed length) throw TypeError/RangeError naming them.

import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { assertBytes, checkSignedItems, type SignedItem } from '@bpci/core';

export interface Ed25519Wasm {
  /** 32-byte public key of a 32-byte RFC 8032 seed. */
  publicKey(seed32: Uint8Array): Uint8Array;
  /** Deterministic RFC 8032 signature (64 bytes). */
  sign(seed32: Uint8Array, msg: Uint8Array): Uint8Array;
  /**
   * ZIP-215 verdicts, one 0/1 byte per item. Groups of items are checked with one random linear
   * combination (coefficients from the OS CSPRNG); a group that fails is re-checked item by
   * item, so verdicts equal verifyEach's except with probability <= 2^-127 per invalid item.
   */
  verifyBatch(items: readonly SignedItem[]): Uint8Array;
  /** The same verdicts, each item checked on its own (deterministic, no randomness). */
  verifyEach(items: readonly SignedItem[]): Uint8Array;
  /** Since load: random-combination groups checked, and how many failed and were re-checked. */
  batchStats(): { groups: number; groupsRechecked: number };
}

// The project compiles with lib ES2022 and Node types only, which do not declare the
// WebAssembly namespace; these are the few members used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly __wasmModule?: never;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
  compile(bytes: Uint8Array): Promise<WasmModule>;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Exports {
  readonly memory: WasmMemory;
  ioBase(): number;
  init(): void;
  publicKey(seed: number, out: number): void;
  sign(seed: number, msg: number, msgLen: number, out: number): void;
  verifyBatch(items: number, n: number, out: number): void;
  verifyBatchRandom(items: number, n: number, coeffs: number, out: number): void;
  batchGroups(): number;
  batchGroupsRechecked(): number;
}

/** Bytes per item record in wasm memory: pk 32 | sig 64 | msg ptr u32 | msg len u32. */
const ITEM_BYTES = 104;
/** Upper bound of items per wasm call (bounds the memory one crossing needs). */
export const batchItemsMax = 4096;
/** Message bytes per crossing above which a batch is split (one bigger message goes alone). */
export const batchBytesMax = 16 << 20;
/** Crossings with fewer items than this skip the random-combination check (it pays from ~2). */
export const batchRandomMin = 2;
/** Random bytes per item for the linear combination (128-bit coefficients). */
const COEFF_BYTES = 16;
const PAGE_BYTES = 65536;

const wasmUrl = new URL('../build/ed25519.wasm', import.meta.url);

const imports = {
  env: {
    abort(): never {
      throw new Error('ed25519.wasm aborted');
    },
  },
};

class Ed25519Instance implements Ed25519Wasm {
  private readonly base: number;

  constructor(private readonly x: Exports) {
    this.base = x.ioBase();
    x.init();
  }

  /** Make [base, base + bytes) addressable; returns a fresh view of memory. */
  private reserve(bytes: number): Uint8Array {
    const need = this.base + bytes;
    const have = this.x.memory.buffer.byteLength;
    if (need > have) this.x.memory.grow(Math.ceil((need - have) / PAGE_BYTES));
    return new Uint8Array(this.x.memory.buffer);
  }

  publicKey(seed32: Uint8Array): Uint8Array {
    assertBytes('seed32', seed32, 32);
    const mem = this.reserve(64);
    mem.set(seed32, this.base);
    this.x.publicKey(this.base, this.base + 32);
    return mem.slice(this.base + 32, this.base + 64);
  }

  sign(seed32: Uint8Array, msg: Uint8Array): Uint8Array {
    assertBytes('seed32', seed32, 32);
    assertBytes('msg', msg);
    // layout: seed 32 | signature 64 | message
    const mem = this.reserve(96 + msg.length);
    const b = this.base;
    mem.set(seed32, b);
    mem.set(msg, b + 96);
    this.x.sign(b, b + 96, msg.length, b + 32);
    return mem.slice(b + 32, b + 96);
  }

  verifyBatch(items: readonly SignedItem[]): Uint8Array {
    return this.verifyItems(items, true);
  }

  verifyEach(items: readonly SignedItem[]): Uint8Array {
    return this.verifyItems(items, false);
  }

  batchStats(): { groups: number; groupsRechecked: number } {
    return { groups: this.x.batchGroups() >>> 0, groupsRechecked: this.x.batchGroupsRechecked() >>> 0 };
  }

  private verifyItems(items: readonly SignedItem[], combine: boolean): Uint8Array {
    checkSignedItems(items);
    const out = new Uint8Array(items.length);
    const chunk: number[] = []; // indices of well-formed items for the next crossing
    let chunkBytes = 0;
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.publicKey.length !== 32 || it.signature.length !== 64) continue; // stays 0
      if (chunk.length > 0 && (chunk.length === batchItemsMax || chunkBytes + it.message.length > batchBytesMax)) {
        this.verifyChunk(items, chunk, chunkBytes, out, combine);
        chunk.length = 0;
        chunkBytes = 0;
      }
      chunk.push(i);
      chunkBytes += it.message.length;
    }
    if (chunk.length > 0) this.verifyChunk(items, chunk, chunkBytes, out, combine);
    return out;
  }

  /** One crossing. Memory: records (n x ITEM_BYTES) | verdicts (n) | coefficients | messages. */
  private verifyChunk(
    items: readonly SignedItem[],
    idx: readonly number[],
    msgBytes: number,
    out: Uint8Array,
    combine: boolean,
  ): void {
    const n = idx.length;
    const random = combine && n >= batchRandomMin;
    const recs = this.base;
    const verdicts = recs + n * ITEM_BYTES;
    const coeffs = verdicts + n;
    let msgPtr = coeffs + (random ? n * COEFF_BYTES : 0);
    const mem = this.reserve(msgPtr - this.base + msgBytes);
    const dv = new DataView(mem.buffer);
    for (let j = 0; j < n; j++) {
      const it = items[idx[j]!]!;
      const r = recs + j * ITEM_BYTES;
      mem.set(it.publicKey, r);
      mem.set(it.signature, r + 32);
      mem.set(it.message, msgPtr);
      dv.setUint32(r + 96, msgPtr, true);
      dv.setUint32(r + 100, it.message.length, true);
      msgPtr += it.message.length;
    }
    if (random) {
      randomFillSync(mem, coeffs, n * COEFF_BYTES);
      this.x.verifyBatchRandom(recs, n, coeffs, verdicts);
    } else {
      this.x.verifyBatch(recs, n, verdicts);
    }
    for (let j = 0; j < n; j++) out[idx[j]!] = mem[verdicts + j]!;
  }
}

function fromModule(module: WasmModule): Ed25519Wasm {
  const instance = new WA.Instance(module, imports);
  return new Ed25519Instance(instance.exports as unknown as Exports);
}

/** Load build/ed25519.wasm (asynchronous compile). */
export async function loadEd25519Wasm(): Promise<Ed25519Wasm> {
  const bytes = await readFile(wasmUrl);
  return fromModule(await WA.compile(bytes));
}

/** Load build/ed25519.wasm synchronously (for workers and simple scripts). */
export function loadEd25519WasmSync(): Ed25519Wasm {
  return fromModule(new WA.Module(readFileSync(wasmUrl)));
}
