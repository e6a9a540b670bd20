//! Status codes, the error type behind them, the panic guard every entry point runs in, and
//! the thread-local last-error message.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::Error;

/// What a call returns: `FRNN_STATUS_OK` (0) on success, otherwise one of the error codes,
/// which start at 0x46520001 ("FR" in the high half) so they do not collide with errno or
/// other libraries' codes. `frnn_status_str` names a code; `frnn_last_error_message` tells
/// what went wrong in detail.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum frnn_status {
    /// Success.
    Ok = 0,
    /// A size that must be at least 1 is 0 (`T`, `N`, `I` or `H`).
    ZeroSize = 0x46520001,
    /// A product of sizes does not fit in `size_t` or in memory (e.g. `T*N*I` past
    /// `SIZE_MAX`), or a buffer length is too large for a `float` buffer.
    Overflow = 0x46520002,
    /// A buffer has the wrong number of elements.
    LengthMismatch = 0x46520003,
    /// An argument was given that this layer does not take (a cell state for a GRU or RNN).
    UnexpectedArgument = 0x46520004,
    /// An argument the call needs is missing (the cell state `c` in `frnn_stream_set_state`
    /// for an LSTM).
    MissingArgument = 0x46520005,
    /// The workspace was not filled by `frnn_layer_forward_train` of this layer with its
    /// current weights, or backward-weights ran before backward-data.
    Workspace = 0x46520006,
    /// A value is out of range: an unknown enum value, a misaligned pointer, an output buffer
    /// overlapping another buffer, a bad thread count or `FUSEDRNN_NUM_THREADS`.
    InvalidValue = 0x46520007,
    /// A required pointer (handle, buffer or out-parameter) is NULL, or an optional buffer is
    /// NULL with a nonzero length.
    NullPointer = 0x46520008,
    /// A bug in the library (a caught panic) or a failure to start threads.
    Internal = 0x46520009,
}

/// The name of an argument in a message: `"x"`, or an element of an array argument,
/// `"weights[2].W_ih"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Name {
    /// The array argument and the element's index, if the argument is an element of one.
    pub(crate) of: Option<(&'static str, usize)>,
    /// The argument (or the element's field).
    pub(crate) what: &'static str,
}

impl Name {
    /// Field `what` of element `index` of the array argument `array`.
    pub(crate) fn at(array: &'static str, index: usize, what: &'static str) -> Self {
        Self {
            of: Some((array, index)),
            what,
        }
    }
}

impl From<&'static str> for Name {
    fn from(what: &'static str) -> Self {
        Self { of: None, what }
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.of {
            Some((array, k)) if self.what.is_empty() => write!(f, "{array}[{k}]"),
            Some((array, k)) => write!(f, "{array}[{k}].{}", self.what),
            None => f.write_str(self.what),
        }
    }
}

/// Why an FFI call failed: an error of the safe core, or one found at the boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FfiError {
    /// Refused by the safe API.
    Core(Error),
    /// A required pointer is NULL.
    Null { what: Name },
    /// An optional buffer is NULL but its length is not 0.
    NullWithLen { what: Name, len: usize },
    /// A buffer length too large for `f32` data at that address.
    TooLong { what: Name, len: usize },
    /// A pointer not aligned for its type.
    Misaligned { what: Name, align: usize },
    /// An output buffer overlapping another buffer of the same call.
    Overlap { what: Name, other: Name },
    /// A buffer (an element of an array argument) with the wrong number of elements.
    Length { what: Name, expected: usize, got: usize },
    /// A buffer (an element of an array argument) the layer needs but was not given.
    Missing { what: Name },
    /// A buffer (an element of an array argument) given to a layer that does not take it.
    Unexpected { what: Name },
    /// A panic or a resource failure.
    Internal(String),
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::Core(e)
    }
}

