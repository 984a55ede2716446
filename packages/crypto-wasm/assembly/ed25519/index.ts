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
//   verifyBatchRandom(items, n, coeffs, out): the same verdicts, computed per group of 64 with
//     one random linear combination (coeffs: n x 16 random bytes from the host).
// Lengths are checked by the host: wrong-length keys/signatures never reach this module.

import { sha512Final, sha512Init, sha512Update } from './sha512';
import { scIsCanonical, scMulAdd, scReduce64 } from './scalar';
import { PT, geDbl, geFromBytes, geIsIdentity, geSubC, geToBytes, geToCached, geToP2, geToP3, X, T } from './point';
import { feNeg } from './field';
import { MSM_POINTS, doubleScalarMultVartime, initTables, msmAdd, msmEval, msmReset, scalarMultBase } from './scalarmult';

export const ITEM_BYTES: i32 = 104;

const HASH: usize = memory.data(64, 16);
const AZ: usize = memory.data(64, 16); //   expanded secret: a (clamped) || prefix
const NONCE: usize = memory.data(32, 16);
const KSC: usize = memory.data(32, 16);
const PUB: usize = memory.data(32, 16);
// The seed whose expansion AZ and public key PUB hold (valid when SIGNED_SEED_OK is 1): a
// validator signs with one key, and the expansion costs as much as the signature.
const SIGNED_SEED: usize = memory.data(32, 16);
let SIGNED_SEED_OK: i32 = 0;
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

/** The seed equals SIGNED_SEED (constant time). */
function sameSeed(seed: usize): bool {
  let d: u64 = 0;
  for (let i: usize = 0; i < 32; i += 8) d |= load<u64>(seed + i) ^ load<u64>(SIGNED_SEED + i);
  return d == 0;
}

/** out32 = encoding of [a]B for the seed's a. */
export function publicKey(seed: usize, out: usize): void {
  SIGNED_SEED_OK = 0; // AZ is about to hold another expansion
  expandSeed(seed);
  scalarMultBase(PA, AZ);
  geToBytes(out, PA);
}

