//! The layer-normalized (linear-before-reset) GRU's row passes (see
//! [`crate::LayerDesc::with_layer_norm`]): the gate pass after the normalized recurrent
//! product, its backward, and the parameter sums. Rows are independent; sums run over rows in
//! order.

use super::ln_lstm::normalize_back_row;
use super::{lanes, ld, st};
use crate::simd::math::{sigmoid, tanh};
use crate::simd::{isa_dispatch, Vf32};

/// The recurrent side's gain, bias and `b_hh`, `[3H]` each (gate blocks `r, z, n`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GruLnParams<'a> {
    pub gamma_h: &'a [f32],
    pub beta_h: &'a [f32],
    pub b_hh: &'a [f32],
}

/// `a_h = γ_h ĥ + β_h + b_hh` of gate block `k`, lanes `j..j+len`, for row `r`.
#[inline(always)]
fn ah<V: Vf32>(p: &GruLnParams<'_>, r: &[f32], h: usize, k: usize, j: usize, len: usize) -> V {
    let s = k * h + j..k * h + j + len;
    ld::<V>(&p.gamma_h[s.clone()]).mul_add(
        ld::<V>(&r[s.clone()]),
        ld::<V>(&p.beta_h[s.clone()]) + ld::<V>(&p.b_hh[s]),
    )
}

/// Forward over the `m` rows of `gates` (`[m, 3H]`: the input side `γ_x x̂ + β_x + b_ih` on
/// entry, `r, z, n` on return), with `rhat` the normalized recurrent product: writes
/// `aux = a_h,n` (for backward) and `h_next = (1 - z) ⊙ n + z ⊙ h_prev`.
#[inline(always)]
fn forward_g<V: Vf32>(
    h: usize,
    p: &GruLnParams<'_>,
    gates: &mut [f32],
    rhat: &[f32],
    h_prev: &[f32],
    aux: &mut [f32],
    h_next: &mut [f32],
) {
    for (b, (g, r)) in gates.chunks_exact_mut(3 * h).zip(rhat.chunks_exact(3 * h)).enumerate() {
        let row = b * h..(b + 1) * h;
        let (hp, au, hn) = (&h_prev[row.clone()], &mut aux[row.clone()], &mut h_next[row]);
        lanes!(h, |j, len| {
            let ax = |k: usize| ld::<V>(&g[k * h + j..k * h + j + len]);
            let rg = sigmoid(ax(0) + ah::<V>(p, r, h, 0, j, len));
            let z = sigmoid(ax(1) + ah::<V>(p, r, h, 1, j, len));
            let an = ah::<V>(p, r, h, 2, j, len);
            let n = tanh(rg.mul_add(an, ax(2)));
            st(an, &mut au[j..j + len]);
            st(z.mul_add(ld::<V>(&hp[j..j + len]) - n, n), &mut hn[j..j + len]);
            for (k, v) in [rg, z, n].into_iter().enumerate() {
                st(v, &mut g[k * h + j..k * h + j + len]);
            }
        });
    }
}

