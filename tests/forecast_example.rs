//! The forecasting example and the training pieces it is built from (`fusedrnn::train`):
//! a 2-layer LSTM with a dense head must learn a small sine task, training must be bitwise
//! reproducible whatever the thread count, and the example's own code (flags, data, baselines,
//! Cholesky solve, training loop, table, SVG) must run end to end on a tiny dataset.

#[path = "../examples/forecast.rs"]
#[allow(dead_code)]
mod forecast;

use fusedrnn::rng::SplitMix64;
use fusedrnn::train::{Adam, Seq2Vec};
use fusedrnn::{Cell, GruVariant, SeqShape};

/// A small sine task: from `T` samples of `sin(w t + p)` (random `w`, `p`) predict the next
/// value. Returns inputs `[T, N, 1]` and targets `[N, 1]`.
fn sine_batch(t: usize, n: usize, rng: &mut SplitMix64) -> (Vec<f32>, Vec<f32>) {
    let params: Vec<(f64, f64)> = (0..n)
        .map(|_| (0.2 + 0.4 * rng.next_f64(), std::f64::consts::TAU * rng.next_f64()))
        .collect();
    let mut x = vec![0.0f32; t * n];
    for step in 0..t {
        for (b, &(w, p)) in params.iter().enumerate() {
            x[step * n + b] = (w * step as f64 + p).sin() as f32;
        }
    }
    let y = params.iter().map(|&(w, p)| (w * t as f64 + p).sin() as f32).collect();
    (x, y)
}

fn eval_loss(model: &Seq2Vec, x: &[f32], y: &[f32], shape: SeqShape) -> f64 {
    let mut out = vec![0.0f32; y.len()];
    model.predict(shape, x, &mut out).unwrap();
    forecast::mse(&out, y)
}

/// Trains a 2-layer model for `steps` Adam steps on fresh batches; returns it and the losses.
fn train_sine(cell: Cell, steps: usize, seed: u64) -> (Seq2Vec, Vec<f64>) {
    let (t, n) = (16, 16);
    let mut model = Seq2Vec::new(cell, 1, &[16, 16], 1, seed).unwrap();
    let mut opt = Adam::new(1e-2);
    let mut rng = SplitMix64::new(seed + 1);
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (x, y) = sine_batch(t, n, &mut rng);
        let s = model
            .train_step(SeqShape::new(t, n), &x, &y, &mut opt, Some(1.0))
            .unwrap();
        assert!(s.loss.is_finite() && s.grad_norm.is_finite());
        losses.push(s.loss);
    }
    (model, losses)
}

#[test]
fn two_layer_lstm_with_dense_head_learns_a_sine_task() {
    let mut rng = SplitMix64::new(999);
    let shape = SeqShape::new(16, 256);
    let (xt, yt) = sine_batch(shape.t, shape.n, &mut rng);
    let before = {
        let m = Seq2Vec::new(Cell::Lstm, 1, &[16, 16], 1, 7).unwrap();
        eval_loss(&m, &xt, &yt, shape)
    };
    let (model, losses) = train_sine(Cell::Lstm, 400, 7);
    let after = eval_loss(&model, &xt, &yt, shape);
    eprintln!("held-out MSE {before:.5} -> {after:.6}");
    // The targets have variance 1/2: a model that has learnt nothing scores about that.
    assert!(before > 0.2, "untrained held-out loss {before}");
    assert!(
        after < before / 50.0 && after < 5e-3,
        "held-out MSE {before:.5} -> {after:.5}: not learnt"
    );
    let first: f64 = losses[..20].iter().sum::<f64>() / 20.0;
    let last: f64 = losses[losses.len() - 20..].iter().sum::<f64>() / 20.0;
    assert!(last < first / 20.0, "training loss {first:.5} -> {last:.5}");
}

