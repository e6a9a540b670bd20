//! Matrix products for the layer drivers, BLAS-style on row-major buffers.
//!
//! `sgemm` computes `C[m, n] = beta * C + op(A)[m, k] · op(B)[k, n]` where `op` is the
//! identity or the transpose of a row-major buffer with a leading dimension. Large products
//! are split into row blocks (or column blocks when `m` is small) run on rayon threads;
//! every element of `C` is computed by one thread in the same order whatever the split, so
//! results do not depend on the thread count.

pub mod bench_api;
pub(crate) mod blocked;
pub(crate) mod hugebuf;
pub(crate) mod pack;
pub(crate) mod packed;
pub(crate) mod par;
pub(crate) mod proj;
pub(crate) mod tile;

use par::SyncMutPtr;

/// Steps of at most this many rows walk their unit blocks backwards every other step
/// ([`reversed`]): a step that makes one pass over each panel is bound by streaming `W_hh`,
/// and starting on the panels still in L2 pays; with several passes per panel (64 rows) the
/// reversed order measured 1.00-1.06x the time (it breaks the ascending stream from one panel
/// into the next).
const REVERSE_MAX_ROWS: usize = 8;

/// Whether step `t` of `rows` rows walks each thread's unit blocks from the last
/// (`cell::fused::StepSlices::reverse`, the backward recurrent product): on odd steps of small
/// batches. The plain cells' forward and backward loops use it; the layer-normalized and
/// projected LSTM steps keep the ascending order.
pub(crate) fn reversed(t: usize, rows: usize) -> bool {
    t % 2 == 1 && rows <= REVERSE_MAX_ROWS
}

/// The indices of `r` in order, or with `rev` from the last.
#[inline(always)]
pub(crate) fn ordered(r: std::ops::Range<usize>, rev: bool) -> impl Iterator<Item = usize> {
    let (s, n) = (r.start, r.len());
    (0..n).map(move |i| if rev { s + n - 1 - i } else { s + i })
}

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `op(X) = X`.
    N,
    /// `op(X) = Xᵀ`.
    T,
}

/// A row-major matrix buffer with leading dimension `ld`, read as `op(X)` of size `rows × cols`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub ld: usize,
    pub op: Op,
}

impl<'a> Mat<'a> {
    pub fn n(data: &'a [f32], ld: usize) -> Self {
        Self { data, ld, op: Op::N }
    }
    pub fn t(data: &'a [f32], ld: usize) -> Self {
        Self { data, ld, op: Op::T }
    }

    /// (row stride, column stride) of `op(X)`, after checking that a `rows × cols` view fits.
    fn strides(&self, rows: usize, cols: usize) -> (isize, isize) {
        let (stored_rows, stored_cols) = match self.op {
            Op::N => (rows, cols),
            Op::T => (cols, rows),
        };
        assert!(self.ld >= stored_cols, "gemm: leading dimension too small");
        assert!(
            (stored_rows - 1) * self.ld + stored_cols <= self.data.len(),
            "gemm: operand buffer too short"
        );
        match self.op {
            Op::N => (self.ld as isize, 1),
            Op::T => (1, self.ld as isize),
        }
    }
}

/// Products below this many multiply-adds run on the calling thread.
const PAR_MIN_MACS: usize = 1 << 20;
/// Row blocks are multiples of this (matrixmultiply's largest `mr`).
const ROW_ALIGN: usize = 8;
/// Column blocks are multiples of this.
const COL_ALIGN: usize = 16;

/// Which implementation runs a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// The register tiles ([`blocked`]).
    Tiles,
    /// matrixmultiply.
    Matrixmultiply,
}

/// Products below this many multiply-adds stay on matrixmultiply (m40 n40 k40: tiles 65,
/// matrixmultiply 69 GFLOP/s, single thread).
const TILES_MIN_MACS: usize = 1 << 17;

/// The implementation [`sgemm`] picks for a product: the tiles on the AVX-512 ISA (with `A`
/// and `B` packed, they measured 10-28% faster than matrixmultiply on every training product:
/// m1024 n1024 k3200 Aᵀ 244 vs 210 GFLOP/s, m3200 n1024 k1024 192 vs 154, m4096 n1024 k800 Aᵀ
/// 200 vs 156; 2 threads, best of 12 alternating rounds; single-threaded they tie), except for
/// small products, matrixmultiply otherwise. Depends on the shape and the ISA only, never on the
/// thread count (so results do not either).
pub(crate) fn path(m: usize, n: usize, k: usize) -> Path {
    let macs = m.saturating_mul(n).saturating_mul(k);
    if crate::simd::isa() == crate::simd::Isa::Avx512 && macs >= TILES_MIN_MACS {
        Path::Tiles
    } else {
        Path::Matrixmultiply
    }
}

/// `C = beta * C + op(A) · op(B)`; `C` is `m × n` row-major with leading dimension `ldc`.
///
/// Sizes must be non-zero and every view must fit its buffer (checked; a violation is a bug
/// in the caller and panics). With `beta == 0`, `C` is not read (NaN there does not leak).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(m: usize, n: usize, k: usize, a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32], ldc: usize) {
    sgemm_on(path(m, n, k), m, n, k, a, b, beta, c, ldc)
}

