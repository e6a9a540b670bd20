//! [`Layer`]: one recurrent layer in one direction, with its weights prepared for the kernels.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::args::{check_state, GradInput, GradMode, GradOutput, SeqInput, SeqOutput};
use super::workspace::{Stamp, TrainWorkspace};
use crate::desc::{LayerDesc, SeqShape};
use crate::driver::backward::{self, DataIo};
use crate::driver::forward::{self, Bufs, Ctx, Io, Scratch};
use crate::driver::layout::Layout;
use crate::driver::prepared::Prepared;
use crate::driver::schedule::Schedule;
use crate::error::{check_len, Error, Result};
use crate::simd::ftz::FlushDenormals;
use crate::weights::Weights;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One recurrent layer (one direction): a [`LayerDesc`], its [`Weights`] (PyTorch layout, see
/// there for gate order and shapes) and what is derived from them once, when they are set.
///
/// Calls run on the current rayon thread pool (wrap them in `ThreadPool::install` to choose
/// the thread count); results are bitwise identical whatever the number of threads.
///
/// ```
/// use fusedrnn::{Cell, Layer, LayerDesc, SeqInput, SeqOutput, SeqShape, Weights};
/// let desc = LayerDesc::new(Cell::Lstm, 3, 5).unwrap();
/// let layer = Layer::new(Weights::init_uniform(&desc, 42));
/// let shape = SeqShape::new(7, 2); // T = 7 steps, N = 2 sequences
/// let x = vec![0.1f32; 7 * 2 * 3];
/// let mut y = vec![0.0f32; 7 * 2 * 5];
/// let mut h_n = vec![0.0f32; 2 * 5];
/// layer.forward(shape, SeqInput::new(&x), SeqOutput::new(&mut y).h_n(&mut h_n)).unwrap();
/// assert_eq!(&y[6 * 10..], &h_n[..]);
/// ```
#[derive(Debug)]
pub struct Layer {
    id: u64,
    version: u64,
    weights: Weights,
    prepared: Prepared,
    /// Inference scratch kept between calls, one per concurrent caller (see [`Layer::forward`]).
    scratch: Mutex<Vec<Scratch>>,
}

/// Inference scratch buffers a layer keeps for later calls; more concurrent callers than this
/// allocate their own and drop it afterwards.
const KEPT_SCRATCH: usize = 4;

impl Clone for Layer {
    fn clone(&self) -> Self {
        Self::new(self.weights.clone())
    }
}

impl Layer {
    /// A layer with these weights.
    pub fn new(weights: Weights) -> Self {
        let prepared = Prepared::new(&weights);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            version: 0,
            weights,
            prepared,
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// What the layer computes.
    pub fn desc(&self) -> &LayerDesc {
        self.weights.desc()
    }

    /// Its weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Mutable access to the weights (for an optimizer step); what is derived from them is
    /// recomputed when the guard is dropped. Workspaces filled before no longer match.
    pub fn weights_mut(&mut self) -> WeightsMut<'_> {
        WeightsMut { layer: self }
    }

    /// Replaces the weights; their descriptor must equal the layer's.
    pub fn set_weights(&mut self, weights: Weights) -> Result<()> {
        if weights.desc() != self.desc() {
            return Err(Error::InvalidValue {
                what: "weights",
                why: "descriptor differs from the layer's",
            });
        }
        self.weights = weights;
        self.refresh();
        Ok(())
    }

    fn refresh(&mut self) {
        self.prepared = Prepared::new(&self.weights);
        self.version += 1;
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            desc: self.weights.desc(),
            w: &self.weights,
            p: &self.prepared,
        }
    }

    /// Size in `f32` elements of the training workspace for `shape` (an input mask,
    /// [`SeqInput::input_mask`], keeps `T*N*I + N*I` more beside it).
    pub fn workspace_len(&self, shape: SeqShape) -> Result<usize> {
        Layout::new(self.desc(), &shape)?.total()
    }

    fn check_forward(&self, s: &SeqShape, inp: &SeqInput<'_>, out: &SeqOutput<'_>) -> Result<Schedule> {
        let d = self.desc();
        s.validate(d)?;
        let sched = Schedule::new(s.t, s.n, inp.lengths)?;
        check_len("x", s.t * s.n * d.input_size(), inp.x.len())?;
        check_len("y", s.t * s.n * d.output_size(), out.y.len())?;
        check_state(d, s, "h0", inp.h0.map(<[f32]>::len), false)?;
        check_state(d, s, "c0", inp.c0.map(<[f32]>::len), true)?;
        check_state(d, s, "h_n", out.h_n.as_deref().map(<[f32]>::len), false)?;
        check_state(d, s, "c_n", out.c_n.as_deref().map(<[f32]>::len), true)?;
        Ok(sched)
    }

    /// Inference forward: `Y`, and `h_T`/`c_T` when asked, from `X` and the initial states.
    /// Saves nothing; uses `O(N*H)` memory beyond the buffers and the hoisted `[T, N, G*H]`
    /// input projection.
    ///
    /// That scratch memory is kept by the layer for its next inference calls (one buffer set
    /// per concurrent caller, up to four), so repeated calls allocate and fault in nothing;
    /// [`Layer::release_scratch`] frees it.
    pub fn forward(&self, shape: SeqShape, input: SeqInput<'_>, output: SeqOutput<'_>) -> Result<()> {
        let lock = || self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let mut scratch = lock().pop().unwrap_or_default();
        let r = self.forward_in(shape, input, output, &mut scratch);
        let mut kept = lock();
        if kept.len() < KEPT_SCRATCH {
            kept.push(scratch);
        }
        r
    }

    /// Frees the inference scratch the layer keeps between [`Layer::forward`] calls.
    pub fn release_scratch(&self) {
        self.scratch.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Inference forward with caller-kept scratch (for streaming).
    pub(crate) fn forward_in(
        &self,
        shape: SeqShape,
        input: SeqInput<'_>,
        output: SeqOutput<'_>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let sched = self.check_forward(&shape, &input, &output)?;
        // Dropout is for training; inference never drops.
        if input.recurrent_mask.is_some() {
            return Err(Error::Unexpected { what: "recurrent_mask" });
        }
        if input.input_mask.is_some() {
            return Err(Error::Unexpected { what: "input_mask" });
        }
        let _ftz = FlushDenormals::new();
        forward::run(
            self.ctx(),
            &sched,
            io(input, output, None),
            scratch.bufs(self.desc(), shape, forward::fuses_projection(self.ctx(), shape.n)),
        );
        Ok(())
    }

    /// Training forward: as [`Layer::forward`], and saves in `ws` what backward needs. Takes
    /// the dropout masks [`SeqInput::recurrent_mask`] (`[N, H]`, `[N, P]` with a projection)
    /// and [`SeqInput::input_mask`] (`[N, I]`), which [`Layer::forward`] refuses.
    pub fn forward_train(
        &self,
        shape: SeqShape,
        input: SeqInput<'_>,
        output: SeqOutput<'_>,
        ws: &mut TrainWorkspace,
    ) -> Result<()> {
        let sched = self.check_forward(&shape, &input, &output)?;
        if let Some(m) = input.recurrent_mask {
            check_len("recurrent_mask", shape.n * self.desc().output_size(), m.len())?;
        }
        let i_sz = self.desc().input_size();
        if let Some(m) = input.input_mask {
            check_len("input_mask", shape.n * i_sz, m.len())?;
        }
        let layout = Layout::new(self.desc(), &shape)?;
        ws.reserve(layout.total()?);
        // The mask in the schedule's row order, kept for backward.
        if let Some(m) = input.recurrent_mask {
            ws.rmask.resize(m.len(), 0.0);
            match sched.varlen() {
                None => ws.rmask.copy_from_slice(m),
                Some(v) => v.sort_rows(m, self.desc().output_size(), &mut ws.rmask),
            }
        }
        let r = layout.split(&mut ws.buf);
        let bufs = Bufs {
            gates: r.gates,
            h: r.h,
            c: r.c,
            aux: r.aux,
            m: r.m,
            ln: r.ln,
            packed: true,
            xpack: &mut ws.pack,
        };
        // The input mask (the caller's row order, as `x`): the layer runs on `x ⊙ mask`, kept
        // for backward-weights.
        if let Some(m) = input.input_mask {
            ws.imask.extend_from_slice(m);
            ws.xmasked.extend_from_slice(input.x);
            for row in ws.xmasked.chunks_exact_mut(m.len()) {
                for (a, b) in row.iter_mut().zip(m) {
                    *a *= b;
                }
            }
        }
        let _ftz = FlushDenormals::new();
        let rmask = input.recurrent_mask.map(|_| &ws.rmask[..]);
        let mut input = input;
        if input.input_mask.is_some() {
            input.x = &ws.xmasked;
        }
        forward::run(self.ctx(), &sched, io(input, output, rmask), bufs);
        ws.stamp = Some(self.stamp(shape));
        ws.sched = Some(sched);
        Ok(())
    }

    fn stamp(&self, shape: SeqShape) -> Stamp {
        Stamp {
            layer: self.id,
            version: self.version,
            shape,
        }
    }

    fn check_ws(&self, ws: &TrainWorkspace) -> Result<(SeqShape, Layout)> {
        if ws.sched.is_none() {
            return Err(Error::Workspace {
                reason: "not filled by forward_train",
            });
        }
        let stamp = ws.stamp.ok_or(Error::Workspace {
            reason: "not filled by forward_train",
        })?;
        if stamp.layer != self.id {
            return Err(Error::Workspace {
                reason: "filled by another layer",
            });
        }
        if stamp.version != self.version {
            return Err(Error::Workspace {
                reason: "the weights changed since forward_train",
            });
        }
        Ok((stamp.shape, Layout::new(self.desc(), &stamp.shape)?))
    }

    /// Backward-data: from `dY` (and `dh_T`, `dc_T`), the gradients `dX`, `dh_0`, `dc_0` that
    /// `grad_in` asks for; leaves the gate gradients in `ws` for [`Layer::backward_weights`].
    pub fn backward_data(
        &self,
        ws: &mut TrainWorkspace,
        grad_out: GradOutput<'_>,
        grad_in: GradInput<'_>,
    ) -> Result<()> {
        let (s, layout) = self.check_ws(ws)?;
        let d = self.desc();
        check_len("dy", s.t * s.n * d.output_size(), grad_out.dy.len())?;
        check_state(d, &s, "dh_n", grad_out.dh_n.map(<[f32]>::len), false)?;
        check_state(d, &s, "dc_n", grad_out.dc_n.map(<[f32]>::len), true)?;
        if let Some(dx) = grad_in.dx.as_deref() {
            check_len("dx", s.t * s.n * d.input_size(), dx.len())?;
        }
        check_state(d, &s, "dh0", grad_in.dh0.as_deref().map(<[f32]>::len), false)?;
        check_state(d, &s, "dc0", grad_in.dc0.as_deref().map(<[f32]>::len), true)?;
        let mut dx = grad_in.dx;
        let io = DataIo {
            dy: grad_out.dy,
            dh_n: grad_out.dh_n,
            dc_n: grad_out.dc_n,
            dx: dx.as_deref_mut(),
            dh0: grad_in.dh0,
            dc0: grad_in.dc0,
        };
        let _ftz = FlushDenormals::new();
        let sched = ws.sched.as_ref().expect("checked by check_ws");
        let rmask = (!ws.rmask.is_empty()).then_some(&ws.rmask[..]);
        backward::data(self.ctx(), sched, layout.split(&mut ws.buf), io, &mut ws.pack, rmask);
        // Through the input mask: dX = m ⊙ d(x ⊙ m).
        if let (Some(dx), false) = (dx, ws.imask.is_empty()) {
            for row in dx.chunks_exact_mut(ws.imask.len()) {
                for (a, b) in row.iter_mut().zip(&ws.imask) {
                    *a *= b;
                }
            }
        }
        ws.dgates_ready = true;
        Ok(())
    }

    /// Backward-weights: `dW_ih, dW_hh, db_ih, db_hh` into `grads` (overwritten or accumulated
    /// by `mode`), from the gate gradients [`Layer::backward_data`] left in `ws` and the same
    /// `x` the forward call read. After a forward with an input mask
    /// ([`SeqInput::input_mask`]), `dW_ih` comes from the masked input `x ⊙ mask` kept in `ws`
    /// (`x` must still have its length).
    pub fn backward_weights(
        &self,
        ws: &mut TrainWorkspace,
        x: &[f32],
        grads: &mut Weights,
        mode: GradMode,
    ) -> Result<()> {
        let (s, layout) = self.check_ws(ws)?;
        if !ws.dgates_ready {
            return Err(Error::Workspace {
                reason: "backward_data has not run since forward_train",
            });
        }
        check_len("x", s.t * s.n * self.desc().input_size(), x.len())?;
        if grads.desc() != self.desc() {
            return Err(Error::InvalidValue {
                what: "grads",
                why: "descriptor differs from the layer's",
            });
        }
        let acc = mode == GradMode::Accumulate;
        let _ftz = FlushDenormals::new();
        let sched = ws.sched.as_ref().expect("checked by check_ws");
        let rmask = (!ws.rmask.is_empty()).then_some(&ws.rmask[..]);
        // With an input mask the layer ran on `x ⊙ mask`.
        let x = if ws.imask.is_empty() { x } else { &ws.xmasked[..] };
        backward::weights(
            self.ctx(),
            sched,
            layout.split(&mut ws.buf),
            x,
            grads,
            acc,
            &mut ws.pack,
            rmask,
        );
        Ok(())
    }

    /// Backward-data then backward-weights.
    pub fn backward(
        &self,
        ws: &mut TrainWorkspace,
        x: &[f32],
        grad_out: GradOutput<'_>,
        grad_in: GradInput<'_>,
        grads: &mut Weights,
        mode: GradMode,
    ) -> Result<()> {
        // Check the weight-side arguments first so a refusal leaves every output untouched.
        let (s, _) = self.check_ws(ws)?;
        check_len("x", s.t * s.n * self.desc().input_size(), x.len())?;
        if grads.desc() != self.desc() {
            return Err(Error::InvalidValue {
                what: "grads",
                why: "descriptor differs from the layer's",
            });
        }
        self.backward_data(ws, grad_out, grad_in)?;
        self.backward_weights(ws, x, grads, mode)
    }
}

fn io<'a>(input: SeqInput<'a>, output: SeqOutput<'a>, rmask: Option<&'a [f32]>) -> Io<'a> {
    Io {
        x: input.x,
        h0: input.h0,
        c0: input.c0,
        y: output.y,
        h_n: output.h_n,
        c_n: output.c_n,
        rmask,
    }
}

/// Mutable access to a [`Layer`]'s weights; re-prepares them when dropped.
pub struct WeightsMut<'a> {
    layer: &'a mut Layer,
}

impl WeightsMut<'_> {
    /// `W_ih, W_hh, b_ih, b_hh`, mutable (see [`Weights`] for layouts).
    pub fn buffers_mut(&mut self) -> [&mut [f32]; 4] {
        self.layer.weights.buffers_mut()
    }
    /// Every buffer, `W_ih, W_hh, b_ih, b_hh` then `W_hr` and the peepholes when present.
    pub fn all_buffers_mut(&mut self) -> Vec<&mut [f32]> {
        self.layer.weights.all_buffers_mut()
    }
}

impl std::ops::Deref for WeightsMut<'_> {
    type Target = Weights;
    fn deref(&self) -> &Weights {
        &self.layer.weights
    }
}

impl Drop for WeightsMut<'_> {
    fn drop(&mut self) {
        self.layer.refresh();
    }
}
