//! [`Seq2Vec`]: a sequence-to-vector regressor — a recurrent [`LayerStack`] whose top layer's last
//! hidden state feeds a [`Dense`] head — trained on the mean squared error.

use super::{clip_grad_norm, Adam, Dense, LayerStack};
use crate::error::{check_len, Result};
use crate::{Cell, GradMode, GradOutput, SeqShape, Weights};

/// What one training step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// The batch's mean squared error before the update.
    pub loss: f64,
    /// The global gradient norm before clipping (see [`clip_grad_norm`]).
    pub grad_norm: f32,
}

/// A recurrent [`LayerStack`] read at its last step by a [`Dense`] head: from `X` `[T, N, I]` it
/// predicts `[N, outputs]` as `head(h_T)` of the top layer. Trained by [`Seq2Vec::train_step`]
/// on the mean squared error with [`Adam`] and optional global-norm clipping.
///
/// The gradient of the head's input enters the stack as `dh_T` of the top layer (its `dY` is
/// zero), so backward-through-time runs from the last step only.
///
/// ```
/// use fusedrnn::{Cell, SeqShape};
/// use fusedrnn::train::{Adam, Seq2Vec};
/// let mut m = Seq2Vec::new(Cell::Lstm, 1, &[8], 1, 3).unwrap();
/// let mut opt = Adam::new(1e-2);
/// let shape = SeqShape::new(4, 2);
/// let x = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]; // [T = 4, N = 2, I = 1]
/// let first = m.train_step(shape, &x, &[0.5, -0.5], &mut opt, Some(1.0)).unwrap().loss;
/// for _ in 0..50 {
///     m.train_step(shape, &x, &[0.5, -0.5], &mut opt, Some(1.0)).unwrap();
/// }
/// let last = m.train_step(shape, &x, &[0.5, -0.5], &mut opt, Some(1.0)).unwrap().loss;
/// assert!(last < first);
/// ```
#[derive(Debug)]
pub struct Seq2Vec {
    stack: LayerStack,
    head: Dense,
    head_grad: Dense,
    h_last: Vec<f32>,
    pred: Vec<f32>,
    dpred: Vec<f32>,
    dh: Vec<f32>,
    dy_top: Vec<f32>,
}

impl Seq2Vec {
    /// A stack of `cell` layers with `hidden[l]` units (seeds `seed, seed + 1, ...`) and a
    /// dense head from the top layer's `H` to `outputs` (seed `seed + hidden.len()`).
    pub fn new(cell: Cell, input_size: usize, hidden: &[usize], outputs: usize, seed: u64) -> Result<Self> {
        let stack = LayerStack::new(cell, input_size, hidden, seed)?;
        let head = Dense::new(stack.output_size(), outputs, seed.wrapping_add(hidden.len() as u64));
        Self::from_parts(stack, head)
    }

    /// From a stack and a head whose `inputs` is the stack's output size.
    pub fn from_parts(stack: LayerStack, head: Dense) -> Result<Self> {
        check_len("head inputs", stack.output_size(), head.inputs())?;
        Ok(Self {
            head_grad: Dense::zeros(head.inputs(), head.outputs()),
            stack,
            head,
            h_last: Vec::new(),
            pred: Vec::new(),
            dpred: Vec::new(),
            dh: Vec::new(),
            dy_top: Vec::new(),
        })
    }

    /// The recurrent stack.
    pub fn stack(&self) -> &LayerStack {
        &self.stack
    }

    /// The dense head.
    pub fn head(&self) -> &Dense {
        &self.head
    }

    /// The number of outputs per sequence.
    pub fn outputs(&self) -> usize {
        self.head.outputs()
    }

    /// Inference: predictions `[N, outputs]` into `out` from `x` `[T, N, I]`.
    pub fn predict(&self, shape: SeqShape, x: &[f32], out: &mut [f32]) -> Result<()> {
        check_len("out", shape.n * self.outputs(), out.len())?;
        let h = self.stack.output_size();
        let mut y = vec![0.0f32; shape.t * shape.n * h];
        self.stack.forward(shape, x, &mut y)?;
        self.head.forward(&y[(shape.t - 1) * shape.n * h..], out);
        Ok(())
    }

