//! The C ABI for stacks, weight files and layouts, and gradient clipping, exercised from a C11
//! programs (`ffi-tests/stack.c`, `ffi-tests/stack_errors.c`) linked against the shared and the static library, natively
//! and under valgrind (see `tests/ffi_support`).
//!
//! Expected numbers come from a fixture written here with the Rust API: `Stack` forward and
//! backward (itself checked against `fusedrnn::reference` in `tests/stack_vs_reference.rs`),
//! `convert::onnx::to_onnx`, `convert::keras::to_keras`, and safetensors files written by
//! `convert::pytorch::save_state_dict`.

mod ffi_support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ffi_support::*;
use fusedrnn::convert::{keras, onnx, pytorch};
use fusedrnn::rng::SplitMix64;
use fusedrnn::{
    Activation, Cell, Direction, GradInput, GradMode, GradOutput, GruVariant, SeqInput, SeqOutput, SeqShape, Stack,
    StackDesc, StackWorkspace, Weights,
};

/// One stack case: cell, `I, H, T, N`, `L`, direction, `batch_first`.
struct Case {
    cell: Cell,
    sizes: (usize, usize, usize, usize),
    layers: usize,
    direction: Direction,
    batch_first: bool,
}

fn direction_code(d: Direction) -> u32 {
    match d {
        Direction::Forward => 0,
        Direction::Reverse => 1,
        Direction::Bidirectional => 2,
        Direction::BidirectionalSum => 3,
    }
}

/// Whether PyTorch can hold the stack (so a safetensors file is written for it).
fn pytorch_can_hold(c: &Case) -> bool {
    c.cell != Cell::Gru(GruVariant::ResetBeforeLinear)
        && match c.direction {
            Direction::Forward | Direction::Bidirectional => true,
            Direction::Reverse => false,
            Direction::BidirectionalSum => c.layers == 1,
        }
}

/// The prefix of the parameters in `stack_case{k}_prefixed.safetensors`.
const PREFIX: &str = "encoder.rnn.";

