//! Ed25519 under bpci's one rule, ZIP-215 (packages/core-ts/src/crypto/ed25519-rule.ts):
//! A and R decode with non-canonical y and small-order points accepted, S < L required,
//! k = SHA-512(R || A || M) mod L over the bytes as received, accept iff
//! [8]([S]B - R - [k]A) = identity.
//!
//! Single items: ring (strict RFC 8032, cofactorless) first; its accept implies ZIP-215 accept,
//! its reject is re-checked with our own cofactored verifier. Batches: decode everything, then
//! one random linear combination per sub-batch,
//!   [8]( [sum z_i S_i] B - sum [z_i] R_i - sum [z_i k_i] A_i ) = identity,
//! z_i random 128-bit, computed as one multi-scalar multiplication (Pippenger buckets). Scalars
//! are reduced mod L; that is sound because the cofactor 8 is applied to the whole sum, and
//! [8]P lies in the prime-order subgroup for every curve point P. A failing batch is bisected
//! down to single checks, so every item gets its own verdict.

pub mod field;
pub mod ifma;
pub mod point;
pub mod scalar;

use field::{Fe, ONE};
use point::{Cached, Decompressing, Niels, Point, BASE, IDENTITY};
use rayon::prelude::*;
use ring::digest;
use scalar::Scalar;

pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    let kp = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).expect("32-byte seed");
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::signature::KeyPair::public_key(&kp).as_ref());
    out
}

pub fn sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    let kp = signing_key(seed);
    let mut out = [0u8; 64];
    out.copy_from_slice(kp.sign(msg).as_ref());
    out
}

/// Expanding a seed costs a SHA-512 and a fixed-base scalar multiplication (the public key), as
/// much as the signature itself. A validator signs with one key, so the last few expanded keys
/// are kept (seed compared in constant time; a miss just expands).
const SIGNING_KEYS_MAX: usize = 8;
static SIGNING_KEYS: std::sync::Mutex<Vec<([u8; 32], std::sync::Arc<ring::signature::Ed25519KeyPair>)>> =
    std::sync::Mutex::new(Vec::new());

fn same_seed(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn signing_key(seed: &[u8; 32]) -> std::sync::Arc<ring::signature::Ed25519KeyPair> {
    // A poisoned lock only means another thread panicked mid-update: the cache is still usable.
    let mut keys = SIGNING_KEYS.lock().unwrap_or_else(|e| e.into_inner());
    let mut hit = None;
    for (i, (s, _)) in keys.iter().enumerate() {
        if same_seed(s, seed) {
            hit = Some(i);
        }
    }
    if let Some(i) = hit {
        return keys[i].1.clone();
    }
    let kp = std::sync::Arc::new(ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).expect("32-byte seed"));
    if keys.len() >= SIGNING_KEYS_MAX {
        keys.remove(0);
    }
    keys.push((*seed, kp.clone()));
    kp
}

/// One item, borrowed from the packed batch.
#[derive(Clone, Copy)]
pub struct Item<'a> {
    pub pk: &'a [u8; 32],
    pub sig: &'a [u8; 64],
    pub msg: &'a [u8],
}

fn challenge(r: &[u8], a: &[u8], m: &[u8]) -> Scalar {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(r);
    ctx.update(a);
    ctx.update(m);
    let d = ctx.finish();
    scalar::from_bytes_wide(d.as_ref().try_into().unwrap())
}

/// An item decoded for the batch equation, or the reason it is rejected outright.
struct Decoded {
    neg_a: Point,
    neg_r: Point,
    s: Scalar,
    k: Scalar,
}

fn decode(it: &Item) -> Option<Decoded> {
    let s = scalar::from_bytes(it.sig[32..].try_into().unwrap());
    if !scalar::is_canonical(&s) {
        return None;
    }
    let a = Point::decompress(it.pk)?;
    let r = Point::decompress(it.sig[..32].try_into().unwrap())?;
    let k = challenge(&it.sig[..32], it.pk, it.msg);
    Some(Decoded { neg_a: a.neg(), neg_r: r.neg(), s, k })
}

