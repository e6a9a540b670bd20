//! The layer-normalized LSTM's time loop pieces (see [`crate::LayerDesc::with_layer_norm`]):
//! the input side normalized for all steps at once after the input projection; per step the
//! recurrent product on `W_hh` packed once, its normalization and the gate pass
//! ([`crate::cell::ln_lstm`]); backward in reverse, the input side's normalization undone for
//! all steps after the loop, weight gradients as GEMMs over all steps.

use super::backward::rec_product;
use super::forward::Ctx;
use super::schedule::Schedule;
use super::team::Team;
use crate::cell::ln_lstm::{self, LnParams};
use crate::gemm::{sgemm, Mat};
use crate::weights::Weights;

/// Length of the accumulator of parameter gradients: `γ_h, β_h` (`4H` each), `γ_c, β_c`
/// (`H` each), then `γ_x, β_x, b` (`4H` each).
fn acc_len(h: usize) -> usize {
    22 * h
}

/// The layer-normalization buffers of one call, cut from one region. In training
/// (`packed`), per-step buffers hold every step (`[Σ n_t, ·]`, rows at `off(t)`); in
/// inference one step's `[N, ·]`.
pub(crate) struct LnBufs<'a> {
    /// Training: the normalized input product `[Σ n_t, 4H]`; inference: empty.
    pub xhat: &'a mut [f32],
    /// The normalized recurrent product.
    pub rhat: &'a mut [f32],
    /// `LN(c')` without gain and bias.
    pub chat: &'a mut [f32],
    /// `1/sqrt(var + eps)` of the input side, for all `Σ n_t` rows.
    pub rstd_x: &'a mut [f32],
    pub rstd_h: &'a mut [f32],
    pub rstd_c: &'a mut [f32],
    /// Training: the parameter-gradient accumulator; inference: empty.
    pub acc: &'a mut [f32],
    pub packed: bool,
}

impl<'a> LnBufs<'a> {
    /// Elements needed for `tn = T*N` rows, batch `n`, `h` units.
    pub(crate) fn len(tn: usize, n: usize, h: usize, packed: bool) -> usize {
        Self::lens(tn, n, h, packed).iter().sum()
    }

    fn lens(tn: usize, n: usize, h: usize, packed: bool) -> [usize; 7] {
        let r = if packed { tn } else { n };
        [
            if packed { tn * 4 * h } else { 0 },
            r * 4 * h,
            r * h,
            tn,
            r,
            r,
            if packed { acc_len(h) } else { 0 },
        ]
    }

    /// Cuts `buf` (at least [`LnBufs::len`] long; empty for a layer without layer
    /// normalization, which gives empty buffers).
    pub(crate) fn new(buf: &'a mut [f32], tn: usize, n: usize, h: usize, packed: bool) -> Self {
        let lens = if buf.is_empty() {
            [0; 7]
        } else {
            Self::lens(tn, n, h, packed)
        };
        let [a, b, c, d, e, f, g] = lens;
        let (xhat, rest) = buf.split_at_mut(a);
        let (rhat, rest) = rest.split_at_mut(b);
        let (chat, rest) = rest.split_at_mut(c);
        let (rstd_x, rest) = rest.split_at_mut(d);
        let (rstd_h, rest) = rest.split_at_mut(e);
        let (rstd_c, rest) = rest.split_at_mut(f);
        let (acc, _) = rest.split_at_mut(g);
        Self {
            xhat,
            rhat,
            chat,
            rstd_x,
            rstd_h,
            rstd_c,
            acc,
            packed,
        }
    }
}

/// The slices of [`crate::Weights::layer_norm`]: `γ_x, β_x, γ_h, β_h, γ_c, β_c`.
fn params(w: &Weights) -> [&[f32]; 6] {
    let h = w.desc().hidden_size();
    let p = w.layer_norm();
    [
        &p[..4 * h],
        &p[4 * h..8 * h],
        &p[8 * h..12 * h],
        &p[12 * h..16 * h],
        &p[16 * h..17 * h],
        &p[17 * h..18 * h],
    ]
}

fn step_params<'a>(w: &'a Weights) -> LnParams<'a> {
    let [_, _, gamma_h, beta_h, gamma_c, beta_c] = params(w);
    LnParams {
        gamma_h,
        beta_h,
        gamma_c,
        beta_c,
    }
}

/// The input side for all `rows`: `gates` holds `W_ih x` on entry and `γ_x x̂ + β_x + b` on
/// return; `x̂` is kept in training.
pub(crate) fn input_side(cx: Ctx<'_>, rows: usize, gates: &mut [f32], lb: &mut LnBufs<'_>) {
    let w4 = cx.desc.gate_rows();
    let g = &mut gates[..rows * w4];
    ln_lstm::normalize_rows(w4, g, &mut lb.rstd_x[..rows]);
    if lb.packed {
        lb.xhat[..rows * w4].copy_from_slice(g);
    }
    let [gamma_x, beta_x, ..] = params(cx.w);
    ln_lstm::affine_rows(w4, g, gamma_x, beta_x, &cx.p.bias_ln);
}

