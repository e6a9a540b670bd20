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

fn not_with_layer_norm(what: &'static str) -> Error {
    Error::InvalidValue {
        what,
        why: "not combined with layer normalization",
    }
}

/// The epsilon of layer normalization.
pub(crate) const LN_EPS: f32 = 1e-5;

/// A positive finite clipping threshold (compared and hashed by its bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Threshold(u32);

impl Threshold {
    fn new(v: f32, what: &'static str) -> Result<Self> {
        if v.is_finite() && v > 0.0 {
            Ok(Self(v.to_bits()))
        } else {
            Err(Error::InvalidValue {
                what,
                why: "must be positive and finite",
            })
        }
    }
    fn get(self) -> f32 {
        f32::from_bits(self.0)
    }
}

/// The LSTM options beyond the plain cell; all off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct LstmOptions {
    /// `P`, or 0 for no projection.
    proj_size: usize,
    peepholes: bool,
    clip: Option<Threshold>,
    cell_clip: Option<Threshold>,
    input_forget: bool,
}

/// Describes one recurrent layer in one direction: the cell, `I` and `H`, and for an LSTM
/// the options of PyTorch, ONNX, cuDNN and oneDNN:
///
/// - projection ([`LayerDesc::with_proj_size`], PyTorch `proj_size`): `h' = W_hr (o ⊙ tanh(c'))`,
///   so `h` and the outputs are `P` wide and `W_hh` is `[4H, P]`;
/// - peepholes ([`LayerDesc::with_peepholes`], ONNX `P`, oneDNN): `i` and `f` also see
///   `p_i ⊙ c`, `p_f ⊙ c` (the previous cell state), `o` sees `p_o ⊙ c'` (the new one);
/// - gate clipping ([`LayerDesc::with_clip`], ONNX `clip`): every gate's pre-activation
///   (peephole term included) is clamped to `[-clip, clip]` before its nonlinearity;
/// - cell clipping ([`LayerDesc::with_cell_clip`], cuDNN `cudnnRNNSetClip`): `c'` is clamped to
///   `[-cell_clip, cell_clip]`;
/// - coupled input and forget gates ([`LayerDesc::with_input_forget`], ONNX `input_forget`):
///   `f = 1 - i` (the `f` rows of the weights are then unused and get zero gradients).
///
/// Gradients are zero where a clamp is active.
///
/// ```
/// use fusedrnn::{Cell, GruVariant, LayerDesc};
/// let d = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 10, 20).unwrap();
/// assert_eq!(d.gate_rows(), 60);
/// let p = LayerDesc::new(Cell::Lstm, 10, 20).unwrap().with_proj_size(8).unwrap();
/// assert_eq!((p.hidden_size(), p.output_size()), (20, 8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LayerDesc {
    cell: Cell,
    input_size: usize,
    hidden_size: usize,
    lstm: LstmOptions,
    layer_norm: bool,
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
            lstm: LstmOptions::default(),
            layer_norm: false,
        })
    }

    fn lstm_only(mut self, what: &'static str, f: impl FnOnce(&mut LstmOptions)) -> Result<Self> {
        if self.cell != Cell::Lstm {
            return Err(Error::InvalidValue {
                what,
                why: "an LSTM option; this layer is not an LSTM",
            });
        }
        if self.layer_norm {
            return Err(not_with_layer_norm(what));
        }
        f(&mut self.lstm);
        Ok(self)
    }

    /// With layer normalization inside the cell (LSTM only so far), as Ba, Kiros & Hinton
    /// (2016, eq. 20–22) define the layer-normalized LSTM, gate blocks in the order `i, f, g, o`:
    ///
    /// ```text
    /// a  = LN(W_hh h; γ_h, β_h) + LN(W_ih x; γ_x, β_x) + b_ih + b_hh      (each LN over all 4H)
    /// i, f, o = σ(a_i, a_f, a_o),  g = tanh(a_g),  c' = f ⊙ c + i ⊙ g
    /// h' = o ⊙ tanh(LN(c'; γ_c, β_c))                                   (over H; c' is carried)
    /// LN(v; γ, β) = γ ⊙ (v - mean(v)) / sqrt(var(v) + 1e-5) + β          (biased variance)
    /// ```
    ///
    /// per time step and per sample. The gains and biases are [`crate::Weights::layer_norm`]
    /// (`γ_x, β_x, γ_h, β_h` `[4H]` each, `γ_c, β_c` `[H]` each). Not combined with the other
    /// LSTM options.
    ///
    /// The linear-before-reset GRU (gate blocks `r, z, n`) is normalized the same way, each
    /// product over all 3H, with its two biases after the normalizations (so the recurrent
    /// candidate part keeps its own bias, as in the plain cell):
    ///
    /// ```text
    /// a_x = LN(W_ih x; γ_x, β_x) + b_ih,   a_h = LN(W_hh h; γ_h, β_h) + b_hh
    /// r = σ(a_x,r + a_h,r),  z = σ(a_x,z + a_h,z),  n = tanh(a_x,n + r ⊙ a_h,n)
    /// h' = (1 - z) ⊙ n + z ⊙ h
    /// ```
    ///
    /// with `γ_x, β_x, γ_h, β_h` `[3H]` each.
    pub fn with_layer_norm(mut self) -> Result<Self> {
        if !matches!(self.cell, Cell::Lstm | Cell::Gru(GruVariant::LinearBeforeReset)) {
            return Err(Error::InvalidValue {
                what: "layer_norm",
                why: "layer normalization is implemented for the LSTM and the linear-before-reset GRU",
            });
        }
        if self.has_lstm_options() {
            return Err(not_with_layer_norm("layer_norm"));
        }
        self.layer_norm = true;
        Ok(self)
    }

    /// Whether the cell is layer-normalized ([`LayerDesc::with_layer_norm`]).
    pub const fn layer_norm(&self) -> bool {
        self.layer_norm
    }

    /// The number of layer-normalization parameters: `18H` for a layer-normalized LSTM, `12H`
    /// for a GRU, else 0.
    pub const fn layer_norm_len(&self) -> usize {
        if self.layer_norm && matches!(self.cell, Cell::Gru(_)) {
            12 * self.hidden_size
        } else if self.layer_norm {
            18 * self.hidden_size
        } else {
            0
        }
    }

    /// With a projection of the hidden state to `P = proj_size` features (LSTM only; `P >= 1`).
    pub fn with_proj_size(self, proj_size: usize) -> Result<Self> {
        if proj_size == 0 {
            return Err(Error::ZeroSize { what: "proj_size" });
        }
        for (what, dims) in [
            ("W_hh", [4, self.hidden_size, proj_size]),
            ("W_hr", [1, proj_size, self.hidden_size]),
        ] {
            if product(&dims, what)? > MAX_ELEMS {
                return Err(Error::Overflow { what });
            }
        }
        self.lstm_only("proj_size", |o| o.proj_size = proj_size)
    }
    /// With peephole connections (LSTM only).
    pub fn with_peepholes(self) -> Result<Self> {
        self.lstm_only("peepholes", |o| o.peepholes = true)
    }
    /// With the gate pre-activations clamped to `[-clip, clip]` (LSTM only; `clip > 0`, finite).
    pub fn with_clip(self, clip: f32) -> Result<Self> {
        let c = Threshold::new(clip, "clip")?;
        self.lstm_only("clip", |o| o.clip = Some(c))
    }
    /// With the cell state clamped to `[-cell_clip, cell_clip]` (LSTM only; positive, finite).
    pub fn with_cell_clip(self, cell_clip: f32) -> Result<Self> {
        let c = Threshold::new(cell_clip, "cell_clip")?;
        self.lstm_only("cell_clip", |o| o.cell_clip = Some(c))
    }
    /// With the forget gate coupled to the input gate, `f = 1 - i` (LSTM only).
    pub fn with_input_forget(self) -> Result<Self> {
        self.lstm_only("input_forget", |o| o.input_forget = true)
    }

    /// `P`, when the LSTM projects its hidden state.
    pub const fn proj_size(&self) -> Option<usize> {
        if self.lstm.proj_size == 0 {
            None
        } else {
            Some(self.lstm.proj_size)
        }
    }
    /// The width of `h` and of the outputs: `P` with a projection, else `H`.
    pub const fn output_size(&self) -> usize {
        if self.lstm.proj_size == 0 {
            self.hidden_size
        } else {
            self.lstm.proj_size
        }
    }
    /// Whether the LSTM has peephole connections.
    pub const fn peepholes(&self) -> bool {
        self.lstm.peepholes
    }
    /// The gate pre-activation clip, if any.
    pub fn clip(&self) -> Option<f32> {
        self.lstm.clip.map(Threshold::get)
    }
    /// The cell-state clip, if any.
    pub fn cell_clip(&self) -> Option<f32> {
        self.lstm.cell_clip.map(Threshold::get)
    }
    /// Whether `f = 1 - i`.
    pub const fn input_forget(&self) -> bool {
        self.lstm.input_forget
    }
    /// Whether any LSTM option is on (the layer then runs the general LSTM step).
    pub(crate) fn has_lstm_options(&self) -> bool {
        self.lstm != LstmOptions::default()
    }
    /// The same layer without its options but with `H`, `I` (for stacks' inner layers).
    pub(crate) fn with_input(mut self, input_size: usize) -> Self {
        self.input_size = input_size;
        self
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
        let widest = desc.input_size().max(desc.gate_rows()).max(desc.output_size());
        let t1 = self.t.checked_add(1).ok_or(Error::Overflow { what: "T" })?;
        if product(&[t1, self.n, widest], "T*N*width")? > MAX_ELEMS {
            return Err(Error::Overflow { what: "T*N*width" });
        }
        Ok(())
    }
}
