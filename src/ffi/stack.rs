//! The stack handle: creation, weights, thread count.

use super::buffers::{borrow_array, frnn_weights, frnn_weights_mut, WEIGHT_NAMES};
use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::layer::weights_from;
use super::shared::Shared;
use super::slices::{borrow_vec, Dst, Src};
use super::stack_desc::frnn_stack_desc;
use super::status::{frnn_status, guard, guard_value, FfiError, Name};
use crate::api::{Stack, StackDesc};
use crate::error::check_len;
use crate::weights::Weights;

/// A stack of recurrent layers (PyTorch's `nn.LSTM/GRU/RNN` with `num_layers`,
/// `bidirectional`, `batch_first`) with its weights and, optionally, its own threads. The
/// two directions of a layer run in parallel. Opaque; create with `frnn_stack_create`, free
/// with `frnn_stack_destroy`.
pub struct frnn_stack {
    inner: Shared<Stack>,
}

impl std::ops::Deref for frnn_stack {
    type Target = Shared<Stack>;
    fn deref(&self) -> &Shared<Stack> {
        &self.inner
    }
}

impl frnn_stack {
    pub(crate) fn new(stack: Stack) -> Self {
        Self {
            inner: Shared::new(stack),
        }
    }
}

/// The expected length of each weight buffer of layer-direction `k` of `desc`.
pub(crate) fn weight_lens(desc: &StackDesc, k: usize) -> crate::Result<[usize; 4]> {
    let d = desc.layer_desc(k / desc.direction().count())?;
    let gh = d.gate_rows();
    Ok([gh * d.input_size(), gh * d.hidden_size(), gh, gh])
}

/// Checks the lengths of the buffers of element `k` of the array argument `array` (`None`:
/// a buffer left out).
pub(crate) fn check_weight_lens(
    array: &'static str,
    k: usize,
    names: [&'static str; 4],
    expected: [usize; 4],
    got: [Option<usize>; 4],
) -> Result<(), FfiError> {
    for ((what, expected), got) in names.into_iter().zip(expected).zip(got) {
        match got {
            Some(got) if got != expected => {
                return Err(FfiError::Length {
                    what: Name::at(array, k, what),
                    expected,
                    got,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads `count` weight sets (one per layer-direction of `desc`, PyTorch's order) from the
/// caller's array, checking the count, every buffer and every length.
///
/// # Safety
///
/// `weights` is NULL or points to `count` readable `frnn_weights`, whose buffers are NULL
/// or point to their lengths in readable `float`s.
pub(crate) unsafe fn read_weights(
    desc: &StackDesc,
    weights: *const frnn_weights,
    count: usize,
) -> Result<Vec<Weights>, FfiError> {
    // SAFETY: the caller's contract.
    let views = unsafe { borrow_array("weights", weights, count) }?;
    check_len("weights (layers x directions)", desc.layer_count(), views.len())?;
    let srcs: Vec<Src> = views
        .iter()
        .enumerate()
        .flat_map(|(k, w)| w.srcs("weights", k))
        .collect();
    // SAFETY: the caller's contract.
    let (bufs, _, _, _) = unsafe { borrow_vec(&srcs, &[], &[], &[]) }?;
    let mut out = Vec::with_capacity(views.len());
    for (k, b) in bufs.chunks_exact(4).enumerate() {
        let lens = weight_lens(desc, k)?;
        check_weight_lens(
            "weights",
            k,
            WEIGHT_NAMES,
            lens,
            std::array::from_fn(|j| Some(b[j].len())),
        )?;
        let layer = desc.layer_desc(k / desc.direction().count())?;
        out.push(weights_from(&layer, [b[0], b[1], b[2], b[3]])?);
    }
    Ok(out)
}

/// Creates a stack described by `desc` with the given weights: `weights` is an array of
/// `weights_count = L*D` weight sets in PyTorch's order (`[l0, l0_reverse, l1, ...]`; see
/// `frnn_stack_desc`), each in PyTorch's layout with the lengths
/// `frnn_stack_desc_weight_lens` gives (the data is copied). Writes the handle to
/// `*out_stack`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE`, `FRNN_STATUS_ZERO_SIZE`,
/// `FRNN_STATUS_OVERFLOW` (as `frnn_stack_desc_sizes`), `FRNN_STATUS_LENGTH_MISMATCH`
/// (`weights_count` is not `L*D`, or a buffer's length is wrong; the message names it, e.g.
/// `weights[2].W_ih`).
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_stack_desc`; `weights` is NULL or points to
/// `weights_count` readable `frnn_weights` whose buffers are NULL or point to their lengths
/// in readable `float`s; `out_stack` is NULL or points to a writable `frnn_stack *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_create(
    desc: *const frnn_stack_desc,
    weights: *const frnn_weights,
    weights_count: usize,
    out_stack: *mut *mut frnn_stack,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let out = Out::new("out_stack", out_stack)?;
        // SAFETY: the caller's contract (see # Safety).
        let w = unsafe { read_weights(&desc, weights, weights_count) }?;
        let stack = Stack::new(desc, w)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_stack::new(stack))) };
        Ok(())
    })
}

/// Creates a stack described by `desc` with PyTorch-style initial weights: layer-direction
/// `k` drawn uniformly from `[-1/sqrt(H), 1/sqrt(H)]` by a deterministic generator seeded
/// with `seed + k` (as `frnn_layer_create_uniform` with that seed). Writes the handle to
/// `*out_stack`.
///
/// Errors: as `frnn_stack_desc_sizes`.
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_stack_desc`; `out_stack` is NULL or points
/// to a writable `frnn_stack *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_create_uniform(
    desc: *const frnn_stack_desc,
    seed: u64,
    out_stack: *mut *mut frnn_stack,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let out = Out::new("out_stack", out_stack)?;
        let stack = Stack::init_uniform(desc, seed);
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_stack::new(stack))) };
        Ok(())
    })
}

