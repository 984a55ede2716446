//! Integers mod L = 2^252 + 27742317777372353535851937790883648493 (the prime order of the
//! Ed25519 base point), as four little-endian u64 limbs. Reduction of 512-bit values is Barrett
//! (Handbook of Applied Cryptography 14.42 with b = 2^64, k = 4, mu = floor(2^512 / L)).

pub type Scalar = [u64; 4];

pub const L: Scalar = [0x5812631a5cf5d3ed, 0x14def9dea2f79cd6, 0, 0x1000000000000000];
const MU: [u64; 5] = [0xed9ce5a30a2c131b, 0x2106215d086329a7, 0xffffffffffffffeb, 0xffffffffffffffff, 0xf];

pub fn from_bytes(b: &[u8; 32]) -> Scalar {
    std::array::from_fn(|i| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()))
}

/// S < L (ZIP-215 requires a canonical S).
pub fn is_canonical(s: &Scalar) -> bool {
    for i in (0..4).rev() {
        if s[i] != L[i] {
            return s[i] < L[i];
        }
    }
    false
}

fn mul_wide<const A: usize, const B: usize, const C: usize>(a: &[u64; A], b: &[u64; B]) -> [u64; C] {
    let mut r = [0u64; C];
    for i in 0..A {
        let mut carry: u128 = 0;
        for j in 0..B {
            if i + j >= C {
                break;
            }
            let t = (a[i] as u128) * (b[j] as u128) + r[i + j] as u128 + carry;
            r[i + j] = t as u64;
            carry = t >> 64;
        }
        let mut k = i + B;
        while carry != 0 && k < C {
            let t = r[k] as u128 + carry;
            r[k] = t as u64;
            carry = t >> 64;
            k += 1;
        }
    }
    r
}

fn geq5(a: &[u64; 5], b: &[u64; 5]) -> bool {
    for i in (0..5).rev() {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

fn sub5(a: &mut [u64; 5], b: &[u64; 5]) {
    let mut borrow = 0u64;
    for i in 0..5 {
        let (t, b1) = a[i].overflowing_sub(b[i]);
        let (t, b2) = t.overflowing_sub(borrow);
        a[i] = t;
        borrow = (b1 || b2) as u64;
    }
}

/// x mod L for any x < 2^512.
pub fn reduce512(x: &[u64; 8]) -> Scalar {
    // q1 = x >> 192 (5 limbs), q3 = (q1 * mu) >> 320.
    let q1: [u64; 5] = [x[3], x[4], x[5], x[6], x[7]];
    let q2: [u64; 10] = mul_wide(&q1, &MU);
    let q3: [u64; 5] = [q2[5], q2[6], q2[7], q2[8], q2[9]];
    // r = (x mod 2^320) - (q3 * L mod 2^320), taken mod 2^320.
    let l5 = [L[0], L[1], L[2], L[3], 0];
    let r2: [u64; 5] = mul_wide(&q3, &l5);
    let mut r = [x[0], x[1], x[2], x[3], x[4]];
    sub5(&mut r, &r2);
    while geq5(&r, &l5) {
        sub5(&mut r, &l5);
    }
    [r[0], r[1], r[2], r[3]]
}

pub fn from_bytes_wide(b: &[u8; 64]) -> Scalar {
    let x: [u64; 8] = std::array::from_fn(|i| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()));
    reduce512(&x)
}

pub fn mul(a: &Scalar, b: &Scalar) -> Scalar {
    let w: [u64; 8] = mul_wide(a, b);
    reduce512(&w)
}

pub fn add(a: &Scalar, b: &Scalar) -> Scalar {
    let mut r = [0u64; 5];
    let mut carry = 0u128;
    for i in 0..4 {
        let t = a[i] as u128 + b[i] as u128 + carry;
        r[i] = t as u64;
        carry = t >> 64;
    }
    r[4] = carry as u64;
    let l5 = [L[0], L[1], L[2], L[3], 0];
    while geq5(&r, &l5) {
        sub5(&mut r, &l5);
    }
    [r[0], r[1], r[2], r[3]]
}

/// Signed radix-2^w digits, each in [-2^(w-1), 2^(w-1)], least significant first, for a
/// scalar below 2^255. `out.len()` must be at least ceil(256 / w) + 1.
pub fn signed_digits(s: &Scalar, w: usize, out: &mut [i32]) {
    let bits = |lo: usize| -> u64 {
        // w bits starting at bit `lo` (w <= 16).
        let limb = lo / 64;
        let sh = lo % 64;
        if limb >= 4 {
            return 0;
        }
        let mut v = s[limb] >> sh;
        if sh + w > 64 && limb + 1 < 4 {
            v |= s[limb + 1] << (64 - sh);
        }
        v & ((1u64 << w) - 1)
    };
    let half = 1i64 << (w - 1);
    let full = 1i64 << w;
    let mut carry = 0i64;
    for (j, d) in out.iter_mut().enumerate() {
        let raw = bits(j * w) as i64 + carry;
        if raw >= half {
            *d = (raw - full) as i32;
            carry = 1;
        } else {
            *d = raw as i32;
            carry = 0;
        }
    }
    debug_assert_eq!(carry, 0);
}
