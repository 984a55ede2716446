/// <reference types="node" />
// Node-only (not exported from the package index; the simulator CLI and the tests use it): a
// CryptoBackend whose Ed25519 runs on node:crypto (OpenSSL), about 20x faster than noble here, so
// thousands of simulator seeds fit in minutes. Signatures are the same RFC 8032 bytes as the js
// backend (signing is deterministic); OpenSSL's verification rule agrees with ZIP-215 on
// everything the simulator produces (honest signatures and bit-flipped ones). Hashing stays on
// the js backend. `--crypto js` in the CLI uses noble throughout.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { CryptoBackend, SignedItem } from '../crypto/backend.js';
import { jsBackend } from '../crypto/js.js';

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
