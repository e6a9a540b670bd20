//! The execute calls: inference, training forward, backward-data, backward-weights.
//!
//! Shapes: `x`, `dx` are `[T, N, I]`; `y`, `dy` are `[T, N, H]` (`[T, N, P]` with an LSTM
//! projection); hidden states and their gradients are `[N, H]` (`[N, P]`), cell states and
//! theirs `[N, H]`; all row-major `float`, lengths in elements. Optional buffers are absent
//! when NULL (length 0): initial states and incoming state gradients are then zeros, final
//! states and input gradients are not computed.

use super::args::{grad_args, grad_bufs, length_options, seq_bufs, OptsPtr, SeqBufs};
use super::buffers::{frnn_extra_weights_mut, frnn_forward_options, frnn_forward_options_ex, frnn_weights_mut};
use super::desc::grad_mode;
use super::handles::{borrow_handle, Out};
use super::layer::{frnn_layer, main_set_mut};
use super::slices::{borrow, Dst, Src};
use super::status::{frnn_status, guard, FfiError};
use super::weight_sets::{check_set, opt_struct, present, set_dsts, At, GRAD_NAMES7};
use super::workspace::{frnn_workspace, WorkspaceState};
use crate::api::{GradInput, GradMode, GradOutput, Layer};
use crate::desc::SeqShape;
use crate::rng::SplitMix64;
use crate::weights::Weights;

/// The gradient buffers of a backward-weights call, checked (all seven, `None` where not
/// given) and sliced.
type GradOuts<'a> = [Option<&'a mut [f32]>; 7];

/// The gradient buffers of the backward-weights calls: the four of `*grads` (required) and
/// the extras of `*extra` (NULL: none), in [`GRAD_NAMES7`] order.
///
/// # Safety
///
/// `grads` and `extra` are NULL or point to readable structs.
unsafe fn grad_dsts(
    grads: *const frnn_weights_mut,
    extra: *const frnn_extra_weights_mut,
) -> Result<([Dst; 4], [Dst; 3]), FfiError> {
    // SAFETY: the caller's contract.
    let g = unsafe { borrow_handle("grads", grads) }?;
    // SAFETY: the caller's contract.
    let e = unsafe { opt_struct("extra_grads", extra) }?;
    let [d0, d1, d2, d3, d4, d5, d6] = set_dsts(At::Args, &GRAD_NAMES7, Some(g), e);
    Ok(([d0, d1, d2, d3], [d4, d5, d6]))
}

