// Points of edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2) in the coordinate systems of Hisil et al.,
// "Twisted Edwards Curves Revisited" (2008). Every point is a pointer to consecutive field
// elements (80 bytes each):
//   p2     (X, Y, Z)            x = X/Z, y = Y/Z
//   p3     (X, Y, Z, T)         as p2 with T = XY/Z (extended)
//   p1p1   (X, Y, Z, T)         "completed": x = X/Z, y = Y/T (output of add/double)
//   cached (Y+X, Y-X, Z, 2dT)   a p3 prepared for repeated additions
//   niels  (y+x, y-x, 2dxy)     an affine cached point (Z = 1), for precomputed tables
// a = -1 is a square and d is not, so the unified addition is complete: it is correct for every
// pair of curve points, including small-order and mixed-order ones that ZIP-215 lets through.

import {
  FE, FE_BX, FE_BY, FE_D, FE_D2, FE_SQRTM1, feAdd, feCarry, feCmov, feCopy, feFromBytes,
  feInvert, feIsNegative, feIsZero, feMul, feNeg, feOne, fePow22523, feSq, feSq2, feSub, feToBytes, feZero,
} from './field';

export const X: usize = 0;
export const Y: usize = FE;
export const Z: usize = 2 * FE;
export const T: usize = 3 * FE;
/** Bytes of a p3, p1p1 or cached point; p2 and niels use the first 3 * FE. */
export const PT: usize = 4 * FE;
export const NIELS: usize = 3 * FE;

const TA: usize = memory.data(<i32>FE, 16);
const TB: usize = memory.data(<i32>FE, 16);
const TC: usize = memory.data(<i32>FE, 16);
const TD: usize = memory.data(<i32>FE, 16);

export function geP3Identity(p: usize): void {
  feZero(p + X); feOne(p + Y); feOne(p + Z); feZero(p + T);
}

/** r = 2p, p a p2 (or p3: T is not read). Cost 4S. */
export function geDbl(r: usize, p: usize): void {
  feSq(TA, p + X); //            XX
  feSq(TB, p + Y); //            YY
  feSq2(TC, p + Z); //           2 ZZ
  feAdd(TD, p + X, p + Y);
  feSq(TD, TD); //               (X + Y)^2
  feAdd(r + Y, TB, TA); //       H = YY + XX
  feSub(r + Z, TB, TA); //       G = YY - XX
  feSub(r + X, TD, r + Y); //    E = 2XY
  feSub(r + T, TC, r + Z); //    F = 2ZZ - G
}

/** p1p1 -> p2 (3M). r may not alias p. */
export function geToP2(r: usize, p: usize): void {
  feMul(r + X, p + X, p + T);
  feMul(r + Y, p + Y, p + Z);
  feMul(r + Z, p + Z, p + T);
}

/** p1p1 -> p3 (4M). r may not alias p. */
export function geToP3(r: usize, p: usize): void {
  feMul(r + X, p + X, p + T);
  feMul(r + Y, p + Y, p + Z);
  feMul(r + Z, p + Z, p + T);
  feMul(r + T, p + X, p + Y);
}

/** p3 -> cached. */
export function geToCached(r: usize, p: usize): void {
  feAdd(r + X, p + Y, p + X); feCarry(r + X);
  feSub(r + Y, p + Y, p + X); feCarry(r + Y);
  feCopy(r + Z, p + Z);
  feMul(r + T, p + T, FE_D2);
}

/**
 * Shared body of the four additions: r (p1p1) = p (p3) + q, or p - q when neg. q is given by
 * its Y+X, Y-X and 2dT fields and its Z (qz = 0 means Z = 1, a niels point). Negating q swaps
 * Y+X with Y-X and negates 2dT, which here means swapping the roles of G and F.
 */
@inline function addBody(r: usize, p: usize, ypx: usize, ymx: usize, t2d: usize, qz: usize, neg: bool): void {
  feAdd(TA, p + Y, p + X);
  feSub(TB, p + Y, p + X);
  feMul(TA, TA, neg ? ymx : ypx); //          B = (Y1+X1)(Y2+X2)
  feMul(TB, TB, neg ? ypx : ymx); //          A = (Y1-X1)(Y2-X2)
  feMul(TC, p + T, t2d); //                   C = T1 2d T2
  if (qz != 0) feMul(TD, p + Z, qz); else feCopy(TD, p + Z);
  feAdd(TD, TD, TD); //                       D = 2 Z1 Z2
  feSub(r + X, TA, TB); //                    E = B - A
  feAdd(r + Y, TA, TB); //                    H = B + A
  if (neg) {
    feSub(r + Z, TD, TC); //                  G = D - C'
    feAdd(r + T, TD, TC); //                  F = D + C'
  } else {
    feAdd(r + Z, TD, TC); //                  G = D + C
    feSub(r + T, TD, TC); //                  F = D - C
  }
}

