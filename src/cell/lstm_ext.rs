//! The general LSTM gate pass, for layers with options (peepholes, gate clipping, cell
//! clipping, coupled input and forget gates; the projection is a product around it): it runs
//! after the step's recurrent product, on `[m, 4H]` pre-activations with gate blocks
//! `i, f, g, o`, forward and backward. Backward recomputes the activations from the stored
//! pre-activations with the same code as forward, so the clip masks agree bit for bit.

use super::{lanes, ld, st};
use crate::simd::math::{sigmoid, tanh};
use crate::simd::{isa_dispatch, Vf32};

/// The options of one layer, as the gate pass uses them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opts<'a> {
    /// `[3H]`: `p_i, p_f, p_o`, or empty.
    pub peep: &'a [f32],
    pub clip: Option<f32>,
    pub cell_clip: Option<f32>,
    pub input_forget: bool,
}

/// `clamp(v, -t, t)`, NaN kept.
#[inline(always)]
fn clamp<V: Vf32>(v: V, t: Option<f32>) -> V {
    match t {
        Some(t) => V::select(v.is_nan(), v, v.max(V::splat(-t)).min(V::splat(t))),
        None => v,
    }
}

/// `g` where the clamp to `t` passes `v` through (not `|v| > t`), else 0.
#[inline(always)]
fn pass<V: Vf32>(g: V, v: V, t: Option<f32>) -> V {
    match t {
        Some(t) => V::select(v.abs().gt(V::splat(t)), V::splat(0.0), g),
        None => g,
    }
}

/// The activations of lanes `j..j+len` of one row: `(i, f, g, c_raw, c_new)` from the
/// `i, f, g` pre-activations (peepholes already added) and `c_prev`.
#[inline(always)]
fn ifg<V: Vf32>(o: &Opts<'_>, pi: V, pf: V, pg: V, c_prev: V) -> (V, V, V, V, V) {
    let i = sigmoid(clamp(pi, o.clip));
    let f = if o.input_forget {
        V::splat(1.0) - i
    } else {
        sigmoid(clamp(pf, o.clip))
    };
    let g = tanh(clamp(pg, o.clip));
    let c_raw = f * c_prev + i * g;
    (i, f, g, c_raw, clamp(c_raw, o.cell_clip))
}

/// Forward over `m = pre.len() / 4H` rows. `pre` holds the summed products and biases on
/// entry and, on return, each gate's pre-activation with its peephole term (what backward
/// reads); writes `c_next` and `out = o ⊙ tanh(c')`.
#[inline(always)]
fn forward_g<V: Vf32>(h: usize, o: &Opts<'_>, pre: &mut [f32], c_prev: &[f32], c_next: &mut [f32], out: &mut [f32]) {
    let peep = !o.peep.is_empty();
    for (b, p) in pre.chunks_exact_mut(4 * h).enumerate() {
        let r = b * h;
        lanes!(h, |j, len| {
            let s = r + j..r + j + len;
            let cp = ld::<V>(&c_prev[s.clone()]);
            let (mut pi, mut pf) = (ld::<V>(&p[j..j + len]), ld::<V>(&p[h + j..h + j + len]));
            if peep {
                pi = ld::<V>(&o.peep[j..j + len]).mul_add(cp, pi);
                pf = ld::<V>(&o.peep[h + j..h + j + len]).mul_add(cp, pf);
                st(pi, &mut p[j..j + len]);
                st(pf, &mut p[h + j..h + j + len]);
            }
            let pg = ld::<V>(&p[2 * h + j..2 * h + j + len]);
            let (_, _, _, _, cn) = ifg(o, pi, pf, pg, cp);
            let mut po = ld::<V>(&p[3 * h + j..3 * h + j + len]);
            if peep {
                po = ld::<V>(&o.peep[2 * h + j..2 * h + j + len]).mul_add(cn, po);
                st(po, &mut p[3 * h + j..3 * h + j + len]);
            }
            let og = sigmoid(clamp(po, o.clip));
            st(cn, &mut c_next[s.clone()]);
            st(og * tanh(cn), &mut out[s]);
        });
    }
}

/// Backward over the rows of `pre` (as forward left it): from `dm` (the gradient of
/// `o ⊙ tanh(c')`) and `dc` (`dc_t` on entry, `dc_{t-1}` on return), the pre-activation
/// gradients `dgates` `[m, 4H]`. Peephole gradients are summed by the caller from `dgates`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_g<V: Vf32>(
    h: usize,
    o: &Opts<'_>,
    pre: &[f32],
    c_prev: &[f32],
    c_next: &[f32],
    dm: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let peep = !o.peep.is_empty();
    for (b, (p, dg)) in pre.chunks_exact(4 * h).zip(dgates.chunks_exact_mut(4 * h)).enumerate() {
        let r = b * h;
        lanes!(h, |j, len| {
            let s = r + j..r + j + len;
            let cp = ld::<V>(&c_prev[s.clone()]);
            let (pi, pf, pg, po) = (
                ld::<V>(&p[j..j + len]),
                ld::<V>(&p[h + j..h + j + len]),
                ld::<V>(&p[2 * h + j..2 * h + j + len]),
                ld::<V>(&p[3 * h + j..3 * h + j + len]),
            );
            let (i, f, g, c_raw, _) = ifg(o, pi, pf, pg, cp);
            let cn = ld::<V>(&c_next[s.clone()]);
            let og = sigmoid(clamp(po, o.clip));
            let tc = tanh(cn);
            let dmv = ld::<V>(&dm[s.clone()]);
            let dpo = pass(dmv * tc * og * (one - og), po, o.clip);
            let mut dcn = ld::<V>(&dc[s.clone()]) + dmv * og * (one - tc * tc);
            if peep {
                dcn = ld::<V>(&o.peep[2 * h + j..2 * h + j + len]).mul_add(dpo, dcn);
            }
            let dcr = pass(dcn, c_raw, o.cell_clip);
            let mut di = dcr * g;
            let df = dcr * cp;
            let dpf = if o.input_forget {
                di = di - df;
                zero
            } else {
                pass(df * f * (one - f), pf, o.clip)
            };
            let dpi = pass(di * i * (one - i), pi, o.clip);
            let dpg = pass(dcr * i * (one - g * g), pg, o.clip);
            let mut dcp = dcr * f;
            if peep {
                dcp = ld::<V>(&o.peep[j..j + len]).mul_add(dpi, dcp);
                dcp = ld::<V>(&o.peep[h + j..h + j + len]).mul_add(dpf, dcp);
            }
            st(dcp, &mut dc[s]);
            st(dpi, &mut dg[j..j + len]);
            st(dpf, &mut dg[h + j..h + j + len]);
            st(dpg, &mut dg[2 * h + j..2 * h + j + len]);
            st(dpo, &mut dg[3 * h + j..3 * h + j + len]);
        });
    }
}

isa_dispatch!(
    /// See `forward_g`.
    pub(crate) fn forward => forward_g(h: usize, o: &Opts<'_>, pre: &mut [f32], c_prev: &[f32], c_next: &mut [f32], out: &mut [f32])
);

isa_dispatch!(
    /// See `backward_g`.
    pub(crate) fn backward => backward_g(h: usize, o: &Opts<'_>, pre: &[f32], c_prev: &[f32], c_next: &[f32], dm: &[f32], dc: &mut [f32], dgates: &mut [f32])
);
