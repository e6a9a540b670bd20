//! The stack's training workspace and execute calls: inference, training forward, backward.
//!
//! Shapes (`W = 2H` for `FRNN_DIRECTION_BIDIRECTIONAL`, else `H`): `x`, `dx` are `[T, N, I]`
//! and `y`, `dy` are `[T, N, W]` (`[N, T, .]` when `batch_first`); every state and state
//! gradient is `[L*D, N, H]` in PyTorch's order. Optional buffers as for a layer.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::args::{grad_bufs, lengths_arg, seq_bufs, GRAD_NAMES};
use super::buffers::{borrow_array, frnn_weights_mut};
use super::desc::grad_mode;
use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::slices::{borrow_vec, Dst};
use super::stack::{check_weight_lens, frnn_stack, weight_lens};
use super::status::{frnn_status, guard, guard_value};
use crate::api::{GradInput, GradMode, GradOutput, StackWorkspace};
use crate::desc::SeqShape;
use crate::error::{check_len, mul, Error};
use crate::weights::Weights;

/// A stack's training workspace: what `frnn_stack_forward_train` saves for
/// `frnn_stack_backward` (every layer-direction's workspace and the input it read). It grows
/// as needed and is reusable. Opaque; create with `frnn_stack_workspace_create`, free with
/// `frnn_stack_workspace_destroy`.
pub struct frnn_stack_workspace {
    state: Mutex<StackWsState>,
}

pub(crate) struct StackWsState {
    ws: StackWorkspace,
    /// The number of layer-directions of the stack whose training forward filled it.
    filled: Option<usize>,
    /// Gradients are computed here, then copied to the caller's buffers.
    grads: Vec<Weights>,
}

impl frnn_stack_workspace {
    fn lock(&self) -> MutexGuard<'_, StackWsState> {
        // A panic inside a call leaves at worst an unfilled workspace, which backward refuses.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates an empty stack workspace in `*out_workspace`; training forwards size it.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `out_workspace` is NULL or points to a writable `frnn_stack_workspace *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_workspace_create(out_workspace: *mut *mut frnn_stack_workspace) -> frnn_status {
    guard(|| {
        let out = Out::new("out_workspace", out_workspace)?;
        let ws = frnn_stack_workspace {
            state: Mutex::new(StackWsState {
                ws: StackWorkspace::new(),
                filled: None,
                grads: Vec::new(),
            }),
        };
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(ws)) };
        Ok(())
    })
}

/// Frees a stack workspace. NULL is a no-op.
///
/// # Safety
///
/// `workspace` is NULL or a live stack workspace handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_workspace_destroy(workspace: *mut frnn_stack_workspace) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(workspace) }
    })
}

/// Writes to `*out_elems` how many `float`s a stack workspace holds after a training forward
/// of `stack` at `steps` (`T`) x `batch` (`N`): every layer-direction's training workspace
/// (`frnn_layer_workspace_size`) and the `[T, N, I_l]` input it read.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE`, `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `out_elems` is NULL or points to a writable
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_workspace_size(
    stack: *const frnn_stack,
    steps: usize,
    batch: usize,
    out_elems: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let out = Out::new("out_elems", out_elems)?;
        let shape = SeqShape::new(steps, batch);
        let total = stack.with(|s| {
            let mut total = 0usize;
            for l in s.layers() {
                let input = mul(mul(steps, batch, "workspace")?, l.desc().input_size(), "workspace")?;
                let both = l.workspace_len(shape)?.checked_add(input);
                total = both
                    .and_then(|b| total.checked_add(b))
                    .ok_or(Error::Overflow { what: "workspace" })?;
            }
            Ok(total)
        })?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(total) };
        Ok(())
    })
}

