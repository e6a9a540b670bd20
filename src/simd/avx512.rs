//! The GEMM register tile on AVX-512F, for [`super::avx2::Avx512`].
//!
//! [`tile`] computes exactly what `gemm::tile::tile_body` computes — `MR` rows of `A` times
//! one gate-interleaved packed panel, one fused multiply-add per element and `k`, in `k`
//! order — but holds two 8-unit gate vectors of a panel row in one 512-bit register, and has
//! 32 registers to keep accumulators in, so its tiles are taller (up to 14 rows for the
//! LSTM's 4 gates instead of 3). The output is handed back as 8-lane halves, gate by gate,
//! for the element-wise code of the cells.

use std::arch::x86_64::*;

use super::avx2::Avx;
use crate::gemm::pack::UNITS;
use crate::gemm::tile::{pf_lines, PF_ROWS};

/// `acc[r][g] = Σ_kk A[r, kk] · panel[kk, g, 0..8]` for `r < MR`, `g < G <= 8`, row `r` of `A`
/// being `a[r * lda ..][.. k]`, or with `AT` (`A` read column-major, as the transpose of a
/// row-major buffer) `A[r, kk] = a[kk * lda + r]`.
///
/// Registers: `MR * (G/2 + G%2)` accumulators, `G/2 + G%2` panel vectors and one broadcast,
/// at most 32 (`MR <= 6` for `G` 7 or 8, `MR <= 9` for `G` 5 or 6, `MR <= 14` for `G` 3 or
/// 4; checked).
///
/// # Safety
/// The CPU has AVX-512F, AVX-512VL, AVX2 and FMA.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
pub(super) unsafe fn tile<const MR: usize, const G: usize, const AT: bool, const Z: bool>(
    k: usize,
    a: &[f32],
    lda: usize,
    panel: &[f32],
) -> [[Avx<Z>; G]; MR] {
    // Pairs of gates per panel row (one zmm each) and whether one 8-lane gate is left over.
    let pairs = G / 2;
    let odd = G % 2 == 1;
    assert!(G <= 8 && MR * (pairs + odd as usize) + pairs + 2 <= 32);
    assert!(MR == 0 || k == 0 || crate::gemm::tile::a_extent::<AT>(MR, k, lda) <= a.len());
    assert!(panel.len() >= k * G * UNITS);
    let (ap, pp) = (a.as_ptr(), panel.as_ptr());
    let mut acc = [[_mm512_setzero_ps(); 4]; MR];
    let mut acc_odd = [_mm256_setzero_ps(); MR];
    // Loop over k: one panel row (G * 8 floats) in registers, one broadcast of A per row.
    for kk in 0..k {
        // SAFETY: kk < k, so the row's G * 8 floats lie inside `panel` (checked above).
        let row = unsafe { pp.add(kk * G * UNITS) };
        // Prefetch the panel PF_ROWS rows ahead (a hint: never faults, even past the end);
        // not for one row, whose k steps come fast enough for the hardware prefetchers and
        // whose prefetches took L1 fill slots from its loads (in-process A/B, 2 threads:
        // 0.92-0.96x the time of `gru-infer-1x256` and `lstm-infer-1x256`, 0.95-1.03x at
        // batch 1 with H = 512 and 1024; keeping them for the 4-row tiles of
        // `lstm-infer-4x1024`, 0.96-0.98x against none).
        if MR > 1 {
            let ahead = row.wrapping_add(PF_ROWS * G * UNITS) as *const i8;
            for line in 0..pf_lines::<G>() {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line));
            }
        }
        let mut b = [_mm512_setzero_ps(); 4];
        for (j, bj) in b.iter_mut().enumerate().take(pairs) {
            // SAFETY: floats 16j..16j+16 < G * 8 of the row.
            *bj = unsafe { _mm512_loadu_ps(row.add(2 * UNITS * j)) };
        }
        let b_odd = if odd {
            // SAFETY: the last 8 floats of the row.
            unsafe { _mm256_loadu_ps(row.add(2 * UNITS * pairs)) }
        } else {
            _mm256_setzero_ps()
        };
        for r in 0..MR {
            let at = if AT { kk * lda + r } else { r * lda + kk };
            // SAFETY: r < MR and kk < k, inside `a` (checked above).
            let av = _mm512_set1_ps(unsafe { *ap.add(at) });
            for j in 0..pairs {
                acc[r][j] = _mm512_fmadd_ps(av, b[j], acc[r][j]);
            }
            if odd {
                acc_odd[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(av), b_odd, acc_odd[r]);
            }
        }
    }
    // Handed back as the 8-lane vector type itself (`Z` is the caller's; a conversion of the
    // whole array afterwards was compiled as an out-of-line copy).
    let mut out = [[Avx::<Z>(_mm256_setzero_ps()); G]; MR];
    for (o, (z, y)) in out.iter_mut().zip(acc.iter().zip(acc_odd)) {
        for j in 0..pairs {
            o[2 * j] = Avx(_mm512_castps512_ps256(z[j]));
            o[2 * j + 1] = Avx(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(z[j]))));
        }
        if odd {
            o[G - 1] = Avx(y);
        }
    }
    out
}
