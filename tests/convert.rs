//! `fusedrnn::convert`: weights from PyTorch, ONNX and Keras.
//!
//! Three kinds of checks:
//! - **Against the frameworks' own implementations**: fixtures in `tests/data/` made by
//!   `tests/data/make_fixtures.py` (run by hand, not in CI) — PyTorch `state_dict`s saved as
//!   safetensors with PyTorch's outputs (and, for one LSTM, its gradients), and ONNX operator
//!   tensors with the outputs of `onnx.reference.ReferenceEvaluator`. The references were
//!   computed in float64 from the stored float32 weights and inputs. Here each layer-direction
//!   is run with [`Layer::forward`] (a reverse direction over the time-reversed input, its
//!   output reversed back; a bidirectional layer's outputs concatenated `[fwd, bwd]` per step
//!   and fed to the next layer — composed by hand, not through `Stack`).
//! - **Keras fixtures** made with Keras 3 (torch backend) by the same script: a layer's
//!   `kernel`, `recurrent_kernel`, `bias` and its output on a batch-major input, for LSTM,
//!   GRU with `reset_after` true and false, and SimpleRNN (relu).
//! - **Keras equations** over drawn sizes: the test writes Keras' documented cell equations
//!   (Keras' `LSTMCell`, `GRUCell` for both `reset_after`, `SimpleRNNCell`: `x @ kernel`, gate
//!   columns `i,f,c,o` / `z,r,h`) as a naive f64 forward over Keras-layout arrays, builds those
//!   arrays from PyTorch-layout weights with its own index formula (gates found by name), and
//!   checks that `from_keras` gives back the weights and that [`Layer::forward`] on them
//!   matches the Keras equations.
//! - **Round trips** both ways for every cell, ONNX and Keras, over drawn sizes including 1
//!   and odd ones; the PyTorch `state_dict` saved and loaded again; and every documented error.
//!
//! Metric: `err = max_i |got_i - want_i| / max_i |want_i|` (max-norm relative error of the
//! buffer), required `<= 1e-5`. Each comparison prints its error (`--nocapture`).

use std::collections::HashMap;
use std::path::PathBuf;

use fusedrnn::convert::keras::{self, KerasTensors};
use fusedrnn::convert::onnx::{self, OnnxTensors};
use fusedrnn::convert::pytorch;
use fusedrnn::rng::SplitMix64;
use fusedrnn::{
    Activation, Cell, Direction, Error, GradInput, GradMode, GradOutput, GruVariant, Layer, LayerDesc, SeqInput,
    SeqOutput, SeqShape, Stack, StackDesc, StackWorkspace, TrainWorkspace, Weights,
};
use proptest::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

const TOL: f64 = 1e-5;

const CELLS: [Cell; 5] = [
    Cell::Lstm,
    Cell::Gru(GruVariant::LinearBeforeReset),
    Cell::Gru(GruVariant::ResetBeforeLinear),
    Cell::Rnn(Activation::Tanh),
    Cell::Rnn(Activation::Relu),
];

// ---------------------------------------------------------------------------------------------
// Helpers.

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file)
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(data_path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The f32 tensors of a fixture file, by name.
struct Fixture {
    file: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Fixture {
    fn load(file: &str) -> Self {
        let bytes = read(file);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let tensors = st
            .iter()
            .map(|(name, v)| {
                assert_eq!(v.dtype(), Dtype::F32, "{file}: {name}");
                let data = v
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                (name.to_owned(), (v.shape().to_vec(), data))
            })
            .collect();
        Self {
            file: file.to_owned(),
            tensors,
        }
    }
    fn opt(&self, name: &str) -> Option<&[f32]> {
        self.tensors.get(name).map(|(_, d)| d.as_slice())
    }
    fn get(&self, name: &str) -> &[f32] {
        self.opt(name)
            .unwrap_or_else(|| panic!("{}: no tensor {name}", self.file))
    }
    fn shape(&self, name: &str) -> &[usize] {
        &self.tensors[name].0
    }
}

/// Max-norm relative error of `got` against `want` (see the module docs).
fn err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, &w| m.max((w as f64).abs()));
    let diff = got.iter().zip(want).fold(0f64, |m, (&g, &w)| {
        if g.is_nan() {
            f64::INFINITY
        } else {
            m.max((g as f64 - w as f64).abs())
        }
    });
    diff / scale.max(f64::MIN_POSITIVE)
}

fn check(what: &str, got: &[f32], want: &[f32]) {
    let e = err(got, want);
    eprintln!("{what}: max-norm relative error {e:.2e}");
    assert!(e <= TOL, "{what}: error {e:.3e} > {TOL:e}");
}

fn check_f64(what: &str, got: &[f32], want: &[f64]) {
    let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
    check(what, got, &want);
}

/// `[T, slab]` with its time steps in reverse order.
fn reverse_time(x: &[f32], slab: usize) -> Vec<f32> {
    x.chunks_exact(slab).rev().flatten().copied().collect()
}

/// Outputs of one layer-direction.
struct Run {
    y: Vec<f32>,
    h_n: Vec<f32>,
    c_n: Vec<f32>,
}

/// Runs `w` over `x` (`[T, N, I]`), right to left when `reverse`; `y` is in the input's time
/// order.
fn run_dir(w: &Weights, x: &[f32], t: usize, n: usize, reverse: bool, h0: Option<&[f32]>) -> Run {
    let d = *w.desc();
    let (i, h) = (d.input_size(), d.hidden_size());
    let layer = Layer::new(w.clone());
    let xs = if reverse { reverse_time(x, n * i) } else { x.to_vec() };
    let mut y = vec![f32::NAN; t * n * h];
    let mut h_n = vec![f32::NAN; n * h];
    let mut c_n = vec![f32::NAN; n * h];
    let mut input = SeqInput::new(&xs);
    if let Some(h0) = h0 {
        input = input.h0(h0);
    }
    let mut out = SeqOutput::new(&mut y).h_n(&mut h_n);
    if d.cell().has_cell_state() {
        out = out.c_n(&mut c_n);
    }
    layer.forward(SeqShape::new(t, n), input, out).unwrap();
    if reverse {
        y = reverse_time(&y, n * h);
    }
    Run { y, h_n, c_n }
}

/// A stack composed by hand from `[l0, l0_reverse, l1, ...]`: `y` `[T, N, D*H]`, `h_n` and
/// `c_n` `[L*D, N, H]`.
fn run_stack(weights: &[Weights], dirs: usize, x: &[f32], t: usize, n: usize) -> Run {
    let h = weights[0].desc().hidden_size();
    let mut input = x.to_vec();
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    for layer in weights.chunks(dirs) {
        let runs: Vec<Run> = layer
            .iter()
            .enumerate()
            .map(|(d, w)| run_dir(w, &input, t, n, d == 1, None))
            .collect();
        input = (0..t * n)
            .flat_map(|row| runs.iter().flat_map(move |r| r.y[row * h..][..h].iter().copied()))
            .collect();
        for r in &runs {
            h_n.extend_from_slice(&r.h_n);
            c_n.extend_from_slice(&r.c_n);
        }
    }
    Run { y: input, h_n, c_n }
}

fn uniform(len: usize, scale: f32, rng: &mut SplitMix64) -> Vec<f32> {
    (0..len).map(|_| scale * (2.0 * rng.next_f32() - 1.0)).collect()
}

fn random_weights(desc: &LayerDesc, seed: u64) -> Weights {
    let mut w = Weights::init_uniform(desc, seed);
    // init_uniform draws the two biases from one stream; make b_hh clearly its own.
    let [_, _, _, b_hh] = w.buffers_mut();
    for v in b_hh.iter_mut() {
        *v *= -0.5;
    }
    w
}

