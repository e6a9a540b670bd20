//! Results are bitwise identical whatever the number of threads.

mod common;

use common::{uniform, CELLS};
use fusedrnn::*;

fn run(layer: &Layer, s: SeqShape) -> Vec<Vec<f32>> {
    let d = *layer.desc();
    let (i, h) = (d.input_size(), d.hidden_size());
    let x = uniform(s.t * s.n * i, 1.0, 1);
    let mut y = vec![0.0; s.t * s.n * h];
    let mut ws = TrainWorkspace::new();
    layer
        .forward_train(s, SeqInput::new(&x), SeqOutput::new(&mut y), &mut ws)
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
    out.extend(g.buffers().iter().map(|b| b.to_vec()));
    out
}

#[test]
fn thread_count_does_not_change_results() {
    // Large enough that every GEMM and the bias sums split across threads.
    let s = SeqShape::new(6, 48);
    for cell in CELLS {
        let d = LayerDesc::new(cell, 96, 160).unwrap();
        let layer = Layer::new(Weights::init_uniform(&d, 5));
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let one = pool(1).install(|| run(&layer, s));
        let two = pool(2).install(|| run(&layer, s));
        let three = pool(3).install(|| run(&layer, s));
        for (k, ((a, b), c)) in one.iter().zip(&two).zip(&three).enumerate() {
            assert!(
                a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{cell:?}: buffer {k}, 1 vs 2 threads"
            );
            assert!(
                a.iter().zip(c).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{cell:?}: buffer {k}, 1 vs 3 threads"
            );
        }
    }
}
