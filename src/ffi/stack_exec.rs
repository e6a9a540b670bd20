//! The stack's training workspace and execute calls: inference, training forward, backward.
//!
//! Shapes (`W = 2H` for `FRNN_DIRECTION_BIDIRECTIONAL`, else `H`): `x`, `dx` are `[T, N, I]`
//! and `y`, `dy` are `[T, N, W]` (`[N, T, .]` when `batch_first`); every state and state
//! gradient is `[L*D, N, H]` in PyTorch's order. Optional buffers as for a layer.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::args::{grad_bufs, length_options, seq_bufs, OptsPtr, SeqBufs};
use super::buffers::{
    borrow_array, frnn_dropout, frnn_extra_weights_mut, frnn_forward_options, frnn_forward_options_ex, frnn_weights_mut,
};
use super::desc::grad_mode;
use super::handles::{borrow_handle, free_handle, into_handle, write_all, Out};
use super::slices::{borrow, borrow_vec, Dst};
use super::stack::{elem, frnn_stack, per_layer_opt};
use super::status::{frnn_status, guard, guard_value, FfiError};
use super::weight_sets::{check_set, opt_struct, present, set_dsts, At, GRAD_NAMES7};
use crate::api::{Dropout, GradInput, GradMode, GradOutput, SeqInput, StackWorkspace};
use crate::desc::SeqShape;
use crate::error::{check_len, mul, Error};
use crate::rng::SplitMix64;
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
    let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
    let opts = length_options(lengths, lengths_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe { infer(stack, steps, batch, OptsPtr::Plain(&opts), bufs) }
}

/// `frnn_stack_forward` with per-call options (`opts`, NULL: none; see
/// `frnn_forward_options_ex`), the stack's counterpart of `frnn_layer_forward_opts_ex`: the
/// `lengths` as in `frnn_stack_forward_lengths`. Inference takes no dropout masks (nor does
/// any stack call: a stack draws its own in `frnn_stack_forward_train_dropout_ex`).
///
/// Errors: as `frnn_stack_forward_lengths`; `FRNN_STATUS_INVALID_VALUE` (a
/// `recurrent_mask` or `input_mask` given, a bad `opts->struct_size`, or options past this
/// version's struct set).
///
/// # Safety
///
/// As `frnn_stack_forward`; `opts` is NULL or points to a `frnn_forward_options_ex` whose
/// first `struct_size` bytes are readable and whose pointers are NULL or point to their
/// lengths in readable elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward_opts(
    stack: *const frnn_stack,
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
    unsafe { infer(stack, steps, batch, OptsPtr::Ex(opts), bufs) }
}

/// The body of the stack's inference calls.
///
/// # Safety
///
/// As `frnn_stack_forward_opts`, for either options struct.
unsafe fn infer(stack: *const frnn_stack, steps: usize, batch: usize, opts: OptsPtr, bufs: SeqBufs) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety).
        let (input, output) = unsafe { bufs.borrow(opts) }?;
        refuse_masks(&input)?;
        stack.run(|s| s.forward(SeqShape::new(steps, batch), input, output))
    })
}

/// A stack draws its own dropout masks: it refuses the layers' mask options.
fn refuse_masks(input: &SeqInput<'_>) -> Result<(), FfiError> {
    if input.recurrent_mask.is_some() {
        return Err(Error::InvalidValue {
            what: "opts.recurrent_mask",
            why: "a stack draws its own masks (recurrent_dropout of frnn_stack_forward_train_dropout)",
        }
        .into());
    }
    if input.input_mask.is_some() {
        return Err(Error::InvalidValue {
            what: "opts.input_mask",
            why: "a stack draws its own masks (frnn_dropout.input of frnn_stack_forward_train_dropout_ex)",
        }
        .into());
    }
    Ok(())
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
    let bufs = seq_bufs(x, x_len, h0, h0_len, c0, c0_len, y, y_len, h_n, h_n_len, c_n, c_n_len);
    let opts = length_options(lengths, lengths_len);
    // SAFETY: the caller's contract (see # Safety).
    unsafe {
        train(
            stack,
            workspace,
            steps,
            batch,
            OptsPtr::Plain(&opts),
            bufs,
            DropoutArg::Off,
        )
    }
}

