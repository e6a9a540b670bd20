//! ONNX and Keras weight layouts, converted to and from PyTorch's (the layout every other
//! call takes). Pure conversions between caller buffers: make layers or stacks from the
//! result with `frnn_layer_create` / `frnn_stack_create`, or read theirs with
//! `frnn_layer_get_weights` / `frnn_stack_get_weights` and convert.
//!
//! ONNX (`LSTM`, `GRU`, `RNN` operators): `W` `[D, G*H, I]`, `R` `[D, G*H, H]`, `B`
//! `[D, 2*G*H]` (`Wb` then `Rb`), `P` `[D, 3*H]` (LSTM peepholes); gate order LSTM `i, o, f,
//! c`, GRU `z, r, h`; `D` = 2 for `direction="bidirectional"` (forward first), else 1. A GRU's
//! `linear_before_reset=1` is `FRNN_GRU_VARIANT_LINEAR_BEFORE_RESET`, 0 (ONNX's default)
//! `FRNN_GRU_VARIANT_RESET_BEFORE_LINEAR`; an `RNN` with `activations=["Relu"]` is
//! `FRNN_ACTIVATION_RELU`.
//!
//! Keras (`LSTM`, `GRU`, `SimpleRNN`): `kernel` `[I, G*U]`, `recurrent_kernel` `[U, G*U]`
//! (transposed), `bias` `[G*U]`, or `[2, 3U]` for a GRU with `reset_after=True`
//! (`FRNN_GRU_VARIANT_LINEAR_BEFORE_RESET`; `reset_after=False` is reset-before-linear); gate
//! order LSTM `i, f, c, o`, GRU `z, r, h`. A single Keras bias becomes `b_ih` (with `b_hh`
//! zero) and `b_ih + b_hh` going back.
//!
//! Extra weights: ONNX holds an LSTM's peepholes (`P`; `frnn_convert_from_onnx_ex`,
//! `frnn_convert_to_onnx_ex` move them to and from `frnn_extra_weights`), its gate clip and
//! `input_forget` (operator attributes, set in `frnn_cell_options`), but no projection
//! (`W_hr`), no cell clipping and no layer normalization; Keras holds none of them. A
//! conversion or size query for a descriptor the format cannot hold returns
//! `FRNN_STATUS_INVALID_VALUE`, the message naming what is missing (e.g. `desc: ONNX's LSTM
//! has no projection`).

use super::buffers::{
    borrow_array, frnn_extra_weights, frnn_extra_weights_mut, frnn_weights, frnn_weights_mut, WEIGHT_NAMES,
};
use super::desc::frnn_layer_desc;
use super::handles::{borrow_handle, Out};
use super::layer::weights_from;
use super::slices::{borrow, borrow_vec, Dst, Src};
use super::stack::{check_weight_lens, elem, per_layer_opt};
use super::status::{frnn_status, guard, FfiError};
use super::weight_sets::{check_set, copy_set_out, present, set_dsts, set_srcs, weights_from_set, WEIGHT_NAMES7};
use crate::convert::{keras, onnx};
use crate::desc::{Cell, GruVariant, LayerDesc};
use crate::error::{check_len, product, Error};
use crate::weights::Weights;

