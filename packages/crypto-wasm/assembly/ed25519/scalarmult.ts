// Scalar multiplication: the fixed-base comb for signing (secret scalars, constant-time table
// selection), the variable-time double-scalar product [s]B + [k]P for single verification and
// the Straus multi-scalar product for batches (public inputs only). Tables are computed from B
// on first use; nothing is copied from elsewhere.

import { FE, feCmov, feNeg, feOne, feZero } from './field';
import {
  NIELS, PT, geAdd, geBase, geCmovNiels, geDbl, geMadd, geMsub, geP3Identity, geSubC, geToCached,
  geToNiels, geToP2, geToP3,
} from './point';

// ---- fixed base (signing) ---------------------------------------------------------------------

/** RADIX[i][j] = (j + 1) 256^i B, i < 32, j < 8, as niels points. */
const RADIX: usize = memory.data(32 * 8 * <i32>NIELS, 16);
let radixReady = false;

const G0: usize = memory.data(<i32>PT, 16);
const G1: usize = memory.data(<i32>PT, 16);
const G2: usize = memory.data(<i32>PT, 16);
const GC: usize = memory.data(<i32>PT, 16);

function initRadix(): void {
  geBase(G0); // G0 = 256^i B
  for (let i = 0; i < 32; i++) {
    const row = RADIX + <usize>i * 8 * NIELS;
    geToCached(GC, G0);
    memory.copy(G1, G0, PT); // G1 = (j + 1) 256^i B
    geToNiels(row, G1);
    for (let j = 1; j < 8; j++) {
      geAdd(G2, G1, GC);
      geToP3(G1, G2);
      geToNiels(row + <usize>j * NIELS, G1);
    }
    for (let k = 0; k < 8; k++) {
      geDbl(G2, G0);
      geToP3(G0, G2);
    }
  }
  radixReady = true;
}

const DIGITS: usize = memory.data(64, 16);
const SEL: usize = memory.data(<i32>NIELS, 16);
const NEGT: usize = memory.data(<i32>FE, 16);

/** SEL = e * RADIX[i][.] for a digit e in [-8, 8], scanning the whole row (no secret index). */
function selectRadix(i: i32, e: i32): void {
  const neg = <i64>((e >>> 31) & 1);
  const abs = (e ^ -(<i32>neg)) + <i32>neg;
  // identity niels: y+x = 1, y-x = 1, 2dxy = 0
  feOne(SEL); feOne(SEL + FE); feZero(SEL + 2 * FE);
  const row = RADIX + <usize>i * 8 * NIELS;
  for (let j = 0; j < 8; j++) {
    const eq = <i64>(((abs ^ (j + 1)) - 1) >>> 31); // 1 iff abs == j + 1
    geCmovNiels(SEL, row + <usize>j * NIELS, eq);
  }
  // -Q: swap y+x and y-x, negate 2dxy (done with cmov so the sign does not branch)
  geCmovSwap(SEL, SEL + FE, neg);
  feNeg(NEGT, SEL + 2 * FE);
  feCmov(SEL + 2 * FE, NEGT, neg);
}

/** Swap field elements a and b when bit is 1, without a branch. */
function geCmovSwap(a: usize, b: usize, bit: i64): void {
  const mask: i64 = -bit;
  for (let i: usize = 0; i < FE; i += 8) {
    const x = load<i64>(a + i);
    const y = load<i64>(b + i);
    const t = (x ^ y) & mask;
    store<i64>(a + i, x ^ t);
    store<i64>(b + i, y ^ t);
  }
}

const R1: usize = memory.data(<i32>PT, 16);

/**
 * h (p3) = [a]B for a 32-byte little-endian a < 2^255 (a clamped secret or a reduced nonce).
 * a = sum e_i 16^i with signed digits e_i in [-8, 8); odd digits are summed first and the sum is
 * multiplied by 16, so each row of 256^i multiples serves two digits.
 */
