//! BLAKE3 compression over 16 independent messages at once ("lanes"), for the two hot paths that
//! hash many short messages of identical shape: Merkle levels (every node is 0x01 || l || r, 65
//! bytes) and PoW (one header, 16 nonces). The `blake3` crate's SIMD `hash_many` only takes
//! whole 64-byte blocks, and these messages end in partial blocks, so the lane kernel is ours.
//!
//! Layout is word-major: `cv[w][lane]`, `m[w][lane]`. With AVX-512F each word row is one zmm
//! register and the 7 rounds run on 16 lanes per instruction; with AVX2, two groups of 8 lanes in
//! ymm registers; otherwise a portable loop does the same lane by lane. Both produce the BLAKE3 compression function bit for bit (tested against
//! the crate in the JS suite, which compares with the official vectors and the oracle).

use std::sync::OnceLock;

pub const LANES: usize = 16;
pub const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
pub const CHUNK_START: u32 = 1;
pub const CHUNK_END: u32 = 2;
pub const ROOT: u32 = 8;
pub const CHUNK_LEN: usize = 1024;
pub const BLOCK_LEN: usize = 64;

const PERM: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/// SCHEDULE[r][i]: the original message word used at position i in round r (PERM applied r
/// times). Shared by every kernel; indexing with it in unrolled loops folds to constants.
const SCHEDULE: [[usize; 16]; 7] = {
    let mut s = [[0usize; 16]; 7];
    let mut i = 0;
    while i < 16 {
        s[0][i] = i;
        i += 1;
    }
    let mut r = 1;
    while r < 7 {
        let mut i = 0;
        while i < 16 {
            s[r][i] = s[r - 1][PERM[i]];
            i += 1;
        }
        r += 1;
    }
    s
};

pub type Rows = [[u32; LANES]; 16];
pub type Cvs = [[u32; LANES]; 8];