/// The `Error::Param` of a refused call.
fn param_error<T: std::fmt::Debug>(r: fusedrnn::Result<T>) -> (String, String) {
    match r {
        Err(Error::Param { name, why }) => (name, why),
        other => panic!("expected Error::Param, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// PyTorch fixtures.

/// The sizes of every fixture (see make_fixtures.py).
const T: usize = 4;
const N: usize = 3;
const I: usize = 5;
const H: usize = 7;

fn pytorch_forward_case(name: &str, cell: Cell, layers: usize, bidirectional: bool) -> Vec<Weights> {
    let w = pytorch::load_state_dict(
        &data_path(&format!("pt_{name}.safetensors")),
        cell,
        layers,
        bidirectional,
    )
    .unwrap();
    let dirs = if bidirectional { 2 } else { 1 };
    assert_eq!(w.len(), layers * dirs);
    for (k, wk) in w.iter().enumerate() {
        let want_i = if k < dirs { I } else { dirs * H };
        assert_eq!(
            *wk.desc(),
            LayerDesc::new(cell, want_i, H).unwrap(),
            "layer-direction {k}"
        );
    }
    let io = Fixture::load(&format!("pt_{name}_io.safetensors"));
    let got = run_stack(&w, dirs, io.get("x"), T, N);
    assert_eq!(io.shape("y"), [T, N, dirs * H]);
    check(&format!("pytorch {name} y"), &got.y, io.get("y"));
    check(&format!("pytorch {name} h_n"), &got.h_n, io.get("h_n"));
    if let Some(c_n) = io.opt("c_n") {
        check(&format!("pytorch {name} c_n"), &got.c_n, c_n);
    }
    w
}

#[test]
fn pytorch_lstm_two_layers_bidirectional_matches_pytorch() {
    pytorch_forward_case("lstm_2l_bi", Cell::Lstm, 2, true);
}

#[test]
fn pytorch_gru_two_layers_matches_pytorch() {
    pytorch_forward_case("gru_2l", Cell::Gru(GruVariant::LinearBeforeReset), 2, false);
}

#[test]
fn pytorch_rnn_relu_matches_pytorch() {
    let w = pytorch_forward_case("rnn_relu", Cell::Rnn(Activation::Relu), 1, false);
    // The fixture is only a relu test if some pre-activations were negative.
    let io = Fixture::load("pt_rnn_relu_io.safetensors");
    assert!(io.get("y").contains(&0.0) && io.get("y").iter().any(|&v| v > 0.0));
    assert!(w[0].b_ih().iter().any(|&b| b != 0.0));
}

#[test]
fn pytorch_rnn_without_bias_gets_zero_biases_and_matches_pytorch() {
    let w = pytorch_forward_case("rnn_tanh_nobias", Cell::Rnn(Activation::Tanh), 1, false);
    assert!(w[0].b_ih().iter().chain(w[0].b_hh()).all(|&b| b == 0.0));
}

#[test]
fn pytorch_lstm_gradients_match_pytorch() {
    let w = pytorch::load_state_dict(&data_path("pt_lstm_grad.safetensors"), Cell::Lstm, 1, false).unwrap();
    let io = Fixture::load("pt_lstm_grad_io.safetensors");
    let layer = Layer::new(w.into_iter().next().unwrap());
    let shape = SeqShape::new(T, N);
    let x = io.get("x");
    let mut y = vec![f32::NAN; T * N * H];
    let (mut h_n, mut c_n) = (vec![f32::NAN; N * H], vec![f32::NAN; N * H]);
    let mut ws = TrainWorkspace::for_layer(&layer, shape).unwrap();
    layer
        .forward_train(
            shape,
            SeqInput::new(x).h0(io.get("h0")).c0(io.get("c0")),
            SeqOutput::new(&mut y).h_n(&mut h_n).c_n(&mut c_n),
            &mut ws,
        )
        .unwrap();
    check("pytorch lstm_grad y", &y, io.get("y"));
    check("pytorch lstm_grad h_n", &h_n, io.get("h_n"));
    check("pytorch lstm_grad c_n", &c_n, io.get("c_n"));

    let (mut dx, mut dh0, mut dc0) = (vec![f32::NAN; T * N * I], vec![f32::NAN; N * H], vec![f32::NAN; N * H]);
    let mut grads = Weights::zeros(layer.desc());
    layer
        .backward(
            &mut ws,
            x,
            GradOutput::new(io.get("g")),
            GradInput::none().dx(&mut dx).dh0(&mut dh0).dc0(&mut dc0),
            &mut grads,
            GradMode::Overwrite,
        )
        .unwrap();
    check("pytorch lstm_grad dx", &dx, io.get("dx"));
    check("pytorch lstm_grad dh0", &dh0, io.get("dh0"));
    check("pytorch lstm_grad dc0", &dc0, io.get("dc0"));
    let names = ["d_weight_ih_l0", "d_weight_hh_l0", "d_bias_ih_l0", "d_bias_hh_l0"];
    for (name, got) in names.iter().zip(grads.buffers()) {
        check(&format!("pytorch lstm_grad {name}"), got, io.get(name));
    }
}

const PT_CASES: [(&str, Cell, usize, bool); 5] = [
    ("lstm_2l_bi", Cell::Lstm, 2, true),
    ("gru_2l", Cell::Gru(GruVariant::LinearBeforeReset), 2, false),
    ("rnn_relu", Cell::Rnn(Activation::Relu), 1, false),
    ("rnn_tanh_nobias", Cell::Rnn(Activation::Tanh), 1, false),
    ("lstm_grad", Cell::Lstm, 1, false),
];

/// Saving writes exactly the tensors PyTorch wrote (names, shapes, bits), and loads back.
#[test]
fn pytorch_state_dict_round_trips_through_save() {
    let dir = std::env::temp_dir().join(format!("fusedrnn-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, cell, layers, bi) in PT_CASES {
        let file = format!("pt_{name}.safetensors");
        let orig = read(&file);
        let w = pytorch::load_state_dict_bytes(&orig, cell, layers, bi).unwrap();
        let saved = pytorch::save_state_dict_bytes(&w, bi).unwrap();
        assert_eq!(
            pytorch::load_state_dict_bytes(&saved, cell, layers, bi).unwrap(),
            w,
            "{name}"
        );

        let (orig_st, saved_st) = (
            SafeTensors::deserialize(&orig).unwrap(),
            SafeTensors::deserialize(&saved).unwrap(),
        );
        for (tname, view) in orig_st.iter() {
            let mine = saved_st.tensor(tname).unwrap();
            assert_eq!(
                (mine.dtype(), mine.shape(), mine.data()),
                (view.dtype(), view.shape(), view.data()),
                "{name} {tname}"
            );
        }
        // bias=False: the biases are written as zeros, the rest is the same set of names.
        let extra = saved_st.len() - orig_st.len();
        assert_eq!(extra, if name.contains("nobias") { 2 } else { 0 }, "{name}");

        let path = dir.join(&file);
        pytorch::save_state_dict(&path, &w, bi).unwrap();
        assert_eq!(pytorch::load_state_dict(&path, cell, layers, bi).unwrap(), w, "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- editing safetensors files for the error tests.

type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

fn entries(bytes: &[u8]) -> Vec<Entry> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    st.iter()
        .map(|(n, v)| (n.to_owned(), v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect()
}

fn serialize(entries: &[Entry]) -> Vec<u8> {
    let views = entries
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), TensorView::new(*d, s.clone(), b).unwrap()));
    safetensors::serialize(views, None).unwrap()
}

/// The fixture `pt_{name}` with `edit` applied.
fn edited(name: &str, edit: impl FnOnce(&mut Vec<Entry>)) -> Vec<u8> {
    let mut e = entries(&read(&format!("pt_{name}.safetensors")));
    edit(&mut e);
    serialize(&e)
}

fn remove(e: &mut Vec<Entry>, name: &str) -> Entry {
    let k = e
        .iter()
        .position(|x| x.0 == name)
        .unwrap_or_else(|| panic!("no {name}"));
    e.remove(k)
}

fn f32_entry(name: &str, shape: &[usize]) -> Entry {
    let len: usize = shape.iter().product();
    let bytes = (0..len).flat_map(|k| (k as f32 * 0.01).to_le_bytes()).collect();
    (name.to_owned(), Dtype::F32, shape.to_vec(), bytes)
}

#[test]
fn pytorch_prefixed_names_of_a_larger_module() {
    let bytes = edited("gru_2l", |e| {
        for x in e.iter_mut() {
            x.0 = format!("encoder.rnn.{}", x.0);
        }
        e.push(f32_entry("head.weight", &[2, 7]));
        e.push(f32_entry("weight_ih_l0", &[21, 99])); // outside the prefix: ignored
    });
    let cell = Cell::Gru(GruVariant::LinearBeforeReset);
    let want = pytorch::load_state_dict(&data_path("pt_gru_2l.safetensors"), cell, 2, false).unwrap();
    assert_eq!(
        pytorch::load_state_dict_bytes_prefixed(&bytes, "encoder.rnn.", cell, 2, false).unwrap(),
        want
    );
    // Without the prefix, the names are not found (the stray weight_ih_l0 has no weight_hh_l0).
    let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, cell, 2, false));
    assert_eq!(
        (name.as_str(), why.as_str()),
        ("weight_hh_l0", "missing from the state_dict")
    );
    // Errors name the parameter as stored, prefix included.
    let bytes = edited("gru_2l", |e| {
        for x in e.iter_mut() {
            x.0 = format!("rnn.{}", x.0);
        }
        remove(e, "rnn.bias_hh_l1");
    });
    let (name, why) = param_error(pytorch::load_state_dict_bytes_prefixed(&bytes, "rnn.", cell, 2, false));
    assert_eq!(name, "rnn.bias_hh_l1");
    assert_eq!(why, "missing while rnn.bias_ih_l1 is present");
}

#[test]
fn pytorch_missing_parameters_are_named() {
    for missing in [
        "weight_hh_l1_reverse",
        "weight_ih_l1",
        "weight_ih_l0",
        "weight_hh_l0",
        "weight_ih_l0_reverse",
    ] {
        let bytes = edited("lstm_2l_bi", |e| {
            remove(e, missing);
        });
        let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, Cell::Lstm, 2, true));
        assert_eq!((name.as_str(), why.as_str()), (missing, "missing from the state_dict"));
    }
    // One bias of a pair missing: named, with the one that is present.
    for (missing, present) in [
        ("bias_hh_l0", "bias_ih_l0"),
        ("bias_ih_l1_reverse", "bias_hh_l1_reverse"),
    ] {
        let bytes = edited("lstm_2l_bi", |e| {
            remove(e, missing);
        });
        let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, Cell::Lstm, 2, true));
        assert_eq!(name, missing);
        assert_eq!(why, format!("missing while {present} is present"));
    }
}

