#![allow(clippy::excessive_precision)] // coefficients as published, more digits than f32 holds
//! `f32x8` sigmoid, tanh and exp on `wide`, plus loads and stores that handle row tails.
//!
//! Error bounds (checked by the tests below against `f64` on a dense grid and at the edges):
//! `exp` relative error ≤ 2 ulp on [-87, 88]; `sigmoid` absolute error ≤ 1.5e-7;
//! `tanh` absolute error ≤ 2.5e-7 (relative ≤ 3 ulp below |x| < 0.625). All three return NaN
//! for NaN, `sigmoid(+∞) = 1`, `sigmoid(-∞) = 0` and `tanh(±∞) = ±1` exactly.

use wide::f32x8;

/// Lanes per vector.
pub(crate) const LANES: usize = 8;

/// Loads `min(8, s.len())` elements; missing lanes are 0.
#[inline(always)]
pub(crate) fn load(s: &[f32]) -> f32x8 {
    if s.len() >= LANES {
        let a: [f32; LANES] = s[..LANES].try_into().expect("8 lanes");
        f32x8::from(a)
    } else {
        let mut a = [0.0f32; LANES];
        a[..s.len()].copy_from_slice(s);
        f32x8::from(a)
    }
}

/// Stores the first `min(8, d.len())` lanes of `v`.
#[inline(always)]
pub(crate) fn store(v: f32x8, d: &mut [f32]) {
    let a = v.to_array();
    let n = d.len().min(LANES);
    d[..n].copy_from_slice(&a[..n]);
}

/// `e^x` for `x` already clamped to [-87.3, 88.0] (so the result is a normal number).
#[inline(always)]
fn exp_clamped(x: f32x8) -> f32x8 {
    // x = n ln2 + r with |r| <= ln2/2; ln2 split into a short high part and the rest, so
    // n * ln2_hi is exact.
    let n = (x * f32x8::splat(std::f32::consts::LOG2_E)).round();
    let r = x - n * f32x8::splat(0.693_359_4) - n * f32x8::splat(-2.121_944_4e-4);
    // e^r ≈ 1 + r + r² p(r), a degree-7 Taylor-like minimax fit on |r| <= ln2/2.
    let mut p = f32x8::splat(1.987_569_1e-4);
    p = p.mul_add(r, f32x8::splat(1.398_2e-3));
    p = p.mul_add(r, f32x8::splat(8.333_452e-3));
    p = p.mul_add(r, f32x8::splat(4.166_579_6e-2));
    p = p.mul_add(r, f32x8::splat(0.166_666_65));
    p = p.mul_add(r, f32x8::splat(0.5));
    let er = p.mul_add(r * r, r) + f32x8::ONE;
    // 2^n from the exponent bits; n is in [-126, 127] after the clamp.
    let bits = (n.round_int() + wide::i32x8::splat(127)) << 23;
    er * wide::bytemuck::cast::<wide::i32x8, f32x8>(bits)
}

/// `e^x`; NaN for NaN. Inputs outside [-87.3, 88.0] are clamped (results stay normal numbers).
#[inline(always)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn exp(x: f32x8) -> f32x8 {
    let e = exp_clamped(x.max(f32x8::splat(-87.3)).min(f32x8::splat(88.0)));
    x.is_nan().select(x, e)
}

/// `1 / (1 + e^-x)`; exactly 0 below -87 (no denormal results), NaN for NaN.
#[inline(always)]
pub(crate) fn sigmoid(x: f32x8) -> f32x8 {
    let e = exp_clamped((-x).max(f32x8::splat(-87.3)).min(f32x8::splat(88.0)));
    let s = f32x8::ONE / (f32x8::ONE + e);
    let s = x.simd_lt(f32x8::splat(-87.0)).select(f32x8::ZERO, s);
    x.is_nan().select(x, s)
}

