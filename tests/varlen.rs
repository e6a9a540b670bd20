//! Variable-length batches beyond the reference comparison (`layer_vs_reference`,
//! `stack_vs_reference` draw lengths too): each sequence of a padded batch gives, bitwise, what
//! it gives run alone with its own length (so padded steps are neither computed nor leak), in
//! every cell, for layers and bidirectional stacks; bad lengths are refused.

mod common;

use common::{cell_strategy, uniform};
use fusedrnn::*;
use proptest::prelude::*;

fn bits_eq(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits())
}

/// Rows `b` of a `[T, N, w]` sequence, for steps `0..len`.
fn entry(x: &[f32], n: usize, w: usize, b: usize, len: usize) -> Vec<f32> {
    (0..len).flat_map(|s| x[(s * n + b) * w..][..w].to_vec()).collect()
}

#[allow(clippy::too_many_arguments)]
fn stack_case(cell: Cell, dir: Direction, layers: usize, t: usize, n: usize, i: usize, h: usize, lens: &[usize]) {
    let desc = StackDesc::new(cell, i, h, layers, dir).unwrap();
    let stack = Stack::init_uniform(desc, (t * 31 + n) as u64);
    let (w, k) = (desc.output_size(), desc.layer_count());
    let lstm = cell.has_cell_state();
    let x = uniform(t * n * i, 1.0, 9);
    let h0 = uniform(k * n * h, 0.5, 10);
    let c0 = uniform(k * n * h, 0.5, 11);
    let (mut y, mut hn, mut cn) = (
        vec![f32::NAN; t * n * w],
        vec![f32::NAN; k * n * h],
        vec![f32::NAN; k * n * h],
    );
    let mut inp = SeqInput::new(&x).h0(&h0).lengths(lens);
    let mut out = SeqOutput::new(&mut y).h_n(&mut hn);
    if lstm {
        inp = inp.c0(&c0);
        out = out.c_n(&mut cn);
    }
    stack.forward(SeqShape::new(t, n), inp, out).unwrap();
    let ctx = format!("{cell:?} {dir:?} L={layers} T={t} N={n} I={i} H={h} lens={lens:?}");
    for (b, &l) in lens.iter().enumerate() {
        let pick = |v: &[f32]| -> Vec<f32> { (0..k).flat_map(|kk| v[(kk * n + b) * h..][..h].to_vec()).collect() };
        let (h0b, c0b) = (pick(&h0), pick(&c0));
        if l == 0 {
            assert!(bits_eq(&pick(&hn), &h0b), "h_n of an empty sequence is h0: {ctx}");
        } else {
            let xb = entry(&x, n, i, b, l);
            let (mut yb, mut hnb, mut cnb) = (vec![0.0; l * w], vec![0.0; k * h], vec![0.0; k * h]);
            let mut inp = SeqInput::new(&xb).h0(&h0b);
            let mut out = SeqOutput::new(&mut yb).h_n(&mut hnb);
            if lstm {
                inp = inp.c0(&c0b);
                out = out.c_n(&mut cnb);
            }
            stack.forward(SeqShape::new(l, 1), inp, out).unwrap();
            assert!(bits_eq(&entry(&y, n, w, b, l), &yb), "y of entry {b}: {ctx}");
            assert!(bits_eq(&pick(&hn), &hnb), "h_n of entry {b}: {ctx}");
            if lstm {
                assert!(bits_eq(&pick(&cn), &cnb), "c_n of entry {b}: {ctx}");
            }
        }
        for s in l..t {
            assert!(
                y[(s * n + b) * w..][..w].iter().all(|&v| v == 0.0),
                "padding of entry {b} step {s}: {ctx}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7a11),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn each_entry_equals_its_sequence_alone(
        cell in cell_strategy(),
        bidir in any::<bool>(),
        layers in 1usize..3,
        t in 1usize..9,
        n in 1usize..10,
        i in 1usize..40,
        h in 1usize..40,
        raw in prop::collection::vec(0usize..9, 9),
    ) {
        let lens: Vec<usize> = raw[..n].iter().map(|&l| l % (t + 1)).collect();
        let dir = if bidir { Direction::Bidirectional } else { Direction::Forward };
        stack_case(cell, dir, layers, t, n, i, h, &lens);
    }
}

/// Lengths T, T/2, T/4, ...: the halving batch of the benchmark, for every cell and both
/// directions, with sizes past one SIMD width.
#[test]
fn halving_lengths_every_cell() {
    let (t, n) = (16, 6);
    let lens: Vec<usize> = (0..n).map(|b| t >> b).collect();
    for cell in common::CELLS {
        for dir in [Direction::Reverse, Direction::BidirectionalSum] {
            stack_case(cell, dir, 2, t, n, 19, 37, &lens);
        }
    }
}

#[test]
fn all_full_lengths_equal_no_lengths() {
    let d = LayerDesc::new(Cell::Lstm, 5, 9).unwrap();
    let layer = Layer::new(Weights::init_uniform(&d, 1));
    let (t, n) = (4, 3);
    let x = uniform(t * n * 5, 1.0, 2);
    let (mut a, mut b) = (vec![0.0; t * n * 9], vec![0.0; t * n * 9]);
    let s = SeqShape::new(t, n);
    layer.forward(s, SeqInput::new(&x), SeqOutput::new(&mut a)).unwrap();
    layer
        .forward(s, SeqInput::new(&x).lengths(&[4, 4, 4]), SeqOutput::new(&mut b))
        .unwrap();
    assert!(bits_eq(&a, &b));
}

#[test]
fn bad_lengths_are_refused() {
    let d = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 2, 3).unwrap();
    let layer = Layer::new(Weights::init_uniform(&d, 1));
    let s = SeqShape::new(4, 2);
    let x = vec![0.0; 4 * 2 * 2];
    let mut y = vec![0.0; 4 * 2 * 3];
    assert_eq!(
        layer.forward(s, SeqInput::new(&x).lengths(&[1]), SeqOutput::new(&mut y)),
        Err(Error::LengthMismatch {
            what: "lengths",
            expected: 2,
            got: 1
        })
    );
    assert!(matches!(
        layer.forward(s, SeqInput::new(&x).lengths(&[1, 5]), SeqOutput::new(&mut y)),
        Err(Error::InvalidValue { what: "lengths", .. })
    ));
    let stack = Stack::init_uniform(
        StackDesc::new(Cell::Lstm, 2, 3, 2, Direction::Bidirectional).unwrap(),
        1,
    );
    let mut y2 = vec![0.0; 4 * 2 * 6];
    assert!(matches!(
        stack.forward(s, SeqInput::new(&x).lengths(&[9, 1]), SeqOutput::new(&mut y2)),
        Err(Error::InvalidValue { what: "lengths", .. })
    ));
}
