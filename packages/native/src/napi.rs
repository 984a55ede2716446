//! The only module that speaks raw Node-API. It declares the handful of `napi_*` C functions the
//! addon uses (Node exports them from its own binary, so nothing is linked at build time), and
//! wraps them in a small safe surface: `Env` (one call's environment), `Value` (an opaque JS
//! handle), typed-array views, result arrays, errors, and promise-returning background jobs.
//!
//! Contract for the rest of the crate: exported functions have the shape
//! `fn(&Env, &[Value]) -> Result<Value, JsError>`; they never see a raw pointer. Every call and
//! every background job runs under `catch_unwind`, so a Rust panic becomes a JS `Error` (or a
//! rejected promise) and the process survives.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

// ---- raw declarations (node_api.h / js_native_api.h, N-API version 1..6) ----

#[repr(C)]
pub struct OpaqueEnv {
    _p: [u8; 0],
}
#[repr(C)]
pub struct OpaqueValue {
    _p: [u8; 0],
}
#[repr(C)]
pub struct OpaqueCbInfo {
    _p: [u8; 0],
}
#[repr(C)]
pub struct OpaqueDeferred {
    _p: [u8; 0],
}
#[repr(C)]
pub struct OpaqueAsyncWork {
    _p: [u8; 0],
}

type NapiEnv = *mut OpaqueEnv;
type NapiValue = *mut OpaqueValue;
type NapiCallbackInfo = *mut OpaqueCbInfo;
type NapiDeferred = *mut OpaqueDeferred;
type NapiAsyncWork = *mut OpaqueAsyncWork;
type NapiStatus = i32;
type NapiCallback = unsafe extern "C" fn(NapiEnv, NapiCallbackInfo) -> NapiValue;
type NapiExecute = unsafe extern "C" fn(NapiEnv, *mut c_void);
type NapiComplete = unsafe extern "C" fn(NapiEnv, NapiStatus, *mut c_void);

const NAPI_OK: NapiStatus = 0;
const NAPI_AUTO_LENGTH: usize = usize::MAX;
const TYPED_UINT8: i32 = 1;
const TYPED_UINT32: i32 = 6;

extern "C" {
    fn napi_get_cb_info(
        env: NapiEnv,
        info: NapiCallbackInfo,
        argc: *mut usize,
        argv: *mut NapiValue,
        this_arg: *mut NapiValue,
        data: *mut *mut c_void,
    ) -> NapiStatus;
    fn napi_create_function(
        env: NapiEnv,
        name: *const c_char,
        length: usize,
        cb: NapiCallback,
        data: *mut c_void,
        result: *mut NapiValue,
    ) -> NapiStatus;
    fn napi_set_named_property(env: NapiEnv, object: NapiValue, name: *const c_char, value: NapiValue) -> NapiStatus;
    fn napi_is_typedarray(env: NapiEnv, value: NapiValue, result: *mut bool) -> NapiStatus;
    fn napi_get_typedarray_info(
        env: NapiEnv,
        value: NapiValue,
        kind: *mut i32,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut NapiValue,
        byte_offset: *mut usize,
    ) -> NapiStatus;
    fn napi_get_value_double(env: NapiEnv, value: NapiValue, result: *mut f64) -> NapiStatus;
    fn napi_create_arraybuffer(env: NapiEnv, length: usize, data: *mut *mut c_void, result: *mut NapiValue) -> NapiStatus;
    fn napi_create_typedarray(
        env: NapiEnv,
        kind: i32,
        length: usize,
        arraybuffer: NapiValue,
        byte_offset: usize,
        result: *mut NapiValue,
    ) -> NapiStatus;
    fn napi_get_null(env: NapiEnv, result: *mut NapiValue) -> NapiStatus;
    fn napi_create_string_utf8(env: NapiEnv, s: *const c_char, length: usize, result: *mut NapiValue) -> NapiStatus;
    fn napi_create_error(env: NapiEnv, code: NapiValue, msg: NapiValue, result: *mut NapiValue) -> NapiStatus;
    fn napi_create_type_error(env: NapiEnv, code: NapiValue, msg: NapiValue, result: *mut NapiValue) -> NapiStatus;
    fn napi_create_range_error(env: NapiEnv, code: NapiValue, msg: NapiValue, result: *mut NapiValue) -> NapiStatus;
    fn napi_throw(env: NapiEnv, error: NapiValue) -> NapiStatus;
    fn napi_is_exception_pending(env: NapiEnv, result: *mut bool) -> NapiStatus;
    fn napi_create_promise(env: NapiEnv, deferred: *mut NapiDeferred, promise: *mut NapiValue) -> NapiStatus;
    fn napi_resolve_deferred(env: NapiEnv, deferred: NapiDeferred, resolution: NapiValue) -> NapiStatus;
    fn napi_reject_deferred(env: NapiEnv, deferred: NapiDeferred, rejection: NapiValue) -> NapiStatus;
    fn napi_create_async_work(
        env: NapiEnv,
        async_resource: NapiValue,
        async_resource_name: NapiValue,
        execute: NapiExecute,
        complete: NapiComplete,
        data: *mut c_void,
        result: *mut NapiAsyncWork,
    ) -> NapiStatus;
    fn napi_queue_async_work(env: NapiEnv, work: NapiAsyncWork) -> NapiStatus;
    fn napi_delete_async_work(env: NapiEnv, work: NapiAsyncWork) -> NapiStatus;
}

