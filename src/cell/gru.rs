//! GRU step, gates `r, z, n`; `h' = (1 - z) n + z h` in both reset placements.
//!
//! The input projection in `gates` carries `b_ih` plus the recurrent biases that can be folded
//! (`b_hr`, `b_hz`, and `b_hn` for the reset-before-linear variant).

use super::lanes;
use super::{ld, st};
use crate::simd::{isa_dispatch, Vf32};

/// Linear-before-reset backward. Writes the input-side gradients `dgates` `[N, 3H]`
/// (`dr, dz, dn` w.r.t. pre-activations), the recurrent-side `dgh` (same but `dn ⊙ r` for the
/// `n` block), and `dh_direct = dh ⊙ z` into `dh_prev` (the driver adds `dgh W_hh`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_lbr_g<V: Vf32>(
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
    let one = V::splat(1.0);
    for (b, ((g, dg), dq)) in acts
        .chunks_exact(3 * h)
        .zip(dgates.chunks_exact_mut(3 * h))
        .zip(dgh.chunks_exact_mut(3 * h))
        .enumerate()
    {
        let r0 = b * h;
        lanes!(h, |j, len| {
            let (s, rz, zz, nn) = (
                r0 + j..r0 + j + len,
                j..j + len,
                h + j..h + j + len,
                2 * h + j..2 * h + j + len,
            );
            let (r, z, n) = (
                ld::<V>(&g[rz.clone()]),
                ld::<V>(&g[zz.clone()]),
                ld::<V>(&g[nn.clone()]),
            );
            let dh = ld::<V>(&dy[s.clone()]) + ld::<V>(&dh_rec[s.clone()]);
            let hp = ld::<V>(&h_prev[s.clone()]);
            let dan = dh * (one - z) * (one - n * n);
            let daz = dh * (hp - n) * z * (one - z);
            let dar = dan * ld::<V>(&hn[s.clone()]) * r * (one - r);
            st(dar, &mut dg[rz.clone()]);
            st(daz, &mut dg[zz.clone()]);
            st(dan, &mut dg[nn.clone()]);
            st(dar, &mut dq[rz]);
            st(daz, &mut dq[zz]);
            st(dan * r, &mut dq[nn]);
            st(dh * z, &mut dh_prev[s]);
        });
    }
}

/// Reset-before-linear backward, part 1: writes `dz, dn` into `dgates` and `dh ⊙ z` into
/// `dh_prev`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_zn_g<V: Vf32>(
    h: usize,
    acts: &[f32],
    h_prev: &[f32],
    dy: &[f32],
    dh_rec: &[f32],
    dgates: &mut [f32],
    dh_prev: &mut [f32],
) {
    let one = V::splat(1.0);
    for (b, (g, dg)) in acts.chunks_exact(3 * h).zip(dgates.chunks_exact_mut(3 * h)).enumerate() {
        let r0 = b * h;
        lanes!(h, |j, len| {
            let (s, zz, nn) = (r0 + j..r0 + j + len, h + j..h + j + len, 2 * h + j..2 * h + j + len);
            let (z, n) = (ld::<V>(&g[zz.clone()]), ld::<V>(&g[nn.clone()]));
            let dh = ld::<V>(&dy[s.clone()]) + ld::<V>(&dh_rec[s.clone()]);
            let hp = ld::<V>(&h_prev[s.clone()]);
            st(dh * (hp - n) * z * (one - z), &mut dg[zz]);
            st(dh * (one - z) * (one - n * n), &mut dg[nn]);
            st(dh * z, &mut dh_prev[s]);
        });
    }
}

/// Reset-before-linear backward, part 2: given `drh = dn W_hn` (`[N, H]`), writes `dr` into
/// `dgates` and adds `drh ⊙ r` to `dh_prev`.
#[inline(always)]
fn backward_r_g<V: Vf32>(h: usize, acts: &[f32], h_prev: &[f32], drh: &[f32], dgates: &mut [f32], dh_prev: &mut [f32]) {
    let one = V::splat(1.0);
    for (b, (g, dg)) in acts.chunks_exact(3 * h).zip(dgates.chunks_exact_mut(3 * h)).enumerate() {
        let r0 = b * h;
        lanes!(h, |j, len| {
            let s = r0 + j..r0 + j + len;
            let r = ld::<V>(&g[j..j + len]);
            let d = ld::<V>(&drh[s.clone()]);
            st(d * ld::<V>(&h_prev[s.clone()]) * r * (one - r), &mut dg[j..j + len]);
            st(d.mul_add(r, ld::<V>(&dh_prev[s.clone()])), &mut dh_prev[s]);
        });
    }
}

isa_dispatch!(
    /// See `backward_lbr_g`.
    pub(crate) fn backward_lbr => backward_lbr_g(h: usize, acts: &[f32], hn: &[f32], h_prev: &[f32], dy: &[f32], dh_rec: &[f32], dgates: &mut [f32], dgh: &mut [f32], dh_prev: &mut [f32])
);

isa_dispatch!(
    /// See `backward_zn_g`.
    pub(crate) fn backward_zn => backward_zn_g(h: usize, acts: &[f32], h_prev: &[f32], dy: &[f32], dh_rec: &[f32], dgates: &mut [f32], dh_prev: &mut [f32])
);

isa_dispatch!(
    /// See `backward_r_g`.
    pub(crate) fn backward_r => backward_r_g(h: usize, acts: &[f32], h_prev: &[f32], drh: &[f32], dgates: &mut [f32], dh_prev: &mut [f32])
);
