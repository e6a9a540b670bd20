//! The general product `C = beta * C + op(A) · op(B)` on the register tiles, for the large
//! products of training (weight gradients `dGᵀ · X`, `dGᵀ · H_prev` and `dX = dG · W_ih`).
//!
//! `op(B)` is packed on every call into the wide panels of [`super::packed`] (32 columns per
//! panel, `k` rows of 32 floats) in a buffer kept per thread; `op(A)` is packed chunk by chunk
//! into k-major micro-panels read by the column-major tile ([`tile_at`]), or with at most two
//! panels read in place (row-major [`tile`] for `Op::N`, [`tile_at`] for `Op::T`).
//!
//! Blocking: `k` in blocks of [`KC`], rows in chunks of [`MC`] (the chunk's packed `A`,
//! 480 KiB, stays in L2), panels in groups of [`GROUP`] (their `KC`-row slices, 1 MiB, stay
//! in L2); every row tile of the chunk passes over the group's panels, both streaming from
//! L2. Each element of `C` is one fused
//! multiply-add chain per `k` block, in `k` order, added to `C` block after block (the first
//! block replaces `C` when `beta == 0`, so `C` is then never read): the same operations in
//! the same order whatever the thread count, the split or the tile heights.
//!
//! Two products with the same `op(A)` (the LSTM's and the RNN's `dW_ih` and `dW_hh`, both
//! `dGᵀ` times something) run as one ([`sgemm_pair`]): their `op(B)`s packed side by side, so
//! each chunk of `A` is packed once for both (in-process A/B, 2 threads: 0.96-0.99x the time
//! of `rnn-train-64x1024` and `lstm-train-64x512`).

use std::cell::Cell;
use std::ops::Range;
use std::slice;

use super::hugebuf::HugeBuf;
use super::pack::{UNITS, WIDE};
use super::par::SyncMutPtr;
use super::tile::{tile, tile_at, wide_rows};
use super::{split, Mat, Op};
use crate::simd::{isa_dispatch, Vf32};

/// Columns per packed panel.
pub(crate) const NR: usize = WIDE * UNITS;
/// `k` block. `C` is read and written once per block, at the end of each tile's `k` loop,
/// where its rows come from L3 unprefetched; against 512 (with `MC` 240), 1024 measured 0.88-0.98x
/// the time of `lstm-train-64x512`, 0.95-1.02x `rnn-train-64x1024`, 0.97-0.99x
/// `lstm-train-32x1024` and 1.00-1.04x `gru-train-64x512` (2 threads, in-process alternating,
/// 2-3 runs each; blocked products alone 0.79-1.02x). (256 against 512, with no panel groups,
/// had been 1-20% slower on every training product.)
pub(crate) const KC: usize = 1024;
/// Rows per chunk: a chunk of packed `A` (`MC * KC` floats, 480 KiB) stays in L2.
pub(crate) const MC: usize = 120;
/// Panels per group: the group's `KC`-row slices of `B` (1 MiB) stay in L2 while every row
/// tile of a chunk passes over them.
const GROUP: usize = 8;

/// One output of a product: `C = beta * C + op(A) · op(B)`, `C` `m × n` with leading dimension
/// `ldc`, from the packed panels `first..first + n.div_ceil(NR)`.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    pub n: usize,
    pub c: SyncMutPtr,
    pub ldc: usize,
    pub first: usize,
}

/// The operands of one product (or of two with the same `A`, packed once for both), shared
/// by the threads.
pub(crate) struct Blocked<'a> {
    pub m: usize,
    pub k: usize,
    /// `op(A)`: `A[r, kk]` is `a[r * lda + kk]` (`Op::N`) or `a[kk * lda + r]` (`Op::T`).
    pub a: &'a [f32],
    pub lda: usize,
    pub a_op: Op,
    /// The `op(B)`s packed one after the other: panel `b` is `bp[b * k * NR ..][.. k * NR]`,
    /// row `kk` holding columns `NR * (b - first) ..` of its output's `op(B)` (zeros past `n`).
    pub bp: &'a [f32],
    /// Any value; 0 means `C` is not read.
    pub beta: f32,
    /// The outputs; the second one's `n` is 0 for a single product.
    pub outs: [Out; 2],
}