impl FfiError {
    /// The status code reported for this error.
    pub(crate) fn status(&self) -> frnn_status {
        match self {
            FfiError::Core(e) => match e {
                Error::ZeroSize { .. } => frnn_status::ZeroSize,
                Error::Overflow { .. } => frnn_status::Overflow,
                Error::LengthMismatch { .. } => frnn_status::LengthMismatch,
                Error::Unexpected { .. } => frnn_status::UnexpectedArgument,
                Error::Missing { .. } => frnn_status::MissingArgument,
                Error::Workspace { .. } => frnn_status::Workspace,
                Error::InvalidValue { .. } | Error::Param { .. } => frnn_status::InvalidValue,
            },
            FfiError::Null { .. } | FfiError::NullWithLen { .. } => frnn_status::NullPointer,
            FfiError::TooLong { .. } => frnn_status::Overflow,
            FfiError::Length { .. } => frnn_status::LengthMismatch,
            FfiError::Missing { .. } => frnn_status::MissingArgument,
            FfiError::Unexpected { .. } => frnn_status::UnexpectedArgument,
            FfiError::Misaligned { .. } | FfiError::Overlap { .. } => frnn_status::InvalidValue,
            FfiError::Internal(_) => frnn_status::Internal,
        }
    }

    /// The detail message (the safe API's `Display` text for its errors).
    pub(crate) fn message(&self) -> String {
        match self {
            FfiError::Core(e) => e.to_string(),
            FfiError::Null { what } => format!("{what}: NULL pointer"),
            FfiError::NullWithLen { what, len } => {
                format!("{what}: NULL pointer with length {len} (an absent buffer has length 0)")
            }
            FfiError::TooLong { what, len } => format!("{what}: length {len} overflows a float buffer"),
            FfiError::Misaligned { what, align } => format!("{what}: pointer not aligned to {align} bytes"),
            FfiError::Overlap { what, other } => format!("{what}: output buffer overlaps {other}"),
            FfiError::Length { what, expected, got } => format!("{what}: expected {expected} elements, got {got}"),
            // The texts of the safe API's `Missing` and `Unexpected`.
            FfiError::Missing { what } => format!("{what}: required but missing"),
            FfiError::Unexpected { what } => format!("{what}: not taken by this layer"),
            FfiError::Internal(m) => format!("internal error: {m}"),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Sets this thread's last-error message (an empty message on success).
fn set_last_error(msg: Option<String>) {
    // `try_with`: during thread teardown there is no message to keep.
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            match msg {
                Some(m) => {
                    // A panic message could contain NUL bytes; a C string cannot.
                    let m = m.replace('\0', "\\0");
                    *slot = CString::new(m).unwrap_or_default();
                }
                None if !slot.as_bytes().is_empty() => *slot = CString::default(),
                None => {}
            }
        }
    });
}

/// Text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Runs the body of an entry point: catches panics, records the last-error message and
/// converts the outcome into a status.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), FfiError>) -> frnn_status {
    // AssertUnwindSafe: after a panic the handles involved hold no broken invariant the safe
    // API relies on (locks recover from poisoning, a workspace is stamped only on success).
    let err = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error(None);
            return frnn_status::Ok;
        }
        Ok(Err(e)) => e,
        Err(payload) => {
            let text = panic_text(&*payload);
            // Dropping the payload runs foreign code that could itself panic; keep that inside.
            if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                std::mem::forget(again);
            }
            FfiError::Internal(format!("panic: {text}"))
        }
    };
    set_last_error(Some(err.message()));
    err.status()
}

/// Runs the body of an entry point that returns a value instead of a status (and does not
/// touch the last-error message); `fallback` if it panics.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                std::mem::forget(again);
            }
            fallback
        }
    }
}

/// Every status, in numeric order.
const ALL_STATUS: [frnn_status; 10] = [
    frnn_status::Ok,
    frnn_status::ZeroSize,
    frnn_status::Overflow,
    frnn_status::LengthMismatch,
    frnn_status::UnexpectedArgument,
    frnn_status::MissingArgument,
    frnn_status::Workspace,
    frnn_status::InvalidValue,
    frnn_status::NullPointer,
    frnn_status::Internal,
];

impl frnn_status {
    /// The enumerator's name as in the header.
    pub fn name(self) -> &'static CStr {
        match self {
            frnn_status::Ok => c"FRNN_STATUS_OK",
            frnn_status::ZeroSize => c"FRNN_STATUS_ZERO_SIZE",
            frnn_status::Overflow => c"FRNN_STATUS_OVERFLOW",
            frnn_status::LengthMismatch => c"FRNN_STATUS_LENGTH_MISMATCH",
            frnn_status::UnexpectedArgument => c"FRNN_STATUS_UNEXPECTED_ARGUMENT",
            frnn_status::MissingArgument => c"FRNN_STATUS_MISSING_ARGUMENT",
            frnn_status::Workspace => c"FRNN_STATUS_WORKSPACE",
            frnn_status::InvalidValue => c"FRNN_STATUS_INVALID_VALUE",
            frnn_status::NullPointer => c"FRNN_STATUS_NULL_POINTER",
            frnn_status::Internal => c"FRNN_STATUS_INTERNAL",
        }
    }
}

