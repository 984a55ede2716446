// Ed25519 in WebAssembly: RFC 8032 key derivation and signing, and verification under the
// ZIP-215 rule of bpci (packages/core-ts/src/crypto/ed25519-rule.ts):
//   S < L or reject; A and R decode with non-canonical y accepted (reduced mod p) and are
//   rejected only when not on the curve; k = SHA-512(R || A || M) mod L over the bytes as
//   received; accept iff [8]([S]B - R - [k]A) is the identity.
//
// Memory contract (no allocator, no GC): everything the module needs lives in static data.
// The host writes inputs at ioBase() and above (growing memory itself) and passes pointers.
//   publicKey(seed, out32)
//   sign(seed, msg, msgLen, out64)
//   verifyBatch(items, n, out): items is n records of ITEM_BYTES:
//     [0, 32) public key, [32, 96) signature, [96, 100) message pointer (u32 LE),
//     [100, 104) message length (u32 LE); out receives n bytes, 1 = valid, 0 = invalid.
// Lengths are checked by the host: wrong-length keys/signatures never reach this module.

import { sha512Final, sha512Init, sha512Update } from './sha512';
import { scIsCanonical, scMulAdd, scReduce64 } from './scalar';
import { PT, geDbl, geFromBytes, geIsIdentity, geSubC, geToBytes, geToCached, geToP2, X, T } from './point';
import { feNeg } from './field';
import { doubleScalarMultVartime, initTables, scalarMultBase } from './scalarmult';

export const ITEM_BYTES: i32 = 104;

const HASH: usize = memory.data(64, 16);
const AZ: usize = memory.data(64, 16); //   expanded secret: a (clamped) || prefix
const NONCE: usize = memory.data(32, 16);
const KSC: usize = memory.data(32, 16);
const PUB: usize = memory.data(32, 16);
const PA: usize = memory.data(<i32>PT, 16);
const PR: usize = memory.data(<i32>PT, 16);
const RC: usize = memory.data(<i32>PT, 16);
const Q1: usize = memory.data(<i32>PT, 16);
const Q2: usize = memory.data(<i32>PT, 16);

/** First free byte (16-aligned) after the static data: the host's input/output area. */
export function ioBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

/** Build both precomputed tables now (otherwise the first sign/verify pays for them). */
export function init(): void {
  initTables();
}

/** SHA-512 of the seed, clamped: AZ = a || prefix (RFC 8032 5.1.5). */
function expandSeed(seed: usize): void {
  sha512Init();
  sha512Update(seed, 32);
  sha512Final(AZ);
  store<u8>(AZ, load<u8>(AZ) & 248);
  store<u8>(AZ + 31, (load<u8>(AZ + 31) & 127) | 64);
}

/** out32 = encoding of [a]B for the seed's a. */
export function publicKey(seed: usize, out: usize): void {
  expandSeed(seed);
  scalarMultBase(PA, AZ);
  geToBytes(out, PA);
}

/** out64 = R || S, the deterministic RFC 8032 signature of msg under the seed. */
export function sign(seed: usize, msg: usize, msgLen: usize, out: usize): void {
  expandSeed(seed);
  scalarMultBase(PA, AZ);
  geToBytes(PUB, PA);
  // r = SHA-512(prefix || M) mod L; R = [r]B
  sha512Init();
  sha512Update(AZ + 32, 32);
  sha512Update(msg, msgLen);
  sha512Final(HASH);
  scReduce64(NONCE, HASH);
  scalarMultBase(PR, NONCE);
  geToBytes(out, PR);
  // k = SHA-512(R || A || M) mod L; S = r + k a mod L
  sha512Init();
  sha512Update(out, 32);
  sha512Update(PUB, 32);
  sha512Update(msg, msgLen);
  sha512Final(HASH);
  scReduce64(KSC, HASH);
  scMulAdd(out + 32, KSC, AZ, NONCE);
}

/** ZIP-215 verdict for one signature (pk 32 bytes, sig 64 bytes). */
export function verify(pk: usize, sig: usize, msg: usize, msgLen: usize): bool {
  if (!scIsCanonical(sig + 32)) return false;
  if (!geFromBytes(PA, pk)) return false;
  if (!geFromBytes(PR, sig)) return false;
  sha512Init();
  sha512Update(sig, 32);
  sha512Update(pk, 32);
  sha512Update(msg, msgLen);
  sha512Final(HASH);
  scReduce64(KSC, HASH);
  // Q = [S]B + [k](-A) - R, then [8]Q must be the identity
  feNeg(PA + X, PA + X);
  feNeg(PA + T, PA + T);
  doubleScalarMultVartime(Q1, KSC, PA, sig + 32);
  geToCached(RC, PR);
  geSubC(Q2, Q1, RC);
  geToP2(Q1, Q2);
  geDbl(Q2, Q1); geToP2(Q1, Q2);
  geDbl(Q2, Q1); geToP2(Q1, Q2);
  geDbl(Q2, Q1); geToP2(Q1, Q2);
  return geIsIdentity(Q1);
}

/** One 0/1 per item record (layout in the header comment). */
export function verifyBatch(items: usize, n: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    const it = items + <usize>i * <usize>ITEM_BYTES;
    const msg = <usize>load<u32>(it, 96);
    const len = <usize>load<u32>(it, 100);
    store<u8>(out + <usize>i, verify(it, it + 32, msg, len) ? 1 : 0);
  }
}