#[test]
fn pytorch_wrong_shapes_are_named_with_both_shapes() {
    let lstm = Cell::Lstm;
    // Layer 1 of a bidirectional LSTM reads 2H = 14 features.
    let bytes = edited("lstm_2l_bi", |e| {
        remove(e, "weight_ih_l1_reverse");
        e.push(f32_entry("weight_ih_l1_reverse", &[28, 7]));
    });
    let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, lstm, 2, true));
    assert_eq!(
        (name.as_str(), why.as_str()),
        ("weight_ih_l1_reverse", "expected shape [28, 14], got [28, 7]")
    );

    let bytes = edited("lstm_2l_bi", |e| {
        remove(e, "bias_hh_l0");
        e.push(f32_entry("bias_hh_l0", &[27]));
    });
    let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, lstm, 2, true));
    assert_eq!(
        (name.as_str(), why.as_str()),
        ("bias_hh_l0", "expected shape [28], got [27]")
    );

    let bytes = edited("lstm_2l_bi", |e| {
        remove(e, "weight_hh_l0_reverse");
        e.push(f32_entry("weight_hh_l0_reverse", &[7, 28]));
    });
    let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, lstm, 2, true));
    assert_eq!(
        (name.as_str(), why.as_str()),
        ("weight_hh_l0_reverse", "expected shape [28, 7], got [7, 28]")
    );

    // H comes from weight_hh_l0, which must be [G*H, H].
    let (name, why) = param_error(pytorch::load_state_dict_bytes(
        &read("pt_gru_2l.safetensors"),
        Cell::Lstm,
        2,
        false,
    ));
    assert_eq!(
        (name.as_str(), why.as_str()),
        ("weight_hh_l0", "expected shape [4*H, H] for Lstm, got [21, 7]")
    );
    let bytes = edited("rnn_relu", |e| {
        remove(e, "weight_hh_l0");
        e.push(f32_entry("weight_hh_l0", &[7, 7, 1]));
    });
    let (name, _) = param_error(pytorch::load_state_dict_bytes(
        &bytes,
        Cell::Rnn(Activation::Relu),
        1,
        false,
    ));
    assert_eq!(name, "weight_hh_l0");
    // I from weight_ih_l0, which must have G*H rows.
    let bytes = edited("rnn_relu", |e| {
        remove(e, "weight_ih_l0");
        e.push(f32_entry("weight_ih_l0", &[8, 5]));
    });
    let (name, why) = param_error(pytorch::load_state_dict_bytes(
        &bytes,
        Cell::Rnn(Activation::Relu),
        1,
        false,
    ));
    assert_eq!(
        (name.as_str(), why.as_str()),
        ("weight_ih_l0", "expected shape [7, I], got [8, 5]")
    );
}

#[test]
fn pytorch_only_f32_is_read() {
    for (dtype, width) in [(Dtype::F64, 8), (Dtype::F16, 2), (Dtype::BF16, 2)] {
        let bytes = edited("rnn_relu", |e| {
            remove(e, "bias_ih_l0");
            e.push(("bias_ih_l0".to_owned(), dtype, vec![7], vec![0u8; 7 * width]));
        });
        let (name, why) = param_error(pytorch::load_state_dict_bytes(
            &bytes,
            Cell::Rnn(Activation::Relu),
            1,
            false,
        ));
        assert_eq!(name, "bias_ih_l0");
        assert_eq!(why, format!("dtype {dtype:?}: only F32 tensors are supported"));
    }
}

#[test]
fn pytorch_more_layers_or_directions_than_asked_are_refused() {
    let bytes = read("pt_lstm_2l_bi.safetensors");
    let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, Cell::Lstm, 1, true));
    assert_eq!(name, "bias_hh_l1");
    assert!(why.contains("num_layers = 1, bidirectional = true"), "{why}");
    let (name, _) = param_error(pytorch::load_state_dict_bytes(&bytes, Cell::Lstm, 2, false));
    assert_eq!(name, "bias_hh_l0_reverse");
    // And fewer: a missing layer.
    let (name, why) = param_error(pytorch::load_state_dict_bytes(&bytes, Cell::Lstm, 3, true));
    assert_eq!(
        (name.as_str(), why.as_str()),
        ("weight_ih_l2", "missing from the state_dict")
    );
}

