// A CryptoBackend for the simulator: a real backend (jsBackend by default) behind memo caches.
//
// Ed25519 is deterministic, so caching sign(seed, msg) and verify(pk, msg, sig) changes no
// result, only the cost: the simulator re-signs and re-verifies the same statements across
// replicas, retransmissions and seeds. Every signature is still real and every verdict comes
// from the wrapped backend at least once.

import type { CryptoBackend, SignedItem } from '../crypto/backend.js';

const CACHE_ENTRIES_MAX = 100_000;

/** Exact cache key (byte i -> char code i), built in chunks: no hashing, so no collisions. */
function key(parts: readonly Uint8Array[]): string {
  let s = '';
  for (const p of parts) {
    for (let o = 0; o < p.length; o += 4096) {
      s += String.fromCharCode.apply(null, p.subarray(o, o + 4096) as unknown as number[]);
    }
    s += `|${p.length}|`;
  }
  return s;
}

export interface SimCryptoStats {
  signs: number;
  signCacheHits: number;
  verifies: number;
  verifyCacheHits: number;
}

export function cachingCrypto(base: CryptoBackend): CryptoBackend & { stats: SimCryptoStats } {
  const pub = new Map<string, Uint8Array>();
  const sigs = new Map<string, Uint8Array>();
  const verdicts = new Map<string, number>();
  const stats: SimCryptoStats = { signs: 0, signCacheHits: 0, verifies: 0, verifyCacheHits: 0 };
  const bound = (m: Map<string, unknown>): void => {
    if (m.size > CACHE_ENTRIES_MAX) m.clear();
  };
  return {
    ...base,
    name: `${base.name}+cache`,
    stats,
    ed25519PublicKey(seed32: Uint8Array): Uint8Array {
      const k = key([seed32]);
      let v = pub.get(k);
      if (v === undefined) pub.set(k, (v = base.ed25519PublicKey(seed32)));
      return v;
    },
    ed25519Sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
      stats.signs++;
      const k = key([seed32, message]);
      let v = sigs.get(k);
      if (v === undefined) {
        bound(sigs);
        sigs.set(k, (v = base.ed25519Sign(seed32, message)));
      } else stats.signCacheHits++;
      return v.slice();
    },
    ed25519VerifyBatch(items: readonly SignedItem[]): Uint8Array {
      const out = new Uint8Array(items.length);
      const missIdx: number[] = [];
      const missKeys: string[] = [];
      items.forEach((it, i) => {
        stats.verifies++;
        const k = key([it.publicKey, it.message, it.signature]);
        const v = verdicts.get(k);
        if (v === undefined) {
          missIdx.push(i);
          missKeys.push(k);
        } else {
          stats.verifyCacheHits++;
          out[i] = v;
        }
      });
      if (missIdx.length > 0) {
        const res = base.ed25519VerifyBatch(missIdx.map((i) => items[i]!));
        bound(verdicts);
        missIdx.forEach((i, j) => {
          out[i] = res[j]!;
          verdicts.set(missKeys[j]!, res[j]!);
        });
      }
      return out;
    },
  };
}
