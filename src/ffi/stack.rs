//! The stack handle: creation, weights, thread count.

use super::buffers::{borrow_array, frnn_extra_weights, frnn_extra_weights_mut, frnn_weights, frnn_weights_mut};
use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::shared::Shared;
use super::slices::{borrow_vec, Dst};
use super::stack_desc::frnn_stack_desc;
use super::status::{frnn_status, guard, guard_value, FfiError, Name};
use super::weight_sets::{check_set, copy_set_out, present, set_dsts, set_srcs, weights_from_set, At, WEIGHT_NAMES7};
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

/// Where layer-direction `k`'s buffers come from: element `k` of the `weights` and `extra`
/// arrays (or of the `grads` and `extra_grads` arrays).
pub(crate) fn elem(main: &'static str, extra: &'static str, k: usize) -> At {
    At::Elem { main, extra, k }
}

/// An optional array argument of one element per layer-direction: NULL with 0 is "none"
/// (empty), anything else must have `count` elements.
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable `T`s.
pub(crate) unsafe fn per_layer_opt<'a, T>(
    what: &'static str,
    ptr: *const T,
    len: usize,
    count: usize,
) -> Result<&'a [T], FfiError> {
    // SAFETY: the caller's contract.
    let v = unsafe { borrow_array(what, ptr, len) }?;
    if !v.is_empty() {
        check_len(what, count, v.len())?;
    }
    Ok(v)
}

/// Reads `count` weight sets (one per layer-direction of `desc`, PyTorch's order) from the
/// caller's arrays `weights` and `extra` (NULL with 0: no extras), checking the counts,
/// every buffer and every length.
///
/// # Safety
///
/// `weights` is NULL or points to `count` readable `frnn_weights`, `extra` to `extra_count`
/// readable `frnn_extra_weights`, whose buffers are NULL or point to their lengths in readable
/// `float`s.
pub(crate) unsafe fn read_weights(
    desc: &StackDesc,
    weights: *const frnn_weights,
    count: usize,
    extra: *const frnn_extra_weights,
    extra_count: usize,
) -> Result<Vec<Weights>, FfiError> {
    // SAFETY: the caller's contract.
    let views = unsafe { borrow_array("weights", weights, count) }?;
    check_len("weights (layers x directions)", desc.layer_count(), views.len())?;
    // SAFETY: the caller's contract.
    let extras = unsafe { per_layer_opt("extra", extra, extra_count, views.len()) }?;
    let (mut main, mut opt) = (Vec::new(), Vec::new());
    for (k, w) in views.iter().enumerate() {
        let (m, o) = set_srcs(elem("weights", "extra", k), w, extras.get(k));
        main.extend(m);
        opt.extend(o);
    }
    // SAFETY: the caller's contract.
    let (main, opt, _, _) = unsafe { borrow_vec(&main, &opt, &[], &[]) }?;
    let mut out = Vec::with_capacity(views.len());
    for (k, (m, o)) in main.chunks_exact(4).zip(opt.chunks_exact(3)).enumerate() {
        let layer = desc.layer_desc(k / desc.direction().count())?;
        let at = elem("weights", "extra", k);
        out.push(weights_from_set(
            &layer,
            at,
            [m[0], m[1], m[2], m[3]],
            [o[0], o[1], o[2]],
        )?);
    }
    Ok(out)
}

/// Creates a stack described by `desc` with the given weights: `weights` is an array of
/// `weights_count = L*D` weight sets in PyTorch's order (`[l0, l0_reverse, l1, ...]`; see
/// `frnn_stack_desc`), each in PyTorch's layout with the lengths
/// `frnn_stack_desc_weight_lens` gives (the data is copied). Writes the handle to
/// `*out_stack`. Stacks whose options call for extra buffers (`W_hr`, peepholes) need
/// `frnn_stack_create_ex`; layer-normalized ones created here get the identity normalization.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE`, `FRNN_STATUS_ZERO_SIZE`,
/// `FRNN_STATUS_OVERFLOW` (as `frnn_stack_desc_sizes`), `FRNN_STATUS_LENGTH_MISMATCH`
/// (`weights_count` is not `L*D`, or a buffer's length is wrong; the message names it, e.g.
/// `weights[2].W_ih`), `FRNN_STATUS_MISSING_ARGUMENT` (the options need extra buffers).
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
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe { frnn_stack_create_ex(desc, weights, weights_count, std::ptr::null(), 0, out_stack) }
}

