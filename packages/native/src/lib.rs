//! bpci_native: the bpci CryptoBackend as a Node-API addon (see README.md).
//!
//! This file is the export table: it turns JS arguments (typed arrays, numbers) into slices via
//! the safe `napi` surface and calls the pure-Rust modules. Argument checks with messages equal
//! to the js backend's are done in TypeScript (src/index.ts); the checks here only keep the
//! native side memory-safe and throw TypeError/RangeError naming the argument.

mod ed25519;
mod hash;
mod lanes;
mod napi;

use napi::{arg, Env, JsError, JsResult, Value};

pub(crate) static EXPORTS: &[(&str, napi::Exported)] = &[
    ("blake3", js_blake3),
    ("blake3Serial", js_blake3_serial),
    ("blake3Keyed", js_blake3_keyed),
    ("blake3Many", js_blake3_many),
    ("merkleRoot", js_merkle_root),
    ("merkleRootAsync", js_merkle_root_async),
    ("merkleProof", js_merkle_proof),
    ("powSearch", js_pow_search),
    ("powSearchAsync", js_pow_search_async),
    ("ed25519PublicKey", js_ed25519_public_key),
    ("ed25519Sign", js_ed25519_sign),
    ("ed25519VerifyBatch", js_ed25519_verify_batch),
    ("ed25519VerifyBatchAsync", js_ed25519_verify_batch_async),
    ("ed25519VerifyEachOwn", js_ed25519_verify_each_own),
    ("laneKernel", js_lane_kernel),
    ("msmSelfCheck", js_msm_self_check),
    ("panicForTest", js_panic_for_test),
    ("panicForTestAsync", js_panic_for_test_async),
];

fn bytes<'a>(env: &'a Env, args: &[Value], i: usize, name: &str) -> JsResult<&'a [u8]> {
    env.bytes(arg(args, i, name)?, name)
}

fn fixed<'a, const N: usize>(env: &'a Env, args: &[Value], i: usize, name: &str) -> JsResult<&'a [u8; N]> {
    let b = bytes(env, args, i, name)?;
    b.try_into().map_err(|_| JsError::range(format!("{name} must be {N} bytes, got {}", b.len())))
}

fn packed<'a>(env: &'a Env, args: &[Value], i: usize, name: &str) -> JsResult<(&'a [u8], &'a [u32])> {
    let data = bytes(env, args, i, &format!("{name}.data"))?;
    let offsets = env.u32s(arg(args, i + 1, "offsets")?, &format!("{name}.offsets"))?;
    hash::check_offsets(offsets, data.len()).map_err(|e| JsError::range(format!("{name}: {e}")))?;
    Ok((data, offsets))
}

/// A fixed-size result: into the caller's Uint8Array `args[i]` when there is one (returns null),
/// else a new one. A Node-API ArrayBuffer per call costs more than hashing a short message, so
/// the JS wrappers pass one scratch buffer and copy out of it in JS.
fn result(env: &Env, args: &[Value], i: usize, src: &[u8]) -> JsResult<Value> {
    match args.get(i) {
        Some(&out) => {
            env.write_bytes(out, "out", src)?;
            env.null()
        }
        None => env.new_bytes(src),
    }
}

fn js_blake3(env: &Env, args: &[Value]) -> JsResult<Value> {
    let data = bytes(env, args, 0, "data")?;
    result(env, args, 1, &hash::blake3(data))
}

fn js_blake3_serial(env: &Env, args: &[Value]) -> JsResult<Value> {
    let data = bytes(env, args, 0, "data")?;
    env.new_bytes(&hash::blake3_serial(data))
}

fn js_blake3_keyed(env: &Env, args: &[Value]) -> JsResult<Value> {
    let key = fixed::<32>(env, args, 0, "key")?;
    let data = bytes(env, args, 1, "data")?;
    result(env, args, 2, &hash::blake3_keyed(key, data))
}

fn js_blake3_many(env: &Env, args: &[Value]) -> JsResult<Value> {
    let (data, offsets) = packed(env, args, 0, "messages")?;
    let n = offsets.len() - 1;
    env.new_bytes_with(n * 32, |out| hash::blake3_many(data, offsets, out))
}

