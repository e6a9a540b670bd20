//! One forward step with the gate math fused onto the GEMM's output tile: for a range of unit
//! blocks, every row's recurrent product for all gates of 8 hidden units is computed in
//! registers ([`tile`]), the projection of the input is added, and the cell's nonlinearities and
//! state update run before anything is written back.
//!
//! Threads run disjoint ranges of unit blocks of the same step over one [`FwdStep`].

use std::ops::Range;
use std::slice;

use crate::desc::Activation;
use crate::gemm::pack::{Packed, UNITS, WIDE};
use crate::gemm::tile::{tile, tile_rows};
use crate::simd::math::{relu, sigmoid, tanh};
use crate::simd::{isa_dispatch, Vf32, Widen};

/// Raw views of one step's `[N, ·]` buffers, shared by the threads working on the step.
///
/// Only [`FwdStep::new`] makes one; it is `Send + Sync` because each thread writes only the
/// columns of its own unit blocks, and reads what other threads write only after the step (or
/// phase) has been joined.
#[derive(Clone, Copy)]
pub(crate) struct FwdStep {
    n: usize,
    h: usize,
    /// `h_{t-1}` `[N, H]`; `None` when it is zero (the recurrent product is skipped).
    h_prev: Option<*const f32>,
    /// `h_{t-1}` for the state update (zeros when `h_prev` is `None`).
    h_prev_vals: *const f32,
    /// `[N, G*H]`: projection (with folded biases) in, activations out (training); with the
    /// projection fused ([`XProj`]) an unused slot.
    gates: *mut f32,
    /// LSTM: `c_{t-1}`, `c_t`.
    c_prev: *const f32,
    c_next: *mut f32,
    /// `h_t` `[N, H]`.
    h_next: *mut f32,
    /// GRU `[N, H]`: `W_hn h + b_hn` (linear-before-reset) or `r ⊙ h` (reset-before-linear).
    aux: *mut f32,
    /// Linear-before-reset GRU: `b_hn` `[H]`.
    b_hn: *const f32,
    /// The input projection fused into the step (see [`XProj`]); `None`: it is in `gates`.
    x: Option<XPtrs>,
    /// Whether the gate activations are written back to `gates` (training keeps them for
    /// backward; inference does not need them).
    keep_gates: bool,
    /// Visit the unit blocks from the last (see [`StepSlices::reverse`]).
    reverse: bool,
}

/// The input side of a step whose projection is computed in the step's own tiles: this
/// step's rows of `X` and `W_ihᵀ` packed in the same panel layout as `W_hhᵀ`, so the tile over
/// block `b` of one is the same units and gates as that of the other.
pub(crate) struct XProj<'a> {
    /// `[N, I]`: this step's inputs.
    pub x: &'a [f32],
    pub w: &'a Packed,
    /// `[G*H]`: the folded biases (`Prepared::bias_x`).
    pub bias: &'a [f32],
}

#[derive(Clone, Copy)]
struct XPtrs {
    x: *const f32,
    w: *const Packed,
    bias: *const f32,
}

// SAFETY: see the type's documentation; the constructor's contract makes it hold.
unsafe impl Send for FwdStep {}
// SAFETY: as above.
unsafe impl Sync for FwdStep {}

/// The buffers of one step, as slices (checked and turned into a [`FwdStep`]).
pub(crate) struct StepSlices<'a> {
    pub n: usize,
    pub h: usize,
    pub gates_per_unit: usize,
    pub h_prev: &'a [f32],
    /// What the recurrent product multiplies when it is not `h_prev` itself (`h_prev ⊙ mask`
    /// under recurrent dropout).
    pub h_rec: Option<&'a [f32]>,
    pub rec: bool,
    pub gates: &'a mut [f32],
    pub c_prev: &'a [f32],
    pub c_next: &'a mut [f32],
    pub h_next: &'a mut [f32],
    pub aux: &'a mut [f32],
    pub b_hn: &'a [f32],
    /// The projection computed in the step (LSTM only), instead of read from `gates`.
    pub x: Option<XProj<'a>>,
    /// Write the gate activations back to `gates` (training).
    pub keep_gates: bool,
    /// Visit each thread's unit blocks from the last (`gemm::reversed` decides): alternated
    /// step by step, a step starts on the panels the one before read last, which are still in
    /// L2 when a thread's share of `W_hh` is not (measured, in-process A/B, 2 threads:
    /// `lstm-infer-4x1024` 0.94-0.97x the time, the GRU at 4x1024 0.94-0.97x, no change where
    /// the weights fit in L2). Which order changes no result.
    pub reverse: bool,
}

