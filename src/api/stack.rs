//! [`Stack`]: several layers, one or two directions each, time- or batch-major data.

use super::args::{GradInput, GradMode, GradOutput, SeqInput, SeqOutput};
use super::dropout::{apply, mask, Dropout};
use super::layer::Layer;
use super::seq::{get_cols, put_cols, reverse_seqs, swap_major};
use super::stack_desc::{Direction, StackDesc};
use super::workspace::TrainWorkspace;
use crate::desc::SeqShape;
use crate::driver::schedule::check_lengths;
use crate::error::{check_len, Error, Result};
use crate::rng::SplitMix64;
use crate::weights::Weights;

/// A stack of recurrent layers (PyTorch's `nn.LSTM/GRU/RNN` with `num_layers`,
/// `bidirectional`, `batch_first`; ONNX's `direction` and `layout`).
///
/// Shapes: input `[T, N, I]` (or `[N, T, I]` batch-first), output `[T, N, W]` with `W = 2H` for
/// [`Direction::Bidirectional`] and `H` otherwise, states `[L*D, N, H]` in PyTorch's order
/// (layer-major, reverse direction second). The two directions of a layer run in parallel.
///
/// ```
/// use fusedrnn::{Cell, Direction, SeqInput, SeqOutput, SeqShape, Stack, StackDesc};
/// let desc = StackDesc::new(Cell::Lstm, 3, 4, 2, Direction::Bidirectional).unwrap();
/// let stack = Stack::init_uniform(desc, 1);
/// let (t, n) = (5, 2);
/// let x = vec![0.5f32; t * n * 3];
/// let mut y = vec![0.0f32; t * n * 8];          // [T, N, 2H]
/// let mut h_n = vec![0.0f32; 4 * n * 4];        // [L*D, N, H]
/// stack.forward(SeqShape::new(t, n), SeqInput::new(&x), SeqOutput::new(&mut y).h_n(&mut h_n)).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Stack {
    desc: StackDesc,
    layers: Vec<Layer>,
}

/// What [`Stack::forward_train`] keeps for [`Stack::backward`]: each layer-direction's
/// [`TrainWorkspace`] and the (time-major, direction-ordered) input it read.
#[derive(Debug, Default)]
pub struct StackWorkspace {
    per: Vec<TrainWorkspace>,
    inputs: Vec<Vec<f32>>,
    shape: Option<SeqShape>,
    lengths: Option<Vec<usize>>,
    /// Dropout masks on the outputs of layers `0..L-1` (empty without dropout).
    masks: Vec<Vec<f32>>,
    /// Recurrent-dropout masks, one per layer-direction (empty without).
    rmasks: Vec<Vec<f32>>,
    /// Input-dropout masks, one per layer-direction (empty without).
    imasks: Vec<Vec<f32>>,
}

impl StackWorkspace {
    /// An empty workspace; forward-training sizes it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The inter-layer dropout masks of the last forward-training call: one per layer but the
    /// last, shaped like that layer's time-major output `[T, N, W]`, each element 0 or
    /// `1/(1-p)`; empty without dropout.
    pub fn dropout_masks(&self) -> &[Vec<f32>] {
        &self.masks
    }

    /// The recurrent-dropout masks of the last forward-training call, one `[N, H]` (`[N, P]`)
    /// per layer-direction in the stack's order; empty without recurrent dropout.
    pub fn recurrent_masks(&self) -> &[Vec<f32>] {
        &self.rmasks
    }

    /// The input-dropout masks of the last forward-training call ([`Dropout::input`]), one
    /// `[N, I_l]` per layer-direction in the stack's order (`I_l`: the stack's input size for
    /// layer 0, its output width `W` above), each element 0 or `1/(1-p)`; empty without input
    /// dropout.
    pub fn input_masks(&self) -> &[Vec<f32>] {
        &self.imasks
    }
}

impl Stack {
    /// A stack with these weights, one per layer-direction in PyTorch's order
    /// (`[l0, l0_reverse, l1, ...]`); layer `l > 0` has input size `W`.
    pub fn new(desc: StackDesc, weights: Vec<Weights>) -> Result<Self> {
        check_len("weights (layers x directions)", desc.layer_count(), weights.len())?;
        let d = desc.direction().count();
        let mut layers = Vec::with_capacity(weights.len());
        for (k, w) in weights.into_iter().enumerate() {
            if *w.desc() != desc.layer_desc(k / d)? {
                return Err(Error::InvalidValue {
                    what: "weights",
                    why: "a layer's descriptor does not match the stack's (cell, input or hidden size)",
                });
            }
            layers.push(Layer::new(w));
        }
        Ok(Self { desc, layers })
    }

