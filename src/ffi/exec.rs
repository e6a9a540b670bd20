//! The execute calls: inference, training forward, backward-data, backward-weights.
//!
//! Shapes: `x`, `dx` are `[T, N, I]`; `y`, `dy` are `[T, N, H]`; every state and state
//! gradient is `[N, H]`; all row-major `float`, lengths in elements. Optional buffers are
//! absent when NULL (length 0): initial states and incoming state gradients are then zeros,
//! final states and input gradients are not computed.

use super::args::{grad_args, grad_bufs, lengths_arg, seq_bufs, weight_dsts, GRAD_NAMES};
use super::desc::grad_mode;
use super::handles::borrow_handle;
use super::layer::frnn_layer;
use super::slices::{borrow, Src};
use super::status::{frnn_status, guard};
use super::workspace::{frnn_workspace, WorkspaceState};
use crate::api::{GradInput, GradMode, GradOutput, Layer};
use crate::desc::SeqShape;
use crate::error::{check_len, Result};
use crate::weights::Weights;

/// Backward-weights (after backward-data when `data` is given) into the caller's four
/// gradient buffers, through the workspace's scratch gradients; nothing is written to the
/// caller's buffers unless the whole call succeeds.
fn weights_into(
    l: &Layer,
    st: &mut WorkspaceState,
    x: &[f32],
    data: Option<(GradOutput<'_>, GradInput<'_>)>,
    out: [&mut [f32]; 4],
    mode: GradMode,
) -> Result<()> {
    let d = *l.desc();
    for ((what, o), w) in GRAD_NAMES.into_iter().zip(&out).zip(l.weights().buffers()) {
        check_len(what, w.len(), o.len())?;
    }
    if st.grads.as_ref().is_some_and(|g| *g.desc() != d) {
        st.grads = None;
    }
    let grads = st.grads.get_or_insert_with(|| Weights::zeros(&d));
    if mode == GradMode::Accumulate {
        for (g, o) in grads.buffers_mut().into_iter().zip(&out) {
            g.copy_from_slice(o);
        }
    }
    match data {
        Some((grad_out, grad_in)) => l.backward(&mut st.ws, x, grad_out, grad_in, grads, mode)?,
        None => l.backward_weights(&mut st.ws, x, grads, mode)?,
    }
    for (o, g) in out.into_iter().zip(grads.buffers()) {
        o.copy_from_slice(g);
    }
    Ok(())
}

/// Inference: runs the layer over `x` from the initial states `h0`, `c0` (zeros when NULL;
/// `c0` only for an LSTM) and writes `y`, and the final states `h_n`, `c_n` when given.
/// Saves nothing. Many threads may run this on the same layer at once.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`steps` or `batch` is 0),
/// `FRNN_STATUS_OVERFLOW` (`T*N*I` or another buffer size past `SIZE_MAX`),
/// `FRNN_STATUS_LENGTH_MISMATCH`, `FRNN_STATUS_UNEXPECTED_ARGUMENT` (`c0`/`c_n` for a GRU or
/// RNN), `FRNN_STATUS_INVALID_VALUE` (misaligned or overlapping buffers). No output is
/// written on error.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; each buffer pointer is NULL or points to its
/// length in `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward(
    layer: *const frnn_layer,
    steps: usize,
    batch: usize,
    x: *const f32,
    x_len: usize,
    h0: *const f32,
    h0_len: usize,
    c0: *const f32,
    c0_len: usize,
    y: *mut f32,
    y_len: usize,
    h_n: *mut f32,
    h_n_len: usize,
    c_n: *mut f32,
    c_n_len: usize,
) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety); no lengths.
    unsafe {
        frnn_layer_forward_lengths(
            layer,
            steps,
            batch,
            std::ptr::null(),
            0,
            x,
            x_len,
            h0,
            h0_len,
            c0,
            c0_len,
            y,
            y_len,
            h_n,
            h_n_len,
            c_n,
            c_n_len,
        )
    }
}

