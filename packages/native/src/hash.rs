//! BLAKE3, Merkle trees and the BLAKE3 proof-of-work search, under the rules of
//! packages/core-ts/src/crypto/{merkle,pow}.ts:
//!   leafHash(x) = BLAKE3(0x00 || x); nodeHash(l, r) = BLAKE3(0x01 || l || r); an odd last node
//!   is promoted; root of no leaves = BLAKE3("").
//!   PoW: header with its last 8 bytes = nonce (LE u64); wins when BLAKE3 read big-endian <=
//!   target; the LOWEST winning nonce of the range is the answer, however the work is split.

use crate::lanes::{self, LANES};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Inputs at least this long are hashed with the crate's rayon tree (`update_rayon`).
pub const RAYON_INPUT_MIN: usize = 128 * 1024;
/// Levels/batches with at least this many items are split over rayon.
const PAR_ITEMS_MIN: usize = 4096;
/// Items per rayon task (a multiple of LANES).
const PAR_GRAIN: usize = 1024;

pub fn blake3(data: &[u8]) -> [u8; 32] {
    if data.len() >= RAYON_INPUT_MIN {
        *blake3::Hasher::new().update_rayon(data).finalize().as_bytes()
    } else {
        *blake3::hash(data).as_bytes()
    }
}

pub fn blake3_keyed(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    if data.len() >= RAYON_INPUT_MIN {
        *blake3::Hasher::new_keyed(key).update_rayon(data).finalize().as_bytes()
    } else {
        *blake3::keyed_hash(key, data).as_bytes()
    }
}

/// Single-threaded BLAKE3 (for the benchmark's one-thread figure).
pub fn blake3_serial(data: &[u8]) -> [u8; 32] {
    *blake3::hash(data).as_bytes()
}

/// Checks packed offsets: n + 1 entries, offsets[0] = 0, non-decreasing, last = data length.
pub fn check_offsets(offsets: &[u32], data_len: usize) -> Result<(), String> {
    if offsets.is_empty() {
        return Err("offsets must have n + 1 entries (at least 1)".into());
    }
    if offsets[0] != 0 {
        return Err("offsets[0] must be 0".into());
    }
    for w in offsets.windows(2) {
        if w[1] < w[0] {
            return Err("offsets must be non-decreasing".into());
        }
    }
    if *offsets.last().unwrap() as usize != data_len {
        return Err(format!("offsets[n] must equal data.length ({data_len})"));
    }
    Ok(())
}

fn msg<'a>(data: &'a [u8], offsets: &[u32], i: usize) -> &'a [u8] {
    &data[offsets[i] as usize..offsets[i + 1] as usize]
}

/// One hash per packed message, written to `out` (n x 32 bytes). Offsets must be checked.
pub fn blake3_many(data: &[u8], offsets: &[u32], out: &mut [u8]) {
    let n = offsets.len() - 1;
    debug_assert_eq!(out.len(), n * 32);
    // Many short messages of one length (digests of fixed-size records): 16 lanes at a time.
    if n >= LANES {
        if let Some(len) = uniform_len(offsets).filter(|&l| l < lanes::CHUNK_LEN) {
            let hashes: &mut [[u8; 32]] = out.as_chunks_mut::<32>().0;
            let done = if n >= PAR_ITEMS_MIN {
                hashes.par_chunks_mut(PAR_GRAIN).enumerate().all(|(c, chunk)| lanes::hash_uniform(data, c * PAR_GRAIN, len, chunk))
            } else {
                lanes::hash_uniform(data, 0, len, hashes)
            };
            if done {
                return;
            }
        }
    }
    let work = |(i, o): (usize, &mut [u8])| o.copy_from_slice(blake3::hash(msg(data, offsets, i)).as_bytes());
    if n >= 256 || data.len() >= RAYON_INPUT_MIN {
        out.par_chunks_mut(32).enumerate().with_min_len(64).for_each(work);
    } else {
        out.chunks_mut(32).enumerate().for_each(work);
    }
}

fn leaf_hash_one(leaf: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&[0u8]);
    h.update(leaf);
    *h.finalize().as_bytes()
}

/// Some(len) when every leaf has the same length and fits one chunk with its prefix.
fn uniform_len(offsets: &[u32]) -> Option<usize> {
    if offsets.len() < 2 {
        return None;
    }
    let len = (offsets[1] - offsets[0]) as usize;
    let same = len + 1 <= lanes::CHUNK_LEN && offsets.windows(2).all(|w| (w[1] - w[0]) as usize == len);
    same.then_some(len)
}

/// Leaf hashes of leaves lo..hi, on the calling thread.
fn leaf_range(data: &[u8], offsets: &[u32], uniform: Option<usize>, lo: usize, hi: usize) -> Vec<[u8; 32]> {
    let mut out = vec![[0u8; 32]; hi - lo];
    match uniform {
        Some(len) => lanes::hash_prefixed_strided(0x00, data, lo, len, len, &mut out),
        None => out.iter_mut().enumerate().for_each(|(i, o)| *o = leaf_hash_one(msg(data, offsets, lo + i))),
    }
    out
}

