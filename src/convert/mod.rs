//! Weights from where users have them: PyTorch `state_dict`s (safetensors), ONNX
//! `LSTM`/`GRU`/`RNN` operator tensors and Keras layer weights, converted to and from this
//! crate's [`Weights`](crate::Weights) (PyTorch's layout and gate order).
//!
//! | framework | module | gate order | layout of the input weights |
//! |---|---|---|---|
//! | PyTorch | [`pytorch`] | LSTM `i,f,g,o`; GRU `r,z,n` | `weight_ih_l{k}` `[G*H, I]` (ours) |
//! | ONNX | [`onnx`] | LSTM `i,o,f,c`; GRU `z,r,h` | `W` `[dirs, G*H, I]` |
//! | Keras | [`keras`] | LSTM `i,f,c,o`; GRU `z,r,h` | `kernel` `[I, G*U]` (transposed) |
//!
//! Several layers or directions come as a `Vec<Weights>` in PyTorch's order, layer-major and
//! direction-minor: `[l0, l0_reverse, l1, l1_reverse, ...]` (just `[l0, l1, ...]` when
//! unidirectional), the order [`crate::Stack::new`] takes. Layer `l > 0` reads the previous
//! layer's output, so its input size is `H` (or `2H` when bidirectional).
//!
//! A reverse direction's [`Weights`](crate::Weights) are those of an ordinary layer that is run over the
//! time-reversed sequence (its outputs reversed back), as every one of these frameworks
//! defines it.

use crate::desc::Cell;
use crate::error::Error;

pub mod keras;
pub mod onnx;
pub mod pytorch;

/// An [`Error::Param`].
pub(crate) fn param_err(name: impl Into<String>, why: impl Into<String>) -> Error {
    Error::Param {
        name: name.into(),
        why: why.into(),
    }
}

/// Where a foreign framework keeps each of PyTorch's gate blocks: `foreign[p]` is the index of
/// the foreign block that holds PyTorch block `p`.
pub(crate) struct GateOrder {
    foreign: &'static [usize],
}

impl GateOrder {
    /// PyTorch's own order (LSTM `i,f,g,o`, GRU `r,z,n`, RNN).
    pub(crate) const IDENTITY_4: Self = Self { foreign: &[0, 1, 2, 3] };
    pub(crate) const IDENTITY_3: Self = Self { foreign: &[0, 1, 2] };
    pub(crate) const IDENTITY_1: Self = Self { foreign: &[0] };
    /// ONNX LSTM `i,o,f,c`: PyTorch `i,f,g,o` sit in blocks 0, 2, 3, 1.
    pub(crate) const ONNX_LSTM: Self = Self { foreign: &[0, 2, 3, 1] };
    /// ONNX and Keras GRU `z,r,h`: PyTorch `r,z,n` sit in blocks 1, 0, 2.
    pub(crate) const ZRH_GRU: Self = Self { foreign: &[1, 0, 2] };

    /// The identity order for `cell`.
    pub(crate) fn identity(cell: Cell) -> Self {
        match cell {
            Cell::Lstm => Self::IDENTITY_4,
            Cell::Gru(_) => Self::IDENTITY_3,
            Cell::Rnn(_) => Self::IDENTITY_1,
        }
    }

    /// Number of gate blocks.
    pub(crate) fn gates(&self) -> usize {
        self.foreign.len()
    }

    /// PyTorch-ordered copy of `src`, a stack of `G` foreign-ordered blocks of `block` elements
    /// each (rows of a matrix, or bias entries).
    pub(crate) fn foreign_to_pytorch(&self, src: &[f32], block: usize) -> Vec<f32> {
        debug_assert_eq!(src.len(), self.gates() * block);
        let mut out = Vec::with_capacity(src.len());
        for &f in self.foreign {
            out.extend_from_slice(&src[f * block..][..block]);
        }
        out
    }

    /// Foreign-ordered copy of `src`, a stack of `G` PyTorch-ordered blocks of `block` elements.
    pub(crate) fn pytorch_to_foreign(&self, src: &[f32], block: usize) -> Vec<f32> {
        debug_assert_eq!(src.len(), self.gates() * block);
        let mut out = vec![0.0; src.len()];
        for (p, &f) in self.foreign.iter().enumerate() {
            out[f * block..][..block].copy_from_slice(&src[p * block..][..block]);
        }
        out
    }
}

/// `[rows, cols]` → `[cols, rows]`, row-major.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    debug_assert_eq!(src.len(), rows * cols);
    let mut out = vec![0.0; src.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = src[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_orders_move_whole_blocks() {
        // Blocks of 2: PyTorch i,f,g,o = [0 0 | 1 1 | 2 2 | 3 3] sit in ONNX as i,o,f,g.
        let pt = [0., 0., 1., 1., 2., 2., 3., 3.];
        let onnx = GateOrder::ONNX_LSTM.pytorch_to_foreign(&pt, 2);
        assert_eq!(onnx, [0., 0., 3., 3., 1., 1., 2., 2.]);
        assert_eq!(GateOrder::ONNX_LSTM.foreign_to_pytorch(&onnx, 2), pt);
        // PyTorch r,z,n → z,r,h.
        let zrh = GateOrder::ZRH_GRU.pytorch_to_foreign(&[10., 20., 30.], 1);
        assert_eq!(zrh, [20., 10., 30.]);
        assert_eq!(GateOrder::ZRH_GRU.foreign_to_pytorch(&zrh, 1), [10., 20., 30.]);
        let id = GateOrder::identity(Cell::Lstm);
        assert_eq!(id.pytorch_to_foreign(&pt, 2), pt);
    }

    #[test]
    fn transpose_swaps_indices() {
        let m = [1., 2., 3., 4., 5., 6.]; // [2, 3]
        assert_eq!(transpose(&m, 2, 3), [1., 4., 2., 5., 3., 6.]);
        assert_eq!(transpose(&transpose(&m, 2, 3), 3, 2), m);
    }

    #[test]
    fn param_error_names_the_parameter() {
        let e = param_err("weight_hh_l1_reverse", "missing");
        assert_eq!(e.to_string(), "parameter weight_hh_l1_reverse: missing");
    }
}
