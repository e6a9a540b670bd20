//! [`Vf32`] on AVX2 + FMA `__m256`, for two ISAs: [`Avx2`], and [`Avx512`], the same 8-lane
//! element-wise code whose GEMM register tile runs on 512-bit registers (`super::avx512`).
//!
//! Every method is `#[inline(always)]` so it compiles into the `#[target_feature]` kernel that
//! calls it; it must never run on a CPU without the ISA's features (the dispatch in
//! [`super::isa`] guarantees it).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::Vf32;

#[cfg(target_arch = "x86_64")]
super::vf32_ops!(generic Avx);

/// Eight `f32` lanes in one AVX register. `ZMM` selects the register tile: 256-bit (AVX2 +
/// FMA) or 512-bit (AVX-512F); everything else is the same code.
#[derive(Clone, Copy, Debug)]
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx<const ZMM: bool>(pub(super) __m256);

/// The AVX2 + FMA vector.
#[cfg(target_arch = "x86_64")]
pub(crate) type Avx2 = Avx<false>;
/// The vector of the AVX-512 ISA (8 lanes, 512-bit register tile).
#[cfg(target_arch = "x86_64")]
pub(crate) type Avx512 = Avx<true>;

// SAFETY (for every `unsafe` block below): the intrinsics need AVX/AVX2/FMA, which the CPU has
// whenever this type is used (module doc); pointer arguments are checked or documented.
#[cfg(target_arch = "x86_64")]
impl<const ZMM: bool> Vf32 for Avx<ZMM> {
    const ZMM_TILE: bool = ZMM;

    #[inline(always)]
    fn tile<const MR: usize, const G: usize, const AT: bool>(
        k: usize,
        a: &[f32],
        lda: usize,
        panel: &[f32],
    ) -> [[Self; G]; MR] {
        if ZMM {
            // SAFETY: `Avx<true>` is used only on CPUs with AVX-512F (module doc).
            return unsafe { super::avx512::tile::<MR, G, AT, ZMM>(k, a, lda, panel) };
        }
        /// # Safety
        /// The CPU has AVX2 and FMA.
        #[inline(never)]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn out_of_line<const MR: usize, const G: usize, const AT: bool, const Z: bool>(
            k: usize,
            a: &[f32],
            lda: usize,
            panel: &[f32],
        ) -> [[Avx<Z>; G]; MR] {
            crate::gemm::tile::tile_body::<Avx<Z>, MR, G, AT>(k, a, lda, panel)
        }
        // SAFETY: code using `Avx` runs only on CPUs with AVX2 and FMA (module doc).
        unsafe { out_of_line::<MR, G, AT, ZMM>(k, a, lda, panel) }
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_set1_ps(v)) }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        assert!(s.len() >= 8);
        // SAFETY: 8 readable elements (checked); see the impl comment.
        unsafe { Self(_mm256_loadu_ps(s.as_ptr())) }
    }
    #[inline(always)]
    fn store(self, d: &mut [f32]) {
        assert!(d.len() >= 8);
        // SAFETY: 8 writable elements (checked); see the impl comment.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 8 readable elements.
        unsafe { Self(_mm256_loadu_ps(p)) }
    }
    #[inline(always)]
    fn transpose8(v: [Self; 8]) -> [Self; 8] {
        // SAFETY: see the impl comment. Pairs of rows interleaved, then pairs of pairs, then
        // the 128-bit halves exchanged.
        unsafe {
            let [r0, r1, r2, r3, r4, r5, r6, r7] = v.map(|x| x.0);
            let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
            let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
            let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
            let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
            let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
            let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
            let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
            [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ]
            .map(Self)
        }
    }
    #[inline(always)]
    fn prefetch(p: *const f32) {
        // SAFETY: a prefetch never dereferences or faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, p: *mut f32) {
        // SAFETY: the caller guarantees 8 writable elements.
        unsafe { _mm256_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    fn vadd(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_add_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn vsub(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_sub_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn vmul(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_mul_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn vdiv(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_div_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_fmadd_ps(self.0, b.0, c.0)) }
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_min_ps(self.0, o.0)) }
    }
    #[inline(always)]
    fn round(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            Self(_mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                self.0,
            ))
        }
    }
    #[inline(always)]
    fn pow2i(n: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let e = _mm256_add_epi32(_mm256_cvtps_epi32(n.0), _mm256_set1_epi32(127));
            Self(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(e)))
        }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0)) }
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm256_set1_ps(-0.0);
            Self(_mm256_or_ps(_mm256_andnot_ps(m, self.0), _mm256_and_ps(m, sign.0)))
        }
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_cmp_ps::<_CMP_LT_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_cmp_ps::<_CMP_GT_OQ>(self.0, o.0)) }
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_cmp_ps::<_CMP_UNORD_Q>(self.0, self.0)) }
    }
    #[inline(always)]
    fn select(mask: Self, a: Self, b: Self) -> Self {
        // SAFETY: see the impl comment.
        unsafe { Self(_mm256_blendv_ps(b.0, a.0, mask.0)) }
    }
}

#[cfg(target_arch = "x86_64")]
impl super::Widen for Avx2 {
    type Wide = super::pair::Pair<Self>;
    #[inline(always)]
    fn widen(lo: Self, hi: Self) -> Self::Wide {
        super::pair::Pair(lo, hi)
    }
}

#[cfg(target_arch = "x86_64")]
impl super::Widen for Avx512 {
    type Wide = super::zmm::Z16;
    #[inline(always)]
    fn widen(lo: Self, hi: Self) -> Self::Wide {
        // SAFETY: `Avx512` is used only on CPUs with AVX-512F (module doc).
        unsafe {
            let lo = _mm512_castps_pd(_mm512_castps256_ps512(lo.0));
            super::zmm::Z16(_mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, _mm256_castps_pd(hi.0))))
        }
    }
}