/// Frees a stack (and its threads, if it has its own). NULL is a no-op.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_destroy(stack: *mut frnn_stack) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(stack) }
    })
}

/// Writes the stack's descriptor to `*out_desc` (fields that do not apply to the cell are 0).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `out_desc` is NULL or points to a writable
/// `frnn_stack_desc`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_get_desc(stack: *const frnn_stack, out_desc: *mut frnn_stack_desc) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let out = Out::new("out_desc", out_desc)?;
        let desc = stack.with(|s| Ok(frnn_stack_desc::from_desc(s.desc())))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(desc) };
        Ok(())
    })
}

/// Copies the stack's weights into the buffers of `weights`, an array of `weights_count =
/// L*D` weight sets in PyTorch's order; a NULL buffer (with length 0) is skipped. Lengths as
/// `frnn_stack_desc_weight_lens`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH` (the count or a
/// buffer's length; the message names it), `FRNN_STATUS_INVALID_VALUE` (misaligned or
/// overlapping buffers). Nothing is written unless every buffer is right.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `weights` is NULL or points to `weights_count`
/// readable `frnn_weights_mut` whose buffers are NULL or point to their lengths in writable
/// `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_get_weights(
    stack: *const frnn_stack,
    weights: *const frnn_weights_mut,
    weights_count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("weights", weights, weights_count) }?;
        let dsts: Vec<Dst> = (views.iter().enumerate())
            .flat_map(|(k, w)| w.dsts("weights", k, WEIGHT_NAMES))
            .collect();
        // SAFETY: the caller's contract (see # Safety).
        let (_, _, _, mut outs) = unsafe { borrow_vec(&[], &[], &[], &dsts) }?;
        let st = stack.read();
        let s = &st.value;
        check_len("weights (layers x directions)", s.layers().len(), views.len())?;
        for (k, o) in outs.chunks_exact(4).enumerate() {
            let got = std::array::from_fn(|j| o[j].as_deref().map(<[f32]>::len));
            check_weight_lens("weights", k, WEIGHT_NAMES, weight_lens(s.desc(), k)?, got)?;
        }
        for (layer, o) in s.layers().iter().zip(outs.chunks_exact_mut(4)) {
            for (out, src) in o.iter_mut().zip(layer.weights().buffers()) {
                if let Some(out) = out {
                    out.copy_from_slice(src);
                }
            }
        }
        Ok(())
    })
}

/// Replaces the stack's weights with `weights` (as `frnn_stack_create` takes them; copied).
/// Workspaces filled before no longer match the stack. Waits for calls running on the stack
/// to finish.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_INVALID_VALUE` (misaligned buffer). The weights are unchanged on error.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `weights` as in `frnn_stack_create`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_set_weights(
    stack: *mut frnn_stack,
    weights: *const frnn_weights,
    weights_count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety). Shared access suffices: the weights
        // are replaced under the stack's lock.
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let desc = stack.with(|s| Ok(*s.desc()))?;
        // SAFETY: the caller's contract (see # Safety).
        let w = unsafe { read_weights(&desc, weights, weights_count) }?;
        let mut st = stack.write();
        for (layer, w) in st.value.layers_mut().iter_mut().zip(w) {
            layer.set_weights(w)?; // cannot fail: `w` was made for this layer's descriptor
        }
        Ok(())
    })
}

/// Gives the stack its own pool of `num_threads` threads for every later call on it;
/// `num_threads == 0` makes it use the process-wide setting again (`frnn_set_num_threads`).
/// Waits for calls running on the stack to finish.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` above
/// `FRNN_MAX_THREADS`; `FRNN_STATUS_INTERNAL` if the threads cannot be started.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_set_num_threads(stack: *mut frnn_stack, num_threads: usize) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        stack.set_num_threads(num_threads)
    })
}

/// Writes to `*out_num_threads` the number of threads calls on this stack use.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` when the stack has no
/// thread count of its own and `FUSEDRNN_NUM_THREADS` is malformed.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `out_num_threads` is NULL or points to a writable
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_get_num_threads(
    stack: *const frnn_stack,
    out_num_threads: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let out = Out::new("out_num_threads", out_num_threads)?;
        let n = stack.num_threads()?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(n) };
        Ok(())
    })
}
