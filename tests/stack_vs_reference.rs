//! Stacks (1..3 layers, every direction mode, time- or batch-major) against the f64 reference
//! composition, in all three modes. Tolerance as in `layer_vs_reference`: relative error at
//! most 1e-4 per element, floored at 1% of the buffer's (or the parameter gradient's) largest.

mod common;

use common::{cell_strategy, rel_err, rel_err_scaled, uniform, widen};
use fusedrnn::reference::{self, Params};
use fusedrnn::*;
use proptest::prelude::*;

const RTOL: f64 = 1e-4;
const FLOOR: f64 = 1e-2;

fn dir_strategy() -> impl Strategy<Value = Direction> {
    prop::sample::select(vec![
        Direction::Forward,
        Direction::Reverse,
        Direction::Bidirectional,
        Direction::BidirectionalSum,
    ])
}

fn ok(name: &str, e: f64, ctx: &str) {
    assert!(e <= RTOL, "{name}: rel err {e:e} > {RTOL:e} in {ctx}");
}

/// [`rel_err`] for forward outputs, whose floor scale is at least 0.1: a summed bidirectional
/// output can cancel to ~1e-4 everywhere when a short batch leaves a single live element, and
/// f32 then has only absolute accuracy there (outputs are O(1) quantities).
fn out_err(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.1f64, |m, v| m.max(v.abs()));
    rel_err_scaled(got, want, FLOOR, scale)
}

