// Scalars modulo L = 2^252 + c, c = 27742317777372353535851937790883648493 (the prime order of
// the base point). Work is in signed i64 limbs of 21 bits: 2^252 is limb 12 exactly, and
// 2^252 = -c (mod L) lets a limb j >= 12 fold down as s_j * 2^(21(j-12)) * (-c).

/** c in base 2^21 (6 limbs, c < 2^126). */
const C: usize = memory.data<i64>([1430509, 1626855, 1442968, 997804, 1960495, 683900], 16);

/** L, little-endian bytes. */
const L_BYTES: usize = memory.data<u8>([
  237, 211, 245, 92, 26, 99, 18, 88, 214, 156, 247, 162, 222, 249, 222, 20,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16,
], 16);

const LIMBS = 26; // 25 limbs hold 525 bits (a 512-bit hash), one spare for carries
const S: usize = memory.data(LIMBS * 8, 16);
const A: usize = memory.data(16 * 8, 16);
const B: usize = memory.data(16 * 8, 16);
const PAD: usize = memory.data(80, 16);

@inline function limb(p: usize, i: i32): i64 { return load<i64>(p + (<usize>i << 3)); }
@inline function setLimb(p: usize, i: i32, v: i64): void { store<i64>(p + (<usize>i << 3), v); }

/** Split nbytes little-endian bytes at src into 21-bit limbs at dst (count limbs). */
function toLimbs(dst: usize, src: usize, nbytes: i32, count: i32): void {
  memory.fill(PAD, 0, 80);
  memory.copy(PAD, src, <usize>nbytes);
  for (let i = 0; i < count; i++) {
    const bit = i * 21;
    const v = load<u64>(PAD + (<usize>bit >> 3)) >> <u64>(bit & 7);
    setLimb(dst, i, <i64>(v & 0x1fffff));
  }
}

/** Floor-carry limbs [from, to) into limb `to`; afterwards those limbs are in [0, 2^21). */
function carryRange(from: i32, to: i32): void {
  for (let i = from; i < to; i++) {
    const v = limb(S, i);
    const c = v >> 21;
    setLimb(S, i, v - (c << 21));
    setLimb(S, i + 1, limb(S, i + 1) + c);
  }
}

/** Replace limb j (>= 12) by its equivalent -s_j * c * 2^(21(j-12)). */
function fold(j: i32): void {
  const v = limb(S, j);
  setLimb(S, j, 0);
  for (let k = 0; k < 6; k++) setLimb(S, j - 12 + k, limb(S, j - 12 + k) - v * limb(C, k));
}

/**
 * Reduce S (limbs 0..top, each small) mod L and write 32 canonical bytes to out.
 * Top-down, one limb at a time with a carry after each fold, keeps every limb below ~2^45.
 * After the loop the value is s_0..s_11 plus a tiny s_12; two more rounds fold that away:
 * the first leaves s_12 in {-1, 0, 1}, the second adds or subtracts exactly L, landing in [0, L).
 */
function reduceS(out: usize, top: i32): void {
  for (let j = top; j >= 12; j--) {
    fold(j);
    carryRange(j - 12, j - 1); // carries collect in s_{j-1}, folded next
  }
  for (let r = 0; r < 3; r++) {
    carryRange(0, 12); // s_12 = everything at or above 2^252
    fold(12);
  }
  carryRange(0, 12);
  // pack 12 x 21 bits = 252 bits (the value is < L < 2^253; limb 12 is now 0)
  memory.fill(out, 0, 32);
  let acc: u64 = 0;
  let accBits: i32 = 0;
  let o: usize = 0;
  for (let i = 0; i < 13; i++) {
    acc |= <u64>limb(S, i) << <u64>accBits;
    accBits += 21;
    while (accBits >= 8 && o < 32) {
      store<u8>(out + o, <u8>acc);
      o++;
      acc >>= 8;
      accBits -= 8;
    }
  }
  if (o < 32) store<u8>(out + o, <u8>acc);
}

/** out = (64-byte little-endian number at x) mod L. */
export function scReduce64(out: usize, x: usize): void {
  memory.fill(S, 0, LIMBS * 8);
  toLimbs(S, x, 64, 25);
  reduceS(out, 24);
}

/** out = (a * b + c) mod L for 32-byte little-endian a, b, c (each < 2^256). */
export function scMulAdd(out: usize, a: usize, b: usize, c: usize): void {
  toLimbs(A, a, 32, 13);
  toLimbs(B, b, 32, 13);
  memory.fill(S, 0, LIMBS * 8);
  toLimbs(S, c, 32, 13);
  // schoolbook: 13 x 13 products of 21-bit limbs, each column < 13 * 2^42 < 2^46
  for (let i = 0; i < 13; i++) {
    const ai = limb(A, i);
    for (let j = 0; j < 13; j++) setLimb(S, i + j, limb(S, i + j) + ai * limb(B, j));
  }
  carryRange(0, 25); // the product is < 2^512, so limb 25 stays 0
  reduceS(out, 24);
}

/** s < L for a 32-byte little-endian scalar (ZIP-215 and RFC 8032 both require it). */
export function scIsCanonical(s: usize): bool {
  for (let i = 31; i >= 0; i--) {
    const x = load<u8>(s + <usize>i);
    const l = load<u8>(L_BYTES + <usize>i);
    if (x < l) return true;
    if (x > l) return false;
  }
  return false; // s == L
}
