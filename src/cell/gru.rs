//! GRU step, gates `r, z, n`; `h' = (1 - z) n + z h` in both reset placements.
//!
//! The input projection in `gates` carries `b_ih` plus the recurrent biases that can be folded
//! (`b_hr`, `b_hz`, and `b_hn` for the reset-before-linear variant).

use super::lanes;
use crate::simd::portable::{load, sigmoid, store, tanh};
use wide::f32x8;

/// Linear-before-reset forward. `gates` `[N, 3H]`: projection in, activations `r, z, n` out;
/// `gh` `[N, 3H]` = `h_prev W_hhᵀ` (no bias); `b_hn` `[H]`; writes `hn = gh_n + b_hn` (kept for
/// backward) and `h_next`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_lbr(
    h: usize,
    gates: &mut [f32],
    gh: &[f32],
    b_hn: &[f32],
    h_prev: &[f32],
    hn_out: &mut [f32],
    h_next: &mut [f32],
) {
    for (b, (g, q)) in gates.chunks_exact_mut(3 * h).zip(gh.chunks_exact(3 * h)).enumerate() {
        let r0 = b * h;
        lanes(h, |j, len| {
            let (s, rz, zz, nn) = (
                r0 + j..r0 + j + len,
                j..j + len,
                h + j..h + j + len,
                2 * h + j..2 * h + j + len,
            );
            let r = sigmoid(load(&g[rz.clone()]) + load(&q[rz.clone()]));
            let z = sigmoid(load(&g[zz.clone()]) + load(&q[zz.clone()]));
            let hn = load(&q[nn.clone()]) + load(&b_hn[j..j + len]);
            let n = tanh(r.mul_add(hn, load(&g[nn.clone()])));
            let hp = load(&h_prev[s.clone()]);
            store(r, &mut g[rz]);
            store(z, &mut g[zz]);
            store(n, &mut g[nn]);
            store(hn, &mut hn_out[s.clone()]);
            store(z.mul_add(hp - n, n), &mut h_next[s]);
        });
    }
}

/// Linear-before-reset backward. Writes the input-side gradients `dgates` `[N, 3H]`
/// (`dr, dz, dn` w.r.t. pre-activations), the recurrent-side `dgh` (same but `dn ⊙ r` for the
/// `n` block), and `dh_direct = dh ⊙ z` into `dh_prev` (the driver adds `dgh W_hh`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_lbr(
    h: usize,
    acts: &[f32],
    hn: &[f32],
    h_prev: &[f32],
    dy: &[f32],
    dh_rec: &[f32],
    dgates: &mut [f32],
    dgh: &mut [f32],
    dh_prev: &mut [f32],
) {
    let one = f32x8::ONE;
    for (b, ((g, dg), dq)) in acts
        .chunks_exact(3 * h)
        .zip(dgates.chunks_exact_mut(3 * h))
        .zip(dgh.chunks_exact_mut(3 * h))
        .enumerate()
    {
        let r0 = b * h;
        lanes(h, |j, len| {
            let (s, rz, zz, nn) = (
                r0 + j..r0 + j + len,
                j..j + len,
                h + j..h + j + len,
                2 * h + j..2 * h + j + len,
            );
            let (r, z, n) = (load(&g[rz.clone()]), load(&g[zz.clone()]), load(&g[nn.clone()]));
            let dh = load(&dy[s.clone()]) + load(&dh_rec[s.clone()]);
            let hp = load(&h_prev[s.clone()]);
            let dan = dh * (one - z) * (one - n * n);
            let daz = dh * (hp - n) * z * (one - z);
            let dar = dan * load(&hn[s.clone()]) * r * (one - r);
            store(dar, &mut dg[rz.clone()]);
            store(daz, &mut dg[zz.clone()]);
            store(dan, &mut dg[nn.clone()]);
            store(dar, &mut dq[rz]);
            store(daz, &mut dq[zz]);
            store(dan * r, &mut dq[nn]);
            store(dh * z, &mut dh_prev[s]);
        });
    }
}

