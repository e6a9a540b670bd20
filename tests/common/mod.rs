//! Helpers shared by the integration tests.
#![allow(dead_code)]

use fusedrnn::rng::SplitMix64;
use fusedrnn::{Activation, Cell, GruVariant};
use proptest::prelude::*;

/// Every cell variant.
pub const CELLS: [Cell; 5] = [
    Cell::Lstm,
    Cell::Gru(GruVariant::LinearBeforeReset),
    Cell::Gru(GruVariant::ResetBeforeLinear),
    Cell::Rnn(Activation::Tanh),
    Cell::Rnn(Activation::Relu),
];

pub fn cell_strategy() -> impl Strategy<Value = Cell> {
    prop::sample::select(CELLS.to_vec())
}

/// `len` values uniform in `[-scale, scale)`.
pub fn uniform(len: usize, scale: f32, seed: u64) -> Vec<f32> {
    let mut r = SplitMix64::new(seed);
    (0..len).map(|_| scale * (2.0 * r.next_f32() - 1.0)).collect()
}

pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

/// Largest error of `got` against `want`, each element's error measured relative to
/// `max(|want_i|, floor * max_j |want_j|)`: a relative error for every element that is not
/// tiny next to the largest one in its buffer.
pub fn rel_err(got: &[f32], want: &[f64], floor: f64) -> f64 {
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    rel_err_scaled(got, want, floor, scale)
}

/// As [`rel_err`], with the floor taken relative to `scale` instead of the buffer's own max.
pub fn rel_err_scaled(got: &[f32], want: &[f64], floor: f64, scale: f64) -> f64 {
    assert_eq!(got.len(), want.len());
    let denom_floor = (floor * scale).max(f64::MIN_POSITIVE);
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            let g = g as f64;
            if g.is_nan() || w.is_nan() {
                return if g.is_nan() && w.is_nan() { 0.0 } else { f64::INFINITY };
            }
            (g - w).abs() / w.abs().max(denom_floor)
        })
        .fold(0f64, f64::max)
}