export function scalarMultBase(h: usize, a: usize): void {
  if (!radixReady) initRadix();
  for (let i = 0; i < 32; i++) {
    const b = <i32>load<u8>(a + <usize>i);
    store<i8>(DIGITS + <usize>(2 * i), <i8>(b & 15));
    store<i8>(DIGITS + <usize>(2 * i + 1), <i8>(b >> 4));
  }
  let carry = 0;
  for (let i = 0; i < 63; i++) {
    const e = <i32>load<i8>(DIGITS + <usize>i) + carry;
    carry = (e + 8) >> 4;
    store<i8>(DIGITS + <usize>i, <i8>(e - (carry << 4)));
  }
  store<i8>(DIGITS + 63, <i8>(<i32>load<i8>(DIGITS + 63) + carry));

  geP3Identity(h);
  for (let i = 1; i < 64; i += 2) {
    selectRadix(i >> 1, <i32>load<i8>(DIGITS + <usize>i));
    geMadd(R1, h, SEL);
    geToP3(h, R1);
  }
  geDbl(R1, h); geToP2(h, R1);
  geDbl(R1, h); geToP2(h, R1);
  geDbl(R1, h); geToP2(h, R1);
  geDbl(R1, h); geToP3(h, R1);
  for (let i = 0; i < 64; i += 2) {
    selectRadix(i >> 1, <i32>load<i8>(DIGITS + <usize>i));
    geMadd(R1, h, SEL);
    geToP3(h, R1);
  }
}

// ---- double scalar (verification) -------------------------------------------------------------

const B_WIDTH = 8; //  64 odd multiples of B, precomputed once
const P_WIDTH = 5; //  8 odd multiples of the variable point, per verification
/** BODD[i] = (2i + 1) B as niels, i < 64. */
const BODD: usize = memory.data(64 * <i32>NIELS, 16);
let boddReady = false;

function initBodd(): void {
  geBase(G0);
  geDbl(G2, G0);
  geToP3(G1, G2);
  geToCached(GC, G1); // 2B
  for (let i = 0; i < 64; i++) {
    geToNiels(BODD + <usize>i * NIELS, G0);
    geAdd(G2, G0, GC);
    geToP3(G0, G2);
  }
  boddReady = true;
}

const NAF_S: usize = memory.data(264, 16);
const NAF_K: usize = memory.data(264, 16);
const NAF_PAD: usize = memory.data(48, 16);

/**
 * Width-w NAF of a 32-byte scalar (< 2^253 here): out[i] in {0, odd digits |d| < 2^(w-1)},
 * at least w - 1 zeros after each nonzero digit. Scans bits; a run of bits that already
 * matches the pending carry is skipped, otherwise a w-bit window becomes one signed digit.
 */
function naf(out: usize, s: usize, w: i32): void {
  memory.fill(out, 0, 256);
  memory.copy(NAF_PAD, s, 32);
  memory.fill(NAF_PAD + 32, 0, 16);
  let carry = 0;
  let bit = 0;
  while (bit < 256) {
    const word64 = load<u64>(NAF_PAD + (<usize>bit >> 3)) >> <u64>(bit & 7);
    if (<i32>(word64 & 1) == carry) { bit++; continue; }
    const now = min<i32>(w, 256 - bit);
    let word = <i32>(word64 & ((<u64>1 << <u64>now) - 1)) + carry;
    carry = (word >> (w - 1)) & 1;
    word -= carry << w;
    store<i8>(out + <usize>bit, <i8>word);
    bit += now;
  }
}

/** PODD[i] = (2i + 1) P as cached points, i < 8. */
const PODD: usize = memory.data(8 * <i32>PT, 16);
const V1: usize = memory.data(<i32>PT, 16);
const V2: usize = memory.data(<i32>PT, 16);

/**
 * r (p3) = [s]B + [k]P, variable time (s, k and P are public in verification).
 * Interleaved sliding windows: one doubling per bit, an addition per nonzero digit.
 */
export function doubleScalarMultVartime(r: usize, k: usize, p: usize, s: usize): void {
  if (!boddReady) initBodd();
  naf(NAF_K, k, P_WIDTH);
  naf(NAF_S, s, B_WIDTH);
  geToCached(PODD, p);
  geDbl(V1, p);
  geToP3(V2, V1); // 2P
  for (let i = 1; i < 8; i++) {
    geAdd(V1, V2, PODD + <usize>(i - 1) * PT);
    geToP3(r, V1);
    geToCached(PODD + <usize>i * PT, r);
  }

  let i = 255;
  while (i >= 0 && load<i8>(NAF_K + <usize>i) == 0 && load<i8>(NAF_S + <usize>i) == 0) i--;
  geP3Identity(r);
  for (; i >= 0; i--) {
    geDbl(V1, r); // r is a p3 or p2 here; doubling reads X, Y, Z only
    const dk = <i32>load<i8>(NAF_K + <usize>i);
    const ds = <i32>load<i8>(NAF_S + <usize>i);
    if (dk != 0 || ds != 0) {
      geToP3(r, V1);
      if (dk > 0) geAdd(V1, r, PODD + <usize>(dk >> 1) * PT);
      else if (dk < 0) geSubC(V1, r, PODD + <usize>((-dk) >> 1) * PT);
      if (dk != 0 && ds != 0) geToP3(r, V1);
      if (ds > 0) geMadd(V1, r, BODD + <usize>(ds >> 1) * NIELS);
      else if (ds < 0) geMsub(V1, r, BODD + <usize>((-ds) >> 1) * NIELS);
    }
    // the last iteration must leave a full p3 (T is needed by the caller's addition)
    if (i == 0) geToP3(r, V1); else geToP2(r, V1);
  }
}

