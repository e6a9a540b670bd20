//! Results are bitwise identical whatever the number of threads.

mod common;

use common::{uniform, CELLS};
use fusedrnn::*;

fn run(layer: &Layer, s: SeqShape, lengths: Option<&[usize]>) -> Vec<Vec<f32>> {
    let d = *layer.desc();
    let (i, h) = (d.input_size(), d.output_size());
    let x = uniform(s.t * s.n * i, 1.0, 1);
    let mut y = vec![0.0; s.t * s.n * h];
    let mut ws = TrainWorkspace::new();
    layer
        .forward_train(
            s,
            SeqInput {
                lengths,
                ..SeqInput::new(&x)
            },
            SeqOutput::new(&mut y),
            &mut ws,
        )
        .unwrap();
    let dy = uniform(y.len(), 1.0, 2);
    let mut dx = vec![0.0; x.len()];
    let mut dh0 = vec![0.0; s.n * h];
    let mut g = Weights::zeros(&d);
    let gi = GradInput::none().dx(&mut dx).dh0(&mut dh0);
    layer
        .backward(&mut ws, &x, GradOutput::new(&dy), gi, &mut g, GradMode::Overwrite)
        .unwrap();
    let mut out = vec![y, dx, dh0];
    out.extend(g.all_buffers().iter().map(|b| b.to_vec()));
    out
}

#[test]
fn thread_count_does_not_change_results() {
    // Large enough that every GEMM and the bias sums split across threads.
    // Also a variable-length batch (lengths 6, 5, ..., 0, repeating).
    let s = SeqShape::new(6, 48);
    let lens: Vec<usize> = (0..s.n).map(|b| 6 - b % 7).collect();
    // Every cell, and the LSTM with its options and with layer normalization.
    let mut descs: Vec<LayerDesc> = CELLS.iter().map(|&c| LayerDesc::new(c, 96, 160).unwrap()).collect();
    let lstm = LayerDesc::new(Cell::Lstm, 96, 160).unwrap();
    descs.push(lstm.with_layer_norm().unwrap());
    let gru = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 96, 160).unwrap();
    descs.push(gru.with_layer_norm().unwrap());
    descs.push(
        lstm.with_proj_size(40)
            .unwrap()
            .with_peepholes()
            .unwrap()
            .with_clip(2.0)
            .unwrap(),
    );
    for d in descs {
        let cell = d;
        let layer = Layer::new(Weights::init_uniform(&d, 5));
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        for lengths in [None, Some(&lens[..])] {
            let one = pool(1).install(|| run(&layer, s, lengths));
            let two = pool(2).install(|| run(&layer, s, lengths));
            let three = pool(3).install(|| run(&layer, s, lengths));
            for (k, ((a, b), c)) in one.iter().zip(&two).zip(&three).enumerate() {
                assert!(
                    a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{cell:?} {lengths:?}: buffer {k}, 1 vs 2 threads"
                );
                assert!(
                    a.iter().zip(c).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{cell:?} {lengths:?}: buffer {k}, 1 vs 3 threads"
                );
            }
        }
    }
}

/// Steps large enough for the balanced hand-off (threads take each other's unit blocks once
/// their own are done: which thread computes a block varies from run to run) give the same
/// bits as one thread, in training and in inference (the LSTM's projection then fused into
/// the steps).
#[test]
fn balanced_steps_do_not_change_results() {
    let s = SeqShape::new(3, 64);
    for cell in CELLS {
        let d = LayerDesc::new(cell, 32, 512).unwrap();
        let layer = Layer::new(Weights::init_uniform(&d, 7));
        let x = uniform(s.t * s.n * 32, 1.0, 3);
        let infer = || {
            let mut y = vec![f32::NAN; s.t * s.n * 512];
            layer.forward(s, SeqInput::new(&x), SeqOutput::new(&mut y)).unwrap();
            y
        };
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let one = pool(1).install(|| (run(&layer, s, None), infer()));
        for threads in [2, 3] {
            for _ in 0..3 {
                let many = pool(threads).install(|| (run(&layer, s, None), infer()));
                for (k, (a, b)) in one
                    .0
                    .iter()
                    .chain([&one.1])
                    .zip(many.0.iter().chain([&many.1]))
                    .enumerate()
                {
                    assert!(
                        a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                        "{cell:?}: buffer {k}, 1 vs {threads} threads"
                    );
                }
            }
        }
    }
}

