//! The tensors of one ONNX `LSTM`, `GRU` or `RNN` operator.
//!
//! | input | shape | here |
//! |---|---|---|
//! | `W` | `[dirs, G*H, I]` | `W_ih` of each direction, gate blocks reordered |
//! | `R` | `[dirs, G*H, H]` | `W_hh` |
//! | `B` | `[dirs, 2*G*H]` = `[Wb, Rb]` (optional, zeros) | `b_ih` = `Wb`, `b_hh` = `Rb` |
//! | `P` | `[dirs, 3*H]` (LSTM, optional, zeros) | peepholes `p_i, p_o, p_f` → [`Weights::peepholes`] (`p_i, p_f, p_o`) |
//!
//! ONNX's gate orders are LSTM `i, o, f, c` and GRU `z, r, h` (PyTorch's: `i, f, g, o` and
//! `r, z, n`); the converters move whole gate blocks. `dirs` is 2 for
//! `direction = "bidirectional"` (forward first, then reverse, as in PyTorch) and 1 for
//! `"forward"` or `"reverse"`: the single [`Weights`] of a `"reverse"` operator belong to a
//! layer run over the time-reversed sequence.
//!
//! The GRU attribute `linear_before_reset` picks the [`GruVariant`] ([`gru_variant`]); an
//! `RNN` with `activations = ["Relu"]` is `Cell::Rnn(Activation::Relu)`, the default `Tanh`
//! is `Activation::Tanh`.
//!
//! The attributes `clip` and `input_forget` of an LSTM are options of the [`LayerDesc`]
//! ([`LayerDesc::with_clip`], [`LayerDesc::with_input_forget`]; a non-zero `P` needs
//! [`LayerDesc::with_peepholes`]); [`OnnxLayer`] reports them back. ONNX has no projection.
//! Not supported: non-default activations of LSTM and GRU. This module converts tensors only:
//! the operator's attributes are the caller's to read and check.

use crate::desc::{Activation, Cell, GruVariant, LayerDesc};
use crate::error::{check_len, Error, Result};
use crate::weights::Weights;

use super::GateOrder;

/// The gate order ONNX uses for `cell`.
fn order(cell: Cell) -> GateOrder {
    match cell {
        Cell::Lstm => GateOrder::ONNX_LSTM,
        Cell::Gru(_) => GateOrder::ZRH_GRU,
        Cell::Rnn(_) => GateOrder::identity(cell),
    }
}

/// The [`GruVariant`] of an ONNX `GRU` with this `linear_before_reset` attribute: 0 (the
/// default) is [`GruVariant::ResetBeforeLinear`], 1 is [`GruVariant::LinearBeforeReset`]
/// (PyTorch's); any other value is an [`Error::InvalidValue`].
pub fn gru_variant(linear_before_reset: i64) -> Result<GruVariant> {
    match linear_before_reset {
        0 => Ok(GruVariant::ResetBeforeLinear),
        1 => Ok(GruVariant::LinearBeforeReset),
        _ => Err(Error::InvalidValue {
            what: "linear_before_reset",
            why: "must be 0 or 1",
        }),
    }
}

/// The ONNX `linear_before_reset` attribute of a GRU variant (inverse of [`gru_variant`]).
pub fn linear_before_reset(variant: GruVariant) -> i64 {
    match variant {
        GruVariant::ResetBeforeLinear => 0,
        GruVariant::LinearBeforeReset => 1,
    }
}

/// The tensors of one ONNX recurrent operator, borrowed (row-major `f32`, shapes in the
/// module docs).
#[derive(Clone, Copy, Debug)]
pub struct OnnxTensors<'a> {
    /// `W`, `[dirs, G*H, I]`.
    pub w: &'a [f32],
    /// `R`, `[dirs, G*H, H]`.
    pub r: &'a [f32],
    /// `B`, `[dirs, 2*G*H]`; `None` when the operator has no `B` (zero biases).
    pub b: Option<&'a [f32]>,
    /// `P`, `[dirs, 3*H]` (LSTM only); `None` when absent. Only all-zero values are accepted.
    pub p: Option<&'a [f32]>,
}