impl FwdStep {
    /// Checks the lengths the cell needs (an empty slice means "not used by this cell").
    ///
    /// # Safety
    /// The buffers must outlive every use of the result, and while it is in use nothing else
    /// may access them; the cell functions called with it must be given disjoint block ranges
    /// on different threads.
    pub(crate) unsafe fn new(s: StepSlices<'_>) -> Self {
        let nh = s.n * s.h;
        assert!(s.h_prev.len() == nh && s.h_next.len() == nh);
        assert!(s.h_rec.is_none_or(|r| r.len() == nh));
        assert!(s.gates.len() == nh * s.gates_per_unit);
        assert!(s.c_prev.is_empty() || s.c_prev.len() == nh);
        assert!(s.c_next.len() == s.c_prev.len());
        assert!(s.aux.is_empty() || s.aux.len() == nh);
        assert!(s.b_hn.is_empty() || s.b_hn.len() == s.h);
        if let Some(x) = &s.x {
            assert!(x.x.len() == s.n * x.w.k() && x.bias.len() == s.h * s.gates_per_unit);
            assert!(x.w.gates_out() == s.gates_per_unit);
        }
        Self {
            x: s.x.map(|x| XPtrs {
                x: x.x.as_ptr(),
                w: x.w,
                bias: x.bias.as_ptr(),
            }),
            keep_gates: s.keep_gates,
            reverse: s.reverse,
            n: s.n,
            h: s.h,
            h_prev: s.rec.then_some(s.h_rec.unwrap_or(s.h_prev).as_ptr()),
            h_prev_vals: s.h_prev.as_ptr(),
            gates: s.gates.as_mut_ptr(),
            c_prev: s.c_prev.as_ptr(),
            c_next: s.c_next.as_mut_ptr(),
            h_next: s.h_next.as_mut_ptr(),
            aux: s.aux.as_mut_ptr(),
            b_hn: s.b_hn.as_ptr(),
        }
    }
}

/// One step's buffers as raw pointers (`FwdStep`'s fields, see there), for loops whose threads
/// each start step `t` once step `t - 1` is done (`Team::steps`): no slice may span a buffer
/// another thread writes meanwhile, so the pointers are computed, not borrowed.
pub(crate) struct RawStep<'a> {
    pub n: usize,
    pub h: usize,
    pub h_prev: Option<*const f32>,
    pub h_prev_vals: *const f32,
    pub gates: *mut f32,
    pub c_prev: *const f32,
    pub c_next: *mut f32,
    pub h_next: *mut f32,
    pub aux: *mut f32,
    pub b_hn: *const f32,
    /// `x` (`[N, I]`), `W_ihᵀ` and the folded biases, when the projection is fused.
    pub x: Option<(*const f32, &'a Packed, *const f32)>,
    pub keep_gates: bool,
    pub reverse: bool,
}

impl FwdStep {
    /// # Safety
    /// Each pointer is valid for what [`FwdStep::new`] checks its slice has (`N * H` for the
    /// states, `N * G * H` for `gates`, `N * I` for `x`, `G * H` for the biases; `c_*` only for
    /// the LSTM, `aux` only for the GRU, `b_hn` only for the linear-before-reset GRU), and
    /// [`FwdStep::new`]'s contract holds for them.
    pub(crate) unsafe fn from_raw(r: RawStep<'_>) -> Self {
        Self {
            n: r.n,
            h: r.h,
            h_prev: r.h_prev,
            h_prev_vals: r.h_prev_vals,
            gates: r.gates,
            c_prev: r.c_prev,
            c_next: r.c_next,
            h_next: r.h_next,
            aux: r.aux,
            b_hn: r.b_hn,
            x: r.x.map(|(x, w, bias)| XPtrs { x, w, bias }),
            keep_gates: r.keep_gates,
            reverse: r.reverse,
        }
    }
}