/// Backward over the `m` rows of one step, from `dh` (`dY + dh_rec`): writes the direct part
/// `dh ⊙ z` of `dh_prev`, the gradients of the input side `dax` and of the recurrent side
/// `dah` (`[m, 3H]` each, before their normalizations), and `dr`, the gradient of the raw
/// recurrent product `W_hh h` (`[m, 3H]`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_g<V: Vf32>(
    h: usize,
    p: &GruLnParams<'_>,
    acts: &[f32],
    aux: &[f32],
    h_prev: &[f32],
    rhat: &[f32],
    rstd_h: &[f32],
    dh: &[f32],
    dh_prev: &mut [f32],
    dax: &mut [f32],
    dah: &mut [f32],
    dr: &mut [f32],
) {
    let one = V::splat(1.0);
    for (b, g) in acts.chunks_exact(3 * h).enumerate() {
        let row = b * h..(b + 1) * h;
        let w = b * 3 * h..(b + 1) * 3 * h;
        let (au, hp, dhr, dhp) = (
            &aux[row.clone()],
            &h_prev[row.clone()],
            &dh[row.clone()],
            &mut dh_prev[row],
        );
        let (dx, dhh) = (&mut dax[w.clone()], &mut dah[w.clone()]);
        lanes!(h, |j, len| {
            let s = j..j + len;
            let (rg, z, n) = (
                ld::<V>(&g[j..j + len]),
                ld::<V>(&g[h + j..h + j + len]),
                ld::<V>(&g[2 * h + j..2 * h + j + len]),
            );
            let d = ld::<V>(&dhr[s.clone()]);
            let dan = d * (one - z) * (one - n * n);
            let dar = dan * ld::<V>(&au[s.clone()]) * rg * (one - rg);
            let daz = d * (ld::<V>(&hp[s.clone()]) - n) * z * (one - z);
            st(d * z, &mut dhp[s]);
            for (k, (vx, vh)) in [(dar, dar), (daz, daz), (dan, dan * rg)].into_iter().enumerate() {
                st(vx, &mut dx[k * h + j..k * h + j + len]);
                st(vh, &mut dhh[k * h + j..k * h + j + len]);
            }
        });
        let (drr, rh) = (&mut dr[w.clone()], &rhat[w]);
        lanes!(3 * h, |j, len| {
            let s = j..j + len;
            st(ld::<V>(&dhh[s.clone()]) * ld::<V>(&p.gamma_h[s.clone()]), &mut drr[s]);
        });
        normalize_back_row::<V>(drr, rh, rstd_h[b]);
    }
}

/// The parameter gradients summed over all rows in row order, into `acc` (`[18H]`:
/// `γ_h, β_h, b_hh, γ_x, β_x, b_ih`, `[3H]` each).
#[inline(always)]
fn param_sums_g<V: Vf32>(h: usize, dax: &[f32], dah: &[f32], xhat: &[f32], rhat: &[f32], acc: &mut [f32]) {
    acc.fill(0.0);
    let w = 3 * h;
    let (acc_h, acc_x) = acc.split_at_mut(3 * w);
    for (da, nh, ac) in [(dah, rhat, acc_h), (dax, xhat, acc_x)] {
        let (ag, rest) = ac.split_at_mut(w);
        let (ab, _) = rest.split_at_mut(w);
        for (d, n) in da.chunks_exact(w).zip(nh.chunks_exact(w)) {
            lanes!(w, |j, len| {
                let s = j..j + len;
                let dv = ld::<V>(&d[s.clone()]);
                st(
                    dv.mul_add(ld::<V>(&n[s.clone()]), ld::<V>(&ag[s.clone()])),
                    &mut ag[s.clone()],
                );
                st(dv + ld::<V>(&ab[s.clone()]), &mut ab[s]);
            });
        }
        // The bias gets the same sum as β.
        let (bb, bias) = rest.split_at_mut(w);
        bias.copy_from_slice(bb);
    }
}

isa_dispatch!(
    /// See `forward_g`.
    pub(crate) fn forward => forward_g(h: usize, p: &GruLnParams<'_>, gates: &mut [f32], rhat: &[f32], h_prev: &[f32], aux: &mut [f32], h_next: &mut [f32])
);
isa_dispatch!(
    /// See `backward_g`.
    pub(crate) fn backward => backward_g(h: usize, p: &GruLnParams<'_>, acts: &[f32], aux: &[f32], h_prev: &[f32], rhat: &[f32], rstd_h: &[f32], dh: &[f32], dh_prev: &mut [f32], dax: &mut [f32], dah: &mut [f32], dr: &mut [f32])
);
isa_dispatch!(
    /// See `param_sums_g`.
    pub(crate) fn param_sums => param_sums_g(h: usize, dax: &[f32], dah: &[f32], xhat: &[f32], rhat: &[f32], acc: &mut [f32])
);