/// The body of the stack's training forwards: `dropout` (probabilities and seed) or none.
///
/// # Safety
///
/// As `frnn_stack_forward_train_dropout_ex`, for either options struct.
unsafe fn train(
    stack: *const frnn_stack,
    workspace: *mut frnn_stack_workspace,
    steps: usize,
    batch: usize,
    opts: OptsPtr,
    bufs: SeqBufs,
    dropout: DropoutArg,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let dropout = unsafe { dropout.read() }?;
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let (input, output) = unsafe { bufs.borrow(opts) }?;
        refuse_masks(&input)?;
        // Refused before the workspace is touched.
        if let Some((d, _)) = dropout {
            d.check()?;
        }
        let shape = SeqShape::new(steps, batch);
        stack.run_locked(
            || ws.lock(),
            |s, st| {
                st.filled = None;
                match dropout {
                    Some((d, seed)) => {
                        s.forward_train_dropout(shape, input, output, &mut st.ws, d, &mut SplitMix64::new(seed))?
                    }
                    None => s.forward_train(shape, input, output, &mut st.ws)?,
                }
                st.filled = Some(s.layers().len());
                Ok(())
            },
        )
    })
}

/// `frnn_stack_forward_train` with dropout (and per-call options `opts`, NULL: none; only
/// `lengths` apply, as in `frnn_stack_forward_train_lengths`: a stack refuses a
/// `recurrent_mask`, it draws its own). Between layers (PyTorch's `dropout`): every element of
/// each layer's output but the last layer's is zeroed with probability `dropout` and the
/// others scaled by `1/(1-dropout)` before the next layer reads it. Recurrent (variational):
/// each layer-direction's hidden state is masked with probability `recurrent_dropout` where it
/// enters the recurrent products, with one `[N, H]` (`[N, P]`) mask per call and
/// layer-direction (see `frnn_forward_options.recurrent_mask`). Both in `[0, 1)`, 0: off.
///
/// The masks are drawn from a SplitMix64 generator seeded with `seed`, layer by layer (the
/// layer's recurrent masks, direction by direction, then its output mask, time-major), so
/// `seed` fixes them whatever the thread count, and they equal what the Rust API's
/// `Stack::forward_train_dropout` draws with `SplitMix64::new(seed)`. They are kept in
/// `workspace` for `frnn_stack_backward` and can be read back with
/// `frnn_stack_workspace_get_mask`. Inference (`frnn_stack_forward`) never drops.
///
/// Errors: as `frnn_stack_forward_train_lengths`; `FRNN_STATUS_INVALID_VALUE` (a probability
/// outside `[0, 1)`, or `opts.recurrent_mask` given).
///
/// # Safety
///
/// As `frnn_stack_forward_train`; `opts` is NULL or points to a readable
/// `frnn_forward_options` whose pointers are NULL or point to their lengths in readable
/// elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward_train_dropout(
    stack: *const frnn_stack,
    workspace: *mut frnn_stack_workspace,
    steps: usize,
    batch: usize,
    opts: *const frnn_forward_options,
    dropout: f32,
    recurrent_dropout: f32,
    seed: u64,
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
    let d = Dropout {
        between_layers: dropout,
        recurrent: recurrent_dropout,
        input: 0.0,
    };
    // SAFETY: the caller's contract (see # Safety).
    unsafe {
        train(
            stack,
            workspace,
            steps,
            batch,
            OptsPtr::Plain(opts),
            bufs,
            DropoutArg::Probs(d, seed),
        )
    }
}