/// Items decoded eight at a time, so that their sixteen point decodings share one IFMA
/// exponentiation pass (ifma.rs).
fn decode_group(items: &[Option<Item>]) -> Vec<Option<Decoded>> {
    debug_assert!(items.len() <= DECODE_GROUP);
    let starts: Vec<Option<(Decompressing, Decompressing, Scalar)>> = items
        .iter()
        .map(|it| {
            let it = it.as_ref()?;
            let s = scalar::from_bytes(it.sig[32..].try_into().unwrap());
            if !scalar::is_canonical(&s) {
                return None;
            }
            Some((Decompressing::start(it.pk), Decompressing::start(it.sig[..32].try_into().unwrap()), s))
        })
        .collect();
    let mut w = [ONE; 16];
    for (i, st) in starts.iter().enumerate() {
        if let Some((a, r, _)) = st {
            w[2 * i] = a.w;
            w[2 * i + 1] = r.w;
        }
    }
    let pw: [Fe; 16] = ifma::pow_p58_x16(&w);
    starts
        .into_iter()
        .zip(items)
        .enumerate()
        .map(|(i, (st, it))| {
            let (da, dr, s) = st?;
            let it = it.as_ref()?;
            let a = da.finish(&pw[2 * i])?;
            let r = dr.finish(&pw[2 * i + 1])?;
            let k = challenge(&it.sig[..32], it.pk, it.msg);
            Some(Decoded { neg_a: a.neg(), neg_r: r.neg(), s, k })
        })
        .collect()
}

/// Our own single ZIP-215 verification: [8]([S]B + [k](-A) + (-R)) = identity.
fn verify_own(d: &Decoded) -> bool {
    let p = straus(&[d.s, d.k], &[BASE, d.neg_a]).add(&d.neg_r);
    p.mul_by_cofactor().is_identity()
}

pub fn verify_zip215_own(it: &Item) -> bool {
    decode(it).map(|d| verify_own(&d)).unwrap_or(false)
}

/// The single-item verdict: ring first, our cofactored check on its rejects.
pub fn verify_single(it: &Item) -> bool {
    let pk = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, it.pk.as_slice());
    if pk.verify(it.msg, it.sig).is_ok() {
        return true;
    }
    verify_zip215_own(it)
}

/// sum [s_i] P_i with signed radix-16 windows (Straus): for a handful of points.
pub fn straus(scalars: &[Scalar], points: &[Point]) -> Point {
    const W: usize = 4;
    const NDIG: usize = 256 / W + 1;
    // tables[i][j] = (j + 1) P_i, j < 8
    let tables: Vec<[Cached; 8]> = points
        .iter()
        .map(|p| {
            let mut t = [p.cached(); 8];
            let mut acc = *p;
            for j in 1..8 {
                acc = acc.add_cached(&t[0]);
                t[j] = acc.cached();
            }
            t
        })
        .collect();
    let digits: Vec<[i32; NDIG]> = scalars
        .iter()
        .map(|s| {
            let mut d = [0i32; NDIG];
            scalar::signed_digits(s, W, &mut d);
            d
        })
        .collect();
    let mut q = IDENTITY;
    for j in (0..NDIG).rev() {
        q = q.double().double().double().double();
        for (t, d) in tables.iter().zip(&digits) {
            let v = d[j];
            if v > 0 {
                q = q.add_cached(&t[(v - 1) as usize]);
            } else if v < 0 {
                q = q.sub_cached(&t[(-v - 1) as usize]);
            }
        }
    }
    q
}

/// Pippenger window width for `n` points: minimises the addition count, about
/// (256 / w + 1) * (0.75 n + 2^w) (the R points' 128-bit coefficients only fill half the
/// windows; each window's running sum costs two additions per bucket, 2^(w-1) buckets).
fn window_bits(n: usize) -> usize {
    let cost = |w: usize| (256 / w + 1) as f64 * (0.75 * n as f64 + (1u64 << w) as f64);
    (4..=12).min_by(|&a, &b| cost(a).total_cmp(&cost(b))).unwrap_or(4)
}

