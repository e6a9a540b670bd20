//! [`Pair`]: two vectors of an ISA side by side, the 16-lane vector of the ISAs whose registers
//! hold 8 (see [`super::Widen`]). Every operation runs on each half, so results are bitwise
//! those of the halves.

use super::Vf32;

/// `V`'s lanes, then `V`'s lanes again (`lo` first).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair<V>(pub V, pub V);

impl<V: Vf32> std::ops::Add for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Pair(self.0 + o.0, self.1 + o.1)
    }
}
impl<V: Vf32> std::ops::Sub for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Pair(self.0 - o.0, self.1 - o.1)
    }
}
impl<V: Vf32> std::ops::Mul for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Pair(self.0 * o.0, self.1 * o.1)
    }
}
impl<V: Vf32> std::ops::Div for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        Pair(self.0 / o.0, self.1 / o.1)
    }
}
impl<V: Vf32> std::ops::Neg for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Pair(-self.0, -self.1)
    }
}

/// Applies a method of `V` to both halves.
macro_rules! halves {
    ($self:ident . $m:ident ( $($o:ident),* )) => {
        Pair($self.0.$m($($o.0),*), $self.1.$m($($o.1),*))
    };
}

impl<V: Vf32> Vf32 for Pair<V> {
    const LANES: usize = 2 * V::LANES;

    /// Never called: the paired vector serves element-wise code only.
    fn tile<const MR: usize, const G: usize, const AT: bool>(
        _k: usize,
        _a: &[f32],
        _lda: usize,
        _panel: &[f32],
    ) -> [[Self; G]; MR] {
        unreachable!("the register tiles run on single vectors")
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Pair(V::splat(v), V::splat(v))
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        Pair(V::load(s), V::load(&s[V::LANES..]))
    }
    #[inline(always)]
    fn store(self, d: &mut [f32]) {
        self.0.store(d);
        self.1.store(&mut d[V::LANES..]);
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const f32) -> Self {
        // SAFETY: the caller guarantees `2 * V::LANES` readable elements.
        unsafe { Pair(V::load_ptr(p), V::load_ptr(p.add(V::LANES))) }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, p: *mut f32) {
        // SAFETY: the caller guarantees `2 * V::LANES` writable elements.
        unsafe {
            self.0.store_ptr(p);
            self.1.store_ptr(p.add(V::LANES));
        }
    }
    #[inline(always)]
    fn load_part(s: &[f32]) -> Self {
        let (lo, hi) = s.split_at(s.len().min(V::LANES));
        Pair(V::load_part(lo), V::load_part(hi))
    }
    #[inline(always)]
    fn store_part(self, d: &mut [f32]) {
        let n = d.len().min(V::LANES);
        let (lo, hi) = d.split_at_mut(n);
        self.0.store_part(lo);
        self.1.store_part(hi);
    }
    #[inline(always)]
    fn vadd(self, o: Self) -> Self {
        halves!(self.vadd(o))
    }
    #[inline(always)]
    fn vsub(self, o: Self) -> Self {
        halves!(self.vsub(o))
    }
    #[inline(always)]
    fn vmul(self, o: Self) -> Self {
        halves!(self.vmul(o))
    }
    #[inline(always)]
    fn vdiv(self, o: Self) -> Self {
        halves!(self.vdiv(o))
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        halves!(self.mul_add(b, c))
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        halves!(self.max(o))
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        halves!(self.min(o))
    }
    #[inline(always)]
    fn round(self) -> Self {
        halves!(self.round())
    }
    #[inline(always)]
    fn pow2i(n: Self) -> Self {
        Pair(V::pow2i(n.0), V::pow2i(n.1))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        halves!(self.abs())
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        halves!(self.copysign(sign))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self {
        halves!(self.lt(o))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self {
        halves!(self.gt(o))
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        halves!(self.is_nan())
    }
    #[inline(always)]
    fn select(mask: Self, a: Self, b: Self) -> Self {
        Pair(V::select(mask.0, a.0, b.0), V::select(mask.1, a.1, b.1))
    }
}
