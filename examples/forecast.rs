//! The main job: forecasting time series with recurrent networks trained end to end by this
//! crate's kernels — the classic task of the time-series chapter of Géron's *Hands-On Machine
//! Learning*.
//!
//! Each series is the sum of two sine waves of random frequencies and phases plus noise,
//! 50 steps long; the models read the 50 steps and predict (a) the next value and (b) the next
//! 10 values at once. Two baselines — the naive forecast (repeat the last value) and a linear
//! model fitted by least squares — are compared with a deep simple RNN (tanh), an LSTM and a
//! GRU, each 2 layers × 20 units with a dense head on the top layer's last hidden state,
//! trained with Adam and global-norm gradient clipping (`fusedrnn::train`). Training is
//! deterministic given the seed, whatever the thread count.
//!
//! ```text
//! cargo run --release --example forecast -- [--cell rnn|lstm|gru|all] [--epochs N] [--threads N]
//!     [--seed N] [--quick] [--plot PATH] [--lr X] [--batch N] [--ahead 1|10]
//! ```
//!
//! It prints the test MSE of every model next to the baselines and writes an SVG plot of a few
//! test series with each model's 10-step forecast (default `target/forecast.svg`).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::Instant;

use fusedrnn::rng::SplitMix64;
use fusedrnn::train::{Adam, Seq2Vec};
use fusedrnn::{Activation, Cell, GruVariant, SeqShape};

/// Length of the input window.
const STEPS: usize = 50;
/// Units per recurrent layer, and the number of layers (as in the book).
const HIDDEN: [usize; 2] = [20, 20];
/// Test series drawn in the plot.
const PLOTTED: usize = 3;

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Rnn,
    Lstm,
    Gru,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Rnn, Kind::Lstm, Kind::Gru];

    fn cell(self) -> Cell {
        match self {
            Kind::Rnn => Cell::Rnn(Activation::Tanh),
            Kind::Lstm => Cell::Lstm,
            Kind::Gru => Cell::Gru(GruVariant::LinearBeforeReset),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Rnn => "deep RNN (tanh)",
            Kind::Lstm => "LSTM",
            Kind::Gru => "GRU",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Kind::Rnn => "RNN",
            Kind::Lstm => "LSTM",
            Kind::Gru => "GRU",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Kind::Rnn => "#1f77b4",
            Kind::Lstm => "#d62728",
            Kind::Gru => "#2ca02c",
        }
    }
}

/// The parsed command line.
#[derive(Debug)]
pub struct Opts {
    kinds: Vec<Kind>,
    horizons: Vec<usize>,
    epochs: usize,
    threads: usize,
    seed: u64,
    lr: f32,
    batch: usize,
    quick: bool,
    plot: PathBuf,
    sizes: [usize; 3],
}

const USAGE: &str = "usage: forecast [--cell rnn|lstm|gru|all] [--epochs N] [--threads N] [--seed N] \
                     [--quick] [--plot PATH] [--lr X] [--batch N] [--ahead 1|10]";

/// Parses the flags (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Opts, String> {
    let mut o = Opts {
        kinds: Kind::ALL.to_vec(),
        horizons: vec![1, 10],
        epochs: 0,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        seed: 42,
        lr: 0.0,
        batch: 32,
        quick: false,
        plot: default_plot_path(),
        sizes: [7000, 2000, 1000],
    };
    let (mut epochs, mut lr) = (None, None);
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{name}: cannot parse {v:?}\n{USAGE}"))
        }
        match a.as_str() {
            "--cell" => {
                o.kinds = match value("--cell")?.as_str() {
                    "rnn" => vec![Kind::Rnn],
                    "lstm" => vec![Kind::Lstm],
                    "gru" => vec![Kind::Gru],
                    "all" => Kind::ALL.to_vec(),
                    v => return Err(format!("--cell: unknown cell {v:?}\n{USAGE}")),
                }
            }
            "--epochs" => epochs = Some(num("--epochs", value("--epochs")?)?),
            "--threads" => o.threads = num("--threads", value("--threads")?)?,
            "--seed" => o.seed = num("--seed", value("--seed")?)?,
            "--lr" => lr = Some(num("--lr", value("--lr")?)?),
            "--batch" => o.batch = num("--batch", value("--batch")?)?,
            "--ahead" => o.horizons = vec![num("--ahead", value("--ahead")?)?],
            "--plot" => o.plot = PathBuf::from(value("--plot")?),
            "--quick" => o.quick = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    if o.quick {
        o.sizes = [256, 64, 64];
    }
    o.epochs = epochs.unwrap_or(if o.quick { 2 } else { DEFAULT_EPOCHS });
    o.lr = lr.unwrap_or(DEFAULT_LR);
    if o.epochs == 0 || o.threads == 0 || o.batch == 0 || o.horizons.contains(&0) {
        return Err(format!(
            "--epochs, --threads, --batch and --ahead must be at least 1\n{USAGE}"
        ));
    }
    Ok(o)
}