impl<'a> OnnxTensors<'a> {
    /// `W` and `R`, without biases or peepholes.
    pub fn new(w: &'a [f32], r: &'a [f32]) -> Self {
        Self { w, r, b: None, p: None }
    }
    /// With `B`.
    pub fn b(mut self, b: &'a [f32]) -> Self {
        self.b = Some(b);
        self
    }
    /// With `P`.
    pub fn p(mut self, p: &'a [f32]) -> Self {
        self.p = Some(p);
        self
    }
}

/// The weights of each direction (`num_directions` of them: forward, then reverse) of one
/// ONNX operator whose cell and sizes (`hidden_size` attribute, `I` from `X`) are `desc`.
///
/// Errors: `num_directions` not 1 or 2 ([`Error::InvalidValue`]); a tensor of the wrong length
/// ([`Error::LengthMismatch`] naming `"W"`, `"R"`, `"B"` or `"P"`); `P` given to a GRU or RNN
/// ([`Error::Unexpected`]); `P` with a non-zero (or NaN) element for a layer without
/// peepholes ([`Error::InvalidValue`]); a `desc` with a projection ([`Error::InvalidValue`]).
pub fn from_onnx(desc: &LayerDesc, num_directions: usize, t: OnnxTensors<'_>) -> Result<Vec<Weights>> {
    let dirs = check_dirs(num_directions)?;
    check_desc(desc)?;
    let (i, h, gh) = (desc.input_size(), desc.hidden_size(), desc.gate_rows());
    check_len("W", dirs * gh * i, t.w.len())?;
    check_len("R", dirs * gh * h, t.r.len())?;
    if let Some(b) = t.b {
        check_len("B", dirs * 2 * gh, b.len())?;
    }
    if let Some(p) = t.p {
        if desc.cell() != Cell::Lstm {
            return Err(Error::Unexpected { what: "P" });
        }
        check_len("P", dirs * 3 * h, p.len())?;
        if !desc.peepholes() && p.iter().any(|&v| v != 0.0) {
            return Err(Error::InvalidValue {
                what: "P",
                why: "non-zero peepholes need a LayerDesc with_peepholes()",
            });
        }
    }
    let ord = order(desc.cell());
    (0..dirs)
        .map(|d| {
            let w_ih = ord.foreign_to_pytorch(&t.w[d * gh * i..][..gh * i], h * i);
            let w_hh = ord.foreign_to_pytorch(&t.r[d * gh * h..][..gh * h], h * h);
            let (b_ih, b_hh) = match t.b {
                Some(b) => {
                    let b = &b[d * 2 * gh..][..2 * gh];
                    (ord.foreign_to_pytorch(&b[..gh], h), ord.foreign_to_pytorch(&b[gh..], h))
                }
                None => (vec![0.0; gh], vec![0.0; gh]),
            };
            // ONNX P is p_i, p_o, p_f; ours p_i, p_f, p_o.
            let peep = desc.peepholes().then(|| match t.p {
                Some(p) => {
                    let p = &p[d * 3 * h..][..3 * h];
                    [&p[..h], &p[2 * h..], &p[h..2 * h]].concat()
                }
                None => vec![0.0; 3 * h],
            });
            Weights::new_lstm(desc, w_ih, w_hh, b_ih, b_hh, None, peep)
        })
        .collect()
}

/// What an ONNX operator cannot hold: an LSTM projection or layer normalization (its
/// peepholes, gate clip and `input_forget` it can).
pub(crate) fn check_desc(desc: &LayerDesc) -> Result<()> {
    if desc.proj_size().is_some() {
        return Err(no_projection());
    }
    if desc.layer_norm() {
        return Err(no_layer_norm());
    }
    Ok(())
}

fn no_layer_norm() -> Error {
    Error::InvalidValue {
        what: "desc",
        why: "ONNX's operators have no layer normalization",
    }
}

