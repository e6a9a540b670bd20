use super::*;

#[allow(clippy::too_many_arguments)]
fn naive(m: usize, n: usize, k: usize, a: &Mat<'_>, b: &Mat<'_>, beta: f32, c: &mut [f32], ldc: usize) {
    let at = |i: usize, p: usize| match a.op {
        Op::N => a.data[i * a.ld + p],
        Op::T => a.data[p * a.ld + i],
    };
    let bt = |p: usize, j: usize| match b.op {
        Op::N => b.data[p * b.ld + j],
        Op::T => b.data[j * b.ld + p],
    };
    for i in 0..m {
        for j in 0..n {
            let s: f64 = (0..k).map(|p| at(i, p) as f64 * bt(p, j) as f64).sum();
            let old = if beta == 0.0 {
                0.0
            } else {
                beta as f64 * c[i * ldc + j] as f64
            };
            c[i * ldc + j] = (old + s) as f32;
        }
    }
}

fn fill(len: usize, seed: u64) -> Vec<f32> {
    let mut r = crate::rng::SplitMix64::new(seed);
    (0..len).map(|_| r.next_f32() - 0.5).collect()
}

#[test]
fn all_ops_match_naive_and_split_is_deterministic() {
    for &(m, n, k) in &[(1, 1, 1), (3, 17, 5), (70, 33, 9), (300, 260, 40), (5, 700, 300)] {
        for (oa, ob) in [(Op::N, Op::N), (Op::N, Op::T), (Op::T, Op::N), (Op::T, Op::T)] {
            let (lda, ldb) = (if oa == Op::N { k } else { m } + 1, if ob == Op::N { n } else { k } + 2);
            let a_rows = if oa == Op::N { m } else { k };
            let b_rows = if ob == Op::N { k } else { n };
            let ad = fill(a_rows * lda, 1);
            let bd = fill(b_rows * ldb, 2);
            let a = Mat {
                data: &ad,
                ld: lda,
                op: oa,
            };
            let b = Mat {
                data: &bd,
                ld: ldb,
                op: ob,
            };
            for beta in [0.0f32, 1.0] {
                let ldc = n + 3;
                let init = if beta == 0.0 {
                    vec![f32::NAN; m * ldc]
                } else {
                    fill(m * ldc, 3)
                };
                let mut want = init.clone();
                naive(m, n, k, &a, &b, beta, &mut want, ldc);
                let mut got1 = init.clone();
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap()
                    .install(|| sgemm(m, n, k, a, b, beta, &mut got1, ldc));
                let mut got2 = init.clone();
                rayon::ThreadPoolBuilder::new()
                    .num_threads(3)
                    .build()
                    .unwrap()
                    .install(|| sgemm(m, n, k, a, b, beta, &mut got2, ldc));
                for i in 0..m {
                    for j in 0..n {
                        let (w, g) = (want[i * ldc + j], got1[i * ldc + j]);
                        assert!(
                            (w - g).abs() <= 1e-5 * (1.0 + w.abs()) * k as f32,
                            "{m}x{n}x{k} {oa:?}{ob:?} ({i},{j}) {w} vs {g}"
                        );
                        assert_eq!(
                            g.to_bits(),
                            got2[i * ldc + j].to_bits(),
                            "thread count changed the result"
                        );
                    }
                }
            }
        }
    }
}

/// How [`check_product`] runs a product.
#[derive(Clone, Copy)]
enum How {
    /// `sgemm`'s own choice.
    Auto,
    On(Path),
    /// The tiles of one ISA.
    With(blocked::Compute),
}

