//! LSTM step: gates `i, f, g, o`; `c' = f c + i g`, `h' = o tanh(c')`.

use super::lanes;
use crate::simd::portable::{load, sigmoid, store, tanh};
use wide::f32x8;

/// Forward. `gates` `[N, 4H]` holds the pre-activations (input projection, both biases and
/// the recurrent product) and receives the activations `i, f, g, o`; reads `c_prev`, writes
/// `c_next` and `h_next` (`[N, H]`).
pub(crate) fn forward(h: usize, gates: &mut [f32], c_prev: &[f32], c_next: &mut [f32], h_next: &mut [f32]) {
    for (((g, cp), cn), hn) in gates
        .chunks_exact_mut(4 * h)
        .zip(c_prev.chunks_exact(h))
        .zip(c_next.chunks_exact_mut(h))
        .zip(h_next.chunks_exact_mut(h))
    {
        lanes(h, |j, len| {
            let i = sigmoid(load(&g[j..j + len]));
            let f = sigmoid(load(&g[h + j..h + j + len]));
            let gg = tanh(load(&g[2 * h + j..2 * h + j + len]));
            let o = sigmoid(load(&g[3 * h + j..3 * h + j + len]));
            let c = f.mul_add(load(&cp[j..j + len]), i * gg);
            store(i, &mut g[j..j + len]);
            store(f, &mut g[h + j..h + j + len]);
            store(gg, &mut g[2 * h + j..2 * h + j + len]);
            store(o, &mut g[3 * h + j..3 * h + j + len]);
            store(c, &mut cn[j..j + len]);
            store(o * tanh(c), &mut hn[j..j + len]);
        });
    }
}

/// Backward. Reads the activations `acts` `[N, 4H]`, `c_prev`, `c_next`, and `dh = dy + dh_rec`;
/// `dc` holds `dc_t` on entry and `dc_{t-1}` on return; writes the pre-activation gradients
/// `dgates` `[N, 4H]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    h: usize,
    acts: &[f32],
    c_prev: &[f32],
    c_next: &[f32],
    dy: &[f32],
    dh_rec: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let one = f32x8::ONE;
    for (b, (g, dg)) in acts.chunks_exact(4 * h).zip(dgates.chunks_exact_mut(4 * h)).enumerate() {
        let r = b * h;
        lanes(h, |j, len| {
            let s = r + j..r + j + len;
            let i = load(&g[j..j + len]);
            let f = load(&g[h + j..h + j + len]);
            let gg = load(&g[2 * h + j..2 * h + j + len]);
            let o = load(&g[3 * h + j..3 * h + j + len]);
            let dh = load(&dy[s.clone()]) + load(&dh_rec[s.clone()]);
            let tc = tanh(load(&c_next[s.clone()]));
            let dcc = load(&dc[s.clone()]) + dh * o * (one - tc * tc);
            store(dcc * gg * i * (one - i), &mut dg[j..j + len]);
            store(
                dcc * load(&c_prev[s.clone()]) * f * (one - f),
                &mut dg[h + j..h + j + len],
            );
            store(dcc * i * (one - gg * gg), &mut dg[2 * h + j..2 * h + j + len]);
            store(dh * tc * o * (one - o), &mut dg[3 * h + j..3 * h + j + len]);
            store(dcc * f, &mut dc[s]);
        });
    }
}