/// Points from which the IFMA window kernel is used (below, lanes would mostly add identity).
const MSM_VECTOR_POINTS_MIN: usize = 16;

/// Points in a multi-scalar multiplication from which windows are computed in parallel.
const MSM_PAR_POINTS_MIN: usize = 64;

/// sum [s_i] P_i (every P_i affine: Z = 1) with Pippenger's bucket method and signed windows of w bits:
/// result = sum_j 2^(w j) W_j with W_j = sum_b (b + 1) * bucket_j[b]. The W_j are independent,
/// so large MSMs compute them on rayon workers (no loss of efficiency, unlike splitting the
/// points) and combine them with w doublings per window (Horner).
pub fn pippenger(scalars: &[Scalar], points: &[Point]) -> Point {
    pippenger_with(scalars, points, true)
}

/// `pippenger`, optionally without the IFMA window kernel (for the self-check).
fn pippenger_with(scalars: &[Scalar], points: &[Point], vector: bool) -> Point {
    let n = points.len();
    let w = window_bits(n);
    let ndig = 256 / w + 1;
    let mut digits = vec![0i32; n * ndig];
    for (i, s) in scalars.iter().enumerate() {
        scalar::signed_digits(s, w, &mut digits[i * ndig..(i + 1) * ndig]);
    }
    let niels: Vec<Niels> = points.iter().map(|p| p.niels_affine()).collect();
    let window = |j: usize| -> Option<Point> {
        let nb = 1usize << (w - 1);
        let mut buckets: Vec<Option<Point>> = vec![None; nb];
        for i in 0..n {
            let d = digits[i * ndig + j];
            if d == 0 {
                continue;
            }
            let b = &mut buckets[(d.unsigned_abs() - 1) as usize];
            *b = Some(match (b.as_ref(), d > 0) {
                (Some(acc), true) => acc.add_niels(&niels[i]),
                (Some(acc), false) => acc.sub_niels(&niels[i]),
                (None, true) => points[i],
                (None, false) => points[i].neg(),
            });
        }
        // sum_b (b + 1) * bucket[b] via running sums from the top bucket down.
        let mut running: Option<Point> = None;
        let mut total: Option<Point> = None;
        for b in buckets.iter().rev() {
            if let Some(bp) = b {
                running = Some(match running {
                    Some(r) => r.add(bp),
                    None => *bp,
                });
            }
            if let Some(r) = &running {
                total = Some(match total {
                    Some(t) => t.add(r),
                    None => *r,
                });
            }
        }
        total
    };
    let par = n >= MSM_PAR_POINTS_MIN && rayon::current_num_threads() > 1;
    let windows: Vec<Option<Point>> = if vector && n >= MSM_VECTOR_POINTS_MIN && ifma::available() {
        // Eight windows per pass, one per IFMA lane.
        let groups: Vec<Vec<usize>> = (0..ndig).collect::<Vec<_>>().chunks(8).map(|c| c.to_vec()).collect();
        let run = |g: &Vec<usize>| ifma::window_sums_x8(&digits, ndig, w, points, g).expect("IFMA available");
        let sums: Vec<Vec<Point>> = if par { groups.par_iter().map(run).collect() } else { groups.iter().map(run).collect() };
        sums.into_iter().flatten().map(Some).collect()
    } else if par {
        (0..ndig).into_par_iter().map(window).collect()
    } else {
        (0..ndig).map(window).collect()
    };
    let mut q: Option<Point> = None;
    for wj in windows.iter().rev() {
        if let Some(p) = q.as_mut() {
            for _ in 0..w {
                *p = p.double();
            }
        }
        if let Some(t) = wj {
            q = Some(match q {
                Some(p) => p.add(t),
                None => *t,
            });
        }
    }
    q.unwrap_or(IDENTITY)
}