const DEFAULT_EPOCHS: usize = 20;
const DEFAULT_LR: f32 = 1e-2;
/// Global gradient-norm bound applied at every step.
const MAX_GRAD_NORM: f32 = 1.0;

/// `target/forecast.svg` under `$CARGO_TARGET_DIR` if set, else under the crate's directory.
fn default_plot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("forecast.svg")
}

/// A seed for one purpose, derived from the user's seed and a tag.
fn sub_seed(seed: u64, tag: u64) -> u64 {
    SplitMix64::new(seed ^ tag.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// `n` series of `STEPS + ahead` values, row-major `[n, STEPS + ahead]`.
pub struct Series {
    /// The number of series.
    pub n: usize,
    /// How many values follow the `STEPS` inputs.
    pub ahead: usize,
    /// `[n, STEPS + ahead]`, row-major.
    pub values: Vec<f32>,
}

impl Series {
    /// `0.5 sin((t - o1)(10 f1 + 10)) + 0.2 sin((t - o2)(20 f2 + 20)) + 0.1 (u - 0.5)` with
    /// `t = linspace(0, 1, STEPS + ahead)` and `f1, f2, o1, o2, u` uniform in `[0, 1)`.
    pub fn generate(n: usize, ahead: usize, rng: &mut SplitMix64) -> Self {
        let len = STEPS + ahead;
        let mut values = Vec::with_capacity(n * len);
        for _ in 0..n {
            let (f1, f2, o1, o2) = (rng.next_f64(), rng.next_f64(), rng.next_f64(), rng.next_f64());
            for k in 0..len {
                let t = k as f64 / (len - 1) as f64;
                let v = 0.5 * ((t - o1) * (f1 * 10.0 + 10.0)).sin()
                    + 0.2 * ((t - o2) * (f2 * 20.0 + 20.0)).sin()
                    + 0.1 * (rng.next_f64() - 0.5);
                values.push(v as f32);
            }
        }
        Self { n, ahead, values }
    }

    fn row(&self, i: usize) -> &[f32] {
        let len = STEPS + self.ahead;
        &self.values[i * len..(i + 1) * len]
    }

    /// The inputs of series `idx` time-major, `[STEPS, N, 1]`, and their targets `[N, ahead]`.
    fn batch(&self, idx: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) {
        let n = idx.len();
        x.resize(STEPS * n, 0.0);
        y.clear();
        for (b, &i) in idx.iter().enumerate() {
            let r = self.row(i);
            for t in 0..STEPS {
                x[t * n + b] = r[t];
            }
            y.extend_from_slice(&r[STEPS..]);
        }
    }

    pub fn targets(&self) -> Vec<f32> {
        (0..self.n).flat_map(|i| self.row(i)[STEPS..].to_vec()).collect()
    }
}

struct Dataset {
    ahead: usize,
    train: Series,
    valid: Series,
    test: Series,
}

impl Dataset {
    fn new(sizes: [usize; 3], ahead: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(sub_seed(seed, ahead as u64));
        Self {
            ahead,
            train: Series::generate(sizes[0], ahead, &mut rng),
            valid: Series::generate(sizes[1], ahead, &mut rng),
            test: Series::generate(sizes[2], ahead, &mut rng),
        }
    }
}

pub fn mse(pred: &[f32], target: &[f32]) -> f64 {
    assert_eq!(pred.len(), target.len());
    let s: f64 = pred.iter().zip(target).map(|(&p, &t)| ((p - t) as f64).powi(2)).sum();
    s / pred.len() as f64
}

// ---------------------------------------------------------------------------------------------
// Baselines
// ---------------------------------------------------------------------------------------------

/// The naive forecast: every future value equals the last observed one.
pub fn naive_predict(s: &Series) -> Vec<f32> {
    (0..s.n).flat_map(|i| vec![s.row(i)[STEPS - 1]; s.ahead]).collect()
}

/// A linear model `y = [x, 1] C` with `C` `[STEPS + 1, ahead]`, fitted by least squares.
pub struct Linear {
    ahead: usize,
    coef: Vec<f64>,
}

impl Linear {
    /// Solves the ridge-regularised normal equations `(AᵀA + λI) C = AᵀY` in f64 by Cholesky
    /// (the bias column is not regularised).
    pub fn fit(s: &Series, ridge: f64) -> Self {
        let (p, a) = (STEPS + 1, s.ahead);
        let mut ata = vec![0.0f64; p * p];
        let mut aty = vec![0.0f64; p * a];
        let mut feat = vec![0.0f64; p];
        for i in 0..s.n {
            let r = s.row(i);
            for (f, &v) in feat.iter_mut().zip(&r[..STEPS]) {
                *f = v as f64;
            }
            feat[STEPS] = 1.0;
            for j in 0..p {
                for k in 0..=j {
                    ata[j * p + k] += feat[j] * feat[k];
                }
                for (h, &y) in r[STEPS..].iter().enumerate() {
                    aty[j * a + h] += feat[j] * y as f64;
                }
            }
        }
        for j in 0..p {
            for k in 0..j {
                ata[k * p + j] = ata[j * p + k];
            }
            if j < STEPS {
                ata[j * p + j] += ridge;
            }
        }
        cholesky_solve(&mut ata, p, &mut aty, a);
        Self { ahead: a, coef: aty }
    }

    pub fn predict(&self, s: &Series) -> Vec<f32> {
        let mut out = Vec::with_capacity(s.n * self.ahead);
        for i in 0..s.n {
            let r = s.row(i);
            for h in 0..self.ahead {
                let mut v = self.coef[STEPS * self.ahead + h];
                for (t, &x) in r[..STEPS].iter().enumerate() {
                    v += x as f64 * self.coef[t * self.ahead + h];
                }
                out.push(v as f32);
            }
        }
        out
    }
}

/// Solves `A X = B` for a symmetric positive definite `A` `[n, n]` (overwritten by its Cholesky
/// factor `L`, `A = L Lᵀ`) and `B` `[n, m]` (overwritten by `X`).
pub fn cholesky_solve(a: &mut [f64], n: usize, b: &mut [f64], m: usize) {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        assert!(d > 0.0, "cholesky: matrix not positive definite");
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for c in 0..m {
        // L z = b, then Lᵀ x = z.
        for i in 0..n {
            let mut s = b[i * m + c];
            for k in 0..i {
                s -= a[i * n + k] * b[k * m + c];
            }
            b[i * m + c] = s / a[i * n + i];
        }
        for i in (0..n).rev() {
            let mut s = b[i * m + c];
            for k in i + 1..n {
                s -= a[k * n + i] * b[k * m + c];
            }
            b[i * m + c] = s / a[i * n + i];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/// A one-line progress bar on stderr (redrawn in place on a terminal; one line per epoch
/// otherwise).
struct Progress {
    label: String,
    total: usize,
    tty: bool,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    fn new(label: String, total: usize) -> Self {
        Self {
            label,
            total,
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
            last_draw: None,
        }
    }

    fn line(&self, done: usize, loss: f64) -> String {
        const WIDTH: usize = 24;
        let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let time = if done < self.total && rate > 0.0 {
            format!("eta {:>4.1}s", (self.total - done) as f64 / rate)
        } else {
            format!("{elapsed:>5.1}s  ")
        };
        format!(
            "{} [{}{}] {:>5}/{} {:>6.0} seq/s {time}  loss {:.5}",
            self.label,
            "=".repeat(filled),
            " ".repeat(WIDTH - filled),
            done,
            self.total,
            rate,
            loss
        )
    }

    fn update(&mut self, done: usize, loss: f64) {
        if !self.tty || self.last_draw.is_some_and(|t| t.elapsed().as_millis() < 100) {
            return;
        }
        self.last_draw = Some(Instant::now());
        eprint!("\r{}\x1b[K", self.line(done, loss));
        let _ = std::io::stderr().flush();
    }

    fn finish(&self, done: usize, loss: f64, extra: &str) {
        let (cr, clear) = if self.tty { ("\r", "\x1b[K") } else { ("", "") };
        eprintln!("{cr}{}  {extra}{clear}", self.line(done, loss));
    }
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

struct Trained {
    model: Seq2Vec,
    seconds: f64,
    sequences: usize,
}

fn predict_all(model: &Seq2Vec, s: &Series) -> Vec<f32> {
    const CHUNK: usize = 500;
    let mut out = vec![0.0f32; s.n * s.ahead];
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let idx: Vec<usize> = (0..s.n).collect();
    for (c, chunk) in idx.chunks(CHUNK).enumerate() {
        s.batch(chunk, &mut x, &mut y);
        let shape = SeqShape::new(STEPS, chunk.len());
        let o = &mut out[c * CHUNK * s.ahead..][..chunk.len() * s.ahead];
        model.predict(shape, &x, o).expect("predict");
    }
    out
}

/// Trains one model with Adam (learning rate warmed up over the first epoch, then cosine
/// decay to 0), mini-batches reshuffled every epoch, and global-norm clipping.
fn train(kind: Kind, data: &Dataset, o: &Opts) -> Trained {
    let tag = 1000 + 10 * kind as u64 + data.ahead as u64;
    let mut model = Seq2Vec::new(kind.cell(), 1, &HIDDEN, data.ahead, sub_seed(o.seed, tag)).expect("model");
    let mut shuffle = SplitMix64::new(sub_seed(o.seed, tag + 1_000_000));
    let mut opt = Adam::new(o.lr);
    let n = data.train.n;
    let batches = n.div_ceil(o.batch);
    let total_steps = (o.epochs * batches) as f64;
    let warmup = batches as f64;
    let mut order: Vec<usize> = (0..n).collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let valid_targets = data.valid.targets();
    let start = Instant::now();
    let mut step = 0usize;
    for epoch in 0..o.epochs {
        // Fisher–Yates.
        for i in (1..n).rev() {
            let j = (shuffle.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let label = format!(
            "{:<5} {:>2} ahead  epoch {:>2}/{}",
            kind.short(),
            data.ahead,
            epoch + 1,
            o.epochs
        );
        let mut bar = Progress::new(label, n);
        let (mut loss_sum, mut seen, mut clipped) = (0.0f64, 0usize, 0usize);
        for idx in order.chunks(o.batch) {
            let s = step as f64;
            let lr = if s < warmup {
                (s + 1.0) / warmup
            } else {
                0.5 * (1.0 + (std::f64::consts::PI * (s - warmup) / (total_steps - warmup).max(1.0)).cos())
            };
            opt.set_lr(o.lr * lr as f32);
            data.train.batch(idx, &mut x, &mut y);
            let shape = SeqShape::new(STEPS, idx.len());
            let stats = model
                .train_step(shape, &x, &y, &mut opt, Some(MAX_GRAD_NORM))
                .expect("train step");
            loss_sum += stats.loss * idx.len() as f64;
            seen += idx.len();
            clipped += usize::from(stats.grad_norm > MAX_GRAD_NORM);
            step += 1;
            bar.update(seen, loss_sum / seen as f64);
        }
        let val = mse(&predict_all(&model, &data.valid), &valid_targets);
        let clip_pct = 100.0 * clipped as f64 / batches as f64;
        bar.finish(
            seen,
            loss_sum / seen as f64,
            &format!("val {val:.5}  clipped {clip_pct:>3.0}%"),
        );
    }
    Trained {
        model,
        seconds: start.elapsed().as_secs_f64(),
        sequences: o.epochs * n,
    }
}

// ---------------------------------------------------------------------------------------------
// Plot
// ---------------------------------------------------------------------------------------------

/// One line of the plot: a label, a colour, a dash pattern and the values from step `from`.
struct Curve {
    label: String,
    color: &'static str,
    dash: &'static str,
    from: usize,
    values: Vec<f32>,
    dots: bool,
}

/// Hand-written SVG: one panel per plotted test series, its 50 inputs, the true next values
/// and every model's forecast of them.
fn write_svg(path: &std::path::Path, ahead: usize, panels: &[Vec<Curve>]) -> std::io::Result<()> {
    let (pw, ph) = (420.0f64, 300.0f64);
    let (ml, mr, mt, mb) = (46.0, 12.0, 30.0, 36.0);
    let legend_h = 34.0;
    let width = pw * panels.len() as f64;
    let height = ph + legend_h;
    let len = STEPS + ahead;
    let (ymin, ymax) = (-1.0f64, 1.0f64);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (p, curves) in panels.iter().enumerate() {
        let x0 = p as f64 * pw;
        let sx = |t: f64| x0 + ml + (t / (len - 1) as f64) * (pw - ml - mr);
        let sy = |v: f64| mt + (ymax - v.clamp(ymin, ymax)) / (ymax - ymin) * (ph - mt - mb);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="18" text-anchor="middle" font-size="13">test series {}</text>"#,
            x0 + pw / 2.0,
            p + 1
        );
        // Axes, grid and ticks.
        for k in 0..=4 {
            let v = ymin + (ymax - ymin) * k as f64 / 4.0;
            let y = sy(v);
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.1}</text>"##,
                sx(0.0),
                sx((len - 1) as f64),
                sx(0.0) - 5.0,
                y + 4.0
            );
        }
        for t in (0..len).step_by(10) {
            let x = sx(t as f64);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{t}</text>"##,
                sy(ymax),
                sy(ymin),
                sy(ymin) + 15.0
            );
        }
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#888"/>"##,
            sx(0.0),
            sy(ymax),
            sx((len - 1) as f64) - sx(0.0),
            sy(ymin) - sy(ymax)
        );
        // Where the forecast starts.
        let xf = sx((STEPS - 1) as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{xf:.1}" y1="{:.1}" x2="{xf:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="3,3"/>"##,
            sy(ymax),
            sy(ymin)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time step</text>"#,
            x0 + ml + (pw - ml - mr) / 2.0,
            ph - 4.0
        );
        for c in curves {
            let pts: Vec<String> = c
                .values
                .iter()
                .enumerate()
                .map(|(k, &v)| format!("{:.1},{:.1}", sx((c.from + k) as f64), sy(v as f64)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8" stroke-dasharray="{}"/>"#,
                pts.join(" "),
                c.color,
                c.dash
            );
            if c.dots {
                for p in &pts {
                    let (x, y) = p.split_once(',').unwrap();
                    let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="2.2" fill="{}"/>"#, c.color);
                }
            }
        }
    }
    // Legend (from the first panel's curves).
    if let Some(curves) = panels.first() {
        let mut x = 20.0;
        let y = ph + legend_h / 2.0;
        for c in curves {
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="2.5" stroke-dasharray="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                x + 26.0,
                c.color,
                c.dash,
                x + 32.0,
                y + 4.0,
                c.label
            );
            if c.dots {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{y:.1}" r="3" fill="{}"/>"#,
                    x + 13.0,
                    c.color
                );
            }
            x += 40.0 + 7.0 * c.label.len() as f64;
        }
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" fill="#555">in parentheses: test MSE of the {ahead}-step forecast over the whole test set</text>"##,
            y + 4.0
        );
    }
    s.push_str("</svg>\n");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, s)
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

/// Test MSEs of one row of the table, per horizon.
pub struct Row {
    /// The model.
    pub name: String,
    /// Its test MSE per horizon of the run (`None`: not run).
    pub mse: Vec<Option<f64>>,
}

/// What a run measured.
pub struct Report {
    /// The horizons, in the order of [`Row::mse`].
    pub horizons: Vec<usize>,
    /// The naive baseline, the linear baseline, then each recurrent model.
    pub rows: Vec<Row>,
    /// Where the plot was written, if it was.
    pub plot: Option<PathBuf>,
}

fn main() {
    let o = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.threads)
        .build()
        .expect("thread pool");
    pool.install(|| run(&o));
}

/// Generates the data, fits the baselines, trains every model, prints the table and writes
/// the plot.
pub fn run(o: &Opts) -> Report {
    let t0 = Instant::now();
    println!(
        "fusedrnn forecast: {} train / {} valid / {} test series of {STEPS} steps, seed {}, {} thread(s)",
        o.sizes[0], o.sizes[1], o.sizes[2], o.seed, o.threads
    );
    println!(
        "models: {} layers x {} units + dense head, Adam lr {} (warmup + cosine), batch {}, {} epochs, clip norm {}",
        HIDDEN.len(),
        HIDDEN[0],
        o.lr,
        o.batch,
        o.epochs,
        MAX_GRAD_NORM
    );
    let nh = o.horizons.len();
    let mut rows: Vec<Row> = ["naive (repeat last value)", "linear (least squares)"]
        .iter()
        .map(|n| Row {
            name: n.to_string(),
            mse: vec![None; nh],
        })
        .chain(o.kinds.iter().map(|k| Row {
            name: format!("{} {}x{}", k.name(), HIDDEN.len(), HIDDEN[0]),
            mse: vec![None; nh],
        }))
        .collect();
    let mut plot: Option<(usize, Vec<Vec<Curve>>)> = None;
    let mut timings = Vec::new();
    for (hi, &ahead) in o.horizons.iter().enumerate() {
        let data = Dataset::new(o.sizes, ahead, o.seed);
        let targets = data.test.targets();
        let naive = naive_predict(&data.test);
        let linear = Linear::fit(&data.train, 1e-3).predict(&data.test);
        rows[0].mse[hi] = Some(mse(&naive, &targets));
        rows[1].mse[hi] = Some(mse(&linear, &targets));
        println!(
            "\n{ahead} step(s) ahead: naive {:.5}, linear {:.5} (test MSE)",
            rows[0].mse[hi].unwrap(),
            rows[1].mse[hi].unwrap()
        );
        // Plot the longest horizon.
        let plotting = o.horizons.iter().all(|&h| h <= ahead) && plot.is_none();
        let shown = PLOTTED.min(data.test.n);
        let mut panels: Vec<Vec<Curve>> = (0..shown)
            .map(|i| {
                let r = data.test.row(i);
                vec![
                    Curve {
                        label: "input".into(),
                        color: "#555",
                        dash: "none",
                        from: 0,
                        values: r[..STEPS].to_vec(),
                        dots: false,
                    },
                    Curve {
                        label: "true future".into(),
                        color: "#000",
                        dash: "none",
                        from: STEPS,
                        values: r[STEPS..].to_vec(),
                        dots: true,
                    },
                    Curve {
                        label: format!("linear ({:.4})", rows[1].mse[hi].unwrap()),
                        color: "#999",
                        dash: "5,3",
                        from: STEPS,
                        values: linear[i * ahead..(i + 1) * ahead].to_vec(),
                        dots: false,
                    },
                ]
            })
            .collect();
        for (ki, &kind) in o.kinds.iter().enumerate() {
            let t = train(kind, &data, o);
            let pred = predict_all(&t.model, &data.test);
            let m = mse(&pred, &targets);
            rows[2 + ki].mse[hi] = Some(m);
            println!(
                "{:<22} {ahead:>2} ahead: test MSE {m:.5}  ({:.1} s, {:.0} seq/s)",
                kind.name(),
                t.seconds,
                t.sequences as f64 / t.seconds
            );
            timings.push((kind, ahead, t.seconds));
            for (i, panel) in panels.iter_mut().enumerate() {
                panel.push(Curve {
                    label: format!("{} ({m:.4})", kind.short()),
                    color: kind.color(),
                    dash: "none",
                    from: STEPS,
                    values: pred[i * ahead..(i + 1) * ahead].to_vec(),
                    dots: false,
                });
            }
        }
        if plotting {
            plot = Some((ahead, panels));
        }
    }

    // The table, in Markdown.
    println!("\nTest MSE ({} test series, seed {}):\n", o.sizes[2], o.seed);
    let heads: Vec<String> = o
        .horizons
        .iter()
        .map(|&h| {
            if h == 1 {
                "next value".to_string()
            } else {
                format!("next {h} values")
            }
        })
        .collect();
    println!("| model | {} |", heads.join(" | "));
    println!("|---|{}", "---:|".repeat(nh));
    for r in &rows {
        let cells: Vec<String> = r
            .mse
            .iter()
            .map(|m| m.map_or("-".into(), |v| format!("{v:.4}")))
            .collect();
        println!("| {} | {} |", r.name, cells.join(" | "));
    }
    println!("\n(book, 10 steps ahead: naive ~0.223, linear ~0.0188, RNN sequence-to-vector ~0.008)");
    if let Some(h10) = o.horizons.iter().position(|&h| h == 10) {
        let linear = rows[1].mse[h10].unwrap();
        let beaten: Vec<&str> = rows[2..]
            .iter()
            .filter(|r| r.mse[h10].is_some_and(|m| m < linear))
            .map(|r| r.name.as_str())
            .collect();
        println!(
            "10 steps ahead: {} of {} recurrent models beat the linear model",
            beaten.len(),
            rows.len() - 2
        );
    }

    let mut plot_path = None;
    if let Some((ahead, panels)) = plot {
        match write_svg(&o.plot, ahead, &panels) {
            Ok(()) => {
                println!(
                    "plot of {} test series, {ahead}-step forecasts: {}",
                    panels.len(),
                    o.plot.display()
                );
                plot_path = Some(o.plot.clone());
            }
            Err(e) => eprintln!("could not write the plot to {}: {e}", o.plot.display()),
        }
    }
    let train_s: f64 = timings.iter().map(|t| t.2).sum();
    println!("total {:.1} s (training {:.1} s)", t0.elapsed().as_secs_f64(), train_s);
    Report {
        horizons: o.horizons.clone(),
        rows,
        plot: plot_path,
    }
}
