//! The buffers of one call, bundled. Every buffer is row-major `f32`; states are `[N, H]`.

use crate::desc::{LayerDesc, SeqShape};
use crate::error::{check_len, Error, Result};

/// Inputs of a forward call.
#[derive(Clone, Copy, Debug)]
pub struct SeqInput<'a> {
    /// `X`, `[T, N, I]` (time-major).
    pub x: &'a [f32],
    /// Initial hidden state `h_0`, `[N, H]`; zeros when `None`.
    pub h0: Option<&'a [f32]>,
    /// Initial cell state `c_0`, `[N, H]` (LSTM only); zeros when `None`.
    pub c0: Option<&'a [f32]>,
    /// Sequence lengths, one per batch entry, each in `0..=T` (ONNX `sequence_lens`, PyTorch
    /// `PackedSequence`); `None`: every sequence has `T` steps. A sequence of length `L` runs
    /// steps `0..L`: its outputs past `L` are zero, its final state is the one after step
    /// `L-1` (its initial state when `L = 0`), backward ignores `dY` past `L` and gives zero
    /// `dX` there. Padded steps are not computed (the batch is sorted by length internally).
    pub lengths: Option<&'a [usize]>,
    /// Recurrent (variational) dropout, training only: a `[N, H]` (`[N, P]` with a projection)
    /// mask multiplying the hidden state wherever it enters a recurrent product (`W_hh h`; the
    /// GRU's `W_hn (r ⊙ h)`), the same at every step (Gal & Ghahramani 2016; Keras
    /// `recurrent_dropout`). The GRU's `z ⊙ h` and the state itself are not masked. Usually
    /// 0 or `1/(1-p)` per element ([`crate::train::dropout_mask`] draws one); kept for backward.
    pub recurrent_mask: Option<&'a [f32]>,
    /// Input (variational) dropout, training only: a `[N, I]` mask multiplying every input
    /// `x_t` before it enters the layer (`W_ih (x_t ⊙ m)`), the same at every step (Gal &
    /// Ghahramani 2016; Keras `dropout` of an LSTM/GRU layer), in the caller's batch order
    /// (also with [`SeqInput::lengths`]). Usually 0 or `1/(1-p)` per element
    /// ([`crate::train::dropout_mask`] draws one). [`crate::Layer::forward_train`] keeps the
    /// masked input in the workspace: backward-weights computes `dW_ih` from it, and
    /// backward-data multiplies `dX` by the mask.
    pub input_mask: Option<&'a [f32]>,
}

impl<'a> SeqInput<'a> {
    /// Just `X`, starting from zero states.
    pub fn new(x: &'a [f32]) -> Self {
        Self {
            x,
            h0: None,
            c0: None,
            lengths: None,
            recurrent_mask: None,
            input_mask: None,
        }
    }
    /// With an initial hidden state.
    pub fn h0(mut self, h0: &'a [f32]) -> Self {
        self.h0 = Some(h0);
        self
    }
    /// With an initial cell state (LSTM).
    pub fn c0(mut self, c0: &'a [f32]) -> Self {
        self.c0 = Some(c0);
        self
    }
    /// With per-sequence lengths (a variable-length batch).
    pub fn lengths(mut self, lengths: &'a [usize]) -> Self {
        self.lengths = Some(lengths);
        self
    }
    /// With a recurrent-dropout mask (training only).
    pub fn recurrent_mask(mut self, mask: &'a [f32]) -> Self {
        self.recurrent_mask = Some(mask);
        self
    }
    /// With an input-dropout mask (training only).
    pub fn input_mask(mut self, mask: &'a [f32]) -> Self {
        self.input_mask = Some(mask);
        self
    }
}

/// Outputs of a forward call. Every element of each given buffer is written.
#[derive(Debug)]
pub struct SeqOutput<'a> {
    /// `Y`, `[T, N, H]`: the hidden state after every step.
    pub y: &'a mut [f32],
    /// Final hidden state `h_T`, `[N, H]`, when wanted.
    pub h_n: Option<&'a mut [f32]>,
    /// Final cell state `c_T`, `[N, H]` (LSTM only), when wanted.
    pub c_n: Option<&'a mut [f32]>,
}