#[allow(clippy::too_many_arguments)]
fn run(
    cell: Cell,
    layers: usize,
    dir: Direction,
    batch_first: bool,
    t: usize,
    n: usize,
    i: usize,
    h: usize,
    states: bool,
    lengths: Option<&[usize]>,
    proj_peep: Option<(usize, bool)>,
    dropout: Option<f32>,
    seed: u64,
) {
    let ctx = format!(
        "{cell:?} L={layers} {dir:?} bf={batch_first} T={t} N={n} I={i} H={h} states={states} lengths={lengths:?} proj/peep={proj_peep:?} dropout={dropout:?} seed={seed}"
    );
    let mut l0 = LayerDesc::new(cell, i, h).unwrap();
    if let (Some((p, peep)), Cell::Lstm) = (proj_peep, cell) {
        l0 = l0.with_proj_size(p).unwrap().with_clip(2.0).unwrap();
        if peep {
            l0 = l0.with_peepholes().unwrap().with_cell_clip(1.5).unwrap();
        }
    }
    let desc = StackDesc::from_layer(l0, layers, dir).unwrap().batch_first(batch_first);
    let stack = Stack::init_uniform(desc, seed);
    let params: Vec<Params<f64>> = stack
        .layers()
        .iter()
        .map(|l| Params::from_weights(l.weights()))
        .collect();
    let (w, lstm, st) = (
        desc.output_size(),
        cell.has_cell_state(),
        desc.layer_count() * n * desc.state_size(),
    );
    let sc = desc.layer_count() * n * h;
    let s = SeqShape::new(t, n);
    let x = uniform(t * n * i, 1.0, seed ^ 1);
    let h0 = uniform(st, 0.5, seed ^ 2);
    let c0 = uniform(sc, 0.5, seed ^ 3);
    let (h0, c0) = (states.then_some(&h0[..]), (states && lstm).then_some(&c0[..]));
    let mut input = SeqInput::new(&x);
    input.h0 = h0;
    input.c0 = c0;
    input.lengths = lengths;
    let (mut y, mut hn, mut cn) = (vec![f32::NAN; t * n * w], vec![f32::NAN; st], vec![f32::NAN; sc]);
    let mut ws = StackWorkspace::new();
    let mut out = SeqOutput::new(&mut y).h_n(&mut hn);
    if lstm {
        out = out.c_n(&mut cn);
    }
    match dropout {
        Some(p) => {
            let mut rng = rng::SplitMix64::new(seed ^ 9);
            // Input dropout in half the cases (by the seed), so that old-style cases stay.
            let dr = Dropout {
                between_layers: p,
                recurrent: p / 2.0,
                input: if seed.is_multiple_of(2) { p / 3.0 } else { 0.0 },
            };
            stack
                .forward_train_dropout(s, input, out, &mut ws, dr, &mut rng)
                .unwrap();
            let (nm, nr, ni) = (
                ws.dropout_masks().len(),
                ws.recurrent_masks().len(),
                ws.input_masks().len(),
            );
            assert_eq!(nm, if p > 0.0 { layers - 1 } else { 0 }, "{ctx}");
            assert_eq!(nr, if p > 0.0 { desc.layer_count() } else { 0 }, "{ctx}");
            assert_eq!(ni, if dr.input > 0.0 { desc.layer_count() } else { 0 }, "{ctx}");
            for (k, m) in ws.input_masks().iter().enumerate() {
                let in_l = if k < dir.count() { i } else { w };
                assert_eq!(m.len(), n * in_l, "{ctx}");
            }
        }
        None => stack.forward_train(s, input, out, &mut ws).unwrap(),
    }
    // The reference with the same masks.
    let masks: Vec<Vec<f64>> = ws.dropout_masks().iter().map(|m| widen(m)).collect();
    let rmasks: Vec<Vec<f64>> = ws.recurrent_masks().iter().map(|m| widen(m)).collect();
    let imasks: Vec<Vec<f64>> = ws.input_masks().iter().map(|m| widen(m)).collect();
    let tr = reference::stack_forward_masks(
        &desc,
        &params,
        s,
        lengths,
        &masks,
        &rmasks,
        &imasks,
        &widen(&x),
        h0.map(widen).as_deref(),
        c0.map(widen).as_deref(),
    )
    .unwrap();
    ok("y", out_err(&y, &tr.y), &ctx);
    ok("h_n", out_err(&hn, &tr.h_n), &ctx);
    if lstm {
        ok("c_n", out_err(&cn, &tr.c_n), &ctx);
    }
    if dropout.is_none_or(|p| p == 0.0) {
        let mut y2 = vec![f32::NAN; y.len()];
        stack.forward(s, input, SeqOutput::new(&mut y2)).unwrap();
        assert!(
            y.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits()),
            "inference differs from training forward: {ctx}"
        );
    }

    let dy = uniform(y.len(), 1.0, seed ^ 4);
    let dhn = uniform(st, 1.0, seed ^ 5);
    let dcn = uniform(sc, 1.0, seed ^ 6);
    let (dhn, dcn) = (states.then_some(&dhn[..]), (states && lstm).then_some(&dcn[..]));
    let g = reference::stack_backward(
        &desc,
        &params,
        &tr,
        &widen(&dy),
        dhn.map(widen).as_deref(),
        dcn.map(widen).as_deref(),
    )
    .unwrap();
    let mut go = GradOutput::new(&dy);
    go.dh_n = dhn;
    go.dc_n = dcn;
    let (mut dx, mut dh0, mut dc0) = (vec![f32::NAN; x.len()], vec![f32::NAN; st], vec![f32::NAN; sc]);
    let mut gi = GradInput::none().dx(&mut dx).dh0(&mut dh0);
    if lstm {
        gi = gi.dc0(&mut dc0);
    }
    let mut grads: Vec<Weights> = stack.layers().iter().map(|l| Weights::zeros(l.desc())).collect();
    for gw in grads.iter_mut() {
        for b in gw.all_buffers_mut() {
            b.fill(f32::NAN);
        }
    }
    stack
        .backward(&mut ws, go, gi, &mut grads, GradMode::Overwrite)
        .unwrap();
    ok("dx", rel_err(&dx, &g.dx, FLOOR), &ctx);
    ok("dh0", rel_err(&dh0, &g.dh0, FLOOR), &ctx);
    if lstm {
        ok("dc0", rel_err(&dc0, &g.dc0, FLOOR), &ctx);
    }
    for (k, (got, want)) in grads.iter().zip(&g.params).enumerate() {
        let scale = want
            .all_buffers()
            .iter()
            .flat_map(|b| b.iter())
            .fold(0f64, |m, v| m.max(v.abs()));
        assert_eq!(got.all_buffers().len(), want.all_buffers().len());
        for (name, (a, b)) in ["dW_ih", "dW_hh", "db_ih", "db_hh", "dW_hr", "dpeep"]
            .iter()
            .zip(got.all_buffers().iter().zip(want.all_buffers()))
        {
            ok(&format!("{name}[{k}]"), rel_err_scaled(a, b, FLOOR, scale), &ctx);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x57ac),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn stack_matches_reference(
        cell in cell_strategy(), layers in 1usize..4, dir in dir_strategy(), batch_first in any::<bool>(),
        t in 1usize..8, n in 1usize..5, i in 1usize..20, h in 1usize..20, states in any::<bool>(), seed in any::<u64>(),
        varlen in any::<bool>(), raw_lens in prop::collection::vec(0usize..8, 4),
        proj_peep in prop::option::of((1usize..12, any::<bool>())),
        dropout in prop::option::of(0.0f32..0.9),
    ) {
        // Drawn per-entry lengths in 1..=T (PyTorch's rule); `0` is covered by the layer test.
        let lens: Vec<usize> = raw_lens[..n].iter().map(|&l| 1 + l % t).collect();
        run(cell, layers, dir, batch_first, t, n, i, h, states, varlen.then_some(&lens[..]), proj_peep, dropout, seed);
    }
}