/// One compression, one lane; returns the new chaining value.
pub fn compress1(cv: &[u32; 8], m: &[u32; 16], counter: u64, block_len: u32, flags: u32) -> [u32; 8] {
    let mut s = [
        cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7], IV[0], IV[1], IV[2], IV[3],
        counter as u32, (counter >> 32) as u32, block_len, flags,
    ];
    #[inline(always)]
    fn g(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, x: u32, y: u32) {
        s[a] = s[a].wrapping_add(s[b]).wrapping_add(x);
        s[d] = (s[d] ^ s[a]).rotate_right(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_right(12);
        s[a] = s[a].wrapping_add(s[b]).wrapping_add(y);
        s[d] = (s[d] ^ s[a]).rotate_right(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_right(7);
    }
    for sched in &SCHEDULE {
        let x = |i: usize| m[sched[i]];
        g(&mut s, 0, 4, 8, 12, x(0), x(1));
        g(&mut s, 1, 5, 9, 13, x(2), x(3));
        g(&mut s, 2, 6, 10, 14, x(4), x(5));
        g(&mut s, 3, 7, 11, 15, x(6), x(7));
        g(&mut s, 0, 5, 10, 15, x(8), x(9));
        g(&mut s, 1, 6, 11, 12, x(10), x(11));
        g(&mut s, 2, 7, 8, 13, x(12), x(13));
        g(&mut s, 3, 4, 9, 14, x(14), x(15));
    }
    let mut out = [0u32; 8];
    for i in 0..8 {
        out[i] = s[i] ^ s[i + 8];
    }
    out
}

fn compress16_portable(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    for l in 0..LANES {
        let c: [u32; 8] = std::array::from_fn(|w| cv[w][l]);
        let mm: [u32; 16] = std::array::from_fn(|w| m[w][l]);
        let o = compress1(&c, &mm, counter, block_len, flags);
        for w in 0..8 {
            cv[w][l] = o[w];
        }
    }
}

/// The 7 rounds on 16 lanes held in zmm registers; returns the new chaining values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn rounds16(
    cv: &[std::arch::x86_64::__m512i; 8],
    mv: &[std::arch::x86_64::__m512i; 16],
    counter: u64,
    block_len: u32,
    flags: u32,
) -> [std::arch::x86_64::__m512i; 8] {
    use std::arch::x86_64::*;
    let mut s: [__m512i; 16] = [_mm512_setzero_si512(); 16];
    s[..8].copy_from_slice(cv);
    s[8] = _mm512_set1_epi32(IV[0] as i32);
    s[9] = _mm512_set1_epi32(IV[1] as i32);
    s[10] = _mm512_set1_epi32(IV[2] as i32);
    s[11] = _mm512_set1_epi32(IV[3] as i32);
    s[12] = _mm512_set1_epi32(counter as u32 as i32);
    s[13] = _mm512_set1_epi32((counter >> 32) as u32 as i32);
    s[14] = _mm512_set1_epi32(block_len as i32);
    s[15] = _mm512_set1_epi32(flags as i32);
    macro_rules! g {
        ($a:expr, $b:expr, $c:expr, $d:expr, $x:expr, $y:expr) => {
            s[$a] = _mm512_add_epi32(_mm512_add_epi32(s[$a], s[$b]), $x);
            s[$d] = _mm512_ror_epi32::<16>(_mm512_xor_si512(s[$d], s[$a]));
            s[$c] = _mm512_add_epi32(s[$c], s[$d]);
            s[$b] = _mm512_ror_epi32::<12>(_mm512_xor_si512(s[$b], s[$c]));
            s[$a] = _mm512_add_epi32(_mm512_add_epi32(s[$a], s[$b]), $y);
            s[$d] = _mm512_ror_epi32::<8>(_mm512_xor_si512(s[$d], s[$a]));
            s[$c] = _mm512_add_epi32(s[$c], s[$d]);
            s[$b] = _mm512_ror_epi32::<7>(_mm512_xor_si512(s[$b], s[$c]));
        };
    }
    for sched in &SCHEDULE {
        let x = |i: usize| mv[sched[i]];
        g!(0, 4, 8, 12, x(0), x(1));
        g!(1, 5, 9, 13, x(2), x(3));
        g!(2, 6, 10, 14, x(4), x(5));
        g!(3, 7, 11, 15, x(6), x(7));
        g!(0, 5, 10, 15, x(8), x(9));
        g!(1, 6, 11, 12, x(10), x(11));
        g!(2, 7, 8, 13, x(12), x(13));
        g!(3, 4, 9, 14, x(14), x(15));
    }
    std::array::from_fn(|w| _mm512_xor_si512(s[w], s[w + 8]))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn compress16_avx512(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    use std::arch::x86_64::*;
    let mv: [__m512i; 16] = std::array::from_fn(|w| _mm512_loadu_si512(m[w].as_ptr() as *const _));
    let c: [__m512i; 8] = std::array::from_fn(|w| _mm512_loadu_si512(cv[w].as_ptr() as *const _));
    let o = rounds16(&c, &mv, counter, block_len, flags);
    for w in 0..8 {
        _mm512_storeu_si512(cv[w].as_mut_ptr() as *mut _, o[w]);
    }
}

/// The 7 rounds on 8 lanes held in ymm registers (AVX2 has no rotate: shifts and an or, and a
/// byte shuffle for the 16- and 8-bit rotations); returns the new chaining values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn rounds8(
    cv: &[std::arch::x86_64::__m256i; 8],
    mv: &[std::arch::x86_64::__m256i; 16],
    counter: u64,
    block_len: u32,
    flags: u32,
) -> [std::arch::x86_64::__m256i; 8] {
    use std::arch::x86_64::*;
    // pshufb masks rotating each 32-bit word right by 16 and by 8 bits.
    let rot16 = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    let rot8 = _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12);
    let mut s: [__m256i; 16] = [_mm256_setzero_si256(); 16];
    s[..8].copy_from_slice(cv);
    s[8] = _mm256_set1_epi32(IV[0] as i32);
    s[9] = _mm256_set1_epi32(IV[1] as i32);
    s[10] = _mm256_set1_epi32(IV[2] as i32);
    s[11] = _mm256_set1_epi32(IV[3] as i32);
    s[12] = _mm256_set1_epi32(counter as u32 as i32);
    s[13] = _mm256_set1_epi32((counter >> 32) as u32 as i32);
    s[14] = _mm256_set1_epi32(block_len as i32);
    s[15] = _mm256_set1_epi32(flags as i32);
    macro_rules! ror {
        ($x:expr, $n:literal, $l:literal) => {
            _mm256_or_si256(_mm256_srli_epi32::<$n>($x), _mm256_slli_epi32::<$l>($x))
        };
    }
    macro_rules! g {
        ($a:expr, $b:expr, $c:expr, $d:expr, $x:expr, $y:expr) => {
            s[$a] = _mm256_add_epi32(_mm256_add_epi32(s[$a], s[$b]), $x);
            s[$d] = _mm256_shuffle_epi8(_mm256_xor_si256(s[$d], s[$a]), rot16);
            s[$c] = _mm256_add_epi32(s[$c], s[$d]);
            s[$b] = ror!(_mm256_xor_si256(s[$b], s[$c]), 12, 20);
            s[$a] = _mm256_add_epi32(_mm256_add_epi32(s[$a], s[$b]), $y);
            s[$d] = _mm256_shuffle_epi8(_mm256_xor_si256(s[$d], s[$a]), rot8);
            s[$c] = _mm256_add_epi32(s[$c], s[$d]);
            s[$b] = ror!(_mm256_xor_si256(s[$b], s[$c]), 7, 25);
        };
    }
    for sched in &SCHEDULE {
        let x = |i: usize| mv[sched[i]];
        g!(0, 4, 8, 12, x(0), x(1));
        g!(1, 5, 9, 13, x(2), x(3));
        g!(2, 6, 10, 14, x(4), x(5));
        g!(3, 7, 11, 15, x(6), x(7));
        g!(0, 5, 10, 15, x(8), x(9));
        g!(1, 6, 11, 12, x(10), x(11));
        g!(2, 7, 8, 13, x(12), x(13));
        g!(3, 4, 9, 14, x(14), x(15));
    }
    std::array::from_fn(|w| _mm256_xor_si256(s[w], s[w + 8]))
}