// ---- safe surface ----

/// Which JS error class to throw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Error,
    Type,
    Range,
}

#[derive(Debug, Clone)]
pub struct JsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl JsError {
    pub fn error(message: impl Into<String>) -> Self {
        JsError { kind: ErrorKind::Error, message: message.into() }
    }
    pub fn type_error(message: impl Into<String>) -> Self {
        JsError { kind: ErrorKind::Type, message: message.into() }
    }
    pub fn range(message: impl Into<String>) -> Self {
        JsError { kind: ErrorKind::Range, message: message.into() }
    }
}

pub type JsResult<T> = Result<T, JsError>;

/// An opaque JS value handle, valid for the duration of the call that produced it.
#[derive(Clone, Copy)]
pub struct Value(NapiValue);

/// The environment of one JS -> native call.
pub struct Env(NapiEnv);

fn check(status: NapiStatus, what: &str) -> JsResult<()> {
    if status == NAPI_OK {
        Ok(())
    } else {
        Err(JsError::error(format!("Node-API call {what} failed with status {status}")))
    }
}

impl Env {
    fn typed_array(&self, v: Value, name: &str, want: i32) -> JsResult<(*const u8, usize)> {
        let mut is = false;
        // SAFETY: env and value come from Node for this call.
        check(unsafe { napi_is_typedarray(self.0, v.0, &mut is) }, "napi_is_typedarray")?;
        if !is {
            return Err(JsError::type_error(format!("{name} must be a typed array")));
        }
        let (mut kind, mut len, mut data, mut ab, mut off) = (0i32, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
        check(
            unsafe { napi_get_typedarray_info(self.0, v.0, &mut kind, &mut len, &mut data, &mut ab, &mut off) },
            "napi_get_typedarray_info",
        )?;
        if kind != want {
            let t = if want == TYPED_UINT8 { "Uint8Array" } else { "Uint32Array" };
            return Err(JsError::type_error(format!("{name} must be a {t}")));
        }
        Ok((data as *const u8, len))
    }

    /// Borrow a Uint8Array's bytes (only the view, not the whole ArrayBuffer).
    pub fn bytes(&self, v: Value, name: &str) -> JsResult<&[u8]> {
        let (p, len) = self.typed_array(v, name, TYPED_UINT8)?;
        if len == 0 || p.is_null() {
            return Ok(&[]);
        }
        // SAFETY: Node guarantees `len` bytes at `p` (already adjusted by byte_offset) for the
        // duration of this call; JS cannot run while we hold the borrow.
        Ok(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// Copy `src` into a caller's Uint8Array of exactly `src.len()` bytes (an output scratch
    /// buffer: writing into it costs no ArrayBuffer allocation, which dominates short hashes).
    pub fn write_bytes(&self, v: Value, name: &str, src: &[u8]) -> JsResult<()> {
        let (p, len) = self.typed_array(v, name, TYPED_UINT8)?;
        if len != src.len() || p.is_null() {
            return Err(JsError::range(format!("{name} must be {} bytes, got {len}", src.len())));
        }
        // SAFETY: Node guarantees `len` writable bytes at `p` for the duration of this call and
        // JS cannot run meanwhile; `src` is our own stack array, so the two never overlap.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), p as *mut u8, len) };
        Ok(())
    }

    /// Borrow a Uint32Array's elements (4-byte aligned by the typed-array rules).
    pub fn u32s(&self, v: Value, name: &str) -> JsResult<&[u32]> {
        let (p, len) = self.typed_array(v, name, TYPED_UINT32)?;
        if len == 0 || p.is_null() {
            return Ok(&[]);
        }
        // SAFETY: as in `bytes`; Uint32Array byte offsets are multiples of 4.
        Ok(unsafe { std::slice::from_raw_parts(p as *const u32, len) })
    }

    /// A JS number as f64.
    pub fn number(&self, v: Value, name: &str) -> JsResult<f64> {
        let mut x = 0f64;
        let st = unsafe { napi_get_value_double(self.0, v.0, &mut x) };
        if st != NAPI_OK {
            return Err(JsError::type_error(format!("{name} must be a number")));
        }
        Ok(x)
    }

    /// A JS number that must be an integer in [0, max].
    pub fn integer(&self, v: Value, name: &str, max: f64) -> JsResult<u64> {
        let x = self.number(v, name)?;
        if !(x >= 0.0 && x <= max && x.fract() == 0.0) {
            return Err(JsError::range(format!("{name} must be an integer in [0, {max}], got {x}")));
        }
        Ok(x as u64)
    }

    /// A new Uint8Array of `len` bytes, filled by `fill`.
    pub fn new_bytes_with(&self, len: usize, fill: impl FnOnce(&mut [u8])) -> JsResult<Value> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut ab: NapiValue = ptr::null_mut();
        check(unsafe { napi_create_arraybuffer(self.0, len, &mut data, &mut ab) }, "napi_create_arraybuffer")?;
        if len > 0 {
            // SAFETY: Node just allocated `len` writable bytes at `data`, owned by `ab`.
            let out = unsafe { std::slice::from_raw_parts_mut(data as *mut u8, len) };
            fill(out);
        }
        let mut ta: NapiValue = ptr::null_mut();
        check(
            unsafe { napi_create_typedarray(self.0, TYPED_UINT8, len, ab, 0, &mut ta) },
            "napi_create_typedarray",
        )?;
        Ok(Value(ta))
    }

    pub fn new_bytes(&self, src: &[u8]) -> JsResult<Value> {
        self.new_bytes_with(src.len(), |o| o.copy_from_slice(src))
    }

    pub fn null(&self) -> JsResult<Value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_null(self.0, &mut v) }, "napi_get_null")?;
        Ok(Value(v))
    }

    fn string(&self, s: &str) -> NapiValue {
        let mut v = ptr::null_mut();
        // Length is explicit, so interior NULs are fine.
        unsafe { napi_create_string_utf8(self.0, s.as_ptr() as *const c_char, s.len(), &mut v) };
        v
    }

    fn error_value(&self, e: &JsError) -> NapiValue {
        let msg = self.string(&e.message);
        let mut err = ptr::null_mut();
        unsafe {
            match e.kind {
                ErrorKind::Error => napi_create_error(self.0, ptr::null_mut(), msg, &mut err),
                ErrorKind::Type => napi_create_type_error(self.0, ptr::null_mut(), msg, &mut err),
                ErrorKind::Range => napi_create_range_error(self.0, ptr::null_mut(), msg, &mut err),
            };
        }
        err
    }

    fn throw(&self, e: &JsError) {
        let mut pending = false;
        unsafe { napi_is_exception_pending(self.0, &mut pending) };
        if !pending {
            let err = self.error_value(e);
            unsafe { napi_throw(self.0, err) };
        }
    }

    /// Run `job` on the libuv thread pool (it may fan out to rayon) and return a Promise that
    /// resolves to a Uint8Array (Some) or null (None), or rejects with an Error.
    pub fn spawn_promise<F>(&self, name: &str, job: F) -> JsResult<Value>
    where
        F: FnOnce() -> JsResult<Option<Vec<u8>>> + Send + 'static,
    {
        let mut deferred: NapiDeferred = ptr::null_mut();
        let mut promise: NapiValue = ptr::null_mut();
        check(unsafe { napi_create_promise(self.0, &mut deferred, &mut promise) }, "napi_create_promise")?;
        let task = Box::new(AsyncTask { job: Some(Box::new(job)), result: None, deferred, work: ptr::null_mut() });
        let raw = Box::into_raw(task);
        let rname = self.string(name);
        let mut work: NapiAsyncWork = ptr::null_mut();
        let st = unsafe {
            napi_create_async_work(self.0, ptr::null_mut(), rname, async_execute, async_complete, raw as *mut c_void, &mut work)
        };
        if st != NAPI_OK {
            // SAFETY: ownership was not handed to Node; take it back.
            drop(unsafe { Box::from_raw(raw) });
            return self.reject_now(deferred, promise, format!("napi_create_async_work failed with status {st}"));
        }
        unsafe { (*raw).work = work };
        let st = unsafe { napi_queue_async_work(self.0, work) };
        if st != NAPI_OK {
            unsafe {
                napi_delete_async_work(self.0, work);
                drop(Box::from_raw(raw));
            }
            return self.reject_now(deferred, promise, format!("napi_queue_async_work failed with status {st}"));
        }
        Ok(Value(promise))
    }
}