impl Blocked<'_> {
    /// Panels of all outputs.
    fn panels(&self) -> usize {
        let o = &self.outs[1];
        o.first + o.n.div_ceil(NR)
    }

    /// The output of panel `b` and its first column there.
    #[inline(always)]
    fn out(&self, b: usize) -> (&Out, usize) {
        let o = &self.outs[1];
        if o.n > 0 && b >= o.first {
            (o, (b - o.first) * NR)
        } else {
            (&self.outs[0], b * NR)
        }
    }
}

/// Rows of `op(B)` that [`pack_b`] copies into every panel of its range before the next
/// rows (`Op::N`).
const PACK_B_ROWS: usize = 16;

/// Packs the panels `blocks` of `op(B)` (`k × n`) into `dst` (laid out as [`Blocked::bp`]).
///
/// `Op::N` goes [`PACK_B_ROWS`] rows at a time, each copied into every panel of the range, so
/// each row is read front to back while it is in cache and each panel gets a contiguous run
/// of rows. (A panel at a time, each 128-byte piece lay a row of `B` (4-8 KiB) past the last,
/// on another page, where the hardware prefetchers stop, and was a `memcpy` call: in-process
/// A/B, 2 threads,
/// 0.94-0.99x the time of the weight-gradient and `dX` product shapes of `rnn-train-64x1024` and
/// `lstm-train-64x512`.)
///
/// # Safety
/// `dst` is valid for `n.div_ceil(NR) * k * NR` elements and no other thread writes the
/// panels `blocks` while this runs.
unsafe fn pack_b(b: Mat<'_>, k: usize, n: usize, blocks: Range<usize>, dst: SyncMutPtr) {
    // Rows `k0..k1` of panel `blk`, and the panel's width in `op(B)`.
    let rows = |blk: usize, k0: usize, k1: usize| {
        // SAFETY: the rows lie inside panel `blk`, inside `dst`, and are ours alone (caller).
        let r = unsafe { slice::from_raw_parts_mut(dst.get().add((blk * k + k0) * NR), (k1 - k0) * NR) };
        (r, NR.min(n - blk * NR))
    };
    match b.op {
        Op::N => {
            for k0 in (0..k).step_by(PACK_B_ROWS) {
                let k1 = (k0 + PACK_B_ROWS).min(k);
                for blk in blocks.clone() {
                    let (panel, w) = rows(blk, k0, k1);
                    for (row, kk) in panel.chunks_exact_mut(NR).zip(k0..k1) {
                        let src = &b.data[kk * b.ld + blk * NR..][..w];
                        match (<&mut [f32; NR]>::try_from(&mut *row), <&[f32; NR]>::try_from(src)) {
                            // A whole row: a fixed-size copy, inlined.
                            (Ok(d), Ok(s)) => *d = *s,
                            _ => {
                                row[..w].copy_from_slice(src);
                                row[w..].fill(0.0);
                            }
                        }
                    }
                }
            }
        }
        Op::T => {
            for blk in blocks {
                let (panel, w) = rows(blk, 0, k);
                // B(kk, u) = b[u * ld + kk]: read each stored row once, k values at a time.
                for u in 0..w {
                    let col = &b.data[(blk * NR + u) * b.ld..][..k];
                    for (kk, &v) in col.iter().enumerate() {
                        panel[kk * NR + u] = v;
                    }
                }
                if w < NR {
                    for row in panel.chunks_exact_mut(NR) {
                        row[w..].fill(0.0);
                    }
                }
            }
        }
    }
}

/// Tile `t` of `tiles` over a chunk of `rows` rows: its first row and height. On the 512-bit
/// tile, heights of at most 14 made as even as possible; on the 256-bit one, 3 (and the rest).
#[inline(always)]
fn tile_span(zmm: bool, rows: usize, r0: usize, t: usize, tiles: usize) -> usize {
    if zmm {
        (rows - r0).div_ceil(tiles - t)
    } else {
        NARROW_MR.min(rows - r0)
    }
}