/// The seven gradient buffers from the checked required four and optional three.
fn grad_outs<'a>([a, b, c, d]: [&'a mut [f32]; 4], [e, f, g]: [Option<&'a mut [f32]>; 3]) -> GradOuts<'a> {
    [Some(a), Some(b), Some(c), Some(d), e, f, g]
}

/// Backward-weights (after backward-data when `data` is given) into the caller's gradient
/// buffers (every one the layer has must be given), through the workspace's scratch
/// gradients; nothing is written to the caller's buffers unless the whole call succeeds.
fn weights_into(
    l: &Layer,
    st: &mut WorkspaceState,
    x: &[f32],
    data: Option<(GradOutput<'_>, GradInput<'_>)>,
    outs: GradOuts<'_>,
    mode: GradMode,
) -> Result<(), FfiError> {
    let d = *l.desc();
    let got = outs.each_ref().map(|o| o.as_deref().map(<[f32]>::len));
    check_set(&d, At::Args, &GRAD_NAMES7, got, &[0, 1, 2, 3, 4, 5, 6])?;
    let out: Vec<&mut [f32]> = present(&d, outs).into_iter().flatten().collect();
    if st.grads.as_ref().is_some_and(|g| *g.desc() != d) {
        st.grads = None;
    }
    let grads = st.grads.get_or_insert_with(|| Weights::zeros(&d));
    if mode == GradMode::Accumulate {
        for (g, o) in grads.all_buffers_mut().into_iter().zip(&out) {
            g.copy_from_slice(o);
        }
    }
    match data {
        Some((grad_out, grad_in)) => l.backward(&mut st.ws, x, grad_out, grad_in, grads, mode)?,
        None => l.backward_weights(&mut st.ws, x, grads, mode)?,
    }
    for (o, g) in out.into_iter().zip(grads.all_buffers()) {
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
    let opts = length_options(lengths, lengths_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe {
        frnn_layer_forward_opts(
            layer, steps, batch, &opts, x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len,
        )
    }
}

/// `frnn_layer_forward` with per-call options (`opts`, NULL: none; see
/// `frnn_forward_options`): lengths as in `frnn_layer_forward_lengths`. Inference takes no
/// recurrent mask.
///
/// Errors: as `frnn_layer_forward_lengths`; `FRNN_STATUS_UNEXPECTED_ARGUMENT` (a
/// `recurrent_mask`).
///
/// # Safety
///
/// As `frnn_layer_forward`; `opts` is NULL or points to a readable `frnn_forward_options`
/// whose pointers are NULL or point to their lengths in readable elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward_opts(
    layer: *const frnn_layer,
    steps: usize,
    batch: usize,
    opts: *const frnn_forward_options,
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
    let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe { infer(layer, steps, batch, OptsPtr::Plain(opts), bufs) }
}

/// `frnn_layer_forward_opts` with the size-versioned options `frnn_forward_options_ex` (NULL:
/// none). Inference takes neither mask.
///
/// Errors: as `frnn_layer_forward_opts` (`FRNN_STATUS_UNEXPECTED_ARGUMENT` for a
/// `recurrent_mask` or an `input_mask`); `FRNN_STATUS_INVALID_VALUE` (a bad
/// `opts->struct_size`, or options past this version's struct set).
///
/// # Safety
///
/// As `frnn_layer_forward`; `opts` is NULL or points to a `frnn_forward_options_ex` whose
/// first `struct_size` bytes are readable and whose pointers are NULL or point to their
/// lengths in readable elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward_opts_ex(
    layer: *const frnn_layer,
    steps: usize,
    batch: usize,
    opts: *const frnn_forward_options_ex,
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
    let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe { infer(layer, steps, batch, OptsPtr::Ex(opts), bufs) }
}

/// The body of the layer's inference calls.
///
/// # Safety
///
/// As `frnn_layer_forward_opts_ex`, for either options struct.
unsafe fn infer(layer: *const frnn_layer, steps: usize, batch: usize, opts: OptsPtr, bufs: SeqBufs) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety).
        let (input, output) = unsafe { bufs.borrow(opts) }?;
        layer.run(|l| l.forward(SeqShape::new(steps, batch), input, output))
    })
}

