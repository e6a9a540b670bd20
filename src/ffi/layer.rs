//! The layer handle: creation, weights, thread count, workspace size.

use super::buffers::{
    frnn_buffer, frnn_const_buffer, frnn_extra_weights, frnn_extra_weights_mut, frnn_weights, frnn_weights_mut,
};
use super::desc::frnn_layer_desc;
use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::shared::Shared;
use super::slices::borrow;
use super::status::{frnn_status, guard, guard_value, FfiError};
use super::weight_sets::{check_set, copy_set_out, opt_struct, present, read_set, set_dsts, At, WEIGHT_NAMES7};
use super::workspace::{frnn_workspace, WorkspaceState};
use crate::api::Layer;
use crate::desc::{LayerDesc, SeqShape};
use crate::weights::Weights;

/// One recurrent layer (one direction) with its weights and, optionally, its own threads.
/// Opaque; create with `frnn_layer_create`, free with `frnn_layer_destroy`.
pub struct frnn_layer {
    inner: Shared<Layer>,
}

impl std::ops::Deref for frnn_layer {
    type Target = Shared<Layer>;
    fn deref(&self) -> &Shared<Layer> {
        &self.inner
    }
}

impl frnn_layer {
    fn new(layer: Layer) -> Self {
        Self {
            inner: Shared::new(layer),
        }
    }

    /// `f` on the layer and a workspace, on the layer's threads.
    pub(crate) fn run_with_ws<R: Send>(
        &self,
        ws: &frnn_workspace,
        f: impl FnOnce(&Layer, &mut WorkspaceState) -> Result<R, FfiError> + Send,
    ) -> Result<R, FfiError> {
        self.run_locked(|| ws.lock(), f)
    }
}

/// Weights for `desc` from the four checked buffers (copied).
pub(crate) fn weights_from(desc: &LayerDesc, [w_ih, w_hh, b_ih, b_hh]: [&[f32]; 4]) -> crate::Result<Weights> {
    Weights::new(desc, w_ih.to_vec(), w_hh.to_vec(), b_ih.to_vec(), b_hh.to_vec())
}

/// The four weight buffers of the plain calls as a struct.
#[allow(clippy::too_many_arguments)]
fn main_set(
    w_ih: *const f32,
    w_ih_len: usize,
    w_hh: *const f32,
    w_hh_len: usize,
    b_ih: *const f32,
    b_ih_len: usize,
    b_hh: *const f32,
    b_hh_len: usize,
) -> frnn_weights {
    let b = |data, len| frnn_const_buffer { data, len };
    frnn_weights {
        w_ih: b(w_ih, w_ih_len),
        w_hh: b(w_hh, w_hh_len),
        b_ih: b(b_ih, b_ih_len),
        b_hh: b(b_hh, b_hh_len),
    }
}

/// The four writable weight (or gradient) buffers of the plain calls as a struct.
#[allow(clippy::too_many_arguments)]
pub(crate) fn main_set_mut(
    w_ih: *mut f32,
    w_ih_len: usize,
    w_hh: *mut f32,
    w_hh_len: usize,
    b_ih: *mut f32,
    b_ih_len: usize,
    b_hh: *mut f32,
    b_hh_len: usize,
) -> frnn_weights_mut {
    let b = |data, len| frnn_buffer { data, len };
    frnn_weights_mut {
        w_ih: b(w_ih, w_ih_len),
        w_hh: b(w_hh, w_hh_len),
        b_ih: b(b_ih, b_ih_len),
        b_hh: b(b_hh, b_hh_len),
    }
}

/// Creates a layer described by `desc` with the given weights (PyTorch layout and gate order,
/// lengths as `frnn_desc_weight_lens`; the data is copied) and writes its handle to
/// `*out_layer`. A layer whose options call for extra buffers (`W_hr`, peepholes) needs
/// `frnn_layer_create_ex`; a layer-normalized one created here gets the identity
/// normalization.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE`, `FRNN_STATUS_ZERO_SIZE`,
/// `FRNN_STATUS_OVERFLOW` (as `frnn_desc_weight_lens`), `FRNN_STATUS_LENGTH_MISMATCH` (a
/// weight buffer does not match the descriptor), `FRNN_STATUS_MISSING_ARGUMENT` (the
/// descriptor has a projection or peepholes).
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; each weight pointer is NULL or
/// points to its length in readable `float`s; `out_layer` is NULL or points to a writable
/// `frnn_layer *`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_create(
    desc: *const frnn_layer_desc,
    w_ih: *const f32,
    w_ih_len: usize,
    w_hh: *const f32,
    w_hh_len: usize,
    b_ih: *const f32,
    b_ih_len: usize,
    b_hh: *const f32,
    b_hh_len: usize,
    out_layer: *mut *mut frnn_layer,
) -> frnn_status {
    let w = main_set(w_ih, w_ih_len, w_hh, w_hh_len, b_ih, b_ih_len, b_hh, b_hh_len);
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe { frnn_layer_create_ex(desc, &w, std::ptr::null(), out_layer) }
}

