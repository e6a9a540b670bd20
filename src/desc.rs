//! What a layer computes: the cell, its variant, and the sizes `I` (input) and `H` (hidden).

use crate::error::{product, Error, Result};

/// The reset-gate placement of a GRU.
///
/// Both compute `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`
/// and `h' = (1 - z) ⊙ n + z ⊙ h`; they differ in the candidate `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GruVariant {
    /// `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`: PyTorch, cuDNN, Keras `reset_after=True`,
    /// ONNX `linear_before_reset=1`, oneDNN's LBR-GRU. The whole recurrent product runs before
    /// the reset gate is known.
    LinearBeforeReset,
    /// `n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)`: the original GRU, ONNX's default
    /// (`linear_before_reset=0`), Keras `reset_after=False`, oneDNN's plain GRU.
    ResetBeforeLinear,
}

/// The nonlinearity of a simple (Elman) RNN cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `h' = tanh(a)`.
    Tanh,
    /// `h' = max(a, 0)` (NaN propagates).
    Relu,
}

/// The recurrent cell of a layer.
///
/// Gate blocks of every weight matrix and bias are stacked in this order (PyTorch's):
/// - LSTM: `i, f, g, o` (input, forget, cell candidate, output), `G = 4`;
/// - GRU: `r, z, n` (reset, update, candidate), `G = 3`;
/// - RNN: one block, `G = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    /// `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')` with `i, f, o = σ(·)`, `g = tanh(·)`.
    Lstm,
    /// Gated recurrent unit; see [`GruVariant`].
    Gru(GruVariant),
    /// `h' = act(W_ih x + b_ih + W_hh h + b_hh)`.
    Rnn(Activation),
}

impl Cell {
    /// Number of gate blocks `G`: 4 (LSTM), 3 (GRU), 1 (RNN).
    pub const fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru(_) => 3,
            Cell::Rnn(_) => 1,
        }
    }

    /// Whether the cell carries a cell state `c` besides `h` (LSTM only).
    pub const fn has_cell_state(self) -> bool {
        matches!(self, Cell::Lstm)
    }
}

/// Largest element count of any one buffer: keeps every stride and offset inside `isize`
/// for `f32` data.
pub(crate) const MAX_ELEMS: usize = (isize::MAX as usize) / 8;

/// Describes one recurrent layer in one direction: the cell, `I` and `H`.
///
/// ```
/// use fusedrnn::{Cell, GruVariant, LayerDesc};
/// let d = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 10, 20).unwrap();
/// assert_eq!(d.gate_rows(), 60);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LayerDesc {
    cell: Cell,
    input_size: usize,
    hidden_size: usize,
}

impl LayerDesc {
    /// A layer of `cell` reading `input_size` (`I`) features and keeping `hidden_size` (`H`)
    /// units. Both must be at least 1 and every weight buffer must be addressable.
    pub fn new(cell: Cell, input_size: usize, hidden_size: usize) -> Result<Self> {
        if input_size == 0 {
            return Err(Error::ZeroSize { what: "I" });
        }
        if hidden_size == 0 {
            return Err(Error::ZeroSize { what: "H" });
        }
        let g = cell.gates();
        for (what, k) in [("W_ih", input_size), ("W_hh", hidden_size)] {
            if product(&[g, hidden_size, k], what)? > MAX_ELEMS {
                return Err(Error::Overflow { what });
            }
        }
        Ok(Self {
            cell,
            input_size,
            hidden_size,
        })
    }

    /// The cell.
    pub const fn cell(&self) -> Cell {
        self.cell
    }
    /// `I`, the number of input features.
    pub const fn input_size(&self) -> usize {
        self.input_size
    }
    /// `H`, the number of hidden units.
    pub const fn hidden_size(&self) -> usize {
        self.hidden_size
    }
    /// `G`, the number of gate blocks.
    pub const fn gates(&self) -> usize {
        self.cell.gates()
    }
    /// `G * H`, the rows of `W_ih` and `W_hh`.
    pub const fn gate_rows(&self) -> usize {
        self.cell.gates() * self.hidden_size
    }
}

/// The sizes of one call: `T` time steps of a batch of `N` sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqShape {
    /// `T`, the number of time steps.
    pub t: usize,
    /// `N`, the batch size.
    pub n: usize,
}

impl SeqShape {
    /// `T` steps of `N` sequences.
    pub const fn new(t: usize, n: usize) -> Self {
        Self { t, n }
    }

    /// Checks that `T, N >= 1` and that every `[T(+1), N, width]` buffer of `desc` is addressable.
    pub(crate) fn validate(&self, desc: &LayerDesc) -> Result<()> {
        if self.t == 0 {
            return Err(Error::ZeroSize { what: "T" });
        }
        if self.n == 0 {
            return Err(Error::ZeroSize { what: "N" });
        }
        let widest = desc.input_size().max(desc.gate_rows()).max(desc.hidden_size());
        let t1 = self.t.checked_add(1).ok_or(Error::Overflow { what: "T" })?;
        if product(&[t1, self.n, widest], "T*N*width")? > MAX_ELEMS {
            return Err(Error::Overflow { what: "T*N*width" });
        }
        Ok(())
    }
}
