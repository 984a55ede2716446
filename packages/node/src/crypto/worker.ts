// Piscina worker of the crypto pool. Each worker loads ONE backend instance (named in
// workerData.backend: native, wasm or js) once, on its first task, and serves named tasks:
//   ping, verifyBatch, blake3Many, merkleRoot, powSearch, powSearchShared.
// Batches arrive as one transferred ArrayBuffer (layouts in pack.ts) and results leave as one
// transferred ArrayBuffer (Piscina.move). Errors (a bad buffer, a backend failure) reject the
// task; they never take the worker down.

import { threadId, workerData } from 'node:worker_threads';
import { move } from 'piscina';
import type { CryptoBackend, PowResult } from '@bpci/core';
import { loadBackend, type BackendName } from './select.js';
import { messagesAsArray, ownedBuffer, unpackMessagesBuffer, unpackSignedBuffer } from './pack.js';
import { searchShared, type SharedPowTask, type SharedPowReply } from './pow-shared.js';

interface WorkerConfig {
  backend: BackendName;
}

function config(): WorkerConfig {
  const d = workerData as Partial<WorkerConfig> | undefined;
  const b = d?.backend;
  if (b !== 'js' && b !== 'wasm' && b !== 'native') throw new Error(`crypto worker: workerData.backend must be js, wasm or native, got ${String(b)}`);
  return { backend: b };
}

let backendPromise: Promise<CryptoBackend> | undefined;

function backend(): Promise<CryptoBackend> {
  backendPromise ??= (async () => {
    const { backend: name } = config();
    const r = await loadBackend(name);
    if (!r.ok) throw new Error(`crypto worker cannot load backend '${name}': ${r.reason}`);
    return r.backend;
  })();
  return backendPromise;
}

/** Optional packed fast paths a backend may offer beside the contract. */
interface PackedExtras {
  merkleRootPacked?: (leaves: { data: Uint8Array; offsets: Uint32Array }) => Uint8Array;
}

export async function ping(): Promise<{ backend: string; threadId: number }> {
  const b = await backend();
  return { backend: b.name, threadId };
}

export async function verifyBatch(buf: ArrayBuffer): Promise<ArrayBuffer> {
  const b = await backend();
  const items = unpackSignedBuffer(buf);
  return move(ownedBuffer(b.ed25519VerifyBatch(items))) as ArrayBuffer;
}

export async function blake3Many(buf: ArrayBuffer): Promise<ArrayBuffer> {
  const b = await backend();
  return move(ownedBuffer(b.blake3ManyPacked(unpackMessagesBuffer(buf)))) as ArrayBuffer;
}

export async function merkleRoot(buf: ArrayBuffer): Promise<ArrayBuffer> {
  const b = await backend();
  const packed = unpackMessagesBuffer(buf);
  const extra = b as CryptoBackend & PackedExtras;
  const root = typeof extra.merkleRootPacked === 'function' ? extra.merkleRootPacked(packed) : b.merkleRoot(messagesAsArray(packed));
  return move(ownedBuffer(root)) as ArrayBuffer;
}

export interface PowTask {
  header: Uint8Array;
  target: Uint8Array;
  nonceStart: bigint;
  count: number;
}

export async function powSearch(task: PowTask): Promise<PowResult | null> {
  const b = await backend();
  const r = b.powSearch(task.header, task.target, task.nonceStart, task.count);
  return r === null ? null : { nonce: r.nonce, hash: r.hash.slice() };
}

export async function powSearchShared(task: SharedPowTask): Promise<SharedPowReply> {
  const b = await backend();
  return searchShared(b, task);
}