/// 16 random bytes per item, from the OS.
fn random_coefficients(n: usize) -> Vec<Scalar> {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; 16 * n];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("OS randomness");
    (0..n)
        .map(|i| {
            let lo = u64::from_le_bytes(bytes[16 * i..16 * i + 8].try_into().unwrap());
            let hi = u64::from_le_bytes(bytes[16 * i + 8..16 * i + 16].try_into().unwrap());
            // z = 0 would drop the item from the equation.
            [lo | (hi == 0 && lo == 0) as u64, hi, 0, 0]
        })
        .collect()
}

/// True iff every decoded item satisfies the cofactored equation (up to 2^-128 error).
fn batch_holds(ds: &[&Decoded]) -> bool {
    let n = ds.len();
    let z = random_coefficients(n);
    let mut scalars = Vec::with_capacity(2 * n + 1);
    let mut points = Vec::with_capacity(2 * n + 1);
    let mut s_sum: Scalar = [0; 4];
    for (d, zi) in ds.iter().zip(&z) {
        s_sum = scalar::add(&s_sum, &scalar::mul(zi, &d.s));
        scalars.push(*zi);
        points.push(d.neg_r);
        scalars.push(scalar::mul(zi, &d.k));
        points.push(d.neg_a);
    }
    scalars.push(s_sum);
    points.push(BASE);
    msm(&scalars, &points).mul_by_cofactor().is_identity()
}

/// Points below which Straus (one shared doubling chain, an 8-entry table per point: about 68
/// additions per point plus 256 doublings) beats Pippenger's buckets, whose fixed cost per
/// window dominates small inputs. Measured on the Zen 4 host (IFMA on and off alike): batches of
/// 4 / 8 / 16 items 1.4x / 1.3x / 1.1x faster with Straus, even at 24 items (49 points).
const STRAUS_POINTS_MAX: usize = 40;

/// sum [s_i] P_i by whichever method is cheaper for this many points.
fn msm(scalars: &[Scalar], points: &[Point]) -> Point {
    if points.len() < STRAUS_POINTS_MAX {
        straus(scalars, points)
    } else {
        pippenger(scalars, points)
    }
}

/// A failing set of at most this many items is checked item by item: one item alone costs
/// about five times its share of a batch, so below this size more bisection levels (each a
/// batch equation over the set) cost more than they can save when bad items are not rare.
const BISECT_LEAF: usize = 16;

/// Verdicts for `ds` (same order): one batch equation; if it fails, `failed`.
fn verify_set(ds: &[&Decoded]) -> Vec<u8> {
    if ds.is_empty() {
        return Vec::new();
    }
    if batch_holds(ds) {
        return vec![1; ds.len()];
    }
    failed(ds)
}

/// A set whose batch equation failed. Small sets go item by item. Otherwise both halves are
/// batch-checked in parallel: a half that holds is done; if only one half fails, bad items are
/// sparse and that half is bisected again; if both fail, bad items are dense and further
/// bisection (a batch equation per level) would cost more than it saves, so both halves go
/// item by item (in parallel).
fn failed(ds: &[&Decoded]) -> Vec<u8> {
    let each = |s: &[&Decoded]| -> Vec<u8> { s.par_iter().map(|d| verify_own(d) as u8).collect() };
    if ds.len() <= BISECT_LEAF {
        return each(ds);
    }
    let (a, b) = ds.split_at(ds.len() / 2);
    let (ok_a, ok_b) = rayon::join(|| batch_holds(a), || batch_holds(b));
    let (mut va, vb) = match (ok_a, ok_b) {
        (true, true) => (vec![1; a.len()], vec![1; b.len()]), // a random-coefficient miss at the parent
        (true, false) => (vec![1; a.len()], failed(b)),
        (false, true) => (failed(a), vec![1; b.len()]),
        (false, false) => rayon::join(|| each(a), || each(b)),
    };
    va.extend_from_slice(&vb);
    va
}

