//! The stack descriptor: a plain C struct, the direction enum, and the size queries.

use super::desc::{change, frnn_cell_options, frnn_layer_desc, set_option, weight_lens, write_extra_lens, WithOptions};
use super::handles::{borrow_handle, write_all, Out};
use super::status::{frnn_status, guard, FfiError};
use crate::api::{Direction, StackDesc};
use crate::desc::{Activation, Cell, GruVariant, LayerDesc};
use crate::error::Error;

/// How the layers of a stack run over time (values of `frnn_stack_desc.direction`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum frnn_direction {
    /// Left to right; `D = 1`.
    Forward = 0,
    /// Right to left (the output at step `t` has seen steps `t..T`); `D = 1`.
    Reverse = 1,
    /// Both directions, outputs concatenated per step, forward half first: `W = 2H` (PyTorch
    /// `bidirectional=True`, cuDNN); `D = 2`.
    Bidirectional = 2,
    /// Both directions, outputs summed per step: `W = H` (oneDNN's `bidirectional_sum`);
    /// `D = 2`.
    BidirectionalSum = 3,
}

/// What a stack computes: `num_layers` layers of one cell, layer 0 reading the input (`I`
/// features), layer `l > 0` reading layer `l - 1`'s output (`W` features), each layer with
/// `D` directions (`direction`). Zero-initialise it, then set the fields; fields that do not
/// apply to the cell are ignored but must hold a valid value (0 always is one). `options`
/// (all off when zero) apply to every layer-direction; set them after the other fields, best
/// with the `frnn_stack_desc_set_*` calls.
///
/// Weights and states are indexed as PyTorch orders them: layer-direction `k = l * D + d`,
/// the reverse direction second (`[l0, l0_reverse, l1, l1_reverse, ...]`). Sequences are
/// `x` `[T, N, I]` and `y` `[T, N, W]`, or `[N, T, I]` and `[N, T, W]` when `batch_first`
/// is 1; states are `[L*D, N, H]` either way.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct frnn_stack_desc {
    /// A `frnn_cell` value.
    pub cell: u32,
    /// A `frnn_gru_variant` value (GRU only).
    pub gru_variant: u32,
    /// A `frnn_activation` value (RNN only).
    pub activation: u32,
    /// A `frnn_direction` value.
    pub direction: u32,
    /// `I`, the number of input features of layer 0 (at least 1).
    pub input_size: usize,
    /// `H`, the number of hidden units of every layer (at least 1). With an LSTM projection
    /// (`options.proj_size` `P`) the hidden states and outputs of each direction are `P`
    /// wide instead (`W = 2P` or `P`), cell states stay `H` wide.
    pub hidden_size: usize,
    /// `L`, the number of layers (at least 1).
    pub num_layers: usize,
    /// 0: sequences time-major `[T, N, .]`; 1: batch-major `[N, T, .]` (PyTorch
    /// `batch_first=True`, ONNX `layout=1`).
    pub batch_first: u32,
    /// The cell's options, for every layer-direction (see `frnn_cell_options`); all off when
    /// zero.
    pub options: frnn_cell_options,
}

impl frnn_stack_desc {
    /// The safe descriptor, after checking every field.
    pub(crate) fn to_desc(self) -> Result<StackDesc, FfiError> {
        let (cell, direction, batch_first) = self.parts()?;
        let layer = self
            .options
            .apply(LayerDesc::new(cell, self.input_size, self.hidden_size)?)?;
        let d = StackDesc::from_layer(layer, self.num_layers, direction)?;
        Ok(d.batch_first(batch_first))
    }