/// `frnn_layer_forward` over a variable-length batch: `lengths` holds one length per sequence
/// (`batch` of them, each in `0..=steps`; NULL with 0: every sequence has `steps` steps). A
/// sequence of length `L` runs steps `0..L`: its outputs past `L` are zero and its final
/// states are those after step `L-1` (its initial states when `L = 0`). Padded steps are not
/// computed.
///
/// Errors: as `frnn_layer_forward`; `FRNN_STATUS_LENGTH_MISMATCH` (not `batch` lengths),
/// `FRNN_STATUS_INVALID_VALUE` (a length past `steps`).
///
/// # Safety
///
/// As `frnn_layer_forward`; `lengths` is NULL or points to `lengths_len` readable `size_t`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward_lengths(
    layer: *const frnn_layer,
    steps: usize,
    batch: usize,
    lengths: *const usize,
    lengths_len: usize,
    x: *const f32,
    x_len: usize,
    h0: *const f32,
    h0_len: usize,
    c0: *const f32,
    c0_len: usize,
    y: *mut f32,
    y_len: usize,
    h_n: *mut f32,
    h_n_len: usize,
    c_n: *mut f32,
    c_n_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety).
        let lengths = unsafe { lengths_arg(lengths, lengths_len) }?;
        let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
        // SAFETY: the caller's contract (see # Safety).
        let (mut input, output) = unsafe { bufs.borrow() }?;
        input.lengths = lengths;
        layer.run(|l| l.forward(SeqShape::new(steps, batch), input, output))
    })
}

/// Training forward: as `frnn_layer_forward`, and saves into `workspace` what the backward
/// calls need (growing it if needed). Threads may run this on the same layer at once, each
/// with its own workspace.
///
/// Errors: as `frnn_layer_forward`.
///
/// # Safety
///
/// As `frnn_layer_forward`; `workspace` is NULL or a live workspace handle.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward_train(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    steps: usize,
    batch: usize,
    x: *const f32,
    x_len: usize,
    h0: *const f32,
    h0_len: usize,
    c0: *const f32,
    c0_len: usize,
    y: *mut f32,
    y_len: usize,
    h_n: *mut f32,
    h_n_len: usize,
    c_n: *mut f32,
    c_n_len: usize,
) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety); no lengths.
    unsafe {
        frnn_layer_forward_train_lengths(
            layer,
            workspace,
            steps,
            batch,
            std::ptr::null(),
            0,
            x,
            x_len,
            h0,
            h0_len,
            c0,
            c0_len,
            y,
            y_len,
            h_n,
            h_n_len,
            c_n,
            c_n_len,
        )
    }
}

/// `frnn_layer_forward_train` over a variable-length batch (`lengths` as in
/// `frnn_layer_forward_lengths`); the backward calls then ignore `dy` past each length and
/// give zero `dx` there.
///
/// Errors: as `frnn_layer_forward_lengths`.
///
/// # Safety
///
/// As `frnn_layer_forward_train`; `lengths` is NULL or points to `lengths_len` readable
/// `size_t`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward_train_lengths(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    steps: usize,
    batch: usize,
    lengths: *const usize,
    lengths_len: usize,
    x: *const f32,
    x_len: usize,
    h0: *const f32,
    h0_len: usize,
    c0: *const f32,
    c0_len: usize,
    y: *mut f32,
    y_len: usize,
    h_n: *mut f32,
    h_n_len: usize,
    c_n: *mut f32,
    c_n_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let lengths = unsafe { lengths_arg(lengths, lengths_len) }?;
        let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
        // SAFETY: the caller's contract (see # Safety).
        let (mut input, output) = unsafe { bufs.borrow() }?;
        input.lengths = lengths;
        let shape = SeqShape::new(steps, batch);
        layer.run_with_ws(ws, |l, st| Ok(l.forward_train(shape, input, output, &mut st.ws)?))
    })
}

/// Backward-data: from `dy` (and `dh_n`, `dc_n`; zeros when NULL) computes the gradients
/// `dx`, `dh0`, `dc0` that are given (NULL: not wanted), and leaves the gate gradients in
/// `workspace` for `frnn_layer_backward_weights`. The shape is that of the training forward
/// that filled `workspace`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_WORKSPACE` (not filled by this layer's
/// training forward, or the weights changed since), `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_UNEXPECTED_ARGUMENT`, `FRNN_STATUS_INVALID_VALUE`. No output is written on
/// error.
///
/// # Safety
///
/// `layer`, `workspace` are NULL or live handles; each buffer pointer is NULL or points to
/// its length in `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_backward_data(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    dy: *const f32,
    dy_len: usize,
    dh_n: *const f32,
    dh_n_len: usize,
    dc_n: *const f32,
    dc_n_len: usize,
    dx: *mut f32,
    dx_len: usize,
    dh0: *mut f32,
    dh0_len: usize,
    dc0: *mut f32,
    dc0_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        let g = grad_bufs(
            dy, dy_len, dh_n, dh_n_len, dc_n, dc_n_len, dx, dx_len, dh0, dh0_len, dc0, dc0_len,
        );
        // SAFETY: the caller's contract (see # Safety).
        let (req_in, opt_in, [], opt_out) = unsafe { borrow(g.req_in, g.opt_in, [], g.opt_out) }?;
        let (grad_out, grad_in) = grad_args(req_in, opt_in, opt_out);
        layer.run_with_ws(ws, |l, st| Ok(l.backward_data(&mut st.ws, grad_out, grad_in)?))
    })
}

