//! Keras `LSTM`, `GRU` and `SimpleRNN` layer weights (`layer.get_weights()`, or the
//! `kernel`, `recurrent_kernel` and `bias` variables of the layer's cell).
//!
//! | cell | `kernel` | `recurrent_kernel` | `bias` | gate order |
//! |---|---|---|---|---|
//! | `LSTM` | `[I, 4U]` | `[U, 4U]` | `[4U]` | `i, f, c, o` |
//! | `GRU`, `reset_after=True` (default) | `[I, 3U]` | `[U, 3U]` | `[2, 3U]` (input, recurrent) | `z, r, h` |
//! | `GRU`, `reset_after=False` | `[I, 3U]` | `[U, 3U]` | `[3U]` | `z, r, h` |
//! | `SimpleRNN` | `[I, U]` | `[U, U]` | `[U]` | |
//!
//! Keras multiplies `x @ kernel` (row vector times matrix), so its matrices are the transposes
//! of PyTorch's `[G*U, I]`. `reset_after=True` is [`GruVariant::LinearBeforeReset`] (its two
//! biases become `b_ih` and `b_hh`), `reset_after=False` is [`GruVariant::ResetBeforeLinear`].
//! Keras has one bias elsewhere: it becomes `b_ih`, with `b_hh` zero; going back,
//! `b_ih + b_hh` is written (the same function: both are added to the same pre-activation).
//! `use_bias=False` is `bias = None` here (zeros).
//!
//! Only Keras' default activations are computed (`tanh`, with `sigmoid` gates — Keras 2's
//! default `recurrent_activation`); a `SimpleRNN` with `activation="relu"` is
//! `Cell::Rnn(Activation::Relu)`. A `Bidirectional` wrapper holds a forward and a backward
//! layer: convert each, and run the backward one over the time-reversed sequence.

use crate::desc::{Cell, GruVariant, LayerDesc};
use crate::error::{check_len, Error, Result};
use crate::weights::Weights;

use super::{transpose, GateOrder};

fn order(cell: Cell) -> GateOrder {
    match cell {
        Cell::Gru(_) => GateOrder::ZRH_GRU,
        _ => GateOrder::identity(cell),
    }
}

/// The weights of one Keras layer, borrowed (row-major `f32`, shapes in the module docs).
#[derive(Clone, Copy, Debug)]
pub struct KerasTensors<'a> {
    /// `kernel`, `[I, G*U]`.
    pub kernel: &'a [f32],
    /// `recurrent_kernel`, `[U, G*U]`.
    pub recurrent_kernel: &'a [f32],
    /// `bias`: `[G*U]`, or `[2, 3U]` for a GRU with `reset_after=True`; `None` for
    /// `use_bias=False`.
    pub bias: Option<&'a [f32]>,
}

/// The [`Weights`] of a Keras layer whose cell and sizes (`I`, `units`) are `desc`.
///
/// Errors: a tensor of the wrong length ([`Error::LengthMismatch`] naming `"kernel"`,
/// `"recurrent_kernel"` or `"bias"`); for a GRU, a bias of the other `reset_after` setting's
/// shape ([`Error::InvalidValue`] saying which variant it belongs to).
pub fn from_keras(desc: &LayerDesc, t: KerasTensors<'_>) -> Result<Weights> {
    plain(desc)?;
    let (i, u, gu) = (desc.input_size(), desc.hidden_size(), desc.gate_rows());
    check_len("kernel", i * gu, t.kernel.len())?;
    check_len("recurrent_kernel", u * gu, t.recurrent_kernel.len())?;
    let ord = order(desc.cell());
    let w_ih = ord.foreign_to_pytorch(&transpose(t.kernel, i, gu), u * i);
    let w_hh = ord.foreign_to_pytorch(&transpose(t.recurrent_kernel, u, gu), u * u);
    let two_biases = desc.cell() == Cell::Gru(GruVariant::LinearBeforeReset);
    let (b_ih, b_hh) = match t.bias {
        None => (vec![0.0; gu], vec![0.0; gu]),
        Some(b) => {
            if matches!(desc.cell(), Cell::Gru(_)) {
                if two_biases && b.len() == gu {
                    return Err(Error::InvalidValue {
                        what: "bias",
                        why: "shape [3U] is a GRU with reset_after=False: use GruVariant::ResetBeforeLinear",
                    });
                }
                if !two_biases && b.len() == 2 * gu {
                    return Err(Error::InvalidValue {
                        what: "bias",
                        why: "shape [2, 3U] is a GRU with reset_after=True: use GruVariant::LinearBeforeReset",
                    });
                }
            }
            if two_biases {
                check_len("bias", 2 * gu, b.len())?;
                (ord.foreign_to_pytorch(&b[..gu], u), ord.foreign_to_pytorch(&b[gu..], u))
            } else {
                check_len("bias", gu, b.len())?;
                (ord.foreign_to_pytorch(b, u), vec![0.0; gu])
            }
        }
    };
    Weights::new(desc, w_ih, w_hh, b_ih, b_hh)
}

/// The weights of one Keras layer, owned, as [`to_keras`] makes them.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasWeights {
    /// Cell and sizes.
    pub desc: LayerDesc,
    /// `kernel`, `[I, G*U]`.
    pub kernel: Vec<f32>,
    /// `recurrent_kernel`, `[U, G*U]`.
    pub recurrent_kernel: Vec<f32>,
    /// `bias`, shape [`KerasWeights::bias_shape`].
    pub bias: Vec<f32>,
}

