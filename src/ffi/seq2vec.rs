//! The sequence-to-vector regressor of `fusedrnn::train::Seq2Vec`: handle, inference and
//! training (its weights and gradients are in `seq2vec_params.rs`).

use super::buffers::borrow_array;
use super::dense::frnn_dense;
use super::desc::cell_of;
use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::layer::frnn_layer;
use super::shared::Shared;
use super::slices::{borrow, Dst, Src};
use super::status::{frnn_status, guard, guard_value, FfiError, Name};
use super::train::{check_fits, frnn_adam};
use crate::desc::{SeqShape, MAX_ELEMS};
use crate::error::{mul, Error};
use crate::train::{Adam, LayerStack, Seq2Vec};

/// A sequence-to-vector regressor (as `fusedrnn::train::Seq2Vec`): a stack of recurrent
/// layers (each with its own width) whose top layer's last hidden state feeds a dense head;
/// from `x` `[T, N, I]` it predicts `[N, outputs]`. Trained on the mean squared error with an
/// `frnn_adam` and optional clipping of the global gradient norm. It keeps the gradients of
/// its last `frnn_seq2vec_loss_and_grads` (or train step). Opaque; create with
/// `frnn_seq2vec_create` or `frnn_seq2vec_create_from_parts`, free with
/// `frnn_seq2vec_destroy`.
pub struct frnn_seq2vec {
    inner: Shared<Seq2Vec>,
}

impl std::ops::Deref for frnn_seq2vec {
    type Target = Shared<Seq2Vec>;
    fn deref(&self) -> &Shared<Seq2Vec> {
        &self.inner
    }
}

/// What one training step measured (`frnn_seq2vec_train_step`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct frnn_step_stats {
    /// The batch's mean squared error before the update.
    pub loss: f64,
    /// The global L2 norm of the gradients before clipping (as `frnn_grad_norm`, rounded to
    /// `float`). Not finite: the update was skipped.
    pub grad_norm: f32,
}

/// The shape `steps` x `batch`, checked for every layer of `m` and for the `[N, outputs]`
/// predictions.
pub(crate) fn shape_for(m: &Seq2Vec, steps: usize, batch: usize) -> crate::Result<SeqShape> {
    let shape = SeqShape::new(steps, batch);
    for l in m.stack().layers() {
        shape.validate(l.desc())?;
    }
    if mul(batch, m.outputs(), "N*outputs")? > MAX_ELEMS {
        return Err(Error::Overflow { what: "N*outputs" });
    }
    Ok(shape)
}

/// The length of every buffer of `m`, in the order of its gradient buffers (bottom layer
/// first, `W_ih, W_hh, b_ih, b_hh` and its extra buffers, then the head's `W`, `b`).
pub(crate) fn buffer_lens(m: &Seq2Vec) -> Vec<usize> {
    m.grad_buffers().iter().map(|b| b.len()).collect()
}

/// Checks that `adam` can step the buffers of `m`.
fn check_adam(m: &Seq2Vec, adam: &Adam) -> Result<(), FfiError> {
    let what = "model buffers (as many as at the adam's first step)";
    check_fits(adam, what, "model buffers", &buffer_lens(m))
}

/// Writes a new handle for `m` to `out`.
///
/// # Safety
///
/// `out` was checked from a pointer to a writable `frnn_seq2vec *`.
unsafe fn create(out: Out<*mut frnn_seq2vec>, m: Seq2Vec) {
    let handle = frnn_seq2vec { inner: Shared::new(m) };
    // SAFETY: the caller's contract.
    unsafe { out.write(into_handle(handle)) }
}

/// Creates a model of `num_layers` layers of one cell (`cell` a `frnn_cell` value,
/// `gru_variant` a `frnn_gru_variant` and `activation` a `frnn_activation`, both valid
/// values, 0 when the cell does not use them; no options), layer `l` with `hidden[l]` units
/// (the first reading `input_size` features, layer `l > 0` the `hidden[l - 1]` outputs of the
/// one below) and weights as `frnn_layer_create_uniform` with seed `seed + l`, then a dense
/// head from `hidden[num_layers - 1]` to `outputs` (as `frnn_dense_create` with seed
/// `seed + num_layers`). Writes its handle to `*out_model`. Layers with options need
/// `frnn_seq2vec_create_from_parts`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (an enum value),
/// `FRNN_STATUS_ZERO_SIZE` (`input_size`, `num_layers`, a `hidden[l]` or `outputs` is 0),
/// `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// `hidden` is NULL or points to `num_layers` readable `size_t`s; `out_model` is NULL or
/// points to a writable `frnn_seq2vec *`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_seq2vec_create(
    cell: u32,
    gru_variant: u32,
    activation: u32,
    input_size: usize,
    hidden: *const usize,
    num_layers: usize,
    outputs: usize,
    seed: u64,
    out_model: *mut *mut frnn_seq2vec,
) -> frnn_status {
    guard(|| {
        let out = Out::new("out_model", out_model)?;
        let cell = cell_of(cell, gru_variant, activation, ["cell", "gru_variant", "activation"])?;
        // SAFETY: the caller's contract (see # Safety).
        let hidden = unsafe { borrow_array("hidden", hidden, num_layers) }?;
        let Some(&top) = hidden.last() else {
            return Err(Error::ZeroSize { what: "num_layers" }.into());
        };
        if outputs == 0 {
            return Err(Error::ZeroSize { what: "outputs" }.into());
        }
        // The head's `W` is `[outputs, H_top]` (the layers' sizes are checked by the stack).
        if top > 0 && mul(outputs, top, "outputs*hidden")? > MAX_ELEMS {
            return Err(Error::Overflow { what: "outputs*hidden" }.into());
        }
        let m = Seq2Vec::new(cell, input_size, hidden, outputs, seed)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { create(out, m) };
        Ok(())
    })
}

