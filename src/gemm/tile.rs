//! The register tile: `MR` rows of `A` times one packed panel, `G` vectors per row.

use super::pack::UNITS;
use crate::simd::Vf32;

/// `acc[r][g] = Σ_kk A[r, kk] · panel[kk, g, 0..8]` for `r < MR`, where row `r` of `A` is
/// `a[r * lda ..][.. k]`. All accumulators live in registers (`MR * G <= 12` on 256-bit
/// tiles; see `simd::avx512::tile` for the 512-bit one).
///
/// Each ISA compiles this into a function of its own ([`Vf32::tile`]): kept apart from the
/// epilogue and the loops around it, the compiler keeps every accumulator in a register
/// (inlined into the large kernels, it spilled some and lost up to a third of the speed).
#[inline(always)]
pub(crate) fn tile<V: Vf32, const MR: usize, const G: usize>(
    k: usize,
    a: &[f32],
    lda: usize,
    panel: &[f32],
) -> [[V; G]; MR] {
    V::tile::<MR, G, false>(k, a, lda, panel)
}

/// As [`tile`] with `A` read column-major: `A[r, kk] = a[kk * lda + r]` (the transpose of a
/// row-major buffer, or a k-major packed micro-panel with `lda = MR`), so the `MR` values of
/// one `k` step are contiguous. Same FMAs in the same order, so bitwise the same result as
/// [`tile`] on the same values.
#[inline(always)]
pub(crate) fn tile_at<V: Vf32, const MR: usize, const G: usize>(
    k: usize,
    a: &[f32],
    lda: usize,
    panel: &[f32],
) -> [[V; G]; MR] {
    V::tile::<MR, G, true>(k, a, lda, panel)
}

/// One past the last element of `a` an `MR x k` tile reads (row-major, or with `AT`
/// column-major, leading dimension `lda`); `MR` and `k` are non-zero.
#[inline(always)]
pub(crate) const fn a_extent<const AT: bool>(mr: usize, k: usize, lda: usize) -> usize {
    if AT {
        (k - 1) * lda + mr
    } else {
        (mr - 1) * lda + k
    }
}

/// Panel rows the tile kernels prefetch ahead of the row they multiply (2 KiB for the LSTM):
/// enough to cover L2 latency, and it carries the stream across 4 KiB page boundaries, where
/// the hardware prefetchers stop.
pub(crate) const PF_ROWS: usize = 16;

/// Cache lines (64 bytes) of one panel row of `G` vectors: what the tiles prefetch per row.
pub(crate) const fn pf_lines<const G: usize>() -> usize {
    (G * UNITS * 4).div_ceil(64)
}

/// The body of [`tile`] (and with `AT` of [`tile_at`]), for [`Vf32::tile`] to instantiate.
#[inline(always)]
pub(crate) fn tile_body<V: Vf32, const MR: usize, const G: usize, const AT: bool>(
    k: usize,
    a: &[f32],
    lda: usize,
    panel: &[f32],
) -> [[V; G]; MR] {
    assert!(MR == 0 || k == 0 || a_extent::<AT>(MR, k, lda) <= a.len());
    // Where A[r, kk] is.
    let at = |r: usize, kk: usize| if AT { kk * lda + r } else { r * lda + kk };
    assert!(panel.len() >= k * G * UNITS);
    let mut acc = [[V::splat(0.0); G]; MR];
    // Loop over k: one row of the panel (G vectors) against one column of A (MR broadcasts).
    // The operand with fewer vectors is held in registers for the whole k step and the other
    // is loaded one vector at a time, so `MR * G + min(MR, G) + 1 <= 16` registers suffice
    // (LSTM: 3 x 4 tile, 12 + 3 + 1) and nothing spills. Every accumulator sees the same FMAs
    // in the same k order either way, so the result is bitwise the same.
    let pf = |kk: usize| {
        // The panel PF_ROWS rows ahead (wrapping: past the end it is only a hint).
        let ahead = panel.as_ptr().wrapping_add((kk + PF_ROWS) * G * UNITS);
        for line in 0..pf_lines::<G>() {
            V::prefetch(ahead.wrapping_add(line * 16));
        }
    };
    if MR < G {
        for kk in 0..k {
            pf(kk);
            let mut av = [V::splat(0.0); MR];
            for (r, a_r) in av.iter_mut().enumerate() {
                // SAFETY: r < MR and kk < k, inside `a` (checked above).
                *a_r = V::splat(unsafe { *a.as_ptr().add(at(r, kk)) });
            }
            for g in 0..G {
                // SAFETY: kk < k and g < G, so the 8 lanes lie inside `panel` (checked above).
                let b = unsafe { V::load_ptr(panel.as_ptr().add((kk * G + g) * UNITS)) };
                for (acc_r, a_r) in acc.iter_mut().zip(&av) {
                    acc_r[g] = a_r.mul_add(b, acc_r[g]);
                }
            }
        }
    } else {
        for kk in 0..k {
            pf(kk);
            let mut b = [V::splat(0.0); G];
            for (g, bv) in b.iter_mut().enumerate() {
                // SAFETY: kk < k and g < G, so the 8 lanes lie inside `panel` (checked above).
                *bv = unsafe { V::load_ptr(panel.as_ptr().add((kk * G + g) * UNITS)) };
            }
            for (r, acc_r) in acc.iter_mut().enumerate() {
                // SAFETY: r < MR and kk < k, inside `a` (checked above).
                let av = V::splat(unsafe { *a.as_ptr().add(at(r, kk)) });
                for g in 0..G {
                    acc_r[g] = av.mul_add(b[g], acc_r[g]);
                }
            }
        }
    }
    acc
}

