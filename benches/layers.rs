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
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for &shape in shapes::SHAPES {
        let mut r = runner::Runner::new(shape);
        g.throughput(Throughput::Elements(shape.flops()));
        g.bench_function(shape.name, |b| b.iter(|| r.run()));
    }
    g.finish();
}

/// Streaming inference: latency of one step of an LSTM, H = I = 256, N = 1.
fn stream_step(c: &mut Criterion) {
    use fusedrnn::{Cell, Layer, LayerDesc, Stream, Weights};
    let h = 256;
    let layer = Layer::new(Weights::init_uniform(&LayerDesc::new(Cell::Lstm, h, h).unwrap(), 1));
    let mut stream = Stream::with_capacity(&layer, 1, 1).unwrap();
    let x = vec![0.1f32; h];
    let mut y = vec![0.0f32; h];
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Elements((2 * 4 * h * 2 * h) as u64));
    g.bench_function("lstm-step-1x256", |b| {
        b.iter(|| stream.push(&layer, &x, &mut y).unwrap())
    });
    g.finish();
}

criterion_group!(benches, layers, stream_step);
criterion_main!(benches);