/// Loads `len` (`1..=V::LANES`) elements at `p`.
///
/// # Safety
/// `p..p+len` readable.
#[inline(always)]
unsafe fn get<V: Vf32>(p: *const f32, len: usize) -> V {
    if len == V::LANES {
        // SAFETY: `V::LANES` readable elements (caller).
        unsafe { V::load_ptr(p) }
    } else {
        // SAFETY: `len` readable elements (caller).
        V::load_part(unsafe { slice::from_raw_parts(p, len) })
    }
}

/// Stores `len` (`1..=V::LANES`) lanes at `p`.
///
/// # Safety
/// `p..p+len` writable, touched by no other thread meanwhile.
#[inline(always)]
unsafe fn put<V: Vf32>(v: V, p: *mut f32, len: usize) {
    if len == V::LANES {
        // SAFETY: `V::LANES` writable elements (caller).
        unsafe { v.store_ptr(p) }
    } else {
        // SAFETY: `len` writable elements (caller).
        v.store_part(unsafe { slice::from_raw_parts_mut(p, len) })
    }
}

/// The recurrent product of rows `r0..r0+MR` with block `b` of `p`, read from `a` (`[N, K]`),
/// or zeros when there is no `a`.
///
/// # Safety
/// `a`, when given, points at `N * K` readable elements and `r0 + MR <= N`.
#[inline(always)]
unsafe fn product<V: Vf32, const MR: usize, const G: usize>(
    a: Option<*const f32>,
    p: &Packed,
    b: usize,
    r0: usize,
) -> [[V; G]; MR] {
    match a {
        None => [[V::splat(0.0); G]; MR],
        Some(a) => {
            let k = p.k();
            // SAFETY: rows r0..r0+MR of a [N, K] buffer (caller).
            let rows = unsafe { slice::from_raw_parts(a.add(r0 * k), MR * k) };
            tile::<V, MR, G>(k, rows, k, p.panel(b))
        }
    }
}

/// Rows `r0..r0+MR` of block `b`, LSTM (`i, f, g, o`), on a panel of `S` runs of 8 units
/// per gate (`GV = 4 * S` vectors per row). With an even `S`, the gate math runs on pairs of
/// runs (16 contiguous units) in [`Widen::Wide`] vectors.
///
/// # Safety
/// `s` valid (see [`FwdStep::new`]), `r0 + MR <= N`, block `b` owned by this thread.
#[inline(always)]
unsafe fn lstm_rows<V: Widen, const MR: usize, const S: usize, const GV: usize>(
    s: &FwdStep,
    p: &Packed,
    b: usize,
    r0: usize,
) {
    let h = s.h;
    // SAFETY: the caller's contract covers every pointer below.
    unsafe {
        let acc = product::<V, MR, GV>(s.h_prev, p, b, r0);
        // The fused projection: the same tile over the same block of `W_ihᵀ` (same layout).
        let accx = s.x.map(|x| product::<V, MR, GV>(Some(x.x), &*x.w, b, r0));
        // The pre-activations are the recurrent product plus `bias + x W_ihᵀ`, added in the
        // projection kernel's order (so both paths give the same bits). No closures here: they
        // would be compiled without the ISA's target features.
        if S.is_multiple_of(2) {
            for run in (0..S).step_by(2) {
                let u0 = (S * b + run) * UNITS;
                if u0 >= h {
                    continue;
                }
                let len = (2 * UNITS).min(h - u0);
                for r in 0..MR {
                    let mut pre = [V::Wide::splat(0.0); 4];
                    for (q, v) in pre.iter_mut().enumerate() {
                        let (lo, hi) = (q * S + run, q * S + run + 1);
                        let px = match (&accx, &s.x) {
                            (Some(ax), Some(x)) => {
                                V::widen(ax[r][lo], ax[r][hi]) + get::<V::Wide>(x.bias.add(q * h + u0), len)
                            }
                            _ => get::<V::Wide>(s.gates.add((r0 + r) * 4 * h + q * h + u0), len),
                        };
                        *v = V::widen(acc[r][lo], acc[r][hi]) + px;
                    }
                    lstm_units(s, pre, r0 + r, u0, len);
                }
            }
        } else {
            for run in 0..S {
                let u0 = (S * b + run) * UNITS;
                if u0 >= h {
                    continue;
                }
                let len = UNITS.min(h - u0);
                for r in 0..MR {
                    let mut pre = [V::splat(0.0); 4];
                    for (q, v) in pre.iter_mut().enumerate() {
                        let px = match (&accx, &s.x) {
                            (Some(ax), Some(x)) => ax[r][q * S + run] + get::<V>(x.bias.add(q * h + u0), len),
                            _ => get::<V>(s.gates.add((r0 + r) * 4 * h + q * h + u0), len),
                        };
                        *v = acc[r][q * S + run] + px;
                    }
                    lstm_units(s, pre, r0 + r, u0, len);
                }
            }
        }
    }
}

