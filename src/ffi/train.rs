//! The training helpers of `fusedrnn::train` from C: the Adam optimizer (here), the dense
//! output head (`dense.rs`) and the sequence-to-vector regressor (`seq2vec.rs`,
//! `seq2vec_params.rs`). Clipping is in `clip.rs`, dropout masks in `exec.rs`.
//!
//! `fusedrnn::train::LayerStack` has no handle of its own: `frnn_stack` does what it does
//! for layers of one width (`frnn_stack_forward_train` keeps every layer's output,
//! `frnn_stack_backward` runs from the top layer's `dy` and `dh_n` and writes every layer's
//! weight gradients), and an `frnn_seq2vec` holds one with a width per layer.

use std::sync::MutexGuard;

use super::buffers::{borrow_array, frnn_buffer, frnn_const_buffer};
use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::shared::Serial;
use super::slices::{borrow_vec, Dst, Src};
use super::status::{frnn_status, guard, guard_value, FfiError, Name};
use crate::error::{check_len, Error};
use crate::train::Adam;

/// The Adam optimizer (PyTorch's formulation, as `fusedrnn::train::Adam`) with its step
/// count and moments. The moments are made at the first step (after create or
/// `frnn_adam_reset`) for the buffers it is given; later steps must give buffers of the same
/// count and lengths, in the same order. Runs on the calling thread in a fixed order, so
/// results never depend on the thread count. Opaque; create with `frnn_adam_create`, free
/// with `frnn_adam_destroy`.
pub struct frnn_adam {
    inner: Serial<Adam>,
}

impl frnn_adam {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Adam> {
        self.inner.lock()
    }
}

fn invalid(what: &'static str, why: &'static str) -> FfiError {
    Error::InvalidValue { what, why }.into()
}

/// A learning rate: finite and `>= 0`.
fn lr_arg(lr: f32) -> Result<f32, FfiError> {
    match lr.is_finite() && lr >= 0.0 {
        true => Ok(lr),
        false => Err(invalid("lr", "must be a finite number >= 0")),
    }
}

/// Checks that `adam` can step buffers of lengths `lens`: any before its first step, else
/// those of its first step. `count` and `elem` name the buffers in messages.
pub(crate) fn check_fits(adam: &Adam, count: &'static str, elem: &'static str, lens: &[usize]) -> Result<(), FfiError> {
    let Some(want) = adam.moment_lens() else {
        return Ok(());
    };
    check_len(count, want.len(), lens.len())?;
    for (k, (&expected, &got)) in want.iter().zip(lens).enumerate() {
        if expected != got {
            return Err(FfiError::Length {
                what: Name::at(elem, k, ""),
                expected,
                got,
            });
        }
    }
    Ok(())
}

/// Creates an Adam optimizer with learning rate `lr` and the usual `beta1 = 0.9`,
/// `beta2 = 0.999`, `eps = 1e-8` (change them with `frnn_adam_set_betas`,
/// `frnn_adam_set_eps`), and writes its handle to `*out_adam`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (`lr` not a finite number
/// `>= 0`).
///
/// # Safety
///
/// `out_adam` is NULL or points to a writable `frnn_adam *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_create(lr: f32, out_adam: *mut *mut frnn_adam) -> frnn_status {
    guard(|| {
        let out = Out::new("out_adam", out_adam)?;
        let adam = Adam::new(lr_arg(lr)?);
        let handle = frnn_adam {
            inner: Serial::new(adam),
        };
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(handle)) };
        Ok(())
    })
}

/// Frees an optimizer. NULL is a no-op.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_destroy(adam: *mut frnn_adam) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(adam) }
    })
}

/// Sets the decay rates of the first and second moments (each in `[0, 1)`); the moments and
/// the step count are kept.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (a rate outside
/// `[0, 1)`). Nothing changes on error.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_set_betas(adam: *mut frnn_adam, beta1: f32, beta2: f32) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let adam = unsafe { borrow_handle("adam", adam) }?;
        for (what, b) in [("beta1", beta1), ("beta2", beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(invalid(what, "must be in [0, 1)"));
            }
        }
        let mut a = adam.lock();
        *a = std::mem::replace(&mut *a, Adam::new(0.0)).with_betas(beta1, beta2);
        Ok(())
    })
}

/// Sets `eps`, added to the denominator (finite, `>= 0`); the moments and the step count are
/// kept.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE`. Nothing changes on error.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_set_eps(adam: *mut frnn_adam, eps: f32) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let adam = unsafe { borrow_handle("adam", adam) }?;
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(invalid("eps", "must be a finite number >= 0"));
        }
        let mut a = adam.lock();
        *a = std::mem::replace(&mut *a, Adam::new(0.0)).with_eps(eps);
        Ok(())
    })
}

