//! The weights and gradients of an `frnn_seq2vec`: its sizes, each layer's descriptor and
//! weights (in the layout of the layer calls), the head's `W` and `b` (to save and restore
//! a model), and its gradient buffers as one list (to read, clip or replace them before
//! `frnn_seq2vec_apply`).

use super::buffers::{borrow_array, frnn_buffer, frnn_const_buffer};
use super::buffers::{frnn_extra_weights, frnn_extra_weights_mut, frnn_weights, frnn_weights_mut};
use super::dense::{read_wb, write_wb};
use super::desc::frnn_layer_desc;
use super::handles::{borrow_handle, write_all, Out};
use super::layer::copy_weights_out;
use super::seq2vec::{buffer_lens, frnn_seq2vec};
use super::slices::{borrow_vec, Dst, Src};
use super::status::{frnn_status, guard, FfiError, Name};
use super::weight_sets::read_set;
use crate::api::Layer;
use crate::error::{check_len, Error};
use crate::train::Seq2Vec;

/// Layer `index` of `m` (bottom first), refusing an index past the number of layers.
fn layer_at(m: &Seq2Vec, index: usize) -> crate::Result<&Layer> {
    m.stack().layers().get(index).ok_or(Error::InvalidValue {
        what: "index",
        why: "not below the number of layers",
    })
}

/// Checks the caller's list of gradient buffers (`got`, in order) against the model's.
fn check_grad_lens(want: &[usize], got: &[usize]) -> Result<(), FfiError> {
    check_len("grads (one per buffer of the model)", want.len(), got.len())?;
    for (k, (&expected, &got)) in want.iter().zip(got).enumerate() {
        if expected != got {
            return Err(FfiError::Length {
                what: Name::at("grads", k, ""),
                expected,
                got,
            });
        }
    }
    Ok(())
}

/// Writes the input size `I` to `*out_input_size`, the number of layers to
/// `*out_num_layers` and the number of outputs per sequence to `*out_outputs`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `model` is NULL or a live model handle; each out-pointer is NULL or points to a writable
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_get_sizes(
    model: *const frnn_seq2vec,
    out_input_size: *mut usize,
    out_num_layers: *mut usize,
    out_outputs: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        let outs = [
            Out::new("out_input_size", out_input_size)?,
            Out::new("out_num_layers", out_num_layers)?,
            Out::new("out_outputs", out_outputs)?,
        ];
        let v = model.with(|m| Ok([m.stack().input_size(), m.stack().layers().len(), m.outputs()]))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_all(outs, v) };
        Ok(())
    })
}

/// Writes the descriptor of layer `index` (bottom first) to `*out_desc`: its cell, sizes and
/// options, from which `frnn_desc_weight_lens` and `frnn_desc_extra_weight_lens` give its
/// weight lengths.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (`index` not below the
/// number of layers).
///
/// # Safety
///
/// `model` is NULL or a live model handle; `out_desc` is NULL or points to a writable
/// `frnn_layer_desc`.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_get_layer_desc(
    model: *const frnn_seq2vec,
    index: usize,
    out_desc: *mut frnn_layer_desc,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        let out = Out::new("out_desc", out_desc)?;
        let d = model.with(|m| Ok(frnn_layer_desc::from_desc(layer_at(m, index)?.desc())))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(d) };
        Ok(())
    })
}

/// Copies the weights of layer `index` into the buffers of `*weights` and `*extra`, as
/// `frnn_layer_get_weights_ex` does for a layer.
///
/// Errors: as `frnn_layer_get_weights_ex`; `FRNN_STATUS_INVALID_VALUE` (`index` not below
/// the number of layers). Nothing is written unless every buffer is right.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `weights` and `extra` as in
/// `frnn_layer_get_weights_ex`.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_get_layer_weights(
    model: *const frnn_seq2vec,
    index: usize,
    weights: *const frnn_weights_mut,
    extra: *const frnn_extra_weights_mut,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        let st = model.read();
        let layer = layer_at(&st.value, index)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { copy_weights_out(layer, weights, extra) }
    })
}

/// Replaces the weights of layer `index` with `*weights` and `*extra` (NULL: none), as
/// `frnn_layer_set_weights_ex` takes them (copied). The gradients the model holds are kept.
/// Waits for calls running on the model to finish.
///
/// Errors: as `frnn_layer_set_weights_ex`; `FRNN_STATUS_INVALID_VALUE` (`index` not below
/// the number of layers). The weights are unchanged on error.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `weights` and `extra` as in
/// `frnn_layer_create_ex`.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_set_layer_weights(
    model: *mut frnn_seq2vec,
    index: usize,
    weights: *const frnn_weights,
    extra: *const frnn_extra_weights,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the model is locked.
        let model = unsafe { borrow_handle("model", model) }?;
        let desc = model.with(|m| Ok(*layer_at(m, index)?.desc()))?;
        // SAFETY: the caller's contract (see # Safety).
        let w = unsafe { read_set(&desc, weights, extra) }?;
        model.write().value.set_layer_weights(index, w)?;
        Ok(())
    })
}

/// Copies the head's `W` `[outputs, H_top]` and `b` `[outputs]` into the buffers given, as
/// `frnn_dense_get_weights` does.
///
/// Errors: as `frnn_dense_get_weights`. Nothing is written unless both buffers are right.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `w` and `b` are NULL or point to their lengths in
/// writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_get_head(
    model: *const frnn_seq2vec,
    w: *mut f32,
    w_len: usize,
    b: *mut f32,
    b_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_wb(model.read().value.head(), w, w_len, b, b_len) }
    })
}

