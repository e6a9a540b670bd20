//! Backpropagation through time. Backward-data runs the step loop backwards, writing every
//! step's pre-activation gradients into the workspace, then `dX` as one GEMM; backward-weights
//! turns those into `dW_ih`, `dW_hh` (GEMMs over all `T*N` rows: one for both where they share
//! the gate gradients) and the bias sums.

use super::forward::{Bufs, Ctx};
use super::layout::Regions;
use super::ln_gru::{self, GruBack};
use super::ln_lstm::{self, LnBack, LnBufs};
use super::lstm_ext::{self, ExtBack};
use super::rows::{on_rows, part};
use super::schedule::Schedule;
use super::team::Team;
use crate::cell::{gru, lstm, rnn};
use crate::desc::{Cell, GruVariant};
use crate::gemm::blocked::Part;
use crate::gemm::pack::Packed;
use crate::gemm::packed::{self, PlainGemm};
use crate::gemm::par::SyncMutPtr;
use crate::gemm::{column_sums, sgemm, sgemm_pair, Mat};
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

/// Backward-data over a workspace filled by forward-training with schedule `sched`. Padded
/// steps of a variable-length batch are skipped: their `dY` is ignored, their `dX` is zero,
/// and each sequence's `dh_n`/`dc_n` enter at its own last step. `pack` is scratch.
pub(crate) fn data(
    cx: Ctx<'_>,
    sched: &Schedule,
    ws: Regions<'_>,
    io: DataIo<'_>,
    pack: &mut Vec<f32>,
    rmask: Option<&[f32]>,
) {
    let (i_sz, h_sz, gh_w) = (cx.desc.input_size(), cx.desc.hidden_size(), cx.desc.gate_rows());
    let (t_len, n) = (sched.t(), sched.n());
    // `h` and its gradients are `hw` wide (`P` with a projection), the cell state `H`.
    let hw = cx.desc.output_size();
    let (nh, nc) = (n * hw, n * h_sz);
    let vl = sched.varlen();
    let row = |t: usize| Bufs::state_row(true, sched, t);
    let lstm = cx.desc.cell() == Cell::Lstm;
    let ext = cx.desc.has_lstm_options();

    // dh_rec ring: slot (t+1)%2 holds the recurrent gradient flowing into h_{t+1}, i.e. the
    // one this step consumes; the step writes the gradient for h_t into the other slot. A
    // sequence of length L first runs at step L-1, so its dh_n goes to slot L%2.
    let mut dh_ring = vec![0.0f32; 2 * nh];
    if let Some(d) = io.dh_n {
        match vl {
            None => dh_ring[(t_len % 2) * nh..][..nh].copy_from_slice(d),
            Some(v) => {
                for (j, &bi) in v.perm().iter().enumerate() {
                    let slot = sched.len_of(j) % 2;
                    dh_ring[slot * nh + j * hw..][..hw].copy_from_slice(&d[bi * hw..][..hw]);
                }
            }
        }
    }
    let mut dc = vec![0.0f32; if lstm { nc } else { 0 }];
    match (io.dc_n, vl) {
        (Some(d), None) => dc.copy_from_slice(d),
        (Some(d), Some(v)) => v.sort_rows(d, h_sz, &mut dc),
        (None, _) => {}
    }
    let mut drh = match cx.desc.cell() {
        Cell::Gru(GruVariant::ResetBeforeLinear) => vec![0.0f32; nh],
        _ => Vec::new(),
    };
    let mut dy_step = vec![0.0f32; if vl.is_some() { nh } else { 0 }];
    let ln = cx.desc.layer_norm();
    let mut dm = vec![0.0f32; if ext || ln { nh.max(nc) } else { 0 }];
    let (ws_dh, ws_dgates) = (ws.dh, ws.dgates);
    let mut lb = LnBufs::new(ws.ln, t_len * n, n, cx.desc, true);
    let need_dh0 = io.dh0.is_some();
    // Recurrent dropout: the product's part of dh_{t-1} is multiplied by the mask (it was
    // taken with respect to h ⊙ mask); `tmp` holds that part when a direct part exists.
    let mut tmp = vec![0.0f32; if rmask.is_some() { nh } else { 0 }];
    let mut hm = vec![0.0f32; if rmask.is_some() { nh } else { 0 }];

    // One team of threads for the whole loop (see `Team`).
    Team::run(|team| {
        for t in (0..t_len).rev() {
            let m = sched.rows(t);
            if m == 0 {
                continue;
            }
            let rev = crate::gemm::reversed(t, m);
            let (dh_prev, dh_rec) = split_prev_rec(&mut dh_ring, nh, t);
            let (dh_prev, dh_rec) = (&mut dh_prev[..m * hw], &dh_rec[..m * hw]);
            let dy: &[f32] = match vl {
                None => &io.dy[t * nh..][..nh],
                Some(v) => {
                    v.gather_step(t, &io.dy[t * nh..][..nh], hw, &mut dy_step);
                    &dy_step[..m * hw]
                }
            };
            let o = sched.off(t);
            let acts = &ws.gates[o * gh_w..][..m * gh_w];
            let dg = &mut ws_dgates[o * gh_w..][..m * gh_w];
            let h_prev = &ws.h[row(t) * hw..][..m * hw];
            // The recurrent product for step 0 only feeds dh_0.
            let want_rec = t > 0 || need_dh0;
            match cx.desc.cell() {
                Cell::Lstm if ln => {
                    let dr = &mut ws.dgh[o * gh_w..][..m * gh_w];
                    let step = LnBack {
                        m,
                        r0: o,
                        dy,
                        dh_rec,
                        acts,
                        c_prev: &ws.c[row(t) * h_sz..][..m * h_sz],
                        dc: &mut dc[..m * h_sz],
                        da: &mut *dg,
                        dr: &mut *dr,
                        dh: &mut dm[..m * h_sz],
                    };
                    ln_lstm::backward_step(cx, team, step, &mut lb);
                    if want_rec {
                        rec_product(team, rev, m, dr, gh_w, &cx.p.bwd, 0.0, dh_prev, hw);
                        masked(dh_prev, rmask, None);
                    }
                }
                Cell::Gru(_) if ln => {
                    let dr = &mut ws.dgh[o * gh_w..][..m * gh_w];
                    let step = GruBack {
                        m,
                        r0: o,
                        dy,
                        dh_rec,
                        acts,
                        aux: &ws.aux[o * h_sz..][..m * h_sz],
                        h_prev,
                        dh_prev: &mut *dh_prev,
                        dax: &mut *dg,
                        dr: &mut *dr,
                        dh: &mut dm[..m * h_sz],
                    };
                    ln_gru::backward_step(cx, team, step, &mut lb);
                    if want_rec {
                        match rmask {
                            None => rec_product(team, rev, m, dr, gh_w, &cx.p.bwd, 1.0, dh_prev, h_sz),
                            Some(_) => {
                                let tmp = &mut tmp[..m * h_sz];
                                rec_product(team, rev, m, dr, gh_w, &cx.p.bwd, 0.0, tmp, h_sz);
                                masked(dh_prev, rmask, Some(tmp));
                            }
                        }
                    }
                }
                Cell::Lstm if ext => {
                    let dh_keep = cx.desc.proj_size().map(|p| &mut ws_dh[o * p..][..m * p]);
                    let step = ExtBack {
                        m,
                        dy,
                        dh_rec,
                        pre: acts,
                        c_prev: &ws.c[row(t) * h_sz..][..m * h_sz],
                        c_next: &ws.c[row(t + 1) * h_sz..][..m * h_sz],
                        dc: &mut dc[..m * h_sz],
                        dg: &mut *dg,
                        dh_keep,
                        dm: &mut dm[..m * h_sz],
                    };
                    lstm_ext::backward_step(cx, team, step);
                    if want_rec {
                        rec_product(team, rev, m, dg, gh_w, &cx.p.bwd, 0.0, dh_prev, hw);
                        masked(dh_prev, rmask, None);
                    }
                }
                Cell::Lstm => {
                    let c_prev = &ws.c[row(t) * h_sz..][..m * h_sz];
                    let c_next = &ws.c[row(t + 1) * h_sz..][..m * h_sz];
                    let bufs = [(&mut dc[..m * h_sz], h_sz), (&mut *dg, gh_w)];
                    on_rows(team, m, BACK_WORK * gh_w, bufs, |r, [dc, dg]| {
                        let (h, p) = (h_sz, |s, w| part(s, w, &r));
                        lstm::backward(
                            h,
                            p(acts, gh_w),
                            p(c_prev, h),
                            p(c_next, h),
                            p(dy, h),
                            p(dh_rec, h),
                            dc,
                            dg,
                        );
                    });
                    if want_rec {
                        rec_product(team, rev, m, dg, gh_w, &cx.p.bwd, 0.0, dh_prev, h_sz);
                        masked(dh_prev, rmask, None);
                    }
                }
                Cell::Rnn(act) => {
                    let h_next = &ws.h[row(t + 1) * h_sz..][..m * h_sz];
                    on_rows(team, m, BACK_WORK * gh_w, [(&mut *dg, gh_w)], |r, [dg]| {
                        let p = |s| part(s, h_sz, &r);
                        rnn::backward(act, p(h_next), p(dy), p(dh_rec), dg);
                    });
                    if want_rec {
                        rec_product(team, rev, m, dg, gh_w, &cx.p.bwd, 0.0, dh_prev, h_sz);
                        masked(dh_prev, rmask, None);
                    }
                }
                Cell::Gru(GruVariant::LinearBeforeReset) => {
                    let hn = &ws.aux[o * h_sz..][..m * h_sz];
                    let dq = &mut ws.dgh[o * gh_w..][..m * gh_w];
                    let bufs = [(&mut *dg, gh_w), (&mut *dq, gh_w), (&mut *dh_prev, h_sz)];
                    on_rows(team, m, BACK_WORK * gh_w, bufs, |r, [dg, dq, dh]| {
                        let (h, p) = (h_sz, |s, w| part(s, w, &r));
                        gru::backward_lbr(
                            h,
                            p(acts, gh_w),
                            p(hn, h),
                            p(h_prev, h),
                            p(dy, h),
                            p(dh_rec, h),
                            dg,
                            dq,
                            dh,
                        );
                    });
                    if want_rec {
                        match rmask {
                            None => rec_product(team, rev, m, dq, gh_w, &cx.p.bwd, 1.0, dh_prev, h_sz),
                            Some(_) => {
                                let tmp = &mut tmp[..m * h_sz];
                                rec_product(team, rev, m, dq, gh_w, &cx.p.bwd, 0.0, tmp, h_sz);
                                masked(dh_prev, rmask, Some(tmp));
                            }
                        }
                    }
                }
                Cell::Gru(GruVariant::ResetBeforeLinear) => {
                    let drh = &mut drh[..m * h_sz];
                    let bufs = [(&mut *dg, gh_w), (&mut *dh_prev, h_sz)];
                    on_rows(team, m, BACK_WORK * gh_w, bufs, |r, [dg, dh]| {
                        let (h, p) = (h_sz, |s, w| part(s, w, &r));
                        gru::backward_zn(h, p(acts, gh_w), p(h_prev, h), p(dy, h), p(dh_rec, h), dg, dh);
                    });
                    rec_product(team, rev, m, &dg[2 * h_sz..], gh_w, &cx.p.bwd_n, 0.0, drh, h_sz);
                    match rmask {
                        None => {
                            let drh = &*drh;
                            let bufs = [(&mut *dg, gh_w), (&mut *dh_prev, h_sz)];
                            on_rows(team, m, BACK_WORK * gh_w, bufs, |r, [dg, dh]| {
                                let (h, p) = (h_sz, |s, w| part(s, w, &r));
                                gru::backward_r(h, p(acts, gh_w), p(h_prev, h), p(drh, h), dg, dh);
                            });
                            if want_rec {
                                rec_product(team, rev, m, dg, gh_w, &cx.p.bwd, 1.0, dh_prev, h_sz);
                            }
                        }
                        Some(mask) => {
                            // The products saw h ⊙ mask: r's gradient uses it, and everything
                            // flowing back through them is masked.
                            let (hm, tmp) = (&mut hm[..m * h_sz], &mut tmp[..m * h_sz]);
                            for ((o, a), k) in hm.iter_mut().zip(h_prev).zip(mask) {
                                *o = a * k;
                            }
                            tmp.fill(0.0);
                            gru::backward_r(h_sz, acts, hm, drh, dg, tmp);
                            if want_rec {
                                rec_product(team, rev, m, dg, gh_w, &cx.p.bwd, 1.0, tmp, h_sz);
                            }
                            masked(dh_prev, rmask, Some(tmp));
                        }
                    }
                }
            }
        }
        if ln && lstm {
            // The input side's normalization, for all steps: dgates becomes d(W_ih x).
            ln_lstm::input_back(cx, team, sched.total(), ws_dgates, &mut lb);
        } else if ln {
            ln_gru::input_back(cx, team, sched.total(), ws_dgates, &mut lb);
        }
    });

    for (src, out, w) in [(&dh_ring[..nh], io.dh0, hw), (&dc[..], io.dc0, h_sz)] {
        match (out, vl) {
            (Some(o), None) => o.copy_from_slice(src),
            (Some(o), Some(v)) => v.unsort_rows(src, w, o),
            (None, _) => {}
        }
    }
    if let Some(dx) = io.dx {
        let tn = sched.total();
        let dg = Mat::n(&ws_dgates[..tn * gh_w], gh_w);
        let w = Mat::n(cx.w.w_ih(), i_sz);
        match vl {
            // Every sequence is empty.
            _ if tn == 0 => dx.fill(0.0),
            None => sgemm(tn, i_sz, gh_w, dg, w, 0.0, dx, i_sz),
            Some(v) => {
                grow(pack, tn * i_sz);
                sgemm(tn, i_sz, gh_w, dg, w, 0.0, &mut pack[..tn * i_sz], i_sz);
                v.scatter(&pack[..tn * i_sz], i_sz, dx);
            }
        }
    }
}

