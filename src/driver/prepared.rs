//! What is derived from the weights once, when they are set, rather than on every call.

use crate::desc::{Cell, GruVariant};
use crate::weights::Weights;

/// Weight-derived data the drivers use.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prepared {
    /// `[G*H]`, added to the input projection: `b_ih` plus every recurrent bias that can be
    /// folded there (all of `b_hh` except `b_hn` of the linear-before-reset GRU).
    pub bias_x: Vec<f32>,
    /// `[H]`, `b_hn` of the linear-before-reset GRU (empty otherwise).
    pub b_hn: Vec<f32>,
}

impl Prepared {
    pub(crate) fn new(w: &Weights) -> Self {
        let h = w.desc().hidden_size();
        let mut bias_x: Vec<f32> = w.b_ih().iter().zip(w.b_hh()).map(|(a, b)| a + b).collect();
        let mut b_hn = Vec::new();
        if w.desc().cell() == Cell::Gru(GruVariant::LinearBeforeReset) {
            bias_x[2 * h..].copy_from_slice(&w.b_ih()[2 * h..]);
            b_hn = w.b_hh()[2 * h..].to_vec();
        }
        Self { bias_x, b_hn }
    }
}