/// Reset-before-linear forward, part 1: `r, z` from the projection and `gh[:, 0..2H]`
/// (= `h_prev W_hrzᵀ`); stores them in `gates` and writes `rh = r ⊙ h_prev`.
pub(crate) fn forward_rz(h: usize, gates: &mut [f32], gh: &[f32], h_prev: &[f32], rh: &mut [f32]) {
    for (b, (g, q)) in gates.chunks_exact_mut(3 * h).zip(gh.chunks_exact(3 * h)).enumerate() {
        let r0 = b * h;
        lanes(h, |j, len| {
            let (s, rz, zz) = (r0 + j..r0 + j + len, j..j + len, h + j..h + j + len);
            let r = sigmoid(load(&g[rz.clone()]) + load(&q[rz.clone()]));
            let z = sigmoid(load(&g[zz.clone()]) + load(&q[zz.clone()]));
            store(r, &mut g[rz]);
            store(z, &mut g[zz]);
            store(r * load(&h_prev[s.clone()]), &mut rh[s]);
        });
    }
}

/// Reset-before-linear forward, part 2: `n = tanh(proj_n + gh_n)` with `gh[:, 2H..3H]` =
/// `rh W_hnᵀ`; stores `n` and writes `h_next`.
pub(crate) fn forward_n(h: usize, gates: &mut [f32], gh: &[f32], h_prev: &[f32], h_next: &mut [f32]) {
    for (b, (g, q)) in gates.chunks_exact_mut(3 * h).zip(gh.chunks_exact(3 * h)).enumerate() {
        let r0 = b * h;
        lanes(h, |j, len| {
            let (s, zz, nn) = (r0 + j..r0 + j + len, h + j..h + j + len, 2 * h + j..2 * h + j + len);
            let n = tanh(load(&g[nn.clone()]) + load(&q[nn.clone()]));
            let z = load(&g[zz]);
            store(n, &mut g[nn]);
            store(z.mul_add(load(&h_prev[s.clone()]) - n, n), &mut h_next[s]);
        });
    }
}

/// Reset-before-linear backward, part 1: writes `dz, dn` into `dgates` and `dh ⊙ z` into
/// `dh_prev`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_zn(
    h: usize,
    acts: &[f32],
    h_prev: &[f32],
    dy: &[f32],
    dh_rec: &[f32],
    dgates: &mut [f32],
    dh_prev: &mut [f32],
) {
    let one = f32x8::ONE;
    for (b, (g, dg)) in acts.chunks_exact(3 * h).zip(dgates.chunks_exact_mut(3 * h)).enumerate() {
        let r0 = b * h;
        lanes(h, |j, len| {
            let (s, zz, nn) = (r0 + j..r0 + j + len, h + j..h + j + len, 2 * h + j..2 * h + j + len);
            let (z, n) = (load(&g[zz.clone()]), load(&g[nn.clone()]));
            let dh = load(&dy[s.clone()]) + load(&dh_rec[s.clone()]);
            let hp = load(&h_prev[s.clone()]);
            store(dh * (hp - n) * z * (one - z), &mut dg[zz]);
            store(dh * (one - z) * (one - n * n), &mut dg[nn]);
            store(dh * z, &mut dh_prev[s]);
        });
    }
}

/// Reset-before-linear backward, part 2: given `drh = dn W_hn` (`[N, H]`), writes `dr` into
/// `dgates` and adds `drh ⊙ r` to `dh_prev`.
pub(crate) fn backward_r(h: usize, acts: &[f32], h_prev: &[f32], drh: &[f32], dgates: &mut [f32], dh_prev: &mut [f32]) {
    let one = f32x8::ONE;
    for (b, (g, dg)) in acts.chunks_exact(3 * h).zip(dgates.chunks_exact_mut(3 * h)).enumerate() {
        let r0 = b * h;
        lanes(h, |j, len| {
            let s = r0 + j..r0 + j + len;
            let r = load(&g[j..j + len]);
            let d = load(&drh[s.clone()]);
            store(d * load(&h_prev[s.clone()]) * r * (one - r), &mut dg[j..j + len]);
            store(d.mul_add(r, load(&dh_prev[s.clone()])), &mut dh_prev[s]);
        });
    }
}