/// One forward step over `m` rows at row `r0` of the per-step buffers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_step(
    cx: Ctx<'_>,
    team: &Team<'_>,
    m: usize,
    r0: usize,
    h_prev: Option<&[f32]>,
    gates: &mut [f32],
    c_prev: &[f32],
    c_next: &mut [f32],
    h_next: &mut [f32],
    lb: &mut LnBufs<'_>,
) {
    let h = cx.desc.hidden_size();
    let w4 = 4 * h;
    let rh = &mut lb.rhat[r0 * w4..][..m * w4];
    match h_prev {
        Some(hp) => rec_product(team, m, hp, h, &cx.p.fwd, 0.0, rh, w4),
        None => rh.fill(0.0),
    }
    ln_lstm::normalize_rows(w4, rh, &mut lb.rstd_h[r0..r0 + m]);
    ln_lstm::forward(
        h,
        &step_params(cx.w),
        gates,
        rh,
        c_prev,
        c_next,
        &mut lb.chat[r0 * h..][..m * h],
        &mut lb.rstd_c[r0..r0 + m],
        h_next,
    );
}

/// The buffers of one backward step over `m` rows at packed row `r0`.
pub(crate) struct LnBack<'a> {
    pub m: usize,
    pub r0: usize,
    pub dy: &'a [f32],
    pub dh_rec: &'a [f32],
    pub acts: &'a [f32],
    pub c_prev: &'a [f32],
    pub dc: &'a mut [f32],
    /// `[m, 4H]` out: the gates' pre-activation gradients.
    pub da: &'a mut [f32],
    /// `[m, 4H]` out: the gradient of `W_hh h`.
    pub dr: &'a mut [f32],
    /// `[m, H]` scratch, and `[H]` more.
    pub dh: &'a mut [f32],
    pub tmp: &'a mut [f32],
}

/// One backward step (the caller then forms `dh_{t-1} = dR · W_hh`).
pub(crate) fn backward_step(cx: Ctx<'_>, s: LnBack<'_>, lb: &mut LnBufs<'_>) {
    let h = cx.desc.hidden_size();
    for ((o, a), b) in s.dh.iter_mut().zip(s.dy).zip(s.dh_rec) {
        *o = a + b;
    }
    let (m, r0) = (s.m, s.r0);
    ln_lstm::backward(
        h,
        &step_params(cx.w),
        s.acts,
        s.c_prev,
        &lb.chat[r0 * h..][..m * h],
        &lb.rstd_c[r0..r0 + m],
        &lb.rhat[r0 * 4 * h..][..m * 4 * h],
        &lb.rstd_h[r0..r0 + m],
        s.dh,
        s.dc,
        s.da,
        s.dr,
        &mut lb.acc[..10 * h],
        s.tmp,
    );
}

/// After the loop: the input side's gradients for all `rows`; `dgates` becomes the
/// gradient of `W_ih x` (what `dX` and `dW_ih` are formed from).
pub(crate) fn input_back(cx: Ctx<'_>, rows: usize, dgates: &mut [f32], lb: &mut LnBufs<'_>) {
    let h = cx.desc.hidden_size();
    let [gamma_x, ..] = params(cx.w);
    ln_lstm::input_back(
        h,
        &lb.xhat[..rows * 4 * h],
        &lb.rstd_x[..rows],
        gamma_x,
        &mut dgates[..rows * 4 * h],
        &mut lb.acc[10 * h..],
    );
}

/// Backward-weights: `dW_ih = dPᵀ X`, `dW_hh = dRᵀ H_prev` over the `tn` rows, the biases
/// and the layer-normalization parameters from the accumulator.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weights(
    cx: Ctx<'_>,
    sched: &Schedule,
    dp: &[f32],
    dr: &[f32],
    x: &[f32],
    h_prev: &[f32],
    acc: &[f32],
    grads: &mut Weights,
    accumulate: bool,
) {
    let (i, h) = (cx.desc.input_size(), cx.desc.hidden_size());
    let (w4, tn) = (4 * h, sched.total());
    let beta = if accumulate { 1.0 } else { 0.0 };
    {
        let [dw_ih, dw_hh, db_ih, db_hh] = grads.buffers_mut();
        if tn == 0 {
            if !accumulate {
                dw_ih.fill(0.0);
                dw_hh.fill(0.0);
            }
        } else {
            sgemm(w4, i, tn, Mat::t(&dp[..tn * w4], w4), Mat::n(x, i), beta, dw_ih, i);
            sgemm(w4, h, tn, Mat::t(&dr[..tn * w4], w4), Mat::n(h_prev, h), beta, dw_hh, h);
        }
        let db = &acc[18 * h..22 * h];
        for b in [db_ih, db_hh] {
            put(b, db, accumulate);
        }
    }
    // The accumulator's order (γ_h, β_h, γ_c, β_c, γ_x, β_x) into the parameters' order
    // (γ_x, β_x, γ_h, β_h, γ_c, β_c).
    let ln = grads.layer_norm_mut();
    put(&mut ln[..8 * h], &acc[10 * h..18 * h], accumulate);
    put(&mut ln[8 * h..18 * h], &acc[..10 * h], accumulate);
}

fn put(dst: &mut [f32], src: &[f32], accumulate: bool) {
    if accumulate {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.copy_from_slice(src);
    }
}
