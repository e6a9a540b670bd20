//! Forward time loop, shared by inference (ring buffers of two states) and training (every
//! state kept in the workspace).

use std::ops::Range;

use super::ln_gru;
use super::ln_lstm::{self, LnBufs};
use super::lstm_ext::{self, ExtStep};
use super::prepared::Prepared;
use super::schedule::Schedule;
use super::team::Team;
use crate::cell::fused::{self, FwdStep, StepSlices};
use crate::desc::{Cell, GruVariant, LayerDesc, SeqShape};
use crate::gemm::hugebuf::HugeBuf;
use crate::gemm::par::SyncMutPtr;
use crate::gemm::proj::{self, Proj};
use crate::weights::Weights;

/// A layer's weights and what was prepared from them.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub desc: &'a LayerDesc,
    pub w: &'a Weights,
    pub p: &'a Prepared,
}

/// Where the loop keeps its states: `[rows, H]` buffers whose rows [`Bufs::state_row`] places.
///
/// Inference (`packed == false`): rings of two `[N, H]` slots for `h` and `c`, one for `aux`.
/// Training (`packed == true`): `h_0` (`[N, H]`) then every step's new state in the packed
/// layout of the [`Schedule`] (`[N + Σ n_t, H]`; `[T+1, N, H]` for a uniform batch), and `aux`
/// packed `[Σ n_t, H]`: nothing is overwritten, which is what backward needs.
pub(crate) struct Bufs<'a> {
    /// `[Σ n_t, G*H]`: the input projection, then each step's gate activations.
    pub gates: &'a mut [f32],
    pub h: &'a mut [f32],
    pub c: &'a mut [f32],
    pub aux: &'a mut [f32],
    /// LSTM projection: `o ⊙ tanh(c')` (packed `[Σ n_t, H]` in training, `[N, H]` else).
    pub m: &'a mut [f32],
    /// Layer-normalized LSTM: the region `ln_lstm::LnBufs` cuts; empty otherwise.
    pub ln: &'a mut [f32],
    pub packed: bool,
    /// Room for the packed input of a variable-length batch (grown as needed).
    pub xpack: &'a mut Vec<f32>,
}

impl Bufs<'_> {
    /// The first row of state `h_t` (and `c_t`) in `h` (and `c`).
    pub(crate) fn state_row(packed: bool, sched: &Schedule, t: usize) -> usize {
        match (packed, t) {
            (true, 0) => 0,
            (true, _) => sched.n() + sched.off(t - 1),
            (false, _) => (t % 2) * sched.n(),
        }
    }
}

/// `(rows p..p+len, rows q..q+len)` of `buf` (`[_, w]`), shared and mutable; the ranges must
/// not overlap.
pub(crate) fn two_rows(buf: &mut [f32], w: usize, p: usize, q: usize, len: usize) -> (&[f32], &mut [f32]) {
    if p < q {
        let (lo, hi) = buf.split_at_mut(q * w);
        (&lo[p * w..][..len * w], &mut hi[..len * w])
    } else {
        let (lo, hi) = buf.split_at_mut(p * w);
        (&hi[..len * w], &mut lo[q * w..][..len * w])
    }
}

/// Caller-facing inputs and outputs of one forward call (shapes already checked).
pub(crate) struct Io<'a> {
    pub x: &'a [f32],
    pub h0: Option<&'a [f32]>,
    pub c0: Option<&'a [f32]>,
    pub y: &'a mut [f32],
    pub h_n: Option<&'a mut [f32]>,
    pub c_n: Option<&'a mut [f32]>,
    /// Recurrent dropout: `[N, hw]` in the schedule's sorted row order, multiplying `h`
    /// wherever it enters a recurrent product.
    pub rmask: Option<&'a [f32]>,
}