/// The LSTM's gate math and state update for `len` units from `u0` of row `row`, from the
/// pre-activations of `i, f, g, o`.
///
/// # Safety
/// As [`lstm_rows`]; `u0 + len <= H`, `len <= W::LANES`.
#[inline(always)]
unsafe fn lstm_units<W: Vf32>(s: &FwdStep, pre: [W; 4], row: usize, u0: usize, len: usize) {
    let h = s.h;
    // SAFETY: the caller's contract covers every pointer below.
    unsafe {
        let i = sigmoid(pre[0]);
        let f = sigmoid(pre[1]);
        let gg = tanh(pre[2]);
        let o = sigmoid(pre[3]);
        let c = f.mul_add(get::<W>(s.c_prev.add(row * h + u0), len), i * gg);
        if s.keep_gates {
            let g = s.gates.add(row * 4 * h + u0);
            put(i, g, len);
            put(f, g.add(h), len);
            put(gg, g.add(2 * h), len);
            put(o, g.add(3 * h), len);
        }
        put(c, s.c_next.add(row * h + u0), len);
        put(o * tanh(c), s.h_next.add(row * h + u0), len);
    }
}

/// Rows `r0..r0+MR` of block `b`, simple RNN.
///
/// # Safety
/// As [`lstm_rows`].
#[inline(always)]
unsafe fn rnn_rows<V: Widen, const MR: usize>(s: &FwdStep, p: &Packed, act: Activation, b: usize, r0: usize) {
    // SAFETY: the caller's contract covers every pointer below.
    unsafe {
        // A wide panel: four runs of 8 units per row (see `Packed::wide_rows`), taken in pairs
        // (16 contiguous units).
        let acc = product::<V, MR, WIDE>(s.h_prev, p, b, r0);
        for run in (0..WIDE).step_by(2) {
            let u0 = (WIDE * b + run) * UNITS;
            if u0 >= s.h {
                continue;
            }
            let len = (2 * UNITS).min(s.h - u0);
            for (r, a) in acc.iter().enumerate() {
                let off = (r0 + r) * s.h + u0;
                let pre = V::widen(a[run], a[run + 1]) + get::<V::Wide>(s.gates.add(off), len);
                let v = match act {
                    Activation::Tanh => tanh(pre),
                    Activation::Relu => relu(pre),
                };
                put(v, s.h_next.add(off), len);
            }
        }
    }
}