impl Env {
    /// Settles a promise whose work could not be queued (so its deferred is not leaked).
    fn reject_now(&self, deferred: NapiDeferred, promise: NapiValue, message: String) -> JsResult<Value> {
        let err = self.error_value(&JsError::error(message));
        unsafe { napi_reject_deferred(self.0, deferred, err) };
        Ok(Value(promise))
    }
}

type Job = Box<dyn FnOnce() -> JsResult<Option<Vec<u8>>> + Send>;

struct AsyncTask {
    job: Option<Job>,
    result: Option<JsResult<Option<Vec<u8>>>>,
    deferred: NapiDeferred,
    work: NapiAsyncWork,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

unsafe extern "C" fn async_execute(_env: NapiEnv, data: *mut c_void) {
    // Runs on a libuv worker thread: must not touch JS.
    let task = &mut *(data as *mut AsyncTask);
    if let Some(job) = task.job.take() {
        let r = catch_unwind(AssertUnwindSafe(job));
        task.result = Some(match r {
            Ok(r) => r,
            Err(p) => Err(JsError::error(format!("bpci_native panicked: {}", panic_message(&*p)))),
        });
    }
}

unsafe extern "C" fn async_complete(env: NapiEnv, status: NapiStatus, data: *mut c_void) {
    let task = Box::from_raw(data as *mut AsyncTask);
    let AsyncTask { result, deferred, work, .. } = *task;
    let e = Env(env);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let r = match result {
            Some(r) => r,
            None => Err(JsError::error(format!("async work did not run (status {status})"))),
        };
        match r {
            Ok(Some(bytes)) => match e.new_bytes(&bytes) {
                Ok(v) => (true, v.0),
                Err(err) => (false, e.error_value(&err)),
            },
            Ok(None) => match e.null() {
                Ok(v) => (true, v.0),
                Err(err) => (false, e.error_value(&err)),
            },
            Err(err) => (false, e.error_value(&err)),
        }
    }));
    match outcome {
        Ok((true, v)) => {
            napi_resolve_deferred(env, deferred, v);
        }
        Ok((false, v)) => {
            napi_reject_deferred(env, deferred, v);
        }
        Err(_) => {
            let v = e.error_value(&JsError::error("bpci_native panicked while completing async work"));
            napi_reject_deferred(env, deferred, v);
        }
    }
    napi_delete_async_work(env, work);
}