/// Runs the layer over the sequence; sequences of a variable-length batch stop at their own
/// lengths (`Y` is zero past them, their final states are those at their last step).
pub(crate) fn run(cx: Ctx<'_>, sched: &Schedule, mut io: Io<'_>, b: Bufs<'_>) {
    let (i_sz, h_sz, gh_w) = (cx.desc.input_size(), cx.desc.hidden_size(), cx.desc.gate_rows());
    let (t_len, n) = (sched.t(), sched.n());
    // `h` is `hw` wide (`P` with a projection), the cell state `H`.
    let hw = cx.desc.output_size();
    let lstm = cx.desc.cell() == Cell::Lstm;
    let ext = cx.desc.has_lstm_options();
    let ln = cx.desc.layer_norm();
    let vl = sched.varlen();
    let row = |t: usize| Bufs::state_row(b.packed, sched, t);

    // One team of threads for the whole loop: a cheap hand-off per step, no fork-join.
    Team::run(|team| {
        let total = sched.total();
        let x: &[f32] = match vl {
            None => io.x,
            Some(v) => {
                if b.xpack.len() < total * i_sz {
                    b.xpack.resize(total * i_sz, 0.0);
                }
                v.gather(io.x, i_sz, &mut b.xpack[..total * i_sz]);
                &b.xpack[..total * i_sz]
            }
        };
        // Inference of a plain LSTM on a large batch computes each step's projection in the
        // step's own tiles (see `fuses_projection`); otherwise it is one product up front.
        let fuse = !b.packed && fuses_projection(cx, n);
        if total > 0 && !fuse {
            project(cx, team, total, x, &mut b.gates[..total * gh_w]);
        }
        let mut lb = LnBufs::new(b.ln, t_len * n, n, cx.desc, b.packed);
        if ln {
            ln_lstm::input_side(cx, team, total, b.gates, &mut lb);
        }

        for (buf, init, on, w) in [(&mut *b.h, io.h0, true, hw), (&mut *b.c, io.c0, lstm, h_sz)] {
            if !on {
                continue;
            }
            let s0 = &mut buf[..n * w];
            match (init, vl) {
                (Some(v0), None) => s0.copy_from_slice(v0),
                (Some(v0), Some(v)) => v.sort_rows(v0, w, s0),
                (None, _) => s0.fill(0.0),
            }
        }
        // Inference of a uniform batch writes each `h_t` straight into `Y` (and reads `h_{t-1}`
        // back from it) instead of through the ring and a copy.
        let direct = !b.packed && vl.is_none();
        // With no h0 the first recurrent product is zero and skipped.
        let h0_zero = io.h0.is_none();
        // Recurrent dropout: the step's `h_prev ⊙ mask`.
        let mut hm_buf = vec![0.0f32; if io.rmask.is_some() { n * hw } else { 0 }];

        let nb = cx.p.fwd.blocks();
        let plain = !ln
            && !ext
            && io.rmask.is_none()
            && vl.is_none()
            && cx.desc.cell() != Cell::Gru(GruVariant::ResetBeforeLinear);
        // Steps of small blocks (batches of one to a few) on `Team::steps`, a barrier per step;
        // the others below, a hand-off per step (balanced for large blocks).
        let barrier = plain && n > 0 && !team.balances(nb, 1, n * h_sz * gh_w);
        if barrier && t_len > 0 {
            let bufs = [&mut *b.h, &mut *b.c, &mut *b.gates, &mut *b.aux];
            plain_steps(cx, team, sched, fuse, x, &mut *io.y, bufs, b.packed, h0_zero);
        }
        // (None left for the loop below when they ran there.)
        let hand_off_steps = if barrier { 0 } else { t_len };
        for t in 0..hand_off_steps {
            let m = sched.rows(t);
            if m == 0 {
                // Every sequence has ended (lengths may be 0).
                io.y[t * n * hw..][..n * hw].fill(0.0);
                continue;
            }
            // With the projection fused, the step's gate buffer is one scratch slot (inference
            // writes no activations back).
            let g0 = if fuse { 0 } else { sched.off(t) * gh_w };
            let gates = &mut b.gates[g0..][..m * gh_w];
            let (p, q) = (row(t), row(t + 1));
            let (h_prev, h_next): (&[f32], &mut [f32]) = if direct {
                let nh = n * hw;
                let (done, rest) = io.y.split_at_mut(t * nh);
                let prev = if t == 0 { &b.h[..nh] } else { &done[(t - 1) * nh..] };
                (prev, &mut rest[..nh])
            } else {
                two_rows(b.h, hw, p, q, m)
            };
            let rec = !(t == 0 && h0_zero);
            let h_rec: Option<&[f32]> = io.rmask.map(|mask| {
                let hm = &mut hm_buf[..m * hw];
                for ((o, a), k) in hm.iter_mut().zip(h_prev).zip(mask) {
                    *o = a * k;
                }
                &*hm
            });
            let (c_prev, c_next): (&[f32], &mut [f32]) = if lstm {
                two_rows(b.c, h_sz, p, q, m)
            } else {
                (&[], &mut [])
            };
            // Rows of this step in the per-step `[·, H]` buffers (`aux`, `m`).
            let r0 = if b.packed { sched.off(t) } else { 0 };
            if ln && lstm {
                let hp = rec.then_some(h_rec.unwrap_or(h_prev));
                ln_lstm::forward_step(cx, team, m, r0, hp, gates, c_prev, c_next, h_next, &mut lb);
            } else if ln {
                let hp = rec.then_some(h_rec.unwrap_or(h_prev));
                let aux = &mut b.aux[r0 * h_sz..][..m * h_sz];
                ln_gru::forward_step(cx, team, m, r0, hp, h_prev, gates, aux, h_next, &mut lb);
            } else if ext {
                let mbuf = match cx.desc.proj_size() {
                    Some(_) => Some(&mut b.m[r0 * h_sz..][..m * h_sz]),
                    None => None,
                };
                let step = ExtStep {
                    m,
                    h_prev: rec.then_some(h_rec.unwrap_or(h_prev)),
                    gates,
                    c_prev,
                    c_next,
                    mbuf,
                    h_next,
                };
                lstm_ext::forward_step(cx, team, step);
            } else {
                let aux: &mut [f32] = match cx.desc.cell() {
                    Cell::Gru(_) => &mut b.aux[r0 * h_sz..][..m * h_sz],
                    _ => &mut [],
                };
                let rev = crate::gemm::reversed(t, m);
                let slices = StepSlices {
                    n: m,
                    h: h_sz,
                    gates_per_unit: cx.desc.gates(),
                    h_prev,
                    h_rec,
                    rec,
                    gates,
                    c_prev,
                    c_next,
                    h_next,
                    aux,
                    b_hn: &cx.p.b_hn,
                    x: fuse.then(|| fused::XProj {
                        x: &x[sched.off(t) * i_sz..][..m * i_sz],
                        w: &cx.p.proj,
                        bias: &cx.p.bias_x,
                    }),
                    keep_gates: b.packed,
                    reverse: rev,
                };
                // SAFETY: the slices are borrowed for this whole step and used only through `st`;
                // `team.on_blocks_balanced` runs each block on one thread and joins before
                // returning.
                let st = unsafe { FwdStep::new(slices) };
                let macs = m * h_sz * gh_w;
                let on = |blocks, f: &(dyn Fn(Range<usize>) + Sync)| team.on_blocks_balanced(blocks, 1, macs, rev, f);
                match cx.desc.cell() {
                    Cell::Lstm => on(nb, &|r| fused::lstm(&st, &cx.p.fwd, r)),
                    Cell::Rnn(act) => on(nb, &|r| fused::rnn(&st, &cx.p.fwd, act, r)),
                    Cell::Gru(GruVariant::LinearBeforeReset) => on(nb, &|r| fused::gru_lbr(&st, &cx.p.fwd, r)),
                    Cell::Gru(GruVariant::ResetBeforeLinear) => {
                        on(nb, &|r| fused::gru_rz(&st, &cx.p.fwd, r));
                        // `W_hn` has blocks of its own (32 units; `W_hrz` 16).
                        on(cx.p.fwd_n.blocks(), &|r| fused::gru_n(&st, &cx.p.fwd_n, r));
                    }
                }
            }
            if !direct {
                let h_new = &b.h[q * hw..][..m * hw];
                let y_t = &mut io.y[t * n * hw..][..n * hw];
                match vl {
                    None => y_t.copy_from_slice(h_new),
                    Some(v) => v.scatter_step(t, h_new, hw, y_t),
                }
            }
        }

        if direct && t_len > 0 {
            // `h_T` is `Y`'s last step.
            if let Some(out) = io.h_n.take() {
                out.copy_from_slice(&io.y[(t_len - 1) * n * hw..][..n * hw]);
            }
        }
        for (buf, out, w) in [(&*b.h, io.h_n, hw), (&*b.c, io.c_n, h_sz)] {
            let Some(out) = out else { continue };
            match vl {
                None => out.copy_from_slice(&buf[row(t_len) * w..][..n * w]),
                Some(v) => {
                    for (j, &bi) in v.perm().iter().enumerate() {
                        let r = row(sched.len_of(j)) + j;
                        out[bi * w..][..w].copy_from_slice(&buf[r * w..][..w]);
                    }
                }
            }
        }
    });
}

