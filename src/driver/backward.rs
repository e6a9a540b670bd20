//! Backpropagation through time. Backward-data runs the step loop backwards, writing every
//! step's pre-activation gradients into the workspace, then `dX` as one GEMM; backward-weights
//! turns those into `dW_ih`, `dW_hh` (one GEMM each over all `T*N` rows) and the bias sums.

use super::forward::Ctx;
use super::layout::Regions;
use super::team::Team;
use crate::cell::{gru, lstm, rnn};
use crate::desc::{Cell, GruVariant, SeqShape};
use crate::gemm::pack::Packed;
use crate::gemm::packed::{self, PlainGemm};
use crate::gemm::par::SyncMutPtr;
use crate::gemm::{column_sums, sgemm, Mat};
use crate::weights::Weights;

/// Caller-facing buffers of backward-data (shapes already checked).
pub(crate) struct DataIo<'a> {
    pub dy: &'a [f32],
    pub dh_n: Option<&'a [f32]>,
    pub dc_n: Option<&'a [f32]>,
    pub dx: Option<&'a mut [f32]>,
    pub dh0: Option<&'a mut [f32]>,
    pub dc0: Option<&'a mut [f32]>,
}

/// Backward-data over a workspace filled by forward-training with shape `s`.
pub(crate) fn data(cx: Ctx<'_>, s: SeqShape, ws: Regions<'_>, io: DataIo<'_>) {
    let (i_sz, h_sz, gh_w) = (cx.desc.input_size(), cx.desc.hidden_size(), cx.desc.gate_rows());
    let (t_len, n) = (s.t, s.n);
    let (nh, step_g) = (n * h_sz, n * gh_w);

    // dh_rec ring: slot (t+1)%2 holds the recurrent gradient flowing into h_{t+1}, i.e. the
    // one this step consumes; the step writes the gradient for h_t into the other slot.
    let mut dh_ring = vec![0.0f32; 2 * nh];
    if let Some(d) = io.dh_n {
        dh_ring[(t_len % 2) * nh..][..nh].copy_from_slice(d);
    }
    let mut dc = match io.dc_n {
        Some(d) => d.to_vec(),
        None => vec![0.0; if cx.desc.cell() == Cell::Lstm { nh } else { 0 }],
    };
    let mut drh = match cx.desc.cell() {
        Cell::Gru(GruVariant::ResetBeforeLinear) => vec![0.0f32; nh],
        _ => Vec::new(),
    };
    let need_dh0 = io.dh0.is_some();

    // One team of threads for the whole loop (see `Team`).
    Team::run(|team| {
        for t in (0..t_len).rev() {
            let (dh_prev, dh_rec) = split_prev_rec(&mut dh_ring, nh, t);
            let dy = &io.dy[t * nh..][..nh];
            let acts = &ws.gates[t * step_g..][..step_g];
            let dg = &mut ws.dgates[t * step_g..][..step_g];
            let h_prev = &ws.h[t * nh..][..nh];
            // The recurrent product for step 0 only feeds dh_0.
            let want_rec = t > 0 || need_dh0;
            match cx.desc.cell() {
                Cell::Lstm => {
                    let (c_prev, c_next) = (&ws.c[t * nh..][..nh], &ws.c[(t + 1) * nh..][..nh]);
                    lstm::backward(h_sz, acts, c_prev, c_next, dy, dh_rec, &mut dc, dg);
                    if want_rec {
                        rec_product(team, n, dg, gh_w, &cx.p.bwd, 0.0, dh_prev, h_sz);
                    }
                }
                Cell::Rnn(act) => {
                    let h_next = &ws.h[(t + 1) * nh..][..nh];
                    rnn::backward(act, h_next, dy, dh_rec, dg);
                    if want_rec {
                        rec_product(team, n, dg, gh_w, &cx.p.bwd, 0.0, dh_prev, h_sz);
                    }
                }
                Cell::Gru(GruVariant::LinearBeforeReset) => {
                    let hn = &ws.aux[t * nh..][..nh];
                    let dq = &mut ws.dgh[t * step_g..][..step_g];
                    gru::backward_lbr(h_sz, acts, hn, h_prev, dy, dh_rec, dg, dq, dh_prev);
                    if want_rec {
                        rec_product(team, n, dq, gh_w, &cx.p.bwd, 1.0, dh_prev, h_sz);
                    }
                }
                Cell::Gru(GruVariant::ResetBeforeLinear) => {
                    gru::backward_zn(h_sz, acts, h_prev, dy, dh_rec, dg, dh_prev);
                    rec_product(team, n, &dg[2 * h_sz..], gh_w, &cx.p.bwd_n, 0.0, &mut drh, h_sz);
                    gru::backward_r(h_sz, acts, h_prev, &drh, dg, dh_prev);
                    if want_rec {
                        rec_product(team, n, dg, gh_w, &cx.p.bwd, 1.0, dh_prev, h_sz);
                    }
                }
            }
        }
    });

    if let Some(dh0) = io.dh0 {
        dh0.copy_from_slice(&dh_ring[..nh]);
    }
    if let Some(dc0) = io.dc0 {
        dc0.copy_from_slice(&dc);
    }
    if let Some(dx) = io.dx {
        sgemm(
            t_len * n,
            i_sz,
            gh_w,
            Mat::n(ws.dgates, gh_w),
            Mat::n(cx.w.w_ih(), i_sz),
            0.0,
            dx,
            i_sz,
        );
    }
}