/// Writes the learning rate to `*out_lr`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle; `out_lr` is NULL or points to a writable
/// `float`.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_get_lr(adam: *const frnn_adam, out_lr: *mut f32) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let adam = unsafe { borrow_handle("adam", adam) }?;
        let out = Out::new("out_lr", out_lr)?;
        let lr = adam.lock().lr();
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(lr) };
        Ok(())
    })
}

/// Sets the learning rate (for a schedule; finite, `>= 0`); the moments are kept.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE`. Nothing changes on error.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_set_lr(adam: *mut frnn_adam, lr: f32) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let adam = unsafe { borrow_handle("adam", adam) }?;
        let lr = lr_arg(lr)?;
        adam.lock().set_lr(lr);
        Ok(())
    })
}

/// Writes to `*out_steps` how many steps have been taken since create or the last
/// `frnn_adam_reset`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle; `out_steps` is NULL or points to a writable
/// `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_get_steps(adam: *const frnn_adam, out_steps: *mut u64) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let adam = unsafe { borrow_handle("adam", adam) }?;
        let out = Out::new("out_steps", out_steps)?;
        let steps = adam.lock().steps();
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(steps) };
        Ok(())
    })
}

/// Forgets the moments and the step count (the next step may take other buffers); the
/// learning rate, betas and eps are kept.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_reset(adam: *mut frnn_adam) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let adam = unsafe { borrow_handle("adam", adam) }?;
        adam.lock().reset();
        Ok(())
    })
}

/// One Adam update of the `params_count` buffers of `params` from the gradients `grads`
/// (`grads_count` buffers, the same count, pairwise the same lengths; a buffer may be NULL
/// with length 0). The first step after create or `frnn_adam_reset` makes the moments for
/// these buffers; every later step must give as many buffers, of the same lengths.
///
/// Errors: `FRNN_STATUS_NULL_POINTER` (`adam`; an array NULL with a nonzero count; a buffer's
/// `data` NULL with `len > 0`), `FRNN_STATUS_LENGTH_MISMATCH` (`grads_count` is not
/// `params_count`, `"grads (one per params)"`; `grads[k]` not as long as `params[k]`; the
/// count or a length differs from the first step's, `"params[k]: expected 4 elements, got
/// 3"`), `FRNN_STATUS_INVALID_VALUE` (misaligned buffers, a parameter buffer overlapping
/// another buffer), `FRNN_STATUS_OVERFLOW`. Nothing is written (and the step is not counted)
/// on error.
///
/// # Safety
///
/// `adam` is NULL or a live optimizer handle; `params` is NULL or points to `params_count`
/// readable `frnn_buffer`s, each NULL or pointing to its length in readable and writable
/// `float`s; `grads` is NULL or points to `grads_count` readable `frnn_const_buffer`s, each
/// NULL or pointing to its length in readable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_adam_step(
    adam: *mut frnn_adam,
    params: *const frnn_buffer,
    params_count: usize,
    grads: *const frnn_const_buffer,
    grads_count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let adam = unsafe { borrow_handle("adam", adam) }?;
        // SAFETY: the caller's contract (see # Safety).
        let pv = unsafe { borrow_array("params", params, params_count) }?;
        // SAFETY: the caller's contract (see # Safety).
        let gv = unsafe { borrow_array("grads", grads, grads_count) }?;
        check_len("grads (one per params)", pv.len(), gv.len())?;
        for (k, (p, g)) in pv.iter().zip(gv).enumerate() {
            if p.len != g.len {
                return Err(FfiError::Length {
                    what: Name::at("grads", k, ""),
                    expected: p.len,
                    got: g.len,
                });
            }
        }
        let dsts: Vec<Dst> = (pv.iter().enumerate())
            .map(|(k, b)| Dst::new(Name::at("params", k, ""), b.data, b.len))
            .collect();
        let srcs: Vec<Src> = (gv.iter().enumerate())
            .map(|(k, b)| Src::new(Name::at("grads", k, ""), b.data, b.len))
            .collect();
        // SAFETY: the caller's contract (see # Safety).
        let (_, ins, _, outs) = unsafe { borrow_vec(&[], &srcs, &[], &dsts) }?;
        // An absent buffer is an empty one: it keeps its place in the list.
        let mut params: Vec<&mut [f32]> = outs.into_iter().map(Option::unwrap_or_default).collect();
        let grads: Vec<&[f32]> = ins.into_iter().map(Option::unwrap_or_default).collect();
        let lens: Vec<usize> = params.iter().map(|p| p.len()).collect();
        let mut a = adam.lock();
        check_fits(&a, "params (buffers of the first step)", "params", &lens)?;
        a.step(&mut params, &grads);
        Ok(())
    })
}
