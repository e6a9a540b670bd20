//! What is derived from the weights once, when they are set, rather than on every call.

use crate::desc::{Cell, GruVariant};
use crate::gemm::pack::{sub_blocks, Packed};
use crate::simd::{self, Isa};
use crate::weights::Weights;

/// Weight-derived data the drivers use.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prepared {
    /// `[G*H]`, added to the input projection: `b_ih` plus every recurrent bias that can be
    /// folded there (all of `b_hh` except `b_hn` of the linear-before-reset GRU).
    pub bias_x: Vec<f32>,
    /// `[H]`, `b_hn` of the linear-before-reset GRU (empty otherwise).
    pub b_hn: Vec<f32>,
    /// `W_hhᵀ` packed gate-interleaved for the fused forward step (all `G` gates; for the
    /// reset-before-linear GRU only `r, z`; wide panels for the one-gate simple RNN).
    pub fwd: Packed,
    /// Reset-before-linear GRU: `W_hnᵀ` packed (1 gate); empty otherwise.
    pub fwd_n: Packed,
    /// `W_ihᵀ` packed gate-interleaved (wide panels for the simple RNN), for the input projection.
    pub proj: Packed,
    /// `W_hh` packed for `dh_{t-1} = dG_t · W_hh` (for the reset-before-linear GRU only the
    /// `r, z` rows).
    pub bwd: Packed,
    /// Reset-before-linear GRU: `W_hn` packed for `d(r ⊙ h) = dn · W_hn`; empty otherwise.
    pub bwd_n: Packed,
    /// LSTM projection: `W_hrᵀ` packed for `h = m · W_hrᵀ`; empty otherwise.
    pub hr_fwd: Packed,
    /// LSTM projection: `W_hr` packed for `dm = dh · W_hr`; empty otherwise.
    pub hr_bwd: Packed,
    /// Layer-normalized cells: the input side's bias after its normalization (LSTM
    /// `b_ih + b_hh`, GRU `b_ih`; `bias_x` is then zero); empty otherwise.
    pub bias_ln: Vec<f32>,
    /// Layer-normalized GRU: `b_hh`, after the recurrent side's normalization; else empty.
    pub bias_ln_h: Vec<f32>,
}

impl Prepared {
    pub(crate) fn new(w: &Weights) -> Self {
        let d = w.desc();
        // The plain LSTM's W_hh (and W_ih, whose projection a step may compute in its own
        // tiles) on 512-bit tiles in two runs of 8 units per gate, so a batch of one still has
        // four independent FMA chains (four registers per row); the AVX2 and portable tiles,
        // and the other cells, keep the default runs.
        let plain_lstm = d.cell() == Cell::Lstm && !d.layer_norm() && !d.has_lstm_options();
        let runs = if plain_lstm && simd::isa() == Isa::Avx512 {
            2
        } else {
            sub_blocks(d.gates())
        };
        let (h, g, hw) = (d.hidden_size(), d.gates(), d.output_size());
        let mut bias_x: Vec<f32> = w.b_ih().iter().zip(w.b_hh()).map(|(a, b)| a + b).collect();
        let mut b_hn = Vec::new();
        let (fwd, fwd_n, bwd, bwd_n) = match d.cell() {
            Cell::Gru(GruVariant::ResetBeforeLinear) => {
                let (w_rz, w_n) = w.w_hh().split_at(2 * h * h);
                (
                    Packed::gate_rows(w_rz, 2, h, h),
                    Packed::gate_rows(w_n, 1, h, h),
                    Packed::plain(w_rz, 2 * h, h),
                    Packed::plain(w_n, h, h),
                )
            }
            Cell::Rnn(_) => (
                Packed::wide_rows(w.w_hh(), h, h),
                Packed::default(),
                Packed::plain(w.w_hh(), h, h),
                Packed::default(),
            ),
            // The general LSTM and the layer-normalized cells: a plain recurrent product,
            // then their own gate passes.
            _ if d.layer_norm() || (d.cell() == Cell::Lstm && d.has_lstm_options()) => (
                Packed::wide_rows(w.w_hh(), g * h, hw),
                Packed::default(),
                Packed::plain(w.w_hh(), g * h, hw),
                Packed::default(),
            ),
            _ => (
                Packed::gate_rows_runs(w.w_hh(), g, h, h, runs),
                Packed::default(),
                Packed::plain(w.w_hh(), g * h, h),
                Packed::default(),
            ),
        };
        let (hr_fwd, hr_bwd) = match d.proj_size() {
            Some(p) => (Packed::wide_rows(w.w_hr(), p, h), Packed::plain(w.w_hr(), p, h)),
            None => (Packed::default(), Packed::default()),
        };
        let (mut bias_ln, mut bias_ln_h) = (Vec::new(), Vec::new());
        if d.layer_norm() {
            // The biases come after the normalizations: LSTM b_ih + b_hh on one side; GRU each
            // on its own side.
            bias_ln = std::mem::replace(&mut bias_x, vec![0.0; g * h]);
            if d.cell() != Cell::Lstm {
                bias_ln = w.b_ih().to_vec();
                bias_ln_h = w.b_hh().to_vec();
            }
        } else if d.cell() == Cell::Gru(GruVariant::LinearBeforeReset) {
            bias_x[2 * h..].copy_from_slice(&w.b_ih()[2 * h..]);
            b_hn = w.b_hh()[2 * h..].to_vec();
        }
        Self {
            proj: match d.cell() {
                Cell::Rnn(_) => Packed::wide_rows(w.w_ih(), h, d.input_size()),
                _ => Packed::gate_rows_runs(w.w_ih(), g, h, d.input_size(), runs),
            },
            bias_x,
            b_hn,
            fwd,
            fwd_n,
            bwd,
            bwd_n,
            hr_fwd,
            hr_bwd,
            bias_ln,
            bias_ln_h,
        }
    }
}