/// Element-wise operations per gate element of the backward gate math, for [`on_rows`] to
/// decide whether splitting a step's rows over the team pays.
const BACK_WORK: usize = 16;

/// Recurrent dropout: `dst ⊙= mask` (no `add`), or `dst += mask ⊙ add`; nothing without a
/// mask. `mask` rows line up with `dst`'s (its first `dst.len()` elements are used).
fn masked(dst: &mut [f32], mask: Option<&[f32]>, add: Option<&[f32]>) {
    let Some(mask) = mask else { return };
    match add {
        None => dst.iter_mut().zip(mask).for_each(|(d, k)| *d *= k),
        Some(a) => dst.iter_mut().zip(mask).zip(a).for_each(|((d, k), a)| *d += k * a),
    }
}

/// Grows `v` to at least `len` elements.
fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// `c = beta * c + a · B` for one step (`a` `[n, K]` with leading dimension `lda`, `c`
/// `[n, H]`), split over threads by 32-unit column blocks, each thread's from the last with
/// `reverse` (the backward loop alternates it step by step, as the forward one does; see
/// `StepSlices::reverse`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rec_product(
    team: &Team<'_>,
    reverse: bool,
    n: usize,
    a: &[f32],
    lda: usize,
    b: &Packed,
    beta: f32,
    c: &mut [f32],
    h: usize,
) {
    assert!(c.len() >= n * h);
    // SAFETY: `c` is exclusively borrowed for this call; `team.on_blocks_balanced` runs each
    // column block on one thread and joins before returning.
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
        reverse,
    };
    team.on_blocks_balanced(b.blocks(), 1, n * b.k() * h, reverse, |r| packed::plain(&g, r));
}