#[test]
fn training_is_bitwise_reproducible_whatever_the_thread_count() {
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let cell = Cell::Gru(GruVariant::LinearBeforeReset);
    let (m1, l1) = pool(1).install(|| train_sine(cell, 30, 3));
    let (m2, l2) = pool(2).install(|| train_sine(cell, 30, 3));
    let (m3, l3) = pool(3).install(|| train_sine(cell, 30, 3));
    assert_eq!(
        l1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        l2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(
        l1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        l3.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    for other in [&m2, &m3] {
        for (a, b) in m1.stack().layers().iter().zip(other.stack().layers()) {
            assert_eq!(a.weights(), b.weights());
        }
        assert_eq!(m1.head(), other.head());
    }
}

#[test]
fn cholesky_solves_a_least_squares_problem_exactly() {
    // A linear series: every future value is a fixed linear function of the 50 inputs, so the
    // least-squares fit must recover it (up to the tiny ridge).
    let mut rng = SplitMix64::new(5);
    let ahead = 2;
    let mut s = forecast::Series::generate(400, ahead, &mut rng);
    let len = 50 + ahead;
    for i in 0..400 {
        let r = &mut s.values[i * len..(i + 1) * len];
        let a: f32 = r[..50]
            .iter()
            .enumerate()
            .map(|(k, &v)| v * (k as f32 - 25.0) / 100.0)
            .sum();
        r[50] = 0.3 + a;
        r[51] = -2.0 * r[49] + 0.5 * r[10];
    }
    let lin = forecast::Linear::fit(&s, 1e-9);
    let err = forecast::mse(&lin.predict(&s), &s.targets());
    assert!(err < 1e-9, "linear fit residual {err}");

    // And the solver alone on a small SPD system.
    let mut a = vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
    let mut b = vec![1.0, 2.0, 3.0];
    let a0 = a.clone();
    forecast::cholesky_solve(&mut a, 3, &mut b, 1);
    for i in 0..3 {
        let row: f64 = (0..3).map(|k| a0[i * 3 + k] * b[k]).sum();
        assert!((row - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
    }
}

#[test]
fn quick_run_of_the_example_end_to_end() {
    let dir = std::env::temp_dir().join(format!("fusedrnn-forecast-{}", std::process::id()));
    let plot = dir.join("plot.svg");
    let args = ["--quick", "--epochs", "3", "--seed", "7", "--plot"]
        .iter()
        .map(|s| s.to_string())
        .chain([plot.display().to_string()]);
    let opts = forecast::parse_args(args).unwrap();
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let report = pool(2).install(|| forecast::run(&opts));
    // Deterministic given the seed, whatever the thread count.
    let again = pool(1).install(|| forecast::run(&opts));
    let bits = |r: &forecast::Report| -> Vec<u64> {
        r.rows
            .iter()
            .flat_map(|row| row.mse.iter().map(|m| m.unwrap().to_bits()))
            .collect()
    };
    assert_eq!(bits(&report), bits(&again));
    assert_eq!(report.horizons, [1, 10]);
    let names: Vec<&str> = report.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    for r in &report.rows {
        for m in &r.mse {
            let m = m.expect("every model ran on every horizon");
            assert!(m.is_finite() && m > 0.0 && m < 1.0, "{}: {m}", r.name);
        }
    }
    let (naive, linear) = (&report.rows[0].mse, &report.rows[1].mse);
    // The book's orders of magnitude (10 steps: naive ~0.22, linear ~0.019).
    assert!((0.1..0.4).contains(&naive[1].unwrap()), "naive {:?}", naive[1]);
    assert!(linear[1].unwrap() < 0.05 && linear[0].unwrap() < naive[0].unwrap());
    // Even three tiny epochs put every recurrent model below the naive forecast 10 steps out.
    for r in &report.rows[2..] {
        assert!(r.mse[1].unwrap() < naive[1].unwrap(), "{}: {:?}", r.name, r.mse);
    }
    assert_eq!(report.plot.as_deref(), Some(plot.as_path()));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // Three panels, each: input, truth, linear and three models.
    assert_eq!(svg.matches("<polyline").count(), 3 * 6);
    let _ = std::fs::remove_dir_all(&dir);

    assert!(forecast::parse_args(["--cell".to_string(), "transformer".to_string()]).is_err());
    assert!(forecast::parse_args(["--epochs".to_string()]).is_err());
}