    /// The cell, direction and `batch_first` flag, checked; the sizes are not looked at.
    pub(crate) fn parts(self) -> Result<(Cell, Direction, bool), FfiError> {
        let invalid = |what, why| FfiError::Core(Error::InvalidValue { what, why });
        let cell = frnn_layer_desc {
            cell: self.cell,
            gru_variant: self.gru_variant,
            activation: self.activation,
            input_size: 1,
            hidden_size: 1,
            options: frnn_cell_options::default(),
        }
        .to_desc()?
        .cell();
        let direction = match self.direction {
            v if v == frnn_direction::Forward as u32 => Direction::Forward,
            v if v == frnn_direction::Reverse as u32 => Direction::Reverse,
            v if v == frnn_direction::Bidirectional as u32 => Direction::Bidirectional,
            v if v == frnn_direction::BidirectionalSum as u32 => Direction::BidirectionalSum,
            _ => return Err(invalid("desc.direction", "not a frnn_direction value")),
        };
        let batch_first = match self.batch_first {
            0 => false,
            1 => true,
            _ => return Err(invalid("desc.batch_first", "must be 0 or 1")),
        };
        Ok((cell, direction, batch_first))
    }

    /// The C descriptor of a stack (fields that do not apply are 0).
    pub(crate) fn from_desc(d: &StackDesc) -> Self {
        let (gru_variant, activation) = match d.cell() {
            Cell::Gru(GruVariant::ResetBeforeLinear) => (1, 0),
            Cell::Rnn(Activation::Relu) => (0, 1),
            _ => (0, 0),
        };
        let cell = match d.cell() {
            Cell::Lstm => super::desc::frnn_cell::Lstm,
            Cell::Gru(_) => super::desc::frnn_cell::Gru,
            Cell::Rnn(_) => super::desc::frnn_cell::Rnn,
        };
        let direction = match d.direction() {
            Direction::Forward => frnn_direction::Forward,
            Direction::Reverse => frnn_direction::Reverse,
            Direction::Bidirectional => frnn_direction::Bidirectional,
            Direction::BidirectionalSum => frnn_direction::BidirectionalSum,
        };
        Self {
            cell: cell as u32,
            gru_variant,
            activation,
            direction: direction as u32,
            input_size: d.input_size(),
            hidden_size: d.hidden_size(),
            num_layers: d.num_layers(),
            batch_first: u32::from(d.is_batch_first()),
            options: d
                .layer_desc(0)
                .map_or_else(|_| frnn_cell_options::default(), |l| frnn_cell_options::of(&l)),
        }
    }
}

impl WithOptions for frnn_stack_desc {
    fn options_mut(&mut self) -> &mut frnn_cell_options {
        &mut self.options
    }
    fn validate(&self) -> Result<(), FfiError> {
        self.to_desc().map(drop)
    }
}

/// The descriptor of layer-direction `index` of `desc`, refusing an index past `L*D`.
pub(crate) fn layer_at(desc: &StackDesc, index: usize) -> Result<LayerDesc, FfiError> {
    if index >= desc.layer_count() {
        return Err(Error::InvalidValue {
            what: "index",
            why: "not below the number of layer-directions L*D",
        }
        .into());
    }
    Ok(desc.layer_desc(index / desc.direction().count())?)
}

/// Writes the number of layer-directions `L*D` (of weight sets, and of state slices) of a
/// stack described by `desc` to `*out_layer_count`, and the width `W` of its output per step
/// (`2H` for `FRNN_DIRECTION_BIDIRECTIONAL`, else `H`) to `*out_output_size`. Also validates
/// the descriptor.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_INVALID_VALUE` (a field is not a value
/// of its enum, `batch_first` not 0 or 1), `FRNN_STATUS_ZERO_SIZE` (`I`, `H` or
/// `num_layers` is 0), `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// Each pointer is NULL or valid: `desc` for reading an `frnn_stack_desc`, the others for
/// writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_sizes(
    desc: *const frnn_stack_desc,
    out_layer_count: *mut usize,
    out_output_size: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let outs = [
            Out::new("out_layer_count", out_layer_count)?,
            Out::new("out_output_size", out_output_size)?,
        ];
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_all(outs, [desc.layer_count(), desc.output_size()]) };
        Ok(())
    })
}

