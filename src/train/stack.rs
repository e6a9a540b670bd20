//! [`LayerStack`]: recurrent layers run one over the other (layer `l + 1` reads layer `l`'s `Y`),
//! with the workspaces, activations and gradient buffers training needs.

use crate::error::{check_len, Error, Result};
use crate::{Cell, GradInput, GradMode, GradOutput, Layer, LayerDesc, SeqInput, SeqOutput, SeqShape, TrainWorkspace};
use crate::{Weights, WeightsMut};

/// A stack of recurrent layers, each reading the `Y` of the one below (the first reads `X`).
///
/// [`LayerStack::forward_train`] keeps every layer's output and workspace; [`LayerStack::backward`]
/// then runs backward from the top, the `dX` of each layer being the `dY` of the one below,
/// and leaves the weight gradients of every layer in [`LayerStack::grads`] (overwritten).
///
/// ```
/// use fusedrnn::{Cell, GradOutput, SeqShape};
/// use fusedrnn::train::LayerStack;
/// let mut s = LayerStack::new(Cell::Lstm, 1, &[8, 8], 7).unwrap();
/// let shape = SeqShape::new(5, 2);
/// let x = vec![0.5f32; 5 * 2];
/// let y = s.forward_train(shape, &x).unwrap().to_vec(); // [T, N, 8]
/// let dy = vec![1.0f32; y.len()];
/// s.backward(&x, GradOutput::new(&dy), None).unwrap();
/// assert!(s.grads()[0].w_ih().iter().any(|&g| g != 0.0));
/// ```
#[derive(Debug)]
pub struct LayerStack {
    layers: Vec<Layer>,
    grads: Vec<Weights>,
    ws: Vec<TrainWorkspace>,
    /// The output `Y` of every layer from the last `forward_train`.
    ys: Vec<Vec<f32>>,
    /// `dY` of every layer but the top (the `dX` of the layer above).
    dys: Vec<Vec<f32>>,
    shape: Option<SeqShape>,
}

impl LayerStack {
    /// Layers of `cell` with `hidden[l]` units each, the first reading `input_size` features;
    /// weights from [`Weights::init_uniform`] with seeds `seed, seed + 1, ...`.
    pub fn new(cell: Cell, input_size: usize, hidden: &[usize], seed: u64) -> Result<Self> {
        let mut layers = Vec::with_capacity(hidden.len());
        let mut i = input_size;
        for (l, &h) in hidden.iter().enumerate() {
            let desc = LayerDesc::new(cell, i, h)?;
            layers.push(Layer::new(Weights::init_uniform(&desc, seed.wrapping_add(l as u64))));
            i = h;
        }
        Self::from_layers(layers)
    }

