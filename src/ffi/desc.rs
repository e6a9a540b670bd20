//! The layer descriptor: a plain C struct, and the enums that name its values.

use super::handles::{borrow_handle, write_all, Out};
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

/// The options of a cell beyond the plain one, all off when zero (part of `frnn_layer_desc`
/// and `frnn_stack_desc`, where a stack's options apply to every layer-direction). Set them
/// with the `frnn_layer_desc_set_*` / `frnn_stack_desc_set_*` calls, which check the
/// descriptor at once, or write the fields directly (then checked when the descriptor is
/// used).
///
/// LSTM only (PyTorch, ONNX, cuDNN and oneDNN options), none combined with `layer_norm`:
/// - `proj_size` `P` (PyTorch `proj_size`; `1 <= P < H`, 0: none): `h' = W_hr (o * tanh(c'))`,
///   so `h`, the states `h0`/`h_n` and the outputs are `P` wide and `W_hh` is `[4H, P]`; the
///   layer then has a `W_hr` `[P, H]` buffer;
/// - `peepholes` (0 or 1; ONNX `P`): `i` and `f` also see `p_i * c`, `p_f * c` (the previous
///   cell state), `o` sees `p_o * c'` (the new one); the layer then has a peephole buffer
///   `[3H]` (`p_i, p_f, p_o`);
/// - `clip` (ONNX `clip`; positive and finite, 0: none): every gate pre-activation (peephole
///   term included) is clamped to `[-clip, clip]` before its nonlinearity;
/// - `cell_clip` (cuDNN `cudnnRNNSetClip`; positive and finite, 0: none): `c'` is clamped to
///   `[-cell_clip, cell_clip]`;
/// - `input_forget` (0 or 1; ONNX `input_forget`): `f = 1 - i` (the `f` rows of the weights
///   are unused and get zero gradients).
///
/// Gradients are zero where a clamp is active.
///
/// `layer_norm` (0 or 1; LSTM and linear-before-reset GRU): layer normalization inside the
/// cell (Ba, Kiros & Hinton 2016), `LN(v; g, b) = g * (v - mean(v)) / sqrt(var(v) + 1e-5) + b`
/// (biased variance) per step and sample. LSTM: `a = LN(W_hh h; g_h, b_h) + LN(W_ih x; g_x,
/// b_x) + b_ih + b_hh` (each LN over all 4H), `h' = o * tanh(LN(c'; g_c, b_c))` (over H; `c'`
/// itself is carried). GRU: `a_x = LN(W_ih x; g_x, b_x) + b_ih`, `a_h = LN(W_hh h; g_h, b_h) +
/// b_hh` (each over all 3H), `r = sigma(a_x,r + a_h,r)`, `z = sigma(a_x,z + a_h,z)`, `n =
/// tanh(a_x,n + r * a_h,n)`. The gains and biases are the layer's layer-norm buffer (see
/// `frnn_extra_weights`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct frnn_cell_options {
    /// `P`, the LSTM projection size (`1 <= P < H`), or 0 for none.
    pub proj_size: usize,
    /// 1: LSTM peephole connections; 0: none.
    pub peepholes: u32,
    /// 1: coupled LSTM input and forget gates, `f = 1 - i`; 0: independent.
    pub input_forget: u32,
    /// 1: layer-normalized cell (LSTM, linear-before-reset GRU); 0: plain.
    pub layer_norm: u32,
    /// The LSTM gate pre-activation clip (positive, finite), or 0 for none.
    pub clip: f32,
    /// The LSTM cell-state clip (positive, finite), or 0 for none.
    pub cell_clip: f32,
}

impl frnn_cell_options {
    /// `layer` with these options, after checking every field.
    pub(crate) fn apply(&self, mut layer: LayerDesc) -> Result<LayerDesc, FfiError> {
        let flag = |what, v: u32| match v {
            0 | 1 => Ok(v == 1),
            _ => Err(FfiError::Core(Error::InvalidValue {
                what,
                why: "must be 0 or 1",
            })),
        };
        let (peep, fgt, ln) = (
            flag("desc.options.peepholes", self.peepholes)?,
            flag("desc.options.input_forget", self.input_forget)?,
            flag("desc.options.layer_norm", self.layer_norm)?,
        );
        if ln {
            layer = layer.with_layer_norm()?;
        }
        if self.proj_size != 0 {
            layer = layer.with_proj_size(self.proj_size)?;
            if self.proj_size >= layer.hidden_size() {
                return Err(Error::InvalidValue {
                    what: "proj_size",
                    why: "must be below hidden_size (as PyTorch requires)",
                }
                .into());
            }
        }
        if peep {
            layer = layer.with_peepholes()?;
        }
        if fgt {
            layer = layer.with_input_forget()?;
        }
        // `-0.0` is "none" too: only the value is compared.
        if self.clip != 0.0 {
            layer = layer.with_clip(self.clip)?;
        }
        if self.cell_clip != 0.0 {
            layer = layer.with_cell_clip(self.cell_clip)?;
        }
        Ok(layer)
    }