/// Writes the lengths (in `float` elements) of the weight buffers of layer-direction `index`
/// (`l * D + d`, below `L*D`) of a stack described by `desc`: `W_ih` `[G*H, I_l]` with
/// `I_l = I` for layer 0 and `W` above, `W_hh` `[G*H, H]` (`[4H, P]` with an LSTM
/// projection), and `b_ih`, `b_hh` `[G*H]` each.
///
/// Errors: as `frnn_stack_desc_sizes`; `FRNN_STATUS_INVALID_VALUE` when `index >= L*D`.
///
/// # Safety
///
/// As `frnn_stack_desc_sizes`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_weight_lens(
    desc: *const frnn_stack_desc,
    index: usize,
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
        let [w_ih, w_hh, b, _] = weight_lens(&layer_at(&desc, index)?);
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_all(outs, [w_ih, w_hh, b]) };
        Ok(())
    })
}

/// Writes the lengths (in `float` elements) of the extra weight buffers (see
/// `frnn_extra_weights`) of layer-direction `index` of a stack described by `desc`, each 0
/// when the layers do not have it: `W_hr` `[P, H]`, the peepholes `[3H]`, the layer-norm
/// parameters (`18H` LSTM, `12H` GRU). The same for every layer-direction.
///
/// Errors: as `frnn_stack_desc_weight_lens`.
///
/// # Safety
///
/// As `frnn_stack_desc_sizes`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_extra_weight_lens(
    desc: *const frnn_stack_desc,
    index: usize,
    out_w_hr_len: *mut usize,
    out_peepholes_len: *mut usize,
    out_layer_norm_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?.to_desc()?;
        let layer = layer_at(&desc, index)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { write_extra_lens(&layer, out_w_hr_len, out_peepholes_len, out_layer_norm_len) }
    })
}

/// As `frnn_layer_desc_set_proj_size`, for every layer-direction of the stack descriptor
/// `*desc` (whose other fields must already be set).
///
/// Errors: as `frnn_layer_desc_set_proj_size`.
///
/// # Safety
///
/// `desc` is NULL or points to a readable and writable `frnn_stack_desc`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_set_proj_size(desc: *mut frnn_stack_desc, proj_size: usize) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::proj_size(proj_size)) }
}

/// As `frnn_layer_desc_set_peepholes`, for every layer-direction of `*desc`.
///
/// Errors: as `frnn_layer_desc_set_peepholes`.
///
/// # Safety
///
/// As `frnn_stack_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_set_peepholes(desc: *mut frnn_stack_desc, enable: u32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::peepholes(enable)) }
}

/// As `frnn_layer_desc_set_clip`, for every layer-direction of `*desc`.
///
/// Errors: as `frnn_layer_desc_set_clip`.
///
/// # Safety
///
/// As `frnn_stack_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_set_clip(desc: *mut frnn_stack_desc, clip: f32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::clip(clip)) }
}

/// As `frnn_layer_desc_set_cell_clip`, for every layer-direction of `*desc`.
///
/// Errors: as `frnn_layer_desc_set_clip`.
///
/// # Safety
///
/// As `frnn_stack_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_set_cell_clip(desc: *mut frnn_stack_desc, cell_clip: f32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::cell_clip(cell_clip)) }
}

/// As `frnn_layer_desc_set_input_forget`, for every layer-direction of `*desc`.
///
/// Errors: as `frnn_layer_desc_set_peepholes`.
///
/// # Safety
///
/// As `frnn_stack_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_set_input_forget(desc: *mut frnn_stack_desc, enable: u32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::input_forget(enable)) }
}

/// As `frnn_layer_desc_set_layer_norm`, for every layer-direction of `*desc`.
///
/// Errors: as `frnn_layer_desc_set_layer_norm`.
///
/// # Safety
///
/// As `frnn_stack_desc_set_proj_size`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_desc_set_layer_norm(desc: *mut frnn_stack_desc, enable: u32) -> frnn_status {
    // SAFETY: the caller's contract (see # Safety).
    unsafe { set_option(desc, change::layer_norm(enable)) }
}