/// Writes each of `values` through the matching out-parameter, after checking them all.
///
/// # Safety
///
/// Each pointer is NULL or points to a writable `size_t`.
unsafe fn write_sizes<const N: usize>(
    outs: [(&'static str, *mut usize); N],
    values: [usize; N],
) -> Result<(), FfiError> {
    let outs = outs.map(|(what, p)| Out::new(what, p));
    let mut checked = Vec::with_capacity(N);
    for o in outs {
        checked.push(o?);
    }
    for (out, v) in checked.into_iter().zip(values) {
        // SAFETY: the contract.
        unsafe { out.write(v) };
    }
    Ok(())
}

/// Weights for `desc` from four checked buffers of element `k` of the array `array`.
fn weights_at(desc: &LayerDesc, array: &'static str, k: usize, b: [&[f32]; 4]) -> Result<Weights, FfiError> {
    let gh = desc.gate_rows();
    let expected = [gh * desc.input_size(), gh * desc.hidden_size(), gh, gh];
    check_weight_lens(array, k, WEIGHT_NAMES, expected, b.map(|s| Some(s.len())))?;
    Ok(weights_from(desc, b)?)
}

/// Copies `w` into the four (required) buffers of `out`, after checking their lengths.
fn copy_into(array: &'static str, k: usize, w: &Weights, out: &mut [&mut [f32]]) -> Result<(), FfiError> {
    let expected = w.buffers().map(<[f32]>::len);
    let got = std::array::from_fn(|j| Some(out[j].len()));
    check_weight_lens(array, k, WEIGHT_NAMES, expected, got)?;
    for (o, src) in out.iter_mut().zip(w.buffers()) {
        o.copy_from_slice(src);
    }
    Ok(())
}

/// Writes the lengths (in `float`s) of the ONNX tensors of an operator whose cell and sizes
/// are `desc` and that has `num_directions` (1 or 2) directions: `W` `[D, G*H, I]`, `R`
/// `[D, G*H, H]`, `B` `[D, 2*G*H]`, `P` `[D, 3*H]` (peepholes; LSTM only, 0 otherwise).
///
/// Errors: as `frnn_desc_weight_lens`; `FRNN_STATUS_INVALID_VALUE` when `num_directions` is
/// not 1 or 2, or for a descriptor ONNX cannot hold (an LSTM projection or layer
/// normalization: ONNX's operators have neither).
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; each out-parameter is NULL or
/// points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_convert_onnx_sizes(
    desc: *const frnn_layer_desc,
    num_directions: usize,
    out_w_len: *mut usize,
    out_r_len: *mut usize,
    out_b_len: *mut usize,
    out_p_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let d = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let dirs = check_dirs(num_directions)?;
        onnx::check_desc(&d)?;
        let (gh, h) = (d.gate_rows(), d.hidden_size());
        let p = if d.cell() == Cell::Lstm {
            product(&[dirs, 3, h], "P")?
        } else {
            0
        };
        let sizes = [gh * d.input_size() * dirs, gh * h * dirs, 2 * gh * dirs, p];
        let outs = [
            ("out_w_len", out_w_len),
            ("out_r_len", out_r_len),
            ("out_b_len", out_b_len),
            ("out_p_len", out_p_len),
        ];
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_sizes(outs, sizes) }
    })
}

fn check_dirs(num_directions: usize) -> Result<usize, FfiError> {
    match num_directions {
        1 | 2 => Ok(num_directions),
        _ => Err(Error::InvalidValue {
            what: "num_directions",
            why: "must be 1 (forward or reverse) or 2 (bidirectional)",
        }
        .into()),
    }
}

/// Converts the tensors of one ONNX operator (cell and sizes `desc`, `num_directions`
/// directions) to PyTorch's layout: writes the weights of each direction (forward, then
/// reverse) into `out`, an array of `out_count = num_directions` weight sets with the
/// lengths `frnn_desc_weight_lens` gives. `B` (zeros when NULL) and `P` (LSTM only) are
/// optional; a layer without peepholes takes only an all-zero `P`. A layer with peepholes
/// (`options.peepholes`) needs `frnn_convert_from_onnx_ex`, which writes them.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (bad descriptor or
/// `num_directions`, a descriptor ONNX cannot hold: a projection or layer normalization, a
/// non-zero `P` for a layer without peepholes, misaligned or overlapping buffers),
/// `FRNN_STATUS_LENGTH_MISMATCH` (naming `W`, `R`, `B`, `P`, the count, or e.g.
/// `out[1].W_hh`), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (`P` for a GRU or RNN),
/// `FRNN_STATUS_MISSING_ARGUMENT` (a layer with peepholes). Nothing is written on error.
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; `out` is NULL or points to
/// `out_count` readable `frnn_weights_mut`; each buffer pointer is NULL or points to its
/// length in `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_convert_from_onnx(
    desc: *const frnn_layer_desc,
    num_directions: usize,
    w: *const f32,
    w_len: usize,
    r: *const f32,
    r_len: usize,
    b: *const f32,
    b_len: usize,
    p: *const f32,
    p_len: usize,
    out: *const frnn_weights_mut,
    out_count: usize,
) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety); no extras.
    unsafe {
        frnn_convert_from_onnx_ex(
            desc,
            num_directions,
            w,
            w_len,
            r,
            r_len,
            b,
            b_len,
            p,
            p_len,
            out,
            out_count,
            std::ptr::null(),
            0,
        )
    }
}