/// k steps ahead whose run the packing of `Op::T` prefetches: each k step's run of `A` lies a
/// row of `dG` (`G*H` floats: 4-8 KiB at the training shapes) past the last, on another page,
/// where the hardware prefetchers do not follow (in-process A/B, 2 threads, a product of the
/// shape of `lstm-train-64x512`'s weight gradients, m 2048, k 3200, n 1024: 0.88-0.93x the
/// time with 8 steps, 0.93-0.95x with 4 or 16).
const PACK_PF: usize = 8;

/// Products with more panels than this pack `A` ([`pack_a`]).
const PACK_A_MIN_PANELS: usize = 2;

/// Tile heights: the 256-bit tile (3 rows of 4 vectors), the 512-bit one at most.
const NARROW_MR: usize = 3;
const WIDE_MR: usize = 14;

/// `d = s` for the few floats of one tile's k step (at most 14): in vectors, the last one
/// overlapping the one before, rather than a `memcpy` call for 56 bytes (as
/// `copy_from_slice`, that call was 2.4% of the profile of `lstm-train-64x512`).
#[inline(always)]
fn copy_short<V: Vf32>(s: &[f32], d: &mut [f32]) {
    let (n, l) = (s.len(), V::LANES);
    assert_eq!(d.len(), n);
    if n < l {
        for (d, s) in d.iter_mut().zip(s) {
            *d = *s;
        }
        return;
    }
    let mut i = 0;
    while i + l <= n {
        V::load(&s[i..]).store(&mut d[i..]);
        i += l;
    }
    if i < n {
        V::load(&s[n - l..]).store(&mut d[n - l..]);
    }
}

/// Packs rows `c0..c0+rows`, columns `p0..p0+kc` of `op(A)` into k-major micro-panels, one
/// per tile of [`tile_span`]: tile `(r0, h)` at `dst[r0 * kc ..]`, `dst[r0 * kc + kk * h + r] =
/// A[c0 + r0 + r, p0 + kk]`.
#[inline(always)]
fn pack_a<V: Vf32>(g: &Blocked<'_>, zmm: bool, c0: usize, rows: usize, p0: usize, kc: usize, dst: &mut [f32]) {
    let tiles = rows.div_ceil(if zmm { WIDE_MR } else { NARROW_MR });
    let dst = &mut dst[..rows * kc];
    match g.a_op {
        Op::T => {
            // A[i, kk] = a[kk * lda + i]: each k step's values are one contiguous run.
            for kk in 0..kc {
                let src = &g.a[(p0 + kk) * g.lda + c0..][..rows];
                // The run PACK_PF steps ahead (a hint: past the end it is never read).
                let ahead = g.a.as_ptr().wrapping_add((p0 + kk + PACK_PF) * g.lda + c0);
                for line in (0..rows).step_by(16) {
                    V::prefetch(ahead.wrapping_add(line));
                }
                let mut r0 = 0;
                for t in 0..tiles {
                    let h = tile_span(zmm, rows, r0, t, tiles);
                    copy_short::<V>(&src[r0..r0 + h], &mut dst[r0 * kc + kk * h..][..h]);
                    r0 += h;
                }
            }
        }
        Op::N => {
            let mut r0 = 0;
            for t in 0..tiles {
                let h = tile_span(zmm, rows, r0, t, tiles);
                let panel = &mut dst[r0 * kc..][..h * kc];
                let src = |r: usize| &g.a[(c0 + r0 + r) * g.lda + p0..][..kc];
                // Tiles of at least 8 rows (every one but a short remainder's), 8 k steps at a
                // time: rows 0..8 and h-8..h (overlapping) transposed in registers.
                let kv = if h >= 8 && V::LANES == 8 { kc / 8 * 8 } else { 0 };
                for kk in (0..kv).step_by(8) {
                    for rg in [0, h - 8] {
                        let cols = V::transpose8(std::array::from_fn(|r| V::load(&src(rg + r)[kk..])));
                        for (j, v) in cols.into_iter().enumerate() {
                            v.store(&mut panel[(kk + j) * h + rg..]);
                        }
                    }
                }
                for r in 0..h {
                    for (kk, &v) in src(r).iter().enumerate().skip(kv) {
                        panel[kk * h + r] = v;
                    }
                }
                r0 += h;
            }
        }
    }
}

