//! The C ABI for the LSTM options (projection, peepholes, gate and cell clipping, coupled
//! gates), layer normalization and dropout (a layer's recurrent mask, a stack's inter-layer
//! and recurrent dropout from a seed), exercised from C11 programs (`ffi-tests/options.c`,
//! `ffi-tests/options_errors.c`) linked against the shared and the static library, natively
//! and under valgrind (see `tests/ffi_support`).
//!
//! Expected numbers come from a fixture written here with the Rust API (`Layer`, `Stack`,
//! `train::dropout_mask`), which the property tests check against `fusedrnn::reference`; the
//! C results must equal them bit for bit (the same kernels run behind both APIs, and results
//! do not depend on the thread count).

mod ffi_support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ffi_support::*;
use fusedrnn::rng::SplitMix64;
use fusedrnn::{
    Cell, Direction, Dropout, GradInput, GradMode, GradOutput, GruVariant, Layer, LayerDesc, SeqInput, SeqOutput,
    SeqShape, Stack, StackDesc, StackWorkspace, TrainWorkspace, Weights,
};

/// The options of a case.
#[derive(Clone, Copy, Default)]
struct Opts {
    proj: usize,
    peep: bool,
    input_forget: bool,
    layer_norm: bool,
    clip: f32,
    cell_clip: f32,
}

/// A stack case's structure and dropout (`layers == 0`: a single layer).
#[derive(Clone, Copy)]
struct StackOf {
    layers: usize,
    direction: Direction,
    batch_first: bool,
    dropout: f32,
    recurrent: f32,
    /// Input dropout (`frnn_dropout.input`; 0: through `frnn_stack_forward_train_dropout`).
    input: f32,
    seed: u64,
}

struct Case {
    cell: Cell,
    /// `I, H, T, N`.
    sizes: (usize, usize, usize, usize),
    opts: Opts,
    /// For a layer: the recurrent-dropout probability and seed of its mask (`p == 0`: none).
    mask: (f32, u64),
    /// For a layer: the input-dropout probability and seed of its `[N, I]` mask (`p == 0`:
    /// none; C passes it in `frnn_forward_options_ex`).
    imask: (f32, u64),
    /// For a layer: a variable-length batch (lengths `(t + 2b) % (t + 1)`, so some are 0).
    varlen: bool,
    stack: Option<StackOf>,
}

fn layer_desc(c: &Case) -> LayerDesc {
    let (i, h, _, _) = c.sizes;
    let o = c.opts;
    let mut d = LayerDesc::new(c.cell, i, h).unwrap();
    if o.layer_norm {
        d = d.with_layer_norm().unwrap();
    }
    if o.proj > 0 {
        d = d.with_proj_size(o.proj).unwrap();
    }
    if o.peep {
        d = d.with_peepholes().unwrap();
    }
    if o.input_forget {
        d = d.with_input_forget().unwrap();
    }
    if o.clip > 0.0 {
        d = d.with_clip(o.clip).unwrap();
    }
    if o.cell_clip > 0.0 {
        d = d.with_cell_clip(o.cell_clip).unwrap();
    }
    d
}

fn direction_code(d: Direction) -> u32 {
    match d {
        Direction::Forward => 0,
        Direction::Reverse => 1,
        Direction::Bidirectional => 2,
        Direction::BidirectionalSum => 3,
    }
}

