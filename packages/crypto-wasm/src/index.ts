// @bpci/crypto-wasm: the CryptoBackend of @bpci/core on AssemblyScript WebAssembly (SIMD).
//
// Contract: byte-identical results to jsBackend() for every input, and the same error classes
// for bad arguments (the checks are the shared ones from @bpci/core). BLAKE3, Merkle and PoW run
// in build/blake3.wasm; Ed25519 runs in build/ed25519.wasm through ./ed25519.js when that module
// and its wasm are present, otherwise in the js backend (backend.ed25519Impl says which).
//
// Memory: one wasm instance per loaded backend (load one per worker; an instance is not
// re-entrant, and JS never interleaves calls into it). Every call lays its inputs out from
// heapBase() upward, each region 16-byte aligned with 64 spare bytes after it (the wasm side
// reads whole v128 words past the end of short inputs), grows memory to fit, and copies the
// results out before returning. A call may use at most memoryBytesMax of linear memory
// (RangeError beyond); after a call that grew memory past retainBytesMax, the instance is
// replaced by a fresh one so one huge input does not pin its memory for the worker's lifetime.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  assertBytes,
  assertBytesArray,
  checkMerkleArgs,
  checkPowArgs,
  checkSignedItems,
  jsBackend,
  unpackHashes,
  type CryptoBackend,
  type MerkleProof,
  type PackedMessages,
  type PowResult,
  type SignedItem,
} from '@bpci/core';

/** Linear memory one call may use (inputs + scratch + outputs). */
export const memoryBytesMax = 2 ** 31;
/**
 * Inputs to blake3/blake3Keyed longer than this are hashed in segments of this size (2^14
 * chunks, so each segment is a whole subtree), bounding linear memory for any input length.
 */
export const segmentBytes = 16 << 20;
/** Memory kept by an instance between calls; above it the instance is replaced after the call. */
export const retainBytesMax = 64 << 20;

const WASM_PAGE = 65536;
/** Spare readable bytes after every region (masked v128 loads of short inputs). */
const REGION_PAD = 64;

// lib ES2022 + node types do not declare the WebAssembly namespace; the members used here:
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
  compile(bytes: Uint8Array): Promise<WasmModule>;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Exports of build/blake3.wasm (assembly/blake3/index.ts). u64 parameters are bigint. */
interface Blake3Exports {
  readonly memory: WasmMemory;
  heapBase(): number;
  blake3(input: number, len: number, key: number, out: number): void;
  blake3Many(data: number, offsets: number, n: number, out: number): void;
  merkleRoot(data: number, offsets: number, n: number, level: number, out: number): void;
  merkleProof(data: number, offsets: number, n: number, index: number, level: number, sibOut: number): number;
  powSearch(header: number, len: number, target: number, nonceStart: bigint, count: bigint, out: number): number;
  blake3Subtree(input: number, len: number, key: number, counter: bigint, out: number): void;
  blake3Parent(cvs: number, key: number, root: number, out: number): void;
}

/** The shape of ./ed25519.ts that this backend uses. */
export interface Ed25519Impl {
  publicKey(seed32: Uint8Array): Uint8Array;
  sign(seed32: Uint8Array, msg: Uint8Array): Uint8Array;
  verifyBatch(items: readonly SignedItem[]): Uint8Array;
}
interface Ed25519ModuleShape {
  loadEd25519Wasm?: () => Promise<Ed25519Impl>;
  loadEd25519WasmSync?: () => Ed25519Impl;
}

export interface WasmBackend extends CryptoBackend {
  readonly name: 'wasm';
  /** Where the three Ed25519 methods run. */
  readonly ed25519Impl: 'wasm' | 'js-fallback';
  /** Why Ed25519 fell back to js (undefined when ed25519Impl is 'wasm'). */
  readonly ed25519FallbackReason: string | undefined;
  /** Bytes of linear memory the BLAKE3 instance holds now (for tests and diagnostics). */
  memoryBytes(): number;
}

export interface LoadOptions {
  /** Use this Ed25519 implementation instead of loading ./ed25519.js (null: use the js backend). */
  ed25519?: Ed25519Impl | null;
}

const blake3WasmUrl = new URL('../build/blake3.wasm', import.meta.url);
const ED25519_MODULE = './ed25519.js';

/** Rounds up to a multiple of 16 (arithmetic, not bit ops: sizes may pass 2^31). */
const align16 = (x: number) => Math.ceil(x / 16) * 16;

/** One BLAKE3 instance plus the layout bookkeeping of a call. */
class Blake3Instance {
  private x!: Blake3Exports;
  private base = 0;
  private u8 = new Uint8Array(0);

  constructor(private readonly module: WasmModule) {
    this.fresh();
  }