/// The same `state_dict` with every parameter renamed `{PREFIX}{name}`, plus an unrelated
/// tensor that must be ignored.
fn prefixed(bytes: &[u8]) -> Vec<u8> {
    use safetensors::tensor::TensorView;
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| (format!("{PREFIX}{name}"), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    owned.push(("head.weight".into(), vec![2], 1.5f32.to_le_bytes().repeat(2)));
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn write_case(out: &mut String, k: usize, c: &Case, dir: &Path) {
    let (i, h, t, n) = c.sizes;
    let (cv, v, a) = match c.cell {
        Cell::Lstm => (0, 0, 0),
        Cell::Gru(GruVariant::LinearBeforeReset) => (1, 0, 0),
        Cell::Gru(GruVariant::ResetBeforeLinear) => (1, 1, 0),
        Cell::Rnn(Activation::Tanh) => (2, 0, 0),
        Cell::Rnn(Activation::Relu) => (2, 0, 1),
    };
    writeln!(out, "case {cv} {v} {a} {i} {h} {t} {n}").unwrap();
    let has_st = pytorch_can_hold(c);
    let meta = [
        c.layers,
        direction_code(c.direction) as usize,
        c.batch_first as usize,
        has_st as usize,
    ];
    put(out, "stack", &meta.map(|x| x as f64));
    let desc = StackDesc::new(c.cell, i, h, c.layers, c.direction)
        .unwrap()
        .batch_first(c.batch_first);
    let stack = Stack::init_uniform(desc, 500 + k as u64);
    let lstm = c.cell.has_cell_state();
    let nk = desc.layer_count();
    for (k, l) in stack.layers().iter().enumerate() {
        for (name, buf) in ["w_ih", "w_hh", "b_ih", "b_hh"].into_iter().zip(l.weights().buffers()) {
            put(out, &format!("{name}.{k}"), buf);
        }
    }
    let mut rng = SplitMix64::new(77 + k as u64);
    let w = desc.output_size();
    let x = uniform(t * n * i, 1.0, &mut rng);
    let h0 = uniform(nk * n * h, 0.5, &mut rng);
    let c0 = uniform(nk * n * h, 0.5, &mut rng);
    let dy = uniform(t * n * w, 1.0, &mut rng);
    let dh_n = uniform(nk * n * h, 0.5, &mut rng);
    let dc_n = uniform(nk * n * h, 0.5, &mut rng);
    put(out, "x", &x);
    put(out, "h0", &h0);
    put(out, "dy", &dy);
    put(out, "dh_n", &dh_n);
    if lstm {
        put(out, "c0", &c0);
        put(out, "dc_n", &dc_n);
    }
    let shape = SeqShape::new(t, n);
    let (mut y, mut hn, mut cn) = (vec![0.0; t * n * w], vec![0.0; nk * n * h], vec![0.0; nk * n * h]);
    let mut input = SeqInput::new(&x).h0(&h0);
    let mut output = SeqOutput::new(&mut y).h_n(&mut hn);
    if lstm {
        input = input.c0(&c0);
        output = output.c_n(&mut cn);
    }
    let mut ws = StackWorkspace::new();
    stack.forward_train(shape, input, output, &mut ws).unwrap();
    put(out, "y", &y);
    put(out, "h_n", &hn);
    if lstm {
        put(out, "c_n", &cn);
    }
    let mut grads: Vec<Weights> = stack.layers().iter().map(|l| Weights::zeros(l.desc())).collect();
    let (mut dx, mut dh0, mut dc0) = (vec![0.0; t * n * i], vec![0.0; nk * n * h], vec![0.0; nk * n * h]);
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
    for (k, g) in grads.iter().enumerate() {
        for (name, buf) in ["dw_ih", "dw_hh", "db_ih", "db_hh"].into_iter().zip(g.buffers()) {
            put(out, &format!("{name}.{k}"), buf);
        }
    }
    let d = c.direction.count();
    for l in 0..c.layers {
        let ws: Vec<Weights> = stack.layers()[l * d..(l + 1) * d]
            .iter()
            .map(|x| x.weights().clone())
            .collect();
        let o = onnx::to_onnx(&ws).unwrap();
        put(out, &format!("onnx_w.{l}"), &o.w);
        put(out, &format!("onnx_r.{l}"), &o.r);
        put(out, &format!("onnx_b.{l}"), &o.b);
    }
    for (k, l) in stack.layers().iter().enumerate() {
        let kw = keras::to_keras(l.weights()).unwrap();
        put(out, &format!("keras_kernel.{k}"), &kw.kernel);
        put(out, &format!("keras_rk.{k}"), &kw.recurrent_kernel);
        put(out, &format!("keras_bias.{k}"), &kw.bias);
    }
    out.push_str("endcase\n");
    if has_st {
        let ws: Vec<Weights> = stack.layers().iter().map(|x| x.weights().clone()).collect();
        let bytes = pytorch::save_state_dict_bytes(&ws, d == 2).unwrap();
        std::fs::write(dir.join(format!("stack_case{k}.safetensors")), &bytes).unwrap();
        std::fs::write(
            dir.join(format!("stack_case{k}_prefixed.safetensors")),
            prefixed(&bytes),
        )
        .unwrap();
    }
}

/// Writes the stack fixture (and the safetensors files) once per test process; returns the
/// fixture's path.
fn fixture() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cases = [
            Case {
                cell: Cell::Lstm,
                sizes: (3, 4, 5, 2),
                layers: 2,
                direction: Direction::Bidirectional,
                batch_first: false,
            },
            Case {
                cell: Cell::Gru(GruVariant::LinearBeforeReset),
                sizes: (4, 3, 4, 3),
                layers: 2,
                direction: Direction::Forward,
                batch_first: true,
            },
            Case {
                cell: Cell::Gru(GruVariant::ResetBeforeLinear),
                sizes: (2, 5, 3, 2),
                layers: 1,
                direction: Direction::Reverse,
                batch_first: false,
            },
            Case {
                cell: Cell::Rnn(Activation::Tanh),
                sizes: (3, 6, 6, 2),
                layers: 3,
                direction: Direction::Forward,
                batch_first: false,
            },
            Case {
                cell: Cell::Rnn(Activation::Relu),
                sizes: (5, 4, 4, 3),
                layers: 2,
                direction: Direction::BidirectionalSum,
                batch_first: false,
            },
            Case {
                cell: Cell::Lstm,
                sizes: (1, 2, 7, 1),
                layers: 1,
                direction: Direction::Forward,
                batch_first: false,
            },
        ];
        let dir = setup().build_dir.join("stack");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from("fusedrnn-fixture 1\n");
        for (k, c) in cases.iter().enumerate() {
            write_case(&mut text, k, c, &dir);
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
fn c_stacks_match_rust_in_every_mode_and_layout() {
    let fx = fixture();
    let dir = fx.parent().unwrap().to_str().unwrap().to_owned();
    for link in LINKS {
        let out = run(&compile("ffi-tests/stack.c", link), &[fx.to_str().unwrap(), &dir], &[]);
        assert!(out.contains("stack: 6 cases OK"), "{out}");
    }
}

#[test]
fn c_stack_convert_clip_bad_input_gets_exact_statuses() {
    let dir = setup().build_dir.join("stack_errors");
    std::fs::create_dir_all(&dir).unwrap();
    for link in LINKS {
        let out = run(
            &compile("ffi-tests/stack_errors.c", link),
            &[dir.to_str().unwrap()],
            &[],
        );
        assert!(out.contains("stack_errors: OK"), "{out}");
    }
}