/// Leaves per subtree in `merkle_root` (a power of two: its root is a node of the full tree).
const SUBTREE_LEAVES: usize = 1024;

/// Root of leaves lo..hi computed on the calling thread, all in cache.
fn subtree_root(data: &[u8], offsets: &[u32], uniform: Option<usize>, lo: usize, hi: usize) -> [u8; 32] {
    let mut level = leaf_range(data, offsets, uniform, lo, hi);
    while level.len() > 1 {
        level = merkle_next(&level);
    }
    level[0]
}

/// The next level up: pairs hashed with the node prefix, an odd last node promoted.
pub fn merkle_next(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let pairs = level.len() / 2;
    let mut next = vec![[0u8; 32]; level.len().div_ceil(2)];
    // Pair i is the 64 contiguous bytes of level[2i] and level[2i + 1].
    let flat: &[u8] = level.as_flattened();
    let (paired, rest) = next.split_at_mut(pairs);
    if pairs >= PAR_ITEMS_MIN {
        paired
            .par_chunks_mut(PAR_GRAIN)
            .enumerate()
            .for_each(|(c, chunk)| lanes::hash_prefixed_strided(0x01, flat, c * PAR_GRAIN, 64, 64, chunk));
    } else {
        lanes::hash_prefixed_strided(0x01, flat, 0, 64, 64, paired);
    }
    if let Some(r) = rest.first_mut() {
        *r = level[level.len() - 1];
    }
    next
}

/// The root. Large trees are cut into subtrees of SUBTREE_LEAVES leaves starting at multiples
/// of SUBTREE_LEAVES: pairing level by level never crosses such a boundary below that height,
/// and the promotion of an odd last node happens only in the last subtree, which is the same
/// rule applied to that subtree alone. So the subtree roots are exactly the tree's nodes at that
/// height; each is computed by one rayon task in cache, then the levels above are combined.
pub fn merkle_root(data: &[u8], offsets: &[u32]) -> [u8; 32] {
    let n = offsets.len() - 1;
    if n == 0 {
        return *blake3::hash(&[]).as_bytes();
    }
    let uniform = uniform_len(offsets);
    let mut level = if n >= 2 * SUBTREE_LEAVES {
        (0..n.div_ceil(SUBTREE_LEAVES))
            .into_par_iter()
            .map(|c| subtree_root(data, offsets, uniform, c * SUBTREE_LEAVES, ((c + 1) * SUBTREE_LEAVES).min(n)))
            .collect()
    } else {
        leaf_range(data, offsets, uniform, 0, n)
    };
    while level.len() > 1 {
        level = merkle_next(&level);
    }
    level[0]
}

/// Sibling hashes bottom-up for leaf `index` (< n, checked by the caller). Large trees use the
/// subtrees of `merkle_root`: below their height every sibling of the path lies inside the
/// subtree holding the leaf (and a missing sibling, from promotion, is missing there too), and
/// above it the path runs through the subtree roots.
pub fn merkle_proof(data: &[u8], offsets: &[u32], index: usize) -> Vec<[u8; 32]> {
    let n = offsets.len() - 1;
    let uniform = uniform_len(offsets);
    if n < 2 * SUBTREE_LEAVES {
        return path(leaf_range(data, offsets, uniform, 0, n), index);
    }
    let roots: Vec<[u8; 32]> = (0..n.div_ceil(SUBTREE_LEAVES))
        .into_par_iter()
        .map(|c| subtree_root(data, offsets, uniform, c * SUBTREE_LEAVES, ((c + 1) * SUBTREE_LEAVES).min(n)))
        .collect();
    let c = index / SUBTREE_LEAVES;
    let lo = c * SUBTREE_LEAVES;
    let mut sibs = path(leaf_range(data, offsets, uniform, lo, (lo + SUBTREE_LEAVES).min(n)), index - lo);
    sibs.extend(path(roots, c));
    sibs
}

/// Siblings of node `i` of `level` up to the top of that (sub)tree.
fn path(mut level: Vec<[u8; 32]>, mut i: usize) -> Vec<[u8; 32]> {
    let mut sibs = Vec::new();
    while level.len() > 1 {
        if let Some(s) = level.get(i ^ 1) {
            sibs.push(*s);
        }
        level = merkle_next(&level);
        i >>= 1;
    }
    sibs
}

// ---- proof of work ----

/// hash <= target, both big-endian.
fn meets(hash: &[u8; 32], target: &[u8; 32]) -> bool {
    hash.as_slice() <= target.as_slice()
}

/// Per-header precomputation shared by all workers.
enum PowPlan {
    /// The nonce sits wholly in the last block of a one-chunk header: the chaining value after
    /// the blocks before it is computed once; each nonce costs one compression.
    Lanes { mid: [u32; 8], last: [u8; 64], last_len: u32, last_flags: u32, nonce_at: usize },
    /// Anything else (long headers, nonce across a block boundary): the crate's hasher cloned
    /// after the prefix.
    Hasher(blake3::Hasher),
}

