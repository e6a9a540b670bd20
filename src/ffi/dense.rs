//! The dense (fully connected) head `y = x W^T + b` of `fusedrnn::train::Dense`: handle,
//! weights, forward and backward.

use super::desc::grad_mode;
use super::handles::{borrow_handle, free_handle, into_handle, write_all, Out};
use super::shared::Shared;
use super::slices::{borrow, Dst, Src};
use super::status::{frnn_status, guard, guard_value, FfiError};
use crate::desc::MAX_ELEMS;
use crate::error::{check_len, mul, Error};
use crate::train::Dense;
use crate::GradMode;

/// A fully connected layer `y = x W^T + b` with `W` `[outputs, inputs]` and `b` `[outputs]`,
/// row-major (PyTorch's `nn.Linear` layout), as `fusedrnn::train::Dense`. Runs on the
/// calling thread in a fixed order. Opaque; create with `frnn_dense_create` (or `_zeros`,
/// `_from_parts`), free with `frnn_dense_destroy`.
pub struct frnn_dense {
    inner: Shared<Dense>,
}

impl std::ops::Deref for frnn_dense {
    type Target = Shared<Dense>;
    fn deref(&self) -> &Shared<Dense> {
        &self.inner
    }
}

/// Checks the sizes of a head: both at least 1, `W` small enough to allocate.
fn check_sizes(inputs: usize, outputs: usize) -> crate::Result<()> {
    for (what, v) in [("inputs", inputs), ("outputs", outputs)] {
        if v == 0 {
            return Err(Error::ZeroSize { what });
        }
    }
    if mul(outputs, inputs, "outputs*inputs")? > MAX_ELEMS {
        return Err(Error::Overflow { what: "outputs*inputs" });
    }
    Ok(())
}

/// `W` `[outputs, inputs]` and `b` `[outputs]` from the caller, checked for a head of these
/// sizes (which must be valid).
///
/// # Safety
///
/// `w` and `b` are NULL or point to their lengths in readable `float`s.
pub(crate) unsafe fn read_wb<'a>(
    (inputs, outputs): (usize, usize),
    w: *const f32,
    w_len: usize,
    b: *const f32,
    b_len: usize,
) -> Result<[&'a [f32]; 2], FfiError> {
    // SAFETY: the caller's contract.
    let ([w, b], [], [], []) = unsafe { borrow([Src::new("W", w, w_len), Src::new("b", b, b_len)], [], [], []) }?;
    check_len("W", outputs * inputs, w.len())?;
    check_len("b", outputs, b.len())?;
    Ok([w, b])
}

/// Copies `W` and `b` of `head` into the buffers given (NULL with length 0: skipped), after
/// checking both.
///
/// # Safety
///
/// `w` and `b` are NULL or point to their lengths in writable `float`s.
pub(crate) unsafe fn write_wb(
    head: &Dense,
    w: *mut f32,
    w_len: usize,
    b: *mut f32,
    b_len: usize,
) -> Result<(), FfiError> {
    // SAFETY: the caller's contract.
    let ([], [], [], outs) = unsafe { borrow([], [], [], [Dst::new("W", w, w_len), Dst::new("b", b, b_len)]) }?;
    for ((what, out), src) in ["W", "b"].into_iter().zip(&outs).zip(head.buffers()) {
        if let Some(out) = out {
            check_len(what, src.len(), out.len())?;
        }
    }
    for (out, src) in outs.into_iter().zip(head.buffers()) {
        if let Some(out) = out {
            out.copy_from_slice(src);
        }
    }
    Ok(())
}

/// `N*inputs` and `N*outputs` for a batch of `batch` rows (at least 1).
fn rows(head: &Dense, batch: usize) -> crate::Result<(usize, usize)> {
    if batch == 0 {
        return Err(Error::ZeroSize { what: "N" });
    }
    Ok((
        mul(batch, head.inputs(), "N*inputs")?,
        mul(batch, head.outputs(), "N*outputs")?,
    ))
}

/// Writes a new handle for `head` to `out`.
///
/// # Safety
///
/// `out` was checked from a pointer to a writable `frnn_dense *`.
unsafe fn create(out: Out<*mut frnn_dense>, head: Dense) {
    let handle = frnn_dense {
        inner: Shared::new(head),
    };
    // SAFETY: the caller's contract.
    unsafe { out.write(into_handle(handle)) }
}

