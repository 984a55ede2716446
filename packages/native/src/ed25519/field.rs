//! Arithmetic in GF(2^255 - 19), five 51-bit limbs, products in u128.
//!
//! Bounds discipline: `mul`/`square` accept limbs below about 2^54 and return limbs below 2^52
//! (weakly reduced); `add` does not reduce (two weakly reduced inputs give < 2^53, fine as a
//! `mul` input); `sub`/`neg` reduce. `to_bytes` is the only full (canonical) reduction.
//! Variable-time is fine here: everything verified is public.

#[derive(Clone, Copy, Debug)]
pub struct Fe(pub [u64; 5]);

const MASK: u64 = (1 << 51) - 1;

pub const ZERO: Fe = Fe([0, 0, 0, 0, 0]);
pub const ONE: Fe = Fe([1, 0, 0, 0, 0]);
/// Edwards d = -121665/121666.
pub const D: Fe = Fe([929955233495203, 466365720129213, 1662059464998953, 2033849074728123, 1442794654840575]);
pub const D2: Fe = Fe([1859910466990425, 932731440258426, 1072319116312658, 1815898335770999, 633789495995903]);
/// sqrt(-1) = 2^((p-1)/4).
pub const SQRT_M1: Fe = Fe([1718705420411056, 234908883556509, 2233514472574048, 2117202627021982, 765476049583133]);

impl Fe {
    #[inline(always)]
    fn carry(mut l: [u64; 5]) -> Fe {
        let c = l[0] >> 51;
        l[0] &= MASK;
        l[1] += c;
        let c = l[1] >> 51;
        l[1] &= MASK;
        l[2] += c;
        let c = l[2] >> 51;
        l[2] &= MASK;
        l[3] += c;
        let c = l[3] >> 51;
        l[3] &= MASK;
        l[4] += c;
        let c = l[4] >> 51;
        l[4] &= MASK;
        l[0] += c * 19;
        Fe(l)
    }

    /// 32 little-endian bytes, top bit ignored. Values >= p are accepted (they are reduced by
    /// the arithmetic): that is what ZIP-215's "non-canonical y" needs.
    pub fn from_bytes(b: &[u8; 32]) -> Fe {
        let ld = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        Fe([
            ld(0) & MASK,
            (ld(6) >> 3) & MASK,
            (ld(12) >> 6) & MASK,
            (ld(19) >> 1) & MASK,
            (ld(24) >> 12) & MASK,
        ])
    }