/// The packed rows `r0..r0+MR` (`a`, k-major) times the slice `p0..p0+kc` of panel `b`, added
/// into its output's `C` (or replacing it when `replace`).
///
/// # Safety
/// Each output's `c` is valid for its `m × n` view with leading dimension `ldc`; no other
/// thread writes these rows of panel `b`'s columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_into<V: Vf32, const MR: usize>(
    g: &Blocked<'_>,
    a: &[f32],
    lda: usize,
    a_t: bool,
    b: usize,
    r0: usize,
    p0: usize,
    kc: usize,
    replace: bool,
) {
    let panel = &g.bp[(b * g.k + p0) * NR..][..kc * NR];
    let acc = if a_t {
        tile_at::<V, MR, WIDE>(kc, a, lda, panel)
    } else {
        tile::<V, MR, WIDE>(kc, a, lda, panel)
    };
    // `C` scaled by beta on the first k block, as it is on the later ones (1).
    let scale = if p0 == 0 { g.beta } else { 1.0 };
    let (out, col0) = g.out(b);
    for (r, a) in acc.iter().enumerate() {
        for (part, v) in a.iter().enumerate() {
            let col = col0 + part * UNITS;
            if col >= out.n {
                break;
            }
            let len = UNITS.min(out.n - col);
            // SAFETY: row r0 + r < m, columns col..col+len <= n <= ldc (caller).
            let dst = unsafe { slice::from_raw_parts_mut(out.c.get().add((r0 + r) * out.ldc + col), len) };
            let v = if replace {
                *v
            } else if scale == 1.0 {
                V::load_part(dst) + *v
            } else {
                V::load_part(dst) * V::splat(scale) + *v
            };
            v.store_part(dst);
        }
    }
}

thread_local! {
    /// A worker's packed chunk of `op(A)` (`MC * KC` floats), kept for its next product.
    static PACKED_A: Cell<Option<Vec<f32>>> = const { Cell::new(None) };
}

/// Tile `(r0, h)` of the chunk at row `c0` times panel `b`'s slice `p0..p0+kc`, `A` from the
/// packed chunk `a` or in place. (A function, not a closure in [`compute_g`]: closures do not
/// inherit the ISA's target features.)
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn one<V: Vf32>(
    g: &Blocked<'_>,
    pack: bool,
    a: &[f32],
    b: usize,
    c0: usize,
    r0: usize,
    h: usize,
    p0: usize,
    kc: usize,
    replace: bool,
) {
    let (a, lda, a_t) = if pack {
        (&a[r0 * kc..][..h * kc], h, true)
    } else {
        match g.a_op {
            Op::N => (&g.a[(c0 + r0) * g.lda + p0..], g.lda, false),
            Op::T => (&g.a[p0 * g.lda + c0 + r0..], g.lda, true),
        }
    };
    // SAFETY: `Blocked::c` covers the `m × n` output and the caller gives each thread its own
    // rows or panels (the `SyncMutPtr` contract its creator took on).
    wide_rows!(h, |MR| unsafe {
        tile_into::<V, MR>(g, a, lda, a_t, b, c0 + r0, p0, kc, replace)
    });
}