impl KerasWeights {
    /// Shape of `kernel`: `[I, G*U]`.
    pub fn kernel_shape(&self) -> [usize; 2] {
        [self.desc.input_size(), self.desc.gate_rows()]
    }
    /// Shape of `recurrent_kernel`: `[U, G*U]`.
    pub fn recurrent_kernel_shape(&self) -> [usize; 2] {
        [self.desc.hidden_size(), self.desc.gate_rows()]
    }
    /// Shape of `bias`: `[2, 3U]` for a GRU with `reset_after=True`, `[G*U]` otherwise.
    pub fn bias_shape(&self) -> Vec<usize> {
        match self.reset_after() {
            Some(true) => vec![2, self.desc.gate_rows()],
            _ => vec![self.desc.gate_rows()],
        }
    }
    /// The GRU's `reset_after` argument; `None` for LSTM and SimpleRNN.
    pub fn reset_after(&self) -> Option<bool> {
        match self.desc.cell() {
            Cell::Gru(v) => Some(v == GruVariant::LinearBeforeReset),
            _ => None,
        }
    }
    /// Borrowed as the input of [`from_keras`].
    pub fn tensors(&self) -> KerasTensors<'_> {
        KerasTensors {
            kernel: &self.kernel,
            recurrent_kernel: &self.recurrent_kernel,
            bias: Some(&self.bias),
        }
    }
}

/// Keras' `LSTM`, `GRU` and `SimpleRNN` have none of the LSTM options or layer normalization.
pub(crate) fn plain(desc: &LayerDesc) -> Result<()> {
    let opts = desc.proj_size().is_some()
        || desc.peepholes()
        || desc.clip().is_some()
        || desc.cell_clip().is_some()
        || desc.input_forget()
        || desc.layer_norm();
    if opts {
        return Err(Error::InvalidValue {
            what: "desc",
            why: "Keras layers have no projection, peepholes, clipping, input_forget or layer norm",
        });
    }
    Ok(())
}

/// The Keras weights of one layer (`layer.set_weights([kernel, recurrent_kernel, bias])` with
/// the arrays reshaped to [`KerasWeights`]' shapes). Except for a `reset_after=True` GRU,
/// Keras has one bias and gets `b_ih + b_hh`.
///
/// Errors: a layer with LSTM options or layer normalization ([`Error::InvalidValue`]).
pub fn to_keras(w: &Weights) -> Result<KerasWeights> {
    let desc = *w.desc();
    plain(&desc)?;
    let (i, u, gu) = (desc.input_size(), desc.hidden_size(), desc.gate_rows());
    let ord = order(desc.cell());
    let kernel = transpose(&ord.pytorch_to_foreign(w.w_ih(), u * i), gu, i);
    let recurrent_kernel = transpose(&ord.pytorch_to_foreign(w.w_hh(), u * u), gu, u);
    let bias = if desc.cell() == Cell::Gru(GruVariant::LinearBeforeReset) {
        let mut b = ord.pytorch_to_foreign(w.b_ih(), u);
        b.extend(ord.pytorch_to_foreign(w.b_hh(), u));
        b
    } else {
        let sum: Vec<f32> = w.b_ih().iter().zip(w.b_hh()).map(|(a, b)| a + b).collect();
        ord.pytorch_to_foreign(&sum, u)
    };
    Ok(KerasWeights {
        desc,
        kernel,
        recurrent_kernel,
        bias,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::Activation;

    /// `I = 2`, `U = 1`: kernel `[2, 3]` columns are z, r, h.
    #[test]
    fn gru_kernel_is_transposed_and_reordered() {
        let desc = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 2, 1).unwrap();
        let kernel = [1., 2., 3., 4., 5., 6.]; // rows x0: z r h, x1: z r h
        let rk = [7., 8., 9.];
        let bias = [10., 20., 30., 40., 50., 60.];
        let w = from_keras(
            &desc,
            KerasTensors {
                kernel: &kernel,
                recurrent_kernel: &rk,
                bias: Some(&bias),
            },
        )
        .unwrap();
        // W_ih [3, 2]: rows r, z, n.
        assert_eq!(w.w_ih(), [2., 5., 1., 4., 3., 6.]);
        assert_eq!(w.w_hh(), [8., 7., 9.]);
        assert_eq!(w.b_ih(), [20., 10., 30.]);
        assert_eq!(w.b_hh(), [50., 40., 60.]);
        let k = to_keras(&w).unwrap();
        assert_eq!((k.kernel.as_slice(), k.bias.as_slice()), (&kernel[..], &bias[..]));
        assert_eq!(k.bias_shape(), [2, 3]);
    }

    #[test]
    fn single_bias_goes_to_b_ih_and_comes_back_summed() {
        let desc = LayerDesc::new(Cell::Rnn(Activation::Relu), 1, 2).unwrap();
        let w = Weights::new(&desc, vec![1., 2.], vec![0.; 4], vec![1., 2.], vec![0.5, 0.25]).unwrap();
        let k = to_keras(&w).unwrap();
        assert_eq!(k.bias, [1.5, 2.25]);
        assert_eq!(k.reset_after(), None);
        let back = from_keras(&desc, k.tensors()).unwrap();
        assert_eq!((back.b_ih(), back.b_hh()), (&[1.5, 2.25][..], &[0.0, 0.0][..]));
    }
}