/// 16 lanes as two halves of 8 (lanes 0-7, then 8-15) through the AVX2 rounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn compress16_avx2(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    use std::arch::x86_64::*;
    for half in 0..2 {
        let o = half * 8;
        let mv: [__m256i; 16] = std::array::from_fn(|w| _mm256_loadu_si256(m[w][o..].as_ptr() as *const __m256i));
        let c: [__m256i; 8] = std::array::from_fn(|w| _mm256_loadu_si256(cv[w][o..].as_ptr() as *const __m256i));
        let r = rounds8(&c, &mv, counter, block_len, flags);
        for w in 0..8 {
            _mm256_storeu_si256(cv[w][o..].as_mut_ptr() as *mut __m256i, r[w]);
        }
    }
}

/// Longest message the transposing kernel takes: one chunk including a prefix byte.
const TRANSPOSED_LEN_MAX: usize = CHUNK_LEN - 1;
/// Messages up to this length use the instance with a small word buffer (a 16 KiB stack frame
/// measurably slows the common short case, e.g. Merkle nodes).
const TRANSPOSED_SHORT_MAX: usize = 128;

/// Transposes 16 rows of 16 u32 words: out[j] holds word j of every row (row l in lane l).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn transpose16(r: &[std::arch::x86_64::__m512i; 16]) -> [std::arch::x86_64::__m512i; 16] {
    use std::arch::x86_64::*;
    let mut out = [_mm512_setzero_si512(); 16];
    // u[g][m], 128-bit lane k = word 4k + m of rows 4g .. 4g + 3.
    let mut u = [[_mm512_setzero_si512(); 4]; 4];
    for g in 0..4 {
        let (a, b, c, d) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
        let t0 = _mm512_unpacklo_epi32(a, b);
        let t1 = _mm512_unpackhi_epi32(a, b);
        let t2 = _mm512_unpacklo_epi32(c, d);
        let t3 = _mm512_unpackhi_epi32(c, d);
        u[g][0] = _mm512_unpacklo_epi64(t0, t2);
        u[g][1] = _mm512_unpackhi_epi64(t0, t2);
        u[g][2] = _mm512_unpacklo_epi64(t1, t3);
        u[g][3] = _mm512_unpackhi_epi64(t1, t3);
    }
    // A 4x4 transpose of 128-bit lanes for each m.
    for m in 0..4 {
        let v0 = _mm512_shuffle_i32x4::<0x88>(u[0][m], u[1][m]);
        let v1 = _mm512_shuffle_i32x4::<0xdd>(u[0][m], u[1][m]);
        let v2 = _mm512_shuffle_i32x4::<0x88>(u[2][m], u[3][m]);
        let v3 = _mm512_shuffle_i32x4::<0xdd>(u[2][m], u[3][m]);
        out[m] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
        out[8 + m] = _mm512_shuffle_i32x4::<0xdd>(v0, v2);
        out[4 + m] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
        out[12 + m] = _mm512_shuffle_i32x4::<0xdd>(v1, v3);
    }
    out
}

