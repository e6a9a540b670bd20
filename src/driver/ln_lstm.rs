//! The layer-normalized LSTM's time loop pieces (see [`crate::LayerDesc::with_layer_norm`]):
//! the input side normalized for all steps at once after the input projection; per step the
//! recurrent product on `W_hh` packed once, its normalization and the gate pass
//! ([`crate::cell::ln_lstm`]); backward in reverse, the input side's normalization undone for
//! all steps after the loop, weight gradients as GEMMs over all steps.

use super::backward::rec_product;
use super::forward::Ctx;
use super::rows::on_rows;
use super::schedule::Schedule;
use super::team::Team;
use crate::cell::ln_lstm::{self, LnParams};
use crate::desc::{Cell, LayerDesc};
use crate::gemm::{sgemm, Mat};
use crate::weights::Weights;

/// Length of the parameter-gradient sums: LSTM `γ_h, β_h` (`4H` each), `γ_c, β_c` (`H`
/// each), then `γ_x, β_x, b` (`4H` each); GRU `γ_h, β_h, b_hh, γ_x, β_x, b_ih` (`3H` each).
fn acc_len(d: &LayerDesc) -> usize {
    if d.cell() == Cell::Lstm {
        22 * d.hidden_size()
    } else {
        18 * d.hidden_size()
    }
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
    /// Training: the gradient of `γ_c ĉ + β_c` for every step `[Σ n_t, H]`; inference: empty.
    pub du: &'a mut [f32],
    /// Training: the parameter-gradient sums; inference: empty.
    pub acc: &'a mut [f32],
    pub packed: bool,
}

impl<'a> LnBufs<'a> {
    /// Elements needed for `tn = T*N` rows and batch `n` of layer `d`.
    pub(crate) fn len(tn: usize, n: usize, d: &LayerDesc, packed: bool) -> usize {
        Self::lens(tn, n, d, packed).iter().sum()
    }

    fn lens(tn: usize, n: usize, d: &LayerDesc, packed: bool) -> [usize; 8] {
        let r = if packed { tn } else { n };
        let (h, w) = (d.hidden_size(), d.gate_rows());
        let lstm = d.cell() == Cell::Lstm;
        [
            if packed { tn * w } else { 0 },
            r * w,
            if lstm { r * h } else { 0 },
            tn,
            r,
            if lstm { r } else { 0 },
            // LSTM: d(γ_c ĉ + β_c) `[·, H]`; GRU: the recurrent side's gradient `[·, 3H]`.
            if !packed {
                0
            } else if lstm {
                tn * h
            } else {
                tn * w
            },
            if packed { acc_len(d) } else { 0 },
        ]
    }

    /// Cuts `buf` (at least [`LnBufs::len`] long; empty for a layer without layer
    /// normalization, which gives empty buffers).
    pub(crate) fn new(buf: &'a mut [f32], tn: usize, n: usize, d: &LayerDesc, packed: bool) -> Self {
        let lens = if buf.is_empty() {
            [0; 8]
        } else {
            Self::lens(tn, n, d, packed)
        };
        let [a, b, c, d, e, f, du_len, g] = lens;
        let (xhat, rest) = buf.split_at_mut(a);
        let (rhat, rest) = rest.split_at_mut(b);
        let (chat, rest) = rest.split_at_mut(c);
        let (rstd_x, rest) = rest.split_at_mut(d);
        let (rstd_h, rest) = rest.split_at_mut(e);
        let (rstd_c, rest) = rest.split_at_mut(f);
        let (du, rest) = rest.split_at_mut(du_len);
        let (acc, _) = rest.split_at_mut(g);
        Self {
            xhat,
            rhat,
            chat,
            rstd_x,
            rstd_h,
            rstd_c,
            du,
            acc,
            packed,
        }
    }
}