/// Creates a dense head from `inputs` features to `outputs` values with `W` and `b` drawn
/// uniformly from `[-1/sqrt(inputs), 1/sqrt(inputs)]` (PyTorch's default) by a
/// deterministic generator seeded with `seed`, and writes its handle to `*out_dense`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`inputs` or `outputs` is 0),
/// `FRNN_STATUS_OVERFLOW` (`outputs * inputs` too large).
///
/// # Safety
///
/// `out_dense` is NULL or points to a writable `frnn_dense *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_create(
    inputs: usize,
    outputs: usize,
    seed: u64,
    out_dense: *mut *mut frnn_dense,
) -> frnn_status {
    guard(|| {
        let out = Out::new("out_dense", out_dense)?;
        check_sizes(inputs, outputs)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { create(out, Dense::new(inputs, outputs, seed)) };
        Ok(())
    })
}

/// Creates a dense head with `W` and `b` all zeros and writes its handle to `*out_dense`.
///
/// Errors: as `frnn_dense_create`.
///
/// # Safety
///
/// As `frnn_dense_create`.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_create_zeros(
    inputs: usize,
    outputs: usize,
    out_dense: *mut *mut frnn_dense,
) -> frnn_status {
    guard(|| {
        let out = Out::new("out_dense", out_dense)?;
        check_sizes(inputs, outputs)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { create(out, Dense::zeros(inputs, outputs)) };
        Ok(())
    })
}

/// Creates a dense head with the given `W` `[outputs, inputs]` (`w_len = outputs * inputs`)
/// and `b` `[outputs]` (copied), and writes its handle to `*out_dense`.
///
/// Errors: as `frnn_dense_create`; `FRNN_STATUS_NULL_POINTER` (`w` or `b`),
/// `FRNN_STATUS_LENGTH_MISMATCH`, `FRNN_STATUS_INVALID_VALUE` (misaligned buffer).
///
/// # Safety
///
/// `w` and `b` are NULL or point to their lengths in readable `float`s; `out_dense` as in
/// `frnn_dense_create`.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_create_from_parts(
    inputs: usize,
    outputs: usize,
    w: *const f32,
    w_len: usize,
    b: *const f32,
    b_len: usize,
    out_dense: *mut *mut frnn_dense,
) -> frnn_status {
    guard(|| {
        let out = Out::new("out_dense", out_dense)?;
        check_sizes(inputs, outputs)?;
        // SAFETY: the caller's contract (see # Safety).
        let [w, b] = unsafe { read_wb((inputs, outputs), w, w_len, b, b_len) }?;
        let head = Dense::from_parts(inputs, outputs, w.to_vec(), b.to_vec());
        // SAFETY: the caller's contract (see # Safety).
        unsafe { create(out, head) };
        Ok(())
    })
}

/// Frees a dense head. NULL is a no-op.
///
/// # Safety
///
/// `dense` is NULL or a live dense handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_destroy(dense: *mut frnn_dense) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(dense) }
    })
}

/// Writes the number of input features to `*out_inputs` and of outputs to `*out_outputs`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `dense` is NULL or a live dense handle; `out_inputs` and `out_outputs` are NULL or point
/// to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_get_sizes(
    dense: *const frnn_dense,
    out_inputs: *mut usize,
    out_outputs: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let dense = unsafe { borrow_handle("dense", dense) }?;
        let outs = [
            Out::new("out_inputs", out_inputs)?,
            Out::new("out_outputs", out_outputs)?,
        ];
        let sizes = dense.with(|d| Ok([d.inputs(), d.outputs()]))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_all(outs, sizes) };
        Ok(())
    })
}

/// Copies `W` (`w_len = outputs * inputs`) and `b` (`b_len = outputs`) into the buffers
/// given; a NULL buffer (with length 0) is skipped.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_INVALID_VALUE` (misaligned or overlapping buffers). Nothing is written unless
/// both buffers are right.
///
/// # Safety
///
/// `dense` is NULL or a live dense handle; `w` and `b` are NULL or point to their lengths in
/// writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_get_weights(
    dense: *const frnn_dense,
    w: *mut f32,
    w_len: usize,
    b: *mut f32,
    b_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let dense = unsafe { borrow_handle("dense", dense) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_wb(&dense.read().value, w, w_len, b, b_len) }
    })
}