/// Replaces the head's `W` and `b` (copied; both required), as `frnn_dense_set_weights`
/// does. Waits for calls running on the model to finish.
///
/// Errors: as `frnn_dense_set_weights`. The weights are unchanged on error.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `w` and `b` are NULL or point to their lengths in
/// readable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_set_head(
    model: *mut frnn_seq2vec,
    w: *const f32,
    w_len: usize,
    b: *const f32,
    b_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the model is locked.
        let model = unsafe { borrow_handle("model", model) }?;
        let mut st = model.write();
        let sizes = (st.value.head().inputs(), st.value.head().outputs());
        // SAFETY: the caller's contract (see # Safety).
        let src = unsafe { read_wb(sizes, w, w_len, b, b_len) }?;
        for (dst, src) in st.value.head_buffers_mut().into_iter().zip(src) {
            dst.copy_from_slice(src);
        }
        Ok(())
    })
}

/// Writes to `*out_count` the number of gradient buffers of the model (that is, of its
/// weight buffers): for each layer, bottom first, `W_ih, W_hh, b_ih, b_hh` and the extra
/// buffers it has (`W_hr`, peepholes, layer-norm parameters, in that order), then the
/// head's `W` and `b`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `out_count` is NULL or points to a writable
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_grad_count(model: *const frnn_seq2vec, out_count: *mut usize) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        let out = Out::new("out_count", out_count)?;
        let n = model.with(|m| Ok(buffer_lens(m).len()))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(n) };
        Ok(())
    })
}

/// Writes to `*out_len` the length in `float`s of gradient buffer `index` (in the order of
/// `frnn_seq2vec_grad_count`), which is that of the weight buffer it belongs to.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (`index` not below the
/// count).
///
/// # Safety
///
/// `model` is NULL or a live model handle; `out_len` is NULL or points to a writable
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_grad_len(
    model: *const frnn_seq2vec,
    index: usize,
    out_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        let out = Out::new("out_len", out_len)?;
        let len = model.with(|m| {
            buffer_lens(m).get(index).copied().ok_or(Error::InvalidValue {
                what: "index",
                why: "not below the number of gradient buffers",
            })
        })?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(len) };
        Ok(())
    })
}

/// Copies the gradients the model holds (of its last `frnn_seq2vec_loss_and_grads` or train
/// step; zeros before the first) into the `count` buffers of `grads`, one per gradient
/// buffer in the order of `frnn_seq2vec_grad_count`, each of the length
/// `frnn_seq2vec_grad_len` gives.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH` (`count`, or a buffer's
/// length: `"grads[3]: expected 16 elements, got 15"`), `FRNN_STATUS_INVALID_VALUE`
/// (misaligned or overlapping buffers), `FRNN_STATUS_OVERFLOW`. Nothing is written unless
/// every buffer is right.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `grads` is NULL or points to `count` readable
/// `frnn_buffer`s, each pointing to its length in writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_get_grads(
    model: *const frnn_seq2vec,
    grads: *const frnn_buffer,
    count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("grads", grads, count) }?;
        let dsts: Vec<Dst> = (views.iter().enumerate())
            .map(|(k, b)| Dst::new(Name::at("grads", k, ""), b.data, b.len))
            .collect();
        // SAFETY: the caller's contract (see # Safety).
        let (_, _, outs, _) = unsafe { borrow_vec(&[], &[], &dsts, &[]) }?;
        let st = model.read();
        let src = st.value.grad_buffers();
        let got: Vec<usize> = outs.iter().map(|o| o.len()).collect();
        check_grad_lens(&src.iter().map(|b| b.len()).collect::<Vec<_>>(), &got)?;
        for (out, src) in outs.into_iter().zip(src) {
            out.copy_from_slice(src);
        }
        Ok(())
    })
}

/// Replaces the gradients the model holds with the `count` buffers of `grads` (copied; as
/// `frnn_seq2vec_get_grads` gives them), for `frnn_seq2vec_apply`: to clip them another way,
/// or to apply gradients summed over several batches. Waits for calls running on the model
/// to finish.
///
/// Errors: as `frnn_seq2vec_get_grads`. Nothing changes on error.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `grads` is NULL or points to `count` readable
/// `frnn_const_buffer`s, each pointing to its length in readable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_set_grads(
    model: *mut frnn_seq2vec,
    grads: *const frnn_const_buffer,
    count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the model is locked.
        let model = unsafe { borrow_handle("model", model) }?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("grads", grads, count) }?;
        let srcs: Vec<Src> = (views.iter().enumerate())
            .map(|(k, b)| Src::new(Name::at("grads", k, ""), b.data, b.len))
            .collect();
        // SAFETY: the caller's contract (see # Safety).
        let (ins, _, _, _) = unsafe { borrow_vec(&srcs, &[], &[], &[]) }?;
        let mut st = model.write();
        let got: Vec<usize> = ins.iter().map(|b| b.len()).collect();
        check_grad_lens(&buffer_lens(&st.value), &got)?;
        for (dst, src) in st.value.grad_buffers_mut().into_iter().zip(ins) {
            dst.copy_from_slice(src);
        }
        Ok(())
    })
}
