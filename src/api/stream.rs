//! Stateful (streaming) inference: feed a sequence a chunk — or a single step — at a time.

use super::args::{SeqInput, SeqOutput};
use super::layer::Layer;
use crate::desc::{LayerDesc, SeqShape};
use crate::driver::forward::Scratch;
use crate::error::{check_len, Error, Result};

/// The state of one layer between calls: `h` (and `c`) of a batch of `N` sequences, plus the
/// scratch the forward pass needs. Feeding a sequence in chunks of any sizes gives exactly
/// (bitwise) the outputs and final state of one [`Layer::forward`] over the whole sequence.
///
/// The weights are the layer's, packed once when they were set; a stream created with
/// [`Stream::with_capacity`] allocates nothing on any push up to that many steps.
///
/// ```
/// use fusedrnn::{Cell, Layer, LayerDesc, Stream, Weights};
/// let desc = LayerDesc::new(Cell::Gru(fusedrnn::GruVariant::LinearBeforeReset), 2, 4).unwrap();
/// let layer = Layer::new(Weights::init_uniform(&desc, 7));
/// let mut stream = Stream::with_capacity(&layer, 1, 1).unwrap(); // N = 1, one step per push
/// let mut y = [0.0f32; 4];
/// for t in 0..10 {
///     let x = [t as f32 * 0.1, 1.0];
///     stream.push(&layer, &x, &mut y).unwrap(); // y = h_t
/// }
/// assert_eq!(stream.h(), &y);
/// ```
#[derive(Debug)]
pub struct Stream {
    desc: LayerDesc,
    n: usize,
    h: Vec<f32>,
    c: Vec<f32>,
    /// The state before the current push (swapped with `h`, `c`; no allocation per push).
    h_prev: Vec<f32>,
    c_prev: Vec<f32>,
    /// Whether `h`/`c` hold a state (else they are the implicit zero initial state).
    started: bool,
    scratch: Scratch,
}

impl Stream {
    /// A stream of `n` sequences starting from zero states.
    pub fn new(layer: &Layer, n: usize) -> Result<Self> {
        let desc = *layer.desc();
        SeqShape::new(1, n).validate(&desc)?;
        // `h` is `P` wide with an LSTM projection; `c` is `H` wide.
        let (nh, nc) = (n * desc.output_size(), n * desc.hidden_size());
        let nc = if desc.cell().has_cell_state() { nc } else { 0 };
        Ok(Self {
            desc,
            n,
            h: vec![0.0; nh],
            c: vec![0.0; nc],
            h_prev: vec![0.0; nh],
            c_prev: vec![0.0; nc],
            started: false,
            scratch: Scratch::default(),
        })
    }

    /// As [`Stream::new`], with scratch for pushes of up to `max_steps` steps allocated now.
    pub fn with_capacity(layer: &Layer, n: usize, max_steps: usize) -> Result<Self> {
        let mut s = Self::new(layer, n)?;
        let shape = SeqShape::new(max_steps, n);
        shape.validate(&s.desc)?;
        // Room for the up-front projection, whether or not the pushes will fuse it.
        let _ = s.scratch.bufs(&s.desc, shape, false);
        Ok(s)
    }

    /// Sets the state (`h` `[N, H]`, and `c` for an LSTM).
    pub fn set_state(&mut self, h: &[f32], c: Option<&[f32]>) -> Result<()> {
        check_len("h", self.h.len(), h.len())?;
        match (c, self.desc.cell().has_cell_state()) {
            (Some(c), true) => check_len("c", self.c.len(), c.len())?,
            (Some(_), false) => return Err(Error::Unexpected { what: "c" }),
            (None, true) => return Err(Error::Missing { what: "c" }),
            (None, false) => {}
        }
        self.h.copy_from_slice(h);
        if let Some(c) = c {
            self.c.copy_from_slice(c);
        }
        self.started = true;
        Ok(())
    }

    /// Back to zero states.
    pub fn reset(&mut self) {
        self.h.fill(0.0);
        self.c.fill(0.0);
        self.started = false;
    }

    /// The current hidden state `[N, H]`.
    pub fn h(&self) -> &[f32] {
        &self.h
    }

    /// The current cell state `[N, H]` (LSTM), else `None`.
    pub fn c(&self) -> Option<&[f32]> {
        self.desc.cell().has_cell_state().then_some(&self.c[..])
    }

    /// Runs the next `T = x.len() / (N * I)` steps: `x` `[T, N, I]` in, `y` `[T, N, H]` out,
    /// state carried over.
    pub fn push(&mut self, layer: &Layer, x: &[f32], y: &mut [f32]) -> Result<()> {
        self.check_layer(layer)?;
        let row = self.n * self.desc.input_size();
        if x.is_empty() || !x.len().is_multiple_of(row) {
            return Err(Error::LengthMismatch {
                what: "x",
                expected: row * (x.len() / row).max(1),
                got: x.len(),
            });
        }
        let shape = SeqShape::new(x.len() / row, self.n);
        let lstm = self.desc.cell().has_cell_state();
        // The state moves to `*_prev` so the new final state can be written into `h`, `c`.
        std::mem::swap(&mut self.h, &mut self.h_prev);
        std::mem::swap(&mut self.c, &mut self.c_prev);
        let mut input = SeqInput::new(x);
        if self.started {
            input.h0 = Some(&self.h_prev);
            input.c0 = lstm.then_some(&self.c_prev[..]);
        }
        let mut out = SeqOutput::new(y).h_n(&mut self.h);
        if lstm {
            out = out.c_n(&mut self.c);
        }
        let r = layer.forward_in(shape, input, out, &mut self.scratch);
        if r.is_err() {
            // Refused before anything was written: put the state back.
            std::mem::swap(&mut self.h, &mut self.h_prev);
            std::mem::swap(&mut self.c, &mut self.c_prev);
        }
        r?;
        self.started = true;
        Ok(())
    }

    /// Refuses a layer whose descriptor is not the one the stream was made for.
    pub(crate) fn check_layer(&self, layer: &Layer) -> Result<()> {
        if *layer.desc() != self.desc {
            return Err(Error::InvalidValue {
                what: "layer",
                why: "descriptor differs from the stream's",
            });
        }
        Ok(())
    }
}
