//! Streaming: a sequence fed step by step or in random chunks gives exactly (bitwise) the
//! outputs and final state of one forward call over the whole sequence.

mod common;

use common::{cell_strategy, uniform};
use fusedrnn::*;
use proptest::prelude::*;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x57e4),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn chunked_equals_whole(
        cell in cell_strategy(), t in 1usize..20, n in 1usize..5, i in 1usize..20, h in 1usize..40,
        with_state in any::<bool>(), cuts in prop::collection::vec(1usize..6, 1..20), seed in any::<u64>(),
    ) {
        let desc = LayerDesc::new(cell, i, h).unwrap();
        let layer = Layer::new(Weights::init_uniform(&desc, seed));
        let x = uniform(t * n * i, 1.0, seed ^ 1);
        let h0 = uniform(n * h, 0.5, seed ^ 2);
        let c0 = uniform(n * h, 0.5, seed ^ 3);
        let lstm = cell.has_cell_state();

        let mut want = vec![f32::NAN; t * n * h];
        let (mut hn, mut cn) = (vec![f32::NAN; n * h], vec![f32::NAN; n * h]);
        let mut input = SeqInput::new(&x);
        if with_state {
            input.h0 = Some(&h0);
            input.c0 = lstm.then_some(&c0[..]);
        }
        let mut out = SeqOutput::new(&mut want).h_n(&mut hn);
        if lstm { out = out.c_n(&mut cn); }
        layer.forward(SeqShape::new(t, n), input, out).unwrap();

        let mut stream = Stream::with_capacity(&layer, n, 5).unwrap();
        if with_state {
            stream.set_state(&h0, lstm.then_some(&c0[..])).unwrap();
        }
        let mut got = vec![f32::NAN; t * n * h];
        let (mut s, mut k) = (0usize, 0usize);
        while s < t {
            let len = cuts[k % cuts.len()].min(t - s);
            k += 1;
            stream.push(&layer, &x[s * n * i..(s + len) * n * i], &mut got[s * n * h..(s + len) * n * h]).unwrap();
            s += len;
        }
        prop_assert_eq!(bits(&got), bits(&want));
        prop_assert_eq!(bits(stream.h()), bits(&hn));
        if lstm { prop_assert_eq!(bits(stream.c().unwrap()), bits(&cn)); }
    }
}

#[test]
fn stream_errors_keep_state() {
    let desc = LayerDesc::new(Cell::Lstm, 3, 4).unwrap();
    let layer = Layer::new(Weights::init_uniform(&desc, 1));
    let mut s = Stream::new(&layer, 2).unwrap();
    let mut y = vec![0.0; 8];
    s.push(&layer, &uniform(6, 1.0, 2), &mut y).unwrap();
    let (h, c) = (s.h().to_vec(), s.c().unwrap().to_vec());
    assert!(matches!(
        s.push(&layer, &[0.0; 5], &mut y),
        Err(Error::LengthMismatch { what: "x", .. })
    ));
    assert!(matches!(
        s.push(&layer, &[0.0; 6], &mut y[..7]),
        Err(Error::LengthMismatch { what: "y", .. })
    ));
    assert_eq!(
        (s.h(), s.c().unwrap()),
        (&h[..], &c[..]),
        "a refused push changed the state"
    );
    let other = Layer::new(Weights::zeros(&LayerDesc::new(Cell::Lstm, 3, 5).unwrap()));
    assert!(s.push(&other, &[0.0; 6], &mut y).is_err());
    assert_eq!(s.set_state(&h, None), Err(Error::Missing { what: "c" }));
    s.reset();
    assert!(s.h().iter().all(|&v| v == 0.0));
}