/// `frnn_stack_forward_train_dropout` with the size-versioned options
/// `frnn_forward_options_ex` (NULL: none; only `lengths` apply, a stack refuses the masks)
/// and the probabilities in `*dropout` (NULL: no dropout, as `frnn_stack_forward_train`),
/// input dropout included: each layer-direction's input is multiplied at every step by one
/// `[N, I_l]` mask per call (Keras `dropout`; see `frnn_dropout.input`).
///
/// The masks are drawn from a SplitMix64 generator seeded with `seed`, layer by layer: the
/// layer's recurrent masks (direction by direction), then its input masks (direction by
/// direction), then its output mask (time-major); a kind with probability 0 draws nothing, so
/// with `input == 0` the masks are those `frnn_stack_forward_train_dropout` draws. They equal
/// what the Rust API's `Stack::forward_train_dropout` draws with `SplitMix64::new(seed)`, are
/// kept in `workspace` for `frnn_stack_backward` and can be read back with
/// `frnn_stack_workspace_get_mask` (`FRNN_MASK_KIND_INPUT` for the input masks).
///
/// Errors: as `frnn_stack_forward_train_dropout`; `FRNN_STATUS_INVALID_VALUE` (a probability
/// outside `[0, 1)`, a mask in `opts`, a bad `opts->struct_size`, or options past this
/// version's struct set), before the workspace is touched.
///
/// # Safety
///
/// As `frnn_stack_forward_train`; `opts` as in `frnn_stack_forward_opts`; `dropout` is NULL
/// or points to a readable `frnn_dropout`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_forward_train_dropout_ex(
    stack: *const frnn_stack,
    workspace: *mut frnn_stack_workspace,
    steps: usize,
    batch: usize,
    opts: *const frnn_forward_options_ex,
    dropout: *const frnn_dropout,
    seed: u64,
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
    let d = DropoutArg::Ptr(dropout, seed);
    // SAFETY: the caller's contract (see # Safety).
    unsafe { train(stack, workspace, steps, batch, OptsPtr::Ex(opts), bufs, d) }
}

/// The dropout argument of a stack's training forward.
#[derive(Clone, Copy)]
enum DropoutArg {
    /// No dropout.
    Off,
    /// These probabilities, masks drawn from this seed.
    Probs(Dropout, u64),
    /// The caller's `frnn_dropout` (NULL: no dropout), masks drawn from this seed.
    Ptr(*const frnn_dropout, u64),
}

impl DropoutArg {
    /// The probabilities and seed, or none.
    ///
    /// # Safety
    ///
    /// A `Ptr` is NULL or points to a readable `frnn_dropout`.
    unsafe fn read(self) -> Result<Option<(Dropout, u64)>, FfiError> {
        Ok(match self {
            DropoutArg::Off => None,
            DropoutArg::Probs(d, seed) => Some((d, seed)),
            // SAFETY: the caller's contract.
            DropoutArg::Ptr(p, seed) => unsafe { opt_struct("dropout", p) }?.map(|d| {
                let d = Dropout {
                    between_layers: d.between_layers,
                    recurrent: d.recurrent,
                    input: d.input,
                };
                (d, seed)
            }),
        })
    }
}

/// Which dropout masks `frnn_stack_workspace_get_mask` reads (its `kind` argument).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum frnn_mask_kind {
    /// The inter-layer masks: one per layer but the last (index `l` in `0..L-1`), shaped like
    /// that layer's time-major output `[T, N, W]` (whatever `batch_first`).
    BetweenLayers = 0,
    /// The recurrent masks: one `[N, H]` (`[N, P]` with a projection) per layer-direction
    /// (index `k = l * D + d` in `0..L*D`).
    Recurrent = 1,
    /// The input masks (`frnn_dropout.input`): one `[N, I_l]` per layer-direction (index
    /// `k = l * D + d`; `I_l` is the stack's input size for layer 0, its output width `W`
    /// above).
    Input = 2,
}

