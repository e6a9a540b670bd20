use super::*;
use crate::simd::{every_isa, Widen};

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

/// `f(x) = x·x + x / (x + 1)`: the arithmetic the functions above do not all reach.
fn arith<V: Vf32>(x: V) -> V {
    x.mul_add(x, x / (x + V::splat(1.0)))
        .max(V::splat(-3.0))
        .min(V::splat(1e30))
}

/// `f` on 16-lane vectors, bitwise against `g` on each 8-lane half.
fn same_as_halves<V: Widen>(isa: &str, name: &str, f: fn(V::Wide) -> V::Wide, g: fn(V) -> V, xs: &[f32]) {
    for c in xs.chunks_exact(16) {
        let mut wide = [0.0f32; 16];
        f(V::Wide::load(c)).store(&mut wide);
        let mut halves = [0.0f32; 16];
        g(V::load(&c[..8])).store(&mut halves[..8]);
        g(V::load(&c[8..])).store(&mut halves[8..]);
        for l in 0..16 {
            assert_eq!(wide[l].to_bits(), halves[l].to_bits(), "{isa} {name}({})", c[l]);
        }
    }
}

/// The 16-lane vector of every ISA ([`Widen::Wide`]) computes what its two halves compute,
/// bit for bit, specials and denormals included, and its partial loads and stores touch
/// exactly the lanes asked for.
fn wide_matches<V: Widen>(isa: &str) {
    let mut xs: Vec<f32> = grid().step_by(7).collect();
    xs.extend([
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        1e-39,
        -1e-39,
        f32::MAX,
        f32::MIN,
    ]);
    xs.extend([f32::MIN_POSITIVE, 88.5, -88.5, -87.1, 87.4, 0.625, -0.624_999, 44.0]);
    xs.resize(xs.len().next_multiple_of(16), 0.5);
    same_as_halves::<V>(isa, "sigmoid", sigmoid, sigmoid, &xs);
    same_as_halves::<V>(isa, "tanh", tanh, tanh, &xs);
    same_as_halves::<V>(isa, "exp", exp, exp, &xs);
    same_as_halves::<V>(isa, "relu", relu, relu, &xs);
    same_as_halves::<V>(isa, "arith", arith, arith, &xs);
    let src: Vec<f32> = (1..=16).map(|i| i as f32).collect();
    for len in 0..=16 {
        let mut out = [f32::NAN; 16];
        (V::Wide::load_part(&src[..len]) + V::Wide::splat(1.0)).store_part(&mut out[..len]);
        for (l, o) in out.iter().enumerate() {
            if l < len {
                assert_eq!(*o, src[l] + 1.0, "{isa}: load_part/store_part({len}) lane {l}");
            } else {
                assert!(o.is_nan(), "{isa}: store_part({len}) wrote lane {l}");
            }
        }
    }
}

#[test]
fn wide_vectors_match_their_halves() {
    every_isa!(wide_matches);
}

fn transposes<V: Vf32>(isa: &str) {
    let rows: [V; 8] = std::array::from_fn(|r| V::load(&std::array::from_fn::<f32, 8, _>(|c| (10 * r + c) as f32)));
    for (c, col) in V::transpose8(rows).into_iter().enumerate() {
        let mut out = [0.0f32; 8];
        col.store(&mut out);
        assert_eq!(out, std::array::from_fn(|r| (10 * r + c) as f32), "{isa}: column {c}");
    }
}

#[test]
fn transpose8_every_isa() {
    every_isa!(transposes);
}