    /// The options of `d` (all 0 when it has none).
    pub(crate) fn of(d: &LayerDesc) -> Self {
        Self {
            proj_size: d.proj_size().unwrap_or(0),
            peepholes: u32::from(d.peepholes()),
            input_forget: u32::from(d.input_forget()),
            layer_norm: u32::from(d.layer_norm()),
            clip: d.clip().unwrap_or(0.0),
            cell_clip: d.cell_clip().unwrap_or(0.0),
        }
    }
}

/// A descriptor whose cell options the `*_set_*` calls change.
pub(crate) trait WithOptions: Copy {
    fn options_mut(&mut self) -> &mut frnn_cell_options;
    /// Checks the whole descriptor.
    fn validate(&self) -> Result<(), FfiError>;
}

/// The body of a descriptor setter: `change` on a copy of `*desc`, which is written back only
/// when the changed descriptor is valid.
///
/// # Safety
///
/// `desc` is NULL or points to a readable and writable `D`.
pub(crate) unsafe fn set_option<D: WithOptions>(desc: *mut D, change: OptionChange) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract; every bit pattern is a valid desc. The copy is taken
        // before the write, so no reference outlives it.
        let mut d = *unsafe { borrow_handle("desc", desc.cast_const()) }?;
        let out = Out::new("desc", desc)?;
        change(d.options_mut())?;
        d.validate()?;
        // SAFETY: the caller's contract.
        unsafe { out.write(d) };
        Ok(())
    })
}

/// A `0` or `1` argument.
fn enable_arg(what: &'static str, v: u32) -> Result<u32, FfiError> {
    match v {
        0 | 1 => Ok(v),
        _ => Err(Error::InvalidValue {
            what,
            why: "must be 0 or 1",
        }
        .into()),
    }
}

/// A clip argument: positive and finite.
fn clip_arg(what: &'static str, v: f32) -> Result<f32, FfiError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::InvalidValue {
            what,
            why: "must be positive and finite",
        }
        .into())
    }
}

/// A change of the cell options, for [`set_option`].
pub(crate) type OptionChange = Box<dyn FnOnce(&mut frnn_cell_options) -> Result<(), FfiError>>;

/// The changes the `*_desc_set_*` calls make (shared by layer and stack descriptors).
pub(crate) mod change {
    use super::{clip_arg, enable_arg, Error, OptionChange};

    /// `proj_size`: at least 1 (its bound `H` is checked with the descriptor).
    pub(crate) fn proj_size(p: usize) -> OptionChange {
        Box::new(move |o| match p {
            0 => Err(Error::ZeroSize { what: "proj_size" }.into()),
            p => {
                o.proj_size = p;
                Ok(())
            }
        })
    }
    pub(crate) fn peepholes(enable: u32) -> OptionChange {
        Box::new(move |o| {
            o.peepholes = enable_arg("enable", enable)?;
            Ok(())
        })
    }
    pub(crate) fn input_forget(enable: u32) -> OptionChange {
        Box::new(move |o| {
            o.input_forget = enable_arg("enable", enable)?;
            Ok(())
        })
    }
    pub(crate) fn layer_norm(enable: u32) -> OptionChange {
        Box::new(move |o| {
            o.layer_norm = enable_arg("enable", enable)?;
            Ok(())
        })
    }
    pub(crate) fn clip(v: f32) -> OptionChange {
        Box::new(move |o| {
            o.clip = clip_arg("clip", v)?;
            Ok(())
        })
    }
    pub(crate) fn cell_clip(v: f32) -> OptionChange {
        Box::new(move |o| {
            o.cell_clip = clip_arg("cell_clip", v)?;
            Ok(())
        })
    }
}

