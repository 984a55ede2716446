//! Eight field exponentiations at once with AVX-512 IFMA (52-bit multiply-add), for the one
//! expensive step of point decoding: w^((p-5)/8), about 250 squarings per point. Each of the
//! eight 64-bit lanes of a zmm register holds one field element; an element is five limbs of
//! 52 bits (radix 2^52), limb k of all lanes in register k.
//!
//! Reduction: 2^260 = 2^5 * 2^255 = 32 * 19 = 608 (mod p), so product limbs 5..9 fold into
//! limbs 0..4 times 608. `vpmadd52{l,h}uq` only read the low 52 bits of their multiplicands,
//! so every multiplicand must be normalised below 2^52 first; the carry chains below keep that.
//! Results are weakly reduced (below 2^260); conversion back to `Fe` reduces mod p.

use super::field::Fe;

/// w^((p - 5) / 8) for eight elements. Uses IFMA when the CPU has it, else the scalar chain.
pub fn pow_p58_x8(w: &[Fe; 8]) -> [Fe; 8] {
    #[cfg(target_arch = "x86_64")]
    {
        if available() {
            // SAFETY: AVX-512F and AVX-512IFMA were detected at run time.
            return unsafe { x86::pow_p58_x8(w) };
        }
    }
    std::array::from_fn(|i| w[i].pow_p58())
}

pub fn available() -> bool {
    use std::sync::OnceLock;
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var_os("BPCI_NATIVE_NO_IFMA").is_none()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512ifma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

const M52: u64 = (1 << 52) - 1;

/// Canonical value of `f` as five 52-bit limbs.
fn to_radix52(f: &Fe) -> [u64; 5] {
    let b = f.to_bytes();
    let w: [u64; 4] = std::array::from_fn(|i| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()));
    [
        w[0] & M52,
        ((w[0] >> 52) | (w[1] << 12)) & M52,
        ((w[1] >> 40) | (w[2] << 24)) & M52,
        ((w[2] >> 28) | (w[3] << 36)) & M52,
        w[3] >> 16,
    ]
}