/// `frnn_convert_from_onnx` for layers with extra weights: also writes each direction's
/// peepholes, from `P` (`[D, 3*H]`, ONNX order `p_i, p_o, p_f`; zeros when NULL), into
/// `out_extra[k].peepholes` (`[3H]`, this library's order `p_i, p_f, p_o`). `out_extra` is
/// an array of `out_extra_count` (0 with NULL: none, else `num_directions`) extra sets; every
/// extra buffer the layer has must be given, and only those. ONNX's operators have no
/// projection (`W_hr`) and no layer normalization: such descriptors are refused.
///
/// Errors: as `frnn_convert_from_onnx`; `FRNN_STATUS_LENGTH_MISMATCH` (`out_extra_count`, or
/// e.g. `out_extra[1].peepholes`), `FRNN_STATUS_MISSING_ARGUMENT` (the peepholes of a layer
/// that has them not given), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (an extra buffer the layer
/// does not have), `FRNN_STATUS_INVALID_VALUE` (a projection or layer normalization in
/// `desc`: ONNX cannot hold them). Nothing is written on error.
///
/// # Safety
///
/// As `frnn_convert_from_onnx`; `out_extra` is NULL or points to `out_extra_count` readable
/// `frnn_extra_weights_mut` whose buffers are NULL or point to their lengths in writable
/// `float`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_convert_from_onnx_ex(
    desc: *const frnn_layer_desc,
    num_directions: usize,
    w: *const f32,
    w_len: usize,
    r: *const f32,
    r_len: usize,
    b: *const f32,
    b_len: usize,
    p: *const f32,
    p_len: usize,
    out: *const frnn_weights_mut,
    out_count: usize,
    out_extra: *const frnn_extra_weights_mut,
    out_extra_count: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let d = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("out", out, out_count) }?;
        // SAFETY: the caller's contract (see # Safety).
        let extras = unsafe { per_layer_opt("out_extra", out_extra, out_extra_count, views.len()) }?;
        let dsts: Vec<Dst> = (0..views.len())
            .flat_map(|k| set_dsts(elem("out", "out_extra", k), &WEIGHT_NAMES7, views.get(k), extras.get(k)))
            .collect();
        let req = [Src::new("W", w, w_len), Src::new("R", r, r_len)];
        let opt = [Src::new("B", b, b_len), Src::new("P", p, p_len)];
        // SAFETY: the caller's contract (see # Safety).
        let (req, opt, _, outs) = unsafe { borrow_vec(&req, &opt, &[], &dsts) }?;
        let dirs = check_dirs(num_directions)?;
        check_len("out (directions)", dirs, views.len())?;
        let t = onnx::OnnxTensors {
            w: req[0],
            r: req[1],
            b: opt[0],
            p: opt[1],
        };
        let weights = onnx::from_onnx(&d, dirs, t)?;
        for (k, o) in outs.chunks_exact(7).enumerate() {
            let got = std::array::from_fn(|j| o[j].as_deref().map(<[f32]>::len));
            check_set(&d, elem("out", "out_extra", k), &WEIGHT_NAMES7, got, &ALL7)?;
        }
        let mut outs = outs.into_iter();
        for wk in &weights {
            copy_set_out(wk, present(&d, outs.by_ref().take(7)));
        }
        Ok(())
    })
}