/// One product through `how` (with the thread counts given) against the naive f64 product;
/// the results of every thread count bitwise equal. Returns the 1-thread result.
#[allow(clippy::too_many_arguments)]
fn check_product(
    (m, n, k): (usize, usize, usize),
    (oa, ob): (Op, Op),
    beta: f32,
    seed: u64,
    threads: &[usize],
    how: How,
) -> Vec<f32> {
    // Leading dimensions a little past the minimum, so rows do not line up.
    let (lda, ldb, ldc) = (
        if oa == Op::N { k } else { m } + (seed % 3) as usize,
        if ob == Op::N { n } else { k } + 1,
        n + 2,
    );
    let a_rows = if oa == Op::N { m } else { k };
    let b_rows = if ob == Op::N { k } else { n };
    let ad = fill(a_rows * lda, seed);
    let bd = fill(b_rows * ldb, seed + 1);
    let a = Mat {
        data: &ad,
        ld: lda,
        op: oa,
    };
    let b = Mat {
        data: &bd,
        ld: ldb,
        op: ob,
    };
    // beta 0: C full of NaN, which must not leak.
    let init = if beta == 0.0 {
        vec![f32::NAN; m * ldc]
    } else {
        fill(m * ldc, seed + 2)
    };
    let mut want = init.clone();
    naive(m, n, k, &a, &b, beta, &mut want, ldc);
    let mut first: Option<Vec<f32>> = None;
    for &t in threads {
        let mut got = init.clone();
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| match how {
                How::Auto => sgemm(m, n, k, a, b, beta, &mut got, ldc),
                How::On(p) => sgemm_on(p, m, n, k, a, b, beta, &mut got, ldc),
                How::With(f) => blocked::sgemm_with(f, m, n, k, a, b, beta, &mut got, ldc),
            });
        for i in 0..m {
            for j in 0..ldc {
                let (w, g) = (want[i * ldc + j], got[i * ldc + j]);
                if j >= n {
                    // Past the view: untouched.
                    assert_eq!(g.to_bits(), init[i * ldc + j].to_bits(), "wrote past n");
                    continue;
                }
                assert!(
                    (w - g).abs() <= 2e-6 * (1.0 + w.abs()) * (k as f32).sqrt().max(4.0),
                    "{m}x{n}x{k} {oa:?}{ob:?} beta {beta} ({i},{j}) {w} vs {g}"
                );
            }
        }
        match &first {
            None => first = Some(got),
            Some(f) => assert!(
                f.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{m}x{n}x{k} {oa:?}{ob:?}: {t} threads changed the result"
            ),
        }
    }
    first.unwrap()
}

/// Shapes drawn from a seeded generator: sizes 1, odd, not multiples of 8 or 32, k past one
/// k block (`KC`), m past one row chunk (`MC`), and small n (A read in place) and large n
/// (A packed).
fn drawn_shapes() -> Vec<(usize, usize, usize)> {
    let mut r = crate::rng::SplitMix64::new(77);
    let mut draw = |hi: usize| 1 + (r.next_f32() * hi as f32) as usize % hi;
    let mut v = vec![
        (1, 1, 1),
        (1, 33, 1),
        (17, 1, 300),
        (15, 97, 257),
        (481, 65, 40),
        (29, 130, 1100),
        (130, 70, 1030),
    ];
    for _ in 0..6 {
        v.push((draw(200), draw(180), draw(600)));
    }
    v
}

const OPS: [(Op, Op); 4] = [(Op::N, Op::N), (Op::N, Op::T), (Op::T, Op::N), (Op::T, Op::T)];

/// The register-tile product (the ISA `FUSEDRNN_ISA` selects) against the naive one, every op
/// and beta, 1, 2 and 3 threads bitwise equal.
#[test]
fn tiles_match_naive_and_thread_count() {
    for (si, &shape) in drawn_shapes().iter().enumerate() {
        for ops in OPS {
            for beta in [0.0f32, 1.0] {
                check_product(shape, ops, beta, si as u64, &[1, 2, 3], How::On(Path::Tiles));
            }
        }
    }
}