/// `frnn_stack_create` with extra weights: `extra` is an array of `extra_count = L*D`
/// `frnn_extra_weights` in the order of `weights` (`W_hr`, peepholes, layer-norm parameters
/// of each layer-direction as the options call for them; lengths as
/// `frnn_stack_desc_extra_weight_lens`), or NULL with `extra_count` 0 for none.
///
/// Errors: as `frnn_stack_create`; `FRNN_STATUS_LENGTH_MISMATCH` also when `extra_count` is
/// neither 0 nor `L*D`; `FRNN_STATUS_MISSING_ARGUMENT` (a required extra buffer is absent),
/// `FRNN_STATUS_UNEXPECTED_ARGUMENT` (an extra buffer the layers do not have). Messages name
/// the buffer (`extra[1].W_hr`).
///
/// # Safety
///
/// As `frnn_stack_create`; `extra` is NULL or points to `extra_count` readable
/// `frnn_extra_weights` whose buffers are NULL or point to their lengths in readable
/// `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_create_ex(
    desc: *const frnn_stack_desc,
    weights: *const frnn_weights,
    weights_count: usize,
    extra: *const frnn_extra_weights,
    extra_count: usize,
    out_stack: *mut *mut frnn_stack,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let out = Out::new("out_stack", out_stack)?;
        // SAFETY: the caller's contract (see # Safety).
        let w = unsafe { read_weights(&desc, weights, weights_count, extra, extra_count) }?;
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
        let count = stack.with(|s| Ok(s.layers().len()))?;
        check_len("weights (layers x directions)", count, views.len())?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { get_weights(stack, views, &[]) }
    })
}

/// `frnn_stack_get_weights` with the extra weights too: `weights` (NULL with
/// `weights_count` 0: none of the four buffers) and `extra` (NULL with `extra_count` 0: no
/// extras) are arrays of `L*D` elements in the stack's order; a NULL buffer (with length 0) is
/// skipped. Lengths as `frnn_stack_desc_weight_lens` and `frnn_stack_desc_extra_weight_lens`.
///
/// Errors: as `frnn_stack_get_weights`; `FRNN_STATUS_UNEXPECTED_ARGUMENT` (an extra buffer
/// the layers do not have). Nothing is written unless every buffer is right.
///
/// # Safety
///
/// As `frnn_stack_get_weights`; `extra` is NULL or points to `extra_count` readable
/// `frnn_extra_weights_mut` whose buffers are NULL or point to their lengths in writable
/// `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_get_weights_ex(
    stack: *const frnn_stack,
    weights: *const frnn_weights_mut,
    weights_count: usize,
    extra: *const frnn_extra_weights_mut,
    extra_count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let count = stack.with(|s| Ok(s.layers().len()))?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { per_layer_opt("weights", weights, weights_count, count) }?;
        // SAFETY: the caller's contract (see # Safety).
        let extras = unsafe { per_layer_opt("extra", extra, extra_count, count) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { get_weights(stack, views, extras) }
    })
}

/// Copies the stack's weights into the given sets (each array empty or one per
/// layer-direction, counts checked by the caller).
///
/// # Safety
///
/// Every buffer of the sets is NULL or points to its length in writable `float`s.
unsafe fn get_weights(
    stack: &frnn_stack,
    views: &[frnn_weights_mut],
    extras: &[frnn_extra_weights_mut],
) -> Result<(), FfiError> {
    let st = stack.read();
    let layers = st.value.layers();
    let dsts: Vec<Dst> = (0..layers.len())
        .flat_map(|k| set_dsts(elem("weights", "extra", k), &WEIGHT_NAMES7, views.get(k), extras.get(k)))
        .collect();
    // SAFETY: the caller's contract.
    let (_, _, _, outs) = unsafe { borrow_vec(&[], &[], &[], &dsts) }?;
    for (k, (o, l)) in outs.chunks_exact(7).zip(layers).enumerate() {
        let got = std::array::from_fn(|j| o[j].as_deref().map(<[f32]>::len));
        check_set(l.desc(), elem("weights", "extra", k), &WEIGHT_NAMES7, got, &[])?;
    }
    let mut outs = outs.into_iter();
    for l in layers {
        copy_set_out(l.weights(), present(l.desc(), outs.by_ref().take(7)));
    }
    Ok(())
}

/// Replaces the stack's weights with `weights` (as `frnn_stack_create` takes them; copied).
/// Workspaces filled before no longer match the stack. Waits for calls running on the stack
/// to finish.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_MISSING_ARGUMENT` (the layers have extra weights: use
/// `frnn_stack_set_weights_ex`), `FRNN_STATUS_INVALID_VALUE` (misaligned buffer). The
/// weights are unchanged on error.
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
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe { frnn_stack_set_weights_ex(stack, weights, weights_count, std::ptr::null(), 0) }
}

/// Replaces the stack's weights with `weights` and `extra` (as `frnn_stack_create_ex` takes
/// them; copied; an absent layer-norm buffer sets the identity). Workspaces filled before no
/// longer match the stack. Waits for calls running on the stack to finish.
///
/// Errors: as `frnn_stack_create_ex` (but for the descriptor's). The weights are unchanged on
/// error.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `weights` and `extra` as in
/// `frnn_stack_create_ex`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_set_weights_ex(
    stack: *mut frnn_stack,
    weights: *const frnn_weights,
    weights_count: usize,
    extra: *const frnn_extra_weights,
    extra_count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety). Shared access suffices: the weights
        // are replaced under the stack's lock.
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let desc = stack.with(|s| Ok(*s.desc()))?;
        // SAFETY: the caller's contract (see # Safety).
        let w = unsafe { read_weights(&desc, weights, weights_count, extra, extra_count) }?;
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