    /// A stack of these layers, bottom first; each layer's `I` must be the `H` of the one below.
    pub fn from_layers(layers: Vec<Layer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::ZeroSize { what: "layers" });
        }
        for pair in layers.windows(2) {
            if pair[1].desc().input_size() != pair[0].desc().hidden_size() {
                return Err(Error::InvalidValue {
                    what: "layers",
                    why: "a layer's input size differs from the hidden size of the layer below",
                });
            }
        }
        let grads = layers.iter().map(|l| Weights::zeros(l.desc())).collect();
        let ws = layers.iter().map(|_| TrainWorkspace::new()).collect();
        let ys = layers.iter().map(|_| Vec::new()).collect();
        let dys = layers.iter().skip(1).map(|_| Vec::new()).collect();
        Ok(Self {
            layers,
            grads,
            ws,
            ys,
            dys,
            shape: None,
        })
    }

    /// The layers, bottom first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// `I` of the bottom layer.
    pub fn input_size(&self) -> usize {
        self.layers[0].desc().input_size()
    }

    /// `H` of the top layer.
    pub fn output_size(&self) -> usize {
        self.top().desc().hidden_size()
    }

    fn top(&self) -> &Layer {
        &self.layers[self.layers.len() - 1]
    }

    /// The weight gradients of every layer from the last [`LayerStack::backward`], bottom first.
    pub fn grads(&self) -> &[Weights] {
        &self.grads
    }

    /// The gradient buffers of every layer, bottom first, each as `dW_ih, dW_hh, db_ih, db_hh`
    /// (for clipping).
    pub fn grad_buffers_mut(&mut self) -> Vec<&mut [f32]> {
        self.grads.iter_mut().flat_map(|g| g.all_buffers_mut()).collect()
    }

    /// The gradient buffers, in the order of [`LayerStack::grad_buffers_mut`].
    pub fn grad_buffers(&self) -> Vec<&[f32]> {
        self.grads.iter().flat_map(|g| g.all_buffers()).collect()
    }

    /// Replaces the weights of layer `l` (bottom first); their descriptor must be the layer's.
    /// Workspaces filled before no longer match.
    pub(crate) fn set_layer_weights(&mut self, l: usize, weights: Weights) -> Result<()> {
        let layer = self.layers.get_mut(l).ok_or(Error::InvalidValue {
            what: "index",
            why: "not below the number of layers",
        })?;
        layer.set_weights(weights)
    }

    /// Write access to every layer's weights at once (for an optimizer step), bottom first;
    /// each layer re-prepares its weights when its guard is dropped.
    pub fn weights_mut(&mut self) -> Vec<WeightsMut<'_>> {
        self.layers.iter_mut().map(Layer::weights_mut).collect()
    }

    /// Write access to the weights together with read access to the gradients of the last
    /// [`LayerStack::backward`]: what an optimizer step needs.
    pub fn weights_and_grads_mut(&mut self) -> (Vec<WeightsMut<'_>>, &[Weights]) {
        (self.layers.iter_mut().map(Layer::weights_mut).collect(), &self.grads)
    }

    /// The `Y` of the top layer from the last [`LayerStack::forward_train`], `[T, N, H_top]`.
    pub fn output(&self) -> &[f32] {
        &self.ys[self.ys.len() - 1]
    }

    /// Inference: the top layer's `Y` `[T, N, H_top]` into `y`, from `x` `[T, N, I]` and zero
    /// initial states.
    pub fn forward(&self, shape: SeqShape, x: &[f32], y: &mut [f32]) -> Result<()> {
        shape.validate(self.layers[0].desc())?;
        check_len("x", shape.t * shape.n * self.input_size(), x.len())?;
        check_len("y", shape.t * shape.n * self.output_size(), y.len())?;
        let mut below: Vec<f32> = Vec::new();
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let input = if l == 0 { x } else { &below[..] };
            if l == last {
                layer.forward(shape, SeqInput::new(input), SeqOutput::new(y))?;
                break;
            }
            let mut out = vec![0.0f32; shape.t * shape.n * layer.desc().hidden_size()];
            layer.forward(shape, SeqInput::new(input), SeqOutput::new(&mut out))?;
            below = out;
        }
        Ok(())
    }

    /// Training forward from `x` `[T, N, I]` and zero initial states: keeps what
    /// [`LayerStack::backward`] needs and returns the top layer's `Y`, `[T, N, H_top]`.
    pub fn forward_train(&mut self, shape: SeqShape, x: &[f32]) -> Result<&[f32]> {
        shape.validate(self.layers[0].desc())?;
        check_len("x", shape.t * shape.n * self.input_size(), x.len())?;
        self.shape = None;
        for l in 0..self.layers.len() {
            let h = self.layers[l].desc().hidden_size();
            let (below, rest) = self.ys.split_at_mut(l);
            let input = if l == 0 { x } else { &below[l - 1][..] };
            let out = &mut rest[0];
            out.resize(shape.t * shape.n * h, 0.0);
            self.layers[l].forward_train(shape, SeqInput::new(input), SeqOutput::new(out), &mut self.ws[l])?;
        }
        self.shape = Some(shape);
        Ok(self.output())
    }

    /// Backward through the whole stack from the gradients of the top layer's outputs
    /// (`dY`, and `dh_T`/`dc_T` if given); `x` must be the input of the last
    /// [`LayerStack::forward_train`]. Overwrites [`LayerStack::grads`], and writes `dX` `[T, N, I]` into
    /// `dx` when given.
    pub fn backward(&mut self, x: &[f32], grad_top: GradOutput<'_>, dx: Option<&mut [f32]>) -> Result<()> {
        let shape = self.shape.ok_or(Error::Workspace {
            reason: "LayerStack::backward before LayerStack::forward_train",
        })?;
        check_len("x", shape.t * shape.n * self.input_size(), x.len())?;
        for (d, l) in self.dys.iter_mut().zip(&self.layers) {
            d.resize(shape.t * shape.n * l.desc().hidden_size(), 0.0);
        }
        let mut dx = dx;
        for l in (0..self.layers.len()).rev() {
            // dY of this layer: the caller's for the top, else what the layer above wrote.
            let (lower, upper) = self.dys.split_at_mut(l);
            let grad_out = if l + 1 == self.layers.len() {
                grad_top
            } else {
                GradOutput::new(&upper[0][..])
            };
            let grad_in = if l == 0 {
                match dx.take() {
                    Some(d) => GradInput::none().dx(d),
                    None => GradInput::none(),
                }
            } else {
                GradInput::none().dx(&mut lower[l - 1][..])
            };
            let input = if l == 0 { x } else { &self.ys[l - 1][..] };
            self.layers[l].backward(
                &mut self.ws[l],
                input,
                grad_out,
                grad_in,
                &mut self.grads[l],
                GradMode::Overwrite,
            )?;
        }
        Ok(())
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

    const CELLS: [Cell; 3] = [
        Cell::Lstm,
        Cell::Gru(GruVariant::LinearBeforeReset),
        Cell::Rnn(Activation::Tanh),
    ];

    #[test]
    fn rejects_mismatched_layers() {
        let a = Layer::new(Weights::zeros(&LayerDesc::new(Cell::Lstm, 2, 4).unwrap()));
        let b = Layer::new(Weights::zeros(&LayerDesc::new(Cell::Lstm, 3, 4).unwrap()));
        assert!(LayerStack::from_layers(vec![a, b]).is_err());
        assert!(LayerStack::from_layers(vec![]).is_err());
    }

    #[test]
    fn inference_equals_training_forward() {
        let shape = SeqShape::new(6, 3);
        for cell in CELLS {
            let mut s = LayerStack::new(cell, 2, &[5, 4, 3], 1).unwrap();
            let x = uniform(6 * 3 * 2, 9);
            let mut y = vec![0.0f32; 6 * 3 * 3];
            s.forward(shape, &x, &mut y).unwrap();
            assert_eq!(s.forward_train(shape, &x).unwrap(), &y[..]);
        }
    }

    /// The stack's gradient along a random direction against a central difference of
    /// `L = Σ c ⊙ Y_top`, evaluated in f64 through the reference implementation.
    #[test]
    fn backward_matches_the_reference_through_every_layer() {
        use crate::reference::{self, Params};
        let shape = SeqShape::new(5, 2);
        for cell in CELLS {
            let mut s = LayerStack::new(cell, 3, &[4, 6], 2).unwrap();
            let x = uniform(5 * 2 * 3, 4);
            let c = uniform(5 * 2 * 6, 5);
            s.forward_train(shape, &x).unwrap();
            let mut dx = vec![0.0f32; x.len()];
            s.backward(&x, GradOutput::new(&c), Some(&mut dx)).unwrap();
            let loss = |params: &[Params<f64>], x: &[f64]| -> f64 {
                let mut h = x.to_vec();
                for p in params {
                    h = reference::forward(p, shape, &h, None, None).unwrap().y;
                }
                h.iter().zip(&c).map(|(a, &b)| a * b as f64).sum()
            };
            let params: Vec<Params<f64>> = s.layers().iter().map(|l| Params::from_weights(l.weights())).collect();
            let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let eps = 1e-6;
            // Every weight of every layer, one at a time.
            for (l, g) in s.grads().iter().enumerate() {
                for (k, gb) in g.buffers().iter().enumerate() {
                    for (j, &gv) in gb.iter().enumerate() {
                        let bump = |sign: f64| {
                            let mut p = params.clone();
                            let b = match k {
                                0 => &mut p[l].w_ih,
                                1 => &mut p[l].w_hh,
                                2 => &mut p[l].b_ih,
                                _ => &mut p[l].b_hh,
                            };
                            b[j] += sign * eps;
                            loss(&p, &x64)
                        };
                        let fd = (bump(1.0) - bump(-1.0)) / (2.0 * eps);
                        assert!(
                            (fd - gv as f64).abs() < 1e-4 * (1.0 + fd.abs()),
                            "{cell:?} layer {l} buffer {k}[{j}]: fd {fd} vs {gv}"
                        );
                    }
                }
            }
            for (j, &g) in dx.iter().enumerate() {
                let mut xp = x64.clone();
                xp[j] += eps;
                let mut xm = x64.clone();
                xm[j] -= eps;
                let fd = (loss(&params, &xp) - loss(&params, &xm)) / (2.0 * eps);
                assert!(
                    (fd - g as f64).abs() < 1e-4 * (1.0 + fd.abs()),
                    "{cell:?} dx[{j}]: {fd} vs {g}"
                );
            }
        }
    }

    #[test]
    fn backward_before_forward_is_an_error() {
        let mut s = LayerStack::new(Cell::Lstm, 1, &[2], 0).unwrap();
        assert!(s.backward(&[0.0], GradOutput::new(&[0.0, 0.0]), None).is_err());
    }
}
