// GF(2^255 - 19) arithmetic on 10 signed i64 limbs in radix 2^25.5 (see gen-field.mjs for the
// layout and bounds). A field element is 80 bytes of linear memory addressed by a pointer;
// nothing here allocates. Multiply/square are generated (fe-gen.ts); this file holds the rest.
//
// Contract used by every caller: feMul inputs may be sums/differences of up to four carried
// elements (outputs of feMul/feSq/feCarry/feFromBytes/constants); feSq inputs up to two.
// feAdd/feSub do not carry, so chain at most that many before a multiply.

import { feMul, feSq } from './fe-gen';

export { feMul, feSq, feSq2, FE_D, FE_D2, FE_SQRTM1, FE_BX, FE_BY } from './fe-gen';

/** Bytes per field element. */
export const FE: usize = 80;

/** Bit width of limb i (26 for even, 25 for odd). */
@inline function limbBits(i: i32): i32 { return 26 - (i & 1); }

export function feZero(h: usize): void { memory.fill(h, 0, FE); }

export function feOne(h: usize): void { memory.fill(h, 0, FE); store<i64>(h, 1); }

export function feCopy(h: usize, f: usize): void { memory.copy(h, f, FE); }

/** h = f + g (no carry). */
export function feAdd(h: usize, f: usize, g: usize): void {
  for (let i: usize = 0; i < FE; i += 8) store<i64>(h + i, load<i64>(f + i) + load<i64>(g + i));
}

/** h = f - g (no carry; limbs are signed, so no bias is needed). */
export function feSub(h: usize, f: usize, g: usize): void {
  for (let i: usize = 0; i < FE; i += 8) store<i64>(h + i, load<i64>(f + i) - load<i64>(g + i));
}

/** h = -f. */
export function feNeg(h: usize, f: usize): void {
  for (let i: usize = 0; i < FE; i += 8) store<i64>(h + i, -load<i64>(f + i));
}

/** Floor-carry every limb once into [0, 2^bits); the top carry re-enters limb 0 times 19. */
function feCarryFloor(h: usize): void {
  for (let i = 0; i < 10; i++) {
    const b = limbBits(i);
    const p = h + (<usize>i << 3);
    const v = load<i64>(p);
    const c = v >> b;
    store<i64>(p, v - (c << b));
    if (i < 9) store<i64>(p + 8, load<i64>(p + 8) + c);
    else store<i64>(h, load<i64>(h) + c * 19);
  }
}

/**
 * Balanced carry in place: limbs end in [-2^25, 2^25) / [-2^24, 2^24) (limb 0 up to +19 more),
 * the same shape a multiply returns, so the result counts as one carried element.
 */
export function feCarry(h: usize): void {
  for (let i = 0; i < 10; i++) {
    const b = limbBits(i);
    const p = h + (<usize>i << 3);
    const v = load<i64>(p);
    const c = (v + (<i64>1 << (b - 1))) >> b;
    store<i64>(p, v - (c << b));
    if (i < 9) store<i64>(p + 8, load<i64>(p + 8) + c);
    else store<i64>(h, load<i64>(h) + c * 19);
  }
}

const SCRATCH40: usize = memory.data(48, 16);

/** Load 32 little-endian bytes; bit 255 is ignored and values >= p are kept (reduced lazily). */
export function feFromBytes(h: usize, s: usize): void {
  memory.copy(SCRATCH40, s, 32);
  store<u64>(SCRATCH40 + 32, 0);
  let w = 0;
  for (let i = 0; i < 10; i++) {
    const b = limbBits(i);
    const v = load<u64>(SCRATCH40 + (<usize>w >> 3)) >> <u64>(w & 7);
    store<i64>(h + (<usize>i << 3), <i64>(v & ((<u64>1 << <u64>b) - 1)));
    w += b;
  }
  feCarry(h); // balance the limbs so the bounds of a carried element hold
}

const TB: usize = memory.data(<i32>FE, 16);