/// The cell named by the values `cell` (a `frnn_cell`), `gru_variant` (a `frnn_gru_variant`)
/// and `activation` (a `frnn_activation`); the last two must be valid values even when the
/// cell does not use them. `names` name the three arguments in messages.
pub(crate) fn cell_of(
    cell: u32,
    gru_variant: u32,
    activation: u32,
    names: [&'static str; 3],
) -> Result<Cell, FfiError> {
    let invalid = |what, why| FfiError::Core(Error::InvalidValue { what, why });
    let variant = match gru_variant {
        v if v == frnn_gru_variant::LinearBeforeReset as u32 => GruVariant::LinearBeforeReset,
        v if v == frnn_gru_variant::ResetBeforeLinear as u32 => GruVariant::ResetBeforeLinear,
        _ => return Err(invalid(names[1], "not a frnn_gru_variant value")),
    };
    let act = match activation {
        v if v == frnn_activation::Tanh as u32 => Activation::Tanh,
        v if v == frnn_activation::Relu as u32 => Activation::Relu,
        _ => return Err(invalid(names[2], "not a frnn_activation value")),
    };
    match cell {
        v if v == frnn_cell::Lstm as u32 => Ok(Cell::Lstm),
        v if v == frnn_cell::Gru as u32 => Ok(Cell::Gru(variant)),
        v if v == frnn_cell::Rnn as u32 => Ok(Cell::Rnn(act)),
        _ => Err(invalid(names[0], "not a frnn_cell value")),
    }
}

/// What a layer computes. Zero-initialise it, then set the fields: fields that do not apply
/// to the cell (`gru_variant` unless GRU, `activation` unless RNN) are ignored but must still
/// hold a valid value, and 0 always is one. `options` (all off when zero) are set after the
/// other fields, best with the `frnn_layer_desc_set_*` calls.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// The cell's options (LSTM projection, peepholes, clips, coupled gates; layer
    /// normalization); all off when zero.
    pub options: frnn_cell_options,
}

impl frnn_layer_desc {
    /// The safe descriptor, after checking every field.
    pub(crate) fn to_desc(self) -> Result<LayerDesc, FfiError> {
        let names = ["desc.cell", "desc.gru_variant", "desc.activation"];
        let cell = cell_of(self.cell, self.gru_variant, self.activation, names)?;
        self.options
            .apply(LayerDesc::new(cell, self.input_size, self.hidden_size)?)
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
            options: frnn_cell_options::of(d),
        }
    }
}

impl WithOptions for frnn_layer_desc {
    fn options_mut(&mut self) -> &mut frnn_cell_options {
        &mut self.options
    }
    fn validate(&self) -> Result<(), FfiError> {
        self.to_desc().map(drop)
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
/// `desc`: `W_ih` is `[G*H, I]`, `W_hh` is `[G*H, H]` (`[4H, P]` with an LSTM projection),
/// and `b_ih`, `b_hh` are `[G*H]` each. Also validates the descriptor (its options included).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (a field is not a value
/// of its enum, or the options are invalid: see `frnn_cell_options`), `FRNN_STATUS_ZERO_SIZE`
/// (`I` or `H` is 0), `FRNN_STATUS_OVERFLOW`.
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
        let [w_ih, w_hh, b, _] = weight_lens(&desc);
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_all(outs, [w_ih, w_hh, b]) };
        Ok(())
    })
}

/// The lengths of `W_ih`, `W_hh`, `b_ih`, `b_hh` of a layer described by `d`.
pub(crate) fn weight_lens(d: &LayerDesc) -> [usize; 4] {
    let gh = d.gate_rows();
    [gh * d.input_size(), gh * d.output_size(), gh, gh]
}

/// The lengths of `W_hr`, the peepholes and the layer-norm parameters of a layer described
/// by `d` (0 for those it does not have).
pub(crate) fn extra_lens(d: &LayerDesc) -> [usize; 3] {
    let h = d.hidden_size();
    [
        d.proj_size().map_or(0, |p| p * h),
        if d.peepholes() { 3 * h } else { 0 },
        d.layer_norm_len(),
    ]
}

