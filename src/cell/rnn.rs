//! Simple (Elman) RNN step: `h' = act(a)`.

use super::lanes;
use crate::desc::Activation;
use crate::simd::portable::{load, relu, store, tanh};
use wide::f32x8;

/// Forward: `h_next = act(pre)`, both `[N, H]`.
pub(crate) fn forward(act: Activation, pre: &[f32], h_next: &mut [f32]) {
    lanes(pre.len(), |j, len| {
        let a = load(&pre[j..j + len]);
        let v = match act {
            Activation::Tanh => tanh(a),
            Activation::Relu => relu(a),
        };
        store(v, &mut h_next[j..j + len]);
    });
}

/// Backward: `dpre = (dy + dh_rec) act'(·)`, the derivative taken from the output `h_next`.
pub(crate) fn backward(act: Activation, h_next: &[f32], dy: &[f32], dh_rec: &[f32], dpre: &mut [f32]) {
    lanes(h_next.len(), |j, len| {
        let s = j..j + len;
        let dh = load(&dy[s.clone()]) + load(&dh_rec[s.clone()]);
        let hv = load(&h_next[s.clone()]);
        let d = match act {
            Activation::Tanh => dh * (f32x8::ONE - hv * hv),
            Activation::Relu => hv.simd_gt(f32x8::ZERO).select(dh, f32x8::ZERO),
        };
        store(d, &mut dpre[s]);
    });
}
