//! Opaque handles (boxed Rust values behind pointers) and out-parameters.

use std::mem::align_of;

use super::status::FfiError;

/// Moves `value` to the heap and returns the handle the C caller will own.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle; NULL is a no-op.
///
/// # Safety
///
/// `handle` is NULL or was returned by [`into_handle`] for this `T`, has not been freed, and
/// no other call uses it now or later.
pub(crate) unsafe fn free_handle<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: per the contract, `handle` came from `Box::into_raw` and is freed only here.
        drop(unsafe { Box::from_raw(handle) });
    }
}

/// Borrows a handle, refusing NULL and misaligned pointers.
///
/// # Safety
///
/// `handle` is NULL, misaligned, or a live handle from [`into_handle`] for this `T` that
/// stays alive (is not destroyed) for `'a`. Handles are only ever borrowed shared: their
/// mutable state sits behind locks.
pub(crate) unsafe fn borrow_handle<'a, T>(what: &'static str, handle: *const T) -> Result<&'a T, FfiError> {
    if handle.is_null() {
        return Err(FfiError::Null { what: what.into() });
    }
    if !(handle as usize).is_multiple_of(align_of::<T>()) {
        return Err(FfiError::Misaligned {
            what: what.into(),
            align: align_of::<T>(),
        });
    }
    // SAFETY: non-NULL and aligned; liveness is the contract.
    Ok(unsafe { &*handle })
}

/// A checked out-parameter: written only once the call has succeeded.
pub(crate) struct Out<T> {
    ptr: *mut T,
}

impl<T> Out<T> {
    /// Checks an out-parameter pointer (non-NULL, aligned) without writing it.
    pub(crate) fn new(what: &'static str, ptr: *mut T) -> Result<Self, FfiError> {
        if ptr.is_null() {
            return Err(FfiError::Null { what: what.into() });
        }
        if !(ptr as usize).is_multiple_of(align_of::<T>()) {
            return Err(FfiError::Misaligned {
                what: what.into(),
                align: align_of::<T>(),
            });
        }
        Ok(Self { ptr })
    }

    /// Stores the result.
    ///
    /// # Safety
    ///
    /// The pointer given to [`Out::new`] points to writable memory for one `T` that nothing
    /// else accesses during the call.
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-NULL and aligned (checked in `new`); writable is the contract. `write`
        // does not drop the old value, which may be uninitialised.
        unsafe { self.ptr.write(value) }
    }
}

/// Stores the results of several out-parameters of one type, in order.
///
/// # Safety
///
/// As [`Out::write`], for every pointer.
pub(crate) unsafe fn write_all<T, const N: usize>(outs: [Out<T>; N], values: [T; N]) {
    for (out, v) in outs.into_iter().zip(values) {
        // SAFETY: the caller's contract.
        unsafe { out.write(v) };
    }
}