/// Largest sub-batch in one equation: bigger batches are split (and the parts run on rayon),
/// which bounds the work lost to bisection when an item is bad. Within a part the MSM windows
/// already run in parallel.
const SUB_BATCH_MAX: usize = 2048;
/// Items per decoding group (two points each: one 16-element exponentiation pass).
const DECODE_GROUP: usize = 8;
/// Items from which decoding (two square roots and a SHA-512 per item) runs on rayon.
const PAR_DECODE_MIN: usize = 32;
/// Below this, items go one by one (ring fast path + fallback). With Straus for small batches a
/// batch of 2 already beats two single verifications (89 vs 97 µs; 3 items 104 vs 143 µs).
const BATCH_MIN: usize = 2;

/// Verdicts (0/1) for `items`; `out.len() == items.len()`. Malformed items must already be
/// excluded by the caller (None entries are 0).
pub fn verify_batch(items: &[Option<Item>], out: &mut [u8]) {
    let n = items.len();
    if n < BATCH_MIN {
        for (o, it) in out.iter_mut().zip(items) {
            *o = it.as_ref().map(verify_single).unwrap_or(false) as u8;
        }
        return;
    }
    let decoded: Vec<Option<Decoded>> = if n >= PAR_DECODE_MIN {
        items.par_chunks(DECODE_GROUP).flat_map_iter(decode_group).collect()
    } else {
        items.chunks(DECODE_GROUP).flat_map(decode_group).collect()
    };
    out.iter_mut().for_each(|o| *o = 0);
    let (idx, good): (Vec<usize>, Vec<&Decoded>) =
        decoded.iter().enumerate().filter_map(|(i, d)| d.as_ref().map(|d| (i, d))).unzip();
    let verdicts: Vec<u8> = if good.len() > SUB_BATCH_MAX {
        let per = good.len().div_ceil(good.len().div_ceil(SUB_BATCH_MAX));
        good.par_chunks(per).flat_map_iter(verify_set).collect()
    } else {
        verify_set(&good)
    };
    for (i, v) in idx.into_iter().zip(verdicts) {
        out[i] = v;
    }
}

/// Test hook: compares the MSM with and without the IFMA window kernel, and with Straus (up to
/// 512 points), on `n` pseudo-random points (decoded from seeded bytes, small-order points mixed
/// in) and scalars. True when all agree.
pub fn msm_self_check(n: usize, seed: u64) -> bool {
    let mut s = seed | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut points = Vec::with_capacity(n);
    while points.len() < n {
        let mut b = [0u8; 32];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&next().to_le_bytes());
        }
        if points.len() % 7 == 3 {
            // y = -1: a point of order 2 (torsion must survive the vector path too)
            b = [0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        }
        if let Some(p) = Point::decompress(&b) {
            points.push(p);
        }
    }
    let scalars: Vec<Scalar> = (0..n)
        .map(|i| {
            let mut x = [next(), next(), next(), next() >> 4];
            if i % 2 == 1 {
                x[2] = 0; // 128-bit coefficients, like the R points of a batch
                x[3] = 0;
            }
            scalar::reduce512(&[x[0], x[1], x[2], x[3], 0, 0, 0, 0])
        })
        .collect();
    let a = pippenger_with(&scalars, &points, true);
    let b = pippenger_with(&scalars, &points, false);
    // Projective equality: X1 Z2 = X2 Z1 and Y1 Z2 = Y2 Z1; and not the identity (which would
    // make the comparison vacuous; random points and scalars never sum to it in practice).
    let same = |p: &Point, q: &Point| p.x.mul(&q.z).sub(&q.x.mul(&p.z)).is_zero() && p.y.mul(&q.z).sub(&q.y.mul(&p.z)).is_zero();
    // Straus, which small batches use instead, must agree too (checked where it is affordable).
    let straus_ok = n > 512 || same(&a, &straus(&scalars, &points));
    same(&a, &b) && straus_ok && !a.is_identity()
}
