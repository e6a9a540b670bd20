//! The general LSTM step (projection, peepholes, gate and cell clipping, coupled input and
//! forget gates): the recurrent product on `W_hh` packed once, the gate pass of
//! [`crate::cell::lstm_ext`], and the projection `h = m · W_hrᵀ` as a second packed product;
//! backward in reverse, with `dW_hr` and the peephole gradients summed after the loop.
//!
//! Plain LSTM layers do not come here: their gate math is fused into the recurrent product's
//! output tile (`cell::fused`).

use super::backward::rec_product;
use super::forward::{Bufs, Ctx};
use super::layout::Regions;
use super::schedule::Schedule;
use super::team::Team;
use crate::cell::lstm_ext::{self, Opts};
use crate::gemm::{sgemm, Mat};
use crate::weights::Weights;

fn opts<'a>(cx: &Ctx<'a>) -> Opts<'a> {
    Opts {
        peep: cx.w.peepholes(),
        clip: cx.desc.clip(),
        cell_clip: cx.desc.cell_clip(),
        input_forget: cx.desc.input_forget(),
    }
}

/// The buffers of one forward step over `m` rows.
pub(crate) struct ExtStep<'a> {
    pub m: usize,
    /// `[m, hw]`; `None` when `h_{t-1}` is zero (the product is skipped).
    pub h_prev: Option<&'a [f32]>,
    /// `[m, 4H]`: the input projection with both biases on entry; pre-activations on return.
    pub gates: &'a mut [f32],
    pub c_prev: &'a [f32],
    pub c_next: &'a mut [f32],
    /// `[m, H]` with a projection: `o ⊙ tanh(c')` (kept for backward in training).
    pub mbuf: Option<&'a mut [f32]>,
    /// `[m, hw]`.
    pub h_next: &'a mut [f32],
}

/// One forward step.
pub(crate) fn forward_step(cx: Ctx<'_>, team: &Team<'_>, s: ExtStep<'_>) {
    let (h, hw, gh) = (cx.desc.hidden_size(), cx.desc.output_size(), cx.desc.gate_rows());
    if let Some(hp) = s.h_prev {
        rec_product(team, false, s.m, hp, hw, &cx.p.fwd, 1.0, s.gates, gh);
    }
    let o = opts(&cx);
    match s.mbuf {
        Some(mb) => {
            lstm_ext::forward(h, &o, s.gates, s.c_prev, s.c_next, mb);
            rec_product(team, false, s.m, mb, h, &cx.p.hr_fwd, 0.0, s.h_next, hw);
        }
        None => lstm_ext::forward(h, &o, s.gates, s.c_prev, s.c_next, s.h_next),
    }
}

/// The buffers of one backward step over `m` rows.
pub(crate) struct ExtBack<'a> {
    pub m: usize,
    /// `dY_t` and the recurrent gradient of `h_t`, `[m, hw]` each.
    pub dy: &'a [f32],
    pub dh_rec: &'a [f32],
    /// What forward left: pre-activations `[m, 4H]`, `c_{t-1}`, `c_t`.
    pub pre: &'a [f32],
    pub c_prev: &'a [f32],
    pub c_next: &'a [f32],
    /// `dc_t` on entry, `dc_{t-1}` on return.
    pub dc: &'a mut [f32],
    /// `[m, 4H]` out.
    pub dg: &'a mut [f32],
    /// `[m, P]` with a projection: receives the step's whole `dh_t` (for `dW_hr`).
    pub dh_keep: Option<&'a mut [f32]>,
    /// `[m, H]` scratch.
    pub dm: &'a mut [f32],
}

/// One backward step: the pre-activation gradients of step `t` (the caller then forms
/// `dh_{t-1} = dG · W_hh`).
pub(crate) fn backward_step(cx: Ctx<'_>, team: &Team<'_>, s: ExtBack<'_>) {
    let (h, hw) = (cx.desc.hidden_size(), cx.desc.output_size());
    let sum = |out: &mut [f32]| {
        for ((o, a), b) in out.iter_mut().zip(s.dy).zip(s.dh_rec) {
            *o = a + b;
        }
    };
    match s.dh_keep {
        Some(dk) => {
            sum(dk);
            rec_product(team, false, s.m, dk, hw, &cx.p.hr_bwd, 0.0, s.dm, h);
        }
        None => sum(s.dm),
    }
    lstm_ext::backward(h, &opts(&cx), s.pre, s.c_prev, s.c_next, s.dm, s.dc, s.dg);
}

/// `dW_hr = dHᵀ M` and the peephole gradients `dp_i = Σ dG_i ⊙ c_{t-1}`,
/// `dp_f = Σ dG_f ⊙ c_{t-1}`, `dp_o = Σ dG_o ⊙ c_t` over every step and row, in a fixed
/// order; overwritten or accumulated.
pub(crate) fn weights(cx: Ctx<'_>, sched: &Schedule, ws: &Regions<'_>, grads: &mut Weights, accumulate: bool) {
    let h = cx.desc.hidden_size();
    let tn = sched.total();
    let (dw_hr, dpeep) = grads.lstm_extra_mut();
    if !accumulate {
        dw_hr.fill(0.0);
        dpeep.fill(0.0);
    }
    if tn == 0 {
        return;
    }
    if let Some(p) = cx.desc.proj_size() {
        sgemm(
            p,
            h,
            tn,
            Mat::t(&ws.dh[..tn * p], p),
            Mat::n(&ws.m[..tn * h], h),
            1.0,
            dw_hr,
            h,
        );
    }
    if cx.desc.peepholes() {
        let gh = cx.desc.gate_rows();
        let mut sums = vec![0.0f32; 3 * h];
        for t in 0..sched.t() {
            let (m, o) = (sched.rows(t), sched.off(t));
            let cp = &ws.c[Bufs::state_row(true, sched, t) * h..][..m * h];
            let cn = &ws.c[Bufs::state_row(true, sched, t + 1) * h..][..m * h];
            let dg = &ws.dgates[o * gh..][..m * gh];
            for ((g, p), n) in dg.chunks_exact(gh).zip(cp.chunks_exact(h)).zip(cn.chunks_exact(h)) {
                for j in 0..h {
                    sums[j] += g[j] * p[j];
                    sums[h + j] += g[h + j] * p[j];
                    sums[2 * h + j] += g[3 * h + j] * n[j];
                }
            }
        }
        for (d, s) in dpeep.iter_mut().zip(&sums) {
            *d += s;
        }
    }
}