/// Inference through the stack: runs every layer over `x` from the initial states `h0`,
/// `c0` (`[L*D, N, H]`, zeros when NULL; `c0` only for an LSTM) and writes `y`, and the final
/// states `h_n`, `c_n` (`[L*D, N, H]`) when given. Saves nothing. Many threads may run this on
/// the same stack at once.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`steps` or `batch` is 0),
/// `FRNN_STATUS_OVERFLOW`, `FRNN_STATUS_LENGTH_MISMATCH`, `FRNN_STATUS_UNEXPECTED_ARGUMENT`
/// (`c0`/`c_n` for a GRU or RNN), `FRNN_STATUS_INVALID_VALUE` (misaligned or overlapping
/// buffers). No output is written on error.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; each buffer pointer is NULL or points to its
/// length in `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward(
    stack: *const frnn_stack,
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
        frnn_stack_forward_lengths(
            stack,
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

/// `frnn_stack_forward` over a variable-length batch: `lengths` holds one length per
/// sequence (`batch` of them, each in `0..=steps`; NULL with 0: every sequence has `steps`
/// steps). A sequence of length `L` runs steps `0..L`: its outputs past `L` are zero, its final
/// states are those after step `L-1` (its initial states when `L = 0`), and a reverse direction
/// reads it backwards from step `L-1`. Padded steps are not computed.
///
/// Errors: as `frnn_stack_forward`; `FRNN_STATUS_LENGTH_MISMATCH` (not `batch` lengths),
/// `FRNN_STATUS_INVALID_VALUE` (a length past `steps`).
///
/// # Safety
///
/// As `frnn_stack_forward`; `lengths` is NULL or points to `lengths_len` readable `size_t`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward_lengths(
    stack: *const frnn_stack,
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
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety).
        let lengths = unsafe { lengths_arg(lengths, lengths_len) }?;
        let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
        // SAFETY: the caller's contract (see # Safety).
        let (mut input, output) = unsafe { bufs.borrow() }?;
        input.lengths = lengths;
        stack.run(|s| s.forward(SeqShape::new(steps, batch), input, output))
    })
}

/// Training forward: as `frnn_stack_forward`, and saves into `workspace` what
/// `frnn_stack_backward` needs. Threads may run this on the same stack at once, each with its
/// own workspace.
///
/// Errors: as `frnn_stack_forward`.
///
/// # Safety
///
/// As `frnn_stack_forward`; `workspace` is NULL or a live stack workspace handle.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward_train(
    stack: *const frnn_stack,
    workspace: *mut frnn_stack_workspace,
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
        frnn_stack_forward_train_lengths(
            stack,
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

/// `frnn_stack_forward_train` over a variable-length batch (`lengths` as in
/// `frnn_stack_forward_lengths`); `frnn_stack_backward` then ignores `dy` past each length
/// and gives zero `dx` there.
///
/// Errors: as `frnn_stack_forward_lengths`.
///
/// # Safety
///
/// As `frnn_stack_forward_train`; `lengths` is NULL or points to `lengths_len` readable
/// `size_t`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward_train_lengths(
    stack: *const frnn_stack,
    workspace: *mut frnn_stack_workspace,
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
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let lengths = unsafe { lengths_arg(lengths, lengths_len) }?;
        let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
        // SAFETY: the caller's contract (see # Safety).
        let (mut input, output) = unsafe { bufs.borrow() }?;
        input.lengths = lengths;
        let shape = SeqShape::new(steps, batch);
        stack.run_locked(
            || ws.lock(),
            |s, st| {
                st.filled = None;
                s.forward_train(shape, input, output, &mut st.ws)?;
                st.filled = Some(s.layers().len());
                Ok(())
            },
        )
    })
}

/// `frnn_stack_forward_train_lengths` with dropout in training: `between_layers` on the output
/// of every layer but the last (PyTorch's `dropout`), `recurrent` on each layer-direction's
/// hidden state where it enters the recurrent products (variational, one mask per call), each
/// in `[0, 1)` (0: off). The masks are drawn from a SplitMix64 generator whose state
/// `*rng_state` the caller owns: it is read, and on success advanced past the draws, so a
/// seed fixes every mask whatever the thread count. `frnn_stack_backward` uses the same masks.
///
/// Errors: as `frnn_stack_forward_lengths`; `FRNN_STATUS_INVALID_VALUE` (a probability not in
/// `[0, 1)`); `FRNN_STATUS_NULL_POINTER` (`rng_state`). `*rng_state` is unchanged on error.
///
/// # Safety
///
/// As `frnn_stack_forward_train_lengths`; `rng_state` is NULL or points to a readable and
/// writable `uint64_t`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward_train_dropout(
    stack: *const frnn_stack,
    workspace: *mut frnn_stack_workspace,
    steps: usize,
    batch: usize,
    lengths: *const usize,
    lengths_len: usize,
    between_layers: f32,
    recurrent: f32,
    rng_state: *mut u64,
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
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        let state = Out::new("rng_state", rng_state)?;
        // SAFETY: the caller's contract (see # Safety): readable, non-NULL (checked).
        let mut rng = crate::rng::SplitMix64::new(unsafe { rng_state.read() });
        // SAFETY: the caller's contract (see # Safety).
        let lengths = unsafe { lengths_arg(lengths, lengths_len) }?;
        let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
        // SAFETY: the caller's contract (see # Safety).
        let (mut input, output) = unsafe { bufs.borrow() }?;
        input.lengths = lengths;
        let shape = SeqShape::new(steps, batch);
        let dropout = crate::Dropout {
            between_layers,
            recurrent,
        };
        stack.run_locked(
            || ws.lock(),
            |s, st| {
                st.filled = None;
                s.forward_train_dropout(shape, input, output, &mut st.ws, dropout, &mut rng)?;
                st.filled = Some(s.layers().len());
                Ok(())
            },
        )?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { state.write(rng.state()) };
        Ok(())
    })
}