/** out64 = R || S, the deterministic RFC 8032 signature of msg under the seed. */
export function sign(seed: usize, msg: usize, msgLen: usize, out: usize): void {
  if (!SIGNED_SEED_OK || !sameSeed(seed)) {
    expandSeed(seed);
    scalarMultBase(PA, AZ);
    geToBytes(PUB, PA);
    memory.copy(SIGNED_SEED, seed, 32);
    SIGNED_SEED_OK = 1;
  }
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

// ---- decoded public keys -----------------------------------------------------------------------
//
// Decoding a point costs a field exponentiation (about a fifth of a single verification and
// close to half of a batched one). Consensus verifies the same few validator keys over and over,
// so successful decodings are kept in a small direct-mapped cache keyed by the exact 32 bytes
// (two byte strings that encode the same point are distinct entries; decoding is a pure
// function of the bytes, so a hit returns exactly what decoding would). A miss just decodes;
// an adversary filling slots only evicts.

const KEY_SLOTS = 128;
const KEY_ENTRY: usize = 32 + PT; // key bytes, then the p3
const KEY_CACHE: usize = memory.data(KEY_SLOTS * <i32>KEY_ENTRY, 16);
const KEY_USED: usize = memory.data(KEY_SLOTS, 16);

@inline function keySlot(pk: usize): usize {
  // mix a few bytes: encodings of honest keys are uniformly random, so any bytes will do
  const x = load<u32>(pk, 0) ^ load<u32>(pk, 13) ^ load<u32>(pk, 27);
  return <usize>((x ^ (x >> 11) ^ (x >> 22)) & <u32>(KEY_SLOTS - 1));
}

@inline function sameKey(a: usize, b: usize): bool {
  return load<u64>(a, 0) == load<u64>(b, 0) && load<u64>(a, 8) == load<u64>(b, 8) &&
    load<u64>(a, 16) == load<u64>(b, 16) && load<u64>(a, 24) == load<u64>(b, 24);
}

/** geFromBytes for public keys, through the cache. */
function decodeKey(a: usize, pk: usize): bool {
  const slot = keySlot(pk);
  const e = KEY_CACHE + slot * KEY_ENTRY;
  if (load<u8>(KEY_USED + slot) != 0 && sameKey(e, pk)) {
    memory.copy(a, e + 32, PT);
    return true;
  }
  if (!geFromBytes(a, pk)) return false;
  memory.copy(e, pk, 32);
  memory.copy(e + 32, a, PT);
  store<u8>(KEY_USED + slot, 1);
  return true;
}

/**
 * The checks before any curve equation: S < L, A and R decode (ZIP-215), and
 * k = SHA-512(R || A || M) mod L over the received bytes. Fills a, r (p3) and k.
 */
function prepare(pk: usize, sig: usize, msg: usize, msgLen: usize, a: usize, r: usize, k: usize): bool {
  if (!scIsCanonical(sig + 32)) return false;
  if (!decodeKey(a, pk)) return false;
  if (!geFromBytes(r, sig)) return false;
  sha512Init();
  sha512Update(sig, 32);
  sha512Update(pk, 32);
  sha512Update(msg, msgLen);
  sha512Final(HASH);
  scReduce64(k, HASH);
  return true;
}

/** p = -p for a p3. */
function geNegate(p: usize): void {
  feNeg(p + X, p + X);
  feNeg(p + T, p + T);
}

/** [8]q is the identity, q a p3 (q is clobbered). */
function isSmallOrder(q: usize): bool {
  geDbl(Q2, q); geToP2(q, Q2);
  geDbl(Q2, q); geToP2(q, Q2);
  geDbl(Q2, q); geToP2(q, Q2);
  return geIsIdentity(q);
}

/** ZIP-215 verdict for one signature (pk 32 bytes, sig 64 bytes). */
export function verify(pk: usize, sig: usize, msg: usize, msgLen: usize): bool {
  if (!prepare(pk, sig, msg, msgLen, PA, PR, KSC)) return false;
  // Q = [S]B + [k](-A) - R; accept iff [8]Q is the identity
  geNegate(PA);
  doubleScalarMultVartime(Q1, KSC, PA, sig + 32);
  geToCached(RC, PR);
  geSubC(Q2, Q1, RC);
  geToP3(Q1, Q2);
  return isSmallOrder(Q1);
}

/** One 0/1 per item record (layout in the header comment), each checked on its own. */
export function verifyBatch(items: usize, n: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    const it = items + <usize>i * <usize>ITEM_BYTES;
    const msg = <usize>load<u32>(it, 96);
    const len = <usize>load<u32>(it, 100);
    store<u8>(out + <usize>i, verify(it, it + 32, msg, len) ? 1 : 0);
  }
}

// ---- batch verification by random linear combination ------------------------------------------
//
// For a group of items that pass prepare(), with host-supplied random z_i (128 bits, top bit
// forced so z_i != 0), check the one equation
//   [8]( [sum z_i S_i]B - sum [z_i]R_i - sum [z_i k_i]A_i ) = identity.
// Every [8](S_i B - R_i - k_i A_i) lies in the prime-order subgroup, so if any item is invalid
// the sum vanishes with probability at most 2^-127 over the z_i; the cofactor makes small-order
// components of A_i and R_i drop out exactly as in the single equation (ZIP-215's reason to be
// cofactored). When the equation fails, every item of the group is re-checked with verify(),
// so a group's verdicts are exactly the single verdicts unless the 2^-127 event happens.
// Items with byte-identical public keys share one MSM point: sum over them of z_i k_i is one
// scalar for that A (exact, since the same bytes decode to the same point). Consensus batches
// are mostly a few validator keys, so this removes most of the A terms.