/// Runs `rows::<V, MR>(r0)` over `0..n` in chunks of `MR`, then the remainder with smaller tiles.
macro_rules! row_blocks {
    ($n:expr, $mr:literal, |$m:ident, $r0:ident| $body:expr) => {{
        let n = $n;
        let mut $r0 = 0;
        while n - $r0 >= $mr {
            {
                const $m: usize = $mr;
                $body;
            }
            $r0 += $mr;
        }
        let rest = n - $r0;
        $crate::gemm::tile::rest_rows!(rest, |$m| $body);
    }};
}

/// Runs `body` over `0..n` in row tiles: of `$narrow` rows (and a smaller remainder) for an
/// ISA with the 256-bit tile, or for the 512-bit one ([`crate::simd::Vf32::ZMM_TILE`]) in
/// tiles of at most `$wide` rows (at most 16) made as even as possible (64 rows in tiles of
/// 14: 13, 13, 13, 13, 12), so no thin last tile wastes the wide registers.
macro_rules! tile_rows {
    ($v:ty, $n:expr, $narrow:literal, $wide:literal, |$m:ident, $r0:ident| $body:expr) => {{
        if <$v as $crate::simd::Vf32>::ZMM_TILE {
            let n: usize = $n;
            let tiles = n.div_ceil($wide);
            let mut $r0 = 0;
            for t in 0..tiles {
                let rows = (n - $r0).div_ceil(tiles - t);
                $crate::gemm::tile::wide_rows!(rows, |$m| $body);
                $r0 += rows;
            }
        } else {
            $crate::gemm::tile::row_blocks!($n, $narrow, |$m, $r0| $body);
        }
    }};
}

/// Dispatches a tile height `1..=16` to a const.
macro_rules! wide_rows {
    ($rows:expr, |$m:ident| $body:expr) => {
        match $rows {
            8 => {
                const $m: usize = 8;
                $body
            }
            9 => {
                const $m: usize = 9;
                $body
            }
            10 => {
                const $m: usize = 10;
                $body
            }
            11 => {
                const $m: usize = 11;
                $body
            }
            12 => {
                const $m: usize = 12;
                $body
            }
            13 => {
                const $m: usize = 13;
                $body
            }
            14 => {
                const $m: usize = 14;
                $body
            }
            15 => {
                const $m: usize = 15;
                $body
            }
            16 => {
                const $m: usize = 16;
                $body
            }
            rest => $crate::gemm::tile::rest_rows!(rest, |$m| $body),
        }
    };
}

/// Dispatches a remainder `rest < MR` to a const tile height.
macro_rules! rest_rows {
    ($rest:expr, |$m:ident| $body:expr) => {
        match $rest {
            0 => {}
            1 => {
                const $m: usize = 1;
                $body
            }
            2 => {
                const $m: usize = 2;
                $body
            }
            3 => {
                const $m: usize = 3;
                $body
            }
            4 => {
                const $m: usize = 4;
                $body
            }
            5 => {
                const $m: usize = 5;
                $body
            }
            6 => {
                const $m: usize = 6;
                $body
            }
            7 => {
                const $m: usize = 7;
                $body
            }
            _ => unreachable!("tile heights are at most 8"),
        }
    };
}
pub(crate) use rest_rows;
pub(crate) use row_blocks;
pub(crate) use tile_rows;
pub(crate) use wide_rows;
