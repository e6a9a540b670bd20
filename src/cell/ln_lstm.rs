//! The layer-normalized LSTM's row passes (see [`crate::LayerDesc::with_layer_norm`]):
//! normalizing rows, the gate pass after the recurrent product, and their backward. Every
//! reduction runs over one row in a fixed order (8 lane sums, then the lanes in order), so
//! results do not depend on the batch or the thread count.

use super::{lanes, ld, st};
use crate::desc::LN_EPS;
use crate::simd::math::{sigmoid, tanh};
use crate::simd::{isa_dispatch, Vf32};

/// The gains and biases one step uses (slices of [`crate::Weights::layer_norm`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LnParams<'a> {
    /// `[4H]` each.
    pub gamma_h: &'a [f32],
    pub beta_h: &'a [f32],
    /// `[H]` each.
    pub gamma_c: &'a [f32],
    pub beta_c: &'a [f32],
}

/// The sum of `s`'s elements: 8 lane sums, then the lanes in order.
#[inline(always)]
fn row_sum<V: Vf32>(s: &[f32]) -> f32 {
    let mut acc = V::splat(0.0);
    lanes!(s.len(), |j, len| acc = acc + ld::<V>(&s[j..j + len]));
    let mut a = [0.0f32; 8];
    acc.store(&mut a);
    a.iter().sum()
}

/// `Σ a ⊙ b`, in the order of [`row_sum`].
#[inline(always)]
fn row_dot<V: Vf32>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = V::splat(0.0);
    lanes!(a.len(), |j, len| {
        acc = ld::<V>(&a[j..j + len]).mul_add(ld::<V>(&b[j..j + len]), acc)
    });
    let mut s = [0.0f32; 8];
    acc.store(&mut s);
    s.iter().sum()
}

/// `v ← (v - mean) / sqrt(var + eps)` over one row; returns `1 / sqrt(var + eps)`.
#[inline(always)]
fn normalize_row<V: Vf32>(v: &mut [f32]) -> f32 {
    let w = v.len() as f32;
    let mean = V::splat(row_sum::<V>(v) / w);
    lanes!(v.len(), |j, len| st(ld::<V>(&v[j..j + len]) - mean, &mut v[j..j + len]));
    let var = row_dot::<V>(v, v) / w;
    let rstd = 1.0 / (var + LN_EPS).sqrt();
    let r = V::splat(rstd);
    lanes!(v.len(), |j, len| st(ld::<V>(&v[j..j + len]) * r, &mut v[j..j + len]));
    rstd
}

/// `dn ← rstd ⊙ (dn - mean(dn) - n ⊙ mean(dn ⊙ n))` over one row: the gradient of the
/// normalization's input from that of its output `n`.
#[inline(always)]
pub(crate) fn normalize_back_row<V: Vf32>(dn: &mut [f32], n: &[f32], rstd: f32) {
    let w = dn.len() as f32;
    let m1 = V::splat(row_sum::<V>(dn) / w);
    let m2 = V::splat(row_dot::<V>(dn, n) / w);
    let r = V::splat(rstd);
    lanes!(dn.len(), |j, len| {
        let d = ld::<V>(&dn[j..j + len]) - m1 - ld::<V>(&n[j..j + len]) * m2;
        st(d * r, &mut dn[j..j + len]);
    });
}

/// Normalizes every `w`-wide row of `v` in place; `rstd[r]` receives row `r`'s
/// `1 / sqrt(var + eps)`.
#[inline(always)]
fn normalize_rows_g<V: Vf32>(w: usize, v: &mut [f32], rstd: &mut [f32]) {
    for (row, r) in v.chunks_exact_mut(w).zip(rstd.iter_mut()) {
        *r = normalize_row::<V>(row);
    }
}

/// `v ← gamma ⊙ v + beta + bias` on every `w`-wide row.
#[inline(always)]
fn affine_rows_g<V: Vf32>(w: usize, v: &mut [f32], gamma: &[f32], beta: &[f32], bias: &[f32]) {
    for row in v.chunks_exact_mut(w) {
        lanes!(w, |j, len| {
            let s = j..j + len;
            let b = ld::<V>(&beta[s.clone()]) + ld::<V>(&bias[s.clone()]);
            st(
                ld::<V>(&gamma[s.clone()]).mul_add(ld::<V>(&row[s.clone()]), b),
                &mut row[s],
            );
        });
    }
}