const GROUP: i32 = MSM_POINTS / 2;
const GIDX: usize = memory.data(GROUP * 4, 16);
const BA: usize = memory.data(<i32>PT, 16);
const BR: usize = memory.data(<i32>PT, 16);
const BK: usize = memory.data(32, 16);
const ZS: usize = memory.data(32, 16);
const SB: usize = memory.data(32, 16);
const ZERO32: usize = memory.data(32, 16);
/** Distinct public keys of the group: bytes, negated point (p3), accumulated scalar. */
const GA_KEYS: usize = memory.data(GROUP * 32, 16);
const GA_PTS: usize = memory.data(GROUP * <i32>PT, 16);
const GA_SC: usize = memory.data(GROUP * 32, 16);
let gaCount = 0;
let groupN = 0;
let groupsChecked: u32 = 0; //   combinations evaluated
let groupsRechecked: u32 = 0; // of those, failed and re-checked item by item

/** Counters since instantiation: [groups checked, groups re-checked item by item]. */
export function batchGroups(): u32 { return groupsChecked; }
export function batchGroupsRechecked(): u32 { return groupsRechecked; }

function groupReset(): void {
  msmReset();
  memory.fill(SB, 0, 32);
  groupN = 0;
  gaCount = 0;
}

/** Add z_i k_i (ZS, BK) to the scalar of key pk (point a, not negated), creating its entry once. */
function groupAddKey(pk: usize, a: usize): void {
  for (let j = 0; j < gaCount; j++) {
    const sc = GA_SC + (<usize>j << 5);
    if (sameKey(GA_KEYS + (<usize>j << 5), pk)) {
      scMulAdd(sc, ZS, BK, sc);
      return;
    }
  }
  const j = <usize>gaCount;
  gaCount++;
  memory.copy(GA_KEYS + (j << 5), pk, 32);
  const pt = GA_PTS + j * PT;
  memory.copy(pt, a, PT);
  geNegate(pt);
  scMulAdd(GA_SC + (j << 5), ZS, BK, ZERO32);
}

function groupFlush(items: usize, out: usize): void {
  for (let j = 0; j < gaCount; j++) msmAdd(GA_PTS + <usize>j * PT, GA_SC + (<usize>j << 5));
  msmEval(Q1, SB);
  const ok = isSmallOrder(Q1);
  groupsChecked++;
  if (!ok) groupsRechecked++;
  for (let j = 0; j < groupN; j++) {
    const i = load<i32>(GIDX + (<usize>j << 2));
    const it = items + <usize>i * <usize>ITEM_BYTES;
    const v = ok || verify(it, it + 32, <usize>load<u32>(it, 96), <usize>load<u32>(it, 100));
    store<u8>(out + <usize>i, v ? 1 : 0);
  }
  groupReset();
}

/**
 * Like verifyBatch, with the random-linear-combination check per group of up to GROUP items.
 * coeffs holds n x 16 random bytes from the host (a CSPRNG: the soundness rests on them).
 */
export function verifyBatchRandom(items: usize, n: i32, coeffs: usize, out: usize): void {
  groupReset();
  for (let i = 0; i < n; i++) {
    const it = items + <usize>i * <usize>ITEM_BYTES;
    if (!prepare(it, it + 32, <usize>load<u32>(it, 96), <usize>load<u32>(it, 100), BA, BR, BK)) {
      store<u8>(out + <usize>i, 0);
      continue;
    }
    memory.fill(ZS, 0, 32);
    memory.copy(ZS, coeffs + <usize>i * 16, 16);
    store<u8>(ZS + 15, load<u8>(ZS + 15) | 0x80);
    scMulAdd(SB, ZS, it + 64, SB); //   sum z_i S_i
    groupAddKey(it, BA); //             ... + z_i k_i for this A
    geNegate(BR);
    msmAdd(BR, ZS);
    store<i32>(GIDX + (<usize>groupN << 2), i);
    groupN++;
    if (groupN == GROUP) groupFlush(items, out);
  }
  if (groupN > 0) groupFlush(items, out);
}