/// A 2-layer bidirectional module from PyTorch (`h` states `hw` wide): the weights load by
/// name, and a [`Stack`] on them gives PyTorch's outputs and every gradient (initial states
/// included); saving gives back loadable, equal weights.
fn pytorch_stack_grad_case(name: &str, cell: Cell, hw: usize) {
    let w = pytorch::load_state_dict(&data_path(&format!("pt_{name}.safetensors")), cell, 2, true).unwrap();
    assert_eq!(
        (w.len(), w[0].desc().output_size(), w[2].desc().input_size()),
        (4, hw, 2 * hw)
    );
    let io = Fixture::load(&format!("pt_{name}_io.safetensors"));
    let lstm = cell.has_cell_state();
    let desc = StackDesc::from_layer(*w[0].desc(), 2, Direction::Bidirectional).unwrap();
    let stack = Stack::new(desc, w.clone()).unwrap();
    let shape = SeqShape::new(T, N);
    let x = io.get("x");
    let mut y = vec![f32::NAN; T * N * 2 * hw];
    let (mut h_n, mut c_n) = (vec![f32::NAN; 4 * N * hw], vec![f32::NAN; 4 * N * H]);
    let mut ws = StackWorkspace::new();
    let (mut input, mut output) = (SeqInput::new(x).h0(io.get("h0")), SeqOutput::new(&mut y).h_n(&mut h_n));
    if lstm {
        input = input.c0(io.get("c0"));
        output = output.c_n(&mut c_n);
    }
    stack.forward_train(shape, input, output, &mut ws).unwrap();
    check(&format!("pytorch {name} y"), &y, io.get("y"));
    check(&format!("pytorch {name} h_n"), &h_n, io.get("h_n"));
    if lstm {
        check(&format!("pytorch {name} c_n"), &c_n, io.get("c_n"));
    }
    let (mut dx, mut dh0, mut dc0) = (
        vec![f32::NAN; T * N * I],
        vec![f32::NAN; 4 * N * hw],
        vec![f32::NAN; 4 * N * H],
    );
    let mut grads: Vec<Weights> = w.iter().map(|l| Weights::zeros(l.desc())).collect();
    let mut gi = GradInput::none().dx(&mut dx).dh0(&mut dh0);
    if lstm {
        gi = gi.dc0(&mut dc0);
    }
    stack
        .backward(
            &mut ws,
            GradOutput::new(io.get("g")),
            gi,
            &mut grads,
            GradMode::Overwrite,
        )
        .unwrap();
    check(&format!("pytorch {name} dx"), &dx, io.get("dx"));
    check(&format!("pytorch {name} dh0"), &dh0, io.get("dh0"));
    if lstm {
        check(&format!("pytorch {name} dc0"), &dc0, io.get("dc0"));
    }
    for (k, g) in grads.iter().enumerate() {
        let sfx = format!("l{}{}", k / 2, if k % 2 == 1 { "_reverse" } else { "" });
        let stems = ["weight_ih_", "weight_hh_", "bias_ih_", "bias_hh_", "weight_hr_"];
        let bufs = g.all_buffers();
        assert_eq!(bufs.len(), if hw == H { 4 } else { 5 });
        for (stem, got) in stems.iter().zip(bufs) {
            let name = format!("d_{stem}{sfx}");
            check(&format!("pytorch {name}"), got, io.get(&name));
        }
    }
    let saved = pytorch::save_state_dict_bytes(&w, true).unwrap();
    assert_eq!(pytorch::load_state_dict_bytes(&saved, cell, 2, true).unwrap(), w);
}

/// With `proj_size = 4` (`W_hr` from `weight_hr_l{k}`).
#[test]
fn pytorch_lstm_projection_stack_matches_pytorch_with_gradients() {
    pytorch_stack_grad_case("lstm_proj_grad", Cell::Lstm, 4);
}

#[test]
fn pytorch_gru_stack_matches_pytorch_with_gradients() {
    pytorch_stack_grad_case("gru_2l_bi_grad", Cell::Gru(GruVariant::LinearBeforeReset), H);
}

#[test]
fn pytorch_rnn_stack_matches_pytorch_with_gradients() {
    pytorch_stack_grad_case("rnn_2l_bi_grad", Cell::Rnn(Activation::Tanh), H);
}

#[test]
fn pytorch_projection_on_a_gru_or_half_missing_is_refused_by_name() {
    let bytes = edited("gru_2l", |e| {
        e.push(f32_entry("weight_hr_l0", &[3, 7]));
    });
    let (name, why) = param_error(pytorch::load_state_dict_bytes(
        &bytes,
        Cell::Gru(GruVariant::LinearBeforeReset),
        2,
        false,
    ));
    assert_eq!(name, "weight_hr_l0");
    assert_eq!(why, "a projection (proj_size > 0) exists only for nn.LSTM");
    // weight_hr_l0 [3, 7] does not fit weight_hh_l0 [28, 7] (a projection makes it [4H, P]).
    let bytes = edited("lstm_grad", |e| {
        e.push(f32_entry("weight_hr_l0", &[3, 7]));
    });
    let (name, _) = param_error(pytorch::load_state_dict_bytes(&bytes, Cell::Lstm, 1, false));
    assert_eq!(name, "weight_hh_l0");
}

#[test]
fn pytorch_bad_arguments_and_files() {
    let bytes = read("pt_gru_2l.safetensors");
    assert_eq!(
        pytorch::load_state_dict_bytes(&bytes, Cell::Gru(GruVariant::LinearBeforeReset), 0, false),
        Err(Error::ZeroSize { what: "num_layers" })
    );
    // A huge layer count is refused by the first missing layer, not by an allocation.
    let (name, _) = param_error(pytorch::load_state_dict_bytes(
        &bytes,
        Cell::Gru(GruVariant::LinearBeforeReset),
        usize::MAX,
        false,
    ));
    assert_eq!(name, "weight_ih_l2");
    assert!(matches!(
        pytorch::load_state_dict_bytes(&bytes, Cell::Gru(GruVariant::ResetBeforeLinear), 2, false),
        Err(Error::InvalidValue { what: "cell", .. })
    ));
    let (name, why) = param_error(pytorch::load_state_dict_bytes(
        b"not a safetensors file",
        Cell::Lstm,
        1,
        false,
    ));
    assert_eq!(name, "state_dict");
    assert!(why.starts_with("not a readable safetensors file"), "{why}");
    let missing = data_path("no_such_file.safetensors");
    let (name, why) = param_error(pytorch::load_state_dict(&missing, Cell::Lstm, 1, false));
    assert_eq!(name, "state_dict");
    assert!(why.starts_with(&format!("cannot read {}", missing.display())), "{why}");
}

#[test]
fn pytorch_save_refuses_what_pytorch_cannot_hold() {
    let d = |cell, i, h| LayerDesc::new(cell, i, h).unwrap();
    let w = |cell, i, h| Weights::init_uniform(&d(cell, i, h), 1);
    let lstm = Cell::Lstm;
    assert_eq!(
        pytorch::save_state_dict_bytes(&[], false),
        Err(Error::Missing { what: "weights" })
    );
    let invalid = |r: fusedrnn::Result<Vec<u8>>| match r {
        Err(Error::InvalidValue { what: "weights", why }) => why,
        other => panic!("{other:?}"),
    };
    assert!(invalid(pytorch::save_state_dict_bytes(&[w(lstm, 3, 2)], true)).contains("even number"));
    assert!(invalid(pytorch::save_state_dict_bytes(
        &[w(lstm, 3, 2), w(Cell::Rnn(Activation::Tanh), 2, 2)],
        false
    ))
    .contains("same cell"));
    assert!(invalid(pytorch::save_state_dict_bytes(&[w(lstm, 3, 2), w(lstm, 2, 3)], false)).contains("same cell"));
    // Layer 1 must read H (unidirectional) or 2H (bidirectional) features.
    assert!(invalid(pytorch::save_state_dict_bytes(&[w(lstm, 3, 2), w(lstm, 3, 2)], false)).contains("D*H"));
    let bi = [w(lstm, 3, 2), w(lstm, 3, 2), w(lstm, 2, 2), w(lstm, 2, 2)];
    assert!(invalid(pytorch::save_state_dict_bytes(&bi, true)).contains("D*H"));
    let bi = [w(lstm, 3, 2), w(lstm, 4, 2), w(lstm, 4, 2), w(lstm, 4, 2)];
    assert!(invalid(pytorch::save_state_dict_bytes(&bi, true)).contains("D*H"));
    let ok = [w(lstm, 3, 2), w(lstm, 3, 2), w(lstm, 4, 2), w(lstm, 4, 2)];
    let bytes = pytorch::save_state_dict_bytes(&ok, true).unwrap();
    assert_eq!(pytorch::load_state_dict_bytes(&bytes, lstm, 2, true).unwrap(), ok);
    assert!(matches!(
        pytorch::save_state_dict_bytes(&[w(Cell::Gru(GruVariant::ResetBeforeLinear), 3, 2)], false),
        Err(Error::InvalidValue { what: "cell", .. })
    ));
    let path = data_path("no_such_dir/out.safetensors");
    let (name, why) = param_error(pytorch::save_state_dict(&path, &ok, true));
    assert_eq!(name, "state_dict");
    assert!(why.starts_with("cannot write"), "{why}");
}

