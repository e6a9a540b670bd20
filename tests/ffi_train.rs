//! The C ABI of the training helpers (`frnn_adam`, `frnn_dense`, `frnn_seq2vec`), exercised
//! from C11 programs (`ffi-tests/train.c`, `ffi-tests/train_errors.c`) linked against the
//! shared and the static library, natively and under valgrind (see `tests/ffi_support`).
//!
//! Expected numbers come from a fixture written here with the Rust API (`train::Adam`,
//! `train::Dense`, `train::Seq2Vec`, whose unit tests check them against hand computations
//! and finite differences); the C results must equal them bit for bit (the same code runs
//! behind both APIs, and results do not depend on the thread count).

mod ffi_support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ffi_support::*;
use fusedrnn::rng::SplitMix64;
use fusedrnn::train::{Adam, Dense, LayerStack, Seq2Vec};
use fusedrnn::{Activation, Cell, GradMode, GruVariant, Layer, LayerDesc, SeqShape, Weights};

/// The kinds of case (`meta[0]`).
const SEQ2VEC: f64 = 0.0;
const DENSE: f64 = 1.0;
const ADAM: f64 = 2.0;

/// A model to train: `Seq2Vec::new`, or (`opts` set) `Seq2Vec::from_parts` of layers with
/// those options and non-default extra weights.
struct Model {
    cell: Cell,
    input: usize,
    hidden: &'static [usize],
    outputs: usize,
    seed: u64,
    /// `T`, `N`, and the number of training steps (one batch each).
    t: usize,
    n: usize,
    steps: usize,
    /// 0: no clipping.
    max_norm: f32,
    lr: f32,
    /// `(layer_norm, peepholes, input_forget)`, or `None` for `Seq2Vec::new`.
    opts: Option<(bool, bool, bool)>,
}

const MODELS: [Model; 5] = [
    Model {
        cell: Cell::Lstm,
        input: 2,
        hidden: &[5, 4],
        outputs: 3,
        seed: 11,
        t: 6,
        n: 3,
        steps: 4,
        max_norm: 0.05,
        lr: 0.01,
        opts: None,
    },
    Model {
        cell: Cell::Gru(GruVariant::ResetBeforeLinear),
        input: 1,
        hidden: &[6],
        outputs: 1,
        seed: 12,
        t: 5,
        n: 4,
        steps: 3,
        max_norm: 0.0,
        lr: 0.02,
        opts: None,
    },
    Model {
        cell: Cell::Rnn(Activation::Relu),
        input: 3,
        hidden: &[3, 5, 4],
        outputs: 2,
        seed: 13,
        t: 4,
        n: 2,
        steps: 3,
        max_norm: 0.1,
        lr: 0.01,
        opts: None,
    },
    Model {
        cell: Cell::Gru(GruVariant::LinearBeforeReset),
        input: 2,
        hidden: &[4, 3],
        outputs: 2,
        seed: 14,
        t: 5,
        n: 2,
        steps: 3,
        max_norm: 0.2,
        lr: 0.01,
        opts: Some((true, false, false)),
    },
    Model {
        cell: Cell::Lstm,
        input: 2,
        hidden: &[5],
        outputs: 2,
        seed: 15,
        t: 4,
        n: 3,
        steps: 3,
        max_norm: 0.0,
        lr: 0.01,
        opts: Some((false, true, true)),
    },
];

fn cell_codes(cell: Cell) -> (u32, u32, u32) {
    match cell {
        Cell::Lstm => (0, 0, 0),
        Cell::Gru(GruVariant::LinearBeforeReset) => (1, 0, 0),
        Cell::Gru(GruVariant::ResetBeforeLinear) => (1, 1, 0),
        Cell::Rnn(Activation::Tanh) => (2, 0, 0),
        Cell::Rnn(Activation::Relu) => (2, 0, 1),
    }
}

/// Every buffer of `w` as `{prefix}.{l}.{j}`, `j` over the seven slots (`W_ih, W_hh, b_ih,
/// b_hh, W_hr, peepholes, layer_norm`; absent ones left out).
fn put_layer(out: &mut String, prefix: &str, l: usize, w: &Weights) {
    let [a, b, c, d] = w.buffers();
    for (j, buf) in [a, b, c, d, w.w_hr(), w.peepholes(), w.layer_norm()]
        .into_iter()
        .enumerate()
    {
        if !buf.is_empty() {
            put(out, &format!("{prefix}.{l}.{j}"), buf);
        }
    }
}

