//! Runs one benchmark shape through the public API, with every buffer allocated up front.
#![allow(dead_code)]

use super::shapes::{Mode, Shape};
use fusedrnn::*;

/// Buffers and layer for one shape; `run` does one timed iteration.
pub struct Runner {
    shape: Shape,
    layer: Layer,
    x: Vec<f32>,
    y: Vec<f32>,
    dy: Vec<f32>,
    dx: Vec<f32>,
    grads: Weights,
    ws: TrainWorkspace,
    lengths: Option<Vec<usize>>,
}

impl Runner {
    pub fn new(shape: Shape) -> Self {
        let mut desc = LayerDesc::new(shape.cell, shape.h, shape.h).unwrap();
        if shape.layer_norm {
            desc = desc.with_layer_norm().unwrap();
        }
        let layer = Layer::new(Weights::init_uniform(&desc, 1));
        let s = SeqShape::new(shape.t, shape.n);
        let len = shape.t * shape.n * shape.h;
        let mut r = rng::SplitMix64::new(2);
        let x: Vec<f32> = (0..len).map(|_| r.next_f32() - 0.5).collect();
        let ws = TrainWorkspace::for_layer(&layer, s).unwrap();
        Self {
            shape,
            grads: Weights::zeros(&desc),
            layer,
            dy: x.clone(),
            dx: vec![0.0; len],
            y: vec![0.0; len],
            x,
            ws,
            lengths: shape.lengths(),
        }
    }

    /// Replaces the input with `v` everywhere (e.g. a denormal).
    pub fn fill_input(&mut self, v: f32) {
        self.x.fill(v);
    }

    pub fn run(&mut self) {
        let s = SeqShape::new(self.shape.t, self.shape.n);
        let input = SeqInput {
            lengths: self.lengths.as_deref(),
            ..SeqInput::new(&self.x)
        };
        match self.shape.mode {
            Mode::Infer => self.layer.forward(s, input, SeqOutput::new(&mut self.y)).unwrap(),
            Mode::Train => {
                let l = &self.layer;
                l.forward_train(s, input, SeqOutput::new(&mut self.y), &mut self.ws)
                    .unwrap();
                let gi = GradInput::none().dx(&mut self.dx);
                l.backward(
                    &mut self.ws,
                    &self.x,
                    GradOutput::new(&self.dy),
                    gi,
                    &mut self.grads,
                    GradMode::Overwrite,
                )
                .unwrap();
            }
        }
    }
}