/// Writes the lengths (in `float` elements) of the extra weight buffers (see
/// `frnn_extra_weights`) of a layer described by `desc`, each 0 when the layer does not have
/// it: `W_hr` `[P, H]` (LSTM projection), the peepholes `[3H]`, and the layer-norm gains and
/// biases (`18H` for an LSTM, `12H` for a GRU). Also validates the descriptor.
///
/// Errors: as `frnn_desc_weight_lens`.
///
/// # Safety
///
/// As `frnn_desc_weight_lens`.
#[no_mangle]
pub unsafe extern "C" fn frnn_desc_extra_weight_lens(
    desc: *const frnn_layer_desc,
    out_w_hr_len: *mut usize,
    out_peepholes_len: *mut usize,
    out_layer_norm_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_extra_lens(&desc, out_w_hr_len, out_peepholes_len, out_layer_norm_len) }
    })
}

/// Writes [`extra_lens`] of `d` to the three out-parameters (all checked first).
///
/// # Safety
///
/// Each pointer is NULL or points to a writable `size_t`.
pub(crate) unsafe fn write_extra_lens(
    d: &LayerDesc,
    out_w_hr_len: *mut usize,
    out_peepholes_len: *mut usize,
    out_layer_norm_len: *mut usize,
) -> Result<(), FfiError> {
    let outs = [
        Out::new("out_w_hr_len", out_w_hr_len)?,
        Out::new("out_peepholes_len", out_peepholes_len)?,
        Out::new("out_layer_norm_len", out_layer_norm_len)?,
    ];
    // SAFETY: the caller's contract.
    unsafe { write_all(outs, extra_lens(d)) };
    Ok(())
}

/// Sets the LSTM projection size `P` (`1 <= P < H`; see `frnn_cell_options`) of the layer
/// descriptor `*desc`, whose other fields must already be set. `*desc` is changed only when
/// the result is a valid descriptor.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_ZERO_SIZE` (`proj_size` is 0);
/// `FRNN_STATUS_INVALID_VALUE` (`proj_size >= H`, not an LSTM, combined with layer
/// normalization, or another field of `*desc` is invalid); `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// `desc` is NULL or points to a readable and writable `frnn_layer_desc`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_desc_set_proj_size(desc: *mut frnn_layer_desc, proj_size: usize) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::proj_size(proj_size)) }
}

/// Turns the LSTM peephole connections of `*desc` on (`enable` 1) or off (0); see
/// `frnn_cell_options`. `*desc` is changed only when the result is a valid descriptor.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` (`enable` not 0 or 1, not
/// an LSTM, combined with layer normalization, or another field is invalid).
///
/// # Safety
///
/// As `frnn_layer_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_desc_set_peepholes(desc: *mut frnn_layer_desc, enable: u32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::peepholes(enable)) }
}

/// Sets the LSTM gate pre-activation clip of `*desc` (positive and finite; see
/// `frnn_cell_options`). `*desc` is changed only when the result is a valid descriptor.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` (`clip` not positive and
/// finite, not an LSTM, combined with layer normalization, or another field is invalid).
///
/// # Safety
///
/// As `frnn_layer_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_desc_set_clip(desc: *mut frnn_layer_desc, clip: f32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::clip(clip)) }
}

/// Sets the LSTM cell-state clip of `*desc` (positive and finite; see `frnn_cell_options`).
/// `*desc` is changed only when the result is a valid descriptor.
///
/// Errors: as `frnn_layer_desc_set_clip`.
///
/// # Safety
///
/// As `frnn_layer_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_desc_set_cell_clip(desc: *mut frnn_layer_desc, cell_clip: f32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::cell_clip(cell_clip)) }
}

/// Couples the LSTM input and forget gates of `*desc` (`f = 1 - i`; `enable` 1) or not (0);
/// see `frnn_cell_options`. `*desc` is changed only when the result is a valid descriptor.
///
/// Errors: as `frnn_layer_desc_set_peepholes`.
///
/// # Safety
///
/// As `frnn_layer_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_desc_set_input_forget(desc: *mut frnn_layer_desc, enable: u32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::input_forget(enable)) }
}

/// Turns layer normalization of `*desc` on (`enable` 1) or off (0); see
/// `frnn_cell_options`. `*desc` is changed only when the result is a valid descriptor.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE` (`enable` not 0 or 1, a
/// cell other than the LSTM and the linear-before-reset GRU, combined with LSTM options, or
/// another field is invalid).
///
/// # Safety
///
/// As `frnn_layer_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_layer_desc_set_layer_norm(desc: *mut frnn_layer_desc, enable: u32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::layer_norm(enable)) }
}
