//! [`Z16`]: sixteen `f32` lanes in one 512-bit register, for the element-wise gate math of the
//! AVX-512 ISA where a tile's output holds two 8-unit runs of one gate side by side (see
//! `gemm::pack::sub_blocks`). Every operation is the lane-wise one of the 8-lane
//! [`super::avx2::Avx512`], so results are bitwise those of running it on each half.
//!
//! Every method is `#[inline(always)]` and must only run inside code compiled with
//! AVX-512F (the ISA dispatch guarantees it).

use std::arch::x86_64::*;

use super::Vf32;

super::vf32_ops!(Z16);

/// Sixteen `f32` lanes; masks are all-ones or all-zeros lanes, as for every [`Vf32`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Z16(pub(super) __m512);

/// The mask register of a mask vector.
#[inline(always)]
fn kmask(m: __m512) -> __mmask16 {
    // SAFETY: AVX-512F (module doc).
    unsafe { _mm512_test_epi32_mask(_mm512_castps_si512(m), _mm512_castps_si512(m)) }
}

/// A mask vector from a mask register.
#[inline(always)]
fn vmask(k: __mmask16) -> Z16 {
    // SAFETY: AVX-512F (module doc).
    unsafe { Z16(_mm512_castsi512_ps(_mm512_maskz_mov_epi32(k, _mm512_set1_epi32(-1)))) }
}

/// The mask of the first `len` lanes (`len <= 16`).
#[inline(always)]
fn first(len: usize) -> __mmask16 {
    debug_assert!(len <= 16);
    ((1u32 << len) - 1) as __mmask16
}

// SAFETY (for every `unsafe` block below): the intrinsics need AVX-512F, which the CPU has
// whenever this type is used (module doc); pointer arguments are checked or documented.
impl Vf32 for Z16 {
    const LANES: usize = 16;

    /// Never called: the 16-lane vector serves element-wise code only; the tiles run on the
    /// 8-lane type.
    fn tile<const MR: usize, const G: usize, const AT: bool>(
        _k: usize,
        _a: &[f32],
        _lda: usize,
        _panel: &[f32],
    ) -> [[Self; G]; MR] {
        unreachable!("the register tiles run on 8-lane vectors")
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_set1_ps(v)) }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        assert!(s.len() >= 16);
        // SAFETY: 16 readable elements (checked); see the impl comment.
        unsafe { Self(_mm512_loadu_ps(s.as_ptr())) }
    }
    #[inline(always)]
    fn store(self, d: &mut [f32]) {
        assert!(d.len() >= 16);
        // SAFETY: 16 writable elements (checked); see the impl comment.
        unsafe { _mm512_storeu_ps(d.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 16 readable elements.
        unsafe { Self(_mm512_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, p: *mut f32) {
        // SAFETY: the caller guarantees 16 writable elements.
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    fn load_part(s: &[f32]) -> Self {
        // SAFETY: a masked load touches only the first `min(16, len)` elements, all inside `s`.
        unsafe { Self(_mm512_maskz_loadu_ps(first(s.len().min(16)), s.as_ptr())) }
    }
    #[inline(always)]
    fn store_part(self, d: &mut [f32]) {
        // SAFETY: a masked store writes only the first `min(16, len)` elements, inside `d`.
        unsafe { _mm512_mask_storeu_ps(d.as_mut_ptr(), first(d.len().min(16)), self.0) }
    }
    #[inline(always)]
    fn vadd(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_add_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn vsub(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_sub_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn vmul(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_mul_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn vdiv(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_div_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_fmadd_ps(self.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        // SAFETY: see the impl comment. Like `vmaxps ymm`: the second operand for NaN.
        unsafe { Self(_mm512_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_min_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn round(self) -> Self {
        // SAFETY: see the impl comment. Scale 0, to nearest even, no exceptions: `vroundps`'s
        // rounding.
        unsafe { Self(_mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0)) }
    }
    #[inline(always)]
    fn pow2i(n: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let e = _mm512_add_epi32(_mm512_cvtps_epi32(n.0), _mm512_set1_epi32(127));
            Self(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(e)))
        }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let bits = _mm512_andnot_si512(_mm512_set1_epi32(i32::MIN), _mm512_castps_si512(self.0));
            Self(_mm512_castsi512_ps(bits))
        }
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm512_set1_epi32(i32::MIN);
            let mag = _mm512_andnot_si512(m, _mm512_castps_si512(self.0));
            let sgn = _mm512_and_si512(m, _mm512_castps_si512(sign.0));
            Self(_mm512_castsi512_ps(_mm512_or_si512(mag, sgn)))
        }
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        vmask(unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        vmask(unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        // SAFETY: see the impl comment.
        vmask(unsafe { _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(self.0, self.0) })
    }
    #[inline(always)]
    fn select(mask: Self, a: Self, b: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm512_mask_blend_ps(kmask(mask.0), b.0, a.0)) }
    }
}