/// The layers of a `from_parts` model: uniform weights, and layer-norm parameters away from
/// the identity so that their layout matters.
fn parts(m: &Model, (ln, peep, fgt): (bool, bool, bool), rng: &mut SplitMix64) -> Vec<Layer> {
    let mut i = m.input;
    let mut layers = Vec::new();
    for (l, &h) in m.hidden.iter().enumerate() {
        let mut d = LayerDesc::new(m.cell, i, h).unwrap();
        if ln {
            d = d.with_layer_norm().unwrap();
        }
        if peep {
            d = d.with_peepholes().unwrap();
        }
        if fgt {
            d = d.with_input_forget().unwrap();
        }
        let mut w = Weights::init_uniform(&d, m.seed + l as u64);
        let n = w.layer_norm().len();
        if n > 0 {
            let p: Vec<f32> = uniform(n, 0.3, rng).into_iter().map(|v| 1.0 + v).collect();
            w.set_layer_norm(&p).unwrap();
        }
        layers.push(Layer::new(w));
        i = h;
    }
    layers
}

fn write_model(out: &mut String, m: &Model) {
    let (c, v, a) = cell_codes(m.cell);
    let top = *m.hidden.last().unwrap();
    writeln!(out, "case {c} {v} {a} {} {top} {} {}", m.input, m.t, m.n).unwrap();
    let (ln, peep, fgt) = m.opts.unwrap_or_default();
    let mut hid = [0.0f64; 3];
    for (h, &x) in hid.iter_mut().zip(m.hidden) {
        *h = x as f64;
    }
    let meta = [
        SEQ2VEC,
        m.hidden.len() as f64,
        hid[0],
        hid[1],
        hid[2],
        m.outputs as f64,
        m.seed as f64,
        m.steps as f64,
        m.max_norm as f64,
        m.lr as f64,
        m.opts.is_some() as u8 as f64,
        ln as u8 as f64,
        peep as u8 as f64,
        fgt as u8 as f64,
    ];
    put(out, "meta", &meta);
    let mut rng = SplitMix64::new(m.seed ^ 0x7e57);
    let mut model = match m.opts {
        None => Seq2Vec::new(m.cell, m.input, m.hidden, m.outputs, m.seed).unwrap(),
        Some(o) => {
            let layers = parts(m, o, &mut rng);
            for (l, layer) in layers.iter().enumerate() {
                put_layer(out, "w0", l, layer.weights());
            }
            let head = Dense::new(top, m.outputs, m.seed + 100);
            put(out, "head_w0", head.w());
            put(out, "head_b0", head.b());
            Seq2Vec::from_parts(LayerStack::from_layers(layers).unwrap(), head).unwrap()
        }
    };
    let shape = SeqShape::new(m.t, m.n);
    // One batch per step (`{:e}` prints each `f32` so that it reads back exactly).
    let batches: Vec<(Vec<f32>, Vec<f32>)> = (0..m.steps)
        .map(|_| {
            let x = uniform(m.t * m.n * m.input, 1.0, &mut rng);
            (x, uniform(m.n * m.outputs, 0.8, &mut rng))
        })
        .collect();
    for (s, (x, y)) in batches.iter().enumerate() {
        put(out, &format!("x.{s}"), x);
        put(out, &format!("y.{s}"), y);
    }
    let mut pred = vec![0.0f32; m.n * m.outputs];
    model.predict(shape, &batches[0].0, &mut pred).unwrap();
    put(out, "pred0", &pred);
    let mut opt = Adam::new(m.lr);
    let clip = (m.max_norm > 0.0).then_some(m.max_norm);
    let (mut loss, mut norm) = (Vec::new(), Vec::new());
    for (x, y) in &batches {
        let s = model.train_step(shape, x, y, &mut opt, clip).unwrap();
        assert!(s.loss.is_finite() && s.grad_norm.is_finite());
        loss.push(s.loss);
        norm.push(s.grad_norm);
    }
    if let Some(c) = clip {
        assert!(norm.iter().any(|&g| g > c), "clipping never acts: {norm:?}");
    }
    put(out, "loss", &loss);
    put(out, "norm", &norm);
    model.predict(shape, &batches[0].0, &mut pred).unwrap();
    put(out, "pred", &pred);
    for (l, layer) in model.stack().layers().iter().enumerate() {
        put_layer(out, "wf", l, layer.weights());
    }
    put(out, "head_wf", model.head().w());
    put(out, "head_bf", model.head().b());
    for (k, g) in model.grad_buffers_mut().iter().enumerate() {
        put(out, &format!("g.{k}"), g);
    }
    out.push_str("endcase\n");
}