/// The time loop of a plain cell (LSTM, simple RNN, linear-before-reset GRU) on a uniform
/// batch without recurrent dropout, on [`Team::steps`]: each thread starts its blocks of step
/// `t` once every block of step `t - 1` is done, with no hand-off per step. For steps whose
/// blocks are small (batches of one to a few); larger ones keep the balanced hand-off, which
/// moves blocks within a step. The same kernels on the same blocks: the same bits.
///
/// Inference writes each `h_t` into `Y` (`b.packed == false`); training into `b.h`'s packed
/// rows, copied into `Y` after the loop.
#[allow(clippy::too_many_arguments)]
fn plain_steps(
    cx: Ctx<'_>,
    team: &Team<'_>,
    sched: &Schedule,
    fuse: bool,
    x: &[f32],
    y: &mut [f32],
    [h, c, gates, aux]: [&mut [f32]; 4],
    packed: bool,
    h0_zero: bool,
) {
    let (i_sz, h_sz, gh_w) = (cx.desc.input_size(), cx.desc.hidden_size(), cx.desc.gate_rows());
    let (t_len, n) = (sched.t(), sched.n());
    let (nh, total) = (n * h_sz, sched.total());
    let cell = cx.desc.cell();
    let (lstm, gru) = (cell == Cell::Lstm, matches!(cell, Cell::Gru(_)));
    let row = |t: usize| Bufs::state_row(packed, sched, t);
    // Every pointer below stays inside these lengths.
    assert!(cx.desc.output_size() == h_sz && y.len() == t_len * nh && x.len() >= total * i_sz);
    assert!(h.len() >= if packed { nh + total * h_sz } else { nh });
    assert!(!lstm || c.len() >= (row(t_len).max(row(t_len - 1)) + n) * h_sz);
    assert!(gates.len() >= if fuse { n * gh_w } else { total * gh_w });
    assert!(!gru || aux.len() >= if packed { total * h_sz } else { nh });
    // SAFETY: the buffers are exclusively borrowed for this call; `Team::steps` runs each block
    // of a step on one thread and starts step t + 1 only when every block of step t is done
    // (and returns when all are), which is what `FwdStep` asks of its buffers.
    let [yp, hp, cp, gp, ap] = [
        y.as_mut_ptr(),
        h.as_mut_ptr(),
        c.as_mut_ptr(),
        gates.as_mut_ptr(),
        aux.as_mut_ptr(),
    ]
    .map(|p| unsafe { SyncMutPtr::new(p) });
    let work = |t: usize, r: Range<usize>| {
        let at = |p: SyncMutPtr, off: usize| p.get().wrapping_add(off);
        let h_prev_vals = match (packed, t) {
            (false, 0) => hp.get(),
            (false, _) => at(yp, (t - 1) * nh),
            (true, _) => at(hp, row(t) * h_sz),
        };
        let raw = fused::RawStep {
            n,
            h: h_sz,
            h_prev: (!(t == 0 && h0_zero)).then_some(h_prev_vals.cast_const()),
            h_prev_vals,
            gates: at(gp, if fuse { 0 } else { sched.off(t) * gh_w }),
            c_prev: at(cp, row(t) * h_sz),
            c_next: at(cp, row(t + 1) * h_sz),
            h_next: if packed {
                at(hp, row(t + 1) * h_sz)
            } else {
                at(yp, t * nh)
            },
            aux: at(ap, if packed { sched.off(t) * h_sz } else { 0 }),
            b_hn: cx.p.b_hn.as_ptr(),
            x: fuse.then(|| (x[sched.off(t) * i_sz..].as_ptr(), &cx.p.proj, cx.p.bias_x.as_ptr())),
            keep_gates: packed,
            reverse: crate::gemm::reversed(t, n),
        };
        // SAFETY: the pointers lie inside the buffers checked above (those of a cell that does
        // not use them are never read); see the SAFETY note above for the threads.
        let st = unsafe { FwdStep::from_raw(raw) };
        match cell {
            Cell::Lstm => fused::lstm(&st, &cx.p.fwd, r),
            Cell::Rnn(act) => fused::rnn(&st, &cx.p.fwd, act, r),
            Cell::Gru(GruVariant::LinearBeforeReset) => fused::gru_lbr(&st, &cx.p.fwd, r),
            Cell::Gru(GruVariant::ResetBeforeLinear) => unreachable!("phased; not a plain step"),
        }
    };
    team.steps(t_len, cx.p.fwd.blocks(), n * h_sz * gh_w, &work);
    if packed {
        for (t, y_t) in y.chunks_exact_mut(nh).enumerate() {
            y_t.copy_from_slice(&h[row(t + 1) * h_sz..][..nh]);
        }
    }
}