/// Every buffer of a set, by index: all those the layer has are required.
const ALL7: [usize; 7] = [0, 1, 2, 3, 4, 5, 6];

/// Converts PyTorch-layout weights to the tensors of one ONNX operator: `weights` is an
/// array of `weights_count` (1 or 2: forward, then reverse) weight sets for `desc`; writes
/// `W`, `R` and, when not NULL, `B` (lengths as `frnn_convert_onnx_sizes`). A layer with
/// peepholes needs `frnn_convert_to_onnx_ex`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (bad descriptor, count not
/// 1 or 2, a descriptor ONNX cannot hold: a projection, layer normalization or cell clipping,
/// misaligned or overlapping buffers), `FRNN_STATUS_LENGTH_MISMATCH` (naming the buffer, e.g.
/// `weights[0].b_hh` or `W`), `FRNN_STATUS_MISSING_ARGUMENT` (a layer with peepholes).
/// Nothing is written on error.
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; `weights` is NULL or points to
/// `weights_count` readable `frnn_weights`; each buffer pointer is NULL or points to its
/// length in `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_convert_to_onnx(
    desc: *const frnn_layer_desc,
    weights: *const frnn_weights,
    weights_count: usize,
    w: *mut f32,
    w_len: usize,
    r: *mut f32,
    r_len: usize,
    b: *mut f32,
    b_len: usize,
) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety); no extras, no `P`.
    unsafe {
        frnn_convert_to_onnx_ex(
            desc,
            weights,
            weights_count,
            std::ptr::null(),
            0,
            w,
            w_len,
            r,
            r_len,
            b,
            b_len,
            std::ptr::null_mut(),
            0,
        )
    }
}

/// `frnn_convert_to_onnx` for layers with extra weights: `extra` is an array of
/// `extra_count` (0 with NULL: none, else `weights_count`) extra sets read with the weights
/// (the peepholes of a layer that has them are required), and `P` (`[D, 3*H]`, ONNX order
/// `p_i, p_o, p_f`; LSTM only) is written when not NULL: the layer's peepholes, or zeros for
/// an LSTM without. ONNX's operators have no projection (`W_hr`), no layer normalization
/// and no cell clipping: such descriptors are refused.
///
/// Errors: as `frnn_convert_to_onnx`; `FRNN_STATUS_LENGTH_MISMATCH` (`extra_count`, `P`, or
/// e.g. `extra[1].peepholes`), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (`P` for a GRU or RNN, or an
/// extra buffer the layer does not have). Nothing is written on error.
///
/// # Safety
///
/// As `frnn_convert_to_onnx`; `extra` is NULL or points to `extra_count` readable
/// `frnn_extra_weights` whose buffers are NULL or point to their lengths in readable `float`s.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_convert_to_onnx_ex(
    desc: *const frnn_layer_desc,
    weights: *const frnn_weights,
    weights_count: usize,
    extra: *const frnn_extra_weights,
    extra_count: usize,
    w: *mut f32,
    w_len: usize,
    r: *mut f32,
    r_len: usize,
    b: *mut f32,
    b_len: usize,
    p: *mut f32,
    p_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let d = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        // SAFETY: the caller's contract (see # Safety).
        let views = unsafe { borrow_array("weights", weights, weights_count) }?;
        // SAFETY: the caller's contract (see # Safety).
        let extras = unsafe { per_layer_opt("extra", extra, extra_count, views.len()) }?;
        let (mut main, mut optional) = (Vec::new(), Vec::new());
        for (k, v) in views.iter().enumerate() {
            let (m, o) = set_srcs(elem("weights", "extra", k), v, extras.get(k));
            main.extend(m);
            optional.extend(o);
        }
        let req = [Dst::new("W", w, w_len), Dst::new("R", r, r_len)];
        let opt = [Dst::new("B", b, b_len), Dst::new("P", p, p_len)];
        // SAFETY: the caller's contract (see # Safety).
        let (ins, ins_opt, outs, opt) = unsafe { borrow_vec(&main, &optional, &req, &opt) }?;
        check_dirs(views.len()).map_err(|_| Error::InvalidValue {
            what: "weights_count",
            why: "one ONNX operator holds 1 or 2 directions",
        })?;
        onnx::check_desc(&d)?;
        let ws = (ins.chunks_exact(4).zip(ins_opt.chunks_exact(3)).enumerate())
            .map(|(k, (m, o))| {
                weights_from_set(
                    &d,
                    elem("weights", "extra", k),
                    [m[0], m[1], m[2], m[3]],
                    [o[0], o[1], o[2]],
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = onnx::to_onnx(&ws)?;
        let (mut outs, mut opt) = (outs.into_iter(), opt.into_iter());
        let (w, r) = (outs.next().expect("W"), outs.next().expect("R"));
        let (b, p) = (opt.next().flatten(), opt.next().flatten());
        check_len("W", t.w.len(), w.len())?;
        check_len("R", t.r.len(), r.len())?;
        if let Some(b) = &b {
            check_len("B", t.b.len(), b.len())?;
        }
        // `P` of an LSTM without peepholes: zeros, as ONNX reads a missing `P`.
        let p_val = if t.p.is_empty() {
            vec![0.0; views.len() * 3 * d.hidden_size()]
        } else {
            t.p
        };
        if let Some(p) = &p {
            if d.cell() != Cell::Lstm {
                return Err(Error::Unexpected { what: "P" }.into());
            }
            check_len("P", p_val.len(), p.len())?;
        }
        w.copy_from_slice(&t.w);
        r.copy_from_slice(&t.r);
        if let Some(b) = b {
            b.copy_from_slice(&t.b);
        }
        if let Some(p) = p {
            p.copy_from_slice(&p_val);
        }
        Ok(())
    })
}

