//! LSTM step: gates `i, f, g, o`; `c' = f c + i g`, `h' = o tanh(c')`.

use super::lanes;
use super::{ld, st};
use crate::simd::math::tanh;
use crate::simd::{isa_dispatch, Vf32};

/// Backward. Reads the activations `acts` `[N, 4H]`, `c_prev`, `c_next`, and `dh = dy + dh_rec`;
/// `dc` holds `dc_t` on entry and `dc_{t-1}` on return; writes the pre-activation gradients
/// `dgates` `[N, 4H]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_g<V: Vf32>(
    h: usize,
    acts: &[f32],
    c_prev: &[f32],
    c_next: &[f32],
    dy: &[f32],
    dh_rec: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let one = V::splat(1.0);
    for (b, (g, dg)) in acts.chunks_exact(4 * h).zip(dgates.chunks_exact_mut(4 * h)).enumerate() {
        let r = b * h;
        lanes!(h, |j, len| {
            let s = r + j..r + j + len;
            let i = ld::<V>(&g[j..j + len]);
            let f = ld::<V>(&g[h + j..h + j + len]);
            let gg = ld::<V>(&g[2 * h + j..2 * h + j + len]);
            let o = ld::<V>(&g[3 * h + j..3 * h + j + len]);
            let dh = ld::<V>(&dy[s.clone()]) + ld::<V>(&dh_rec[s.clone()]);
            let tc = tanh(ld::<V>(&c_next[s.clone()]));
            let dcc = ld::<V>(&dc[s.clone()]) + dh * o * (one - tc * tc);
            st(dcc * gg * i * (one - i), &mut dg[j..j + len]);
            st(
                dcc * ld::<V>(&c_prev[s.clone()]) * f * (one - f),
                &mut dg[h + j..h + j + len],
            );
            st(dcc * i * (one - gg * gg), &mut dg[2 * h + j..2 * h + j + len]);
            st(dh * tc * o * (one - o), &mut dg[3 * h + j..3 * h + j + len]);
            st(dcc * f, &mut dc[s]);
        });
    }
}

isa_dispatch!(
    /// See `backward_g`.
    pub(crate) fn backward => backward_g(h: usize, acts: &[f32], c_prev: &[f32], c_next: &[f32], dy: &[f32], dh_rec: &[f32], dc: &mut [f32], dgates: &mut [f32])
);