/// Creates a layer described by `desc` with the weights `*weights` (the four buffers every
/// layer has; see `frnn_weights`) and `*extra` (NULL: none; `W_hr`, peepholes, layer-norm
/// parameters as the options call for them; see `frnn_extra_weights`), copied, and writes its
/// handle to `*out_layer`. Lengths as `frnn_desc_weight_lens` and
/// `frnn_desc_extra_weight_lens`.
///
/// Errors: as `frnn_layer_create`; `FRNN_STATUS_MISSING_ARGUMENT` (`W_hr` or the peepholes
/// absent though the options need them), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (an extra buffer
/// the layer does not have). Messages name the buffer (`"W_hr: expected 12 elements, got
/// 11"`).
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; `weights` and `extra` are NULL
/// or point to a readable struct whose buffers are NULL or point to their lengths in readable
/// `float`s; `out_layer` is NULL or points to a writable `frnn_layer *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_create_ex(
    desc: *const frnn_layer_desc,
    weights: *const frnn_weights,
    extra: *const frnn_extra_weights,
    out_layer: *mut *mut frnn_layer,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let out = Out::new("out_layer", out_layer)?;
        // SAFETY: the caller's contract (see # Safety).
        let w = unsafe { read_set(&desc, weights, extra) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_layer::new(Layer::new(w)))) };
        Ok(())
    })
}

/// Creates a layer described by `desc` with weights drawn uniformly from
/// `[-1/sqrt(H), 1/sqrt(H)]` (PyTorch's initialisation) by a deterministic generator seeded
/// with `seed`, and writes its handle to `*out_layer`.
///
/// Errors: as `frnn_desc_weight_lens`.
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; `out_layer` is NULL or points
/// to a writable `frnn_layer *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_create_uniform(
    desc: *const frnn_layer_desc,
    seed: u64,
    out_layer: *mut *mut frnn_layer,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let out = Out::new("out_layer", out_layer)?;
        let layer = Layer::new(Weights::init_uniform(&desc, seed));
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_layer::new(layer))) };
        Ok(())
    })
}

/// Frees a layer (and its threads, if it has its own). NULL is a no-op. Workspaces it filled
/// stay valid handles (backward then refuses them).
///
/// # Safety
///
/// `layer` is NULL or a live layer handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_destroy(layer: *mut frnn_layer) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(layer) }
    })
}

/// Writes the layer's descriptor to `*out_desc` (fields that do not apply to the cell are 0).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; `out_desc` is NULL or points to a writable
/// `frnn_layer_desc`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_get_desc(layer: *const frnn_layer, out_desc: *mut frnn_layer_desc) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        let out = Out::new("out_desc", out_desc)?;
        let desc = layer.with(|l| Ok(frnn_layer_desc::from_desc(l.desc())))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(desc) };
        Ok(())
    })
}

/// Frees the inference scratch the layer keeps between `frnn_layer_forward*` calls (the
/// `[T, N, G*H]` input projection and two states, one set per concurrent caller up to four);
/// the next inference call allocates it again. May run while other threads use the layer.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_release_scratch(layer: *const frnn_layer) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        layer.with(|l| {
            l.release_scratch();
            Ok(())
        })?;
        Ok(())
    })
}

/// Copies the layer's weights into the buffers given; a NULL buffer (with length 0) is
/// skipped. Lengths as `frnn_desc_weight_lens`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_INVALID_VALUE` (misaligned or overlapping buffers). Nothing is written
/// unless every buffer is right.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; each buffer pointer is NULL or points to its
/// length in writable `float`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_get_weights(
    layer: *const frnn_layer,
    w_ih: *mut f32,
    w_ih_len: usize,
    w_hh: *mut f32,
    w_hh_len: usize,
    b_ih: *mut f32,
    b_ih_len: usize,
    b_hh: *mut f32,
    b_hh_len: usize,
) -> frnn_status {
    let w = main_set_mut(w_ih, w_ih_len, w_hh, w_hh_len, b_ih, b_ih_len, b_hh, b_hh_len);
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe { frnn_layer_get_weights_ex(layer, &w, std::ptr::null()) }
}

/// Copies the layer's weights into the buffers of `*weights` (NULL: none of the four) and
/// `*extra` (NULL: no extras; see `frnn_extra_weights_mut`); a NULL buffer (with length 0) is
/// skipped. Lengths as `frnn_desc_weight_lens` and `frnn_desc_extra_weight_lens`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_UNEXPECTED_ARGUMENT` (an extra buffer the layer does not have),
/// `FRNN_STATUS_INVALID_VALUE` (misaligned or overlapping buffers). Nothing is written
/// unless every buffer is right.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; `weights` and `extra` are NULL or point to a
/// readable struct whose buffers are NULL or point to their lengths in writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_get_weights_ex(
    layer: *const frnn_layer,
    weights: *const frnn_weights_mut,
    extra: *const frnn_extra_weights_mut,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { copy_weights_out(&layer.read().value, weights, extra) }
    })
}