/// Writes the defaults of `frnn_forward_options_ex` to `*opts`: `struct_size` set to this
/// version's `sizeof(frnn_forward_options_ex)`, every option absent (NULL, length 0).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (misaligned).
///
/// # Safety
///
/// `opts` is NULL or points to a writable `frnn_forward_options_ex`.
#[no_mangle]
pub unsafe extern "C" fn frnn_forward_options_ex_init(opts: *mut frnn_forward_options_ex) -> frnn_status {
    guard(|| {
        let out = Out::new("opts", opts)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(super::args::no_options().into()) };
        Ok(())
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
    let opts = length_options(lengths, lengths_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe {
        frnn_layer_forward_train_opts(
            layer, workspace, steps, batch, &opts, x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n,
            c_n_len,
        )
    }
}

/// `frnn_layer_forward_train` with per-call options (`opts`, NULL: none; see
/// `frnn_forward_options`): lengths as in `frnn_layer_forward_train_lengths`, and a
/// recurrent-dropout mask `[N, H]` (`[N, P]` with a projection) that the forward applies and
/// the backward calls then go through.
///
/// Errors: as `frnn_layer_forward_train_lengths`; `FRNN_STATUS_LENGTH_MISMATCH` (a mask of
/// another length).
///
/// # Safety
///
/// As `frnn_layer_forward_train`; `opts` as in `frnn_layer_forward_opts`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward_train_opts(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    steps: usize,
    batch: usize,
    opts: *const frnn_forward_options,
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
    let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe { train(layer, workspace, steps, batch, OptsPtr::Plain(opts), bufs) }
}

/// `frnn_layer_forward_train_opts` with the size-versioned options `frnn_forward_options_ex`
/// (NULL: none): lengths, a recurrent-dropout mask `[N, H]` (`[N, P]` with a projection) and
/// an input-dropout mask `[N, I]` (see `frnn_forward_options_ex.input_mask`), which the
/// forward applies and the backward calls then go through. With an input mask,
/// backward-weights computes `dW_ih` from the masked input kept in `workspace`.
///
/// Errors: as `frnn_layer_forward_train_opts` (`FRNN_STATUS_LENGTH_MISMATCH`: a mask of
/// another length); `FRNN_STATUS_INVALID_VALUE` (a bad `opts->struct_size`, or options past
/// this version's struct set). Nothing is written on error.
///
/// # Safety
///
/// As `frnn_layer_forward_train`; `opts` as in `frnn_layer_forward_opts_ex`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_forward_train_opts_ex(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    steps: usize,
    batch: usize,
    opts: *const frnn_forward_options_ex,
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
    let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe { train(layer, workspace, steps, batch, OptsPtr::Ex(opts), bufs) }
}

/// The body of the layer's training forwards.
///
/// # Safety
///
/// As `frnn_layer_forward_train_opts_ex`, for either options struct.
unsafe fn train(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    steps: usize,
    batch: usize,
    opts: OptsPtr,
    bufs: SeqBufs,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let (input, output) = unsafe { bufs.borrow(opts) }?;
        let shape = SeqShape::new(steps, batch);
        layer.run_with_ws(ws, |l, st| Ok(l.forward_train(shape, input, output, &mut st.ws)?))
    })
}

/// Draws a dropout mask of `out_len` elements into `out`: each 0 with probability `p`, else
/// `1/(1-p)`, from the deterministic generator (SplitMix64) seeded with `seed`: the masks
/// the Rust API's `fusedrnn::train::dropout_mask` draws with `SplitMix64::new(seed)`. For
/// `frnn_forward_options.recurrent_mask` and `frnn_forward_options_ex.input_mask`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (`p` not in `[0, 1)`,
/// misaligned `out`), `FRNN_STATUS_OVERFLOW`. Nothing is written on error.
///
/// # Safety
///
/// `out` is NULL or points to `out_len` writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_dropout_mask(p: f32, seed: u64, out: *mut f32, out_len: usize) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let ([], [], [out], []) = unsafe { borrow([], [], [Dst::new("out", out, out_len)], []) }?;
        let m = crate::train::dropout_mask(out.len(), p, &mut SplitMix64::new(seed))?;
        out.copy_from_slice(&m);
        Ok(())
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
/// `[G*H, H]` (`[4H, P]` with a projection), `db_ih`, `db_hh` `[G*H]`, from the gate
/// gradients `frnn_layer_backward_data` left in `workspace` and the same `x` the training
/// forward read. `mode` is a `frnn_grad_mode` value. A layer with extra weights needs
/// `frnn_layer_backward_weights_ex`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_WORKSPACE` (also: backward-data has not
/// run since the training forward), `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_MISSING_ARGUMENT` (the layer has extra weights),
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
    let g = main_set_mut(dw_ih, dw_ih_len, dw_hh, dw_hh_len, db_ih, db_ih_len, db_hh, db_hh_len);
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe { frnn_layer_backward_weights_ex(layer, workspace, x, x_len, &g, std::ptr::null(), mode) }
}