/// `C[rows, panels blocks]` over all of `k`.
#[inline(always)]
fn compute_g<V: Vf32>(g: &Blocked<'_>, rows_: Range<usize>, blocks: Range<usize>) {
    let panels = g.panels();
    assert!(blocks.end <= panels && g.bp.len() >= panels * g.k * NR && rows_.end <= g.m);
    assert!(g.outs[0].first == 0 && g.outs[1].first == g.outs[0].n.div_ceil(NR));
    let last = match g.a_op {
        Op::N => (g.m - 1) * g.lda + g.k,
        Op::T => (g.k - 1) * g.lda + g.m,
    };
    assert!(g.a.len() >= last && g.outs.iter().all(|o| o.ldc >= o.n));
    let zmm = V::ZMM_TILE;
    // More than a few panels: pack each chunk, so a tile's k step reads one contiguous run
    // (in place, a k step of `Op::T` touches a new row, and leading dimensions of 2^n floats
    // put every such row in the same cache set; `Op::N` reads `MR` rows a cache line apart:
    // packed, m3200 n1024 k1024 went from 170 to 190 GFLOP/s on 2 threads); otherwise read
    // `A` in place.
    let pack = panels > PACK_A_MIN_PANELS;
    let mut abuf = PACKED_A.with(Cell::take).unwrap_or_default();
    if pack && abuf.len() < MC * KC {
        abuf = vec![0.0; MC * KC];
    }
    // Loop over k blocks, row chunks, panel groups, the chunk's tiles, then the group's panels:
    // the tile's `A` stays in L1 while the group's slices stream from L2. The order changes no
    // element's arithmetic.
    for p0 in (0..g.k).step_by(KC) {
        let kc = KC.min(g.k - p0);
        let replace = p0 == 0 && g.beta == 0.0;
        for c0 in rows_.clone().step_by(MC) {
            let rows = MC.min(rows_.end - c0);
            if pack {
                pack_a::<V>(g, zmm, c0, rows, p0, kc, &mut abuf);
            }
            let tiles = rows.div_ceil(if zmm { WIDE_MR } else { NARROW_MR });
            for g0 in blocks.clone().step_by(GROUP) {
                let group = g0..(g0 + GROUP).min(blocks.end);
                let mut r0 = 0;
                for t in 0..tiles {
                    let h = tile_span(zmm, rows, r0, t, tiles);
                    for b in group.clone() {
                        one::<V>(g, pack, &abuf, b, c0, r0, h, p0, kc, replace);
                    }
                    r0 += h;
                }
            }
        }
    }
    if !abuf.is_empty() {
        PACKED_A.with(|cell| cell.set(Some(abuf)));
    }
}

/// [`compute_g`] on one ISA's vectors, for the tests.
#[cfg(test)]
pub(crate) fn compute_on<V: Vf32>(g: &Blocked<'_>, rows: Range<usize>, blocks: Range<usize>) {
    compute_g::<V>(g, rows, blocks)
}

isa_dispatch!(
    /// `C[rows, panels blocks] = beta * C + op(A) · op(B)` on this ISA's tiles.
    pub(crate) fn compute => compute_g(g: &Blocked<'_>, rows: Range<usize>, blocks: Range<usize>)
);

thread_local! {
    /// The packed `op(B)` of the last product run from this thread, kept for the next one.
    static PACKED_B: Cell<Option<HugeBuf>> = const { Cell::new(None) };
}

/// Products below this many multiply-adds run on the calling thread.
const PAR_MIN_MACS: usize = super::PAR_MIN_MACS;

/// `C = beta * C + op(A) · op(B)` on the tiles (see the module doc), split over the current
/// rayon pool: by rows when there are enough of them, by panels otherwise. The views were
/// checked by [`super::sgemm`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32], ldc: usize) {
    sgemm_with(compute, m, n, k, a, b, beta, c, ldc)
}

/// The tiles' share of `C` computed by one task: `C[rows, panels blocks]`.
pub(crate) type Compute = fn(&Blocked<'_>, Range<usize>, Range<usize>);

/// [`sgemm`] with the tiles of `compute` (the dispatched [`compute`], or in tests one ISA's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_with(
    compute: Compute,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    sgemm_parts(compute, m, k, a, beta, [Part { n, b, c, ldc }, Part::none()])
}

/// One output of [`sgemm_pair`]: `c = beta * c + op(A) · op(b)`, `op(b)` `k × n`, `c` `m × n`
/// with leading dimension `ldc`.
pub(crate) struct Part<'a, 'c> {
    pub n: usize,
    pub b: Mat<'a>,
    pub c: &'c mut [f32],
    pub ldc: usize,
}

impl Part<'_, '_> {
    /// No second output.
    fn none() -> Self {
        Part {
            n: 0,
            b: Mat {
                data: &[],
                ld: 0,
                op: Op::N,
            },
            c: &mut [],
            ldc: 0,
        }
    }
}

