//! Input (variational) dropout, `SeqInput::input_mask` and `Dropout::input`, beyond the
//! property tests against the reference (`layer_vs_reference`, `stack_vs_reference`): exact
//! identities that hold bit for bit, the errors, and the seeded order of a stack's masks.

mod common;

use common::uniform;
use fusedrnn::rng::SplitMix64;
use fusedrnn::*;

fn bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits())
}

/// `y`, `h_n`, `dx`, `dh0` and every weight gradient of a layer's training run.
type Run = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<Vec<f32>>);

/// A training forward and backward of `layer` on `x` with `mask`, backward-weights reading `xb`.
fn train(layer: &Layer, s: SeqShape, x: &[f32], xb: &[f32], mask: Option<&[f32]>, lengths: Option<&[usize]>) -> Run {
    let d = *layer.desc();
    let (o, i) = (d.output_size(), d.input_size());
    let (mut y, mut hn) = (vec![f32::NAN; s.t * s.n * o], vec![f32::NAN; s.n * o]);
    let mut input = SeqInput::new(x);
    input.input_mask = mask;
    input.lengths = lengths;
    let mut ws = TrainWorkspace::new();
    layer
        .forward_train(s, input, SeqOutput::new(&mut y).h_n(&mut hn), &mut ws)
        .unwrap();
    let dy = uniform(y.len(), 1.0, 5);
    let (mut dx, mut dh0) = (vec![f32::NAN; s.t * s.n * i], vec![f32::NAN; s.n * o]);
    let mut g = Weights::zeros(&d);
    layer
        .backward(
            &mut ws,
            xb,
            GradOutput::new(&dy),
            GradInput::none().dx(&mut dx).dh0(&mut dh0),
            &mut g,
            GradMode::Overwrite,
        )
        .unwrap();
    (y, hn, dx, dh0, g.all_buffers().iter().map(|b| b.to_vec()).collect())
}

/// A mask of ones changes nothing; a masked run equals an unmasked run on `x ⊙ m` except for
/// `dX`, which is `m ⊙` that run's `dX`; backward-weights uses the masked input the forward
/// kept, not the `x` it is given.
#[test]
fn layer_mask_identities_bitwise() {
    for cell in common::CELLS {
        for lengths in [None, Some(&[3usize, 0, 5][..])] {
            let desc = LayerDesc::new(cell, 6, 5).unwrap();
            let layer = Layer::new(Weights::init_uniform(&desc, 3));
            let s = SeqShape::new(5, 3);
            let x = uniform(5 * 3 * 6, 1.0, 1);
            let plain = train(&layer, s, &x, &x, None, lengths);
            let ones = vec![1.0; 3 * 6];
            let with_ones = train(&layer, s, &x, &x, Some(&ones), lengths);
            assert!(bits(&plain.0, &with_ones.0) && bits(&plain.2, &with_ones.2));
            assert!(plain.4.iter().zip(&with_ones.4).all(|(a, b)| bits(a, b)));

            let m = train::dropout_mask(3 * 6, 0.5, &mut SplitMix64::new(9)).unwrap();
            assert!(m.contains(&0.0) && m.contains(&2.0));
            let xm: Vec<f32> = x.iter().enumerate().map(|(k, v)| v * m[k % m.len()]).collect();
            let on_xm = train(&layer, s, &xm, &xm, None, lengths);
            // Backward-weights is given the unmasked x (or anything of its length).
            let masked = train(&layer, s, &x, &vec![7.0; x.len()], Some(&m), lengths);
            assert!(bits(&on_xm.0, &masked.0), "{cell:?}: y");
            assert!(bits(&on_xm.1, &masked.1), "{cell:?}: h_n");
            assert!(bits(&on_xm.3, &masked.3), "{cell:?}: dh0");
            assert!(
                on_xm.4.iter().zip(&masked.4).all(|(a, b)| bits(a, b)),
                "{cell:?}: grads"
            );
            let want_dx: Vec<f32> = on_xm.2.iter().enumerate().map(|(k, v)| v * m[k % m.len()]).collect();
            assert!(bits(&want_dx, &masked.2), "{cell:?}: dx");
            // Past an entry's length dX stays zero.
            if let Some(l) = lengths {
                for t in 0..5 {
                    for (b, &len) in l.iter().enumerate() {
                        if t >= len {
                            assert!(masked.2[(t * 3 + b) * 6..][..6].iter().all(|&v| v == 0.0));
                        }
                    }
                }
            }
        }
    }
}

