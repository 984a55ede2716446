// Test-only: a CryptoBackend whose Ed25519 runs on node:crypto (OpenSSL), about 20x faster than
// noble here, so hundreds of simulator seeds fit in a CI budget. Signatures are real RFC 8032
// signatures (identical bytes to the js backend: Ed25519 signing is deterministic); verification
// is OpenSSL's rule, which agrees with ZIP-215 on everything the simulator produces (honest
// signatures and bit-flipped ones). Hashing stays on the js backend.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { jsBackend, type CryptoBackend, type SignedItem } from '@bpci/core';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function nodeEd25519Backend(): CryptoBackend {
  const base = jsBackend();
  const priv = new Map<string, KeyObject>();
  const pub = new Map<string, KeyObject>();
  const privKey = (seed: Uint8Array): KeyObject => {
    const k = Buffer.from(seed).toString('hex');
    let v = priv.get(k);
    if (v === undefined) priv.set(k, (v = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })));
    return v;
  };
  const pubKey = (pk: Uint8Array): KeyObject | null => {
    const k = Buffer.from(pk).toString('hex');
    let v = pub.get(k);
    if (v === undefined) {
      try {
        v = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: 'der', type: 'spki' });
      } catch {
        return null;
      }
      pub.set(k, v);
    }
    return v;
  };
  return {
    ...base,
    name: 'js+node-ed25519',
    ed25519Sign: (seed, msg) => new Uint8Array(sign(null, msg, privKey(seed))),
    ed25519VerifyBatch(items: readonly SignedItem[]): Uint8Array {
      const out = new Uint8Array(items.length);
      items.forEach((it, i) => {
        if (it.publicKey.length !== 32 || it.signature.length !== 64) return;
        const k = pubKey(it.publicKey);
        if (k === null) return;
        try {
          out[i] = verify(null, it.message, k, it.signature) ? 1 : 0;
        } catch {
          out[i] = 0;
        }
      });
      return out;
    },
  };
}
