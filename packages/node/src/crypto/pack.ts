// Wire layouts between the main thread and the crypto pool workers. Each batch travels as ONE
// ArrayBuffer (transferred, not copied) and each result comes back as one ArrayBuffer.
//
// Messages (blake3Many, merkle leaves):
//   u32 n | u32 offsets[n + 1] | data            (offsets relative to data, offsets[0] = 0)
// Signatures (verify; every item already has a 32-byte key and a 64-byte signature):
//   u32 n | u32 offsets[n + 1] | keys n x 32 | sigs n x 64 | messages
// All u32 are little-endian (native order on every platform Node runs on; Uint32Array views).
// The unpackers check every length against the buffer so a corrupted buffer is an error, not a
// read past the end.

import type { PackedMessages, SignedItem } from '@bpci/core';

const U32 = 4;

export class PackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackError';
  }
}

/** Packs messages into one fresh ArrayBuffer. */
export function packMessagesBuffer(messages: readonly Uint8Array[]): ArrayBuffer {
  const n = messages.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += messages[i]!.length;
  const head = U32 * (n + 2);
  const buf = new ArrayBuffer(head + total);
  const u32 = new Uint32Array(buf, 0, n + 2);
  const bytes = new Uint8Array(buf);
  u32[0] = n;
  let off = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    bytes.set(m, head + off);
    off += m.length;
    u32[i + 2] = off;
  }
  return buf;
}

/** Views over a messages buffer; no copy. */
export function unpackMessagesBuffer(buf: ArrayBuffer): PackedMessages {
  if (buf.byteLength < U32) throw new PackError('messages buffer shorter than its header');
  const n = new Uint32Array(buf, 0, 1)[0]!;
  const head = U32 * (n + 2);
  if (head > buf.byteLength) throw new PackError(`messages buffer too short for ${n} offsets`);
  const offsets = new Uint32Array(buf, U32, n + 1);
  const data = new Uint8Array(buf, head);
  let prev = 0;
  for (let i = 0; i <= n; i++) {
    const o = offsets[i]!;
    if (o < prev) throw new PackError(`message offsets decrease at ${i}`);
    prev = o;
  }
  if (offsets[0] !== 0 || offsets[n] !== data.length) throw new PackError('message offsets do not span the data');
  return { data, offsets };
}

/** Subarray views of packed messages (for backends that take arrays). */
export function messagesAsArray(p: PackedMessages): Uint8Array[] {
  const n = p.offsets.length - 1;
  const out = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) out[i] = p.data.subarray(p.offsets[i]!, p.offsets[i + 1]!);
  return out;
}

/** Packs well-formed items (32-byte key, 64-byte signature: the caller filters). */
export function packSignedBuffer(items: readonly SignedItem[]): ArrayBuffer {
  const n = items.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += items[i]!.message.length;
  const head = U32 * (n + 2);
  const keysAt = head;
  const sigsAt = keysAt + 32 * n;
  const msgsAt = sigsAt + 64 * n;
  const buf = new ArrayBuffer(msgsAt + total);
  const u32 = new Uint32Array(buf, 0, n + 2);
  const bytes = new Uint8Array(buf);
  u32[0] = n;
  let off = 0;
  for (let i = 0; i < n; i++) {
    const it = items[i]!;
    if (it.publicKey.length !== 32 || it.signature.length !== 64) throw new PackError(`item ${i} is not well-formed`);
    bytes.set(it.publicKey, keysAt + 32 * i);
    bytes.set(it.signature, sigsAt + 64 * i);
    bytes.set(it.message, msgsAt + off);
    off += it.message.length;
    u32[i + 2] = off;
  }
  return buf;
}

/** Items as subarray views over a signatures buffer; no copy. */
export function unpackSignedBuffer(buf: ArrayBuffer): SignedItem[] {
  if (buf.byteLength < U32) throw new PackError('signatures buffer shorter than its header');
  const n = new Uint32Array(buf, 0, 1)[0]!;
  const head = U32 * (n + 2);
  const msgsAt = head + 96 * n;
  if (msgsAt > buf.byteLength) throw new PackError(`signatures buffer too short for ${n} items`);
  const offsets = new Uint32Array(buf, U32, n + 1);
  const bytes = new Uint8Array(buf);
  const msgLen = buf.byteLength - msgsAt;
  if (offsets[0] !== 0 || offsets[n] !== msgLen) throw new PackError('signature message offsets do not span the data');
  const items = new Array<SignedItem>(n);
  for (let i = 0; i < n; i++) {
    const a = offsets[i]!;
    const b = offsets[i + 1]!;
    if (b < a) throw new PackError(`signature message offsets decrease at ${i}`);
    items[i] = {
      publicKey: bytes.subarray(head + 32 * i, head + 32 * i + 32),
      signature: bytes.subarray(head + 32 * n + 64 * i, head + 32 * n + 64 * i + 64),
      message: bytes.subarray(msgsAt + a, msgsAt + b),
    };
  }
  return items;
}

/** The bytes as an ArrayBuffer of exactly their length that the caller may transfer. */
export function ownedBuffer(out: Uint8Array): ArrayBuffer {
  if (out.byteOffset === 0 && out.byteLength === out.buffer.byteLength && out.buffer instanceof ArrayBuffer) {
    return out.buffer;
  }
  return out.slice().buffer as ArrayBuffer;
}