// ---------------------------------------------------------------------------------------------
// ONNX fixtures (reference evaluator).

/// Runs every direction of the fixture `onnx_{name}` and compares with `Y`, `Y_h`, `Y_c`
/// (`[T, dirs, N, H]`, `[dirs, N, H]`).
fn onnx_case(name: &str, cell: Cell, reverse_only: bool) {
    onnx_case_desc(name, LayerDesc::new(cell, I, H).unwrap(), reverse_only);
}

fn onnx_case_desc(name: &str, desc: LayerDesc, reverse_only: bool) {
    let f = Fixture::load(&format!("onnx_{name}.safetensors"));
    let dirs = f.shape("W")[0];
    let mut t = OnnxTensors::new(f.get("W"), f.get("R")).b(f.get("B"));
    if let Some(p) = f.opt("P") {
        t = t.p(p);
    }
    let weights = onnx::from_onnx(&desc, dirs, t).unwrap();
    assert_eq!(weights.len(), dirs);
    let (mut y, mut y_h, mut y_c) = (vec![0.0; T * dirs * N * H], Vec::new(), Vec::new());
    for (d, w) in weights.iter().enumerate() {
        let h0 = f.opt("initial_h").map(|h| &h[d * N * H..][..N * H]);
        let r = run_dir(w, f.get("X"), T, N, reverse_only || d == 1, h0);
        for s in 0..T {
            y[(s * dirs + d) * N * H..][..N * H].copy_from_slice(&r.y[s * N * H..][..N * H]);
        }
        y_h.extend(r.h_n);
        y_c.extend(r.c_n);
    }
    check(&format!("onnx {name} Y"), &y, f.get("Y"));
    check(&format!("onnx {name} Y_h"), &y_h, f.get("Y_h"));
    if let Some(want) = f.opt("Y_c") {
        check(&format!("onnx {name} Y_c"), &y_c, want);
    }
}

#[test]
fn onnx_lstm_bidirectional_iofc_matches_reference_evaluator() {
    onnx_case("lstm_bi", Cell::Lstm, false);
}

#[test]
fn onnx_gru_linear_before_reset_0_matches_reference_evaluator() {
    onnx_case("gru_lbr0", Cell::Gru(onnx::gru_variant(0).unwrap()), false);
}

#[test]
fn onnx_gru_linear_before_reset_1_matches_reference_evaluator() {
    onnx_case("gru_lbr1", Cell::Gru(onnx::gru_variant(1).unwrap()), false);
}

/// Non-zero peepholes (ONNX `P` in `i, o, f` order).
#[test]
fn onnx_lstm_peepholes_match_reference_evaluator() {
    let desc = LayerDesc::new(Cell::Lstm, I, H).unwrap().with_peepholes().unwrap();
    onnx_case_desc("lstm_peep", desc, false);
    // And the layer's P converts back to the fixture's.
    let f = Fixture::load("onnx_lstm_peep.safetensors");
    let t = OnnxTensors::new(f.get("W"), f.get("R")).b(f.get("B")).p(f.get("P"));
    let back = onnx::to_onnx(&onnx::from_onnx(&desc, 1, t).unwrap()).unwrap();
    assert_eq!(back.p, f.get("P"));
}

/// Peepholes with the attributes `clip = 0.6` and `input_forget = 1`, against onnxruntime
/// (the reference evaluator ignores both attributes).
#[test]
fn onnx_lstm_clip_and_input_forget_match_onnxruntime() {
    let desc = LayerDesc::new(Cell::Lstm, I, H)
        .unwrap()
        .with_peepholes()
        .unwrap()
        .with_clip(0.6)
        .unwrap()
        .with_input_forget()
        .unwrap();
    onnx_case_desc("lstm_peep_clip_if", desc, false);
    let l = onnx::to_onnx(&[Weights::init_uniform(&desc, 1)]).unwrap();
    assert_eq!((l.clip(), l.input_forget()), (Some(0.6), 1));
}

#[test]
fn onnx_rnn_reverse_matches_reference_evaluator() {
    onnx_case("rnn_reverse", Cell::Rnn(Activation::Tanh), true);
}

/// The GRU fixtures differ only in the reset placement: running each with the other variant
/// must miss, so the two tests above do tell the variants apart.
#[test]
fn onnx_gru_fixtures_tell_the_variants_apart() {
    for (name, wrong) in [
        ("gru_lbr0", GruVariant::LinearBeforeReset),
        ("gru_lbr1", GruVariant::ResetBeforeLinear),
    ] {
        let f = Fixture::load(&format!("onnx_{name}.safetensors"));
        let desc = LayerDesc::new(Cell::Gru(wrong), I, H).unwrap();
        let w = onnx::from_onnx(&desc, 1, OnnxTensors::new(f.get("W"), f.get("R")).b(f.get("B"))).unwrap();
        let h0 = f.opt("initial_h");
        let r = run_dir(&w[0], f.get("X"), T, N, false, h0);
        assert!(err(&r.y, f.get("Y")) > 1e-3, "{name}");
    }
}

// --- ONNX round trips and errors.

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), 1usize..=9]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Weights → ONNX → weights and ONNX → weights → ONNX, bit for bit.
    #[test]
    fn onnx_round_trips(cell in prop::sample::select(CELLS.to_vec()), i in size(), h in size(),
                        dirs in 1usize..=2, seed in any::<u64>()) {
        let desc = LayerDesc::new(cell, i, h).unwrap();
        let ws: Vec<Weights> = (0..dirs).map(|d| random_weights(&desc, seed ^ d as u64)).collect();
        let o = onnx::to_onnx(&ws).unwrap();
        let gh = cell.gates() * h;
        prop_assert_eq!(o.w_shape(), [dirs, gh, i]);
        prop_assert_eq!(o.r_shape(), [dirs, gh, h]);
        prop_assert_eq!(o.b_shape(), [dirs, 2 * gh]);
        prop_assert_eq!((o.w.len(), o.r.len(), o.b.len()), (dirs * gh * i, dirs * gh * h, dirs * 2 * gh));
        prop_assert_eq!(&onnx::from_onnx(&desc, dirs, o.tensors()).unwrap(), &ws);

        let mut rng = SplitMix64::new(seed);
        let (w, r, b) = (uniform(dirs * gh * i, 1.0, &mut rng), uniform(dirs * gh * h, 1.0, &mut rng),
                         uniform(dirs * 2 * gh, 1.0, &mut rng));
        let back = onnx::to_onnx(&onnx::from_onnx(&desc, dirs, OnnxTensors::new(&w, &r).b(&b)).unwrap()).unwrap();
        prop_assert_eq!((back.w, back.r, back.b), (w, r, b));
    }

    /// Keras → weights → Keras bit for bit; weights → Keras → weights keeps the matrices bit
    /// for bit and the biases as Keras holds them (summed where Keras has one bias), computing
    /// the same outputs.
    #[test]
    fn keras_round_trips(cell in prop::sample::select(CELLS.to_vec()), i in size(), u in size(),
                         seed in any::<u64>()) {
        let desc = LayerDesc::new(cell, i, u).unwrap();
        let gu = cell.gates() * u;
        let mut rng = SplitMix64::new(seed);
        let kernel = uniform(i * gu, 1.0, &mut rng);
        let rk = uniform(u * gu, 1.0, &mut rng);
        let two = cell == Cell::Gru(GruVariant::LinearBeforeReset);
        let bias = uniform(if two { 2 * gu } else { gu }, 1.0, &mut rng);
        let t = KerasTensors { kernel: &kernel, recurrent_kernel: &rk, bias: Some(&bias) };
        let k = keras::to_keras(&keras::from_keras(&desc, t).unwrap()).unwrap();
        prop_assert_eq!(k.kernel_shape(), [i, gu]);
        prop_assert_eq!(k.recurrent_kernel_shape(), [u, gu]);
        prop_assert_eq!(k.bias_shape().iter().product::<usize>(), bias.len());
        prop_assert_eq!((&k.kernel, &k.recurrent_kernel, &k.bias), (&kernel, &rk, &bias));

        let w = random_weights(&desc, seed);
        let back = keras::from_keras(&desc, keras::to_keras(&w).unwrap().tensors()).unwrap();
        prop_assert_eq!((back.w_ih(), back.w_hh()), (w.w_ih(), w.w_hh()));
        if two {
            prop_assert_eq!(&back, &w);
        } else {
            let sum: Vec<f32> = w.b_ih().iter().zip(w.b_hh()).map(|(a, b)| a + b).collect();
            prop_assert_eq!(back.b_ih(), &sum[..]);
            prop_assert!(back.b_hh().iter().all(|&b| b == 0.0));
            let (t, n) = (3, 2);
            let x = uniform(t * n * i, 1.0, &mut rng);
            let (a, b) = (run_dir(&w, &x, t, n, false, None), run_dir(&back, &x, t, n, false, None));
            prop_assert!(err(&b.y, &a.y) <= TOL);
        }
    }

    /// `from_keras` on arrays laid out by the test's own index formula gives back the weights,
    /// and `Layer::forward` on them computes Keras' equations.
    #[test]
    fn keras_layout_and_equations(cell in prop::sample::select(CELLS.to_vec()), i in size(), u in size(),
                                  t in 1usize..=4, n in 1usize..=3, seed in any::<u64>()) {
        keras_case(cell, i, u, t, n, seed);
    }
}