/// A workspace reused after a masked forward forgets the mask.
#[test]
fn workspace_forgets_the_mask() {
    let desc = LayerDesc::new(Cell::Lstm, 4, 3).unwrap();
    let layer = Layer::new(Weights::init_uniform(&desc, 1));
    let s = SeqShape::new(3, 2);
    let x = uniform(3 * 2 * 4, 1.0, 2);
    let m = train::dropout_mask(2 * 4, 0.5, &mut SplitMix64::new(3)).unwrap();
    let mut ws = TrainWorkspace::new();
    let mut y = vec![0.0; 3 * 2 * 3];
    let run_bw = |ws: &mut TrainWorkspace| {
        let mut dx = vec![f32::NAN; x.len()];
        let mut g = Weights::zeros(&desc);
        layer
            .backward(
                ws,
                &x,
                GradOutput::new(&[1.0; 18]),
                GradInput::none().dx(&mut dx),
                &mut g,
                GradMode::Overwrite,
            )
            .unwrap();
        (dx, g.buffers()[0].to_vec())
    };
    layer
        .forward_train(s, SeqInput::new(&x).input_mask(&m), SeqOutput::new(&mut y), &mut ws)
        .unwrap();
    let masked = run_bw(&mut ws);
    layer
        .forward_train(s, SeqInput::new(&x), SeqOutput::new(&mut y), &mut ws)
        .unwrap();
    let again = run_bw(&mut ws);
    let fresh = run_bw(&mut {
        let mut w = TrainWorkspace::new();
        layer
            .forward_train(s, SeqInput::new(&x), SeqOutput::new(&mut y), &mut w)
            .unwrap();
        w
    });
    assert!(bits(&again.0, &fresh.0) && bits(&again.1, &fresh.1));
    assert!(!bits(&masked.0, &fresh.0));
}

#[test]
fn layer_mask_errors_write_nothing() {
    let desc = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 4, 3).unwrap();
    let layer = Layer::new(Weights::init_uniform(&desc, 1));
    let s = SeqShape::new(3, 2);
    let x = uniform(3 * 2 * 4, 1.0, 2);
    let short = vec![1.0; 2 * 4 - 1];
    let mut y = vec![f32::NAN; 3 * 2 * 3];
    let mut ws = TrainWorkspace::new();
    assert_eq!(
        layer.forward_train(s, SeqInput::new(&x).input_mask(&short), SeqOutput::new(&mut y), &mut ws),
        Err(Error::LengthMismatch {
            what: "input_mask",
            expected: 8,
            got: 7
        })
    );
    assert!(y.iter().all(|v| v.is_nan()));
    assert!(matches!(
        layer.backward_data(&mut ws, GradOutput::new(&y), GradInput::none()),
        Err(Error::Workspace { .. })
    ));
    let m = vec![1.0; 8];
    assert_eq!(
        layer.forward(s, SeqInput::new(&x).input_mask(&m), SeqOutput::new(&mut y)),
        Err(Error::Unexpected { what: "input_mask" })
    );
    assert!(y.iter().all(|v| v.is_nan()));
    // A stack draws its own.
    let stack = Stack::init_uniform(StackDesc::new(Cell::Lstm, 4, 3, 1, Direction::Forward).unwrap(), 1);
    assert!(matches!(
        stack.forward_train(
            s,
            SeqInput::new(&x).input_mask(&m),
            SeqOutput::new(&mut y),
            &mut StackWorkspace::new()
        ),
        Err(Error::InvalidValue { what: "input_mask", .. })
    ));
    assert!(y.iter().all(|v| v.is_nan()));
    for p in [1.0, -0.1, f32::NAN] {
        let r = stack.forward_train_dropout(
            s,
            SeqInput::new(&x),
            SeqOutput::new(&mut y),
            &mut StackWorkspace::new(),
            Dropout {
                input: p,
                ..Dropout::default()
            },
            &mut SplitMix64::new(1),
        );
        assert!(matches!(r, Err(Error::InvalidValue { what: "dropout", .. })));
    }
    assert!(y.iter().all(|v| v.is_nan()));
}