/// Forward gate pass over the `m` rows of `gates` (`[m, 4H]`: the input side
/// `γ_x x̂ + β_x + b` on entry, the activations `i, f, g, o` on return), with `rhat` the
/// normalized recurrent product: writes `c_next`, `chat = LN(c')` without gain and bias,
/// `rstd_c`, and `h_next = o ⊙ tanh(γ_c ĉ + β_c)`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_g<V: Vf32>(
    h: usize,
    p: &LnParams<'_>,
    gates: &mut [f32],
    rhat: &[f32],
    c_prev: &[f32],
    c_next: &mut [f32],
    chat: &mut [f32],
    rstd_c: &mut [f32],
    h_next: &mut [f32],
) {
    for (b, (g, r)) in gates.chunks_exact_mut(4 * h).zip(rhat.chunks_exact(4 * h)).enumerate() {
        let rows = b * h..(b + 1) * h;
        let (cp, cn) = (&c_prev[rows.clone()], &mut c_next[rows.clone()]);
        lanes!(h, |j, len| {
            // Gate k's pre-activation γ_h ⊙ r̂ + (input side) + β_h (a macro, not a closure:
            // see `lanes!`).
            macro_rules! a {
                ($k:expr) => {{
                    let s = $k * h + j..$k * h + j + len;
                    ld::<V>(&p.gamma_h[s.clone()]).mul_add(ld::<V>(&r[s.clone()]), ld::<V>(&g[s.clone()]))
                        + ld::<V>(&p.beta_h[s])
                }};
            }
            let (i, f, gg, o) = (sigmoid(a!(0)), sigmoid(a!(1)), tanh(a!(2)), sigmoid(a!(3)));
            let c = f.mul_add(ld::<V>(&cp[j..j + len]), i * gg);
            st(c, &mut cn[j..j + len]);
            for (k, v) in [i, f, gg, o].into_iter().enumerate() {
                st(v, &mut g[k * h + j..k * h + j + len]);
            }
        });
        let ch = &mut chat[rows.clone()];
        ch.copy_from_slice(cn);
        rstd_c[b] = normalize_row::<V>(ch);
        let hn = &mut h_next[rows];
        lanes!(h, |j, len| {
            let s = j..j + len;
            let u = ld::<V>(&p.gamma_c[s.clone()]).mul_add(ld::<V>(&ch[s.clone()]), ld::<V>(&p.beta_c[s.clone()]));
            st(ld::<V>(&g[3 * h + j..3 * h + j + len]) * tanh(u), &mut hn[s]);
        });
    }
}

/// Backward over the `m` rows of one step. Reads the activations `acts`, `c_prev`, `chat`,
/// `rstd_c`, `rhat`, `rstd_h` and `dh` (`dY + dh_rec`); `dc` holds `dc_t` on entry and
/// `dc_{t-1}` on return. Writes `da` (the gradient of the gates' pre-activations, `[m, 4H]`),
/// `dr` (that of the raw recurrent product `W_hh h`, `[m, 4H]`) and `du` (that of
/// `u = γ_c ĉ + β_c`, `[m, H]`, for the parameter sums after the loop). Rows are independent.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_g<V: Vf32>(
    h: usize,
    p: &LnParams<'_>,
    acts: &[f32],
    c_prev: &[f32],
    chat: &[f32],
    rstd_c: &[f32],
    rhat: &[f32],
    rstd_h: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    da: &mut [f32],
    dr: &mut [f32],
    du: &mut [f32],
) {
    let one = V::splat(1.0);
    for (b, (g, d)) in acts.chunks_exact(4 * h).zip(da.chunks_exact_mut(4 * h)).enumerate() {
        let rows = b * h..(b + 1) * h;
        let (ch, dhr, dur) = (&chat[rows.clone()], &dh[rows.clone()], &mut du[rows.clone()]);
        let drr = &mut dr[b * 4 * h..][..4 * h];
        // Through h' = o ⊙ tanh(u), u = γ_c ĉ + β_c; `drr[..H]` holds dĉ for a moment.
        let tmp = &mut drr[..h];
        lanes!(h, |j, len| {
            let s = j..j + len;
            let o = ld::<V>(&g[3 * h + j..3 * h + j + len]);
            let c_hat = ld::<V>(&ch[s.clone()]);
            let tu = tanh(ld::<V>(&p.gamma_c[s.clone()]).mul_add(c_hat, ld::<V>(&p.beta_c[s.clone()])));
            let dhv = ld::<V>(&dhr[s.clone()]);
            st(dhv * tu * o * (one - o), &mut d[3 * h + j..3 * h + j + len]);
            let duv = dhv * o * (one - tu * tu);
            st(duv, &mut dur[s.clone()]);
            st(duv * ld::<V>(&p.gamma_c[s.clone()]), &mut tmp[s]);
        });
        normalize_back_row::<V>(tmp, ch, rstd_c[b]);
        let (cp, dcr) = (&c_prev[rows.clone()], &mut dc[rows]);
        lanes!(h, |j, len| {
            let s = j..j + len;
            let (i, f, gg) = (
                ld::<V>(&g[j..j + len]),
                ld::<V>(&g[h + j..h + j + len]),
                ld::<V>(&g[2 * h + j..2 * h + j + len]),
            );
            let dct = ld::<V>(&dcr[s.clone()]) + ld::<V>(&tmp[s.clone()]);
            st(dct * gg * i * (one - i), &mut d[j..j + len]);
            st(
                dct * ld::<V>(&cp[s.clone()]) * f * (one - f),
                &mut d[h + j..h + j + len],
            );
            st(dct * i * (one - gg * gg), &mut d[2 * h + j..2 * h + j + len]);
            st(dct * f, &mut dcr[s]);
        });
        // Through a = ... + γ_h ĥ + β_h: the recurrent product's gradient.
        let rh = &rhat[b * 4 * h..][..4 * h];
        lanes!(4 * h, |j, len| {
            let s = j..j + len;
            st(ld::<V>(&d[s.clone()]) * ld::<V>(&p.gamma_h[s.clone()]), &mut drr[s]);
        });
        normalize_back_row::<V>(drr, rh, rstd_h[b]);
    }
}

