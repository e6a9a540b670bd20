//! Denormals are flushed inside every call (FTZ/DAZ scoped to the call) and the caller's
//! floating-point environment is restored afterwards.

mod common;

use fusedrnn::*;

#[test]
fn denormal_inputs_count_as_zero_and_caller_env_is_restored() {
    for cell in common::CELLS {
        let d = LayerDesc::new(cell, 33, 40).unwrap();
        let layer = Layer::new(Weights::init_uniform(&d, 2));
        let s = SeqShape::new(6, 70); // big enough that kernels also run on worker threads
        let x_den = vec![1e-39f32; 6 * 70 * 33];
        let x_zero = vec![0.0f32; x_den.len()];
        let (mut y1, mut y2) = (vec![0.0; 6 * 70 * 40], vec![0.0; 6 * 70 * 40]);
        layer
            .forward(s, SeqInput::new(&x_den), SeqOutput::new(&mut y1))
            .unwrap();
        layer
            .forward(s, SeqInput::new(&x_zero), SeqOutput::new(&mut y2))
            .unwrap();
        assert!(
            y1.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{cell:?}: denormal input not flushed"
        );
        assert!(
            y1.iter()
                .all(|v| v.is_finite() && (*v == 0.0 || v.abs() >= f32::MIN_POSITIVE)),
            "{cell:?}: denormal output"
        );
        let tiny = std::hint::black_box(1e-39f32);
        assert!(
            tiny * std::hint::black_box(1.0f32) != 0.0,
            "the call left FTZ/DAZ set on the caller's thread"
        );
    }
}