fn write_dense(out: &mut String, (i, o, n, seed): (usize, usize, usize, u64)) {
    writeln!(out, "case 0 0 0 {i} {o} 1 {n}").unwrap();
    put(out, "meta", &[DENSE, i as f64, o as f64, n as f64, seed as f64]);
    let d = Dense::new(i, o, seed);
    let mut rng = SplitMix64::new(seed ^ 0xde45e);
    let x = uniform(n * i, 1.0, &mut rng);
    let dy = uniform(n * o, 1.0, &mut rng);
    let mut y = vec![0.0f32; n * o];
    d.forward(&x, &mut y);
    let mut g = Dense::zeros(i, o);
    let mut dx = vec![0.0f32; n * i];
    d.backward(&x, &dy, Some(&mut dx), &mut g, GradMode::Overwrite);
    for (name, v) in [
        ("w", d.w()),
        ("b", d.b()),
        ("x", &x),
        ("dy", &dy),
        ("y", &y),
        ("dx", &dx),
    ] {
        put(out, name, v);
    }
    put(out, "dw", g.w());
    put(out, "db", g.b());
    d.backward(&x, &dy, None, &mut g, GradMode::Accumulate);
    put(out, "dw2", g.w());
    put(out, "db2", g.b());
    out.push_str("endcase\n");
}

/// Buffer lengths of the Adam case (the middle one empty: it keeps its place).
const ADAM_LENS: [usize; 3] = [5, 0, 3];

fn write_adam(out: &mut String) {
    let (lr, b1, b2, eps, lr2, steps) = (0.05f32, 0.8f32, 0.99f32, 1e-6f32, 0.02f32, 3usize);
    out.push_str("case 0 0 0 1 1 1 1\n");
    put(
        out,
        "meta",
        &[
            ADAM,
            lr as f64,
            b1 as f64,
            b2 as f64,
            eps as f64,
            lr2 as f64,
            steps as f64,
        ],
    );
    let mut rng = SplitMix64::new(77);
    let mut p: Vec<Vec<f32>> = ADAM_LENS.iter().map(|&n| uniform(n, 1.0, &mut rng)).collect();
    for (k, b) in p.iter().enumerate() {
        put(out, &format!("p0.{k}"), b);
    }
    let mut opt = Adam::new(lr).with_betas(b1, b2).with_eps(eps);
    for s in 0..steps {
        let g: Vec<Vec<f32>> = ADAM_LENS.iter().map(|&n| uniform(n, 2.0, &mut rng)).collect();
        for (k, b) in g.iter().enumerate() {
            put(out, &format!("g.{s}.{k}"), b);
        }
        let mut views: Vec<&mut [f32]> = p.iter_mut().map(|b| &mut b[..]).collect();
        let grads: Vec<&[f32]> = g.iter().map(|b| &b[..]).collect();
        opt.step(&mut views, &grads);
        if s == 0 {
            opt.set_lr(lr2);
        }
        for (k, b) in p.iter().enumerate() {
            put(out, &format!("p.{s}.{k}"), b);
        }
    }
    out.push_str("endcase\n");
}

/// The fixture, written once per test process; returns its path and number of cases.
fn fixture() -> &'static (PathBuf, usize) {
    static FX: OnceLock<(PathBuf, usize)> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = setup().build_dir.join("train");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from("fusedrnn-fixture 1\n");
        for m in &MODELS {
            write_model(&mut text, m);
        }
        let dense = [(4, 3, 5, 21), (1, 1, 1, 22), (7, 2, 3, 23)];
        for d in dense {
            write_dense(&mut text, d);
        }
        write_adam(&mut text);
        text.push_str("end\n");
        let path = dir.join("fixture.txt");
        let tmp = dir.join(format!("fixture.txt.tmp{}", std::process::id()));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        (path, MODELS.len() + dense.len() + 1)
    })
}

#[test]
fn c_training_helpers_match_rust_bitwise() {
    let (fx, cases): &(PathBuf, usize) = fixture();
    let fx: &Path = fx;
    for link in LINKS {
        let out = run(&compile("ffi-tests/train.c", link), &[fx.to_str().unwrap()], &[]);
        assert!(out.contains(&format!("train: {cases} cases OK")), "{out}");
    }
}

#[test]
fn c_training_helpers_bad_input_gets_exact_statuses() {
    for link in LINKS {
        let out = run(&compile("ffi-tests/train_errors.c", link), &[], &[]);
        assert!(out.contains("train_errors: OK"), "{out}");
    }
}