/// Creates a model from copies of the `num_layers` layers `layers` (bottom first; each
/// layer's input size must be the hidden size of the one below; any options but an LSTM
/// projection) and of the dense head `head` (its `inputs` the top layer's hidden size),
/// keeping their weights: how a saved model is restored. The handles given stay the
/// caller's. Writes the model's handle to `*out_model`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER` (`head`, `layers` with `num_layers > 0`, a
/// `layers[l]`, `out_model`), `FRNN_STATUS_ZERO_SIZE` (`num_layers` is 0),
/// `FRNN_STATUS_INVALID_VALUE` (the layers' sizes do not chain; a layer with a projection),
/// `FRNN_STATUS_LENGTH_MISMATCH` (the head's `inputs` is not the top layer's `H`).
///
/// # Safety
///
/// `layers` is NULL or points to `num_layers` readable pointers, each NULL or a live layer
/// handle; `head` is NULL or a live dense handle; `out_model` is NULL or points to a writable
/// `frnn_seq2vec *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_create_from_parts(
    layers: *const *const frnn_layer,
    num_layers: usize,
    head: *const frnn_dense,
    out_model: *mut *mut frnn_seq2vec,
) -> frnn_status {
    guard(|| {
        let out = Out::new("out_model", out_model)?;
        // SAFETY: the caller's contract (see # Safety).
        let head = unsafe { borrow_handle("head", head) }?;
        // SAFETY: the caller's contract (see # Safety).
        let handles = unsafe { borrow_array("layers", layers, num_layers) }?;
        if handles.is_empty() {
            return Err(Error::ZeroSize { what: "num_layers" }.into());
        }
        let mut copies = Vec::with_capacity(handles.len());
        for (k, &p) in handles.iter().enumerate() {
            if p.is_null() {
                return Err(FfiError::Null {
                    what: Name::at("layers", k, ""),
                });
            }
            // SAFETY: the caller's contract (see # Safety).
            let layer = unsafe { borrow_handle("layers", p) }?.read().value.clone();
            if layer.desc().proj_size().is_some() {
                return Err(Error::InvalidValue {
                    what: "layers",
                    why: "a layer has an LSTM projection, which frnn_seq2vec does not support",
                }
                .into());
            }
            copies.push(layer);
        }
        let head = head.read().value.clone();
        let m = Seq2Vec::from_parts(LayerStack::from_layers(copies)?, head)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { create(out, m) };
        Ok(())
    })
}

/// Frees a model. NULL is a no-op.
///
/// # Safety
///
/// `model` is NULL or a live model handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_destroy(model: *mut frnn_seq2vec) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(model) }
    })
}

/// Inference: the predictions `out` `[N, outputs]` for the `batch` (`N`) sequences of
/// `steps` (`T`) steps `x` `[T, N, I]`, from zero initial states. Many threads may run this
/// on one model at once.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`steps` or `batch` is 0),
/// `FRNN_STATUS_OVERFLOW`, `FRNN_STATUS_LENGTH_MISMATCH`, `FRNN_STATUS_INVALID_VALUE`
/// (misaligned or overlapping buffers). `out` is not written on error.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `x` and `out` are NULL or point to their lengths
/// in `float`s, readable and writable.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_predict(
    model: *const frnn_seq2vec,
    steps: usize,
    batch: usize,
    x: *const f32,
    x_len: usize,
    out: *mut f32,
    out_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let model = unsafe { borrow_handle("model", model) }?;
        // SAFETY: the caller's contract (see # Safety).
        let ([x], [], [out], []) =
            unsafe { borrow([Src::new("x", x, x_len)], [], [Dst::new("out", out, out_len)], []) }?;
        model.run(|m| m.predict(shape_for(m, steps, batch)?, x, out))
    })
}

