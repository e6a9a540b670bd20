//! The reference backward against central finite differences of the reference forward, in f64.

mod common;

use common::{cell_strategy, uniform, widen};
use fusedrnn::reference::{self, Params};
use fusedrnn::{LayerDesc, SeqShape, Weights};
use proptest::prelude::*;

/// `L = Σ Y·wy + Σ h_T·wh + Σ c_T·wc`.
fn loss(
    p: &Params<f64>,
    s: SeqShape,
    x: &[f64],
    h0: &[f64],
    c0: Option<&[f64]>,
    w: &(Vec<f64>, Vec<f64>, Vec<f64>),
) -> f64 {
    let mask = MASK.with(|m| m.borrow().clone());
    let imask = IMASK.with(|m| m.borrow().clone());
    let tr = reference::forward_masks(p, s, None, mask.as_deref(), imask.as_deref(), x, Some(h0), c0).unwrap();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    dot(&tr.y, &w.0) + dot(&tr.h_n, &w.1) + tr.c_n.as_ref().map_or(0.0, |c| dot(c, &w.2))
}

thread_local! {
    /// The recurrent-dropout mask the current case runs with (None: no dropout).
    static MASK: std::cell::RefCell<Option<Vec<f64>>> = const { std::cell::RefCell::new(None) };
    /// The input-dropout mask the current case runs with (None: no input dropout).
    static IMASK: std::cell::RefCell<Option<Vec<f64>>> = const { std::cell::RefCell::new(None) };
}