/// BLAKE3(prefix || data[base + l*stride .. + len]) for the 16 lanes l. Each lane's message is
/// read with plain (masked at the tail) 64-byte loads and transposed in registers; the one-byte
/// prefix shift is done on the transposed words. Precondition: len + 1 <= 1024 and every
/// lane's message inside `data` (checked by the caller).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn hash_prefixed16_transposed<const WORDS: usize>(prefix: Option<u8>, data: &[u8], base: usize, stride: usize, len: usize, out: &mut [[u8; 32]]) {
    use std::arch::x86_64::*;
    let total = len + prefix.is_some() as usize;
    let blocks = total.div_ceil(BLOCK_LEN).max(1);
    let chunks = len.div_ceil(64);
    // words[j] = message word j (bytes 4j .. 4j + 4) of every lane.
    // WORDS >= 16 * chunks (checked). Only words[..16 * chunks] are written, and only those
    // are read (see `word`), so the rest stays uninitialised rather than costing stores.
    assert!(len <= TRANSPOSED_LEN_MAX && 16 * len.div_ceil(64) <= WORDS);
    let mut words = [std::mem::MaybeUninit::<__m512i>::uninit(); WORDS];
    for c in 0..chunks {
        let valid = (len - 64 * c).min(64);
        let mask: u64 = if valid == 64 { u64::MAX } else { (1u64 << valid) - 1 };
        let rows: [__m512i; 16] = std::array::from_fn(|l| {
            let p = data.as_ptr().add(base + l * stride + 64 * c);
            _mm512_maskz_loadu_epi8(mask, p as *const _)
        });
        let t = transpose16(&rows);
        for (dst, src) in words[16 * c..16 * c + 16].iter_mut().zip(t) {
            dst.write(src);
        }
    }
    let word = |j: isize| -> __m512i {
        if j < 0 {
            _mm512_set1_epi32((prefix.unwrap_or(0) as i32) << 24)
        } else if (j as usize) < 16 * chunks {
            // SAFETY: written above for every j < 16 * chunks.
            unsafe { words[j as usize].assume_init() }
        } else {
            _mm512_setzero_si512()
        }
    };
    let mut cv: [__m512i; 8] = std::array::from_fn(|w| _mm512_set1_epi32(IV[w] as i32));
    for b in 0..blocks {
        let mv: [__m512i; 16] = std::array::from_fn(|i| {
            let j = (16 * b + i) as isize;
            match prefix {
                // bytes 4j - 1 .. 4j + 3 of the message = last byte of word j-1, first 3 of word j
                Some(_) => _mm512_or_si512(_mm512_slli_epi32::<8>(word(j)), _mm512_srli_epi32::<24>(word(j - 1))),
                None => word(j),
            }
        });
        let start = b * BLOCK_LEN;
        let block_len = (total - start).min(BLOCK_LEN) as u32;
        let mut flags = 0;
        if b == 0 {
            flags |= CHUNK_START;
        }
        if b == blocks - 1 {
            flags |= CHUNK_END | ROOT;
        }
        cv = rounds16(&cv, &mv, 0, block_len, flags);
    }
    // Back to one row per lane: transpose the 8 chaining-value words (padded to 16).
    let mut cols = [_mm512_setzero_si512(); 16];
    cols[..8].copy_from_slice(&cv);
    let rows = transpose16(&cols);
    for (l, o) in out.iter_mut().enumerate().take(LANES) {
        let mut tmp = [0u8; 64];
        _mm512_storeu_si512(tmp.as_mut_ptr() as *mut _, rows[l]);
        o.copy_from_slice(&tmp[..32]);
    }
}