/// The body of `frnn_layer_get_weights_ex` for any layer: copies its weights into the given
/// buffers of `*weights` and `*extra` (NULL: none of them), after checking every one.
///
/// # Safety
///
/// `weights` and `extra` are NULL or point to a readable struct whose buffers are NULL or
/// point to their lengths in writable `float`s.
pub(crate) unsafe fn copy_weights_out(
    layer: &Layer,
    weights: *const frnn_weights_mut,
    extra: *const frnn_extra_weights_mut,
) -> Result<(), FfiError> {
    // SAFETY: the caller's contract.
    let (w, e) = unsafe { (opt_struct("weights", weights)?, opt_struct("extra", extra)?) };
    let dsts = set_dsts(At::Args, &WEIGHT_NAMES7, w, e);
    // SAFETY: the caller's contract.
    let ([], [], [], outs) = unsafe { borrow([], [], [], dsts) }?;
    let d = layer.desc();
    check_set(
        d,
        At::Args,
        &WEIGHT_NAMES7,
        outs.each_ref().map(|o| o.as_deref().map(<[f32]>::len)),
        &[],
    )?;
    copy_set_out(layer.weights(), present(d, outs));
    Ok(())
}

/// Replaces the layer's weights (copied; lengths as `frnn_desc_weight_lens`). Workspaces
/// filled before no longer match the layer. Waits for calls running on the layer to finish.
/// A layer with a projection or peepholes needs `frnn_layer_set_weights_ex`; a
/// layer-normalized one gets the identity normalization.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_MISSING_ARGUMENT`, `FRNN_STATUS_INVALID_VALUE` (misaligned buffer). The
/// weights are unchanged on error.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; each weight pointer is NULL or points to its
/// length in readable `float`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_layer_set_weights(
    layer: *mut frnn_layer,
    w_ih: *const f32,
    w_ih_len: usize,
    w_hh: *const f32,
    w_hh_len: usize,
    b_ih: *const f32,
    b_ih_len: usize,
    b_hh: *const f32,
    b_hh_len: usize,
) -> frnn_status {
    let w = main_set(w_ih, w_ih_len, w_hh, w_hh_len, b_ih, b_ih_len, b_hh, b_hh_len);
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe { frnn_layer_set_weights_ex(layer, &w, std::ptr::null()) }
}

/// Replaces the layer's weights with `*weights` and `*extra` (NULL: none), as
/// `frnn_layer_create_ex` takes them (copied; an absent layer-norm buffer sets the identity).
/// Workspaces filled before no longer match the layer. Waits for calls running on the layer
/// to finish.
///
/// Errors: as `frnn_layer_create_ex` (but for the descriptor's). The weights are unchanged on
/// error.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; `weights` and `extra` as in
/// `frnn_layer_create_ex`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_set_weights_ex(
    layer: *mut frnn_layer,
    weights: *const frnn_weights,
    extra: *const frnn_extra_weights,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety). Shared access suffices: the layer is
        // replaced under its lock.
        let layer = unsafe { borrow_handle("layer", layer) }?;
        let desc = layer.with(|l| Ok(*l.desc()))?;
        // SAFETY: the caller's contract (see # Safety).
        let w = unsafe { read_set(&desc, weights, extra) }?;
        layer.write().value.set_weights(w)?;
        Ok(())
    })
}

/// Gives the layer its own pool of `num_threads` threads for every later call on it;
/// `num_threads == 0` makes it use the process-wide setting again (`frnn_set_num_threads`).
/// Waits for calls running on the layer to finish.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` above
/// `FRNN_MAX_THREADS`; `FRNN_STATUS_INTERNAL` if the threads cannot be started.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_set_num_threads(layer: *mut frnn_layer, num_threads: usize) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        layer.set_num_threads(num_threads)
    })
}

/// Writes to `*out_num_threads` the number of threads calls on this layer use.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` when the layer has no
/// thread count of its own and `FUSEDRNN_NUM_THREADS` is malformed.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; `out_num_threads` is NULL or points to a writable
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_get_num_threads(
    layer: *const frnn_layer,
    out_num_threads: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        let out = Out::new("out_num_threads", out_num_threads)?;
        let n = layer.num_threads()?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(n) };
        Ok(())
    })
}

/// Writes to `*out_elems` the size in `float` elements of the training workspace this layer
/// needs for `steps` (`T`) x `batch` (`N`). A training forward with an input-dropout mask
/// (`frnn_forward_options_ex.input_mask`) keeps `T*N*I + N*I` more (the masked input and
/// the mask).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE`, `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; `out_elems` is NULL or points to a writable
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_workspace_size(
    layer: *const frnn_layer,
    steps: usize,
    batch: usize,
    out_elems: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        let out = Out::new("out_elems", out_elems)?;
        let n = layer.with(|l| l.workspace_len(SeqShape::new(steps, batch)))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(n) };
        Ok(())
    })
}
