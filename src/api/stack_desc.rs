//! Describes a stack of recurrent layers: depth, directions, data layout.

use crate::desc::{Cell, LayerDesc};
use crate::error::{Error, Result};

/// How a stack runs over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Left to right.
    Forward,
    /// Right to left (the output at step `t` has seen steps `t..T`).
    Reverse,
    /// Both, outputs concatenated per step: `[.., 2H]`, forward half first (PyTorch, cuDNN).
    Bidirectional,
    /// Both, outputs summed per step: `[.., H]` (oneDNN's `bidirectional_sum`).
    BidirectionalSum,
}

impl Direction {
    /// Directions per layer `D`: 1 or 2.
    pub const fn count(self) -> usize {
        match self {
            Direction::Forward | Direction::Reverse => 1,
            Direction::Bidirectional | Direction::BidirectionalSum => 2,
        }
    }

    /// Whether direction `d` (`0..D`) of a layer runs right to left.
    pub(crate) const fn reversed(self, d: usize) -> bool {
        matches!(self, Direction::Reverse) || d == 1
    }

    /// Width of a layer's output for `H` hidden units.
    pub const fn output_width(self, h: usize) -> usize {
        match self {
            Direction::Bidirectional => 2 * h,
            _ => h,
        }
    }
}

/// A stack of `L` layers of the same cell: layer 0 reads the input (`I` features), layer
/// `l > 0` reads layer `l - 1`'s output; each layer has `D` directions (see [`Direction`]).
///
/// Weights and states are indexed as PyTorch orders them: layer-major, direction-minor
/// (`l * D + d`, the reverse direction second).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackDesc {
    /// Layer 0 (every layer-direction has its cell, `H` and options; `l > 0` reads `W`).
    layer: LayerDesc,
    num_layers: usize,
    direction: Direction,
    batch_first: bool,
}

impl StackDesc {
    /// `num_layers` layers of `cell`, time-major data (`[T, N, ·]`).
    pub fn new(
        cell: Cell,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        direction: Direction,
    ) -> Result<Self> {
        Self::from_layer(LayerDesc::new(cell, input_size, hidden_size)?, num_layers, direction)
    }

    /// `num_layers` layers like `layer` (its cell, sizes and LSTM options; layers `l > 0` read
    /// the previous layer's output), time-major data.
    ///
    /// ```
    /// use fusedrnn::{Cell, Direction, LayerDesc, StackDesc};
    /// let l0 = LayerDesc::new(Cell::Lstm, 10, 32).unwrap().with_proj_size(16).unwrap();
    /// let d = StackDesc::from_layer(l0, 2, Direction::Bidirectional).unwrap();
    /// assert_eq!(d.output_size(), 32); // 2 directions x P
    /// assert_eq!(d.layer_desc(1).unwrap().input_size(), 32);
    /// ```
    pub fn from_layer(layer: LayerDesc, num_layers: usize, direction: Direction) -> Result<Self> {
        if num_layers == 0 {
            return Err(Error::ZeroSize { what: "num_layers" });
        }
        let d = Self {
            layer,
            num_layers,
            direction,
            batch_first: false,
        };
        for l in 0..num_layers.min(2) {
            d.layer_desc(l)?;
        }
        Ok(d)
    }

    /// With batch-major data (`[N, T, ·]`, PyTorch `batch_first`, ONNX `layout=1`) for the
    /// input and output sequences; states stay `[L*D, N, H]`.
    pub fn batch_first(mut self, yes: bool) -> Self {
        self.batch_first = yes;
        self
    }

    /// The cell.
    pub fn cell(&self) -> Cell {
        self.layer.cell()
    }
    /// `I`.
    pub fn input_size(&self) -> usize {
        self.layer.input_size()
    }
    /// `H`.
    pub fn hidden_size(&self) -> usize {
        self.layer.hidden_size()
    }
    /// `L`.
    pub fn num_layers(&self) -> usize {
        self.num_layers
    }
    /// The direction mode.
    pub fn direction(&self) -> Direction {
        self.direction
    }
    /// Whether sequences are `[N, T, ·]`.
    pub fn is_batch_first(&self) -> bool {
        self.batch_first
    }
    /// `L * D`, the number of [`crate::Layer`]s and of state slices.
    pub fn layer_count(&self) -> usize {
        self.num_layers * self.direction.count()
    }
    /// Width of the stack's output per step: `D*H` (concatenated) or `H` (`P` for `H` with
    /// an LSTM projection).
    pub fn output_size(&self) -> usize {
        self.direction.output_width(self.layer.output_size())
    }

    /// The width of the hidden states `h_0`, `h_n` of each layer-direction: `P` with an LSTM
    /// projection, else `H` (cell states are always `H` wide).
    pub fn state_size(&self) -> usize {
        self.layer.output_size()
    }

    /// The descriptor of layer `l` (each of its directions).
    pub fn layer_desc(&self, l: usize) -> Result<LayerDesc> {
        if l == 0 {
            return Ok(self.layer);
        }
        // Validates the sizes of the inner layers' `W_ih` (`[G*H, W]`).
        LayerDesc::new(self.layer.cell(), self.output_size(), self.layer.hidden_size())?;
        Ok(self.layer.with_input(self.output_size()))
    }
}
