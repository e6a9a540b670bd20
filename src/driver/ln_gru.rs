//! The layer-normalized GRU's time loop pieces (see [`crate::LayerDesc::with_layer_norm`]):
//! the input side as for the LSTM ([`super::ln_lstm::input_side`]); per step the recurrent
//! product on `W_hh` packed once, its normalization and the gate pass
//! ([`crate::cell::ln_gru`]); backward in reverse, then the parameter sums and the input side's
//! normalization undone for all steps.

use super::backward::rec_product;
use super::forward::Ctx;
use super::ln_lstm::{params, put, LnBufs};
use super::rows::on_rows;
use super::schedule::Schedule;
use super::team::Team;
use crate::cell::ln_gru::{self, GruLnParams};
use crate::cell::ln_lstm as ln_rows;
use crate::gemm::{sgemm, Mat};
use crate::weights::Weights;

fn step_params<'a>(cx: &Ctx<'a>) -> GruLnParams<'a> {
    let [_, _, gamma_h, beta_h, ..] = params(cx.w);
    GruLnParams {
        gamma_h,
        beta_h,
        b_hh: &cx.p.bias_ln_h,
    }
}

/// One forward step over `m` rows at row `r0` of the per-step buffers: `h_rec` is what the
/// recurrent product multiplies (`None`: zero), `h_prev` the state.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_step(
    cx: Ctx<'_>,
    team: &Team<'_>,
    m: usize,
    r0: usize,
    h_rec: Option<&[f32]>,
    h_prev: &[f32],
    gates: &mut [f32],
    aux: &mut [f32],
    h_next: &mut [f32],
    lb: &mut LnBufs<'_>,
) {
    let h = cx.desc.hidden_size();
    let w3 = 3 * h;
    let rh = &mut lb.rhat[r0 * w3..][..m * w3];
    match h_rec {
        Some(hp) => rec_product(team, false, m, hp, h, &cx.p.fwd, 0.0, rh, w3),
        None => rh.fill(0.0),
    }
    let p = step_params(&cx);
    let bufs = [
        (rh, w3),
        (&mut lb.rstd_h[r0..r0 + m], 1),
        (gates, w3),
        (aux, h),
        (h_next, h),
    ];
    on_rows(team, m, 24 * w3, bufs, |r, [rh, rs_h, g, au, hn]| {
        ln_rows::normalize_rows(w3, rh, rs_h);
        ln_gru::forward(h, &p, g, rh, &h_prev[r.start * h..r.end * h], au, hn);
    });
}

/// The buffers of one backward step over `m` rows at packed row `r0`.
pub(crate) struct GruBack<'a> {
    pub m: usize,
    pub r0: usize,
    pub dy: &'a [f32],
    pub dh_rec: &'a [f32],
    pub acts: &'a [f32],
    pub aux: &'a [f32],
    pub h_prev: &'a [f32],
    /// Out: the direct part `dh ⊙ z` of `dh_{t-1}`.
    pub dh_prev: &'a mut [f32],
    /// Out: the input side's gradient `[m, 3H]`.
    pub dax: &'a mut [f32],
    /// Out: the gradient of the raw recurrent product `[m, 3H]`.
    pub dr: &'a mut [f32],
    /// `[m, H]` scratch.
    pub dh: &'a mut [f32],
}

/// One backward step (the caller then adds `dR · W_hh` to `dh_{t-1}`).
pub(crate) fn backward_step(cx: Ctx<'_>, team: &Team<'_>, s: GruBack<'_>, lb: &mut LnBufs<'_>) {
    let h = cx.desc.hidden_size();
    let w3 = 3 * h;
    let (m, r0) = (s.m, s.r0);
    let p = step_params(&cx);
    let (rhat, rstd_h) = (&lb.rhat[r0 * w3..][..m * w3], &lb.rstd_h[r0..r0 + m]);
    let bufs = [
        (s.dh, h),
        (s.dh_prev, h),
        (s.dax, w3),
        (&mut lb.du[r0 * w3..][..m * w3], w3),
        (s.dr, w3),
    ];
    let (dy, dh_rec, acts, aux, h_prev) = (s.dy, s.dh_rec, s.acts, s.aux, s.h_prev);
    on_rows(team, m, 24 * w3, bufs, |r, [dh, dhp, dax, dah, dr]| {
        let (rh, rw) = (r.start * h..r.end * h, r.start * w3..r.end * w3);
        for ((o, a), b) in dh.iter_mut().zip(&dy[rh.clone()]).zip(&dh_rec[rh.clone()]) {
            *o = a + b;
        }
        ln_gru::backward(
            h,
            &p,
            &acts[rw.clone()],
            &aux[rh.clone()],
            &h_prev[rh],
            &rhat[rw],
            &rstd_h[r],
            dh,
            dhp,
            dax,
            dah,
            dr,
        );
    });
}

/// After the loop: the parameter sums over all `rows`, then `dgates` (the input side's
/// gradient) becomes the gradient of `W_ih x`.
pub(crate) fn input_back(cx: Ctx<'_>, team: &Team<'_>, rows: usize, dgates: &mut [f32], lb: &mut LnBufs<'_>) {
    let h = cx.desc.hidden_size();
    let w3 = 3 * h;
    ln_gru::param_sums(
        h,
        &dgates[..rows * w3],
        &lb.du[..rows * w3],
        &lb.xhat[..rows * w3],
        &lb.rhat[..rows * w3],
        lb.acc,
    );
    let [gamma_x, ..] = params(cx.w);
    let (xhat, rstd_x) = (&lb.xhat[..rows * w3], &lb.rstd_x[..rows]);
    on_rows(team, rows, 16 * w3, [(&mut dgates[..rows * w3], w3)], |r, [d]| {
        ln_rows::input_back(w3, &xhat[r.start * w3..r.end * w3], &rstd_x[r], gamma_x, d);
    });
}

/// Backward-weights: `dW_ih = dPᵀ X`, `dW_hh = dRᵀ H_prev` over the schedule's rows, the biases
/// and the layer-normalization parameters from the sums.
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
    let (w3, tn) = (3 * h, sched.total());
    let beta = if accumulate { 1.0 } else { 0.0 };
    {
        let [dw_ih, dw_hh, db_ih, db_hh] = grads.buffers_mut();
        if tn > 0 {
            sgemm(w3, i, tn, Mat::t(&dp[..tn * w3], w3), Mat::n(x, i), beta, dw_ih, i);
            sgemm(w3, h, tn, Mat::t(&dr[..tn * w3], w3), Mat::n(h_prev, h), beta, dw_hh, h);
        } else if !accumulate {
            dw_ih.fill(0.0);
            dw_hh.fill(0.0);
        }
        // The sums: γ_h, β_h, b_hh, γ_x, β_x, b_ih.
        put(db_hh, &acc[2 * w3..3 * w3], accumulate);
        put(db_ih, &acc[5 * w3..6 * w3], accumulate);
    }
    let ln = grads.layer_norm_mut();
    put(&mut ln[..2 * w3], &acc[3 * w3..5 * w3], accumulate);
    put(&mut ln[2 * w3..4 * w3], &acc[..2 * w3], accumulate);
}