/// Writes to `*out_count` how many masks of `kind` (a `frnn_mask_kind` value) the last
/// training forward into `workspace` drew, and to `*out_len` the length of each (0 and 0
/// when it drew none: no dropout of that kind, a forward without dropout, or none yet).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (bad `kind`).
///
/// # Safety
///
/// `workspace` is NULL or a live stack workspace handle; `out_count` and `out_len` are NULL
/// or point to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_workspace_mask_count(
    workspace: *const frnn_stack_workspace,
    kind: u32,
    out_count: *mut usize,
    out_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        let outs = [Out::new("out_count", out_count)?, Out::new("out_len", out_len)?];
        let st = ws.lock();
        let masks = masks_of(&st.ws, kind)?;
        let vals = [masks.len(), masks.first().map_or(0, Vec::len)];
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_all(outs, vals) };
        Ok(())
    })
}

/// Copies mask `index` of `kind` (a `frnn_mask_kind` value) that the last training forward
/// into `workspace` drew into `out` (`out_len` elements, as `frnn_stack_workspace_mask_count`
/// tells): each element 0 or `1/(1-p)`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (bad `kind`, `index` not
/// below the count, misaligned `out`), `FRNN_STATUS_LENGTH_MISMATCH`. Nothing is written on
/// error.
///
/// # Safety
///
/// `workspace` is NULL or a live stack workspace handle; `out` is NULL or points to `out_len`
/// writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_workspace_get_mask(
    workspace: *const frnn_stack_workspace,
    kind: u32,
    index: usize,
    out: *mut f32,
    out_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let ([], [], [out], []) = unsafe { borrow([], [], [Dst::new("out", out, out_len)], []) }?;
        let st = ws.lock();
        let m = masks_of(&st.ws, kind)?.get(index).ok_or(Error::InvalidValue {
            what: "index",
            why: "not below the number of masks drawn (frnn_stack_workspace_mask_count)",
        })?;
        check_len("out", m.len(), out.len())?;
        out.copy_from_slice(m);
        Ok(())
    })
}

/// The masks of `kind` kept in `ws`.
fn masks_of(ws: &StackWorkspace, kind: u32) -> Result<&[Vec<f32>], FfiError> {
    match kind {
        k if k == frnn_mask_kind::BetweenLayers as u32 => Ok(ws.dropout_masks()),
        k if k == frnn_mask_kind::Recurrent as u32 => Ok(ws.recurrent_masks()),
        k if k == frnn_mask_kind::Input as u32 => Ok(ws.input_masks()),
        _ => Err(Error::InvalidValue {
            what: "kind",
            why: "not a frnn_mask_kind value",
        }
        .into()),
    }
}

/// Backward through every layer of the stack, from `dy` (and `dh_n`, `dc_n` `[L*D, N, H]`;
/// zeros when NULL): writes the gradients `dx`, `dh0`, `dc0` that are given (NULL: not
/// wanted), and writes (`FRNN_GRAD_MODE_OVERWRITE`) or adds (`FRNN_GRAD_MODE_ACCUMULATE`) the
/// weight gradients into `grads`, an array of `grads_count = L*D` gradient sets in the
/// stack's order (`dW_ih`, `dW_hh`, `db_ih`, `db_hh` of each layer-direction, lengths as
/// `frnn_stack_desc_weight_lens`). The shape is that of the training forward that filled
/// `workspace`, and backward goes through the dropout masks it drew. `mode` is a
/// `frnn_grad_mode` value. Stacks with extra weights need `frnn_stack_backward_ex`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_WORKSPACE` (not filled by this stack's
/// training forward, or the weights changed since), `FRNN_STATUS_LENGTH_MISMATCH` (the
/// message names the buffer, e.g. `grads[1].dW_hh`), `FRNN_STATUS_UNEXPECTED_ARGUMENT`,
/// `FRNN_STATUS_MISSING_ARGUMENT` (the layers have extra weights),
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
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe {
        frnn_stack_backward_ex(
            stack,
            workspace,
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
            grads,
            grads_count,
            std::ptr::null(),
            0,
            mode,
        )
    }
}