/// The length of a Keras bias for `d`: `[2, 3U]` for a linear-before-reset GRU, else `[G*U]`.
fn keras_bias_len(d: &LayerDesc) -> usize {
    match d.cell() {
        Cell::Gru(GruVariant::LinearBeforeReset) => 2 * d.gate_rows(),
        _ => d.gate_rows(),
    }
}

/// Writes the lengths (in `float`s) of the Keras weights of a layer whose cell and sizes
/// (`I`, `units`) are `desc`: `kernel` `[I, G*U]`, `recurrent_kernel` `[U, G*U]`, `bias`
/// (`[2, 3U]` for a GRU with `reset_after=True`, i.e. `FRNN_GRU_VARIANT_LINEAR_BEFORE_RESET`,
/// else `[G*U]`).
///
/// Errors: as `frnn_desc_weight_lens`; `FRNN_STATUS_INVALID_VALUE` for a descriptor with LSTM
/// options (projection, peepholes, clipping, `input_forget`) or layer normalization, none of
/// which Keras' `LSTM`, `GRU` and `SimpleRNN` have (the same for the Keras conversions).
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; each out-parameter is NULL or
/// points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_convert_keras_sizes(
    desc: *const frnn_layer_desc,
    out_kernel_len: *mut usize,
    out_recurrent_kernel_len: *mut usize,
    out_bias_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let d = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        // Keras layers have no LSTM options and no layer normalization.
        keras::plain(&d)?;
        let gh = d.gate_rows();
        let sizes = [gh * d.input_size(), gh * d.hidden_size(), keras_bias_len(&d)];
        let outs = [
            ("out_kernel_len", out_kernel_len),
            ("out_recurrent_kernel_len", out_recurrent_kernel_len),
            ("out_bias_len", out_bias_len),
        ];
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_sizes(outs, sizes) }
    })
}