/** Canonical 32-byte encoding of h (fully reduced mod p). */
export function feToBytes(s: usize, h: usize): void {
  feCopy(TB, h);
  // Three floor passes bring any carried or lightly added value into [0, 2^255) with every limb
  // in range (the second pass absorbs the wrap of the first; the third is a no-op safety net).
  feCarryFloor(TB);
  feCarryFloor(TB);
  feCarryFloor(TB);
  // u >= p  <=>  u + 19 >= 2^255: q is that top carry. Then u - q p = u + 19 q - q 2^255.
  let q: i64 = (load<i64>(TB) + 19) >> 26;
  for (let i = 1; i < 10; i++) q = (load<i64>(TB + (<usize>i << 3)) + q) >> limbBits(i);
  store<i64>(TB, load<i64>(TB) + 19 * q);
  for (let i = 0; i < 9; i++) {
    const b = limbBits(i);
    const p = TB + (<usize>i << 3);
    const v = load<i64>(p);
    const c = v >> b;
    store<i64>(p, v - (c << b));
    store<i64>(p + 8, load<i64>(p + 8) + c);
  }
  store<i64>(TB + 72, load<i64>(TB + 72) & ((1 << 25) - 1)); // drop q * 2^255
  // Pack the limbs (26,25,26,...) into bytes.
  let acc: u64 = 0;
  let accBits: i32 = 0;
  let o: usize = 0;
  for (let i = 0; i < 10; i++) {
    acc |= <u64>load<i64>(TB + (<usize>i << 3)) << <u64>accBits;
    accBits += limbBits(i);
    while (accBits >= 8) {
      store<u8>(s + o, <u8>acc);
      o++;
      acc >>= 8;
      accBits -= 8;
    }
  }
  store<u8>(s + 31, <u8>acc); // the last 7 bits (255 = 31*8 + 7)
}

const TZ: usize = memory.data(32, 16);

/** 1 if h == 0 (mod p). */
export function feIsZero(h: usize): bool {
  feToBytes(TZ, h);
  return (load<u64>(TZ) | load<u64>(TZ, 8) | load<u64>(TZ, 16) | load<u64>(TZ, 24)) == 0;
}

/** The "sign" of RFC 8032: the low bit of the canonical encoding. */
export function feIsNegative(h: usize): bool {
  feToBytes(TZ, h);
  return (load<u8>(TZ) & 1) != 0;
}

/** h = f squared n times (n >= 1). */
function feSqN(h: usize, f: usize, n: i32): void {
  feSq(h, f);
  for (let i = 1; i < n; i++) feSq(h, h);
}

const P0: usize = memory.data(<i32>FE, 16);
const P1: usize = memory.data(<i32>FE, 16);
const P2: usize = memory.data(<i32>FE, 16);
const P3: usize = memory.data(<i32>FE, 16);
const P4: usize = memory.data(<i32>FE, 16);

/**
 * Shared addition chain: leaves z^(2^250 - 1) in P0 and z^11 in P4.
 * Exponents: 2, 8, 9, 11, 22, 2^5-1, 2^10-1, 2^20-1, 2^40-1, 2^50-1, 2^100-1, 2^200-1, 2^250-1.
 */
function powChain250(z: usize): void {
  feSq(P1, z); //                 z^2
  feSqN(P2, P1, 2); //            z^8
  feMul(P2, P2, z); //            z^9
  feMul(P4, P2, P1); //           z^11
  feSq(P1, P4); //                z^22
  feMul(P0, P1, P2); //           z^(2^5-1)
  feSqN(P1, P0, 5);
  feMul(P0, P1, P0); //           z^(2^10-1)
  feCopy(P3, P0); //              keep 2^10-1
  feSqN(P1, P0, 10);
  feMul(P1, P1, P0); //           z^(2^20-1)
  feSqN(P2, P1, 20);
  feMul(P1, P2, P1); //           z^(2^40-1)
  feSqN(P1, P1, 10);
  feMul(P0, P1, P3); //           z^(2^50-1)
  feCopy(P3, P0); //              keep 2^50-1
  feSqN(P1, P0, 50);
  feMul(P1, P1, P0); //           z^(2^100-1)
  feSqN(P2, P1, 100);
  feMul(P1, P2, P1); //           z^(2^200-1)
  feSqN(P1, P1, 50);
  feMul(P0, P1, P3); //           z^(2^250-1)
}

/** h = 1/z = z^(p-2) = z^(2^255-21); 0 maps to 0. */
export function feInvert(h: usize, z: usize): void {
  powChain250(z);
  feSqN(P0, P0, 5); //            z^(2^255-32)
  feMul(h, P0, P4); //            z^(2^255-21)
}

/** h = z^((p-5)/8) = z^(2^252-3), the core of the square root. */
export function fePow22523(h: usize, z: usize): void {
  powChain250(z);
  feSqN(P0, P0, 2); //            z^(2^252-4)
  feMul(h, P0, z); //             z^(2^252-3)
}

/** h = g if b else h, without a data-dependent branch (used with secret table indices). */
export function feCmov(h: usize, g: usize, b: i64): void {
  const mask: i64 = -b; // all ones when b == 1
  for (let i: usize = 0; i < FE; i += 8) {
    const x = load<i64>(h + i);
    store<i64>(h + i, x ^ ((x ^ load<i64>(g + i)) & mask));
  }
}