const WN: [&str; 7] = ["w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "peep", "ln"];
const DWN: [&str; 7] = ["dw_ih", "dw_hh", "db_ih", "db_hh", "dw_hr", "dpeep", "dln"];

/// Every buffer of `w` as `{names[j]}.{k}`, the seven slots in order (absent ones empty).
fn put_set(out: &mut String, names: [&str; 7], k: usize, w: &Weights) {
    let [a, b, c, d] = w.buffers();
    for (name, buf) in names
        .into_iter()
        .zip([a, b, c, d, w.w_hr(), w.peepholes(), w.layer_norm()])
    {
        if !buf.is_empty() {
            put(out, &format!("{name}.{k}"), buf);
        }
    }
}

/// Layer-normalization parameters away from the identity, so that their layout matters.
fn with_ln(mut w: Weights, rng: &mut SplitMix64) -> Weights {
    let n = w.layer_norm().len();
    if n > 0 {
        let p: Vec<f32> = uniform(n, 0.3, rng).into_iter().map(|v| 1.0 + v).collect();
        w.set_layer_norm(&p).unwrap();
    }
    w
}

fn write_case(out: &mut String, k: usize, c: &Case) {
    let (i, h, t, n) = c.sizes;
    let (cv, v) = match c.cell {
        Cell::Lstm => (0, 0),
        Cell::Gru(GruVariant::LinearBeforeReset) => (1, 0),
        Cell::Gru(GruVariant::ResetBeforeLinear) => (1, 1),
        Cell::Rnn(_) => (2, 0),
    };
    writeln!(out, "case {cv} {v} 0 {i} {h} {t} {n}").unwrap();
    let o = c.opts;
    let s = c.stack.unwrap_or(StackOf {
        layers: 0,
        direction: Direction::Forward,
        batch_first: false,
        dropout: 0.0,
        recurrent: 0.0,
        input: 0.0,
        seed: 0,
    });
    let meta = [
        o.proj as f64,
        o.peep as u8 as f64,
        o.input_forget as u8 as f64,
        o.layer_norm as u8 as f64,
        o.clip as f64,
        o.cell_clip as f64,
        s.layers as f64,
        direction_code(s.direction) as f64,
        s.batch_first as u8 as f64,
        s.dropout as f64,
        s.recurrent as f64,
        s.seed as f64,
        c.mask.0 as f64,
        c.mask.1 as f64,
        s.input as f64,
        c.imask.0 as f64,
        c.imask.1 as f64,
        c.varlen as u8 as f64,
    ];
    put(out, "meta", &meta);
    let ld = layer_desc(c);
    let lstm = c.cell.has_cell_state();
    let mut rng = SplitMix64::new(900 + k as u64);
    let shape = SeqShape::new(t, n);
    match c.stack {
        None => {
            let w = with_ln(Weights::init_uniform(&ld, 40 + k as u64), &mut rng);
            put_set(out, WN, 0, &w);
            let layer = Layer::new(w);
            let p = ld.output_size();
            let x = uniform(t * n * i, 1.0, &mut rng);
            let h0 = uniform(n * p, 0.5, &mut rng);
            let c0 = uniform(n * h, 0.5, &mut rng);
            let dy = uniform(t * n * p, 1.0, &mut rng);
            let dh_n = uniform(n * p, 0.5, &mut rng);
            let dc_n = uniform(n * h, 0.5, &mut rng);
            for (name, v) in [("x", &x), ("h0", &h0), ("dy", &dy), ("dh_n", &dh_n)] {
                put(out, name, v);
            }
            if lstm {
                put(out, "c0", &c0);
                put(out, "dc_n", &dc_n);
            }
            let lengths: Option<Vec<usize>> = c.varlen.then(|| (0..n).map(|b| (t + 2 * b) % (t + 1)).collect());
            if let Some(l) = &lengths {
                put(out, "lengths", &l.iter().map(|&v| v as f64).collect::<Vec<_>>());
            }
            let imask = (c.imask.0 > 0.0)
                .then(|| fusedrnn::train::dropout_mask(n * i, c.imask.0, &mut SplitMix64::new(c.imask.1)).unwrap());
            if let Some(m) = &imask {
                put(out, "imask", m);
            }
            let run = |mask: Option<&[f32]>, ws: Option<&mut TrainWorkspace>| {
                let (mut y, mut hn, mut cn) = (vec![0.0; t * n * p], vec![0.0; n * p], vec![0.0; n * h]);
                let mut input = SeqInput::new(&x).h0(&h0);
                input.recurrent_mask = mask;
                input.lengths = lengths.as_deref();
                if ws.is_some() {
                    input.input_mask = imask.as_deref();
                }
                let mut output = SeqOutput::new(&mut y).h_n(&mut hn);
                if lstm {
                    input = input.c0(&c0);
                    output = output.c_n(&mut cn);
                }
                match ws {
                    Some(ws) => layer.forward_train(shape, input, output, ws).unwrap(),
                    None => layer.forward(shape, input, output).unwrap(),
                }
                (y, hn, cn)
            };
            let (y, _, _) = run(None, None);
            put(out, "y_inf", &y);
            let mask = (c.mask.0 > 0.0)
                .then(|| fusedrnn::train::dropout_mask(n * p, c.mask.0, &mut SplitMix64::new(c.mask.1)).unwrap());
            if let Some(m) = &mask {
                put(out, "mask", m);
            }
            let mut ws = TrainWorkspace::new();
            let (y, hn, cn) = run(mask.as_deref(), Some(&mut ws));
            put(out, "y", &y);
            put(out, "h_n", &hn);
            if lstm {
                put(out, "c_n", &cn);
            }
            let mut g = Weights::zeros(&ld);
            let (mut dx, mut dh0, mut dc0) = (vec![0.0; t * n * i], vec![0.0; n * p], vec![0.0; n * h]);
            let mut go = GradOutput::new(&dy).dh_n(&dh_n);
            let mut gi = GradInput::none().dx(&mut dx).dh0(&mut dh0);
            if lstm {
                go = go.dc_n(&dc_n);
                gi = gi.dc0(&mut dc0);
            }
            layer
                .backward(&mut ws, &x, go, gi, &mut g, GradMode::Overwrite)
                .unwrap();
            put(out, "dx", &dx);
            put(out, "dh0", &dh0);
            if lstm {
                put(out, "dc0", &dc0);
            }
            put_set(out, DWN, 0, &g);
        }
        Some(s) => {
            let desc = StackDesc::from_layer(ld, s.layers, s.direction)
                .unwrap()
                .batch_first(s.batch_first);
            let dirs = s.direction.count();
            let ws: Vec<Weights> = (0..desc.layer_count())
                .map(|k2| {
                    let d = desc.layer_desc(k2 / dirs).unwrap();
                    with_ln(Weights::init_uniform(&d, 70 + k2 as u64), &mut rng)
                })
                .collect();
            for (k2, w) in ws.iter().enumerate() {
                put_set(out, WN, k2, w);
            }
            let stack = Stack::new(desc, ws).unwrap();
            let (nk, sp, w_out) = (desc.layer_count(), desc.state_size(), desc.output_size());
            let x = uniform(t * n * i, 1.0, &mut rng);
            let h0 = uniform(nk * n * sp, 0.5, &mut rng);
            let c0 = uniform(nk * n * h, 0.5, &mut rng);
            let dy = uniform(t * n * w_out, 1.0, &mut rng);
            let dh_n = uniform(nk * n * sp, 0.5, &mut rng);
            let dc_n = uniform(nk * n * h, 0.5, &mut rng);
            for (name, v) in [("x", &x), ("h0", &h0), ("dy", &dy), ("dh_n", &dh_n)] {
                put(out, name, v);
            }
            if lstm {
                put(out, "c0", &c0);
                put(out, "dc_n", &dc_n);
            }
            let run = |ws: Option<&mut StackWorkspace>| {
                let (mut y, mut hn, mut cn) = (vec![0.0; t * n * w_out], vec![0.0; nk * n * sp], vec![0.0; nk * n * h]);
                let mut input = SeqInput::new(&x).h0(&h0);
                let mut output = SeqOutput::new(&mut y).h_n(&mut hn);
                if lstm {
                    input = input.c0(&c0);
                    output = output.c_n(&mut cn);
                }
                let d = Dropout {
                    between_layers: s.dropout,
                    recurrent: s.recurrent,
                    input: s.input,
                };
                match ws {
                    Some(ws) => stack
                        .forward_train_dropout(shape, input, output, ws, d, &mut SplitMix64::new(s.seed))
                        .unwrap(),
                    None => stack.forward(shape, input, output).unwrap(),
                }
                (y, hn, cn)
            };
            let (y, _, _) = run(None);
            put(out, "y_inf", &y);
            let mut ws = StackWorkspace::new();
            let (y, hn, cn) = run(Some(&mut ws));
            put(out, "y", &y);
            put(out, "h_n", &hn);
            if lstm {
                put(out, "c_n", &cn);
            }
            let counts = [
                ws.dropout_masks().len() as f64,
                ws.recurrent_masks().len() as f64,
                ws.input_masks().len() as f64,
            ];
            put(out, "mask_counts", &counts);
            for (k2, m) in ws.input_masks().iter().enumerate() {
                put(out, &format!("imask.{k2}"), m);
            }
            for (l, m) in ws.dropout_masks().iter().enumerate() {
                put(out, &format!("bmask.{l}"), m);
            }
            for (k2, m) in ws.recurrent_masks().iter().enumerate() {
                put(out, &format!("rmask.{k2}"), m);
            }
            let mut grads: Vec<Weights> = stack.layers().iter().map(|l| Weights::zeros(l.desc())).collect();
            let (mut dx, mut dh0, mut dc0) = (vec![0.0; t * n * i], vec![0.0; nk * n * sp], vec![0.0; nk * n * h]);
            let mut go = GradOutput::new(&dy).dh_n(&dh_n);
            let mut gi = GradInput::none().dx(&mut dx).dh0(&mut dh0);
            if lstm {
                go = go.dc_n(&dc_n);
                gi = gi.dc0(&mut dc0);
            }
            stack
                .backward(&mut ws, go, gi, &mut grads, GradMode::Overwrite)
                .unwrap();
            put(out, "dx", &dx);
            put(out, "dh0", &dh0);
            if lstm {
                put(out, "dc0", &dc0);
            }
            for (k2, g) in grads.iter().enumerate() {
                put_set(out, DWN, k2, g);
            }
        }
    }
    out.push_str("endcase\n");
}

/// The cases: layers with each option (and a recurrent mask), layer-normalized LSTM and GRU
/// layers, and stacks with options, layer normalization and both dropouts.
fn cases() -> Vec<Case> {
    let lbr = Cell::Gru(GruVariant::LinearBeforeReset);
    let layer = |cell, sizes, opts, mask| Case {
        cell,
        sizes,
        opts,
        mask,
        imask: (0.0, 0),
        varlen: false,
        stack: None,
    };
    vec![
        layer(
            Cell::Lstm,
            (3, 5, 4, 2),
            Opts {
                proj: 3,
                peep: true,
                clip: 0.8,
                cell_clip: 0.9,
                ..Opts::default()
            },
            (0.3, 5),
        ),
        layer(
            Cell::Lstm,
            (2, 4, 5, 3),
            Opts {
                peep: true,
                input_forget: true,
                ..Opts::default()
            },
            (0.0, 0),
        ),
        layer(
            Cell::Lstm,
            (3, 4, 4, 2),
            Opts {
                layer_norm: true,
                ..Opts::default()
            },
            (0.25, 7),
        ),
        layer(
            lbr,
            (4, 3, 5, 2),
            Opts {
                layer_norm: true,
                ..Opts::default()
            },
            (0.4, 8),
        ),
        Case {
            cell: Cell::Lstm,
            sizes: (3, 4, 4, 2),
            opts: Opts {
                proj: 2,
                peep: true,
                clip: 1.5,
                ..Opts::default()
            },
            mask: (0.0, 0),
            imask: (0.0, 0),
            varlen: false,
            stack: Some(StackOf {
                layers: 2,
                direction: Direction::Bidirectional,
                batch_first: false,
                dropout: 0.3,
                recurrent: 0.2,
                input: 0.0,
                seed: 99,
            }),
        },
        Case {
            cell: lbr,
            sizes: (2, 3, 5, 3),
            opts: Opts {
                layer_norm: true,
                ..Opts::default()
            },
            mask: (0.0, 0),
            imask: (0.0, 0),
            varlen: false,
            stack: Some(StackOf {
                layers: 3,
                direction: Direction::Forward,
                batch_first: true,
                dropout: 0.25,
                recurrent: 0.0,
                input: 0.0,
                seed: 12345,
            }),
        },
        Case {
            cell: Cell::Lstm,
            sizes: (2, 3, 3, 2),
            opts: Opts {
                layer_norm: true,
                ..Opts::default()
            },
            mask: (0.0, 0),
            imask: (0.0, 0),
            varlen: false,
            stack: Some(StackOf {
                layers: 2,
                direction: Direction::Reverse,
                batch_first: false,
                dropout: 0.0,
                recurrent: 0.35,
                input: 0.0,
                seed: 3,
            }),
        },
        // Input dropout: layers with an input mask (with a recurrent mask, a projection and
        // a variable-length batch; alone on a GRU), a stack drawing input masks.
        Case {
            imask: (0.3, 21),
            varlen: true,
            ..layer(
                Cell::Lstm,
                (4, 5, 4, 3),
                Opts {
                    proj: 3,
                    peep: true,
                    ..Opts::default()
                },
                (0.2, 22),
            )
        },
        Case {
            imask: (0.45, 23),
            varlen: true,
            ..layer(
                Cell::Gru(GruVariant::ResetBeforeLinear),
                (5, 3, 5, 4),
                Opts::default(),
                (0.0, 0),
            )
        },
        Case {
            cell: Cell::Lstm,
            sizes: (3, 4, 4, 3),
            opts: Opts {
                proj: 2,
                ..Opts::default()
            },
            mask: (0.0, 0),
            imask: (0.0, 0),
            varlen: false,
            stack: Some(StackOf {
                layers: 2,
                direction: Direction::Bidirectional,
                batch_first: true,
                dropout: 0.2,
                recurrent: 0.3,
                input: 0.4,
                seed: 4242,
            }),
        },
        Case {
            cell: Cell::Rnn(fusedrnn::Activation::Tanh),
            sizes: (3, 4, 3, 2),
            opts: Opts::default(),
            mask: (0.0, 0),
            imask: (0.0, 0),
            varlen: false,
            stack: Some(StackOf {
                layers: 3,
                direction: Direction::Reverse,
                batch_first: false,
                dropout: 0.0,
                recurrent: 0.0,
                input: 0.5,
                seed: 5,
            }),
        },
    ]
}

fn fixture() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = setup().build_dir.join("options");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from("fusedrnn-fixture 1\n");
        for (k, c) in cases().iter().enumerate() {
            write_case(&mut text, k, c);
        }
        text.push_str("end\n");
        let path = dir.join("fixture.txt");
        let tmp = dir.join(format!("fixture.txt.tmp{}", std::process::id()));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
}

#[test]
fn c_layers_and_stacks_with_options_and_dropout_match_rust_bitwise() {
    let fx = fixture().to_str().unwrap().to_owned();
    let n = cases().len();
    for link in LINKS {
        let out = run(&compile("ffi-tests/options.c", link), &[&fx], &[]);
        assert!(out.contains(&format!("options: {n} cases OK")), "{out}");
    }
}

#[test]
fn c_options_bad_input_gets_exact_statuses() {
    for link in LINKS {
        let out = run(&compile("ffi-tests/options_errors.c", link), &[], &[]);
        assert!(out.contains("options_errors: OK"), "{out}");
    }
}
