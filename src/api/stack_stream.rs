//! Stateful (streaming) inference through a whole [`Stack`]: one [`Stream`] per layer, the
//! layers' outputs passed on in two ping-pong buffers.

use super::stack::Stack;
use super::stack_desc::{Direction, StackDesc};
use super::stream::Stream;
use crate::error::{check_len, Error, Result};

/// The state of every layer of a forward-direction [`Stack`] between calls: feed the input a
/// chunk, or a single step, at a time. Chunks of any sizes give exactly (bitwise) the outputs
/// and final states of one [`Stack::forward`] over the whole sequence.
///
/// Only [`Direction::Forward`] stacks stream (a reverse direction needs the future). Data is
/// time-major whatever the stack's `batch_first`: a push takes `x` `[T, N, I]` and writes
/// `y` `[T, N, H]`; for one step per push the two layouts coincide. States are `[L, N, H]`,
/// as [`Stack`]'s. Created with [`StackStream::with_capacity`], no push of up to that many
/// steps allocates.
///
/// ```
/// use fusedrnn::{Cell, Direction, Stack, StackDesc, StackStream};
/// let desc = StackDesc::new(Cell::Lstm, 1, 8, 2, Direction::Forward).unwrap();
/// let stack = Stack::init_uniform(desc, 3);
/// let mut stream = StackStream::with_capacity(&stack, 1, 1).unwrap(); // N = 1, one step per push
/// let mut y = [0.0f32; 8];
/// for t in 0..20 {
///     stream.push(&stack, &[(t as f32 * 0.3).sin()], &mut y).unwrap(); // y: top layer's h_t
/// }
/// assert_eq!(stream.h(1), &y);
/// ```
#[derive(Debug)]
pub struct StackStream {
    desc: StackDesc,
    n: usize,
    layers: Vec<Stream>,
    /// Outputs of the layers below the top, alternating; grown to the largest push.
    mid: [Vec<f32>; 2],
}

impl StackStream {
    /// A stream of `n` sequences through `stack`, starting from zero states.
    pub fn new(stack: &Stack, n: usize) -> Result<Self> {
        Self::with_capacity(stack, n, 0)
    }

    /// As [`StackStream::new`], with every buffer for pushes of up to `max_steps` steps
    /// allocated now.
    pub fn with_capacity(stack: &Stack, n: usize, max_steps: usize) -> Result<Self> {
        let desc = *stack.desc();
        if desc.direction() != Direction::Forward {
            return Err(Error::InvalidValue {
                what: "stack",
                why: "only a forward-direction stack can stream",
            });
        }
        let layers = stack
            .layers()
            .iter()
            .map(|l| {
                if max_steps == 0 {
                    Stream::new(l, n)
                } else {
                    Stream::with_capacity(l, n, max_steps)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mid_len = if desc.num_layers() > 1 {
            crate::error::product(&[max_steps, n, desc.state_size()], "stream buffer")?
        } else {
            0
        };
        Ok(Self {
            desc,
            n,
            layers,
            mid: [vec![0.0; mid_len], vec![0.0; mid_len]],
        })
    }

    /// The hidden state of layer `l`, `[N, H]`. Panics if `l` is not a layer of the stack.
    pub fn h(&self, l: usize) -> &[f32] {
        self.layers[l].h()
    }

    /// The cell state of layer `l` (LSTM), `[N, H]`, else `None`. Panics if `l` is out of range.
    pub fn c(&self, l: usize) -> Option<&[f32]> {
        self.layers[l].c()
    }

    /// Copies the states of every layer out: `h` `[L, N, H]`, and `c` for an LSTM.
    pub fn state(&self, h: &mut [f32], c: Option<&mut [f32]>) -> Result<()> {
        let (st, sc) = (self.n * self.desc.state_size(), self.n * self.desc.hidden_size());
        let l_n = self.layers.len();
        check_len("h", l_n * st, h.len())?;
        let lstm = self.desc.cell().has_cell_state();
        match (&c, lstm) {
            (Some(c), true) => check_len("c", l_n * sc, c.len())?,
            (Some(_), false) => return Err(Error::Unexpected { what: "c" }),
            (None, _) => {}
        }
        for (l, s) in self.layers.iter().enumerate() {
            h[l * st..][..st].copy_from_slice(s.h());
        }
        if let Some(c) = c {
            for (l, s) in self.layers.iter().enumerate() {
                c[l * sc..][..sc].copy_from_slice(s.c().expect("LSTM"));
            }
        }
        Ok(())
    }

    /// Sets the states of every layer: `h` `[L, N, H]`, and `c` `[L, N, H]` for an LSTM.
    pub fn set_state(&mut self, h: &[f32], c: Option<&[f32]>) -> Result<()> {
        let (st, sc) = (self.n * self.desc.state_size(), self.n * self.desc.hidden_size());
        let l_n = self.layers.len();
        check_len("h", l_n * st, h.len())?;
        match (c, self.desc.cell().has_cell_state()) {
            (Some(c), true) => check_len("c", l_n * sc, c.len())?,
            (Some(_), false) => return Err(Error::Unexpected { what: "c" }),
            (None, true) => return Err(Error::Missing { what: "c" }),
            (None, false) => {}
        }
        for (l, s) in self.layers.iter_mut().enumerate() {
            s.set_state(&h[l * st..][..st], c.map(|c| &c[l * sc..][..sc]))?;
        }
        Ok(())
    }

    /// Back to zero states.
    pub fn reset(&mut self) {
        self.layers.iter_mut().for_each(Stream::reset);
    }

    /// Runs the next `T = x.len() / (N * I)` steps through every layer: `x` `[T, N, I]` in,
    /// the top layer's `y` `[T, N, H]` out, states carried over. On an error nothing has
    /// changed.
    pub fn push(&mut self, stack: &Stack, x: &[f32], y: &mut [f32]) -> Result<()> {
        if *stack.desc() != self.desc {
            return Err(Error::InvalidValue {
                what: "stack",
                why: "descriptor differs from the stream's",
            });
        }
        let row = self.n * self.desc.input_size();
        if x.is_empty() || !x.len().is_multiple_of(row) {
            return Err(Error::LengthMismatch {
                what: "x",
                expected: row * (x.len() / row).max(1),
                got: x.len(),
            });
        }
        let t = x.len() / row;
        let mid = crate::error::product(&[t, self.n, self.desc.state_size()], "y")?;
        check_len("y", mid, y.len())?;
        let top = self.layers.len() - 1;
        if top > 0 {
            for m in &mut self.mid {
                if m.len() < mid {
                    m.resize(mid, 0.0);
                }
            }
        }
        // Every layer's shape was checked above, so a failure below can only come from a
        // layer whose weights changed shape under the same descriptor: impossible by
        // construction, but keep the states consistent by checking before any layer runs.
        for (s, layer) in self.layers.iter().zip(stack.layers()) {
            s.check_layer(layer)?;
        }
        let [m0, m1] = &mut self.mid;
        for (l, (s, layer)) in self.layers.iter_mut().zip(stack.layers()).enumerate() {
            let (src, dst): (&[f32], &mut [f32]) = match (l, l == top, l % 2) {
                (0, true, _) => (x, &mut *y),
                (0, false, _) => (x, &mut m0[..mid]),
                (_, true, 1) => (&m0[..mid], &mut *y),
                (_, true, _) => (&m1[..mid], &mut *y),
                (_, false, 1) => (&m0[..mid], &mut m1[..mid]),
                (_, false, _) => (&m1[..mid], &mut m0[..mid]),
            };
            s.push(layer, src, dst)?;
        }
        Ok(())
    }
}