/// Backward through every layer of the stack, from `dy` (and `dh_n`, `dc_n` `[L*D, N, H]`;
/// zeros when NULL): writes the gradients `dx`, `dh0`, `dc0` that are given (NULL: not
/// wanted), and writes (`FRNN_GRAD_MODE_OVERWRITE`) or adds (`FRNN_GRAD_MODE_ACCUMULATE`) the
/// weight gradients into `grads`, an array of `grads_count = L*D` gradient sets in the
/// stack's order (`dW_ih`, `dW_hh`, `db_ih`, `db_hh` of each layer-direction, lengths as
/// `frnn_stack_desc_weight_lens`). The shape is that of the training forward that filled
/// `workspace`. `mode` is a `frnn_grad_mode` value.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_WORKSPACE` (not filled by this stack's
/// training forward, or the weights changed since), `FRNN_STATUS_LENGTH_MISMATCH` (the
/// message names the buffer, e.g. `grads[1].dW_hh`), `FRNN_STATUS_UNEXPECTED_ARGUMENT`,
/// `FRNN_STATUS_INVALID_VALUE` (bad `mode`, misaligned or overlapping buffers). No output is
/// written on error.
///
/// # Safety
///
/// `stack`, `workspace` are NULL or live handles; `grads` is NULL or points to
/// `grads_count` readable `frnn_weights_mut`; each buffer pointer is NULL or points to its
/// length in `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_backward(
    stack: *const frnn_stack,
    workspace: *mut frnn_stack_workspace,
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
    grads_count: usize,
    mode: u32,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("grads", grads, grads_count) }?;
        let g = grad_bufs(
            dy, dy_len, dh_n, dh_n_len, dc_n, dc_n_len, dx, dx_len, dh0, dh0_len, dc0, dc0_len,
        );
        let outs: Vec<Dst> = (views.iter().enumerate())
            .flat_map(|(k, w)| w.dsts("grads", k, GRAD_NAMES))
            .collect();
        // SAFETY: the caller's contract (see # Safety).
        let (req_in, opt_in, mut outs, opt_out) = unsafe { borrow_vec(&g.req_in, &g.opt_in, &outs, &g.opt_out) }?;
        let mode = grad_mode(mode)?;
        let count = views.len();
        let mut opt_out = opt_out.into_iter();
        let mut next = || opt_out.next().flatten();
        let grad_out = GradOutput {
            dy: req_in[0],
            dh_n: opt_in[0],
            dc_n: opt_in[1],
        };
        let grad_in = GradInput {
            dx: next(),
            dh0: next(),
            dc0: next(),
        };
        stack.run_locked(
            || ws.lock(),
            |s, st| {
                let n = s.layers().len();
                check_len("grads (layers x directions)", n, count)?;
                for (k, o) in outs.chunks_exact(4).enumerate() {
                    let got = std::array::from_fn(|j| Some(o[j].len()));
                    check_weight_lens("grads", k, GRAD_NAMES, weight_lens(s.desc(), k)?, got)?;
                }
                match st.filled {
                    Some(m) if m == n => {}
                    Some(_) => {
                        return Err(Error::Workspace {
                            reason: "filled by another stack",
                        }
                        .into())
                    }
                    None => {
                        return Err(Error::Workspace {
                            reason: "not filled by frnn_stack_forward_train",
                        }
                        .into())
                    }
                }
                let fits = st.grads.len() == n && st.grads.iter().zip(s.layers()).all(|(g, l)| g.desc() == l.desc());
                if !fits {
                    st.grads = s.layers().iter().map(|l| Weights::zeros(l.desc())).collect();
                }
                if mode == GradMode::Accumulate {
                    for (g, o) in st.grads.iter_mut().zip(outs.chunks_exact(4)) {
                        for (g, o) in g.buffers_mut().into_iter().zip(o) {
                            g.copy_from_slice(o);
                        }
                    }
                }
                s.backward(&mut st.ws, grad_out, grad_in, &mut st.grads, mode)?;
                for (g, o) in st.grads.iter().zip(outs.chunks_exact_mut(4)) {
                    for (g, o) in g.buffers().into_iter().zip(o) {
                        o.copy_from_slice(g);
                    }
                }
                Ok(())
            },
        )
    })
}