/// Whether inference computes each step's input projection in the step's tiles (from `W_ihᵀ`
/// packed like `W_hhᵀ`) rather than for all steps up front, for the plain LSTM. A step then
/// streams `W_ih` as well as `W_hh`, which pays when its rows amortize that: from
/// [`FUSE_MIN_ROWS`] rows, or from [`FUSE_MIN_ROWS_L2`] when both weights fit in one core's
/// L2; the `[T, N, 4H]` projection then never goes through memory. Each element is computed
/// in the same order either way (bitwise the same results).
pub(crate) fn fuses_projection(cx: Ctx<'_>, n: usize) -> bool {
    let d = cx.desc;
    let bytes = 4 * (cx.p.proj.len() + cx.p.fwd.len());
    let min_rows = if bytes <= L2_BYTES {
        FUSE_MIN_ROWS_L2
    } else {
        FUSE_MIN_ROWS
    };
    d.cell() == Cell::Lstm
        && !d.layer_norm()
        && !d.has_lstm_options()
        && n >= min_rows
        && cx.p.proj.vecs() == cx.p.fwd.vecs()
        && cx.p.proj.blocks() == cx.p.fwd.blocks()
}

/// Batch rows from which [`fuses_projection`] holds (measured, 2 threads: at `H = 512`, 16
/// rows are about even, 32 rows 2-5% and 64 rows 11-14% faster than the up-front projection;
/// 8 rows 17% slower).
const FUSE_MIN_ROWS: usize = 32;
/// As [`FUSE_MIN_ROWS`] when `W_ih` and `W_hh` fit in L2 together (`H = 256`: 8 rows even,
/// 16 rows 9% faster).
const FUSE_MIN_ROWS_L2: usize = 8;
/// One core's L2 (the development machine's; a smaller one only moves the threshold).
const L2_BYTES: usize = 2 << 20;