  private fresh(): void {
    this.x = new WA.Instance(this.module, {}).exports as unknown as Blake3Exports;
    // 16 bytes of slack before the first region: node hashing reads one byte before a level.
    this.base = align16(this.x.heapBase() + 16);
    this.u8 = new Uint8Array(this.x.memory.buffer);
  }

  get exports(): Blake3Exports {
    return this.x;
  }

  memoryBytes(): number {
    return this.x.memory.buffer.byteLength;
  }

  /**
   * Lays out regions of the given sizes (bytes), grows memory to hold them, and returns their
   * addresses and a fresh view of memory. `what` names the argument a too-large call is blamed on.
   */
  reserve(what: string, sizes: readonly number[]): { ptrs: number[]; mem: Uint8Array } {
    const ptrs: number[] = [];
    let p = this.base;
    for (const s of sizes) {
      ptrs.push(p);
      p = align16(p + s + REGION_PAD);
    }
    return { ptrs, mem: this.ensure(what, p) };
  }

  /** First byte of the dynamic area (for fixed layouts of hot small calls). */
  get dynamicBase(): number {
    return this.base;
  }

  /** Grows memory so that [0, end) exists; returns a current view of memory. */
  ensure(what: string, end: number): Uint8Array {
    if (end > memoryBytesMax) {
      throw new RangeError(`${what} too large for the wasm backend: needs ${end} bytes of linear memory, at most ${memoryBytesMax}`);
    }
    const have = this.x.memory.buffer.byteLength;
    if (end > have) this.x.memory.grow(Math.ceil((end - have) / WASM_PAGE));
    if (this.u8.buffer !== this.x.memory.buffer) this.u8 = new Uint8Array(this.x.memory.buffer);
    return this.u8;
  }

  /** Called after each call: drop an instance whose memory grew past retainBytesMax. */
  release(): void {
    if (this.x.memory.buffer.byteLength > retainBytesMax) this.fresh();
  }
}

/**
 * checkMerkleArgs with a fast path: the shared check builds an argument name per leaf, which
 * costs more than hashing small leaves; when every leaf is a Uint8Array there is nothing to
 * report, otherwise the shared check runs and throws its own error.
 */
function checkLeaves(leaves: unknown, index?: unknown): void {
  if (Array.isArray(leaves) && (index === undefined || Number.isSafeInteger(index) && (index as number) >= 0)) {
    let ok = true;
    for (let i = 0; i < leaves.length; i++) if (!(leaves[i] instanceof Uint8Array)) { ok = false; break; }
    if (ok) return;
  }
  checkMerkleArgs(leaves, index);
}

function checkPacked(messages: unknown): asserts messages is PackedMessages {
  if (messages === null || typeof messages !== 'object') throw new TypeError('messages must be { data: Uint8Array, offsets: Uint32Array }');
  const { data, offsets } = messages as PackedMessages;
  assertBytes('messages.data', data);
  if (!(offsets instanceof Uint32Array)) throw new TypeError('messages.offsets must be a Uint32Array');
  if (offsets.length === 0) throw new RangeError('messages.offsets must hold n + 1 offsets, got none');
  if (offsets[0] !== 0) throw new RangeError(`messages.offsets[0] must be 0, got ${offsets[0]}`);
  for (let i = 1; i < offsets.length; i++) {
    if (offsets[i]! < offsets[i - 1]!) throw new RangeError(`messages.offsets must be non-decreasing (offsets[${i}] < offsets[${i - 1}])`);
  }
  if (offsets[offsets.length - 1] !== data.length) {
    throw new RangeError(`messages.offsets[n] must equal messages.data.length (${data.length}), got ${offsets[offsets.length - 1]}`);
  }
}

/** Packs leaves as 0x00 || leaf into wasm memory (offsets and data); returns the regions. */
function packLeaves(inst: Blake3Instance, leaves: readonly Uint8Array[], extra: readonly number[]) {
  const n = leaves.length;
  let total = n;
  for (let i = 0; i < n; i++) total += leaves[i]!.length;
  const { ptrs, mem } = inst.reserve('leaves', [total, (n + 1) * 4, n * 32, ...extra]);
  const [data, offsets] = ptrs as [number, number];
  const offs = new Uint32Array(mem.buffer, offsets, n + 1);
  let at = 0;
  for (let i = 0; i < n; i++) {
    offs[i] = at;
    mem[data + at] = 0x00;
    mem.set(leaves[i]!, data + at + 1);
    at += leaves[i]!.length + 1;
  }
  offs[n] = at;
  return { ptrs, mem };
}

