use super::*;
use crate::simd::{avx2::Avx2, avx2::Avx512, portable::Wide, Isa};

fn apply<V: Vf32>(f: fn(V) -> V, x: f32) -> f32 {
    let mut out = [0.0f32; 8];
    f(V::splat(x)).store(&mut out);
    out[0]
}

fn grid() -> impl Iterator<Item = f32> {
    (-200_000..=200_000)
        .map(|i| i as f32 * 1e-4)
        .chain((-900..=900).map(|i| i as f32 * 0.1))
        .chain([1e-30, -1e-30, 1e-8, -1e-8, 0.0, -0.0, 0.624_999, 0.625, -0.625])
}

/// Runs `check::<V>()` for every ISA this CPU has, saying loudly which it skips.
macro_rules! every_isa {
    ($check:ident) => {{
        $check::<Wide>("portable");
        if Isa::Avx2.available() {
            // SAFETY: AVX2 and FMA were detected just above.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2() {
                $check::<Avx2>("avx2")
            }
            unsafe { avx2() }
        } else {
            eprintln!("SKIPPED: avx2 variant of {} (CPU lacks AVX2/FMA)", stringify!($check));
        }
        if Isa::Avx512.available() {
            // SAFETY: AVX-512F/VL, AVX2 and FMA were detected just above.
            #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
            unsafe fn avx512() {
                $check::<Avx512>("avx512")
            }
            unsafe { avx512() }
        } else {
            eprintln!(
                "SKIPPED: avx512 variant of {} (CPU lacks AVX-512F/VL)",
                stringify!($check)
            );
        }
    }};
}

fn sigmoid_bound<V: Vf32>(isa: &str) {
    let mut worst = 0f64;
    for x in grid() {
        let want = 1.0 / (1.0 + (-(x as f64)).exp());
        worst = worst.max((apply::<V>(sigmoid, x) as f64 - want).abs());
    }
    assert!(worst <= 1.5e-7, "{isa}: sigmoid abs error {worst:e}");
}

fn tanh_bound<V: Vf32>(isa: &str) {
    let (mut worst_abs, mut worst_rel) = (0f64, 0f64);
    for x in grid() {
        let want = (x as f64).tanh();
        let err = (apply::<V>(tanh, x) as f64 - want).abs();
        worst_abs = worst_abs.max(err);
        if x.abs() < 0.625 && want != 0.0 {
            worst_rel = worst_rel.max(err / want.abs());
        }
    }
    assert!(worst_abs <= 2.5e-7, "{isa}: tanh abs error {worst_abs:e}");
    assert!(
        worst_rel <= 3.0 * f32::EPSILON as f64,
        "{isa}: tanh rel error {worst_rel:e}"
    );
}

fn exp_bound<V: Vf32>(isa: &str) {
    let mut worst = 0f64;
    for i in -8700..=8800 {
        let x = i as f32 * 0.01;
        let want = (x as f64).exp();
        worst = worst.max((apply::<V>(exp, x) as f64 - want).abs() / want);
    }
    assert!(worst <= 2.0 * f32::EPSILON as f64, "{isa}: exp rel error {worst:e}");
}

fn specials<V: Vf32>(isa: &str) {
    assert_eq!(apply::<V>(sigmoid, f32::INFINITY), 1.0, "{isa}");
    assert_eq!(apply::<V>(sigmoid, f32::NEG_INFINITY), 0.0, "{isa}");
    assert_eq!(apply::<V>(sigmoid, -100.0), 0.0, "{isa}");
    assert_eq!(apply::<V>(tanh, f32::INFINITY), 1.0, "{isa}");
    assert_eq!(apply::<V>(tanh, f32::NEG_INFINITY), -1.0, "{isa}");
    assert_eq!(apply::<V>(tanh, 0.0), 0.0, "{isa}");
    for f in [sigmoid::<V>, tanh::<V>, exp::<V>, relu::<V>] {
        assert!(apply::<V>(f, f32::NAN).is_nan(), "{isa}: NaN not propagated");
    }
    assert_eq!(apply::<V>(relu, -3.0), 0.0, "{isa}");
    assert_eq!(apply::<V>(relu, 3.0), 3.0, "{isa}");
    let mut part = [9.0f32; 3];
    (V::load_part(&[1.0, 2.0, 3.0]) * V::splat(2.0)).store_part(&mut part);
    assert_eq!(part, [2.0, 4.0, 6.0], "{isa}");
}

#[test]
fn sigmoid_error_bound() {
    every_isa!(sigmoid_bound);
}
#[test]
fn tanh_error_bound() {
    every_isa!(tanh_bound);
}
#[test]
fn exp_error_bound() {
    every_isa!(exp_bound);
}
#[test]
fn special_values() {
    every_isa!(specials);
}
