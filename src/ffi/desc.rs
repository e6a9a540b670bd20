//! The layer descriptor: a plain C struct, and the enums that name its values.

use super::handles::{borrow_handle, Out};
use super::status::{frnn_status, guard, FfiError};
use crate::desc::{Activation, Cell, GruVariant, LayerDesc};
use crate::error::Error;

/// The recurrent cell (values of `frnn_layer_desc.cell`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum frnn_cell {
    /// LSTM, gate blocks `i, f, g, o` (G = 4); has a cell state `c`.
    Lstm = 0,
    /// GRU, gate blocks `r, z, n` (G = 3); the reset placement is `frnn_layer_desc.gru_variant`.
    Gru = 1,
    /// Simple (Elman) RNN, one gate block (G = 1); the nonlinearity is
    /// `frnn_layer_desc.activation`.
    Rnn = 2,
}

/// Where a GRU applies its reset gate (values of `frnn_layer_desc.gru_variant`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum frnn_gru_variant {
    /// `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`: PyTorch, cuDNN, Keras
    /// `reset_after=True`, ONNX `linear_before_reset=1`.
    LinearBeforeReset = 0,
    /// `n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)`: ONNX's default, Keras
    /// `reset_after=False`.
    ResetBeforeLinear = 1,
}

/// The nonlinearity of a simple RNN (values of `frnn_layer_desc.activation`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum frnn_activation {
    /// `h' = tanh(a)`.
    Tanh = 0,
    /// `h' = max(a, 0)`.
    Relu = 1,
}

/// What backward-weights does with the gradient buffers (the `mode` argument).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum frnn_grad_mode {
    /// Write the gradients over the buffers (their old contents, NaN included, are ignored).
    Overwrite = 0,
    /// Add the gradients to the buffers (truncated BPTT over chunks, micro-batches).
    Accumulate = 1,
}

/// What a layer computes. Zero-initialise it, then set the fields: fields that do not apply
/// to the cell (`gru_variant` unless GRU, `activation` unless RNN) are ignored but must still
/// hold a valid value, and 0 always is one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct frnn_layer_desc {
    /// A `frnn_cell` value.
    pub cell: u32,
    /// A `frnn_gru_variant` value (GRU only).
    pub gru_variant: u32,
    /// A `frnn_activation` value (RNN only).
    pub activation: u32,
    /// `I`, the number of input features (at least 1).
    pub input_size: usize,
    /// `H`, the number of hidden units (at least 1).
    pub hidden_size: usize,
}

impl frnn_layer_desc {
    /// The safe descriptor, after checking every field.
    pub(crate) fn to_desc(self) -> Result<LayerDesc, FfiError> {
        let invalid = |what, why| FfiError::Core(Error::InvalidValue { what, why });
        let variant = match self.gru_variant {
            v if v == frnn_gru_variant::LinearBeforeReset as u32 => GruVariant::LinearBeforeReset,
            v if v == frnn_gru_variant::ResetBeforeLinear as u32 => GruVariant::ResetBeforeLinear,
            _ => return Err(invalid("desc.gru_variant", "not a frnn_gru_variant value")),
        };
        let act = match self.activation {
            v if v == frnn_activation::Tanh as u32 => Activation::Tanh,
            v if v == frnn_activation::Relu as u32 => Activation::Relu,
            _ => return Err(invalid("desc.activation", "not a frnn_activation value")),
        };
        let cell = match self.cell {
            v if v == frnn_cell::Lstm as u32 => Cell::Lstm,
            v if v == frnn_cell::Gru as u32 => Cell::Gru(variant),
            v if v == frnn_cell::Rnn as u32 => Cell::Rnn(act),
            _ => return Err(invalid("desc.cell", "not a frnn_cell value")),
        };
        Ok(LayerDesc::new(cell, self.input_size, self.hidden_size)?)
    }

    /// The C descriptor of a layer (fields that do not apply are 0).
    pub(crate) fn from_desc(d: &LayerDesc) -> Self {
        let (cell, gru_variant, activation) = match d.cell() {
            Cell::Lstm => (frnn_cell::Lstm, 0, 0),
            Cell::Gru(GruVariant::LinearBeforeReset) => (frnn_cell::Gru, frnn_gru_variant::LinearBeforeReset as u32, 0),
            Cell::Gru(GruVariant::ResetBeforeLinear) => (frnn_cell::Gru, frnn_gru_variant::ResetBeforeLinear as u32, 0),
            Cell::Rnn(Activation::Tanh) => (frnn_cell::Rnn, 0, frnn_activation::Tanh as u32),
            Cell::Rnn(Activation::Relu) => (frnn_cell::Rnn, 0, frnn_activation::Relu as u32),
        };
        Self {
            cell: cell as u32,
            gru_variant,
            activation,
            input_size: d.input_size(),
            hidden_size: d.hidden_size(),
        }
    }
}

/// Parses a `frnn_grad_mode` argument.
pub(crate) fn grad_mode(mode: u32) -> Result<crate::GradMode, FfiError> {
    match mode {
        m if m == frnn_grad_mode::Overwrite as u32 => Ok(crate::GradMode::Overwrite),
        m if m == frnn_grad_mode::Accumulate as u32 => Ok(crate::GradMode::Accumulate),
        _ => Err(Error::InvalidValue {
            what: "mode",
            why: "not a frnn_grad_mode value",
        }
        .into()),
    }
}

/// Writes the lengths (in `float` elements) of the weight buffers of a layer described by
/// `desc`: `W_ih` is `[G*H, I]`, `W_hh` is `[G*H, H]`, and `b_ih`, `b_hh` are `[G*H]` each.
/// Also validates the descriptor.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (a field is not a value
/// of its enum), `FRNN_STATUS_ZERO_SIZE` (`I` or `H` is 0), `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// Each pointer is NULL or valid: `desc` for reading an `frnn_layer_desc`, the others for
/// writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_desc_weight_lens(
    desc: *const frnn_layer_desc,
    out_w_ih_len: *mut usize,
    out_w_hh_len: *mut usize,
    out_bias_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let outs = [
            Out::new("out_w_ih_len", out_w_ih_len)?,
            Out::new("out_w_hh_len", out_w_hh_len)?,
            Out::new("out_bias_len", out_bias_len)?,
        ];
        let gh = desc.gate_rows();
        let lens = [gh * desc.input_size(), gh * desc.hidden_size(), gh];
        for (out, len) in outs.into_iter().zip(lens) {
            // SAFETY: the caller's contract (see # Safety).
            unsafe { out.write(len) };
        }
        Ok(())
    })
}