/** r (p1p1) = p (p3) + q (cached). */
export function geAdd(r: usize, p: usize, q: usize): void { addBody(r, p, q, q + FE, q + T, q + Z, false); }
/** r (p1p1) = p (p3) - q (cached). */
export function geSubC(r: usize, p: usize, q: usize): void { addBody(r, p, q, q + FE, q + T, q + Z, true); }
/** r (p1p1) = p (p3) + q (niels). */
export function geMadd(r: usize, p: usize, q: usize): void { addBody(r, p, q, q + FE, q + 2 * FE, 0, false); }
/** r (p1p1) = p (p3) - q (niels). */
export function geMsub(r: usize, p: usize, q: usize): void { addBody(r, p, q, q + FE, q + 2 * FE, 0, true); }

const DU: usize = memory.data(<i32>FE, 16);
const DV: usize = memory.data(<i32>FE, 16);
const DW: usize = memory.data(<i32>FE, 16);
const DX: usize = memory.data(<i32>FE, 16);

/**
 * ZIP-215 decoding of 32 bytes into a p3: y is the low 255 bits taken as an integer and
 * reduced mod p (so y >= p is accepted), x is recovered from the curve equation and its parity
 * set from bit 255. Returns false only when no x exists (the encoding is not on the curve).
 * x = 0 with the sign bit set is accepted (as -0 = 0), as ZIP-215 / dalek do.
 */
export function geFromBytes(h: usize, s: usize): bool {
  feFromBytes(h + Y, s);
  feOne(h + Z);
  feSq(DU, h + Y);
  feMul(DV, DU, FE_D);
  feSub(DU, DU, h + Z); //        u = y^2 - 1
  feAdd(DV, DV, h + Z); //        v = d y^2 + 1
  // x = u v^3 (u v^7)^((p-5)/8): a candidate square root of u/v without an inversion
  feSq(DW, DV);
  feMul(DW, DW, DV); //           v^3
  feSq(h + X, DW);
  feMul(h + X, h + X, DV);
  feMul(h + X, h + X, DU); //     u v^7
  fePow22523(h + X, h + X);
  feMul(h + X, h + X, DW);
  feMul(h + X, h + X, DU); //     x
  feSq(DX, h + X);
  feMul(DX, DX, DV); //           v x^2
  feSub(DW, DX, DU);
  if (!feIsZero(DW)) {
    feAdd(DW, DX, DU);
    if (!feIsZero(DW)) return false; // u/v is not a square: not a curve point
    feMul(h + X, h + X, FE_SQRTM1);
  }
  const signBit = (load<u8>(s + 31) >> 7) != 0;
  if (feIsNegative(h + X) != signBit) feNeg(h + X, h + X);
  feMul(h + T, h + X, h + Y);
  return true;
}

const EZ: usize = memory.data(<i32>FE, 16);
const EX: usize = memory.data(<i32>FE, 16);
const EY: usize = memory.data(<i32>FE, 16);

/** Canonical encoding of a p2/p3. */
export function geToBytes(s: usize, p: usize): void {
  feInvert(EZ, p + Z);
  feMul(EX, p + X, EZ);
  feMul(EY, p + Y, EZ);
  feToBytes(s, EY);
  store<u8>(s + 31, load<u8>(s + 31) | (feIsNegative(EX) ? 0x80 : 0));
}

/** p3 -> niels (affine; one inversion). */
export function geToNiels(r: usize, p: usize): void {
  feInvert(EZ, p + Z);
  feMul(EX, p + X, EZ);
  feMul(EY, p + Y, EZ);
  feAdd(r, EY, EX); feCarry(r);
  feSub(r + FE, EY, EX); feCarry(r + FE);
  feMul(r + 2 * FE, EX, EY);
  feMul(r + 2 * FE, r + 2 * FE, FE_D2);
}

/** The base point B as a p3. */
export function geBase(p: usize): void {
  feCopy(p + X, FE_BX);
  feCopy(p + Y, FE_BY);
  feOne(p + Z);
  feMul(p + T, FE_BX, FE_BY);
}

/** True iff the p2/p3 p is the identity (0 : 1): X = 0 and Y = Z. */
export function geIsIdentity(p: usize): bool {
  if (!feIsZero(p + X)) return false;
  feSub(EX, p + Y, p + Z);
  return feIsZero(EX);
}

/** Constant-time conditional copy of a niels point (b is 0 or 1). */
export function geCmovNiels(r: usize, q: usize, b: i64): void {
  feCmov(r, q, b);
  feCmov(r + FE, q + FE, b);
  feCmov(r + 2 * FE, q + 2 * FE, b);
}