fn no_projection() -> Error {
    Error::InvalidValue {
        what: "desc",
        why: "ONNX's LSTM has no projection",
    }
}

fn check_dirs(num_directions: usize) -> Result<usize> {
    match num_directions {
        1 | 2 => Ok(num_directions),
        _ => Err(Error::InvalidValue {
            what: "num_directions",
            why: "must be 1 (forward or reverse) or 2 (bidirectional)",
        }),
    }
}

/// The tensors of one ONNX operator, owned, as [`to_onnx`] makes them.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxLayer {
    /// Cell and sizes of each direction.
    pub desc: LayerDesc,
    /// 1 or 2.
    pub num_directions: usize,
    /// `W`, `[dirs, G*H, I]`.
    pub w: Vec<f32>,
    /// `R`, `[dirs, G*H, H]`.
    pub r: Vec<f32>,
    /// `B`, `[dirs, 2*G*H]`.
    pub b: Vec<f32>,
    /// `P`, `[dirs, 3*H]` (`p_i, p_o, p_f`) for an LSTM with peepholes, else empty.
    pub p: Vec<f32>,
}

impl OnnxLayer {
    /// The operator: `"LSTM"`, `"GRU"` or `"RNN"`.
    pub fn op_type(&self) -> &'static str {
        match self.desc.cell() {
            Cell::Lstm => "LSTM",
            Cell::Gru(_) => "GRU",
            Cell::Rnn(_) => "RNN",
        }
    }
    /// The `linear_before_reset` attribute (GRU only).
    pub fn linear_before_reset(&self) -> Option<i64> {
        match self.desc.cell() {
            Cell::Gru(v) => Some(linear_before_reset(v)),
            _ => None,
        }
    }
    /// The activation name for the `activations` attribute of an `RNN` (`"Tanh"`, the
    /// default, or `"Relu"`; one entry per direction); `None` for LSTM and GRU, whose defaults
    /// are the ones this crate computes.
    pub fn rnn_activation(&self) -> Option<&'static str> {
        match self.desc.cell() {
            Cell::Rnn(Activation::Tanh) => Some("Tanh"),
            Cell::Rnn(Activation::Relu) => Some("Relu"),
            _ => None,
        }
    }
    /// The `clip` attribute (LSTM), if set.
    pub fn clip(&self) -> Option<f32> {
        self.desc.clip()
    }
    /// The `input_forget` attribute (LSTM): 1 or 0.
    pub fn input_forget(&self) -> i64 {
        i64::from(self.desc.input_forget())
    }
    /// Shape of `W`.
    pub fn w_shape(&self) -> [usize; 3] {
        [self.num_directions, self.desc.gate_rows(), self.desc.input_size()]
    }
    /// Shape of `R`.
    pub fn r_shape(&self) -> [usize; 3] {
        [self.num_directions, self.desc.gate_rows(), self.desc.hidden_size()]
    }
    /// Shape of `B`.
    pub fn b_shape(&self) -> [usize; 2] {
        [self.num_directions, 2 * self.desc.gate_rows()]
    }
    /// Borrowed as the input of [`from_onnx`].
    pub fn tensors(&self) -> OnnxTensors<'_> {
        let t = OnnxTensors::new(&self.w, &self.r).b(&self.b);
        if self.p.is_empty() {
            t
        } else {
            t.p(&self.p)
        }
    }
}

