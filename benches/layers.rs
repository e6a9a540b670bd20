//! Criterion benchmarks of the speed issue's shape table, in GFLOP/s
//! (`Throughput::Elements` counts FLOPs: forward `2*T*N*G*H*(I+H)`, training 3x).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

#[path = "runner.rs"]
mod runner;
#[path = "shapes.rs"]
mod shapes;

fn layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("layers");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for &shape in shapes::SHAPES {
        let mut r = runner::Runner::new(shape);
        g.throughput(Throughput::Elements(shape.flops()));
        g.bench_function(shape.name, |b| b.iter(|| r.run()));
    }
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