#[test]
fn onnx_missing_b_is_zero_and_zero_peepholes_are_accepted() {
    let desc = LayerDesc::new(Cell::Lstm, 3, 2).unwrap();
    let (w, r, p) = (vec![0.5; 2 * 8 * 3], vec![0.25; 2 * 8 * 2], vec![0.0; 2 * 6]);
    let got = onnx::from_onnx(&desc, 2, OnnxTensors::new(&w, &r).p(&p)).unwrap();
    for g in &got {
        assert!(g.b_ih().iter().chain(g.b_hh()).all(|&b| b == 0.0));
        assert!(g.w_ih().iter().all(|&v| v == 0.5));
    }
}

#[test]
fn onnx_errors() {
    let lstm = LayerDesc::new(Cell::Lstm, 3, 2).unwrap();
    let (w, r, b, p) = (vec![0.0; 8 * 3], vec![0.0; 8 * 2], vec![0.0; 16], vec![0.0; 6]);
    for dirs in [0, 3] {
        assert!(matches!(
            onnx::from_onnx(&lstm, dirs, OnnxTensors::new(&w, &r)),
            Err(Error::InvalidValue {
                what: "num_directions",
                ..
            })
        ));
    }
    // Lengths for the given number of directions.
    assert_eq!(
        onnx::from_onnx(&lstm, 2, OnnxTensors::new(&w, &r)),
        Err(Error::LengthMismatch {
            what: "W",
            expected: 48,
            got: 24
        })
    );
    assert_eq!(
        onnx::from_onnx(&lstm, 1, OnnxTensors::new(&w, &r[1..])),
        Err(Error::LengthMismatch {
            what: "R",
            expected: 16,
            got: 15
        })
    );
    assert_eq!(
        onnx::from_onnx(&lstm, 1, OnnxTensors::new(&w, &r).b(&b[..8])),
        Err(Error::LengthMismatch {
            what: "B",
            expected: 16,
            got: 8
        })
    );
    assert_eq!(
        onnx::from_onnx(&lstm, 1, OnnxTensors::new(&w, &r).p(&p[..5])),
        Err(Error::LengthMismatch {
            what: "P",
            expected: 6,
            got: 5
        })
    );
    // Peepholes: only all-zero, only for an LSTM.
    for bad in [1e-30, f32::NAN] {
        let mut p = p.clone();
        p[4] = bad;
        assert!(matches!(
            onnx::from_onnx(&lstm, 1, OnnxTensors::new(&w, &r).p(&p)),
            Err(Error::InvalidValue { what: "P", .. })
        ));
    }
    let gru = LayerDesc::new(Cell::Gru(GruVariant::ResetBeforeLinear), 3, 2).unwrap();
    assert_eq!(
        onnx::from_onnx(&gru, 1, OnnxTensors::new(&w[..18], &r[..12]).p(&p)),
        Err(Error::Unexpected { what: "P" })
    );
    assert!(matches!(
        onnx::gru_variant(-1),
        Err(Error::InvalidValue {
            what: "linear_before_reset",
            ..
        })
    ));

    // to_onnx: one operator holds 1 or 2 directions of one descriptor.
    let a = Weights::init_uniform(&lstm, 1);
    let other = Weights::init_uniform(&LayerDesc::new(Cell::Lstm, 3, 3).unwrap(), 1);
    for bad in [vec![], vec![a.clone(), a.clone(), a.clone()], vec![a.clone(), other]] {
        assert!(matches!(
            onnx::to_onnx(&bad),
            Err(Error::InvalidValue { what: "weights", .. })
        ));
    }
}

#[test]
fn onnx_attributes_of_the_operator() {
    let layer = |cell| onnx::to_onnx(&[Weights::zeros(&LayerDesc::new(cell, 1, 1).unwrap())]).unwrap();
    assert_eq!(layer(Cell::Lstm).op_type(), "LSTM");
    assert_eq!(layer(Cell::Lstm).linear_before_reset(), None);
    assert_eq!(
        layer(Cell::Gru(GruVariant::ResetBeforeLinear)).linear_before_reset(),
        Some(0)
    );
    assert_eq!(
        layer(Cell::Gru(GruVariant::LinearBeforeReset)).linear_before_reset(),
        Some(1)
    );
    assert_eq!(layer(Cell::Gru(GruVariant::LinearBeforeReset)).op_type(), "GRU");
    assert_eq!(layer(Cell::Rnn(Activation::Relu)).op_type(), "RNN");
    assert_eq!(layer(Cell::Rnn(Activation::Relu)).rnn_activation(), Some("Relu"));
    assert_eq!(layer(Cell::Rnn(Activation::Tanh)).rnn_activation(), Some("Tanh"));
    assert_eq!(layer(Cell::Lstm).rnn_activation(), None);
}

// ---------------------------------------------------------------------------------------------
// Keras: layout from the test's own index formula, outputs from Keras' equations.

/// Keras' gate names in column order, and PyTorch's in row-block order (`n` is Keras' `h`,
/// `g` its `c`).
fn gate_names(cell: Cell) -> (&'static [&'static str], &'static [&'static str]) {
    match cell {
        Cell::Lstm => (&["i", "f", "c", "o"], &["i", "f", "c", "o"]),
        Cell::Gru(_) => (&["z", "r", "h"], &["r", "z", "h"]),
        Cell::Rnn(_) => (&["a"], &["a"]),
    }
}