/// Wide inputs (I = 300, past any GEMM's k-block) stream bitwise too.
#[test]
fn chunked_equals_whole_wide_input() {
    for cell in common::CELLS {
        let (t, n, i, h) = (9, 3, 300, 20);
        let desc = LayerDesc::new(cell, i, h).unwrap();
        let layer = Layer::new(Weights::init_uniform(&desc, 4));
        let x = uniform(t * n * i, 1.0, 5);
        let mut want = vec![0.0; t * n * h];
        layer
            .forward(SeqShape::new(t, n), SeqInput::new(&x), SeqOutput::new(&mut want))
            .unwrap();
        let mut s = Stream::new(&layer, n).unwrap();
        let mut got = vec![0.0; t * n * h];
        for (xc, yc) in x.chunks(2 * n * i).zip(got.chunks_mut(2 * n * h)) {
            s.push(&layer, xc, yc).unwrap();
        }
        assert_eq!(bits(&got), bits(&want), "{cell:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x57e5),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// A whole stack streamed in random chunks equals one `Stack::forward`, states included.
    #[test]
    fn stack_chunked_equals_whole(
        cell in cell_strategy(), layers in 1usize..4, t in 1usize..16, n in 1usize..4, i in 1usize..12,
        h in 1usize..24, with_state in any::<bool>(), cuts in prop::collection::vec(1usize..6, 1..10),
        seed in any::<u64>(),
    ) {
        let desc = StackDesc::new(cell, i, h, layers, Direction::Forward).unwrap();
        let stack = Stack::init_uniform(desc, seed);
        let lstm = cell.has_cell_state();
        let st = layers * n * h;
        let x = uniform(t * n * i, 1.0, seed ^ 1);
        let (h0, c0) = (uniform(st, 0.5, seed ^ 2), uniform(st, 0.5, seed ^ 3));

        let mut want = vec![f32::NAN; t * n * h];
        let (mut hn, mut cn) = (vec![f32::NAN; st], vec![f32::NAN; st]);
        let mut input = SeqInput::new(&x);
        if with_state {
            input.h0 = Some(&h0);
            input.c0 = lstm.then_some(&c0[..]);
        }
        let mut out = SeqOutput::new(&mut want).h_n(&mut hn);
        if lstm { out = out.c_n(&mut cn); }
        stack.forward(SeqShape::new(t, n), input, out).unwrap();

        let mut stream = StackStream::with_capacity(&stack, n, 3).unwrap();
        if with_state {
            stream.set_state(&h0, lstm.then_some(&c0[..])).unwrap();
        }
        let mut got = vec![f32::NAN; t * n * h];
        let (mut s, mut k) = (0usize, 0usize);
        while s < t {
            let len = cuts[k % cuts.len()].min(t - s);
            k += 1;
            stream.push(&stack, &x[s * n * i..(s + len) * n * i], &mut got[s * n * h..(s + len) * n * h]).unwrap();
            s += len;
        }
        prop_assert_eq!(bits(&got), bits(&want));
        let (mut gh, mut gc) = (vec![f32::NAN; st], vec![f32::NAN; st]);
        stream.state(&mut gh, lstm.then_some(&mut gc[..])).unwrap();
        prop_assert_eq!(bits(&gh), bits(&hn));
        if lstm { prop_assert_eq!(bits(&gc), bits(&cn)); }
        prop_assert_eq!(bits(stream.h(layers - 1)), bits(&hn[(layers - 1) * n * h..]));
    }
}

#[test]
fn stack_stream_errors() {
    let bidir = StackDesc::new(Cell::Lstm, 3, 4, 1, Direction::Bidirectional).unwrap();
    assert!(matches!(
        StackStream::new(&Stack::init_uniform(bidir, 1), 1),
        Err(Error::InvalidValue { what: "stack", .. })
    ));
    let desc = StackDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 3, 4, 2, Direction::Forward).unwrap();
    let stack = Stack::init_uniform(desc, 1);
    let mut s = StackStream::new(&stack, 2).unwrap();
    let mut y = vec![0.0; 8];
    s.push(&stack, &uniform(6, 1.0, 2), &mut y).unwrap();
    let mut before = vec![0.0; 16];
    s.state(&mut before, None).unwrap();
    assert!(matches!(
        s.push(&stack, &[0.0; 5], &mut y),
        Err(Error::LengthMismatch { what: "x", .. })
    ));
    assert!(matches!(
        s.push(&stack, &[0.0; 6], &mut y[..7]),
        Err(Error::LengthMismatch { what: "y", .. })
    ));
    let other = Stack::init_uniform(StackDesc::new(Cell::Lstm, 3, 4, 2, Direction::Forward).unwrap(), 1);
    assert!(s.push(&other, &[0.0; 6], &mut y).is_err());
    let mut after = vec![0.0; 16];
    s.state(&mut after, None).unwrap();
    assert_eq!(before, after, "a refused push changed the state");
    assert_eq!(
        s.state(&mut after, Some(&mut [0.0; 16])),
        Err(Error::Unexpected { what: "c" })
    );
    assert!(matches!(
        s.set_state(&[0.0; 15], None),
        Err(Error::LengthMismatch { what: "h", .. })
    ));
    s.reset();
    assert!(s.h(0).iter().chain(s.h(1)).all(|&v| v == 0.0));
}