/// Two products with the same `op(A)` as one: `A` is packed once per chunk for both, and the
/// threads split the panels of both `op(B)`s (the weight gradients `dW_ih = dGᵀ X` and
/// `dW_hh = dGᵀ H_prev`). Each element is computed as by [`sgemm`] alone, so the same bits.
pub(crate) fn sgemm_pair(m: usize, k: usize, a: Mat<'_>, beta: f32, p: [Part<'_, '_>; 2]) {
    sgemm_parts(compute, m, k, a, beta, p)
}

/// [`sgemm_with`] for one or two outputs (the second's `n` 0 for one).
fn sgemm_parts(compute: Compute, m: usize, k: usize, a: Mat<'_>, beta: f32, parts: [Part<'_, '_>; 2]) {
    let [p0, p1] = parts;
    let (n0, n1) = (p0.n, p1.n);
    let n = n0 + n1;
    let first = n0.div_ceil(NR);
    let panels = first + n1.div_ceil(NR);
    let len = panels * k * NR;
    // Taken out of the thread-local (a nested call on this thread, from a task stolen while
    // this one waits, then packs into its own buffer).
    let mut buf = match PACKED_B.with(Cell::take) {
        Some(buf) if buf.len() >= len => buf,
        _ => HugeBuf::zeroed(len),
    };
    let threads = if m.saturating_mul(n).saturating_mul(k) < PAR_MIN_MACS {
        1
    } else {
        rayon::current_num_threads()
    };
    {
        // SAFETY: `buf` is exclusively ours; each packing task writes its own panels (the
        // second output's from panel `first` on).
        let (dst, dst1) = unsafe {
            (
                SyncMutPtr::new(buf.as_mut_ptr()),
                SyncMutPtr::new(buf.as_mut_ptr().add(first * k * NR)),
            )
        };
        let (b0, b1) = (p0.b, p1.b);
        // Panels `r` of all outputs.
        let pack = move |r: Range<usize>| {
            // SAFETY: the panel ranges of the callers are disjoint, inside `buf`.
            unsafe {
                pack_b(b0, k, n0, r.start.min(first)..r.end.min(first), dst);
                if n1 > 0 {
                    pack_b(b1, k, n1, r.start.max(first) - first..r.end.max(first) - first, dst1);
                }
            }
        };
        let parts = split(panels, threads, 1);
        if parts.len() <= 2 {
            pack(0..panels);
        } else {
            rayon::scope(|s| {
                for w in parts.windows(2) {
                    let r = w[0]..w[1];
                    s.spawn(move |_| {
                        let _ftz = crate::simd::ftz::FlushDenormals::new();
                        pack(r)
                    });
                }
            });
        }
    }
    let out = |p: Part<'_, '_>, first| Out {
        n: p.n,
        // SAFETY: each `c` is exclusively borrowed for this call; the tasks below write
        // disjoint rows or panels of them.
        c: unsafe { SyncMutPtr::new(p.c.as_mut_ptr()) },
        ldc: p.ldc,
        first,
    };
    let g = Blocked {
        m,
        k,
        a: a.data,
        lda: a.ld,
        a_op: a.op,
        bp: &buf[..len],
        beta,
        outs: [out(p0, 0), out(p1, first)],
    };
    let g = &g;
    if threads <= 1 {
        compute(g, 0..m, 0..panels);
    } else if m >= threads * 4 * MC.min(64) {
        let parts = split(m, threads, super::ROW_ALIGN);
        rayon::scope(|s| {
            for w in parts.windows(2) {
                let (r0, r1) = (w[0], w[1]);
                s.spawn(move |_| {
                    let _ftz = crate::simd::ftz::FlushDenormals::new();
                    compute(g, r0..r1, 0..panels)
                });
            }
        });
    } else {
        let parts = split(panels, threads, 1);
        rayon::scope(|s| {
            for w in parts.windows(2) {
                let (b0, b1) = (w[0], w[1]);
                s.spawn(move |_| {
                    let _ftz = crate::simd::ftz::FlushDenormals::new();
                    compute(g, 0..m, b0..b1)
                });
            }
        });
    }
    PACKED_B.with(|cell| cell.set(Some(buf)));
}