function makeBackend(inst: Blake3Instance, ed: Ed25519Impl | null, fallbackReason: string | undefined): WasmBackend {
  const js = jsBackend();

  /** Set bits of a non-negative integer below 2^53. */
  function popcount(n: number): number {
    let c = 0;
    for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2;
    return c;
  }

  /**
   * BLAKE3 of an input longer than segmentBytes: each segment's subtree CV in wasm, the CV stack
   * here with the reference Hasher's lazy merge (before pushing a CV, merge down to
   * popcount(chunks so far) entries), then the stack folded right to left, the last parent ROOT.
   */
  function hashSegmented(data: Uint8Array, key: Uint8Array | null): Uint8Array {
    const k = inst.dynamicBase;
    const o = k + 32;
    const pair = k + 64;
    const p = k + 128;
    const mem = inst.ensure('data', p + segmentBytes + REGION_PAD);
    if (key) mem.set(key, k);
    const keyPtr = key ? k : 0;
    const x = inst.exports;
    const parent = (l: Uint8Array, r: Uint8Array, root: boolean): Uint8Array => {
      mem.set(l, pair);
      mem.set(r, pair + 32);
      x.blake3Parent(pair, keyPtr, root ? 1 : 0, o);
      return mem.slice(o, o + 32);
    };
    const stack: Uint8Array[] = [];
    let chunks = 0;
    for (let off = 0; off < data.length; off += segmentBytes) {
      const seg = data.subarray(off, Math.min(off + segmentBytes, data.length));
      while (stack.length > popcount(chunks)) {
        const r = stack.pop()!;
        const l = stack.pop()!;
        stack.push(parent(l, r, false));
      }
      mem.set(seg, p);
      x.blake3Subtree(p, seg.length, keyPtr, BigInt(chunks), o);
      stack.push(mem.slice(o, o + 32));
      chunks += segmentBytes / 1024;
    }
    let right = stack.pop()!;
    while (stack.length > 1) right = parent(stack.pop()!, right, false);
    return parent(stack.pop()!, right, true);
  }

  // The hot small call (link MACs): a fixed layout [key 32][out 32][data ...], no allocation
  // beyond the result.
  function hashBytes(data: Uint8Array, key: Uint8Array | null): Uint8Array {
    if (data.length > segmentBytes) return hashSegmented(data, key);
    const k = inst.dynamicBase;
    const o = k + 32;
    const p = k + 64;
    const mem = inst.ensure('data', p + data.length + REGION_PAD);
    mem.set(data, p);
    if (key) mem.set(key, k);
    inst.exports.blake3(p, data.length, key ? k : 0, o);
    const out = mem.slice(o, o + 32);
    inst.release();
    return out;
  }

  function manyInto(n: number, fill: (mem: Uint8Array, data: number, offsets: Uint32Array) => void, total: number): Uint8Array {
    const { ptrs, mem } = inst.reserve('messages', [total, (n + 1) * 4, n * 32]);
    const [data, offsets, out] = ptrs as [number, number, number];
    fill(mem, data, new Uint32Array(mem.buffer, offsets, n + 1));
    inst.exports.blake3Many(data, offsets, n, out);
    const res = mem.slice(out, out + n * 32);
    inst.release();
    return res;
  }

  return {
    name: 'wasm',
    ed25519Impl: ed ? 'wasm' : 'js-fallback',
    ed25519FallbackReason: fallbackReason,
    memoryBytes: () => inst.memoryBytes(),

    blake3(data: Uint8Array): Uint8Array {
      assertBytes('data', data);
      return hashBytes(data, null);
    },

    blake3Keyed(key: Uint8Array, data: Uint8Array): Uint8Array {
      assertBytes('key', key, 32);
      assertBytes('data', data);
      return hashBytes(data, key);
    },

    blake3Many(messages: readonly Uint8Array[]): Uint8Array[] {
      assertBytesArray('messages', messages);
      const n = messages.length;
      let total = 0;
      for (let i = 0; i < n; i++) total += messages[i]!.length;
      const out = manyInto(n, (mem, data, offs) => {
        let at = 0;
        for (let i = 0; i < n; i++) {
          offs[i] = at;
          mem.set(messages[i]!, data + at);
          at += messages[i]!.length;
        }
        offs[n] = at;
      }, total);
      return unpackHashes(out, n);
    },

    blake3ManyPacked(messages: PackedMessages): Uint8Array {
      checkPacked(messages);
      const n = messages.offsets.length - 1;
      return manyInto(n, (mem, data, offs) => {
        mem.set(messages.data, data);
        offs.set(messages.offsets);
      }, messages.data.length);
    },

    merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
      checkLeaves(leaves);
      const { ptrs, mem } = packLeaves(inst, leaves, [32]);
      const [data, offsets, level, out] = ptrs as [number, number, number, number];
      inst.exports.merkleRoot(data, offsets, leaves.length, level, out);
      const root = mem.slice(out, out + 32);
      inst.release();
      return root;
    },

    merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProof {
      checkLeaves(leaves, index);
      const leafCount = leaves.length;
      if (index >= leafCount) throw new RangeError(`index must be < leaves.length (${leafCount}), got ${index}`);
      // At most one sibling per level: ceil(log2(leafCount)) <= 32.
      const { ptrs, mem } = packLeaves(inst, leaves, [32 * 33]);
      const [data, offsets, level, sibs] = ptrs as [number, number, number, number];
      const count = inst.exports.merkleProof(data, offsets, leafCount, index, level, sibs);
      const flat = mem.slice(sibs, sibs + count * 32);
      inst.release();
      const siblings: Uint8Array[] = [];
      for (let i = 0; i < count; i++) siblings.push(flat.subarray(i * 32, i * 32 + 32));
      return { index, leafCount, siblings };
    },

    powSearch(header: Uint8Array, target: Uint8Array, nonceStart: bigint, count: number): PowResult | null {
      checkPowArgs(header, target, nonceStart, count);
      if (count === 0) return null;
      const { ptrs, mem } = inst.reserve('header', [header.length, 32, 40]);
      const [h, t, o] = ptrs as [number, number, number];
      mem.set(header, h);
      mem.set(target, t);
      const found = inst.exports.powSearch(h, header.length, t, nonceStart, BigInt(count), o);
      let res: PowResult | null = null;
      if (found) {
        const nonce = new DataView(mem.buffer, o, 8).getBigUint64(0, true);
        res = { nonce, hash: mem.slice(o + 8, o + 40) };
      }
      inst.release();
      return res;
    },

    ed25519PublicKey(seed32: Uint8Array): Uint8Array {
      assertBytes('seed32', seed32, 32);
      return ed ? ed.publicKey(seed32) : js.ed25519PublicKey(seed32);
    },

    ed25519Sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
      assertBytes('seed32', seed32, 32);
      assertBytes('message', message);
      return ed ? ed.sign(seed32, message) : js.ed25519Sign(seed32, message);
    },

    ed25519VerifyBatch(items: readonly SignedItem[]): Uint8Array {
      checkSignedItems(items);
      return ed ? ed.verifyBatch(items) : js.ed25519VerifyBatch(items);
    },
  };
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function loadEd25519(): Promise<{ ed: Ed25519Impl | null; reason: string | undefined }> {
  try {
    // A non-literal specifier: the module belongs to another part of this package and may be
    // absent from a partial build; its absence means the js fallback, not a load error.
    const spec = ED25519_MODULE;
    const mod = (await import(spec)) as Ed25519ModuleShape;
    if (typeof mod.loadEd25519Wasm !== 'function') return { ed: null, reason: `${spec} has no loadEd25519Wasm()` };
    return { ed: await mod.loadEd25519Wasm(), reason: undefined };
  } catch (e) {
    return { ed: null, reason: reasonOf(e) };
  }
}