/// Inference scratch: the hoisted projection and two-slot rings. Grows to the largest shape
/// it has served and is reused, so repeated calls allocate nothing.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The hoisted projection, on huge pages where possible (see `gemm::hugebuf`).
    gates: HugeBuf,
    h: Vec<f32>,
    c: Vec<f32>,
    aux: Vec<f32>,
    m: Vec<f32>,
    ln: Vec<f32>,
    xpack: Vec<f32>,
}

impl Scratch {
    /// The buffers for `d` at shape `s`, growing them if needed; `fused`: the projection is
    /// computed in the steps ([`fuses_projection`]), so the gate buffer holds one step.
    pub(crate) fn bufs(&mut self, d: &LayerDesc, s: SeqShape, fused: bool) -> Bufs<'_> {
        let nh = s.n * d.hidden_size();
        let lens = [
            if fused { 1 } else { s.t } * s.n * d.gate_rows(),
            2 * s.n * d.output_size(),
            if d.cell() == Cell::Lstm { 2 * nh } else { 0 },
            if matches!(d.cell(), Cell::Gru(_)) { nh } else { 0 },
            if d.proj_size().is_some() { nh } else { 0 },
            if d.layer_norm() {
                LnBufs::len(s.t * s.n, s.n, d, false)
            } else {
                0
            },
        ];
        if self.gates.len() < lens[0] {
            self.gates = HugeBuf::zeroed(lens[0]);
        }
        for (v, len) in [&mut self.h, &mut self.c, &mut self.aux, &mut self.m, &mut self.ln]
            .into_iter()
            .zip(&lens[1..])
        {
            let len = *len;
            if v.len() < len {
                v.resize(len, 0.0);
            }
        }
        Bufs {
            gates: &mut self.gates[..lens[0]],
            h: &mut self.h[..lens[1]],
            c: &mut self.c[..lens[2]],
            aux: &mut self.aux[..lens[3]],
            m: &mut self.m[..lens[4]],
            ln: &mut self.ln[..lens[5]],
            packed: false,
            xpack: &mut self.xpack,
        }
    }
}

/// `gates = bias + X W_ihᵀ` for all `rows = T*N` rows at once, with `W_ih` packed once.
///
/// Always this kernel, whatever the number of rows: each output element is then computed in
/// the same order whatever `T`, `N` or the chunking of a stream, so results are batch- and
/// chunk-invariant (bitwise).
fn project(cx: Ctx<'_>, team: &Team<'_>, rows: usize, x: &[f32], gates: &mut [f32]) {
    let (i_sz, gh_w) = (cx.desc.input_size(), cx.desc.gate_rows());
    assert!(gates.len() == rows * gh_w);
    // SAFETY: `gates` is exclusively borrowed for this call; `team.on_blocks_balanced` runs each
    // unit block on one thread and joins before returning.
    let out = unsafe { SyncMutPtr::new(gates.as_mut_ptr()) };
    let p = Proj {
        rows,
        x,
        w: &cx.p.proj,
        bias: &cx.p.bias_x,
        h: cx.desc.hidden_size(),
        out,
    };
    let (blocks, grain) = (cx.p.proj.blocks(), proj::grain(&cx.p.proj, team.threads()));
    team.on_blocks_balanced(blocks, grain, rows * i_sz * gh_w, false, |r| proj::project(&p, r));
}