/// Hyperbolic tangent; NaN for NaN, ±1 at ±∞.
#[inline(always)]
pub(crate) fn tanh(x: f32x8) -> f32x8 {
    let a = x.abs();
    // Small |x|: odd polynomial x + x³ q(x²) (Cephes tanhf coefficients).
    let z = x * x;
    let mut q = f32x8::splat(-5.704_988_7e-3);
    q = q.mul_add(z, f32x8::splat(2.063_908_9e-2));
    q = q.mul_add(z, f32x8::splat(-5.373_971_6e-2));
    q = q.mul_add(z, f32x8::splat(0.133_314_42));
    q = q.mul_add(z, f32x8::splat(-0.333_332_82));
    let small = (q * z).mul_add(x, x);
    // Large |x|: 1 - 2 / (e^{2|x|} + 1), sign restored.
    let e = exp_clamped((a + a).min(f32x8::splat(88.0)));
    let big = f32x8::ONE - f32x8::splat(2.0) / (e + f32x8::ONE);
    let big = x.is_sign_negative().select(-big, big);
    let t = a.simd_lt(f32x8::splat(0.625)).select(small, big);
    x.is_nan().select(x, t)
}

/// `max(x, 0)`, NaN propagating.
#[inline(always)]
pub(crate) fn relu(x: f32x8) -> f32x8 {
    x.simd_lt(f32x8::ZERO).select(f32x8::ZERO, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(f: fn(f32x8) -> f32x8, x: f32) -> f32 {
        f(f32x8::splat(x)).to_array()[0]
    }

    fn grid() -> impl Iterator<Item = f32> {
        (-200_000..=200_000)
            .map(|i| i as f32 * 1e-4)
            .chain((-900..=900).map(|i| i as f32 * 0.1))
            .chain([1e-30, -1e-30, 1e-8, -1e-8, 0.0, -0.0, 0.624_999, 0.625, -0.625])
    }

    #[test]
    fn sigmoid_error_bound() {
        let mut worst = 0f64;
        for x in grid() {
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            worst = worst.max((apply(sigmoid, x) as f64 - want).abs());
        }
        assert!(worst <= 1.5e-7, "sigmoid abs error {worst:e}");
    }

    #[test]
    fn tanh_error_bound() {
        let (mut worst_abs, mut worst_rel_small) = (0f64, 0f64);
        for x in grid() {
            let want = (x as f64).tanh();
            let err = (apply(tanh, x) as f64 - want).abs();
            worst_abs = worst_abs.max(err);
            if x.abs() < 0.625 && want != 0.0 {
                worst_rel_small = worst_rel_small.max(err / want.abs());
            }
        }
        assert!(worst_abs <= 2.5e-7, "tanh abs error {worst_abs:e}");
        assert!(
            worst_rel_small <= 3.0 * f32::EPSILON as f64,
            "tanh rel error {worst_rel_small:e}"
        );
    }

    #[test]
    fn exp_error_bound() {
        let mut worst = 0f64;
        for i in -8700..=8800 {
            let x = i as f32 * 0.01;
            let want = (x as f64).exp();
            worst = worst.max((apply(exp, x) as f64 - want).abs() / want);
        }
        assert!(worst <= 2.0 * f32::EPSILON as f64, "exp rel error {worst:e}");
    }

    #[test]
    fn special_values() {
        assert_eq!(apply(sigmoid, f32::INFINITY), 1.0);
        assert_eq!(apply(sigmoid, f32::NEG_INFINITY), 0.0);
        assert_eq!(apply(sigmoid, -100.0), 0.0);
        assert_eq!(apply(tanh, f32::INFINITY), 1.0);
        assert_eq!(apply(tanh, f32::NEG_INFINITY), -1.0);
        assert_eq!(apply(tanh, 0.0), 0.0);
        for f in [sigmoid, tanh, exp, relu] {
            assert!(apply(f, f32::NAN).is_nan());
        }
        assert_eq!(apply(relu, -3.0), 0.0);
        assert_eq!(apply(relu, 3.0), 3.0);
    }

    #[test]
    fn load_store_tails() {
        let src = [1.0, 2.0, 3.0];
        let v = load(&src);
        assert_eq!(v.to_array(), [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let mut dst = [9.0; 3];
        store(f32x8::splat(5.0), &mut dst);
        assert_eq!(dst, [5.0; 3]);
    }
}
