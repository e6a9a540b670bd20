//! Thread control: per-layer pools, the process-wide setting and `FUSEDRNN_NUM_THREADS`.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

use super::handles::Out;
use super::status::{frnn_status, guard, FfiError};
use crate::error::Error;

/// Largest thread count accepted (guards against absurd values such as `SIZE_MAX`).
pub const FRNN_MAX_THREADS: usize = 4096;

/// The environment variable read (once, at the first call that needs it) for the default
/// thread count.
const ENV_VAR: &str = "FUSEDRNN_NUM_THREADS";

/// The pool set by `frnn_set_num_threads`, if any.
static EXPLICIT: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

/// The pool from `FUSEDRNN_NUM_THREADS`: `None` when unset, empty or 0.
static FROM_ENV: OnceLock<Result<Option<Arc<ThreadPool>>, FfiError>> = OnceLock::new();

/// A pool of `n >= 1` threads.
pub(crate) fn build_pool(what: &'static str, n: usize) -> Result<ThreadPool, FfiError> {
    if n > FRNN_MAX_THREADS {
        return Err(Error::InvalidValue {
            what,
            why: "more threads than FRNN_MAX_THREADS",
        }
        .into());
    }
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|k| format!("fusedrnn-{k}"))
        .build()
        .map_err(|e| FfiError::Internal(format!("cannot start {n} threads: {e}")))
}

fn pool_from_env() -> Result<Option<Arc<ThreadPool>>, FfiError> {
    let Some(raw) = std::env::var_os(ENV_VAR) else {
        return Ok(None);
    };
    let invalid = FfiError::Core(Error::InvalidValue {
        what: ENV_VAR,
        why: "must be an integer from 0 to FRNN_MAX_THREADS (0 or empty: all cores)",
    });
    let text = raw.to_str().ok_or_else(|| invalid.clone())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(n) if n <= FRNN_MAX_THREADS => Ok(Some(Arc::new(build_pool(ENV_VAR, n)?))),
        _ => Err(invalid),
    }
}

/// The pool for layers without their own: `frnn_set_num_threads`'s, else the environment's,
/// else `None` (rayon's global pool).
fn default_pool() -> Result<Option<Arc<ThreadPool>>, FfiError> {
    let explicit = EXPLICIT.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match explicit {
        Some(p) => Ok(Some(p)),
        None => FROM_ENV.get_or_init(pool_from_env).clone(),
    }
}

/// Runs `f` on the layer's own pool if it has one, else on the default pool.
pub(crate) fn run<R: Send>(own: Option<&ThreadPool>, f: impl FnOnce() -> R + Send) -> Result<R, FfiError> {
    if let Some(pool) = own {
        return Ok(pool.install(f));
    }
    Ok(match default_pool()? {
        Some(pool) => pool.install(f),
        None => f(),
    })
}

/// The number of threads a call would use with `own` as the layer's pool.
pub(crate) fn effective(own: Option<&ThreadPool>) -> Result<usize, FfiError> {
    if let Some(pool) = own {
        return Ok(pool.current_num_threads());
    }
    Ok(match default_pool()? {
        Some(pool) => pool.current_num_threads(),
        None => rayon::current_num_threads(),
    })
}

/// Sets the number of threads used by every layer that has no thread count of its own
/// (`frnn_layer_set_num_threads`). `num_threads == 0` restores the default: the value of
/// `FUSEDRNN_NUM_THREADS` if set, else one thread per core.
///
/// Errors: `FRNN_STATUS_INVALID_VALUE` above `FRNN_MAX_THREADS`; `FRNN_STATUS_INTERNAL` if
/// the threads cannot be started. Calls already running keep their threads.
#[no_mangle]
pub extern "C" fn frnn_set_num_threads(num_threads: usize) -> frnn_status {
    guard(|| {
        let pool = match num_threads {
            0 => None,
            n => Some(Arc::new(build_pool("num_threads", n)?)),
        };
        *EXPLICIT.lock().unwrap_or_else(PoisonError::into_inner) = pool;
        Ok(())
    })
}

/// Writes to `*out_num_threads` how many threads a layer without its own thread count uses.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` when
/// `FUSEDRNN_NUM_THREADS` is malformed (and no `frnn_set_num_threads` overrides it).
///
/// # Safety
///
/// `out_num_threads` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_get_num_threads(out_num_threads: *mut usize) -> frnn_status {
    guard(|| {
        let out = Out::new("out_num_threads", out_num_threads)?;
        let n = effective(None)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(n) };
        Ok(())
    })
}