/// Converts the weights of one Keras layer (cell and sizes `desc`) to PyTorch's layout in
/// `*out` (lengths as `frnn_desc_weight_lens`). `bias` is optional (NULL: `use_bias=False`,
/// zeros).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH` (naming `kernel`,
/// `recurrent_kernel`, `bias` or e.g. `out[0].W_ih`), `FRNN_STATUS_INVALID_VALUE` (bad
/// descriptor, or one with LSTM options or layer normalization; a GRU bias of the other `reset_after` setting's shape, the message saying
/// which variant it belongs to; misaligned or overlapping buffers). Nothing is written on
/// error.
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; `out` is NULL or points to a
/// readable `frnn_weights_mut`; each buffer pointer is NULL or points to its length in
/// `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_convert_from_keras(
    desc: *const frnn_layer_desc,
    kernel: *const f32,
    kernel_len: usize,
    recurrent_kernel: *const f32,
    recurrent_kernel_len: usize,
    bias: *const f32,
    bias_len: usize,
    out: *const frnn_weights_mut,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let d = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        // Keras layers have no LSTM options and no layer normalization.
        keras::plain(&d)?;
        // SAFETY: the caller's contract (see # Safety).
        let view = unsafe { borrow_handle("out", out) }?;
        let req = [
            Src::new("kernel", kernel, kernel_len),
            Src::new("recurrent_kernel", recurrent_kernel, recurrent_kernel_len),
        ];
        // SAFETY: the caller's contract (see # Safety).
        let ([k, rk], [b], mut outs, []) = unsafe {
            borrow(
                req,
                [Src::new("bias", bias, bias_len)],
                view.dsts("out", 0, WEIGHT_NAMES),
                [],
            )
        }?;
        let t = keras::KerasTensors {
            kernel: k,
            recurrent_kernel: rk,
            bias: b,
        };
        let w = keras::from_keras(&d, t)?;
        copy_into("out", 0, &w, &mut outs)
    })
}

/// Converts PyTorch-layout weights of one layer (cell and sizes `desc`) to Keras' `kernel`,
/// `recurrent_kernel` and `bias` (lengths as `frnn_convert_keras_sizes`; `bias` may be NULL:
/// not wanted). Keras has one bias except for a `reset_after=True` GRU: it gets
/// `b_ih + b_hh`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH` (naming the buffer),
/// `FRNN_STATUS_INVALID_VALUE` (bad descriptor, or one with LSTM options or layer
/// normalization; misaligned or overlapping buffers). Nothing is written on error.
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_layer_desc`; `weights` is NULL or points to
/// a readable `frnn_weights`; each buffer pointer is NULL or points to its length in
/// `float`s, readable for inputs, writable for outputs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn frnn_convert_to_keras(
    desc: *const frnn_layer_desc,
    weights: *const frnn_weights,
    kernel: *mut f32,
    kernel_len: usize,
    recurrent_kernel: *mut f32,
    recurrent_kernel_len: usize,
    bias: *mut f32,
    bias_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let d = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        // Keras layers have no LSTM options and no layer normalization.
        keras::plain(&d)?;
        // SAFETY: the caller's contract (see # Safety).
        let view = unsafe { borrow_handle("weights", weights) }?;
        let req = [
            Dst::new("kernel", kernel, kernel_len),
            Dst::new("recurrent_kernel", recurrent_kernel, recurrent_kernel_len),
        ];
        // SAFETY: the caller's contract (see # Safety).
        let (srcs, [], [k, rk], [b]) =
            unsafe { borrow(view.srcs("weights", 0), [], req, [Dst::new("bias", bias, bias_len)]) }?;
        let t = keras::to_keras(&weights_at(&d, "weights", 0, srcs)?)?;
        check_len("kernel", t.kernel.len(), k.len())?;
        check_len("recurrent_kernel", t.recurrent_kernel.len(), rk.len())?;
        if let Some(b) = &b {
            check_len("bias", t.bias.len(), b.len())?;
        }
        k.copy_from_slice(&t.kernel);
        rk.copy_from_slice(&t.recurrent_kernel);
        if let Some(b) = b {
            b.copy_from_slice(&t.bias);
        }
        Ok(())
    })
}
