//! Gradient clipping over a list of buffers, by global norm and by value (as
//! `fusedrnn::train`). Both run on the calling thread and visit the buffers in the order
//! given, so the results never depend on the thread count.

use super::buffers::{borrow_array, frnn_buffer, frnn_const_buffer};
use super::handles::Out;
use super::slices::{borrow_vec, Dst, Src};
use super::status::{frnn_status, guard, FfiError, Name};
use crate::error::Error;
use crate::train;

/// Borrows the `count` buffers of `buffers` (each NULL only with length 0) as one call's
/// outputs: none may overlap another.
///
/// # Safety
///
/// `buffers` is NULL or points to `count` readable `frnn_buffer`s, each pointing to its
/// length in writable `float`s.
unsafe fn outputs<'a>(buffers: *const frnn_buffer, count: usize) -> Result<Vec<&'a mut [f32]>, FfiError> {
    // SAFETY: the contract.
    let views = unsafe { borrow_array("buffers", buffers, count) }?;
    let dsts: Vec<Dst> = (views.iter().enumerate())
        .map(|(k, b)| Dst::new(Name::at("buffers", k, ""), b.data, b.len))
        .collect();
    // SAFETY: the contract.
    let (_, _, _, outs) = unsafe { borrow_vec(&[], &[], &[], &dsts) }?;
    Ok(outs.into_iter().flatten().collect())
}

/// Writes to `*out_norm` the global L2 norm of the `count` buffers of `buffers` taken
/// together, `sqrt(sum x^2)`, summed in `double` in the order given (buffer by buffer, element
/// by element), so it is reproducible bit for bit. NaN anywhere gives NaN, an infinity
/// infinity.
///
/// Errors: `FRNN_STATUS_NULL_POINTER` (`out_norm`; `buffers` with `count > 0`; a buffer's
/// `data` with `len > 0`), `FRNN_STATUS_INVALID_VALUE` (misaligned), `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// `buffers` is NULL or points to `count` readable `frnn_const_buffer`s, each NULL or
/// pointing to its length in readable `float`s; `out_norm` is NULL or points to a writable
/// `double`.
#[no_mangle]
pub unsafe extern "C" fn frnn_grad_norm(
    buffers: *const frnn_const_buffer,
    count: usize,
    out_norm: *mut f64,
) -> frnn_status {
    guard(|| {
        let out = Out::new("out_norm", out_norm)?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("buffers", buffers, count) }?;
        let srcs: Vec<Src> = (views.iter().enumerate())
            .map(|(k, b)| Src::new(Name::at("buffers", k, ""), b.data, b.len))
            .collect();
        // SAFETY: the caller's contract (see # Safety).
        let (_, ins, _, _) = unsafe { borrow_vec(&[], &srcs, &[], &[]) }?;
        let ins: Vec<&[f32]> = ins.into_iter().flatten().collect();
        let norm = train::global_norm(&ins);
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(norm) };
        Ok(())
    })
}

/// Clips by global norm: when the norm of the `count` buffers of `buffers` together (as
/// `frnn_grad_norm` computes it) exceeds `max_norm`, scales every element by
/// `max_norm / norm` (the product taken in `double`, then rounded to `float`). Writes the norm
/// *before* clipping, rounded to `float`, to `*out_norm`. When the norm is NaN or infinite the
/// buffers are left untouched (and that norm is reported), so the caller can skip the step.
///
/// Errors: `FRNN_STATUS_NULL_POINTER` (as `frnn_grad_norm`), `FRNN_STATUS_INVALID_VALUE`
/// (`max_norm` not a finite number `> 0`; misaligned or overlapping buffers),
/// `FRNN_STATUS_OVERFLOW`. Nothing is written on error.
///
/// # Safety
///
/// `buffers` is NULL or points to `count` readable `frnn_buffer`s, each NULL or pointing to
/// its length in writable `float`s; `out_norm` is NULL or points to a writable `float`.
#[no_mangle]
pub unsafe extern "C" fn frnn_clip_grad_norm(
    buffers: *const frnn_buffer,
    count: usize,
    max_norm: f32,
    out_norm: *mut f32,
) -> frnn_status {
    guard(|| {
        let out = Out::new("out_norm", out_norm)?;
        // SAFETY: the caller's contract (see # Safety).
        let mut bufs = unsafe { outputs(buffers, count) }?;
        if !(max_norm.is_finite() && max_norm > 0.0) {
            return Err(Error::InvalidValue {
                what: "max_norm",
                why: "must be a finite number > 0",
            }
            .into());
        }
        let norm = train::clip_grad_norm(&mut bufs, max_norm);
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(norm) };
        Ok(())
    })
}

/// Clips by value: clamps every element of the `count` buffers of `buffers` into
/// `[-clip_value, clip_value]` (NaN stays NaN), and writes how many elements changed to
/// `*out_changed` unless it is NULL.
///
/// Errors: `FRNN_STATUS_NULL_POINTER` (`buffers` with `count > 0`; a buffer's `data` with
/// `len > 0`), `FRNN_STATUS_INVALID_VALUE` (`clip_value` NaN or negative; misaligned or
/// overlapping buffers), `FRNN_STATUS_OVERFLOW`. Nothing is written on error.
///
/// # Safety
///
/// `buffers` is NULL or points to `count` readable `frnn_buffer`s, each NULL or pointing to
/// its length in writable `float`s; `out_changed` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_clip_grad_value(
    buffers: *const frnn_buffer,
    count: usize,
    clip_value: f32,
    out_changed: *mut usize,
) -> frnn_status {
    guard(|| {
        let out = (!out_changed.is_null())
            .then(|| Out::new("out_changed", out_changed))
            .transpose()?;
        // SAFETY: the caller's contract (see # Safety).
        let mut bufs = unsafe { outputs(buffers, count) }?;
        if clip_value.is_nan() || clip_value < 0.0 {
            return Err(Error::InvalidValue {
                what: "clip_value",
                why: "must be a number >= 0",
            }
            .into());
        }
        let changed = train::clip_grad_value(&mut bufs, clip_value);
        if let Some(out) = out {
            // SAFETY: the caller's contract (see # Safety).
            unsafe { out.write(changed) };
        }
        Ok(())
    })
}