/// The slices of [`crate::Weights::layer_norm`]: `γ_x, β_x, γ_h, β_h` (`[G*H]` each), then
/// `γ_c, β_c` (`[H]` each; empty for a GRU).
pub(crate) fn params(w: &Weights) -> [&[f32]; 6] {
    let (h, g) = (w.desc().hidden_size(), w.desc().gate_rows());
    let p = w.layer_norm();
    let c = if p.len() > 4 * g {
        (&p[4 * g..4 * g + h], &p[4 * g + h..])
    } else {
        (&p[..0], &p[..0])
    };
    [&p[..g], &p[g..2 * g], &p[2 * g..3 * g], &p[3 * g..4 * g], c.0, c.1]
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
pub(crate) fn input_side(cx: Ctx<'_>, team: &Team<'_>, rows: usize, gates: &mut [f32], lb: &mut LnBufs<'_>) {
    let w4 = cx.desc.gate_rows();
    let [gamma_x, beta_x, ..] = params(cx.w);
    let keep = lb.packed;
    let bufs = [
        (&mut gates[..rows * w4], w4),
        (&mut lb.rstd_x[..rows], 1),
        (&mut lb.xhat[..if keep { rows * w4 } else { 0 }], w4),
    ];
    on_rows(team, rows, 16 * w4, bufs, |_, [g, rs, xh]| {
        ln_lstm::normalize_rows(w4, g, rs);
        if keep {
            xh.copy_from_slice(g);
        }
        ln_lstm::affine_rows(w4, g, gamma_x, beta_x, &cx.p.bias_ln);
    });
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
        Some(hp) => rec_product(team, false, m, hp, h, &cx.p.fwd, 0.0, rh, w4),
        None => rh.fill(0.0),
    }
    let p = step_params(cx.w);
    let bufs = [
        (rh, w4),
        (&mut lb.rstd_h[r0..r0 + m], 1),
        (gates, w4),
        (c_next, h),
        (&mut lb.chat[r0 * h..][..m * h], h),
        (&mut lb.rstd_c[r0..r0 + m], 1),
        (h_next, h),
    ];
    on_rows(team, m, 24 * w4, bufs, |r, [rh, rs_h, g, cn, ch, rs_c, hn]| {
        ln_lstm::normalize_rows(w4, rh, rs_h);
        ln_lstm::forward(h, &p, g, rh, &c_prev[r.start * h..r.end * h], cn, ch, rs_c, hn);
    });
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
    /// `[m, H]` scratch.
    pub dh: &'a mut [f32],
}

/// One backward step (the caller then forms `dh_{t-1} = dR · W_hh`).
pub(crate) fn backward_step(cx: Ctx<'_>, team: &Team<'_>, s: LnBack<'_>, lb: &mut LnBufs<'_>) {
    let h = cx.desc.hidden_size();
    let w4 = 4 * h;
    let (m, r0) = (s.m, s.r0);
    let p = step_params(cx.w);
    let (chat, rstd_c) = (&lb.chat[r0 * h..][..m * h], &lb.rstd_c[r0..r0 + m]);
    let (rhat, rstd_h) = (&lb.rhat[r0 * w4..][..m * w4], &lb.rstd_h[r0..r0 + m]);
    let bufs = [
        (s.dh, h),
        (s.dc, h),
        (s.da, w4),
        (s.dr, w4),
        (&mut lb.du[r0 * h..][..m * h], h),
    ];
    let (dy, dh_rec, acts, c_prev) = (s.dy, s.dh_rec, s.acts, s.c_prev);
    on_rows(team, m, 32 * w4, bufs, |r, [dh, dc, da, dr, du]| {
        let (rh, rw) = (r.start * h..r.end * h, r.start * w4..r.end * w4);
        for ((o, a), b) in dh.iter_mut().zip(&dy[rh.clone()]).zip(&dh_rec[rh.clone()]) {
            *o = a + b;
        }
        ln_lstm::backward(
            h,
            &p,
            &acts[rw.clone()],
            &c_prev[rh.clone()],
            &chat[rh],
            &rstd_c[r.clone()],
            &rhat[rw],
            &rstd_h[r],
            dh,
            dc,
            da,
            dr,
            du,
        );
    });
}

/// After the loop: the parameter sums over all `rows` (in row order), then the input side's
/// normalization undone per row: `dgates` becomes the gradient of `W_ih x` (what `dX` and
/// `dW_ih` are formed from).
pub(crate) fn input_back(cx: Ctx<'_>, team: &Team<'_>, rows: usize, dgates: &mut [f32], lb: &mut LnBufs<'_>) {
    let h = cx.desc.hidden_size();
    let w4 = 4 * h;
    ln_lstm::param_sums(
        h,
        &dgates[..rows * w4],
        &lb.rhat[..rows * w4],
        &lb.xhat[..rows * w4],
        &lb.du[..rows * h],
        &lb.chat[..rows * h],
        lb.acc,
    );
    let [gamma_x, ..] = params(cx.w);
    let (xhat, rstd_x) = (&lb.xhat[..rows * w4], &lb.rstd_x[..rows]);
    on_rows(team, rows, 16 * w4, [(&mut dgates[..rows * w4], w4)], |r, [d]| {
        ln_lstm::input_back(w4, &xhat[r.start * w4..r.end * w4], &rstd_x[r], gamma_x, d);
    });
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

pub(crate) fn put(dst: &mut [f32], src: &[f32], accumulate: bool) {
    if accumulate {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.copy_from_slice(src);
    }
}