fn js_merkle_root(env: &Env, args: &[Value]) -> JsResult<Value> {
    let (data, offsets) = packed(env, args, 0, "leaves")?;
    env.new_bytes(&hash::merkle_root(data, offsets))
}

fn js_merkle_root_async(env: &Env, args: &[Value]) -> JsResult<Value> {
    let (data, offsets) = packed(env, args, 0, "leaves")?;
    // The JS buffers may change after we return: the job owns copies.
    let (data, offsets) = (data.to_vec(), offsets.to_vec());
    env.spawn_promise("bpci.merkleRoot", move || Ok(Some(hash::merkle_root(&data, &offsets).to_vec())))
}

fn js_merkle_proof(env: &Env, args: &[Value]) -> JsResult<Value> {
    let (data, offsets) = packed(env, args, 0, "leaves")?;
    let n = offsets.len() - 1;
    let index = env.integer(arg(args, 2, "index")?, "index", 9007199254740991.0)? as usize;
    if index >= n {
        return Err(JsError::range(format!("index must be < leaves.length ({n}), got {index}")));
    }
    let sibs = hash::merkle_proof(data, offsets, index);
    env.new_bytes(sibs.as_flattened())
}

struct PowArgs {
    header: Vec<u8>,
    target: [u8; 32],
    start: u64,
    count: u64,
}

fn pow_args(env: &Env, args: &[Value]) -> JsResult<PowArgs> {
    let header = bytes(env, args, 0, "header")?;
    if header.len() < 8 {
        return Err(JsError::range(format!("header must be at least 8 bytes, got {}", header.len())));
    }
    let target = *fixed::<32>(env, args, 1, "target")?;
    let lo = env.integer(arg(args, 2, "nonceStartLo")?, "nonceStartLo", u32::MAX as f64)?;
    let hi = env.integer(arg(args, 3, "nonceStartHi")?, "nonceStartHi", u32::MAX as f64)?;
    let count = env.integer(arg(args, 4, "count")?, "count", 9007199254740991.0)?;
    let start = (hi << 32) | lo;
    if count > 0 && start.checked_add(count - 1).is_none() {
        return Err(JsError::range("nonceStart + count must not pass 2^64"));
    }
    Ok(PowArgs { header: header.to_vec(), target, start, count })
}

fn pow_result(r: Option<(u64, [u8; 32])>) -> Option<Vec<u8>> {
    r.map(|(nonce, h)| {
        let mut v = Vec::with_capacity(40);
        v.extend_from_slice(&nonce.to_le_bytes());
        v.extend_from_slice(&h);
        v
    })
}

fn js_pow_search(env: &Env, args: &[Value]) -> JsResult<Value> {
    let a = pow_args(env, args)?;
    match pow_result(hash::pow_search(&a.header, &a.target, a.start, a.count)) {
        Some(v) => env.new_bytes(&v),
        None => env.null(),
    }
}

fn js_pow_search_async(env: &Env, args: &[Value]) -> JsResult<Value> {
    let a = pow_args(env, args)?;
    env.spawn_promise("bpci.powSearch", move || Ok(pow_result(hash::pow_search(&a.header, &a.target, a.start, a.count))))
}

fn js_ed25519_public_key(env: &Env, args: &[Value]) -> JsResult<Value> {
    let seed = fixed::<32>(env, args, 0, "seed32")?;
    env.new_bytes(&ed25519::public_key(seed))
}

fn js_ed25519_sign(env: &Env, args: &[Value]) -> JsResult<Value> {
    let seed = fixed::<32>(env, args, 0, "seed32")?;
    let msg = bytes(env, args, 1, "message")?;
    result(env, args, 2, &ed25519::sign(seed, msg))
}

/// A packed signature batch: publicKeys (n x 32), signatures (n x 64), messages (data +
/// offsets), wellFormed (n bytes, 0 where the item's lengths were wrong: its verdict is 0).
struct SigBatch<'a> {
    pks: &'a [u8],
    sigs: &'a [u8],
    data: &'a [u8],
    offsets: &'a [u32],
    ok: &'a [u8],
}