/// Backward-weights: writes (`FRNN_GRAD_MODE_OVERWRITE`) or adds
/// (`FRNN_GRAD_MODE_ACCUMULATE`) the weight gradients `dw_ih` `[G*H, I]`, `dw_hh`
/// `[G*H, H]`, `db_ih`, `db_hh` `[G*H]`, from the gate gradients `frnn_layer_backward_data`
/// left in `workspace` and the same `x` the training forward read. `mode` is a
/// `frnn_grad_mode` value.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_WORKSPACE` (also: backward-data has not
/// run since the training forward), `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_INVALID_VALUE` (bad `mode`, misaligned or overlapping buffers). No output is
/// written on error.
///
/// # Safety
///
/// As `frnn_layer_backward_data`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_backward_weights(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    x: *const f32,
    x_len: usize,
    dw_ih: *mut f32,
    dw_ih_len: usize,
    dw_hh: *mut f32,
    dw_hh_len: usize,
    db_ih: *mut f32,
    db_ih_len: usize,
    db_hh: *mut f32,
    db_hh_len: usize,
    mode: u32,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let dsts = weight_dsts(
            GRAD_NAMES, dw_ih, dw_ih_len, dw_hh, dw_hh_len, db_ih, db_ih_len, db_hh, db_hh_len,
        );
        // SAFETY: the caller's contract (see # Safety).
        let ([x], [], grads, []) = unsafe { borrow([Src::new("x", x, x_len)], [], dsts, []) }?;
        let mode = grad_mode(mode)?;
        layer.run_with_ws(ws, |l, st| Ok(weights_into(l, st, x, None, grads, mode)?))
    })
}

/// Backward-data then backward-weights in one call (arguments as the two calls). Every
/// argument is checked before anything is written: on error no output changes.
///
/// Errors: as `frnn_layer_backward_data` and `frnn_layer_backward_weights`.
///
/// # Safety
///
/// As `frnn_layer_backward_data`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_backward(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    x: *const f32,
    x_len: usize,
    dy: *const f32,
    dy_len: usize,
    dh_n: *const f32,
    dh_n_len: usize,
    dc_n: *const f32,
    dc_n_len: usize,
    dx: *mut f32,
    dx_len: usize,
    dh0: *mut f32,
    dh0_len: usize,
    dc0: *mut f32,
    dc0_len: usize,
    dw_ih: *mut f32,
    dw_ih_len: usize,
    dw_hh: *mut f32,
    dw_hh_len: usize,
    db_ih: *mut f32,
    db_ih_len: usize,
    db_hh: *mut f32,
    db_hh_len: usize,
    mode: u32,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        let g = grad_bufs(
            dy, dy_len, dh_n, dh_n_len, dc_n, dc_n_len, dx, dx_len, dh0, dh0_len, dc0, dc0_len,
        );
        let dsts = weight_dsts(
            GRAD_NAMES, dw_ih, dw_ih_len, dw_hh, dw_hh_len, db_ih, db_ih_len, db_hh, db_hh_len,
        );
        let [dy] = g.req_in;
        // SAFETY: the caller's contract (see # Safety).
        let ([x, dy], opt_in, grads, opt_out) =
            unsafe { borrow([Src::new("x", x, x_len), dy], g.opt_in, dsts, g.opt_out) }?;
        let mode = grad_mode(mode)?;
        let data = grad_args([dy], opt_in, opt_out);
        layer.run_with_ws(ws, |l, st| Ok(weights_into(l, st, x, Some(data), grads, mode)?))
    })
}