/// `c = beta * c + a · B` for one step (`a` `[n, K]` with leading dimension `lda`, `c`
/// `[n, H]`), split over threads by 16-unit column blocks.
#[allow(clippy::too_many_arguments)]
fn rec_product(team: &Team<'_>, n: usize, a: &[f32], lda: usize, b: &Packed, beta: f32, c: &mut [f32], h: usize) {
    assert!(c.len() >= n * h);
    // SAFETY: `c` is exclusively borrowed for this call; `team.on_blocks` hands each thread a
    // disjoint range of column blocks and joins before returning.
    let cp = unsafe { SyncMutPtr::new(c.as_mut_ptr()) };
    let g = PlainGemm {
        m: n,
        a,
        lda,
        b,
        h,
        beta,
        c: cp,
        ldc: h,
    };
    team.on_blocks(b.blocks(), n * b.k() * h, |r| packed::plain(&g, r));
}

/// `(slot t%2 mutable, slot (t+1)%2 shared)` of the two-slot gradient ring.
fn split_prev_rec(ring: &mut [f32], nh: usize, t: usize) -> (&mut [f32], &[f32]) {
    let (lo, hi) = ring.split_at_mut(nh);
    if t % 2 == 0 {
        (lo, hi)
    } else {
        (hi, lo)
    }
}

/// Backward-weights: `dW_ih = dGᵀ X`, `dW_hh = dG_hᵀ H_prev`, bias sums; added to `grads`
/// when `accumulate`, written over them otherwise.
pub(crate) fn weights(cx: Ctx<'_>, s: SeqShape, ws: Regions<'_>, x: &[f32], grads: &mut Weights, accumulate: bool) {
    let (i_sz, h_sz, gh_w) = (cx.desc.input_size(), cx.desc.hidden_size(), cx.desc.gate_rows());
    let tn = s.t * s.n;
    let beta = if accumulate { 1.0 } else { 0.0 };
    let dg: &[f32] = ws.dgates;
    let h_prev: &[f32] = &ws.h[..tn * h_sz];
    let [dw_ih, dw_hh, db_ih, db_hh] = grads.buffers_mut();
    sgemm(gh_w, i_sz, tn, Mat::t(dg, gh_w), Mat::n(x, i_sz), beta, dw_ih, i_sz);
    column_sums(dg, tn, gh_w, db_ih, accumulate);
    match cx.desc.cell() {
        Cell::Gru(GruVariant::ResetBeforeLinear) => {
            let (w_rz, w_n) = dw_hh.split_at_mut(2 * h_sz * h_sz);
            sgemm(
                2 * h_sz,
                h_sz,
                tn,
                Mat::t(dg, gh_w),
                Mat::n(h_prev, h_sz),
                beta,
                w_rz,
                h_sz,
            );
            let rh: &[f32] = ws.aux;
            sgemm(
                h_sz,
                h_sz,
                tn,
                Mat::t(&dg[2 * h_sz..], gh_w),
                Mat::n(rh, h_sz),
                beta,
                w_n,
                h_sz,
            );
            column_sums(dg, tn, gh_w, db_hh, accumulate);
        }
        Cell::Lstm | Cell::Rnn(_) | Cell::Gru(GruVariant::LinearBeforeReset) => {
            // The recurrent side's gradients: the gate gradients, except the LBR-GRU's own.
            let dq: &[f32] = if cx.desc.cell() == Cell::Gru(GruVariant::LinearBeforeReset) {
                ws.dgh
            } else {
                dg
            };
            sgemm(
                gh_w,
                h_sz,
                tn,
                Mat::t(dq, gh_w),
                Mat::n(h_prev, h_sz),
                beta,
                dw_hh,
                h_sz,
            );
            column_sums(dq, tn, gh_w, db_hh, accumulate);
        }
    }
}