/// Replaces `W` and `b` (copied; lengths as `frnn_dense_get_weights`, both required). Waits
/// for calls running on the head to finish.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_INVALID_VALUE` (misaligned buffer). The weights are unchanged on error.
///
/// # Safety
///
/// `dense` is NULL or a live dense handle; `w` and `b` are NULL or point to their lengths in
/// readable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_set_weights(
    dense: *mut frnn_dense,
    w: *const f32,
    w_len: usize,
    b: *const f32,
    b_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the head is locked.
        let dense = unsafe { borrow_handle("dense", dense) }?;
        let mut st = dense.write();
        let sizes = (st.value.inputs(), st.value.outputs());
        // SAFETY: the caller's contract (see # Safety).
        let src = unsafe { read_wb(sizes, w, w_len, b, b_len) }?;
        for (dst, src) in st.value.buffers_mut().into_iter().zip(src) {
            dst.copy_from_slice(src);
        }
        Ok(())
    })
}

/// Forward for a batch of `batch` rows: `y = x W^T + b` with `x` `[N, inputs]` and `y`
/// `[N, outputs]` (`N = batch`).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`batch` is 0),
/// `FRNN_STATUS_OVERFLOW`, `FRNN_STATUS_LENGTH_MISMATCH`, `FRNN_STATUS_INVALID_VALUE`
/// (misaligned or overlapping buffers). `y` is not written on error.
///
/// # Safety
///
/// `dense` is NULL or a live dense handle; `x` and `y` are NULL or point to their lengths in
/// `float`s, readable and writable.
#[no_mangle]
pub unsafe extern "C" fn frnn_dense_forward(
    dense: *const frnn_dense,
    batch: usize,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let dense = unsafe { borrow_handle("dense", dense) }?;
        // SAFETY: the caller's contract (see # Safety).
        let ([x], [], [y], []) = unsafe { borrow([Src::new("x", x, x_len)], [], [Dst::new("y", y, y_len)], []) }?;
        dense.with(|d| {
            let (nx, ny) = rows(d, batch)?;
            check_len("x", nx, x.len())?;
            check_len("y", ny, y.len())?;
            d.forward(x, y);
            Ok(())
        })
    })
}

/// Backward for a batch of `batch` rows, from `dy` `[N, outputs]` and the forward's input `x`
/// `[N, inputs]`: writes (`FRNN_GRAD_MODE_OVERWRITE`) or adds (`FRNN_GRAD_MODE_ACCUMULATE`)
/// the gradients `dW` (`dw_len = outputs * inputs`) and `db` (`db_len = outputs`), and
/// writes `dx = dy W` `[N, inputs]` when `dx` is given (NULL with length 0: not wanted).
/// `mode` is a `frnn_grad_mode` value.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`batch` is 0),
/// `FRNN_STATUS_OVERFLOW`, `FRNN_STATUS_LENGTH_MISMATCH`, `FRNN_STATUS_INVALID_VALUE` (bad
/// `mode`, misaligned or overlapping buffers). No output is written on error.
///
/// # Safety
///
/// `dense` is NULL or a live dense handle; each buffer pointer is NULL or points to its
/// length in `float`s, readable for inputs, writable (and readable, for `dw` and `db`) for
/// outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_dense_backward(
    dense: *const frnn_dense,
    batch: usize,
    x: *const f32,
    x_len: usize,
    dy: *const f32,
    dy_len: usize,
    dx: *mut f32,
    dx_len: usize,
    dw: *mut f32,
    dw_len: usize,
    db: *mut f32,
    db_len: usize,
    mode: u32,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let dense = unsafe { borrow_handle("dense", dense) }?;
        // SAFETY: the caller's contract (see # Safety).
        let ([x, dy], [], [dw, db], [dx]) = unsafe {
            borrow(
                [Src::new("x", x, x_len), Src::new("dy", dy, dy_len)],
                [],
                [Dst::new("dW", dw, dw_len), Dst::new("db", db, db_len)],
                [Dst::new("dx", dx, dx_len)],
            )
        }?;
        let mode = grad_mode(mode)?;
        dense.with(|d| {
            let (nx, ny) = rows(d, batch)?;
            let (i, o) = (d.inputs(), d.outputs());
            check_len("x", nx, x.len())?;
            check_len("dy", ny, dy.len())?;
            check_len("dW", o * i, dw.len())?;
            check_len("db", o, db.len())?;
            if let Some(dx) = &dx {
                check_len("dx", nx, dx.len())?;
            }
            let mut g = match mode {
                GradMode::Accumulate => Dense::from_parts(i, o, dw.to_vec(), db.to_vec()),
                GradMode::Overwrite => Dense::zeros(i, o),
            };
            d.backward(x, dy, dx, &mut g, mode);
            dw.copy_from_slice(g.w());
            db.copy_from_slice(g.b());
            Ok(())
        })
    })
}