    /// Forward and backward on one batch: returns the mean squared error of the predictions
    /// against `target` `[N, outputs]` and leaves its gradients (stack, then head) in the
    /// buffers [`Seq2Vec::grad_buffers_mut`] lists.
    pub fn loss_and_grads(&mut self, shape: SeqShape, x: &[f32], target: &[f32]) -> Result<f64> {
        check_len("target", shape.n * self.outputs(), target.len())?;
        let h = self.stack.output_size();
        let o = self.outputs();
        let y = self.stack.forward_train(shape, x)?;
        self.h_last.clear();
        self.h_last.extend_from_slice(&y[(shape.t - 1) * shape.n * h..]);
        self.pred.resize(shape.n * o, 0.0);
        self.head.forward(&self.h_last, &mut self.pred);
        let count = (shape.n * o) as f64;
        let mut sum = 0.0f64;
        self.dpred.resize(shape.n * o, 0.0);
        let scale = (2.0 / count) as f32;
        for ((d, &p), &t) in self.dpred.iter_mut().zip(&self.pred).zip(target) {
            let e = p - t;
            sum += (e as f64) * (e as f64);
            *d = scale * e;
        }
        self.dh.resize(shape.n * h, 0.0);
        self.head.backward(
            &self.h_last,
            &self.dpred,
            Some(&mut self.dh),
            &mut self.head_grad,
            GradMode::Overwrite,
        );
        self.dy_top.clear();
        self.dy_top.resize(shape.t * shape.n * h, 0.0);
        self.stack
            .backward(x, GradOutput::new(&self.dy_top).dh_n(&self.dh), None)?;
        Ok(sum / count)
    }

