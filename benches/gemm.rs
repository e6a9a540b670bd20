//! The recurrent product at RNN shapes: `C[m, n] = A[m, k] · B[k, n]` with `B` (the weights)
//! packed once, against matrixmultiply (which packs `B` on every call), single-threaded, in
//! GFLOP/s. `m` is the batch size `N`, `k = H`, `n = 4H`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fusedrnn::bench_api::{sgemm, PackedB, PackedGates};
use std::time::Duration;

const SHAPES: &[(usize, usize, usize)] = &[(1, 256, 1024), (4, 1024, 4096), (8, 512, 2048), (64, 512, 2048)];

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for &(m, k, n) in SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut out = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let name = format!("m{m}_k{k}_n{n}");
        let packed = PackedB::new(&b, k, n);
        g.bench_function(BenchmarkId::new("packed", &name), |bch| {
            bch.iter(|| packed.matmul(m, &a, &mut out))
        });
        // A product of the same sizes with B as gate-interleaved panels of 4 gates (the LSTM's
        // W_ih and W_hh).
        if n % 4 == 0 {
            let gates = PackedGates::new(&b, 4, n / 4, k);
            g.bench_function(BenchmarkId::new("packed-gates", &name), |bch| {
                bch.iter(|| gates.project(m, &a, &mut out))
            });
        }
        g.bench_function(BenchmarkId::new("matrixmultiply", &name), |bch| {
            bch.iter(|| {
                // SAFETY: the buffers have exactly the sizes and strides passed.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        out.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            })
        });
    }
    g.finish();
}

/// The training products through the library's general product (`bench_api::sgemm`), register
/// tiles against matrixmultiply, `(m, n, k, A transposed)`: `dW_ih = dGᵀ · X` and
/// `dW_hh = dGᵀ · H_prev` (m = G*H, k = T*N), `dX = dG · W_ih` (m = T*N, k = G*H).
const TRAIN: &[(usize, usize, usize, bool)] = &[
    (2048, 512, 3200, true),
    (3200, 512, 2048, false),
    (4096, 1024, 800, true),
    (1024, 1024, 3200, true),
    (3200, 1024, 1024, false),
    (256, 64, 800, true),
    (800, 64, 256, false),
];

fn train(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm-train");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let threads: usize = std::env::var("GEMM_THREADS").map_or(1, |v| v.parse().expect("GEMM_THREADS"));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    for &(m, n, k, a_t) in TRAIN {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        let mut out = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let name = format!("m{m}_n{n}_k{k}_{}_t{threads}", if a_t { "T" } else { "N" });
        for (label, tiles) in [("tiles", true), ("matrixmultiply", false)] {
            g.bench_function(BenchmarkId::new(label, &name), |bch| {
                bch.iter(|| pool.install(|| sgemm(m, n, k, &a, a_t, &b, 0.0, &mut out, Some(tiles))))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, gemm, train);
criterion_main!(benches);