/// Picks the instance of the transposing kernel by message length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn transposed(prefix: Option<u8>, data: &[u8], base: usize, stride: usize, len: usize, out: &mut [[u8; 32]]) {
    if len <= TRANSPOSED_SHORT_MAX {
        hash_prefixed16_transposed::<{ 16 * TRANSPOSED_SHORT_MAX.div_ceil(64) }>(prefix, data, base, stride, len, out)
    } else {
        hash_prefixed16_transposed::<{ 16 * CHUNK_LEN.div_ceil(64) }>(prefix, data, base, stride, len, out)
    }
}

fn transposed_ok() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            kernel_name() == "avx512" && is_x86_feature_detected!("avx512bw")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// BLAKE3(prefix || data[i*stride .. i*stride + len]) into out[i] for every i < out.len(),
/// with len + 1 <= 1024. Full groups of 16 use the transposing kernel when AVX-512 is on.
pub fn hash_prefixed_strided(prefix: u8, data: &[u8], first: usize, stride: usize, len: usize, out: &mut [[u8; 32]]) {
    let fast = transposed_ok();
    for (g, o) in out.chunks_mut(LANES).enumerate() {
        let base = (first + g * LANES) * stride;
        #[cfg(target_arch = "x86_64")]
        if fast && len <= TRANSPOSED_LEN_MAX && o.len() == LANES && base + 15 * stride + len <= data.len() {
            // SAFETY: AVX-512F/BW detected; every lane's message is inside `data` (checked).
            unsafe { transposed(Some(prefix), data, base, stride, len, o) };
            continue;
        }
        hash_prefixed16(prefix, len, o.len(), |l| &data[base + l * stride..base + l * stride + len], o);
    }
}

type Compress16 = fn(&mut Cvs, &Rows, u64, u32, u32);

#[cfg(target_arch = "x86_64")]
fn compress16_avx512_safe(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    // SAFETY: only selected after runtime detection of AVX-512F.
    unsafe { compress16_avx512(cv, m, counter, block_len, flags) }
}

#[cfg(target_arch = "x86_64")]
fn compress16_avx2_safe(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    // SAFETY: only selected after runtime detection of AVX2.
    unsafe { compress16_avx2(cv, m, counter, block_len, flags) }
}