/// The ONNX tensors of one operator from the weights of its directions: `[forward]`,
/// `[reverse]` (for `direction = "reverse"`) or `[forward, reverse]` (`"bidirectional"`).
///
/// Errors ([`Error::InvalidValue`] on `"weights"`): not 1 or 2 entries, or two with different
/// descriptors, or an LSTM projection (ONNX has none); cell clipping (cuDNN's) has no ONNX
/// attribute either and is refused.
pub fn to_onnx(weights: &[Weights]) -> Result<OnnxLayer> {
    let dirs = check_dirs(weights.len()).map_err(|_| Error::InvalidValue {
        what: "weights",
        why: "one ONNX operator holds 1 or 2 directions",
    })?;
    let desc = *weights[0].desc();
    if weights.iter().any(|w| *w.desc() != desc) {
        return Err(Error::InvalidValue {
            what: "weights",
            why: "both directions must have the same cell and sizes",
        });
    }
    if desc.proj_size().is_some() {
        return Err(no_projection());
    }
    if desc.layer_norm() {
        return Err(no_layer_norm());
    }
    if desc.cell_clip().is_some() {
        return Err(Error::InvalidValue {
            what: "weights",
            why: "ONNX's LSTM has no cell-state clipping",
        });
    }
    let (i, h, gh) = (desc.input_size(), desc.hidden_size(), desc.gate_rows());
    let ord = order(desc.cell());
    let mut out = OnnxLayer {
        desc,
        num_directions: dirs,
        w: Vec::with_capacity(dirs * gh * i),
        r: Vec::with_capacity(dirs * gh * h),
        b: Vec::with_capacity(dirs * 2 * gh),
        p: Vec::new(),
    };
    for w in weights {
        out.w.extend(ord.pytorch_to_foreign(w.w_ih(), h * i));
        out.r.extend(ord.pytorch_to_foreign(w.w_hh(), h * h));
        out.b.extend(ord.pytorch_to_foreign(w.b_ih(), h));
        out.b.extend(ord.pytorch_to_foreign(w.b_hh(), h));
        if desc.peepholes() {
            let p = w.peepholes();
            out.p.extend_from_slice(&p[..h]);
            out.p.extend_from_slice(&p[2 * h..]);
            out.p.extend_from_slice(&p[h..2 * h]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `H = I = 1` each gate block is one number, so the reordering is visible by hand.
    #[test]
    fn lstm_blocks_move_from_iofc_to_ifgo() {
        let desc = LayerDesc::new(Cell::Lstm, 1, 1).unwrap();
        // ONNX i, o, f, c.
        let w = [1., 2., 3., 4.];
        let r = [10., 20., 30., 40.];
        let b = [100., 200., 300., 400., 1000., 2000., 3000., 4000.];
        let got = from_onnx(&desc, 1, OnnxTensors::new(&w, &r).b(&b)).unwrap();
        // PyTorch i, f, g, o.
        assert_eq!(got[0].w_ih(), [1., 3., 4., 2.]);
        assert_eq!(got[0].w_hh(), [10., 30., 40., 20.]);
        assert_eq!(got[0].b_ih(), [100., 300., 400., 200.]);
        assert_eq!(got[0].b_hh(), [1000., 3000., 4000., 2000.]);
        let back = to_onnx(&got).unwrap();
        assert_eq!((back.w, back.r, back.b), (w.to_vec(), r.to_vec(), b.to_vec()));
    }

    #[test]
    fn gru_blocks_move_from_zrh_to_rzn() {
        let desc = LayerDesc::new(Cell::Gru(GruVariant::ResetBeforeLinear), 1, 1).unwrap();
        let got = from_onnx(&desc, 1, OnnxTensors::new(&[1., 2., 3.], &[4., 5., 6.])).unwrap();
        assert_eq!(got[0].w_ih(), [2., 1., 3.]);
        assert_eq!(got[0].w_hh(), [5., 4., 6.]);
        assert_eq!(got[0].b_ih(), [0.; 3]);
    }

    #[test]
    fn attributes() {
        assert_eq!(gru_variant(0), Ok(GruVariant::ResetBeforeLinear));
        assert_eq!(gru_variant(1), Ok(GruVariant::LinearBeforeReset));
        assert!(matches!(
            gru_variant(2),
            Err(Error::InvalidValue {
                what: "linear_before_reset",
                ..
            })
        ));
        for v in [GruVariant::ResetBeforeLinear, GruVariant::LinearBeforeReset] {
            assert_eq!(gru_variant(linear_before_reset(v)), Ok(v));
        }
    }
}