fn sig_batch<'a>(env: &'a Env, args: &[Value]) -> JsResult<SigBatch<'a>> {
    let pks = bytes(env, args, 0, "publicKeys")?;
    let sigs = bytes(env, args, 1, "signatures")?;
    let (data, offsets) = packed(env, args, 2, "messages")?;
    let ok = bytes(env, args, 4, "wellFormed")?;
    let n = offsets.len() - 1;
    if pks.len() != n * 32 || sigs.len() != n * 64 || ok.len() != n {
        return Err(JsError::range(format!(
            "packed batch of {n} items needs publicKeys {} bytes, signatures {} bytes, wellFormed {} bytes",
            n * 32,
            n * 64,
            n
        )));
    }
    Ok(SigBatch { pks, sigs, data, offsets, ok })
}

fn items<'a>(b: &SigBatch<'a>) -> Vec<Option<ed25519::Item<'a>>> {
    let n = b.ok.len();
    (0..n)
        .map(|i| {
            if b.ok[i] == 0 {
                return None;
            }
            Some(ed25519::Item {
                pk: b.pks[32 * i..32 * i + 32].try_into().unwrap(),
                sig: b.sigs[64 * i..64 * i + 64].try_into().unwrap(),
                msg: &b.data[b.offsets[i] as usize..b.offsets[i + 1] as usize],
            })
        })
        .collect()
}

fn js_ed25519_verify_batch(env: &Env, args: &[Value]) -> JsResult<Value> {
    let b = sig_batch(env, args)?;
    let its = items(&b);
    env.new_bytes_with(its.len(), |out| ed25519::verify_batch(&its, out))
}

fn js_ed25519_verify_batch_async(env: &Env, args: &[Value]) -> JsResult<Value> {
    let b = sig_batch(env, args)?;
    let (pks, sigs, data, offsets, ok) = (b.pks.to_vec(), b.sigs.to_vec(), b.data.to_vec(), b.offsets.to_vec(), b.ok.to_vec());
    env.spawn_promise("bpci.ed25519VerifyBatch", move || {
        let b = SigBatch { pks: &pks, sigs: &sigs, data: &data, offsets: &offsets, ok: &ok };
        let its = items(&b);
        let mut out = vec![0u8; its.len()];
        ed25519::verify_batch(&its, &mut out);
        Ok(Some(out))
    })
}

/// Test hook: our own ZIP-215 verifier on each item, without ring and without batching.
fn js_ed25519_verify_each_own(env: &Env, args: &[Value]) -> JsResult<Value> {
    let b = sig_batch(env, args)?;
    let its = items(&b);
    env.new_bytes_with(its.len(), |out| {
        for (o, it) in out.iter_mut().zip(&its) {
            *o = it.as_ref().map(ed25519::verify_zip215_own).unwrap_or(false) as u8;
        }
    })
}

/// Which 16-lane BLAKE3 kernel runs ("avx512", "avx2" or "portable"), as bytes of ASCII.
fn js_lane_kernel(env: &Env, _args: &[Value]) -> JsResult<Value> {
    env.new_bytes(lanes::kernel_name().as_bytes())
}

/// Test hook: MSM with and without the IFMA window kernel agree; returns [1] or [0].
fn js_msm_self_check(env: &Env, args: &[Value]) -> JsResult<Value> {
    let n = env.integer(arg(args, 0, "n")?, "n", 100_000.0)? as usize;
    let seed = env.integer(arg(args, 1, "seed")?, "seed", u32::MAX as f64)?;
    env.new_bytes(&[ed25519::msm_self_check(n, seed) as u8])
}

/// Test hook: panics inside an exported function (must surface as a JS Error). It unwinds with
/// `resume_unwind`, which is a panic to `catch_unwind` but skips the panic hook, so the test
/// does not print a message and backtrace to stderr.
fn js_panic_for_test(_env: &Env, _args: &[Value]) -> JsResult<Value> {
    std::panic::resume_unwind(Box::new("panicForTest: deliberate panic"));
}

/// Test hook: panics inside an async job (must reject the promise).
fn js_panic_for_test_async(env: &Env, _args: &[Value]) -> JsResult<Value> {
    env.spawn_promise("bpci.panicForTest", || -> JsResult<Option<Vec<u8>>> {
        std::panic::resume_unwind(Box::new("panicForTestAsync: deliberate panic"))
    })
}