fn plan(header: &[u8]) -> PowPlan {
    let len = header.len();
    let nonce_off = len - 8;
    let last_block = (len - 1) / 64;
    if len <= lanes::CHUNK_LEN && nonce_off / 64 == last_block {
        let mut cv = lanes::IV;
        for b in 0..last_block {
            let block: [u8; 64] = header[b * 64..b * 64 + 64].try_into().unwrap();
            let flags = if b == 0 { lanes::CHUNK_START } else { 0 };
            cv = lanes::compress1(&cv, &lanes::words_le(&block), 0, 64, flags);
        }
        let mut last = [0u8; 64];
        let start = last_block * 64;
        last[..len - start].copy_from_slice(&header[start..]);
        let mut flags = lanes::CHUNK_END | lanes::ROOT;
        if last_block == 0 {
            flags |= lanes::CHUNK_START;
        }
        PowPlan::Lanes { mid: cv, last, last_len: (len - start) as u32, last_flags: flags, nonce_at: nonce_off - start }
    } else {
        let mut h = blake3::Hasher::new();
        h.update(&header[..nonce_off]);
        PowPlan::Hasher(h)
    }
}

/// Search nonces start + [lo, hi) in ascending order; returns the first winner's offset.
/// Stops early (returns None) once `best` holds an offset below this range.
fn search_range(plan: &PowPlan, target: &[u8; 32], start: u64, lo: u64, hi: u64, best: &AtomicU64) -> Option<(u64, [u8; 32])> {
    const CHECK_EVERY: u64 = 4096;
    match plan {
        PowPlan::Lanes { mid, last, last_len, last_flags, nonce_at } => {
            let base_words = lanes::words_le(last);
            let w0 = nonce_at / 4;
            let w1 = (nonce_at + 7) / 4; // inclusive last word touched by the nonce
            let mut m: lanes::Rows = std::array::from_fn(|w| [base_words[w]; LANES]);
            let t0 = u32::from_be_bytes([target[0], target[1], target[2], target[3]]);
            let mut off = lo;
            while off < hi {
                if (off - lo) % CHECK_EVERY == 0 && best.load(Ordering::Relaxed) < lo {
                    return None;
                }
                let count = ((hi - off) as usize).min(LANES);
                for l in 0..LANES {
                    let nonce = start.wrapping_add(off + (l.min(count.saturating_sub(1))) as u64);
                    let mut blk = *last;
                    blk[*nonce_at..*nonce_at + 8].copy_from_slice(&nonce.to_le_bytes());
                    for w in w0..=w1.min(15) {
                        m[w][l] = u32::from_le_bytes([blk[4 * w], blk[4 * w + 1], blk[4 * w + 2], blk[4 * w + 3]]);
                    }
                }
                let mut cv: lanes::Cvs = std::array::from_fn(|w| [mid[w]; LANES]);
                lanes::compress16(&mut cv, &m, 0, *last_len, *last_flags);
                for l in 0..count {
                    // Cheap filter on the first 4 bytes (big-endian), full compare only then.
                    if cv[0][l].swap_bytes() <= t0 {
                        let c: [u32; 8] = std::array::from_fn(|w| cv[w][l]);
                        let h = lanes::cv_bytes(&c);
                        if meets(&h, target) {
                            return Some((off + l as u64, h));
                        }
                    }
                }
                off += count as u64;
            }
            None
        }
        PowPlan::Hasher(prefix) => {
            for off in lo..hi {
                if (off - lo) % CHECK_EVERY == 0 && best.load(Ordering::Relaxed) < lo {
                    return None;
                }
                let mut h = prefix.clone();
                h.update(&start.wrapping_add(off).to_le_bytes());
                let out = *h.finalize().as_bytes();
                if meets(&out, target) {
                    return Some((off, out));
                }
            }
            None
        }
    }
}

/// Nonces per rayon task.
const POW_CHUNK: u64 = 1 << 16;

/// Lowest nonce in [start, start + count) whose hash meets `target` (arguments checked by the
/// caller: header >= 8 bytes, start + count - 1 <= u64::MAX).
pub fn pow_search(header: &[u8], target: &[u8; 32], start: u64, count: u64) -> Option<(u64, [u8; 32])> {
    if count == 0 {
        return None;
    }
    let plan = plan(header);
    let best = AtomicU64::new(u64::MAX);
    if count <= POW_CHUNK {
        return search_range(&plan, target, start, 0, count, &best).map(|(o, h)| (start.wrapping_add(o), h));
    }
    let chunks = count.div_ceil(POW_CHUNK);
    let found: Option<(u64, [u8; 32])> = (0..chunks)
        .into_par_iter()
        .filter_map(|c| {
            let lo = c * POW_CHUNK;
            let hi = (lo + POW_CHUNK).min(count);
            if best.load(Ordering::Relaxed) < lo {
                return None;
            }
            let r = search_range(&plan, target, start, lo, hi, &best);
            if let Some((o, _)) = r {
                best.fetch_min(o, Ordering::Relaxed);
            }
            r
        })
        .min_by_key(|(o, _)| *o);
    found.map(|(o, h)| (start.wrapping_add(o), h))
}
