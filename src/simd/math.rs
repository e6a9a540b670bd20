//! `exp`, `sigmoid`, `tanh` and `relu` written once over [`Vf32`].
//!
//! Error bounds (tested for every ISA against `f64` on a dense grid and at the edges):
//! `exp` relative error ≤ 2 ulp on [-87, 88]; `sigmoid` absolute error ≤ 1.5e-7;
//! `tanh` absolute error ≤ 2.5e-7 (relative ≤ 3 ulp for |x| < 0.625). All return NaN for
//! NaN; `sigmoid(+∞) = 1`, `sigmoid(x) = 0` exactly for x < -87 (no denormal results),
//! `tanh(±∞) = ±1`.
#![allow(clippy::excessive_precision)] // coefficients as published, more digits than f32 holds

use super::Vf32;

/// `e^x` for `x` already clamped to [-87.3, 88.0] (so the result is a normal number).
#[inline(always)]
fn exp_clamped<V: Vf32>(x: V) -> V {
    // x = n ln2 + r, |r| <= ln2/2; ln2 split so that n * ln2_hi is exact.
    let n = (x * V::splat(std::f32::consts::LOG2_E)).round();
    let r = n.mul_add(V::splat(-0.693_359_4), x);
    let r = n.mul_add(V::splat(2.121_944_4e-4), r);
    // e^r ≈ 1 + r + r² p(r) (Cephes expf coefficients).
    let mut p = V::splat(1.987_569_1e-4);
    p = p.mul_add(r, V::splat(1.398_2e-3));
    p = p.mul_add(r, V::splat(8.333_452e-3));
    p = p.mul_add(r, V::splat(4.166_579_6e-2));
    p = p.mul_add(r, V::splat(0.166_666_65));
    p = p.mul_add(r, V::splat(0.5));
    let er = p.mul_add(r * r, r) + V::splat(1.0);
    er * V::pow2i(n)
}

/// `e^x`; NaN for NaN; inputs outside [-87.3, 88.0] are clamped.
#[inline(always)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn exp<V: Vf32>(x: V) -> V {
    let e = exp_clamped(x.max(V::splat(-87.3)).min(V::splat(88.0)));
    V::select(x.is_nan(), x, e)
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid<V: Vf32>(x: V) -> V {
    let nx = -x;
    let e = exp_clamped(nx.max(V::splat(-87.3)).min(V::splat(88.0)));
    let s = V::splat(1.0) / (V::splat(1.0) + e);
    let s = V::select(x.lt(V::splat(-87.0)), V::splat(0.0), s);
    V::select(x.is_nan(), x, s)
}

/// Hyperbolic tangent.
#[inline(always)]
pub(crate) fn tanh<V: Vf32>(x: V) -> V {
    let a = x.abs();
    // |x| < 0.625: x + x³ q(x²) (Cephes tanhf coefficients).
    let z = x * x;
    let mut q = V::splat(-5.704_988_7e-3);
    q = q.mul_add(z, V::splat(2.063_908_9e-2));
    q = q.mul_add(z, V::splat(-5.373_971_6e-2));
    q = q.mul_add(z, V::splat(0.133_314_42));
    q = q.mul_add(z, V::splat(-0.333_332_82));
    let small = (q * z).mul_add(x, x);
    // Otherwise 1 - 2 / (e^{2|x|} + 1), sign restored.
    let e = exp_clamped((a + a).min(V::splat(88.0)));
    let big = V::splat(1.0) - V::splat(2.0) / (e + V::splat(1.0));
    let t = V::select(a.lt(V::splat(0.625)), small, big.copysign(x));
    V::select(x.is_nan(), x, t)
}

/// `max(x, 0)`, NaN propagating.
#[inline(always)]
pub(crate) fn relu<V: Vf32>(x: V) -> V {
    V::select(x.lt(V::splat(0.0)), V::splat(0.0), x)
}

#[cfg(test)]
mod tests;
