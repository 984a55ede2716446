// Link authentication: the handshake messages, the transcript, key agreement and frame MACs.
//
// Handshake (both sides send their Hello as soon as the TCP connection is up; no round trip is
// wasted waiting for the other side):
//   Hello = magic "BPCL" | version u8 | fromId u32 | toId u32 | nonce[32] | x25519 ephemeral pub[32]
//   transcript hash th = BLAKE3("bpci/link/v1/transcript" | helloDialer | helloAcceptor)
//   Auth  = Ed25519 signature by the sender's identity key over "bpci/link/v1/auth" | role | th
// The role byte (0 = dialer, 1 = acceptor) makes a dialer's signature useless as an acceptor's, so
// a signature cannot be reflected back at its author. `toId` binds the Hello to one receiver, so a
// transcript cannot be replayed at another validator. Fresh nonces and ephemeral keys on both sides
// make every transcript (and so every link key) unique.
//
// Why an ephemeral X25519 exchange, not only a hash of the transcript: everything in the transcript
// travels in clear, so a key derived from it alone would be known to any eavesdropper, who could
// then forge MACs on a hijacked TCP stream. The Diffie-Hellman secret is what makes the link key
// secret; the signatures over the transcript (which contains both ephemeral keys) make it
// authenticated. Key derivation uses BLAKE3 keyed mode as a PRF:
//   prk = BLAKE3-keyed(key = x25519 shared secret, th)
//   keyDialerToAcceptor = BLAKE3-keyed(prk, "bpci/link/v1/d2a"), keyAcceptorToDialer likewise "a2d".
//
// Frames after the handshake: body = payload | tag, tag = first MAC_BYTES of
// BLAKE3-keyed(directionKey, direction u8 | counter u64 BE | payload). The counter is implicit
// (each side counts frames per direction; TCP keeps order), so a replayed, dropped, reordered or
// reflected frame fails its MAC. Tags are truncated to 16 bytes: 2^-128 forgery probability per
// attempt is far beyond what an online attacker can try (a failed MAC closes the link), and it saves
// 16 bytes on every frame.

import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { CryptoBackend } from '@bpci/core';

export const LINK_MAGIC = new Uint8Array([0x42, 0x50, 0x43, 0x4c]); // "BPCL"
export const LINK_VERSION = 1;
export const NONCE_BYTES = 32;
export const X25519_PUBLIC_BYTES = 32;
export const HELLO_BYTES = 4 + 1 + 4 + 4 + NONCE_BYTES + X25519_PUBLIC_BYTES; // 77
export const AUTH_BYTES = 64;
export const MAC_BYTES = 16;
export const DIRECTION_DIALER_TO_ACCEPTOR = 0;
export const DIRECTION_ACCEPTOR_TO_DIALER = 1;

const enc = new TextEncoder();
const CTX_TRANSCRIPT = enc.encode('bpci/link/v1/transcript');
const CTX_AUTH = enc.encode('bpci/link/v1/auth');
const INFO_D2A = enc.encode('bpci/link/v1/d2a');
const INFO_A2D = enc.encode('bpci/link/v1/a2d');
// DER prefix of an X25519 SubjectPublicKeyInfo (RFC 8410); the raw key follows it.
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface Hello {
  readonly fromId: number;
  readonly toId: number;
  readonly nonce: Uint8Array;
  readonly ephemeralPublic: Uint8Array;
  /** The exact bytes received or sent (the transcript uses these, not a re-encoding). */
  readonly bytes: Uint8Array;
}