/// The parameter gradients, summed over all `rows` in row order (so independent of threads):
/// into `acc` (`[22H]`: `γ_h, β_h` `[4H]`, `γ_c, β_c` `[H]`, `γ_x, β_x, b` `[4H]`), from the
/// gates' gradients `da`, the normalized products `rhat`, `xhat`, and `du`, `chat`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn param_sums_g<V: Vf32>(h: usize, da: &[f32], rhat: &[f32], xhat: &[f32], du: &[f32], chat: &[f32], acc: &mut [f32]) {
    acc.fill(0.0);
    let w = 4 * h;
    let (acc_gh, rest) = acc.split_at_mut(w);
    let (acc_bh, rest) = rest.split_at_mut(w);
    let (acc_gc, rest) = rest.split_at_mut(h);
    let (acc_bc, rest) = rest.split_at_mut(h);
    let (acc_gx, rest) = rest.split_at_mut(w);
    for (((d, rh), xh), (u, ch)) in da
        .chunks_exact(w)
        .zip(rhat.chunks_exact(w))
        .zip(xhat.chunks_exact(w))
        .zip(du.chunks_exact(h).zip(chat.chunks_exact(h)))
    {
        lanes!(w, |j, len| {
            let s = j..j + len;
            let dv = ld::<V>(&d[s.clone()]);
            st(
                dv.mul_add(ld::<V>(&rh[s.clone()]), ld::<V>(&acc_gh[s.clone()])),
                &mut acc_gh[s.clone()],
            );
            st(
                dv.mul_add(ld::<V>(&xh[s.clone()]), ld::<V>(&acc_gx[s.clone()])),
                &mut acc_gx[s.clone()],
            );
            st(dv + ld::<V>(&acc_bh[s.clone()]), &mut acc_bh[s]);
        });
        lanes!(h, |j, len| {
            let s = j..j + len;
            let uv = ld::<V>(&u[s.clone()]);
            st(
                uv.mul_add(ld::<V>(&ch[s.clone()]), ld::<V>(&acc_gc[s.clone()])),
                &mut acc_gc[s.clone()],
            );
            st(uv + ld::<V>(&acc_bc[s.clone()]), &mut acc_bc[s]);
        });
    }
    // β_x and the bias get the same sum as β_h: all three are added to `a` as they are.
    let (bx, b) = rest.split_at_mut(w);
    bx.copy_from_slice(acc_bh);
    b.copy_from_slice(acc_bh);
}

/// The input side after the loop, per `w`-wide row: `da` becomes the gradient of the raw
/// input product `W_ih x` (through `γ_x` and the normalization).
#[inline(always)]
fn input_back_g<V: Vf32>(w: usize, xhat: &[f32], rstd_x: &[f32], gamma_x: &[f32], da: &mut [f32]) {
    for ((d, xh), &r) in da.chunks_exact_mut(w).zip(xhat.chunks_exact(w)).zip(rstd_x) {
        lanes!(w, |j, len| {
            let s = j..j + len;
            st(ld::<V>(&d[s.clone()]) * ld::<V>(&gamma_x[s.clone()]), &mut d[s]);
        });
        normalize_back_row::<V>(d, xh, r);
    }
}

isa_dispatch!(
    /// See `normalize_rows_g`.
    pub(crate) fn normalize_rows => normalize_rows_g(w: usize, v: &mut [f32], rstd: &mut [f32])
);
isa_dispatch!(
    /// See `affine_rows_g`.
    pub(crate) fn affine_rows => affine_rows_g(w: usize, v: &mut [f32], gamma: &[f32], beta: &[f32], bias: &[f32])
);
isa_dispatch!(
    /// See `forward_g`.
    pub(crate) fn forward => forward_g(h: usize, p: &LnParams<'_>, gates: &mut [f32], rhat: &[f32], c_prev: &[f32], c_next: &mut [f32], chat: &mut [f32], rstd_c: &mut [f32], h_next: &mut [f32])
);
isa_dispatch!(
    /// See `backward_g`.
    pub(crate) fn backward => backward_g(h: usize, p: &LnParams<'_>, acts: &[f32], c_prev: &[f32], chat: &[f32], rstd_c: &[f32], rhat: &[f32], rstd_h: &[f32], dh: &[f32], dc: &mut [f32], da: &mut [f32], dr: &mut [f32], du: &mut [f32])
);
isa_dispatch!(
    /// See `param_sums_g`.
    pub(crate) fn param_sums => param_sums_g(h: usize, da: &[f32], rhat: &[f32], xhat: &[f32], du: &[f32], chat: &[f32], acc: &mut [f32])
);
isa_dispatch!(
    /// See `input_back_g`.
    pub(crate) fn input_back => input_back_g(w: usize, xhat: &[f32], rstd_x: &[f32], gamma_x: &[f32], da: &mut [f32])
);