fn run(desc: LayerDesc, t: usize, n: usize, seed: u64) {
    let cell = desc.cell();
    let (i, h, o) = (desc.input_size(), desc.hidden_size(), desc.output_size());
    let s = SeqShape::new(t, n);
    let mut w32 = Weights::init_uniform(&desc, seed);
    if desc.layer_norm() {
        // Gains around 1 and biases around 0, not the identity, so every term is exercised.
        let ln: Vec<f32> = uniform(desc.layer_norm_len(), 0.5, seed ^ 7)
            .iter()
            .enumerate()
            .map(|(k, v)| {
                // γ blocks are the even ones of G*H (and γ_c, the 16th H of an LSTM).
                let g = desc.gates();
                let block = k / (g * desc.hidden_size());
                if block < 4 && block.is_multiple_of(2) || (g == 4 && k / desc.hidden_size() == 16) {
                    1.0 + v
                } else {
                    *v
                }
            })
            .collect();
        w32.set_layer_norm(&ln).unwrap();
    }
    // Larger weights than the default init make the nonlinearities work harder.
    for b in w32.all_buffers_mut() {
        for v in b.iter_mut() {
            *v *= 2.0;
        }
    }
    let mut p = Params::<f64>::from_weights(&w32);
    let mut x = widen(&uniform(t * n * i, 1.0, seed ^ 1));
    let mut h0 = widen(&uniform(n * o, 0.8, seed ^ 2));
    let lstm = cell.has_cell_state();
    let mut c0 = widen(&uniform(n * h, 0.8, seed ^ 3));
    let wts = (
        widen(&uniform(t * n * o, 1.0, seed ^ 4)),
        widen(&uniform(n * o, 1.0, seed ^ 5)),
        widen(&uniform(n * h, 1.0, seed ^ 6)),
    );

    let mask = MASK.with(|m| m.borrow().clone());
    let imask = IMASK.with(|m| m.borrow().clone());
    let tr = reference::forward_masks(
        &p,
        s,
        None,
        mask.as_deref(),
        imask.as_deref(),
        &x,
        Some(&h0),
        lstm.then_some(&c0[..]),
    )
    .unwrap();

    let g = reference::backward(&p, &x, &tr, &wts.0, Some(&wts.1), lstm.then_some(&wts.2[..])).unwrap();
    if let Some(m) = &imask {
        // An input the mask drops reaches nothing: its gradient is exactly zero.
        for (k, &d) in g.dx.iter().enumerate() {
            if m[k % (n * i)] == 0.0 {
                assert_eq!(d, 0.0, "dx[{k}] under a dropped input");
            }
        }
    }

    // A layer norm over a few nearly equal values has a large third derivative: a smaller
    // step keeps the central difference's truncation error below the tolerance.
    let eps = if desc.layer_norm() { 1e-7 } else { 1e-6 };
    let check = |name: &str, idx: usize, an: f64, fd: f64| {
        let tol = 1e-6 * (1.0 + an.abs());
        assert!(
            (an - fd).abs() <= tol,
            "{desc:?} {name}[{idx}]: analytic {an} vs numeric {fd}"
        );
    };
    macro_rules! fd_over {
        ($name:expr, $buf:expr, $an:expr) => {
            for k in 0..$buf.len() {
                let orig = $buf[k];
                $buf[k] = orig + eps;
                let lp = loss(&p, s, &x, &h0, lstm.then_some(&c0[..]), &wts);
                $buf[k] = orig - eps;
                let lm = loss(&p, s, &x, &h0, lstm.then_some(&c0[..]), &wts);
                $buf[k] = orig;
                check($name, k, $an[k], (lp - lm) / (2.0 * eps));
            }
        };
    }
    fd_over!("x", x, g.dx);
    fd_over!("h0", h0, g.dh0);
    if lstm {
        fd_over!("c0", c0, g.dc0.as_ref().unwrap());
    }
    fd_over!("W_ih", p.w_ih, g.params.w_ih);
    fd_over!("W_hh", p.w_hh, g.params.w_hh);
    fd_over!("b_ih", p.b_ih, g.params.b_ih);
    fd_over!("b_hh", p.b_hh, g.params.b_hh);
    fd_over!("W_hr", p.w_hr, g.params.w_hr);
    fd_over!("peepholes", p.peep, g.params.peep);
    fd_over!("layer_norm", p.ln, g.params.ln);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

    #[test]
    fn reference_backward_matches_finite_differences(
        cell in cell_strategy(), t in 1usize..5, n in 1usize..3, i in 1usize..5, h in 1usize..6, seed in any::<u64>(),
    ) {
        run(LayerDesc::new(cell, i, h).unwrap(), t, n, seed);
    }

    /// LSTM options: projection, peepholes, gate and cell clipping, coupled input/forget.
    #[test]
    fn lstm_options_backward_matches_finite_differences(
        t in 1usize..5, n in 1usize..3, i in 1usize..5, h in 1usize..6, seed in any::<u64>(),
        proj in 0usize..6, [peep, fgt, clip, cclip] in any::<[bool; 4]>(), thr in 0.3f32..2.0,
    ) {
        let mut d = LayerDesc::new(fusedrnn::Cell::Lstm, i, h).unwrap();
        if proj > 0 { d = d.with_proj_size(proj).unwrap(); }
        if peep { d = d.with_peepholes().unwrap(); }
        if fgt { d = d.with_input_forget().unwrap(); }
        if clip { d = d.with_clip(thr).unwrap(); }
        if cclip { d = d.with_cell_clip(thr * 0.7).unwrap(); }
        run(d, t, n, seed);
    }

    /// Recurrent dropout (a drawn mask of zeros and 1/(1-p)), every cell.
    #[test]
    fn recurrent_dropout_backward_matches_finite_differences(
        cell in cell_strategy(), t in 1usize..5, n in 1usize..3, i in 1usize..5, h in 1usize..6, seed in any::<u64>(),
    ) {
        let m = fusedrnn::train::dropout_mask(n * h, 0.4, &mut fusedrnn::rng::SplitMix64::new(seed)).unwrap();
        MASK.with(|c| *c.borrow_mut() = Some(widen(&m)));
        run(LayerDesc::new(cell, i, h).unwrap(), t, n, seed);
        MASK.with(|c| *c.borrow_mut() = None);
    }

    /// Input dropout (a drawn `[N, I]` mask), every cell, with and without recurrent dropout.
    #[test]
    fn input_dropout_backward_matches_finite_differences(
        cell in cell_strategy(), t in 1usize..5, n in 1usize..3, i in 1usize..5, h in 1usize..6, seed in any::<u64>(),
        recurrent in any::<bool>(),
    ) {
        let mut rng = fusedrnn::rng::SplitMix64::new(seed);
        let m = fusedrnn::train::dropout_mask(n * i, 0.4, &mut rng).unwrap();
        IMASK.with(|c| *c.borrow_mut() = Some(widen(&m)));
        if recurrent {
            let r = fusedrnn::train::dropout_mask(n * h, 0.3, &mut rng).unwrap();
            MASK.with(|c| *c.borrow_mut() = Some(widen(&r)));
        }
        run(LayerDesc::new(cell, i, h).unwrap(), t, n, seed);
        IMASK.with(|c| *c.borrow_mut() = None);
        MASK.with(|c| *c.borrow_mut() = None);
    }

    /// The layer-normalized LSTM (H >= 2: with one unit, LN of `c` is constant).
    #[test]
    fn layer_norm_lstm_backward_matches_finite_differences(
        t in 1usize..4, n in 1usize..3, i in 1usize..5, h in 2usize..5, seed in any::<u64>(),
    ) {
        run(LayerDesc::new(fusedrnn::Cell::Lstm, i, h).unwrap().with_layer_norm().unwrap(), t, n, seed);
    }

    /// The layer-normalized GRU, with and without recurrent dropout.
    #[test]
    fn layer_norm_gru_backward_matches_finite_differences(
        t in 1usize..4, n in 1usize..3, i in 2usize..5, h in 2usize..5, seed in any::<u64>(), drop in any::<bool>(),
    ) {
        let cell = fusedrnn::Cell::Gru(fusedrnn::GruVariant::LinearBeforeReset);
        if drop {
            let m = fusedrnn::train::dropout_mask(n * h, 0.4, &mut fusedrnn::rng::SplitMix64::new(seed)).unwrap();
            MASK.with(|c| *c.borrow_mut() = Some(widen(&m)));
        }
        run(LayerDesc::new(cell, i, h).unwrap().with_layer_norm().unwrap(), t, n, seed);
        MASK.with(|c| *c.borrow_mut() = None);
    }
}