/// The widest kernel this CPU has; BPCI_NATIVE_NO_AVX512 / BPCI_NATIVE_NO_AVX2 step down (tests
/// use them to cover every kernel on one machine).
fn pick() -> (Compress16, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::env::var_os("BPCI_NATIVE_NO_AVX512").is_none() && is_x86_feature_detected!("avx512f") {
            return (compress16_avx512_safe, "avx512");
        }
        if std::env::var_os("BPCI_NATIVE_NO_AVX2").is_none() && is_x86_feature_detected!("avx2") {
            return (compress16_avx2_safe, "avx2");
        }
    }
    (compress16_portable, "portable")
}

static KERNEL: OnceLock<(Compress16, &'static str)> = OnceLock::new();

fn kernel() -> Compress16 {
    KERNEL
        .get_or_init(pick)
        .0
}

pub fn kernel_name() -> &'static str {
    kernel();
    KERNEL.get().map(|k| k.1).unwrap_or("portable")
}

#[inline]
pub fn compress16(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    (kernel())(cv, m, counter, block_len, flags)
}

#[inline]
pub fn words_le(block: &[u8; 64]) -> [u32; 16] {
    std::array::from_fn(|i| u32::from_le_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]))
}

pub fn cv_bytes(cv: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&cv[i].to_le_bytes());
    }
    out
}

/// BLAKE3 of `prefix || msg_i` for up to 16 messages of the same length `len`, where
/// `len + 1 <= 1024` (one chunk). `msg(i)` gives lane i's message; missing lanes are zero.
/// Writes the 32-byte hashes to `out[i]`.
pub fn hash_prefixed16<'a>(prefix: u8, len: usize, count: usize, msg: impl Fn(usize) -> &'a [u8], out: &mut [[u8; 32]]) {
    debug_assert!(len + 1 <= CHUNK_LEN && count <= LANES);
    let total = len + 1;
    let blocks = if total == 0 { 1 } else { total.div_ceil(BLOCK_LEN) };
    let mut cv: Cvs = std::array::from_fn(|w| [IV[w]; LANES]);
    let mut m: Rows = [[0u32; LANES]; 16];
    for b in 0..blocks {
        let start = b * BLOCK_LEN;
        let end = (start + BLOCK_LEN).min(total);
        for l in 0..count {
            let src = msg(l);
            let mut buf = [0u8; 64];
            if b == 0 {
                buf[0] = prefix;
                let take = (end - 1).min(len);
                buf[1..1 + take].copy_from_slice(&src[..take]);
            } else {
                buf[..end - start].copy_from_slice(&src[start - 1..end - 1]);
            }
            let w = words_le(&buf);
            for i in 0..16 {
                m[i][l] = w[i];
            }
        }
        let mut flags = 0;
        if b == 0 {
            flags |= CHUNK_START;
        }
        if b == blocks - 1 {
            flags |= CHUNK_END | ROOT;
        }
        compress16(&mut cv, &m, 0, (end - start) as u32, flags);
    }
    for l in 0..count {
        let c: [u32; 8] = std::array::from_fn(|w| cv[w][l]);
        out[l] = cv_bytes(&c);
    }
}

/// BLAKE3 of equal-length messages data[i*len .. (i+1)*len] (no prefix) into out[i], when the
/// transposing kernel applies (AVX-512, len <= 128); false (nothing written) otherwise.
pub fn hash_uniform(data: &[u8], first: usize, len: usize, out: &mut [[u8; 32]]) -> bool {
    if !transposed_ok() || len > TRANSPOSED_LEN_MAX {
        return false;
    }
    for (g, o) in out.chunks_mut(LANES).enumerate() {
        let base = (first + g * LANES) * len;
        #[cfg(target_arch = "x86_64")]
        if o.len() == LANES && base + 16 * len <= data.len() {
            // SAFETY: AVX-512F/BW detected (transposed_ok); all 16 messages inside `data`.
            unsafe { transposed(None, data, base, len, len, o) };
            continue;
        }
        for (l, h) in o.iter_mut().enumerate() {
            *h = *blake3::hash(&data[base + l * len..base + (l + 1) * len]).as_bytes();
        }
    }
    true
}