/// Backward-weights into `*grads` (`dW_ih`, `dW_hh`, `db_ih`, `db_hh`, as
/// `frnn_layer_backward_weights` writes them) and `*extra_grads` (`dW_hr` `[P, H]`,
/// `dpeepholes` `[3H]` (`p_i, p_f, p_o`), `dlayer_norm` `[18H]` / `[12H]`, laid out as
/// `frnn_extra_weights`): every gradient of a buffer the layer has is required, and only
/// those. `extra_grads` may be NULL for a layer without extra weights.
///
/// Errors: as `frnn_layer_backward_weights`; `FRNN_STATUS_MISSING_ARGUMENT` (a gradient of an
/// extra buffer the layer has is absent), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (one it does not
/// have is given). Messages name the buffer (`"dW_hr: ..."`).
///
/// # Safety
///
/// As `frnn_layer_backward_data`; `grads` and `extra_grads` are NULL or point to a readable
/// struct whose buffers are NULL or point to their lengths in writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_backward_weights_ex(
    layer: *const frnn_layer,
    workspace: *mut frnn_workspace,
    x: *const f32,
    x_len: usize,
    grads: *const frnn_weights_mut,
    extra_grads: *const frnn_extra_weights_mut,
    mode: u32,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let (main, extra) = unsafe { grad_dsts(grads, extra_grads) }?;
        // SAFETY: the caller's contract (see # Safety).
        let ([x], [], main, extra) = unsafe { borrow([Src::new("x", x, x_len)], [], main, extra) }?;
        let mode = grad_mode(mode)?;
        let outs = grad_outs(main, extra);
        layer.run_with_ws(ws, |l, st| weights_into(l, st, x, None, outs, mode))
    })
}

/// Backward-data then backward-weights in one call (arguments as the two calls). Every
/// argument is checked before anything is written: on error no output changes. A layer with
/// extra weights needs `frnn_layer_backward_ex`.
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
    let g = main_set_mut(dw_ih, dw_ih_len, dw_hh, dw_hh_len, db_ih, db_ih_len, db_hh, db_hh_len);
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe {
        frnn_layer_backward_ex(
            layer,
            workspace,
            x,
            x_len,
            dy,
            dy_len,
            dh_n,
            dh_n_len,
            dc_n,
            dc_n_len,
            dx,
            dx_len,
            dh0,
            dh0_len,
            dc0,
            dc0_len,
            &g,
            std::ptr::null(),
            mode,
        )
    }
}

/// `frnn_layer_backward` with the weight gradients in `*grads` and `*extra_grads` (as
/// `frnn_layer_backward_weights_ex` takes them).
///
/// Errors: as `frnn_layer_backward_data` and `frnn_layer_backward_weights_ex`.
///
/// # Safety
///
/// As `frnn_layer_backward_data`; `grads` and `extra_grads` as in
/// `frnn_layer_backward_weights_ex`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_backward_ex(
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
    grads: *const frnn_weights_mut,
    extra_grads: *const frnn_extra_weights_mut,
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
        // SAFETY: the caller's contract (see # Safety).
        let (main, extra) = unsafe { grad_dsts(grads, extra_grads) }?;
        let [dy] = g.req_in;
        let [o0, o1, o2] = g.opt_out;
        let [e0, e1, e2] = extra;
        // SAFETY: the caller's contract (see # Safety).
        let ([x, dy], opt_in, main, outs) =
            unsafe { borrow([Src::new("x", x, x_len), dy], g.opt_in, main, [o0, o1, o2, e0, e1, e2]) }?;
        let mode = grad_mode(mode)?;
        let [dx, dh0, dc0, e0, e1, e2] = outs;
        let data = grad_args([dy], opt_in, [dx, dh0, dc0]);
        let grads = grad_outs(main, [e0, e1, e2]);
        layer.run_with_ws(ws, |l, st| weights_into(l, st, x, Some(data), grads, mode))
    })
}
