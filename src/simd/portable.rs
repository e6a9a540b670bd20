//! [`Vf32`] on `wide::f32x8`, the fallback every machine runs.

use super::Vf32;
use wide::{f32x8, i32x8};

super::vf32_ops!(Wide);

/// Eight `f32` lanes as `wide` lays them out for the compile-time target.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wide(f32x8);

impl Vf32 for Wide {
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self(f32x8::splat(v))
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        let a: [f32; 8] = s[..8].try_into().expect("8 lanes");
        Self(f32x8::from(a))
    }
    #[inline(always)]
    fn store(self, d: &mut [f32]) {
        d[..8].copy_from_slice(&self.0.to_array());
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 8 readable elements.
        unsafe { Self(f32x8::from(p.cast::<[f32; 8]>().read_unaligned())) }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, p: *mut f32) {
        // SAFETY: the caller guarantees 8 writable elements.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(self.0.to_array()) }
    }
    #[inline(always)]
    fn vadd(self, o: Self) -> Self {
        Self(self.0 + o.0)
    }
    #[inline(always)]
    fn vsub(self, o: Self) -> Self {
        Self(self.0 - o.0)
    }
    #[inline(always)]
    fn vmul(self, o: Self) -> Self {
        Self(self.0 * o.0)
    }
    #[inline(always)]
    fn vdiv(self, o: Self) -> Self {
        Self(self.0 / o.0)
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Self(self.0.mul_add(b.0, c.0))
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        Self(self.0.fast_max(o.0))
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        Self(self.0.fast_min(o.0))
    }
    #[inline(always)]
    fn round(self) -> Self {
        Self(self.0.round())
    }
    #[inline(always)]
    fn pow2i(n: Self) -> Self {
        let e = (n.0.round_int() + i32x8::splat(127)) << 23;
        Self(wide::bytemuck::cast::<i32x8, f32x8>(e))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Self(self.0.abs())
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        let m = f32x8::splat(-0.0);
        Self((self.0 & !m) | (sign.0 & m))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        Self(self.0.simd_lt(o.0))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        Self(self.0.simd_gt(o.0))
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        Self(self.0.is_nan())
    }
    #[inline(always)]
    fn select(mask: Self, a: Self, b: Self) -> Self {
        Self(mask.0.select(a.0, b.0))
    }
}

impl super::Widen for Wide {
    type Wide = super::pair::Pair<Self>;
    #[inline(always)]
    fn widen(lo: Self, hi: Self) -> Self::Wide {
        super::pair::Pair(lo, hi)
    }
}