/** Warm both tables (so the first sign/verify is not the slow one). */
export function initTables(): void {
  if (!radixReady) initRadix();
  if (!boddReady) initBodd();
}

// ---- multi-scalar multiplication (batch verification) -----------------------------------------

/** Points per MSM (a batch group of MSM_POINTS / 2 signatures: one A and one R each). */
export const MSM_POINTS = 128;
/** Per point: 8 odd multiples (1P .. 15P) as cached points. */
const MSM_TABLES: usize = memory.data(MSM_POINTS * 8 * <i32>PT, 16);
/** Per point: its width-5 NAF (256 digits). */
const MSM_NAFS: usize = memory.data(MSM_POINTS * 256, 16);
const MSM_NAF_B: usize = memory.data(264, 16);
const M1: usize = memory.data(<i32>PT, 16);
const M2: usize = memory.data(<i32>PT, 16);
const M3: usize = memory.data(<i32>PT, 16);
let msmCount = 0;
let msmTop = -1;

export function msmReset(): void {
  msmCount = 0;
  msmTop = -1;
}

/** Highest nonzero digit index of a 256-digit NAF, -1 if none. */
function nafTop(naf: usize): i32 {
  let i = 255;
  while (i >= 0 && load<i8>(naf + <usize>i) == 0) i--;
  return i;
}

/** Queue [s]P (P a p3, s a 32-byte scalar < 2^253). The caller keeps msmCount < MSM_POINTS. */
export function msmAdd(p: usize, s: usize): void {
  const tab = MSM_TABLES + <usize>msmCount * 8 * PT;
  const naf_ = MSM_NAFS + <usize>msmCount * 256;
  naf(naf_, s, P_WIDTH);
  msmTop = max<i32>(msmTop, nafTop(naf_));
  geToCached(tab, p);
  geDbl(M1, p);
  geToP3(M2, M1); // 2P
  for (let i = 1; i < 8; i++) { // (2i + 1)P = 2P + (2i - 1)P
    geAdd(M1, M2, tab + <usize>(i - 1) * PT);
    geToP3(M3, M1);
    geToCached(tab + <usize>i * PT, M3);
  }
  msmCount++;
}

/**
 * r (p3) = [sb]B + sum of the queued [s_j]P_j, variable time (Straus: shared doublings,
 * one addition per nonzero digit of each scalar).
 */
export function msmEval(r: usize, sb: usize): void {
  if (!boddReady) initBodd();
  naf(MSM_NAF_B, sb, B_WIDTH);
  let i = max<i32>(msmTop, nafTop(MSM_NAF_B));
  geP3Identity(r);
  for (; i >= 0; i--) {
    geDbl(V1, r);
    geToP3(r, V1);
    for (let j = 0; j < msmCount; j++) {
      const d = <i32>load<i8>(MSM_NAFS + <usize>j * 256 + <usize>i);
      if (d == 0) continue;
      const tab = MSM_TABLES + <usize>j * 8 * PT;
      if (d > 0) geAdd(V1, r, tab + <usize>(d >> 1) * PT);
      else geSubC(V1, r, tab + <usize>((-d) >> 1) * PT);
      geToP3(r, V1);
    }
    const db = <i32>load<i8>(MSM_NAF_B + <usize>i);
    if (db > 0) { geMadd(V1, r, BODD + <usize>(db >> 1) * NIELS); geToP3(r, V1); }
    else if (db < 0) { geMsub(V1, r, BODD + <usize>((-db) >> 1) * NIELS); geToP3(r, V1); }
  }
}