/// Forward and backward on one batch (`x` `[T, N, I]`, `target` `[N, outputs]`): writes the
/// mean squared error of the predictions to `*out_loss` and keeps its gradients in the model
/// (`frnn_seq2vec_get_grads`), for `frnn_seq2vec_apply`. Waits for calls running on the
/// model to finish.
///
/// Errors: as `frnn_seq2vec_predict`. `*out_loss` is not written on error.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `x` and `target` are NULL or point to their
/// lengths in readable `float`s; `out_loss` is NULL or points to a writable `double`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_seq2vec_loss_and_grads(
    model: *mut frnn_seq2vec,
    steps: usize,
    batch: usize,
    x: *const f32,
    x_len: usize,
    target: *const f32,
    target_len: usize,
    out_loss: *mut f64,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the model is locked.
        let model = unsafe { borrow_handle("model", model) }?;
        let out = Out::new("out_loss", out_loss)?;
        // SAFETY: the caller's contract (see # Safety).
        let ([x, target], [], [], []) = unsafe {
            borrow(
                [Src::new("x", x, x_len), Src::new("target", target, target_len)],
                [],
                [],
                [],
            )
        }?;
        let loss = model.run_mut(|m| Ok(m.loss_and_grads(shape_for(m, steps, batch)?, x, target)?))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(loss) };
        Ok(())
    })
}

/// One optimizer step of every buffer of the model (in the order of `frnn_seq2vec_get_grads`)
/// from the gradients it holds (from the last `frnn_seq2vec_loss_and_grads`, or as
/// `frnn_seq2vec_set_grads` left them). Waits for calls running on the model to finish.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH` (`adam` has stepped
/// other buffers since its create or reset). Nothing changes on error.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `adam` is NULL or a live optimizer handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_seq2vec_apply(model: *mut frnn_seq2vec, adam: *mut frnn_adam) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the model is locked.
        let model = unsafe { borrow_handle("model", model) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let adam = unsafe { borrow_handle("adam", adam) }?;
        model.run_mut_locked(
            || adam.lock(),
            |m, opt| {
                check_adam(m, opt)?;
                m.apply(opt);
                Ok(())
            },
        )
    })
}

/// One training step on a batch (`x` `[T, N, I]`, `target` `[N, outputs]`): forward and
/// backward (as `frnn_seq2vec_loss_and_grads`), clipping of the global gradient norm to
/// `max_norm` (as `frnn_clip_grad_norm`; `max_norm == 0`: no clipping), and an Adam update
/// (as `frnn_seq2vec_apply`), skipped when the gradient norm is not finite (the weights and
/// `adam` then stay as they were; the call still succeeds). Writes the loss and the norm
/// before clipping to `*out_stats`. Waits for calls running on the model to finish.
///
/// Errors: as `frnn_seq2vec_loss_and_grads`; `FRNN_STATUS_NULL_POINTER` (`adam`,
/// `out_stats`), `FRNN_STATUS_INVALID_VALUE` (`max_norm` negative, NaN or infinite),
/// `FRNN_STATUS_LENGTH_MISMATCH` (as `frnn_seq2vec_apply`). Nothing changes and `*out_stats`
/// is not written on error.
///
/// # Safety
///
/// `model` is NULL or a live model handle; `adam` is NULL or a live optimizer handle; `x`
/// and `target` are NULL or point to their lengths in readable `float`s; `out_stats` is NULL
/// or points to a writable `frnn_step_stats`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_seq2vec_train_step(
    model: *mut frnn_seq2vec,
    adam: *mut frnn_adam,
    steps: usize,
    batch: usize,
    x: *const f32,
    x_len: usize,
    target: *const f32,
    target_len: usize,
    max_norm: f32,
    out_stats: *mut frnn_step_stats,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the model is locked.
        let model = unsafe { borrow_handle("model", model) }?;
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let adam = unsafe { borrow_handle("adam", adam) }?;
        let out = Out::new("out_stats", out_stats)?;
        // `-0.0` is "none" too: only the value is compared.
        let clip = if max_norm == 0.0 {
            None
        } else if max_norm.is_finite() && max_norm > 0.0 {
            Some(max_norm)
        } else {
            return Err(Error::InvalidValue {
                what: "max_norm",
                why: "must be a finite number > 0, or 0 for no clipping",
            }
            .into());
        };
        // SAFETY: the caller's contract (see # Safety).
        let ([x, target], [], [], []) = unsafe {
            borrow(
                [Src::new("x", x, x_len), Src::new("target", target, target_len)],
                [],
                [],
                [],
            )
        }?;
        let s = model.run_mut_locked(
            || adam.lock(),
            |m, opt| {
                let shape = shape_for(m, steps, batch)?;
                check_adam(m, opt)?;
                Ok(m.train_step(shape, x, target, opt, clip)?)
            },
        )?;
        let stats = frnn_step_stats {
            loss: s.loss,
            grad_norm: s.grad_norm,
        };
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(stats) };
        Ok(())
    })
}