/// Keras' `kernel`, `recurrent_kernel` and `bias` for the PyTorch-layout `w`, by the formula
/// `kernel[x, k*U + j] = W_ih[p(k)*U + j, x]`, `p(k)` = the PyTorch block of Keras gate `k`.
/// For a `reset_after=True` GRU `bias = [b_ih; b_hh]` (reordered), else `b_ih` (the caller
/// zeroes `b_hh`).
fn keras_arrays(w: &Weights) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = w.desc();
    let (i, u, g) = (d.input_size(), d.hidden_size(), d.gates());
    let (kn, pn) = gate_names(d.cell());
    let p = |k: usize| pn.iter().position(|&n| n == kn[k]).unwrap();
    let mut kernel = vec![0.0; i * g * u];
    let mut rk = vec![0.0; u * g * u];
    let mut bias = Vec::new();
    for k in 0..g {
        for j in 0..u {
            let row = p(k) * u + j;
            for x in 0..i {
                kernel[x * g * u + k * u + j] = w.w_ih()[row * i + x];
            }
            for x in 0..u {
                rk[x * g * u + k * u + j] = w.w_hh()[row * u + x];
            }
        }
    }
    let reorder = |b: &[f32]| (0..g).flat_map(|k| b[p(k) * u..][..u].to_vec()).collect::<Vec<f32>>();
    bias.extend(reorder(w.b_ih()));
    if d.cell() == Cell::Gru(GruVariant::LinearBeforeReset) {
        bias.extend(reorder(w.b_hh()));
    }
    (kernel, rk, bias)
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// `row @ m[:, cols]` for `m` `[rows, width]` (f64).
fn vecmat(row: &[f64], m: &[f32], width: usize, cols: std::ops::Range<usize>) -> Vec<f64> {
    cols.map(|c| row.iter().enumerate().map(|(r, &v)| v * m[r * width + c] as f64).sum())
        .collect()
}

/// Keras' cell equations over its own arrays, f64, zero initial state: `y` `[T, N, U]`.
fn keras_forward(cell: Cell, i: usize, u: usize, k: &KerasTensors<'_>, x: &[f32], t: usize, n: usize) -> Vec<f64> {
    let (kernel, rk, bias) = (k.kernel, k.recurrent_kernel, k.bias.unwrap());
    let gu = cell.gates() * u;
    let blk = |k: usize| k * u..(k + 1) * u;
    let bias_row = |r: usize, k: usize| -> Vec<f64> { bias[r * gu..][blk(k)].iter().map(|&b| b as f64).collect() };
    let mut y = Vec::with_capacity(t * n * u);
    let mut h = vec![vec![0f64; u]; n];
    let mut c = vec![vec![0f64; u]; n];
    for s in 0..t {
        for b in 0..n {
            let xr: Vec<f64> = x[(s * n + b) * i..][..i].iter().map(|&v| v as f64).collect();
            let hp = h[b].clone();
            let new_h: Vec<f64> = match cell {
                // LSTMCell: z = x @ kernel + h @ recurrent_kernel + bias; i, f, c, o columns.
                Cell::Lstm => {
                    let z: Vec<Vec<f64>> = (0..4)
                        .map(|k| {
                            let (a, r, bb) = (
                                vecmat(&xr, kernel, gu, blk(k)),
                                vecmat(&hp, rk, gu, blk(k)),
                                bias_row(0, k),
                            );
                            (0..u).map(|j| a[j] + r[j] + bb[j]).collect()
                        })
                        .collect();
                    (0..u)
                        .map(|j| {
                            let (ig, fg, cg, og) =
                                (sigmoid(z[0][j]), sigmoid(z[1][j]), z[2][j].tanh(), sigmoid(z[3][j]));
                            c[b][j] = fg * c[b][j] + ig * cg;
                            og * c[b][j].tanh()
                        })
                        .collect()
                }
                // GRUCell, reset_after=True: matrix_x = x @ kernel + bias[0],
                // matrix_inner = h @ recurrent_kernel + bias[1]; hh = tanh(x_h + r * inner_h).
                Cell::Gru(GruVariant::LinearBeforeReset) => {
                    let mx: Vec<Vec<f64>> = (0..3)
                        .map(|k| {
                            vecmat(&xr, kernel, gu, blk(k))
                                .iter()
                                .zip(bias_row(0, k))
                                .map(|(a, b)| a + b)
                                .collect()
                        })
                        .collect();
                    let mi: Vec<Vec<f64>> = (0..3)
                        .map(|k| {
                            vecmat(&hp, rk, gu, blk(k))
                                .iter()
                                .zip(bias_row(1, k))
                                .map(|(a, b)| a + b)
                                .collect()
                        })
                        .collect();
                    (0..u)
                        .map(|j| {
                            let z = sigmoid(mx[0][j] + mi[0][j]);
                            let r = sigmoid(mx[1][j] + mi[1][j]);
                            let hh = (mx[2][j] + r * mi[2][j]).tanh();
                            z * hp[j] + (1.0 - z) * hh
                        })
                        .collect()
                }
                // GRUCell, reset_after=False: hh = tanh(x_h + (r * h) @ recurrent_kernel[:, h]).
                Cell::Gru(GruVariant::ResetBeforeLinear) => {
                    let mx: Vec<Vec<f64>> = (0..3)
                        .map(|k| {
                            vecmat(&xr, kernel, gu, blk(k))
                                .iter()
                                .zip(bias_row(0, k))
                                .map(|(a, b)| a + b)
                                .collect()
                        })
                        .collect();
                    let rz = vecmat(&hp, rk, gu, blk(0));
                    let rr = vecmat(&hp, rk, gu, blk(1));
                    let z: Vec<f64> = (0..u).map(|j| sigmoid(mx[0][j] + rz[j])).collect();
                    let r: Vec<f64> = (0..u).map(|j| sigmoid(mx[1][j] + rr[j])).collect();
                    let rh: Vec<f64> = (0..u).map(|j| r[j] * hp[j]).collect();
                    let inner = vecmat(&rh, rk, gu, blk(2));
                    (0..u)
                        .map(|j| z[j] * hp[j] + (1.0 - z[j]) * (mx[2][j] + inner[j]).tanh())
                        .collect()
                }
                // SimpleRNNCell: h = activation(x @ kernel + bias + h @ recurrent_kernel).
                Cell::Rnn(act) => {
                    let (a, r, bb) = (
                        vecmat(&xr, kernel, gu, blk(0)),
                        vecmat(&hp, rk, gu, blk(0)),
                        bias_row(0, 0),
                    );
                    (0..u)
                        .map(|j| {
                            let v = a[j] + bb[j] + r[j];
                            match act {
                                Activation::Tanh => v.tanh(),
                                Activation::Relu => v.max(0.0),
                            }
                        })
                        .collect()
                }
            };
            y.extend_from_slice(&new_h);
            h[b] = new_h;
        }
    }
    y
}

fn keras_case(cell: Cell, i: usize, u: usize, t: usize, n: usize, seed: u64) {
    let desc = LayerDesc::new(cell, i, u).unwrap();
    let mut w = random_weights(&desc, seed);
    if cell != Cell::Gru(GruVariant::LinearBeforeReset) {
        // Keras has one bias there.
        w.buffers_mut()[3].fill(0.0);
    }
    let (kernel, rk, bias) = keras_arrays(&w);
    let t_ = KerasTensors {
        kernel: &kernel,
        recurrent_kernel: &rk,
        bias: Some(&bias),
    };
    let got = keras::from_keras(&desc, t_).unwrap();
    assert_eq!(got, w, "{cell:?} I={i} U={u}");
    let k = keras::to_keras(&w).unwrap();
    assert_eq!(
        (k.kernel, k.recurrent_kernel, k.bias),
        (kernel.clone(), rk.clone(), bias.clone())
    );

    let mut rng = SplitMix64::new(seed ^ 0x5eed);
    let x = uniform(t * n * i, 1.5, &mut rng);
    let want = keras_forward(cell, i, u, &t_, &x, t, n);
    let got = run_dir(&got, &x, t, n, false, None);
    let e = err(&got.y, &want.iter().map(|&v| v as f32).collect::<Vec<_>>());
    assert!(e <= TOL, "{cell:?} I={i} U={u} T={t} N={n}: error {e:.3e}");
}