/// Rows `r0..r0+MR` of block `b`, linear-before-reset GRU (`r, z, n`).
///
/// # Safety
/// As [`lstm_rows`].
#[inline(always)]
unsafe fn gru_lbr_rows<V: Widen, const MR: usize>(s: &FwdStep, p: &Packed, b: usize, r0: usize) {
    let h = s.h;
    // SAFETY: the caller's contract covers every pointer below.
    unsafe {
        // Two runs of 8 units per gate (`sub_blocks(3)`): vector `2g + run`; both runs of a
        // gate are 16 contiguous units.
        let acc = product::<V, MR, 6>(s.h_prev, p, b, r0);
        let u0 = 2 * b * UNITS;
        if u0 >= h {
            return;
        }
        let len = (2 * UNITS).min(h - u0);
        let b_hn = get::<V::Wide>(s.b_hn.add(u0), len);
        for (r, a) in acc.iter().enumerate() {
            let row = r0 + r;
            let g = s.gates.add(row * 3 * h + u0);
            let off = row * h + u0;
            let rg = sigmoid(V::widen(a[0], a[1]) + get::<V::Wide>(g, len));
            let z = sigmoid(V::widen(a[2], a[3]) + get::<V::Wide>(g.add(h), len));
            let hn = V::widen(a[4], a[5]) + b_hn;
            let n = tanh(rg.mul_add(hn, get::<V::Wide>(g.add(2 * h), len)));
            let hp = get::<V::Wide>(s.h_prev_vals.add(off), len);
            if s.keep_gates {
                put(rg, g, len);
                put(z, g.add(h), len);
                put(n, g.add(2 * h), len);
                put(hn, s.aux.add(off), len);
            }
            put(z.mul_add(hp - n, n), s.h_next.add(off), len);
        }
    }
}

/// Rows `r0..r0+MR` of block `b`, reset-before-linear GRU phase 1: `r, z` and `r ⊙ h`.
///
/// # Safety
/// As [`lstm_rows`].
#[inline(always)]
unsafe fn gru_rz_rows<V: Widen, const MR: usize>(s: &FwdStep, p: &Packed, b: usize, r0: usize) {
    let h = s.h;
    // SAFETY: the caller's contract covers every pointer below.
    unsafe {
        // Two runs of 8 units per gate (`sub_blocks(2)`): vector `2g + run`, 16 contiguous
        // units per gate.
        let acc = product::<V, MR, 4>(s.h_prev, p, b, r0);
        let u0 = 2 * b * UNITS;
        if u0 >= h {
            return;
        }
        let len = (2 * UNITS).min(h - u0);
        for (r, a) in acc.iter().enumerate() {
            let row = r0 + r;
            let g = s.gates.add(row * 3 * h + u0);
            let off = row * h + u0;
            let rg = sigmoid(V::widen(a[0], a[1]) + get::<V::Wide>(g, len));
            let z = sigmoid(V::widen(a[2], a[3]) + get::<V::Wide>(g.add(h), len));
            if s.keep_gates {
                put(rg, g, len);
            }
            // Phase 2 reads `z` back.
            put(z, g.add(h), len);
            // r ⊙ h as the recurrent product sees h (masked under recurrent dropout).
            let hr = s.h_prev.unwrap_or(s.h_prev_vals);
            put(rg * get::<V::Wide>(hr.add(off), len), s.aux.add(off), len);
        }
    }
}

/// Rows `r0..r0+MR` of block `b`, reset-before-linear GRU phase 2: `n` from `(r ⊙ h) W_hnᵀ`
/// and the new state.
///
/// # Safety
/// As [`lstm_rows`], and phase 1 of this step has completed for every block.
#[inline(always)]
unsafe fn gru_n_rows<V: Widen, const MR: usize>(s: &FwdStep, p: &Packed, b: usize, r0: usize) {
    let h = s.h;
    // SAFETY: the caller's contract covers every pointer below.
    unsafe {
        let a_src = s.h_prev.map(|_| s.aux as *const f32);
        // One gate in WIDE runs of 8 units (`sub_blocks(1)`), taken in pairs.
        let acc = product::<V, MR, WIDE>(a_src, p, b, r0);
        for run in (0..WIDE).step_by(2) {
            let u0 = (WIDE * b + run) * UNITS;
            if u0 >= h {
                continue;
            }
            let len = (2 * UNITS).min(h - u0);
            for (r, a) in acc.iter().enumerate() {
                let row = r0 + r;
                let g = s.gates.add(row * 3 * h + u0);
                let off = row * h + u0;
                let n = tanh(V::widen(a[run], a[run + 1]) + get::<V::Wide>(g.add(2 * h), len));
                let z = get::<V::Wide>(g.add(h), len);
                let hp = get::<V::Wide>(s.h_prev_vals.add(off), len);
                if s.keep_gates {
                    put(n, g.add(2 * h), len);
                }
                put(z.mul_add(hp - n, n), s.h_next.add(off), len);
            }
        }
    }
}

