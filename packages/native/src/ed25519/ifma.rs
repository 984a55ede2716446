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
use super::point::Point;

/// w^((p - 5) / 8) for sixteen elements: two independent 8-lane chains interleaved, so one
/// hides the other's multiply latency. Uses IFMA when the CPU has it, else the scalar chain.
pub fn pow_p58_x16(w: &[Fe; 16]) -> [Fe; 16] {
    #[cfg(target_arch = "x86_64")]
    {
        if available() {
            // SAFETY: AVX-512F and AVX-512IFMA were detected at run time.
            return unsafe { x86::pow_p58_x16(w) };
        }
    }
    std::array::from_fn(|i| w[i].pow_p58())
}

/// Pippenger window sums W_j = sum_b (b + 1) * bucket_j[b] for up to eight windows at once,
/// one window per lane (see `x86::window_sums_x8`). `digits[i * ndig + j]` is point i's signed
/// digit in window j; `points` are affine (Z = 1). None when IFMA is unavailable.
pub fn window_sums_x8(digits: &[i32], ndig: usize, w: usize, points: &[Point], windows: &[usize]) -> Option<Vec<Point>> {
    #[cfg(target_arch = "x86_64")]
    {
        if available() {
            // SAFETY: AVX-512F and AVX-512IFMA were detected at run time.
            return Some(unsafe { x86::window_sums_x8(digits, ndig, w, points, windows) });
        }
    }
    let _ = (digits, ndig, w, points, windows);
    None
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
    use super::{from_radix52, to_radix52, Fe, Point, M52};
    use crate::ed25519::field::{D2, ONE as FE_ONE, ZERO as FE_ZERO};
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

    type V2 = [V; 2];

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn mul2(a: &V2, b: &V2) -> V2 {
        [mul(&a[0], &b[0]), mul(&a[1], &b[1])]
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn sq2k(a: &V2, k: u32) -> V2 {
        let mut x = *a;
        for _ in 0..k {
            x = mul2(&x, &x);
        }
        x
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub unsafe fn pow_p58_x16(w: &[Fe; 16]) -> [Fe; 16] {
        let limbs: [[u64; 5]; 16] = std::array::from_fn(|i| to_radix52(&w[i]));
        let z: V2 = std::array::from_fn(|h| {
            std::array::from_fn(|k| {
                let col: [u64; 8] = std::array::from_fn(|i| limbs[8 * h + i][k]);
                _mm512_loadu_si512(col.as_ptr() as *const _)
            })
        });
        // The addition chain of Fe::pow_p58 (2^252 - 3).
        let t0 = mul2(&z, &z); // 2
        let t1 = mul2(&sq2k(&t0, 2), &z); // 9
        let z11 = mul2(&t0, &t1); // 11
        let t0 = mul2(&mul2(&z11, &z11), &t1); // 2^5 - 1
        let t0 = mul2(&sq2k(&t0, 5), &t0); // 2^10 - 1
        let t1 = mul2(&sq2k(&t0, 10), &t0); // 2^20 - 1
        let t2 = mul2(&sq2k(&t1, 20), &t1); // 2^40 - 1
        let t0 = mul2(&sq2k(&t2, 10), &t0); // 2^50 - 1
        let t1 = mul2(&sq2k(&t0, 50), &t0); // 2^100 - 1
        let t2 = mul2(&sq2k(&t1, 100), &t1); // 2^200 - 1
        let t0 = mul2(&sq2k(&t2, 50), &t0); // 2^250 - 1
        let r = mul2(&sq2k(&t0, 2), &z); // 2^252 - 3
        let mut cols = [[[0u64; 8]; 5]; 2];
        for h in 0..2 {
            for k in 0..5 {
                _mm512_storeu_si512(cols[h][k].as_mut_ptr() as *mut _, r[h][k]);
            }
        }
        std::array::from_fn(|i| {
            let (h, l) = (i / 8, i % 8);
            from_radix52(&[cols[h][0][l], cols[h][1][l], cols[h][2][l], cols[h][3][l], cols[h][4][l]])
        })
    }

    // ---- vectorised point arithmetic for the MSM (eight independent points, one per lane) ----

    /// Limbs (each below about 2^60) to limbs below 2^52, value below 2^260, same residue.
    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn norm(mut z: V) -> V {
        let f = _mm512_set1_epi64(608);
        let c = carry_chain(&mut z, 0, 5);
        z[0] = _mm512_madd52lo_epu64(z[0], c, f);
        let c = carry_chain(&mut z, 0, 5);
        z[0] = _mm512_madd52lo_epu64(z[0], c, f);
        z
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn add(a: &V, b: &V) -> V {
        norm(std::array::from_fn(|k| _mm512_add_epi64(a[k], b[k])))
    }

    /// 64p in radix 2^52: every limb exceeds any normalised limb (< 2^52), so a + 64p - b
    /// never goes negative.
    const P64: [u64; 5] = [64 * ((1 << 52) - 19), 64 * ((1 << 52) - 1), 64 * ((1 << 52) - 1), 64 * ((1 << 52) - 1), 64 * ((1 << 47) - 1)];

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn sub(a: &V, b: &V) -> V {
        norm(std::array::from_fn(|k| _mm512_sub_epi64(_mm512_add_epi64(a[k], _mm512_set1_epi64(P64[k] as i64)), b[k])))
    }

    #[derive(Clone, Copy)]
    struct VP {
        x: V,
        y: V,
        z: V,
        t: V,
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn finish(a: V, b: V, c: V, d: V) -> VP {
        let e = sub(&b, &a);
        let f = sub(&d, &c);
        let g = add(&d, &c);
        let h = add(&b, &a);
        VP { x: mul(&e, &f), y: mul(&g, &h), z: mul(&f, &g), t: mul(&e, &h) }
    }

    /// p + q for q in Niels form (y + x, y - x, 2dxy), q affine.
    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn add_niels(p: &VP, ypx: &V, ymx: &V, xy2d: &V) -> VP {
        let a = mul(&sub(&p.y, &p.x), ymx);
        let b = mul(&add(&p.y, &p.x), ypx);
        let c = mul(&p.t, xy2d);
        let d = add(&p.z, &p.z);
        finish(a, b, c, d)
    }

    /// p + q, both extended (the formulas are complete on this curve: identity included).
    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn add_ext(p: &VP, q: &VP, d2: &V) -> VP {
        let a = mul(&sub(&p.y, &p.x), &sub(&q.y, &q.x));
        let b = mul(&add(&p.y, &p.x), &add(&q.y, &q.x));
        let c = mul(&mul(&p.t, d2), &q.t);
        let d = mul(&add(&p.z, &p.z), &q.z);
        finish(a, b, c, d)
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn splat(l: &[u64; 5]) -> V {
        std::array::from_fn(|k| _mm512_set1_epi64(l[k] as i64))
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn load(rows: &[[u64; 8]; 5]) -> V {
        std::array::from_fn(|k| _mm512_loadu_si512(rows[k].as_ptr() as *const _))
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn store(v: &V) -> [[u64; 8]; 5] {
        let mut out = [[0u64; 8]; 5];
        for k in 0..5 {
            _mm512_storeu_si512(out[k].as_mut_ptr() as *mut _, v[k]);
        }
        out
    }

    /// Lane-select: where mask bit l is set take b's lane l, else a's.
    #[target_feature(enable = "avx512f,avx512ifma")]
    #[inline]
    unsafe fn blend(mask: u8, a: &VP, b: &VP) -> VP {
        let s = |x: &V, y: &V| -> V { std::array::from_fn(|k| _mm512_mask_blend_epi64(mask, x[k], y[k])) };
        VP { x: s(&a.x, &b.x), y: s(&a.y, &b.y), z: s(&a.z, &b.z), t: s(&a.t, &b.t) }
    }

    /// Coordinates of lane l: (x, y, z, t) limbs.
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn lane(p: &VP, l: usize) -> [[u64; 5]; 4] {
        let (x, y, z, t) = (store(&p.x), store(&p.y), store(&p.z), store(&p.t));
        let pick = |r: &[[u64; 8]; 5]| -> [u64; 5] { std::array::from_fn(|k| r[k][l]) };
        [pick(&x), pick(&y), pick(&z), pick(&t)]
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    pub unsafe fn window_sums_x8(digits: &[i32], ndig: usize, w: usize, points: &[Point], windows: &[usize]) -> Vec<Point> {
        debug_assert!(windows.len() <= 8);
        let n = points.len();
        let nb = 1usize << (w - 1);
        let one = to_radix52(&FE_ONE);
        let zero = to_radix52(&FE_ZERO);
        let d2 = splat(&to_radix52(&D2));
        // Niels form of +P_i and -P_i in radix 2^52: [ypx, ymx, xy2d].
        let niels: Vec<[[[u64; 5]; 3]; 2]> = points
            .iter()
            .map(|p| {
                let ypx = to_radix52(&p.y.add(&p.x));
                let ymx = to_radix52(&p.y.sub(&p.x));
                let xy2d = p.t.mul(&D2);
                [[ypx, ymx, to_radix52(&xy2d)], [ymx, ypx, to_radix52(&xy2d.neg())]]
            })
            .collect();
        let id_niels = [one, one, zero];
        // Per lane: (bucket, point, negative) sorted by bucket (counting sort).
        let mut count = vec![0u32; nb + 1];
        let lists: Vec<Vec<(u32, u32, bool)>> = (0..8)
            .map(|l| {
                let Some(&j) = windows.get(l) else { return Vec::new() };
                count.iter_mut().for_each(|c| *c = 0);
                for i in 0..n {
                    let d = digits[i * ndig + j];
                    if d != 0 {
                        count[d.unsigned_abs() as usize] += 1;
                    }
                }
                for b in 1..=nb {
                    count[b] += count[b - 1]; // count[b] = entries in buckets < b
                }
                let mut list = vec![(0u32, 0u32, false); count[nb] as usize];
                for i in 0..n {
                    let d = digits[i * ndig + j];
                    if d != 0 {
                        let b = d.unsigned_abs() - 1;
                        list[count[b as usize] as usize] = (b, i as u32, d < 0);
                        count[b as usize] += 1;
                    }
                }
                list
            })
            .collect();
        let steps = lists.iter().map(|v| v.len()).max().unwrap_or(0);
        // Bucket sums, [bucket][coord][limb][lane], identity where a bucket stays empty.
        let mut buckets = vec![[[[0u64; 8]; 5]; 4]; nb];
        for b in buckets.iter_mut() {
            for l in 0..8 {
                for k in 0..5 {
                    b[1][k][l] = one[k];
                    b[2][k][l] = one[k];
                }
            }
        }
        let identity = VP { x: splat(&zero), y: splat(&one), z: splat(&one), t: splat(&zero) };
        let mut acc = identity;
        let mut rows = [[[0u64; 8]; 5]; 3];
        for t in 0..steps {
            // Lanes whose entry at t opens a new bucket: flush the previous bucket, restart.
            let mut start: u8 = 0;
            for (l, list) in lists.iter().enumerate() {
                if t > 0 && t < list.len() && list[t].0 != list[t - 1].0 {
                    start |= 1 << l;
                }
            }
            if start != 0 {
                for l in 0..8 {
                    if start & (1 << l) != 0 {
                        let c = lane(&acc, l);
                        let b = &mut buckets[lists[l][t - 1].0 as usize];
                        for q in 0..4 {
                            for k in 0..5 {
                                b[q][k][l] = c[q][k];
                            }
                        }
                    }
                }
                acc = blend(start, &acc, &identity);
            }
            for (l, list) in lists.iter().enumerate() {
                let src = match list.get(t) {
                    Some(&(_, i, neg)) => &niels[i as usize][neg as usize],
                    None => &id_niels,
                };
                for q in 0..3 {
                    for k in 0..5 {
                        rows[q][k][l] = src[q][k];
                    }
                }
            }
            acc = add_niels(&acc, &load(&rows[0]), &load(&rows[1]), &load(&rows[2]));
        }
        for (l, list) in lists.iter().enumerate() {
            if let Some(last) = list.last() {
                let c = lane(&acc, l);
                let b = &mut buckets[last.0 as usize];
                for q in 0..4 {
                    for k in 0..5 {
                        b[q][k][l] = c[q][k];
                    }
                }
            }
        }
        // Running sums from the top bucket down, all lanes at once.
        let mut running = identity;
        let mut total = identity;
        for b in buckets.iter().rev() {
            let bp = VP { x: load(&b[0]), y: load(&b[1]), z: load(&b[2]), t: load(&b[3]) };
            running = add_ext(&running, &bp, &d2);
            total = add_ext(&total, &running, &d2);
        }
        (0..windows.len())
            .map(|l| {
                let c = lane(&total, l);
                Point { x: from_radix52(&c[0]), y: from_radix52(&c[1]), z: from_radix52(&c[2]), t: from_radix52(&c[3]) }
            })
            .collect()
    }
}