#[test]
fn stack_errors() {
    let desc = StackDesc::new(Cell::Lstm, 3, 4, 2, Direction::Bidirectional).unwrap();
    assert_eq!(
        StackDesc::new(Cell::Lstm, 3, 4, 0, Direction::Forward),
        Err(Error::ZeroSize { what: "num_layers" })
    );
    let wrong = vec![Weights::zeros(&LayerDesc::new(Cell::Lstm, 3, 4).unwrap()); 4];
    assert!(
        matches!(Stack::new(desc, wrong), Err(Error::InvalidValue { .. })),
        "layer 1 must read 2H = 8 features"
    );
    assert!(matches!(Stack::new(desc, vec![]), Err(Error::LengthMismatch { .. })));
    let stack = Stack::init_uniform(desc, 3);
    let s = SeqShape::new(2, 1);
    let x = vec![0.0; 6];
    let mut y = vec![0.0; 2 * 8];
    let mut hn = vec![0.0; 4 * 4 - 1];
    assert_eq!(
        stack.forward(s, SeqInput::new(&x), SeqOutput::new(&mut y).h_n(&mut hn)),
        Err(Error::LengthMismatch {
            what: "h_n",
            expected: 16,
            got: 15
        })
    );
    let mut ws = StackWorkspace::new();
    let mut g: Vec<Weights> = stack.layers().iter().map(|l| Weights::zeros(l.desc())).collect();
    assert!(matches!(
        stack.backward(
            &mut ws,
            GradOutput::new(&y),
            GradInput::none(),
            &mut g,
            GradMode::Overwrite
        ),
        Err(Error::Workspace { .. })
    ));
}

/// Dropout masks are fixed by the caller's seed (and differ between seeds), `p = 0` is no
/// dropout, and `p` outside `[0, 1)` is refused.
#[test]
fn dropout_is_seeded_and_checked() {
    let desc = StackDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 3, 5, 3, Direction::Forward).unwrap();
    let stack = Stack::init_uniform(desc, 4);
    let s = SeqShape::new(6, 2);
    let x = uniform(6 * 2 * 3, 1.0, 5);
    let run = |p: f32, seed: u64| {
        let mut y = vec![0.0; 6 * 2 * 5];
        let mut ws = StackWorkspace::new();
        let r = stack.forward_train_dropout(
            s,
            SeqInput::new(&x),
            SeqOutput::new(&mut y),
            &mut ws,
            Dropout {
                between_layers: p,
                recurrent: 0.0,
                input: 0.0,
            },
            &mut rng::SplitMix64::new(seed),
        );
        r.map(|_| (y, ws.dropout_masks().to_vec()))
    };
    let (ya, ma) = run(0.5, 1).unwrap();
    let (yb, mb) = run(0.5, 1).unwrap();
    let (yc, mc) = run(0.5, 2).unwrap();
    assert_eq!((&ya, &ma), (&yb, &mb));
    assert_ne!(ma, mc);
    assert_ne!(ya, yc);
    assert_eq!(ma.len(), 2);
    assert!(ma.iter().flatten().any(|&v| v == 0.0) && ma.iter().flatten().any(|&v| v == 2.0));
    let (y0, _) = run(0.0, 1).unwrap();
    let mut y_inf = vec![0.0; y0.len()];
    stack.forward(s, SeqInput::new(&x), SeqOutput::new(&mut y_inf)).unwrap();
    assert_eq!(y0, y_inf);
    for p in [1.0, -0.5, f32::NAN] {
        assert!(matches!(run(p, 1), Err(Error::InvalidValue { what: "dropout", .. })));
    }
    // A stack draws its own recurrent masks.
    let m = vec![1.0; 2 * 5];
    let mut y = vec![0.0; 6 * 2 * 5];
    assert!(matches!(
        stack.forward_train(
            s,
            SeqInput::new(&x).recurrent_mask(&m),
            SeqOutput::new(&mut y),
            &mut StackWorkspace::new()
        ),
        Err(Error::InvalidValue {
            what: "recurrent_mask",
            ..
        })
    ));
}
