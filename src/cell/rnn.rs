//! Simple (Elman) RNN step: `h' = act(a)`.

use super::lanes;
use super::{ld, st};
use crate::desc::Activation;
use crate::simd::{isa_dispatch, Vf32};

/// Backward: `dpre = (dy + dh_rec) act'(·)`, the derivative taken from the output `h_next`.
#[inline(always)]
fn backward_g<V: Vf32>(act: Activation, h_next: &[f32], dy: &[f32], dh_rec: &[f32], dpre: &mut [f32]) {
    lanes!(h_next.len(), |j, len| {
        let s = j..j + len;
        let dh = ld::<V>(&dy[s.clone()]) + ld::<V>(&dh_rec[s.clone()]);
        let hv = ld::<V>(&h_next[s.clone()]);
        let d = match act {
            Activation::Tanh => dh * (V::splat(1.0) - hv * hv),
            Activation::Relu => V::select(hv.gt(V::splat(0.0)), dh, V::splat(0.0)),
        };
        st(d, &mut dpre[s]);
    });
}

isa_dispatch!(
    /// See `backward_g`.
    pub(crate) fn backward => backward_g(act: Activation, h_next: &[f32], dy: &[f32], dh_rec: &[f32], dpre: &mut [f32])
);