impl<'a> SeqOutput<'a> {
    /// Just `Y`.
    pub fn new(y: &'a mut [f32]) -> Self {
        Self {
            y,
            h_n: None,
            c_n: None,
        }
    }
    /// Also the final hidden state.
    pub fn h_n(mut self, h_n: &'a mut [f32]) -> Self {
        self.h_n = Some(h_n);
        self
    }
    /// Also the final cell state (LSTM).
    pub fn c_n(mut self, c_n: &'a mut [f32]) -> Self {
        self.c_n = Some(c_n);
        self
    }
}

/// Gradients of the loss with respect to a forward call's outputs.
#[derive(Clone, Copy, Debug)]
pub struct GradOutput<'a> {
    /// `dY`, `[T, N, H]`.
    pub dy: &'a [f32],
    /// `dh_T`, `[N, H]`; zeros when `None`.
    pub dh_n: Option<&'a [f32]>,
    /// `dc_T`, `[N, H]` (LSTM only); zeros when `None`.
    pub dc_n: Option<&'a [f32]>,
}

impl<'a> GradOutput<'a> {
    /// Just `dY`.
    pub fn new(dy: &'a [f32]) -> Self {
        Self {
            dy,
            dh_n: None,
            dc_n: None,
        }
    }
    /// With the gradient of the final hidden state.
    pub fn dh_n(mut self, dh_n: &'a [f32]) -> Self {
        self.dh_n = Some(dh_n);
        self
    }
    /// With the gradient of the final cell state (LSTM).
    pub fn dc_n(mut self, dc_n: &'a [f32]) -> Self {
        self.dc_n = Some(dc_n);
        self
    }
}

/// Gradients with respect to a forward call's inputs; each is computed only when given, and
/// then every element is written.
#[derive(Debug, Default)]
pub struct GradInput<'a> {
    /// `dX`, `[T, N, I]`.
    pub dx: Option<&'a mut [f32]>,
    /// `dh_0`, `[N, H]`.
    pub dh0: Option<&'a mut [f32]>,
    /// `dc_0`, `[N, H]` (LSTM only).
    pub dc0: Option<&'a mut [f32]>,
}

impl<'a> GradInput<'a> {
    /// Nothing requested.
    pub fn none() -> Self {
        Self::default()
    }
    /// Request `dX`.
    pub fn dx(mut self, dx: &'a mut [f32]) -> Self {
        self.dx = Some(dx);
        self
    }
    /// Request `dh_0`.
    pub fn dh0(mut self, dh0: &'a mut [f32]) -> Self {
        self.dh0 = Some(dh0);
        self
    }
    /// Request `dc_0` (LSTM).
    pub fn dc0(mut self, dc0: &'a mut [f32]) -> Self {
        self.dc0 = Some(dc0);
        self
    }
}

/// What backward-weights does with the caller's gradient buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradMode {
    /// Write the gradients over the buffers (their old contents, NaN included, are ignored).
    Overwrite,
    /// Add the gradients to the buffers (truncated BPTT over chunks, micro-batches).
    Accumulate,
}

/// Checks a state buffer (`h`: `[N, P or H]`, `c`: `[N, H]`), and that `c`-states are only
/// given to an LSTM.
pub(crate) fn check_state(
    desc: &LayerDesc,
    s: &SeqShape,
    what: &'static str,
    len: Option<usize>,
    cell_state: bool,
) -> Result<()> {
    match len {
        None => Ok(()),
        Some(_) if cell_state && !desc.cell().has_cell_state() => Err(Error::Unexpected { what }),
        Some(l) if cell_state => check_len(what, s.n * desc.hidden_size(), l),
        Some(l) => check_len(what, s.n * desc.output_size(), l),
    }
}