/// The documented draw order: per layer, recurrent masks, then input masks, then the output
/// mask; with `input == 0` the other masks are those drawn before input dropout existed.
#[test]
fn stack_masks_follow_the_documented_order() {
    let desc = StackDesc::new(Cell::Lstm, 3, 4, 2, Direction::Bidirectional).unwrap();
    let stack = Stack::init_uniform(desc, 2);
    let (t, n, w) = (4, 2, 8);
    let s = SeqShape::new(t, n);
    let x = uniform(t * n * 3, 1.0, 4);
    let run = |d: Dropout| {
        let mut y = vec![0.0; t * n * w];
        let mut ws = StackWorkspace::new();
        stack
            .forward_train_dropout(
                s,
                SeqInput::new(&x),
                SeqOutput::new(&mut y),
                &mut ws,
                d,
                &mut SplitMix64::new(77),
            )
            .unwrap();
        (y, ws)
    };
    let (pb, pr, pi) = (0.3, 0.2, 0.4);
    let (_, ws) = run(Dropout {
        between_layers: pb,
        recurrent: pr,
        input: pi,
    });
    let mut rng = SplitMix64::new(77);
    let mut draw = |len, p| train::dropout_mask(len, p, &mut rng).unwrap();
    let (r0, r1) = (draw(n * 4, pr), draw(n * 4, pr));
    let (i0, i1) = (draw(n * 3, pi), draw(n * 3, pi));
    let b0 = draw(t * n * w, pb);
    let (r2, r3) = (draw(n * 4, pr), draw(n * 4, pr));
    let (i2, i3) = (draw(n * w, pi), draw(n * w, pi));
    assert_eq!(ws.recurrent_masks(), &[r0, r1, r2, r3]);
    assert_eq!(ws.input_masks(), &[i0, i1, i2, i3]);
    assert_eq!(ws.dropout_masks(), &[b0]);

    // Without input dropout: the old order, recurrent then output masks.
    let (_, ws) = run(Dropout {
        between_layers: pb,
        recurrent: pr,
        input: 0.0,
    });
    let mut rng = SplitMix64::new(77);
    let mut draw = |len, p| train::dropout_mask(len, p, &mut rng).unwrap();
    let (r0, r1, b0) = (draw(n * 4, pr), draw(n * 4, pr), draw(t * n * w, pb));
    let (r2, r3) = (draw(n * 4, pr), draw(n * 4, pr));
    assert_eq!(ws.recurrent_masks(), &[r0, r1, r2, r3]);
    assert_eq!(ws.dropout_masks(), &[b0]);
    assert!(ws.input_masks().is_empty());

    // Input dropout alone: the forward direction of a one-layer bidirectional stack equals a
    // lone layer run on x ⊙ m0, and inference is unaffected.
    let bi = Stack::new(
        StackDesc::new(Cell::Lstm, 3, 4, 1, Direction::Bidirectional).unwrap(),
        stack.layers()[..2].iter().map(|l| l.weights().clone()).collect(),
    )
    .unwrap();
    let mut y = vec![0.0; t * n * w];
    let mut ws = StackWorkspace::new();
    let d = Dropout {
        input: pi,
        ..Dropout::default()
    };
    bi.forward_train_dropout(
        s,
        SeqInput::new(&x),
        SeqOutput::new(&mut y),
        &mut ws,
        d,
        &mut SplitMix64::new(77),
    )
    .unwrap();
    let mut rng = SplitMix64::new(77);
    let m0 = train::dropout_mask(n * 3, pi, &mut rng).unwrap();
    let m1 = train::dropout_mask(n * 3, pi, &mut rng).unwrap();
    assert_eq!(ws.input_masks(), &[m0.clone(), m1]);
    assert!(ws.recurrent_masks().is_empty() && ws.dropout_masks().is_empty());
    let mut y_inf = vec![0.0; y.len()];
    bi.forward(s, SeqInput::new(&x), SeqOutput::new(&mut y_inf)).unwrap();
    assert!(!bits(&y, &y_inf));
    let xm: Vec<f32> = x.iter().enumerate().map(|(k, v)| v * m0[k % m0.len()]).collect();
    let mut y0 = vec![0.0; t * n * 4];
    bi.layers()[0]
        .forward(s, SeqInput::new(&xm), SeqOutput::new(&mut y0))
        .unwrap();
    for r in 0..t * n {
        assert!(bits(&y0[r * 4..][..4], &y[r * w..][..4]), "row {r}");
    }
}
