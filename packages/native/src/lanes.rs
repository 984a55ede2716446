//! BLAKE3 compression over 16 independent messages at once ("lanes"), for the two hot paths that
//! hash many short messages of identical shape: Merkle levels (every node is 0x01 || l || r, 65
//! bytes) and PoW (one header, 16 nonces). The `blake3` crate's SIMD `hash_many` only takes
//! whole 64-byte blocks, and these messages end in partial blocks, so the lane kernel is ours.
//!
//! Layout is word-major: `cv[w][lane]`, `m[w][lane]`. With AVX-512F each word row is one zmm
//! register and the 7 rounds run on 16 lanes per instruction; otherwise a portable loop does the
//! same lane by lane. Both produce the BLAKE3 compression function bit for bit (tested against
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

pub type Rows = [[u32; LANES]; 16];
pub type Cvs = [[u32; LANES]; 8];

/// One compression, one lane; returns the new chaining value.
pub fn compress1(cv: &[u32; 8], m: &[u32; 16], counter: u64, block_len: u32, flags: u32) -> [u32; 8] {
    let mut s = [
        cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7], IV[0], IV[1], IV[2], IV[3],
        counter as u32, (counter >> 32) as u32, block_len, flags,
    ];
    let mut m = *m;
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
    for r in 0..7 {
        g(&mut s, 0, 4, 8, 12, m[0], m[1]);
        g(&mut s, 1, 5, 9, 13, m[2], m[3]);
        g(&mut s, 2, 6, 10, 14, m[4], m[5]);
        g(&mut s, 3, 7, 11, 15, m[6], m[7]);
        g(&mut s, 0, 5, 10, 15, m[8], m[9]);
        g(&mut s, 1, 6, 11, 12, m[10], m[11]);
        g(&mut s, 2, 7, 8, 13, m[12], m[13]);
        g(&mut s, 3, 4, 9, 14, m[14], m[15]);
        if r < 6 {
            let old = m;
            for i in 0..16 {
                m[i] = old[PERM[i]];
            }
        }
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn compress16_avx512(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    use std::arch::x86_64::*;
    let mut mv: [__m512i; 16] = [_mm512_setzero_si512(); 16];
    for w in 0..16 {
        mv[w] = _mm512_loadu_si512(m[w].as_ptr() as *const _);
    }
    let mut s: [__m512i; 16] = [_mm512_setzero_si512(); 16];
    for w in 0..8 {
        s[w] = _mm512_loadu_si512(cv[w].as_ptr() as *const _);
    }
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
    // Message schedule: index of the original word used at each position in round r.
    let mut sched: [usize; 16] = std::array::from_fn(|i| i);
    for r in 0..7 {
        let x = |i: usize| mv[sched[i]];
        g!(0, 4, 8, 12, x(0), x(1));
        g!(1, 5, 9, 13, x(2), x(3));
        g!(2, 6, 10, 14, x(4), x(5));
        g!(3, 7, 11, 15, x(6), x(7));
        g!(0, 5, 10, 15, x(8), x(9));
        g!(1, 6, 11, 12, x(10), x(11));
        g!(2, 7, 8, 13, x(12), x(13));
        g!(3, 4, 9, 14, x(14), x(15));
        if r < 6 {
            let old = sched;
            for i in 0..16 {
                sched[i] = old[PERM[i]];
            }
        }
    }
    for w in 0..8 {
        let v = _mm512_xor_si512(s[w], s[w + 8]);
        _mm512_storeu_si512(cv[w].as_mut_ptr() as *mut _, v);
    }
}

type Compress16 = fn(&mut Cvs, &Rows, u64, u32, u32);

#[cfg(target_arch = "x86_64")]
fn compress16_avx512_safe(cv: &mut Cvs, m: &Rows, counter: u64, block_len: u32, flags: u32) {
    // SAFETY: only selected after runtime detection of AVX-512F.
    unsafe { compress16_avx512(cv, m, counter, block_len, flags) }
}

fn pick() -> Compress16 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::env::var_os("BPCI_NATIVE_NO_AVX512").is_none() && is_x86_feature_detected!("avx512f") {
            return compress16_avx512_safe;
        }
    }
    compress16_portable
}

static KERNEL: OnceLock<(Compress16, &'static str)> = OnceLock::new();

fn kernel() -> Compress16 {
    KERNEL
        .get_or_init(|| {
            let k = pick();
            let name = if k as usize == compress16_portable as Compress16 as usize { "portable" } else { "avx512" };
            (k, name)
        })
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