/// `frnn_stack_backward` with the gradients of the extra weights too: `extra_grads` is an
/// array of `extra_grads_count = L*D` `frnn_extra_weights_mut` in the order of `grads`
/// (`dW_hr` `[P, H]`, `dpeepholes` `[3H]`, `dlayer_norm` `[18H]` / `[12H]` of each
/// layer-direction, laid out as `frnn_extra_weights`), or NULL with 0 for a stack without
/// extra weights. Every gradient of a buffer the layers have is required, and only those.
///
/// Errors: as `frnn_stack_backward`; `FRNN_STATUS_LENGTH_MISMATCH` also when
/// `extra_grads_count` is neither 0 nor `L*D`; `FRNN_STATUS_MISSING_ARGUMENT` (a required
/// gradient is absent), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (one the layers do not have is
/// given). Messages name the buffer (`extra_grads[1].dW_hr`).
///
/// # Safety
///
/// As `frnn_stack_backward`; `extra_grads` is NULL or points to `extra_grads_count` readable
/// `frnn_extra_weights_mut` whose buffers are NULL or point to their lengths in writable
/// `float`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_stack_backward_ex(
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
    extra_grads: *const frnn_extra_weights_mut,
    extra_grads_count: usize,
    mode: u32,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("grads", grads, grads_count) }?;
        // SAFETY: the caller's contract (see # Safety).
        let extras = unsafe { per_layer_opt("extra_grads", extra_grads, extra_grads_count, views.len()) }?;
        let g = grad_bufs(
            dy, dy_len, dh_n, dh_n_len, dc_n, dc_n_len, dx, dx_len, dh0, dh0_len, dc0, dc0_len,
        );
        let (mut main, mut opt) = (Vec::new(), g.opt_out.to_vec());
        for (k, w) in views.iter().enumerate() {
            let [d0, d1, d2, d3, d4, d5, d6] = set_dsts(at(k), &GRAD_NAMES7, Some(w), extras.get(k));
            main.extend([d0, d1, d2, d3]);
            opt.extend([d4, d5, d6]);
        }
        // SAFETY: the caller's contract (see # Safety).
        let (req_in, opt_in, main, opt) = unsafe { borrow_vec(&g.req_in, &g.opt_in, &main, &opt) }?;
        let mode = grad_mode(mode)?;
        let count = views.len();
        let mut opt = opt.into_iter();
        let mut next = || opt.next().flatten();
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
        let extra: Vec<Option<&mut [f32]>> = opt.collect();
        stack.run_locked(
            || ws.lock(),
            |s, st| {
                let n = s.layers().len();
                check_len("grads (layers x directions)", n, count)?;
                // Every set's seven buffers, checked, then those the layer has.
                let mut outs: Vec<Vec<&mut [f32]>> = Vec::with_capacity(n);
                let (mut main, mut extra) = (main.into_iter(), extra.into_iter());
                for (k, l) in s.layers().iter().enumerate() {
                    let set: Vec<Option<&mut [f32]>> =
                        main.by_ref().take(4).map(Some).chain(extra.by_ref().take(3)).collect();
                    let got = std::array::from_fn(|j| set[j].as_deref().map(<[f32]>::len));
                    check_set(l.desc(), at(k), &GRAD_NAMES7, got, &[0, 1, 2, 3, 4, 5, 6])?;
                    outs.push(present(l.desc(), set).into_iter().flatten().collect());
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
                    for (g, o) in st.grads.iter_mut().zip(&outs) {
                        for (g, o) in g.all_buffers_mut().into_iter().zip(o) {
                            g.copy_from_slice(o);
                        }
                    }
                }
                s.backward(&mut st.ws, grad_out, grad_in, &mut st.grads, mode)?;
                for (g, o) in st.grads.iter().zip(outs) {
                    for (g, o) in g.all_buffers().into_iter().zip(o) {
                        o.copy_from_slice(g);
                    }
                }
                Ok(())
            },
        )
    })
}

/// Where layer-direction `k`'s gradient buffers come from.
fn at(k: usize) -> At {
    elem("grads", "extra_grads", k)
}