/// `(slot t%2 mutable, slot (t+1)%2 shared)` of the two-slot gradient ring.
fn split_prev_rec(ring: &mut [f32], nh: usize, t: usize) -> (&mut [f32], &[f32]) {
    let (lo, hi) = ring.split_at_mut(nh);
    if t.is_multiple_of(2) {
        (lo, hi)
    } else {
        (hi, lo)
    }
}

/// Backward-weights: `dW_ih = dGᵀ X`, `dW_hh = dG_hᵀ H_prev`, bias sums, over the `Σ n_t`
/// rows of the schedule; added to `grads` when `accumulate`, written over them otherwise.
/// `pack` is scratch (a variable-length batch gathers `X` and `H_prev` into it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn weights(
    cx: Ctx<'_>,
    sched: &Schedule,
    ws: Regions<'_>,
    x: &[f32],
    grads: &mut Weights,
    accumulate: bool,
    pack: &mut Vec<f32>,
    rmask: Option<&[f32]>,
) {
    let (i_sz, h_sz, gh_w) = (cx.desc.input_size(), cx.desc.hidden_size(), cx.desc.gate_rows());
    let hw = cx.desc.output_size();
    let tn = sched.total();
    let beta = if accumulate { 1.0 } else { 0.0 };
    if cx.desc.has_lstm_options() {
        lstm_ext::weights(cx, sched, &ws, grads, accumulate);
    }
    if tn == 0 {
        // Every sequence is empty: the gradients are zero.
        if !accumulate {
            grads.fill_zero();
        }
        return;
    }
    let dg: &[f32] = &ws.dgates[..tn * gh_w];
    let (x, h_prev): (&[f32], &[f32]) = match sched.varlen() {
        None if rmask.is_none() => (x, &ws.h[..tn * hw]),
        None => {
            // dW_hh is taken against what the product multiplied: h ⊙ mask.
            grow(pack, tn * hw);
            let hp = &mut pack[..tn * hw];
            hp.copy_from_slice(&ws.h[..tn * hw]);
            for t in 0..sched.t() {
                masked(&mut hp[sched.off(t) * hw..][..sched.rows(t) * hw], rmask, None);
            }
            (x, &*hp)
        }
        Some(v) => {
            grow(pack, tn * (i_sz + hw));
            let (xp, hp) = pack[..tn * (i_sz + hw)].split_at_mut(tn * i_sz);
            v.gather(x, i_sz, xp);
            for t in 0..sched.t() {
                let (m, r) = (sched.rows(t), Bufs::state_row(true, sched, t));
                let block = &mut hp[sched.off(t) * hw..][..m * hw];
                block.copy_from_slice(&ws.h[r * hw..][..m * hw]);
                masked(block, rmask, None);
            }
            (xp, hp)
        }
    };
    if cx.desc.layer_norm() {
        let acc = LnBufs::new(ws.ln, sched.t() * sched.n(), sched.n(), cx.desc, true).acc;
        if cx.desc.cell() == Cell::Lstm {
            ln_lstm::weights(cx, sched, dg, ws.dgh, x, h_prev, acc, grads, accumulate);
        } else {
            ln_gru::weights(cx, sched, dg, ws.dgh, x, h_prev, acc, grads, accumulate);
        }
        return;
    }
    let [dw_ih, dw_hh, db_ih, db_hh] = grads.buffers_mut();
    match cx.desc.cell() {
        Cell::Lstm | Cell::Rnn(_) => {
            // Both weight gradients from the gate gradients: one product, `dGᵀ` packed once.
            let part = |n, b, c, ldc| Part { n, b, c, ldc };
            let (ih, hh) = (Mat::n(x, i_sz), Mat::n(h_prev, hw));
            sgemm_pair(
                gh_w,
                tn,
                Mat::t(dg, gh_w),
                beta,
                [part(i_sz, ih, dw_ih, i_sz), part(hw, hh, dw_hh, hw)],
            );
            column_sums(dg, tn, gh_w, db_ih, accumulate);
            if accumulate {
                column_sums(dg, tn, gh_w, db_hh, true);
            } else {
                // The same sums (from zero, in the same order).
                db_hh.copy_from_slice(db_ih);
            }
        }
        Cell::Gru(variant) => {
            sgemm(gh_w, i_sz, tn, Mat::t(dg, gh_w), Mat::n(x, i_sz), beta, dw_ih, i_sz);
            column_sums(dg, tn, gh_w, db_ih, accumulate);
            match variant {
                GruVariant::ResetBeforeLinear => {
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
                    let rh: &[f32] = &ws.aux[..tn * h_sz];
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
                GruVariant::LinearBeforeReset => {
                    // The recurrent side's gradients: the GRU's own.
                    let dq: &[f32] = &ws.dgh[..tn * gh_w];
                    sgemm(gh_w, hw, tn, Mat::t(dq, gh_w), Mat::n(h_prev, hw), beta, dw_hh, hw);
                    column_sums(dq, tn, gh_w, db_hh, accumulate);
                }
            }
        }
    }
}