function loadEd25519Sync(): { ed: Ed25519Impl | null; reason: string | undefined } {
  try {
    // require() of an ES module works on Node >= 20.19 / 22.12; elsewhere this falls back.
    const mod = createRequire(import.meta.url)(ED25519_MODULE) as Ed25519ModuleShape;
    if (typeof mod.loadEd25519WasmSync !== 'function') return { ed: null, reason: `${ED25519_MODULE} has no loadEd25519WasmSync()` };
    return { ed: mod.loadEd25519WasmSync(), reason: undefined };
  } catch (e) {
    return { ed: null, reason: reasonOf(e) };
  }
}

function pickEd(opts: LoadOptions | undefined, load: () => { ed: Ed25519Impl | null; reason: string | undefined }) {
  if (opts && 'ed25519' in opts) {
    return opts.ed25519 ? { ed: opts.ed25519, reason: undefined } : { ed: null, reason: 'disabled by options' };
  }
  return load();
}

/** Loads build/blake3.wasm (and Ed25519 when available). Throws when blake3.wasm is not built. */
export async function loadWasmBackend(opts?: LoadOptions): Promise<WasmBackend> {
  const module = await WA.compile(await readFile(blake3WasmUrl));
  const picked = opts && 'ed25519' in opts ? pickEd(opts, () => ({ ed: null, reason: undefined })) : await loadEd25519();
  return makeBackend(new Blake3Instance(module), picked.ed, picked.reason);
}

/**
 * Synchronous variant for workers and scripts: reads the wasm with fs. Ed25519 comes from
 * opts.ed25519, or ./ed25519.js through require() (Node >= 20.19), else the js fallback.
 */
export function loadWasmBackendSync(opts?: LoadOptions): WasmBackend {
  const module = new WA.Module(readFileSync(blake3WasmUrl));
  const picked = pickEd(opts, loadEd25519Sync);
  return makeBackend(new Blake3Instance(module), picked.ed, picked.reason);
}