export class HandshakeError extends Error {
  constructor(readonly reason: 'malformed_hello' | 'bad_version' | 'bad_key_agreement', message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

export interface Ephemeral {
  readonly privateKey: KeyObject;
  readonly publicRaw: Uint8Array;
}

export function newEphemeral(): Ephemeral {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, publicRaw: new Uint8Array(der.subarray(der.length - X25519_PUBLIC_BYTES)) };
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

export function encodeHello(fromId: number, toId: number, nonce: Uint8Array, ephemeralPublic: Uint8Array): Hello {
  const bytes = new Uint8Array(HELLO_BYTES);
  const dv = new DataView(bytes.buffer);
  bytes.set(LINK_MAGIC, 0);
  bytes[4] = LINK_VERSION;
  dv.setUint32(5, fromId, false);
  dv.setUint32(9, toId, false);
  bytes.set(nonce, 13);
  bytes.set(ephemeralPublic, 13 + NONCE_BYTES);
  return { fromId, toId, nonce, ephemeralPublic, bytes };
}

export function decodeHello(bytes: Uint8Array): Hello {
  if (bytes.length !== HELLO_BYTES) {
    throw new HandshakeError('malformed_hello', `hello must be ${HELLO_BYTES} bytes, got ${bytes.length}`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== LINK_MAGIC[i]) throw new HandshakeError('malformed_hello', 'bad magic');
  }
  if (bytes[4] !== LINK_VERSION) {
    throw new HandshakeError('bad_version', `link version ${bytes[4]} unsupported (expected ${LINK_VERSION})`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    fromId: dv.getUint32(5, false),
    toId: dv.getUint32(9, false),
    nonce: bytes.slice(13, 13 + NONCE_BYTES),
    ephemeralPublic: bytes.slice(13 + NONCE_BYTES, HELLO_BYTES),
    bytes: bytes.slice(),
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function transcriptHash(crypto: CryptoBackend, helloDialer: Hello, helloAcceptor: Hello): Uint8Array {
  return crypto.blake3(concat([CTX_TRANSCRIPT, helloDialer.bytes, helloAcceptor.bytes]));
}

/** The message a side signs: role 0 = dialer, 1 = acceptor. */
export function authMessage(role: 0 | 1, th: Uint8Array): Uint8Array {
  return concat([CTX_AUTH, new Uint8Array([role]), th]);
}

export interface LinkKeys {
  /** Key for frames this side sends. */
  readonly sendKey: Uint8Array;
  readonly recvKey: Uint8Array;
  readonly sendDirection: number;
  readonly recvDirection: number;
}

export function deriveLinkKeys(
  crypto: CryptoBackend,
  role: 0 | 1,
  mine: Ephemeral,
  peerEphemeralPublic: Uint8Array,
  th: Uint8Array,
): LinkKeys {
  let shared: Uint8Array;
  try {
    const peerKey = createPublicKey({
      key: Buffer.concat([X25519_SPKI_PREFIX, peerEphemeralPublic]),
      format: 'der',
      type: 'spki',
    });
    shared = new Uint8Array(diffieHellman({ privateKey: mine.privateKey, publicKey: peerKey }));
  } catch (e) {
    throw new HandshakeError('bad_key_agreement', `x25519 failed: ${(e as Error).message}`);
  }
  // A low-order peer point yields the all-zero secret; OpenSSL already refuses it, this is the
  // belt to its braces.
  if (shared.every((b) => b === 0)) throw new HandshakeError('bad_key_agreement', 'x25519 shared secret is zero');
  const prk = crypto.blake3Keyed(shared, th);
  const d2a = crypto.blake3Keyed(prk, INFO_D2A);
  const a2d = crypto.blake3Keyed(prk, INFO_A2D);
  return role === 0
    ? { sendKey: d2a, recvKey: a2d, sendDirection: DIRECTION_DIALER_TO_ACCEPTOR, recvDirection: DIRECTION_ACCEPTOR_TO_DIALER }
    : { sendKey: a2d, recvKey: d2a, sendDirection: DIRECTION_ACCEPTOR_TO_DIALER, recvDirection: DIRECTION_DIALER_TO_ACCEPTOR };
}

/**
 * MAC input: direction u8 | counter u64 BE | payload. Counters are JS numbers (exact below 2^53
 * frames, i.e. never reached) written as two u32 halves.
 */
function macInput(direction: number, counter: number, payload: Uint8Array): Uint8Array {
  const input = new Uint8Array(9 + payload.length);
  const dv = new DataView(input.buffer);
  input[0] = direction;
  dv.setUint32(1, Math.floor(counter / 0x1_0000_0000), false);
  dv.setUint32(5, counter >>> 0, false);
  input.set(payload, 9);
  return input;
}

/** Builds the complete wire frame: u32 length | payload | tag (one allocation, one socket write). */
export function sealWireFrame(crypto: CryptoBackend, key: Uint8Array, direction: number, counter: number, payload: Uint8Array): Uint8Array {
  const tag = crypto.blake3Keyed(key, macInput(direction, counter, payload));
  const bodyBytes = payload.length + MAC_BYTES;
  const wire = new Uint8Array(4 + bodyBytes);
  new DataView(wire.buffer).setUint32(0, bodyBytes, false);
  wire.set(payload, 4);
  wire.set(tag.subarray(0, MAC_BYTES), 4 + payload.length);
  return wire;
}

/** Returns the payload if the tag checks, else null. Constant-time tag comparison. */
export function openFrame(
  crypto: CryptoBackend,
  key: Uint8Array,
  direction: number,
  counter: number,
  body: Uint8Array,
): Uint8Array | null {
  if (body.length < MAC_BYTES) return null;
  const payload = body.subarray(0, body.length - MAC_BYTES);
  const tag = body.subarray(body.length - MAC_BYTES);
  const expect = crypto.blake3Keyed(key, macInput(direction, counter, payload));
  let diff = 0;
  for (let i = 0; i < MAC_BYTES; i++) diff |= tag[i]! ^ expect[i]!;
  return diff === 0 ? payload : null;
}