/// A sequence's outputs do not depend on what else is in the batch: each batch entry of an
/// inference forward equals, bitwise, the same sequence run alone (wide inputs included, where
/// a blocked GEMM would split the sum differently by shape; and batches large enough for the
/// LSTM to compute each step's input projection in the step's own tiles, where a lone
/// sequence has it computed up front).
#[test]
fn batch_invariant() {
    let (t, n, i, h) = (5, 33, 300, 37);
    for cell in CELLS {
        let d = LayerDesc::new(cell, i, h).unwrap();
        let layer = Layer::new(Weights::init_uniform(&d, 8));
        let x = uniform(t * n * i, 1.0, 3);
        let mut y = vec![0.0; t * n * h];
        layer
            .forward(SeqShape::new(t, n), SeqInput::new(&x), SeqOutput::new(&mut y))
            .unwrap();
        for b in [0, 3, n - 1] {
            let xb: Vec<f32> = (0..t).flat_map(|s| x[(s * n + b) * i..][..i].to_vec()).collect();
            let mut yb = vec![0.0; t * h];
            layer
                .forward(SeqShape::new(t, 1), SeqInput::new(&xb), SeqOutput::new(&mut yb))
                .unwrap();
            for s in 0..t {
                let row = &y[(s * n + b) * h..][..h];
                assert!(
                    row.iter()
                        .zip(&yb[s * h..][..h])
                        .all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{cell:?} entry {b} step {s}"
                );
            }
        }
    }
}

/// Inference at batches of one to three, where the steps run on `Team::steps` (a barrier per
/// step), with and without initial states: 1, 2 and 3 threads give the same bits, and the
/// same as training's forward.
#[test]
fn small_batch_inference_does_not_depend_on_threads() {
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    for cell in CELLS {
        // Each step large enough to be split (every cell), H not a multiple of a block.
        for (n, h) in [(1, 256), (3, 168)] {
            let d = LayerDesc::new(cell, 40, h).unwrap();
            let layer = Layer::new(Weights::init_uniform(&d, 9));
            let s = SeqShape::new(9, n);
            let x = uniform(s.t * n * 40, 1.0, 3);
            let h0 = uniform(n * h, 0.5, 4);
            let c0 = uniform(n * h, 0.5, 5);
            for init in [false, true] {
                let infer = || {
                    let mut y = vec![f32::NAN; s.t * n * h];
                    let (mut h_n, mut c_n) = (vec![f32::NAN; n * h], vec![f32::NAN; n * h]);
                    let lstm = cell == Cell::Lstm;
                    let input = SeqInput {
                        h0: init.then_some(&h0[..]),
                        c0: (init && lstm).then_some(&c0[..]),
                        ..SeqInput::new(&x)
                    };
                    let out = SeqOutput {
                        y: &mut y,
                        h_n: Some(&mut h_n),
                        c_n: lstm.then_some(&mut c_n[..]),
                    };
                    layer.forward(s, input, out).unwrap();
                    let mut y_train = vec![f32::NAN; s.t * n * h];
                    let input = SeqInput {
                        h0: init.then_some(&h0[..]),
                        c0: (init && lstm).then_some(&c0[..]),
                        ..SeqInput::new(&x)
                    };
                    let mut ws = TrainWorkspace::new();
                    layer
                        .forward_train(s, input, SeqOutput::new(&mut y_train), &mut ws)
                        .unwrap();
                    [y, h_n, c_n, y_train]
                };
                let one = pool(1).install(infer);
                for threads in [2, 3] {
                    let many = pool(threads).install(infer);
                    for (k, (a, b)) in one.iter().zip(&many).enumerate() {
                        assert!(
                            a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                            "{cell:?} n {n} h0 {init}: buffer {k}, 1 vs {threads} threads"
                        );
                    }
                }
                assert!(
                    one[0].iter().zip(&one[3]).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{cell:?}: train vs infer"
                );
            }
        }
    }
}