/// Products large enough to split over threads by rows (m large) and by panels (m small), with
/// several k blocks and beta 1: 1 and 2 threads bitwise equal, also through `sgemm`'s own choice.
#[test]
fn tiles_split_is_deterministic() {
    for shape in [(700, 130, 600), (40, 700, 600), (300, 300, 300)] {
        for ops in [(Op::T, Op::N), (Op::N, Op::N)] {
            for beta in [0.0f32, 1.0] {
                check_product(shape, ops, beta, 5, &[1, 2], How::On(Path::Tiles));
                check_product(shape, ops, beta, 5, &[1, 2], How::Auto);
            }
        }
    }
}

/// The tile product on every ISA in one run: AVX-512 bitwise equal to AVX2 (same FMA chains),
/// the portable vectors within rounding of the naive product.
#[test]
fn tiles_every_isa() {
    use super::blocked::compute_on;
    use crate::simd::portable::Wide;
    #[cfg(target_arch = "x86_64")]
    let (avx2, avx512) = {
        use crate::simd::avx2::{Avx2, Avx512};
        use crate::simd::Isa;
        fn avx2_safe(g: &blocked::Blocked<'_>, r: std::ops::Range<usize>, b: std::ops::Range<usize>) {
            assert!(Isa::Avx2.available());
            // SAFETY: AVX2 and FMA were detected just above.
            unsafe { on_avx2(g, r, b) }
        }
        fn avx512_safe(g: &blocked::Blocked<'_>, r: std::ops::Range<usize>, b: std::ops::Range<usize>) {
            assert!(Isa::Avx512.available());
            // SAFETY: AVX-512F/VL, AVX2 and FMA were detected just above.
            unsafe { on_avx512(g, r, b) }
        }
        let avx2 = Isa::Avx2.available().then_some(avx2_safe as blocked::Compute);
        let avx512 = Isa::Avx512.available().then_some(avx512_safe as blocked::Compute);
        /// # Safety
        /// The CPU has AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn on_avx2(g: &blocked::Blocked<'_>, r: std::ops::Range<usize>, b: std::ops::Range<usize>) {
            compute_on::<Avx2>(g, r, b)
        }
        /// # Safety
        /// The CPU has AVX-512F/VL, AVX2 and FMA.
        #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
        unsafe fn on_avx512(g: &blocked::Blocked<'_>, r: std::ops::Range<usize>, b: std::ops::Range<usize>) {
            compute_on::<Avx512>(g, r, b)
        }
        (avx2, avx512)
    };
    for (si, &shape) in drawn_shapes().iter().enumerate().step_by(2) {
        for ops in OPS {
            for beta in [0.0f32, 1.0] {
                check_product(shape, ops, beta, si as u64, &[1, 2], How::With(compute_on::<Wide>));
                #[cfg(target_arch = "x86_64")]
                {
                    let narrow = avx2.map(|f| check_product(shape, ops, beta, si as u64, &[1, 2], How::With(f)));
                    let wide = avx512.map(|f| check_product(shape, ops, beta, si as u64, &[1, 2], How::With(f)));
                    if let (Some(x), Some(y)) = (narrow, wide) {
                        assert!(
                            x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()),
                            "avx512 vs avx2"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn split_covers_range() {
    for len in [1, 7, 8, 9, 100, 1000] {
        for parts in [1, 2, 3, 8] {
            let b = split(len, parts, 8);
            assert_eq!(b[0], 0);
            assert_eq!(*b.last().unwrap(), len);
            assert!(b.windows(2).all(|w| w[0] < w[1]));
        }
    }
}

#[test]
fn projection_grains_start_even() {
    // (K, gates, units, threads) -> expected grain; GRU H=256: 16 blocks, groups of 10.
    for (k, g, u, th, want) in [
        (256, 3, 256, 2, 4),
        (256, 4, 256, 2, 8),
        (1024, 4, 1024, 2, 4),
        (7, 3, 5, 3, 1),
    ] {
        let w = pack::Packed::from_fn(k, g, u, |_, _, _| 0.0);
        let grain = proj::grain(&w, th);
        assert_eq!(grain, want, "K={k} G={g} U={u}");
        assert!(grain <= proj::group_blocks(&w));
        let grains = w.blocks().div_ceil(grain);
        if w.blocks() >= 2 * th {
            // Every thread starts with the same number of grains, at least two.
            assert!(
                grains.is_multiple_of(th) && grains >= 2 * th,
                "K={k} G={g} U={u}: {grains} grains"
            );
        }
    }
}

#[test]
fn column_sums_match() {
    let (rows, cols) = (37, 29);
    let a = fill(rows * cols, 4);
    let mut out = vec![f32::NAN; cols];
    column_sums(&a, rows, cols, &mut out, false);
    for j in 0..cols {
        let s: f32 = (0..rows).map(|r| a[r * cols + j]).sum();
        assert_eq!(out[j], s);
    }
    column_sums(&a, rows, cols, &mut out, true);
    for j in 0..cols {
        let s: f32 = (0..rows).map(|r| a[r * cols + j]).sum();
        assert!((out[j] - 2.0 * s).abs() < 1e-5);
    }
}

/// The register tile of one ISA for every tile shape the kernels use, flattened
/// `[MR][G][8]`.
fn tile_out<V: crate::simd::Vf32, const MR: usize, const G: usize>(
    k: usize,
    a: &[f32],
    lda: usize,
    p: &[f32],
) -> Vec<f32> {
    let acc = tile::tile::<V, MR, G>(k, a, lda, p);
    let mut out = vec![0.0f32; MR * G * 8];
    for (r, row) in acc.iter().enumerate() {
        for (g, v) in row.iter().enumerate() {
            v.store(&mut out[(r * G + g) * 8..][..8]);
        }
    }
    out
}

/// Every tile shape (`MR` 1..=16 by vectors per panel row 1..=8, within each ISA's register budget) against a
/// naive f64 product, and the 512-bit tile bitwise equal to the 256-bit one (same FMA chain).
#[cfg(target_arch = "x86_64")]
#[test]
fn register_tiles_match_naive_and_each_other() {
    use crate::simd::avx2::{Avx2, Avx512};
    use crate::simd::Isa;
    macro_rules! shapes {
        ($f:ident) => {
            $f!(1, 1);
            $f!(1, 4);
            $f!(2, 3);
            $f!(3, 4);
            $f!(4, 3);
            $f!(5, 2);
            $f!(6, 2);
            $f!(7, 1);
            $f!(8, 1);
            $f!(9, 4);
            $f!(10, 3);
            $f!(11, 2);
            $f!(12, 4);
            $f!(13, 3);
            $f!(14, 4);
            $f!(14, 3);
            $f!(15, 2);
            $f!(16, 2);
            $f!(16, 1);
            $f!(1, 6);
            $f!(2, 6);
            $f!(5, 5);
            $f!(8, 6);
            $f!(9, 6);
            $f!(9, 5);
            $f!(1, 8);
            $f!(2, 8);
            $f!(6, 8);
            $f!(3, 7);
        };
    }
    if !Isa::Avx2.available() {
        eprintln!("SKIPPED: register tile check (CPU lacks AVX2/FMA)");
        return;
    }
    for k in [1usize, 2, 7, 16, 33, 130] {
        let lda = k + 3;
        let a = fill(16 * lda, k as u64);
        let p = fill(k * 8 * 8, 99 + k as u64);
        macro_rules! one {
            ($mr:literal, $g:literal) => {{
                // SAFETY: AVX2 and FMA were detected above.
                let narrow = unsafe { avx2_tile::<$mr, $g>(k, &a, lda, &p) };
                for r in 0..$mr {
                    for g in 0..$g {
                        for l in 0..8 {
                            let want: f64 = (0..k)
                                .map(|kk| a[r * lda + kk] as f64 * p[(kk * $g + g) * 8 + l] as f64)
                                .sum();
                            let got = narrow[(r * $g + g) * 8 + l] as f64;
                            assert!(
                                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                "avx2 MR={} G={} k={k}",
                                $mr,
                                $g
                            );
                        }
                    }
                }
                if Isa::Avx512.available() {
                    // SAFETY: AVX-512F/VL were detected just above.
                    let wide = unsafe { avx512_tile::<$mr, $g>(k, &a, lda, &p) };
                    assert_eq!(wide, narrow, "avx512 vs avx2 MR={} G={} k={k}", $mr, $g);
                }
            }};
        }
        shapes!(one);
    }
    if !Isa::Avx512.available() {
        eprintln!("SKIPPED: the avx512 register tiles (CPU lacks AVX-512F/VL)");
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_tile<const MR: usize, const G: usize>(k: usize, a: &[f32], lda: usize, p: &[f32]) -> Vec<f32> {
        tile_out::<Avx2, MR, G>(k, a, lda, p)
    }
    /// # Safety
    /// The CPU has AVX-512F/VL, AVX2 and FMA.
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
    unsafe fn avx512_tile<const MR: usize, const G: usize>(k: usize, a: &[f32], lda: usize, p: &[f32]) -> Vec<f32> {
        tile_out::<Avx512, MR, G>(k, a, lda, p)
    }
}

/// Two products sharing `A` ([`blocked::sgemm_pair`]) give the bits of each alone, in the rows
/// split and the panel split, with widths that are not multiples of a panel, on every pool size.
#[test]
fn pair_is_two_products() {
    for &(m, k, n0, n1) in &[(1, 1, 1, 1), (37, 19, 45, 70), (600, 70, 33, 100), (130, 300, 64, 7)] {
        for oa in [Op::N, Op::T] {
            let lda = if oa == Op::N { k } else { m } + 1;
            let ad = fill(if oa == Op::N { m } else { k } * lda, 4);
            let a = Mat {
                data: &ad,
                ld: lda,
                op: oa,
            };
            let (b0d, b1d) = (fill(k * (n0 + 1), 5), fill(k * n1, 6));
            let (b0, b1) = (Mat::n(&b0d, n0 + 1), Mat::n(&b1d, n1));
            for beta in [0.0f32, 1.0] {
                let init = |len, seed| {
                    if beta == 0.0 {
                        vec![f32::NAN; len]
                    } else {
                        fill(len, seed)
                    }
                };
                let (mut w0, mut w1) = (init(m * (n0 + 2), 7), init(m * n1, 8));
                let (i0, i1) = (w0.clone(), w1.clone());
                blocked::sgemm(m, n0, k, a, b0, beta, &mut w0, n0 + 2);
                blocked::sgemm(m, n1, k, a, b1, beta, &mut w1, n1);
                for threads in [1, 2, 3] {
                    let (mut h0, mut h1) = (i0.clone(), i1.clone());
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap()
                        .install(|| {
                            let p0 = blocked::Part {
                                n: n0,
                                b: b0,
                                c: &mut h0,
                                ldc: n0 + 2,
                            };
                            let p1 = blocked::Part {
                                n: n1,
                                b: b1,
                                c: &mut h1,
                                ldc: n1,
                            };
                            blocked::sgemm_pair(m, k, a, beta, [p0, p1]);
                        });
                    let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(
                        same(&w0, &h0) && same(&w1, &h1),
                        "m{m} k{k} n{n0}+{n1} {oa:?} beta {beta}, {threads} threads"
                    );
                }
                // Every element written (NaN-filled above when beta is 0).
                assert!(w0.iter().enumerate().all(|(i, v)| i % (n0 + 2) >= n0 || !v.is_nan()));
                assert!(w1.iter().all(|v| !v.is_nan()));
            }
        }
    }
}
