//! Times the speed issue's shape table and prints one line per shape:
//! `name ms gflops min_ms` (median of the runs, then the fastest run). `benches/compare.py`
//! drives it.
//!
//! `cargo run --release --example bench_shapes -- [--threads N] [--runs R] [--only PART] [--shape NAME] [--denormal]`
//!
//! `--limits` prints instead what the machine gives now, on the ISA the kernels use: the FMA
//! peak and the read bandwidth of L2- and L3-sized buffers on 1 and on `N` threads (`limit NAME
//! VALUE UNIT` lines), to read the shapes' rates against.
//!
//! `--serve` answers requests on stdin instead, one per line: `NAME RUNS` gives back `NAME` and
//! the milliseconds of each of `RUNS` runs of that shape (its buffers are built, and one untimed
//! run made, on its first request). A driver in another process (`compare.py`) can so alternate
//! single runs of fusedrnn with those of other libraries, milliseconds apart.

#[path = "../benches/runner.rs"]
mod runner;
#[path = "../benches/shapes.rs"]
mod shapes;

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let threads: usize = flag("--threads").map_or(2, |v| v.parse().expect("--threads N"));
    let runs: usize = flag("--runs").map_or(7, |v| v.parse().expect("--runs R"));
    let only = flag("--only");
    // `--shape NAME`: exactly that shape (`--only` matches substrings).
    let exact = flag("--shape");
    let denormal = args.iter().any(|a| a == "--denormal");
    if args.iter().any(|a| a == "--limits") {
        limits(threads);
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    if args.iter().any(|a| a == "--serve") {
        pool.install(serve);
        return;
    }
    pool.install(|| {
        for &shape in shapes::SHAPES {
            if only.as_deref().is_some_and(|o| !shape.name.contains(o))
                || exact.as_deref().is_some_and(|e| shape.name != e)
            {
                continue;
            }
            let mut r = runner::Runner::new(shape);
            if denormal {
                r.fill_input(1e-39);
            }
            r.run();
            let mut times: Vec<f64> = (0..runs)
                .map(|_| {
                    let t0 = Instant::now();
                    r.run();
                    t0.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let med = times[runs / 2];
            println!(
                "{} {:.3} {:.1} {:.3}",
                shape.name,
                med * 1e3,
                shape.flops() as f64 / med / 1e9,
                times[0] * 1e3
            );
        }
        if only.as_deref().is_none_or(|o| "lstm-step-1x256".contains(o))
            && exact.as_deref().is_none_or(|e| e == "lstm-step-1x256")
        {
            stream_step(runs);
        }
    });
}

/// Streaming: one LSTM step, H = I = 256, N = 1 (median over 1000-step runs).
fn stream_step(runs: usize) {
    use fusedrnn::{Cell, Layer, LayerDesc, Stream, Weights};
    let h = 256;
    let layer = Layer::new(Weights::init_uniform(&LayerDesc::new(Cell::Lstm, h, h).unwrap(), 1));
    let mut stream = Stream::with_capacity(&layer, 1, 1).unwrap();
    let (x, mut y) = (vec![0.1f32; h], vec![0.0f32; h]);
    let steps = 1000;
    let mut times: Vec<f64> = (0..runs.max(3))
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..steps {
                stream.push(&layer, &x, &mut y).unwrap();
            }
            t0.elapsed().as_secs_f64() / steps as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    println!(
        "lstm-step-1x256 {:.4} {:.1} {:.4}",
        med * 1e3,
        (2 * 4 * h * 2 * h) as f64 / med / 1e9,
        times[0] * 1e3
    );
}

/// The machine's limits now (see the module doc): fastest of 5 rounds each.
fn limits(threads: usize) {
    use fusedrnn::bench_api::{fma_peak, read_bandwidth};
    for th in [1, threads.max(1)] {
        println!("limit fma-peak-{th}t {:.1} GFLOP/s", fma_peak(th, 5));
    }
    // 1 MiB per thread stays in a 2 MiB L2; 8 MiB per thread (a thread's half of W_hh at H = 1024)
    // streams from L3.
    for (name, bytes) in [("l2", 1 << 20), ("l3", 8 << 20)] {
        for th in [1, threads.max(1)] {
            println!("limit read-{name}-{th}t {:.1} GB/s", read_bandwidth(th, bytes, 5));
        }
    }
}

/// `--serve` (see the module doc); ends at the end of stdin.
fn serve() {
    use std::io::{BufRead, Write};
    let mut runners: Vec<(&'static str, runner::Runner)> = Vec::new();
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let mut words = line.split_whitespace();
        let (Some(name), Some(runs)) = (words.next(), words.next()) else {
            continue;
        };
        let runs: usize = runs.parse().expect("NAME RUNS");
        let shape = shapes::SHAPES
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no shape {name}"));
        let i = match runners.iter().position(|(n, _)| *n == shape.name) {
            Some(i) => i,
            None => {
                let mut r = runner::Runner::new(*shape);
                r.run();
                runners.push((shape.name, r));
                runners.len() - 1
            }
        };
        let r = &mut runners[i].1;
        let times: Vec<String> = (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                r.run();
                format!("{:.4}", t0.elapsed().as_secs_f64() * 1e3)
            })
            .collect();
        writeln!(out, "{name} {}", times.join(" ")).expect("stdout");
        out.flush().expect("stdout");
    }
}