/// Value (< 2^260, limbs < 2^52) back to `Fe`, reduced mod p.
fn from_radix52(l: &[u64; 5]) -> Fe {
    // 320-bit little-endian words.
    let w0 = l[0] | (l[1] << 52);
    let w1 = (l[1] >> 12) | (l[2] << 40);
    let w2 = (l[2] >> 24) | (l[3] << 28);
    let w3 = (l[3] >> 36) | (l[4] << 16);
    let top = l[4] >> 48; // bits 256..259
    let hi = (top << 1) | (w3 >> 63); // value >> 255, below 32
    let mut b = [0u8; 32];
    b[0..8].copy_from_slice(&w0.to_le_bytes());
    b[8..16].copy_from_slice(&w1.to_le_bytes());
    b[16..24].copy_from_slice(&w2.to_le_bytes());
    b[24..32].copy_from_slice(&(w3 & (u64::MAX >> 1)).to_le_bytes());
    // from_bytes ignores bit 255; 2^255 = 19, so add 19 * hi.
    Fe::from_bytes(&b).add(&Fe([19 * hi, 0, 0, 0, 0]))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{from_radix52, to_radix52, Fe, M52};
    use std::arch::x86_64::*;

    type V = [__m512i; 5];

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn carry_chain(z: &mut [__m512i], from: usize, to: usize) -> __m512i {
        let mask = _mm512_set1_epi64(M52 as i64);
        let mut c = _mm512_setzero_si512();
        for k in from..to {
            let t = _mm512_add_epi64(z[k], c);
            c = _mm512_srli_epi64::<52>(t);
            z[k] = _mm512_and_si512(t, mask);
        }
        c
    }

    /// a * b mod p (weakly: result limbs < 2^52, value < 2^260). Inputs: limbs < 2^52.
    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn mul(a: &V, b: &V) -> V {
        // Separate low-half and high-half accumulators shorten the dependency chains.
        let zero = _mm512_setzero_si512();
        let mut lo = [zero; 10];
        let mut hi = [zero; 10];
        for i in 0..5 {
            for j in 0..5 {
                lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], a[i], b[j]);
                hi[i + j + 1] = _mm512_madd52hi_epu64(hi[i + j + 1], a[i], b[j]);
            }
        }
        let mut z = [zero; 10];
        for k in 0..10 {
            z[k] = _mm512_add_epi64(lo[k], hi[k]);
        }
        // Normalise limbs 5..9 below 2^52; the carry out of limb 9 sits at 2^520.
        let c10 = carry_chain(&mut z, 5, 10);
        // Fold: limb k+5 (weight 2^(52k) * 2^260) adds 608 * limb to limb k (lo) and k+1 (hi).
        let f = _mm512_set1_epi64(608);
        // What lands at 2^260 again: 608 * c10 (c10 < 2^8) plus the high half of 608 * z9.
        let mut r5 = _mm512_madd52lo_epu64(_mm512_setzero_si512(), c10, f);
        for k in 0..5 {
            z[k] = _mm512_madd52lo_epu64(z[k], z[k + 5], f);
            if k < 4 {
                z[k + 1] = _mm512_madd52hi_epu64(z[k + 1], z[k + 5], f);
            } else {
                r5 = _mm512_madd52hi_epu64(r5, z[9], f);
            }
        }
        // r5 < 2^19: fold it once more (608 * r5 < 2^29).
        z[0] = _mm512_madd52lo_epu64(z[0], r5, f);
        let mut out = [z[0], z[1], z[2], z[3], z[4]];
        let c = carry_chain(&mut out, 0, 5);
        out[0] = _mm512_madd52lo_epu64(out[0], c, f);
        // If that overflowed 2^260 again the rest is tiny: one more short pass settles it.
        let c = carry_chain(&mut out, 0, 5);
        out[0] = _mm512_madd52lo_epu64(out[0], c, f);
        out
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn pow2k(a: &V, k: u32) -> V {
        let mut x = *a;
        for _ in 0..k {
            x = mul(&x, &x);
        }
        x
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub unsafe fn pow_p58_x8(w: &[Fe; 8]) -> [Fe; 8] {
        let limbs: [[u64; 5]; 8] = std::array::from_fn(|i| to_radix52(&w[i]));
        let z: V = std::array::from_fn(|k| {
            let col: [u64; 8] = std::array::from_fn(|i| limbs[i][k]);
            _mm512_loadu_si512(col.as_ptr() as *const _)
        });
        // The addition chain of Fe::pow_p58 (2^252 - 3).
        let t0 = mul(&z, &z); // 2
        let t1 = mul(&pow2k(&t0, 2), &z); // 9
        let z11 = mul(&t0, &t1); // 11
        let t0 = mul(&mul(&z11, &z11), &t1); // 2^5 - 1
        let t0 = mul(&pow2k(&t0, 5), &t0); // 2^10 - 1
        let t1 = mul(&pow2k(&t0, 10), &t0); // 2^20 - 1
        let t2 = mul(&pow2k(&t1, 20), &t1); // 2^40 - 1
        let t0 = mul(&pow2k(&t2, 10), &t0); // 2^50 - 1
        let t1 = mul(&pow2k(&t0, 50), &t0); // 2^100 - 1
        let t2 = mul(&pow2k(&t1, 100), &t1); // 2^200 - 1
        let t0 = mul(&pow2k(&t2, 50), &t0); // 2^250 - 1
        let r = mul(&pow2k(&t0, 2), &z); // 2^252 - 3
        let mut cols = [[0u64; 8]; 5];
        for k in 0..5 {
            _mm512_storeu_si512(cols[k].as_mut_ptr() as *mut _, r[k]);
        }
        std::array::from_fn(|i| from_radix52(&[cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i]]))
    }
}