/// An exported function: arguments in, one value out (or a JS error).
pub type Exported = fn(&Env, &[Value]) -> JsResult<Value>;

const ARGS_MAX: usize = 8;

unsafe extern "C" fn trampoline(env: NapiEnv, info: NapiCallbackInfo) -> NapiValue {
    let mut argc = ARGS_MAX;
    let mut argv: [NapiValue; ARGS_MAX] = [ptr::null_mut(); ARGS_MAX];
    let mut data: *mut c_void = ptr::null_mut();
    let e = Env(env);
    if napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) != NAPI_OK {
        e.throw(&JsError::error("napi_get_cb_info failed"));
        return ptr::null_mut();
    }
    // `data` is the index into EXPORTS given at registration.
    let idx = data as usize;
    let Some(&(_, f)) = crate::EXPORTS.get(idx) else {
        e.throw(&JsError::error("bad export index"));
        return ptr::null_mut();
    };
    let args: Vec<Value> = argv[..argc.min(ARGS_MAX)].iter().map(|&v| Value(v)).collect();
    match catch_unwind(AssertUnwindSafe(|| f(&e, &args))) {
        Ok(Ok(v)) => v.0,
        Ok(Err(err)) => {
            e.throw(&err);
            ptr::null_mut()
        }
        Err(p) => {
            e.throw(&JsError::error(format!("bpci_native panicked: {}", panic_message(&*p))));
            ptr::null_mut()
        }
    }
}

/// Fetch argument `i` or throw a TypeError naming it.
pub fn arg(args: &[Value], i: usize, name: &str) -> JsResult<Value> {
    args.get(i).copied().ok_or_else(|| JsError::type_error(format!("missing argument {name}")))
}

#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: NapiEnv, exports: NapiValue) -> NapiValue {
    for (i, &(name, _)) in crate::EXPORTS.iter().enumerate() {
        let cname = CString::new(name).expect("export names have no NUL");
        let mut f: NapiValue = ptr::null_mut();
        if napi_create_function(env, cname.as_ptr(), NAPI_AUTO_LENGTH, trampoline, i as *mut c_void, &mut f) != NAPI_OK {
            return ptr::null_mut();
        }
        if napi_set_named_property(env, exports, cname.as_ptr(), f) != NAPI_OK {
            return ptr::null_mut();
        }
    }
    exports
}