#[inline(always)]
fn lstm_g<V: Widen>(s: &FwdStep, p: &Packed, blocks: Range<usize>) {
    for b in crate::gemm::ordered(blocks, s.reverse) {
        // SAFETY: the caller of the dispatched function upholds `FwdStep`'s contract.
        match p.vecs() {
            4 => tile_rows!(V, s.n, 3, 14, |MR, r0| unsafe { lstm_rows::<V, MR, 1, 4>(s, p, b, r0) }),
            8 => tile_rows!(V, s.n, 1, 6, |MR, r0| unsafe { lstm_rows::<V, MR, 2, 8>(s, p, b, r0) }),
            v => unreachable!("{v} vectors per LSTM panel row"),
        }
    }
}

#[inline(always)]
fn rnn_g<V: Widen>(s: &FwdStep, p: &Packed, act: Activation, blocks: Range<usize>) {
    for b in crate::gemm::ordered(blocks, s.reverse) {
        // SAFETY: as in `lstm_g`.
        tile_rows!(V, s.n, 3, 14, |MR, r0| unsafe { rnn_rows::<V, MR>(s, p, act, b, r0) });
    }
}

#[inline(always)]
fn gru_lbr_g<V: Widen>(s: &FwdStep, p: &Packed, blocks: Range<usize>) {
    for b in crate::gemm::ordered(blocks, s.reverse) {
        // SAFETY: as in `lstm_g`.
        tile_rows!(V, s.n, 2, 9, |MR, r0| unsafe { gru_lbr_rows::<V, MR>(s, p, b, r0) });
    }
}

#[inline(always)]
fn gru_rz_g<V: Widen>(s: &FwdStep, p: &Packed, blocks: Range<usize>) {
    for b in crate::gemm::ordered(blocks, s.reverse) {
        // SAFETY: as in `lstm_g`.
        tile_rows!(V, s.n, 3, 14, |MR, r0| unsafe { gru_rz_rows::<V, MR>(s, p, b, r0) });
    }
}

#[inline(always)]
fn gru_n_g<V: Widen>(s: &FwdStep, p: &Packed, blocks: Range<usize>) {
    for b in crate::gemm::ordered(blocks, s.reverse) {
        // SAFETY: as in `lstm_g`.
        tile_rows!(V, s.n, 3, 14, |MR, r0| unsafe { gru_n_rows::<V, MR>(s, p, b, r0) });
    }
}

isa_dispatch!(
    /// LSTM step for unit blocks `blocks` (`p` packs `W_hhᵀ`, 4 gates).
    pub(crate) fn lstm => lstm_g(s: &FwdStep, p: &Packed, blocks: Range<usize>)
);
isa_dispatch!(
    /// Simple-RNN step for unit blocks `blocks` (`p` packs `W_hhᵀ`).
    pub(crate) fn rnn => rnn_g(s: &FwdStep, p: &Packed, act: Activation, blocks: Range<usize>)
);
isa_dispatch!(
    /// Linear-before-reset GRU step for unit blocks `blocks` (`p` packs `W_hhᵀ`, 3 gates).
    pub(crate) fn gru_lbr => gru_lbr_g(s: &FwdStep, p: &Packed, blocks: Range<usize>)
);
isa_dispatch!(
    /// Reset-before-linear GRU, phase 1 (`p` packs `W_hrzᵀ`, 2 gates).
    pub(crate) fn gru_rz => gru_rz_g(s: &FwdStep, p: &Packed, blocks: Range<usize>)
);
isa_dispatch!(
    /// Reset-before-linear GRU, phase 2 (`p` packs `W_hnᵀ`); run after phase 1 of all blocks.
    pub(crate) fn gru_n => gru_n_g(s: &FwdStep, p: &Packed, blocks: Range<usize>)
);