/// `C_j = beta * C_j + op(A) · op(B_j)` for two outputs `(n_j, B_j, C_j, ldc_j)` with the same
/// `op(A)` (`m × k`): on the tiles one product with `A` packed once
/// ([`blocked::sgemm_pair`]), otherwise two [`sgemm`] calls; the same bits either way as two
/// [`sgemm`] calls.
pub(crate) fn sgemm_pair(m: usize, k: usize, a: Mat<'_>, beta: f32, p: [blocked::Part<'_, '_>; 2]) {
    if p.iter().all(|p| path(m, p.n, k) == Path::Tiles) {
        for p in &p {
            check(m, p.n, k, a, p.b, p.c, p.ldc);
        }
        blocked::sgemm_pair(m, k, a, beta, p);
    } else {
        for q in p {
            sgemm(m, q.n, k, a, q.b, beta, q.c, q.ldc);
        }
    }
}

/// Checks the sizes (non-zero) and that every view fits its buffer (a violation is a bug in
/// the caller: panics); the row and column strides of `op(A)` and `op(B)`.
fn check(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: &[f32],
    ldc: usize,
) -> ((isize, isize), (isize, isize)) {
    assert!(m > 0 && n > 0 && k > 0, "gemm: empty product");
    let sa = a.strides(m, k);
    let sb = b.strides(k, n);
    assert!(ldc >= n && (m - 1) * ldc + n <= c.len(), "gemm: C too short");
    (sa, sb)
}

/// [`sgemm`] on the given implementation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_on(
    path: Path,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    let ((rsa, csa), (rsb, csb)) = check(m, n, k, a, b, c, ldc);
    if path == Path::Tiles {
        blocked::sgemm(m, n, k, a, b, beta, c, ldc);
        return;
    }
    let threads = rayon::current_num_threads();
    let macs = m.saturating_mul(n).saturating_mul(k);
    // SAFETY: `c` is exclusively borrowed for this call; the blocks below are disjoint.
    let cp = unsafe { SyncMutPtr::new(c.as_mut_ptr()) };
    let (ap, bp) = (a.data.as_ptr() as usize, b.data.as_ptr() as usize);
    let run = |r0: usize, r1: usize, c0: usize, c1: usize| {
        // SAFETY: the views were bounds-checked above for the whole product, and
        // [r0, r1) × [c0, c1) lies inside it; blocks given to different threads are disjoint.
        unsafe {
            matrixmultiply::sgemm(
                r1 - r0,
                k,
                c1 - c0,
                1.0,
                (ap as *const f32).offset(r0 as isize * rsa),
                rsa,
                csa,
                (bp as *const f32).offset(c0 as isize * csb),
                rsb,
                csb,
                beta,
                cp.get().add(r0 * ldc + c0),
                ldc as isize,
                1,
            )
        }
    };
    if threads <= 1 || macs < PAR_MIN_MACS {
        run(0, m, 0, n);
        return;
    }
    if m >= threads * 4 * ROW_ALIGN {
        let blocks = split(m, threads, ROW_ALIGN);
        rayon::scope(|s| {
            for w in blocks.windows(2) {
                let (r0, r1) = (w[0], w[1]);
                s.spawn(move |_| {
                    let _ftz = crate::simd::ftz::FlushDenormals::new();
                    run(r0, r1, 0, n)
                });
            }
        });
    } else {
        let blocks = split(n, threads, COL_ALIGN);
        rayon::scope(|s| {
            for w in blocks.windows(2) {
                let (c0, c1) = (w[0], w[1]);
                s.spawn(move |_| {
                    let _ftz = crate::simd::ftz::FlushDenormals::new();
                    run(0, m, c0, c1)
                });
            }
        });
    }
}

/// Boundaries splitting `0..len` into at most `parts` blocks whose inner edges are multiples
/// of `align`.
pub(crate) fn split(len: usize, parts: usize, align: usize) -> Vec<usize> {
    let units = len.div_ceil(align);
    let parts = parts.clamp(1, units.max(1));
    let mut b: Vec<usize> = (0..=parts).map(|p| (units * p / parts * align).min(len)).collect();
    b.dedup();
    b
}

/// Adds (or writes, when `accumulate` is false) the column sums of the `rows × cols` row-major
/// `a` into `out`. Each column is summed from row 0 down on one thread, so the result does not
/// depend on the thread count.
pub(crate) fn column_sums(a: &[f32], rows: usize, cols: usize, out: &mut [f32], accumulate: bool) {
    use rayon::prelude::*;
    assert!(a.len() >= rows * cols && out.len() == cols);
    let chunk = COL_ALIGN.max(cols.div_ceil(rayon::current_num_threads()));
    let work = |(ci, o): (usize, &mut [f32])| {
        let _ftz = crate::simd::ftz::FlushDenormals::new();
        let c0 = ci * chunk;
        let mut acc: Vec<f32> = if accumulate { o.to_vec() } else { vec![0.0; o.len()] };
        for r in 0..rows {
            let row = &a[r * cols + c0..][..o.len()];
            for (s, v) in acc.iter_mut().zip(row) {
                *s += v;
            }
        }
        o.copy_from_slice(&acc);
    };
    if rows * cols < PAR_MIN_MACS {
        out.chunks_mut(chunk).enumerate().for_each(work);
    } else {
        out.par_chunks_mut(chunk).enumerate().for_each(work);
    }
}

#[cfg(test)]
mod tests;
