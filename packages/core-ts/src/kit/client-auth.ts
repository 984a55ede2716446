// Client request authentication, for any protocol (issue 10; the replica kit of issue 11).
//
// A client signs each request with its Ed25519 key over requestPayload(clientId, requestSeq,
// op) (codec.ts, its own domain: never a validator statement). The exactly-once session is
// (key, clientId), written sessionOf(r) = "<clientId>@<hex key>": a Byzantine primary holding
// no client key can neither add a request to a client's session nor change one it was given
// (the op is signed), and it cannot squat a name another client will use (names are per key).
//
// Replicas check the signature through the runtime's VerifyJobs (the Verifier), where it costs
// least: once when a request arrives (before it is pooled, so a forged request can neither be
// proposed by an honest primary nor make an honest backup suspect one), and for a proposed batch
// only the requests not already checked: KnownRequests remembers the verified ones by content.
// A certified batch (a quorum prepared or committed it) needs no check: at least f+1 honest
// validators checked every request in it before preparing.

import { requestPayload } from '../codec/codec.js';
import type { CryptoBackend } from '../crypto/backend.js';
import type { ClientRequest, SignedItemRef } from '../consensus/types.js';

export const CLIENT_KEY_BYTES = 32;
export const CLIENT_SIG_BYTES = 64;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hexOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!]!;
  return s;
}

const sessions = new WeakMap<ClientRequest, string>();

/** The exactly-once session of a request: "<clientId>@<64 hex digits of its key>". */
export function sessionOf(r: Pick<ClientRequest, 'clientId' | 'key'>): string {
  const known = sessions.get(r as ClientRequest);
  if (known !== undefined) return known;
  const s = sessionId(r.clientId, r.key);
  sessions.set(r as ClientRequest, s);
  return s;
}

/** The session id of (clientId, key), as sessionOf. */
export function sessionId(clientId: string, key: Uint8Array): string {
  return `${clientId}@${hexOf(key)}`;
}

/** A signed request: what a client (or an agent holding the client's key) sends. */
export function signRequest(
  crypto: Pick<CryptoBackend, 'ed25519Sign' | 'ed25519PublicKey'>,
  seed32: Uint8Array,
  clientId: string,
  requestSeq: number,
  op: Uint8Array,
  key: Uint8Array = crypto.ed25519PublicKey(seed32),
): ClientRequest {
  const sig = crypto.ed25519Sign(seed32, requestPayload(clientId, requestSeq, op));
  return { kind: 'request', clientId, requestSeq, op, key, sig };
}

/** The verification item of a request's signature (for a VerifyJob). */
export function requestItem(r: ClientRequest): SignedItemRef {
  return { publicKey: r.key, message: requestPayload(r.clientId, r.requestSeq, r.op), signature: r.sig };
}

/**
 * What is wrong with a request's shape (a runtime may hand the core any object), or null. Does
 * not check the signature.
 */
export function requestShapeProblem(r: ClientRequest): string | null {
  if (typeof r.clientId !== 'string' || r.clientId.length === 0) return 'request needs a clientId';
  if (!Number.isSafeInteger(r.requestSeq) || r.requestSeq < 1) return 'request needs requestSeq >= 1';
  if (!(r.op instanceof Uint8Array)) return 'request op must be bytes';
  if (!(r.key instanceof Uint8Array) || r.key.length !== CLIENT_KEY_BYTES) return `request key must be ${CLIENT_KEY_BYTES} bytes`;
  if (!(r.sig instanceof Uint8Array) || r.sig.length !== CLIENT_SIG_BYTES) return `request sig must be ${CLIENT_SIG_BYTES} bytes`;
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte-identical requests (same session, seq, op and signature). */
export function sameRequest(a: ClientRequest, b: ClientRequest): boolean {
  return a === b || (a.requestSeq === b.requestSeq && a.clientId === b.clientId && sameBytes(a.sig, b.sig) && sameBytes(a.key, b.key) && sameBytes(a.op, b.op));
}

/**
 * Requests whose signature verified, by (session, requestSeq), so the same request decoded
 * again (inside a proposal, a retransmission) needs a byte comparison instead of a
 * verification. Bounded in entries and in op bytes (ops are up to 64 KiB): the oldest entry
 * goes first. Forgetting one costs a verification, never a wrong answer.
 */
export class KnownRequests {
  private readonly m = new Map<string, ClientRequest>();
  private opBytes = 0;

  constructor(
    readonly capacity: number,
    readonly opBytesMax: number = Number.POSITIVE_INFINITY,
  ) {}

  get bytes(): number {
    return this.opBytes;
  }

  private static key(r: ClientRequest): string {
    return `${sessionOf(r)}#${r.requestSeq}`;
  }

  get size(): number {
    return this.m.size;
  }

  add(r: ClientRequest): void {
    const k = KnownRequests.key(r);
    const old = this.m.get(k);
    if (old !== undefined) {
      this.m.delete(k);
      this.opBytes -= old.op.length;
    }
    while (this.m.size > 0 && (this.m.size >= this.capacity || this.opBytes + r.op.length > this.opBytesMax)) {
      const [oldestKey, oldest] = this.m.entries().next().value!;
      this.m.delete(oldestKey);
      this.opBytes -= oldest.op.length;
    }
    this.m.set(k, r);
    this.opBytes += r.op.length;
  }

  /** True when a byte-identical request verified earlier. */
  has(r: ClientRequest): boolean {
    const known = this.m.get(KnownRequests.key(r));
    return known !== undefined && sameRequest(known, r);
  }
}
