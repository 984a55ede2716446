// Signed client requests for tests: one deterministic Ed25519 key per client name, so a test
// can name a client ("c1") and still send what a real client sends (kit/client-auth.ts).
import { jsBackend, sessionId, signRequest, type ClientRequest, type CryptoBackend } from '@bpci/core';

const js = jsBackend();
const enc = new TextEncoder();

export function clientSeed(clientId: string): Uint8Array {
  return js.blake3(enc.encode(`bpci-test-client/${clientId}`));
}

export function clientKey(clientId: string): Uint8Array {
  return js.ed25519PublicKey(clientSeed(clientId));
}

/** The session of the test client named clientId (sessionOf of its requests). */
export function clientSession(clientId: string): string {
  return sessionId(clientId, clientKey(clientId));
}

/** A request as the test client named clientId signs it. */
export function signedRequest(clientId: string, requestSeq: number, op: string | Uint8Array, crypto: CryptoBackend = js): ClientRequest {
  return signRequest(crypto, clientSeed(clientId), clientId, requestSeq, typeof op === 'string' ? enc.encode(op) : op);
}