/// The name of a status code as a static NUL-terminated string (`"FRNN_STATUS_OK"`,
/// `"FRNN_STATUS_LENGTH_MISMATCH"`, ...), or `"FRNN_STATUS_UNKNOWN"` for a value that is not
/// an `frnn_status`. Never NULL; the string must not be freed.
#[no_mangle]
pub extern "C" fn frnn_status_str(status: u32) -> *const c_char {
    guard_value(c"FRNN_STATUS_UNKNOWN".as_ptr(), || {
        ALL_STATUS
            .iter()
            .find(|s| **s as u32 == status)
            .map_or(c"FRNN_STATUS_UNKNOWN", |s| s.name())
            .as_ptr()
    })
}

/// The detail of the last failed call on the calling thread, e.g.
/// `"x: expected 30 elements, got 29"`, or `""` when the thread's last call succeeded (or it
/// made none). Never NULL. The string belongs to the library and stays valid until the next
/// call into fusedrnn on the same thread (other than `frnn_last_error_message`,
/// `frnn_status_str` and `frnn_version`, which leave it alone); copy it to keep it.
#[no_mangle]
pub extern "C" fn frnn_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || {
        LAST_ERROR
            .try_with(|cell| cell.try_borrow().map_or(c"".as_ptr(), |s| s.as_ptr()))
            .unwrap_or(c"".as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn last() -> String {
        // SAFETY: the pointer is a NUL-terminated string owned by this thread's slot, read
        // before any other call on this thread.
        unsafe { CStr::from_ptr(frnn_last_error_message()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn every_core_error_has_its_own_status() {
        let errors = [
            Error::ZeroSize { what: "T" },
            Error::Overflow { what: "T" },
            Error::LengthMismatch {
                what: "x",
                expected: 30,
                got: 29,
            },
            Error::Unexpected { what: "c0" },
            Error::Missing { what: "x" },
            Error::Workspace { reason: "r" },
            Error::InvalidValue { what: "w", why: "y" },
        ];
        let mut seen = HashSet::new();
        for e in errors {
            let s = FfiError::Core(e.clone()).status();
            assert_ne!(s, frnn_status::Ok);
            assert!(seen.insert(s), "{e:?} shares {s:?}");
            assert_eq!(FfiError::Core(e.clone()).message(), e.to_string());
        }
        assert!(seen.insert(FfiError::Null { what: "x".into() }.status()));
        assert!(seen.insert(FfiError::Internal(String::new()).status()));
        assert_eq!(seen.len() + 1, ALL_STATUS.len());
    }

    #[test]
    fn names_and_codes() {
        for (k, s) in ALL_STATUS.iter().enumerate() {
            let want = if k == 0 { 0 } else { 0x4652_0000 + k as u32 };
            assert_eq!(*s as u32, want);
            // SAFETY: frnn_status_str returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(frnn_status_str(*s as u32)) };
            assert_eq!(name, s.name());
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(frnn_status_str(7)) };
        assert_eq!(unknown, c"FRNN_STATUS_UNKNOWN");
    }

    #[test]
    fn panics_become_internal_and_messages_are_per_call() {
        let s = guard(|| panic!("boom {}", 7));
        assert_eq!(s, frnn_status::Internal);
        assert_eq!(last(), "internal error: panic: boom 7");
        let s = guard(|| std::panic::panic_any(42u8));
        assert_eq!(s, frnn_status::Internal);
        assert_eq!(last(), "internal error: panic: panic with a non-string payload");
        let s = guard(|| Err(FfiError::Core(Error::ZeroSize { what: "N" })));
        assert_eq!(s, frnn_status::ZeroSize);
        assert_eq!(last(), "N must be at least 1");
        let s = guard(|| Err(FfiError::Internal("a\0b".into())));
        assert_eq!(s, frnn_status::Internal);
        assert_eq!(last(), "internal error: a\\0b");
        assert_eq!(guard(|| Ok(())), frnn_status::Ok);
        assert_eq!(last(), "");
        assert_eq!(guard_value(5, || -> i32 { panic!("x") }), 5);
    }
}