    /// Every gradient buffer: the stack's (bottom layer first, `dW_ih, dW_hh, db_ih, db_hh`
    /// each), then the head's `dW`, `db`.
    pub fn grad_buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut g = self.stack.grad_buffers_mut();
        g.extend(self.head_grad.buffers_mut());
        g
    }

    /// The gradient buffers, in the order of [`Seq2Vec::grad_buffers_mut`].
    pub(crate) fn grad_buffers(&self) -> Vec<&[f32]> {
        let mut g = self.stack.grad_buffers();
        g.extend(self.head_grad.buffers());
        g
    }

    /// Replaces the weights of layer `l` of the stack (bottom first); their descriptor must
    /// be the layer's.
    pub(crate) fn set_layer_weights(&mut self, l: usize, weights: Weights) -> Result<()> {
        self.stack.set_layer_weights(l, weights)
    }

    /// The head's `W` and `b`, mutable (their lengths are fixed).
    pub(crate) fn head_buffers_mut(&mut self) -> [&mut [f32]; 2] {
        self.head.buffers_mut()
    }

    /// One optimizer step from the gradients of the last [`Seq2Vec::loss_and_grads`], over
    /// the parameters in the order of [`Seq2Vec::grad_buffers_mut`].
    pub fn apply(&mut self, opt: &mut Adam) {
        let (mut guards, grads) = self.stack.weights_and_grads_mut();
        let mut params: Vec<&mut [f32]> = guards.iter_mut().flat_map(|g| g.all_buffers_mut()).collect();
        params.extend(self.head.buffers_mut());
        let mut g: Vec<&[f32]> = grads.iter().flat_map(|g| g.all_buffers()).collect();
        g.extend(self.head_grad.buffers());
        opt.step(&mut params, &g);
    }

    /// One training step: forward, backward, clipping of the global gradient norm to
    /// `max_norm` (when given), and an [`Adam`] update. A step whose gradient norm is not
    /// finite is skipped (the weights stay as they were).
    pub fn train_step(
        &mut self,
        shape: SeqShape,
        x: &[f32],
        target: &[f32],
        opt: &mut Adam,
        max_norm: Option<f32>,
    ) -> Result<StepStats> {
        let loss = self.loss_and_grads(shape, x, target)?;
        let grad_norm = match max_norm {
            Some(m) => clip_grad_norm(&mut self.grad_buffers_mut(), m),
            None => {
                let mut g = self.grad_buffers_mut();
                let views: Vec<&[f32]> = g.iter_mut().map(|b| &**b).collect();
                super::clip::global_norm(&views) as f32
            }
        };
        if grad_norm.is_finite() {
            self.apply(opt);
        }
        Ok(StepStats { loss, grad_norm })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, GruVariant};

    fn uniform(n: usize, seed: u64) -> Vec<f32> {
        let mut r = crate::rng::SplitMix64::new(seed);
        (0..n).map(|_| 2.0 * r.next_f32() - 1.0).collect()
    }

    /// The gradient of the whole model along a random direction against a central difference
    /// of the loss (f32 forward, so a loose tolerance).
    #[test]
    fn gradient_matches_a_directional_difference() {
        let shape = SeqShape::new(8, 4);
        for cell in [
            Cell::Lstm,
            Cell::Gru(GruVariant::ResetBeforeLinear),
            Cell::Rnn(Activation::Tanh),
        ] {
            let mut m = Seq2Vec::new(cell, 2, &[6, 5], 3, 9).unwrap();
            let x = uniform(8 * 4 * 2, 1);
            let t = uniform(4 * 3, 2);
            m.loss_and_grads(shape, &x, &t).unwrap();
            let grads: Vec<Vec<f32>> = m.grad_buffers_mut().iter().map(|b| b.to_vec()).collect();
            let dir: Vec<Vec<f32>> = grads
                .iter()
                .enumerate()
                .map(|(k, g)| uniform(g.len(), 100 + k as u64))
                .collect();
            let along: f64 = grads
                .iter()
                .zip(&dir)
                .flat_map(|(g, d)| g.iter().zip(d))
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let eps = 1e-2f32;
            let loss_at = |s: f32| {
                let mut p = Seq2Vec::new(cell, 2, &[6, 5], 3, 9).unwrap();
                {
                    let mut guards = p.stack.weights_mut();
                    let mut bufs: Vec<&mut [f32]> = guards.iter_mut().flat_map(|g| g.all_buffers_mut()).collect();
                    bufs.extend(p.head.buffers_mut());
                    for (b, d) in bufs.iter_mut().zip(&dir) {
                        for (v, &dv) in b.iter_mut().zip(d) {
                            *v += s * dv;
                        }
                    }
                }
                let mut out = vec![0.0f32; 4 * 3];
                p.predict(shape, &x, &mut out).unwrap();
                out.iter().zip(&t).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum::<f64>() / 12.0
            };
            let fd = (loss_at(eps) - loss_at(-eps)) / (2.0 * eps as f64);
            assert!(
                (fd - along).abs() < 2e-2 * along.abs().max(1e-3),
                "{cell:?}: directional fd {fd} vs analytic {along}"
            );
        }
    }

    #[test]
    fn predict_agrees_with_the_training_forward() {
        let shape = SeqShape::new(5, 3);
        let mut m = Seq2Vec::new(Cell::Lstm, 1, &[4, 4], 2, 1).unwrap();
        let x = uniform(15, 3);
        let t = uniform(6, 4);
        let loss = m.loss_and_grads(shape, &x, &t).unwrap();
        let mut out = vec![0.0f32; 6];
        m.predict(shape, &x, &mut out).unwrap();
        let mse = out.iter().zip(&t).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum::<f64>() / 6.0;
        assert_eq!(loss, mse);
        assert!(m.loss_and_grads(shape, &x, &t[..5]).is_err());
    }

    #[test]
    fn non_finite_gradients_skip_the_step() {
        let shape = SeqShape::new(3, 1);
        let mut m = Seq2Vec::new(Cell::Gru(GruVariant::LinearBeforeReset), 1, &[3], 1, 1).unwrap();
        let before = m.head().clone();
        let mut opt = Adam::new(0.1);
        let s = m
            .train_step(shape, &[0.1, 0.2, 0.3], &[f32::NAN], &mut opt, Some(1.0))
            .unwrap();
        assert!(s.loss.is_nan() && s.grad_norm.is_nan());
        assert_eq!(m.head(), &before);
        assert_eq!(opt.steps(), 0);
    }
}