    /// A stack with PyTorch-style uniform initial weights (see [`Weights::init_uniform`]).
    pub fn init_uniform(desc: StackDesc, seed: u64) -> Self {
        let d = desc.direction().count();
        let w = (0..desc.layer_count())
            .map(|k| Weights::init_uniform(&desc.layer_desc(k / d).expect("validated"), seed.wrapping_add(k as u64)))
            .collect();
        Self::new(desc, w).expect("consistent by construction")
    }

    /// The description.
    pub fn desc(&self) -> &StackDesc {
        &self.desc
    }
    /// The layers, `[l * D + d]`.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
    /// The layers, mutable (e.g. `layers_mut()[k].weights_mut()` for an optimizer step).
    pub fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }

    fn check(
        &self,
        s: &SeqShape,
        lengths: Option<&[usize]>,
        x: usize,
        y: usize,
        states: [Option<usize>; 4],
    ) -> Result<()> {
        let d = &self.desc;
        s.validate(&d.layer_desc(0)?)?;
        if d.num_layers() > 1 {
            s.validate(&d.layer_desc(1)?)?;
        }
        check_lengths(s.t, s.n, lengths)?;
        check_len("x", s.t * s.n * d.input_size(), x)?;
        check_len("y", s.t * s.n * d.output_size(), y)?;
        let (sh, sc) = (
            d.layer_count() * s.n * d.state_size(),
            d.layer_count() * s.n * d.hidden_size(),
        );
        let lstm = d.cell().has_cell_state();
        for (k, (what, len)) in ["h0", "c0", "h_n", "c_n"].into_iter().zip(states).enumerate() {
            if let Some(len) = len {
                if k % 2 == 1 && !lstm {
                    return Err(Error::Unexpected { what });
                }
                check_len(what, if k % 2 == 1 { sc } else { sh }, len)?;
            }
        }
        Ok(())
    }

    /// Inference forward.
    pub fn forward(&self, shape: SeqShape, input: SeqInput<'_>, output: SeqOutput<'_>) -> Result<()> {
        self.run(shape, input, output, None, None)
    }

    /// Training forward: as [`Stack::forward`], keeping in `ws` what backward needs.
    pub fn forward_train(
        &self,
        shape: SeqShape,
        input: SeqInput<'_>,
        output: SeqOutput<'_>,
        ws: &mut StackWorkspace,
    ) -> Result<()> {
        self.run(shape, input, output, Some(ws), None)
    }

    /// [`Stack::forward_train`] with dropout. Between layers (PyTorch's `dropout`): every
    /// element of each layer's output but the last layer's is zeroed with probability
    /// `between_layers` and the others scaled by `1/(1-p)` before the next layer reads it.
    /// Recurrent (variational, Gal & Ghahramani 2016): each layer-direction's hidden state is
    /// masked where it enters the recurrent products, with one `[N, H]` mask per call (see
    /// [`SeqInput::recurrent_mask`]). Input (variational, Keras `dropout`): each
    /// layer-direction's input is multiplied at every step by one `[N, I_l]` mask per call (see
    /// [`SeqInput::input_mask`]). Masks are drawn from `rng` layer by layer (the layer's
    /// recurrent masks, direction by direction, then its input masks, direction by direction,
    /// then its output mask, time-major; a kind with probability 0 draws nothing), so a seed
    /// fixes them whatever the thread count; they are kept in `ws` for [`Stack::backward`]
    /// ([`StackWorkspace::dropout_masks`], [`StackWorkspace::recurrent_masks`],
    /// [`StackWorkspace::input_masks`]). Inference ([`Stack::forward`]) never drops.
    pub fn forward_train_dropout(
        &self,
        shape: SeqShape,
        input: SeqInput<'_>,
        output: SeqOutput<'_>,
        ws: &mut StackWorkspace,
        dropout: Dropout,
        rng: &mut SplitMix64,
    ) -> Result<()> {
        dropout.check()?;
        self.run(shape, input, output, Some(ws), Some((dropout, rng)))
    }

    fn run(
        &self,
        s: SeqShape,
        input: SeqInput<'_>,
        output: SeqOutput<'_>,
        mut ws: Option<&mut StackWorkspace>,
        mut drop: Option<(Dropout, &mut SplitMix64)>,
    ) -> Result<()> {
        if input.recurrent_mask.is_some() {
            return Err(Error::InvalidValue {
                what: "recurrent_mask",
                why: "a stack draws its masks: use Stack::forward_train_dropout",
            });
        }
        if input.input_mask.is_some() {
            return Err(Error::InvalidValue {
                what: "input_mask",
                why: "a stack draws its masks: use Stack::forward_train_dropout",
            });
        }
        let lens = [
            input.h0.map(<[f32]>::len),
            input.c0.map(<[f32]>::len),
            output.h_n.as_deref().map(<[f32]>::len),
            output.c_n.as_deref().map(<[f32]>::len),
        ];
        self.check(&s, input.lengths, input.x.len(), output.y.len(), lens)?;
        let d = self.desc;
        // `h`: the width of each direction's output and `h` states (`P` with a projection);
        // cell states are `H` wide (`sc` per layer-direction).
        let (dirs, h, n) = (d.direction().count(), d.state_size(), s.n);
        let (st, sc) = (n * h, n * d.hidden_size());
        let lstm = d.cell().has_cell_state();
        if let Some(ws) = ws.as_deref_mut() {
            ws.shape = None;
            ws.masks.clear();
            ws.rmasks.clear();
            ws.imasks.clear();
            ws.per.resize_with(d.layer_count(), TrainWorkspace::new);
            ws.inputs.resize_with(d.layer_count(), Vec::new);
        }
        let (mut h_n, mut c_n) = (
            vec![0.0; d.layer_count() * st],
            vec![0.0; if lstm { d.layer_count() * sc } else { 0 }],
        );
        let mut cur = if d.is_batch_first() {
            swap_major(input.x, n, s.t, d.input_size())
        } else {
            input.x.to_vec()
        };
        let out_w = d.output_size();
        for l in 0..d.num_layers() {
            let k0 = l * dirs;
            // This layer's recurrent-dropout masks, one per direction.
            let rmasks: Vec<Vec<f32>> = match drop.as_mut() {
                Some((dr, rng)) if dr.recurrent > 0.0 => (0..dirs).map(|_| mask(st, dr.recurrent, rng)).collect(),
                _ => Vec::new(),
            };
            // Then its input-dropout masks, one `[N, I_l]` per direction.
            let in_l = self.layers[k0].desc().input_size();
            let imasks: Vec<Vec<f32>> = match drop.as_mut() {
                Some((dr, rng)) if dr.input > 0.0 => (0..dirs).map(|_| mask(n * in_l, dr.input, rng)).collect(),
                _ => Vec::new(),
            };
            // One direction: its output (time order restored) and final states.
            let one = |k: usize,
                       hn: &mut [f32],
                       cn: &mut [f32],
                       tw: Option<(&mut TrainWorkspace, &mut Vec<f32>)>|
             -> Result<Vec<f32>> {
                let layer = &self.layers[k];
                let rev = d.direction().reversed(k - k0);
                let in_w = layer.desc().input_size();
                let xin = if rev {
                    reverse_seqs(&cur, s.t, n, in_w, input.lengths, 0.0)
                } else {
                    cur.clone()
                };
                let mut inp = SeqInput::new(&xin);
                inp.lengths = input.lengths;
                inp.recurrent_mask = rmasks.get(k - k0).map(|m| &m[..]);
                inp.input_mask = imasks.get(k - k0).map(|m| &m[..]);
                inp.h0 = input.h0.map(|v| &v[k * st..][..st]);
                inp.c0 = input.c0.map(|v| &v[k * sc..][..sc]);
                let mut y = vec![0.0; s.t * st];
                let mut out = SeqOutput::new(&mut y).h_n(hn);
                if lstm {
                    out = out.c_n(cn);
                }
                match tw {
                    Some((w, saved)) => {
                        layer.forward_train(s, inp, out, w)?;
                        *saved = xin;
                    }
                    None => layer.forward(s, inp, out)?,
                }
                Ok(if rev {
                    reverse_seqs(&y, s.t, n, h, input.lengths, 0.0)
                } else {
                    y
                })
            };
            let (hn_l, cn_l) = (
                &mut h_n[k0 * st..(k0 + dirs) * st],
                &mut c_n[if lstm { k0 * sc..(k0 + dirs) * sc } else { 0..0 }],
            );
            let ys: Vec<Vec<f32>> = if dirs == 1 {
                let tw = ws.as_deref_mut().map(|w| (&mut w.per[k0], &mut w.inputs[k0]));
                vec![one(k0, hn_l, cn_l, tw)?]
            } else {
                let (h0s, h1s) = hn_l.split_at_mut(st);
                let (c0s, c1s) = cn_l.split_at_mut(if lstm { sc } else { 0 });
                let (tw0, tw1) = match ws.as_deref_mut() {
                    Some(w) => {
                        let (p0, p1) = w.per[k0..k0 + 2].split_at_mut(1);
                        let (i0, i1) = w.inputs[k0..k0 + 2].split_at_mut(1);
                        (Some((&mut p0[0], &mut i0[0])), Some((&mut p1[0], &mut i1[0])))
                    }
                    None => (None, None),
                };
                let (a, b) = rayon::join(|| one(k0, h0s, c0s, tw0), || one(k0 + 1, h1s, c1s, tw1));
                vec![a?, b?]
            };
            cur = match d.direction() {
                Direction::Bidirectional => {
                    let mut y = vec![0.0; s.t * n * out_w];
                    put_cols(&mut y, out_w, 0, &ys[0], h);
                    put_cols(&mut y, out_w, h, &ys[1], h);
                    y
                }
                Direction::BidirectionalSum => ys[0].iter().zip(&ys[1]).map(|(a, b)| a + b).collect(),
                Direction::Forward | Direction::Reverse => ys.into_iter().next().expect("one direction"),
            };
            if let Some(ws) = ws.as_deref_mut() {
                ws.rmasks.extend(rmasks);
                ws.imasks.extend(imasks);
            }
            if let (Some((dr, rng)), Some(ws), true) = (drop.as_mut(), ws.as_deref_mut(), l + 1 < d.num_layers()) {
                if dr.between_layers > 0.0 {
                    let m = mask(cur.len(), dr.between_layers, rng);
                    apply(&mut cur, &m);
                    ws.masks.push(m);
                }
            }
        }
        let y = if d.is_batch_first() {
            swap_major(&cur, s.t, n, out_w)
        } else {
            cur
        };
        output.y.copy_from_slice(&y);
        if let Some(o) = output.h_n {
            o.copy_from_slice(&h_n);
        }
        if let Some(o) = output.c_n {
            o.copy_from_slice(&c_n);
        }
        if let Some(ws) = ws {
            ws.shape = Some(s);
            ws.lengths = input.lengths.map(<[usize]>::to_vec);
        }
        Ok(())
    }

    /// Backward through every layer: `dX`, `dh_0`, `dc_0` (`[L*D, N, H]`) as `grad_in` asks,
    /// and the parameter gradients into `grads` (one [`Weights`] per layer-direction, in the
    /// stack's order), overwritten or accumulated by `mode`.
    pub fn backward(
        &self,
        ws: &mut StackWorkspace,
        grad_out: GradOutput<'_>,
        grad_in: GradInput<'_>,
        grads: &mut [Weights],
        mode: GradMode,
    ) -> Result<()> {
        let s = ws.shape.ok_or(Error::Workspace {
            reason: "not filled by Stack::forward_train",
        })?;
        let d = self.desc;
        let (dirs, h, n) = (d.direction().count(), d.state_size(), s.n);
        let (st, out_w, lstm) = (n * h, d.output_size(), d.cell().has_cell_state());
        let sc = n * d.hidden_size();
        check_len("dy", s.t * n * out_w, grad_out.dy.len())?;
        check_len("grads (layers x directions)", d.layer_count(), grads.len())?;
        for (k, g) in grads.iter().enumerate() {
            if *g.desc() != *self.layers[k].desc() {
                return Err(Error::InvalidValue {
                    what: "grads",
                    why: "a layer's descriptor does not match the stack's",
                });
            }
        }
        let (all, all_c) = (d.layer_count() * st, d.layer_count() * sc);
        for (what, len) in [
            ("dh_n", grad_out.dh_n.map(<[f32]>::len)),
            ("dh0", grad_in.dh0.as_deref().map(<[f32]>::len)),
        ] {
            if let Some(len) = len {
                check_len(what, all, len)?;
            }
        }
        for (what, len) in [
            ("dc_n", grad_out.dc_n.map(<[f32]>::len)),
            ("dc0", grad_in.dc0.as_deref().map(<[f32]>::len)),
        ] {
            match len {
                Some(_) if !lstm => return Err(Error::Unexpected { what }),
                Some(len) => check_len(what, all_c, len)?,
                None => {}
            }
        }
        if let Some(dx) = grad_in.dx.as_deref() {
            check_len("dx", s.t * n * d.input_size(), dx.len())?;
        }
        let lengths = ws.lengths.as_deref();
        let mut dh0 = vec![0.0; all];
        let mut dc0 = vec![0.0; if lstm { all_c } else { 0 }];
        let mut dcur = if d.is_batch_first() {
            swap_major(grad_out.dy, n, s.t, out_w)
        } else {
            grad_out.dy.to_vec()
        };
        for l in (0..d.num_layers()).rev() {
            // Through the dropout on this layer's output.
            if let Some(m) = ws.masks.get(l) {
                apply(&mut dcur, m);
            }
            let k0 = l * dirs;
            let in_w = self.layers[k0].desc().input_size();
            let dy_l = &dcur;
            let one = |k: usize,
                       per: &mut TrainWorkspace,
                       g: &mut Weights,
                       dh0k: &mut [f32],
                       dc0k: &mut [f32]|
             -> Result<Vec<f32>> {
                let dd = k - k0;
                let rev = d.direction().reversed(dd);
                let dy = match d.direction() {
                    Direction::Bidirectional => get_cols(dy_l, out_w, dd * h, h),
                    _ => dy_l.clone(),
                };
                let dy = if rev {
                    reverse_seqs(&dy, s.t, n, h, lengths, 0.0)
                } else {
                    dy
                };
                let mut go = GradOutput::new(&dy);
                go.dh_n = grad_out.dh_n.map(|v| &v[k * st..][..st]);
                go.dc_n = grad_out.dc_n.map(|v| &v[k * sc..][..sc]);
                let mut dx = vec![0.0; s.t * n * in_w];
                let mut gi = GradInput::none().dx(&mut dx).dh0(dh0k);
                if lstm {
                    gi = gi.dc0(dc0k);
                }
                self.layers[k].backward(per, &ws.inputs[k], go, gi, g, mode)?;
                Ok(if rev {
                    reverse_seqs(&dx, s.t, n, in_w, lengths, 0.0)
                } else {
                    dx
                })
            };
            let (dh0_l, dc0_l) = (
                &mut dh0[k0 * st..(k0 + dirs) * st],
                &mut dc0[if lstm { k0 * sc..(k0 + dirs) * sc } else { 0..0 }],
            );
            let dxs: Vec<Vec<f32>> = if dirs == 1 {
                vec![one(k0, &mut ws.per[k0], &mut grads[k0], dh0_l, dc0_l)?]
            } else {
                let (p0, p1) = ws.per[k0..k0 + 2].split_at_mut(1);
                let (g0, g1) = grads[k0..k0 + 2].split_at_mut(1);
                let (h0s, h1s) = dh0_l.split_at_mut(st);
                let (c0s, c1s) = dc0_l.split_at_mut(if lstm { sc } else { 0 });
                let (a, b) = rayon::join(
                    || one(k0, &mut p0[0], &mut g0[0], h0s, c0s),
                    || one(k0 + 1, &mut p1[0], &mut g1[0], h1s, c1s),
                );
                vec![a?, b?]
            };
            // dX of the layer: the directions' contributions added in a fixed order.
            let mut dx = dxs[0].clone();
            if let Some(b) = dxs.get(1) {
                for (a, b) in dx.iter_mut().zip(b) {
                    *a += b;
                }
            }
            dcur = dx;
        }
        if let Some(o) = grad_in.dx {
            let dx = if d.is_batch_first() {
                swap_major(&dcur, s.t, n, d.input_size())
            } else {
                dcur
            };
            o.copy_from_slice(&dx);
        }
        if let Some(o) = grad_in.dh0 {
            o.copy_from_slice(&dh0);
        }
        if let Some(o) = grad_in.dc0 {
            o.copy_from_slice(&dc0);
        }
        Ok(())
    }
}