/// The fixture sizes for every cell, with the error printed.
#[test]
fn keras_equations_at_fixture_sizes() {
    for (k, cell) in CELLS.into_iter().enumerate() {
        let desc = LayerDesc::new(cell, I, H).unwrap();
        let mut w = random_weights(&desc, 100 + k as u64);
        if cell != Cell::Gru(GruVariant::LinearBeforeReset) {
            w.buffers_mut()[3].fill(0.0);
        }
        let (kernel, rk, bias) = keras_arrays(&w);
        let kt = KerasTensors {
            kernel: &kernel,
            recurrent_kernel: &rk,
            bias: Some(&bias),
        };
        let got = keras::from_keras(&desc, kt).unwrap();
        let mut rng = SplitMix64::new(k as u64);
        let x = uniform(T * N * I, 1.5, &mut rng);
        let want = keras_forward(cell, I, H, &kt, &x, T, N);
        check_f64(
            &format!("keras {cell:?} y"),
            &run_dir(&got, &x, T, N, false, None).y,
            &want,
        );
    }
}

#[test]
fn keras_without_bias_and_errors() {
    let lstm = LayerDesc::new(Cell::Lstm, 3, 2).unwrap();
    let (kernel, rk) = (vec![1.0; 3 * 8], vec![2.0; 2 * 8]);
    let w = keras::from_keras(
        &lstm,
        KerasTensors {
            kernel: &kernel,
            recurrent_kernel: &rk,
            bias: None,
        },
    )
    .unwrap();
    assert!(w.b_ih().iter().chain(w.b_hh()).all(|&b| b == 0.0));
    assert!(w.w_ih().iter().all(|&v| v == 1.0) && w.w_hh().iter().all(|&v| v == 2.0));

    assert_eq!(
        keras::from_keras(
            &lstm,
            KerasTensors {
                kernel: &kernel[1..],
                recurrent_kernel: &rk,
                bias: None
            }
        ),
        Err(Error::LengthMismatch {
            what: "kernel",
            expected: 24,
            got: 23
        })
    );
    assert_eq!(
        keras::from_keras(
            &lstm,
            KerasTensors {
                kernel: &kernel,
                recurrent_kernel: &kernel,
                bias: None
            }
        ),
        Err(Error::LengthMismatch {
            what: "recurrent_kernel",
            expected: 16,
            got: 24
        })
    );
    assert_eq!(
        keras::from_keras(
            &lstm,
            KerasTensors {
                kernel: &kernel,
                recurrent_kernel: &rk,
                bias: Some(&[0.0; 7])
            }
        ),
        Err(Error::LengthMismatch {
            what: "bias",
            expected: 8,
            got: 7
        })
    );
    // A GRU's bias shape says which reset placement it was trained with.
    let (gk, grk) = (vec![0.0; 3 * 6], vec![0.0; 2 * 6]);
    let lbr = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 3, 2).unwrap();
    let rbl = LayerDesc::new(Cell::Gru(GruVariant::ResetBeforeLinear), 3, 2).unwrap();
    let gru = |d: &LayerDesc, b: &[f32]| {
        keras::from_keras(
            d,
            KerasTensors {
                kernel: &gk,
                recurrent_kernel: &grk,
                bias: Some(b),
            },
        )
    };
    assert!(
        matches!(gru(&lbr, &[0.0; 6]), Err(Error::InvalidValue { what: "bias", why }) if why.contains("reset_after=False"))
    );
    assert!(
        matches!(gru(&rbl, &[0.0; 12]), Err(Error::InvalidValue { what: "bias", why }) if why.contains("reset_after=True"))
    );
    assert_eq!(
        gru(&lbr, &[0.0; 7]),
        Err(Error::LengthMismatch {
            what: "bias",
            expected: 12,
            got: 7
        })
    );
    assert_eq!(
        gru(&rbl, &[0.0; 7]),
        Err(Error::LengthMismatch {
            what: "bias",
            expected: 6,
            got: 7
        })
    );
    assert_eq!(
        keras::to_keras(&gru(&rbl, &[0.0; 6]).unwrap()).unwrap().reset_after(),
        Some(false)
    );
    assert_eq!(
        keras::to_keras(&gru(&lbr, &[0.0; 12]).unwrap()).unwrap().reset_after(),
        Some(true)
    );
}

// ---------------------------------------------------------------------------------------------
// Keras fixtures (Keras 3 on its torch backend; see make_fixtures.py).

/// A Keras layer's weights load through `from_keras`, and `Layer::forward` on Keras' own
/// batch-major input gives Keras' own output; `to_keras` gives back the stored tensors.
fn keras_fixture(name: &str, cell: Cell) {
    let f = Fixture::load(&format!("keras_{name}.safetensors"));
    let desc = LayerDesc::new(cell, I, H).unwrap();
    let t = KerasTensors {
        kernel: f.get("kernel"),
        recurrent_kernel: f.get("recurrent_kernel"),
        bias: Some(f.get("bias")),
    };
    let w = keras::from_keras(&desc, t).unwrap();
    let back = keras::to_keras(&w).unwrap();
    assert_eq!(back.kernel, f.get("kernel"), "{name} kernel");
    assert_eq!(
        back.recurrent_kernel,
        f.get("recurrent_kernel"),
        "{name} recurrent_kernel"
    );
    assert_eq!(back.bias, f.get("bias"), "{name} bias");
    let stack = Stack::new(
        StackDesc::new(cell, I, H, 1, Direction::Forward)
            .unwrap()
            .batch_first(true),
        vec![w],
    )
    .unwrap();
    let mut y = vec![f32::NAN; N * T * H];
    stack
        .forward(SeqShape::new(T, N), SeqInput::new(f.get("x")), SeqOutput::new(&mut y))
        .unwrap();
    check(&format!("keras {name} y"), &y, f.get("y"));
}

#[test]
fn keras_lstm_matches_keras() {
    keras_fixture("lstm", Cell::Lstm);
}

#[test]
fn keras_gru_reset_after_matches_keras() {
    keras_fixture("gru_reset_after", Cell::Gru(GruVariant::LinearBeforeReset));
}

#[test]
fn keras_gru_reset_before_matches_keras() {
    keras_fixture("gru_reset_before", Cell::Gru(GruVariant::ResetBeforeLinear));
}

#[test]
fn keras_simple_rnn_relu_matches_keras() {
    keras_fixture("simple_rnn_relu", Cell::Rnn(Activation::Relu));
}

/// Layouts that cannot hold a layer's options refuse it instead of dropping them.
#[test]
fn converters_refuse_what_their_format_cannot_hold() {
    let lstm = LayerDesc::new(Cell::Lstm, 3, 4).unwrap();
    let descs = [
        lstm.with_layer_norm().unwrap(),
        lstm.with_proj_size(2).unwrap(),
        lstm.with_peepholes().unwrap(),
        lstm.with_cell_clip(1.0).unwrap(),
    ];
    for d in descs {
        let w = Weights::init_uniform(&d, 1);
        assert!(matches!(keras::to_keras(&w), Err(Error::InvalidValue { .. })), "{d:?}");
        let z = vec![0.0; 16 * 4];
        let t = KerasTensors {
            kernel: &z[..3 * 16],
            recurrent_kernel: &z,
            bias: None,
        };
        assert!(
            matches!(keras::from_keras(&d, t), Err(Error::InvalidValue { .. })),
            "{d:?}"
        );
        let pt = pytorch::save_state_dict_bytes(std::slice::from_ref(&w), false);
        // PyTorch holds a projection, nothing else.
        assert_eq!(pt.is_ok(), d.proj_size().is_some(), "{d:?}");
        // ONNX holds peepholes, not a projection, cell clipping or layer norm.
        assert_eq!(onnx::to_onnx(&[w]).is_ok(), d.peepholes(), "{d:?}");
    }
}