    /// Canonical encoding (fully reduced mod p).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut l = Fe::carry(Fe::carry(self.0).0).0;
        // Now l < 2^255 + small; subtract p if l >= p: q = 1 iff l + 19 >= 2^255.
        let mut q = (l[0] + 19) >> 51;
        q = (l[1] + q) >> 51;
        q = (l[2] + q) >> 51;
        q = (l[3] + q) >> 51;
        q = (l[4] + q) >> 51;
        l[0] += 19 * q;
        let c = l[0] >> 51;
        l[0] &= MASK;
        l[1] += c;
        let c = l[1] >> 51;
        l[1] &= MASK;
        l[2] += c;
        let c = l[2] >> 51;
        l[2] &= MASK;
        l[3] += c;
        let c = l[3] >> 51;
        l[3] &= MASK;
        l[4] += c;
        l[4] &= MASK;
        let mut out = [0u8; 32];
        let w0 = l[0] | (l[1] << 51);
        let w1 = (l[1] >> 13) | (l[2] << 38);
        let w2 = (l[2] >> 26) | (l[3] << 25);
        let w3 = (l[3] >> 39) | (l[4] << 12);
        out[0..8].copy_from_slice(&w0.to_le_bytes());
        out[8..16].copy_from_slice(&w1.to_le_bytes());
        out[16..24].copy_from_slice(&w2.to_le_bytes());
        out[24..32].copy_from_slice(&w3.to_le_bytes());
        out
    }

    pub fn is_zero(&self) -> bool {
        self.to_bytes() == [0u8; 32]
    }

    pub fn is_negative(&self) -> bool {
        self.to_bytes()[0] & 1 == 1
    }

    #[inline(always)]
    pub fn add(&self, b: &Fe) -> Fe {
        let a = &self.0;
        let b = &b.0;
        Fe([a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]])
    }

    /// a - b, b's limbs below 2^54.
    #[inline(always)]
    pub fn sub(&self, b: &Fe) -> Fe {
        // Add 16p so every limb stays non-negative.
        let a = &self.0;
        let b = &b.0;
        Fe::carry([
            (a[0] + 36028797018963664) - b[0],
            (a[1] + 36028797018963952) - b[1],
            (a[2] + 36028797018963952) - b[2],
            (a[3] + 36028797018963952) - b[3],
            (a[4] + 36028797018963952) - b[4],
        ])
    }

    #[inline(always)]
    pub fn neg(&self) -> Fe {
        ZERO.sub(self)
    }

    #[inline(always)]
    pub fn mul(&self, b: &Fe) -> Fe {
        let a = &self.0;
        let b = &b.0;
        let m = |x: u64, y: u64| (x as u128) * (y as u128);
        let b1 = b[1] * 19;
        let b2 = b[2] * 19;
        let b3 = b[3] * 19;
        let b4 = b[4] * 19;
        let r0 = m(a[0], b[0]) + m(a[4], b1) + m(a[3], b2) + m(a[2], b3) + m(a[1], b4);
        let r1 = m(a[1], b[0]) + m(a[0], b[1]) + m(a[4], b2) + m(a[3], b3) + m(a[2], b4);
        let r2 = m(a[2], b[0]) + m(a[1], b[1]) + m(a[0], b[2]) + m(a[4], b3) + m(a[3], b4);
        let r3 = m(a[3], b[0]) + m(a[2], b[1]) + m(a[1], b[2]) + m(a[0], b[3]) + m(a[4], b4);
        let r4 = m(a[4], b[0]) + m(a[3], b[1]) + m(a[2], b[2]) + m(a[1], b[3]) + m(a[0], b[4]);
        Fe::reduce_wide(r0, r1, r2, r3, r4)
    }

    #[inline(always)]
    fn reduce_wide(r0: u128, mut r1: u128, mut r2: u128, mut r3: u128, mut r4: u128) -> Fe {
        let mask = MASK as u128;
        r1 += r0 >> 51;
        let l0 = (r0 & mask) as u64;
        r2 += r1 >> 51;
        let l1 = (r1 & mask) as u64;
        r3 += r2 >> 51;
        let l2 = (r2 & mask) as u64;
        r4 += r3 >> 51;
        let l3 = (r3 & mask) as u64;
        let c = (r4 >> 51) as u64;
        let l4 = (r4 & mask) as u64;
        let l0 = l0 + c * 19;
        let l1 = l1 + (l0 >> 51);
        Fe([l0 & MASK, l1, l2, l3, l4])
    }

    #[inline(always)]
    pub fn square(&self) -> Fe {
        let a = &self.0;
        let m = |x: u64, y: u64| (x as u128) * (y as u128);
        let a3_19 = a[3] * 19;
        let a4_19 = a[4] * 19;
        let d0 = a[0] * 2;
        let d1 = a[1] * 2;
        let r0 = m(a[0], a[0]) + m(d1, a4_19) + m(a[2] * 2, a3_19);
        let r1 = m(a[3], a3_19) + m(d0, a[1]) + m(a[2] * 2, a4_19);
        let r2 = m(a[1], a[1]) + m(d0, a[2]) + m(a[4] * 2, a3_19);
        let r3 = m(a[4], a4_19) + m(d0, a[3]) + m(d1, a[2]);
        let r4 = m(a[2], a[2]) + m(d0, a[4]) + m(d1, a[3]);
        Fe::reduce_wide(r0, r1, r2, r3, r4)
    }

    pub fn pow2k(&self, k: u32) -> Fe {
        let mut x = *self;
        for _ in 0..k {
            x = x.square();
        }
        x
    }

    /// (z^(2^250 - 1), z^11): the shared head of the exponentiation chains.
    fn pow250_1(&self) -> (Fe, Fe) {
        let z = self;
        let t0 = z.square(); // 2
        let t1 = t0.pow2k(2).mul(z); // 9
        let z11 = t0.mul(&t1); // 11
        let t0 = z11.square().mul(&t1); // 31 = 2^5 - 1
        let t0 = t0.pow2k(5).mul(&t0); // 2^10 - 1
        let t1 = t0.pow2k(10).mul(&t0); // 2^20 - 1
        let t2 = t1.pow2k(20).mul(&t1); // 2^40 - 1
        let t0 = t2.pow2k(10).mul(&t0); // 2^50 - 1
        let t1 = t0.pow2k(50).mul(&t0); // 2^100 - 1
        let t2 = t1.pow2k(100).mul(&t1); // 2^200 - 1
        let t0 = t2.pow2k(50).mul(&t0); // 2^250 - 1
        (t0, z11)
    }

    /// z^((p - 5) / 8) = z^(2^252 - 3).
    pub fn pow_p58(&self) -> Fe {
        let (t, _) = self.pow250_1();
        t.pow2k(2).mul(self)
    }

    /// sqrt(u / v), first half: (u v^3, w = u v^7); the caller computes w^((p-5)/8), possibly
    /// eight at a time.
    pub fn sqrt_ratio_prepare(u: &Fe, v: &Fe) -> (Fe, Fe) {
        let v3 = v.square().mul(v);
        let v7 = v3.square().mul(v);
        (u.mul(&v3), u.mul(&v7))
    }

    /// sqrt(u / v), second half: x = u v^3 w^((p-5)/8) if v x^2 = u, x sqrt(-1) if v x^2 = -u,
    /// else None (no root). The sign of x is not fixed here.
    pub fn sqrt_ratio_finish(u: &Fe, v: &Fe, uv3: &Fe, w_p58: &Fe) -> Option<Fe> {
        let mut x = uv3.mul(w_p58);
        let check = v.mul(&x.square());
        if check.sub(u).is_zero() {
            Some(x)
        } else if check.add(u).is_zero() {
            x = x.mul(&SQRT_M1);
            Some(x)
        } else {
            None
        }
    }
}
