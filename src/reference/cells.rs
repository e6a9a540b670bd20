//! One time step of one batch entry, forward and backward, for every cell, straight from
//! the equations. Gate blocks: LSTM `i, f, g, o`; GRU `r, z, n`; RNN one block.

use super::real::{relu, sigmoid, Real};
use super::Params;
use crate::desc::{Activation, Cell, GruVariant};

/// `b[r] + Σ_k W[r, k] v[k]` for the `len` rows starting at `row0` of the `[rows, K]` matrix `w`.
fn affine<R: Real>(w: &[R], b: &[R], v: &[R], row0: usize, len: usize) -> Vec<R> {
    let k = v.len();
    (row0..row0 + len)
        .map(|r| {
            let mut s = b[r];
            for (wk, vk) in w[r * k..(r + 1) * k].iter().zip(v) {
                s += *wk * *vk;
            }
            s
        })
        .collect()
}

/// The transpose of [`affine`]: given `da` for rows `row0..row0+len`, adds to `dw`
/// (`da ⊗ v`), `db` (`da`) and `dv` (`Wᵀ da`).
#[allow(clippy::too_many_arguments)]
fn affine_back<R: Real>(w: &[R], dw: &mut [R], db: &mut [R], v: &[R], dv: &mut [R], da: &[R], row0: usize) {
    let k = v.len();
    for (j, &a) in da.iter().enumerate() {
        let r = row0 + j;
        db[r] += a;
        for kk in 0..k {
            dw[r * k + kk] += a * v[kk];
            dv[kk] += w[r * k + kk] * a;
        }
    }
}

fn one_minus_sq<R: Real>(v: R) -> R {
    R::ONE - v * v
}

fn sig_grad<R: Real>(s: R) -> R {
    s * (R::ONE - s)
}

/// Everything one LSTM step computes for one batch entry (`H` units each).
struct LstmParts<R> {
    /// Pre-activations of `i, f, g, o` as their nonlinearities see them before clipping
    /// (peephole terms included).
    pre: [Vec<R>; 4],
    /// Activations `i, f, g, o` (`f = 1 - i` with `input_forget`).
    act: [Vec<R>; 4],
    /// `f c + i g` before cell clipping.
    c_raw: Vec<R>,
    /// The new cell state.
    c_new: Vec<R>,
    /// `o ⊙ tanh(c')`, what the projection (if any) multiplies.
    m: Vec<R>,
}

/// `clamp(v, -t, t)` when `t` is set.
fn clamp<R: Real>(v: R, t: Option<f32>) -> R {
    match t {
        Some(t) => {
            let t = R::from_f64(t as f64);
            if v > t {
                t
            } else if v < -t {
                -t
            } else {
                v
            }
        }
        None => v,
    }
}

/// 1 where the clamp to `t` passes `v` through (`|v| <= t`), else 0.
fn passes<R: Real>(v: R, t: Option<f32>) -> R {
    match t {
        Some(t) if v > R::from_f64(t as f64) || v < -R::from_f64(t as f64) => R::ZERO,
        _ => R::ONE,
    }
}

/// The LSTM step with its options (peepholes, gate clip, cell clip, `input_forget`; the
/// projection is applied by the caller to `m`).
#[allow(clippy::needless_range_loop)] // `j` indexes the four gate blocks and the states alike
fn lstm_parts<R: Real>(p: &Params<R>, x: &[R], h: &[R], c: &[R]) -> LstmParts<R> {
    let d = &p.desc;
    let hs = d.hidden_size();
    let ax = affine(&p.w_ih, &p.b_ih, x, 0, 4 * hs);
    let ah = affine(&p.w_hh, &p.b_hh, h, 0, 4 * hs);
    let a = |gate: usize, j: usize| ax[gate * hs + j] + ah[gate * hs + j];
    let peep = |k: usize, j: usize, s: R| if d.peepholes() { p.peep[k * hs + j] * s } else { R::ZERO };
    let clip = d.clip();
    let mut q = LstmParts {
        pre: std::array::from_fn(|_| vec![R::ZERO; hs]),
        act: std::array::from_fn(|_| vec![R::ZERO; hs]),
        c_raw: vec![R::ZERO; hs],
        c_new: vec![R::ZERO; hs],
        m: vec![R::ZERO; hs],
    };
    for j in 0..hs {
        let pi = a(0, j) + peep(0, j, c[j]);
        let pf = a(1, j) + peep(1, j, c[j]);
        let pg = a(2, j);
        let i = sigmoid(clamp(pi, clip));
        let f = if d.input_forget() {
            R::ONE - i
        } else {
            sigmoid(clamp(pf, clip))
        };
        let g = clamp(pg, clip).tanh();
        let c_raw = f * c[j] + i * g;
        let c_new = clamp(c_raw, d.cell_clip());
        let po = a(3, j) + peep(2, j, c_new);
        let o = sigmoid(clamp(po, clip));
        for (k, (pv, av)) in [(pi, i), (pf, f), (pg, g), (po, o)].into_iter().enumerate() {
            q.pre[k][j] = pv;
            q.act[k][j] = av;
        }
        q.c_raw[j] = c_raw;
        q.c_new[j] = c_new;
        q.m[j] = o * c_new.tanh();
    }
    q
}

/// LSTM: `c' = f c + i g`, `h' = o tanh(c')` (times `W_hr` with a projection), with the
/// options of [`crate::LayerDesc`].
pub(super) fn lstm_step<R: Real>(p: &Params<R>, x: &[R], h: &[R], c: &[R], h_out: &mut [R], c_out: &mut [R]) {
    if p.desc.layer_norm() {
        let q = ln_lstm_parts(p, x, h, c);
        c_out.copy_from_slice(&q.c_new);
        h_out.copy_from_slice(&q.h_new);
        return;
    }
    let q = lstm_parts(p, x, h, c);
    c_out.copy_from_slice(&q.c_new);
    match p.desc.proj_size() {
        Some(ps) => {
            let zero = vec![R::ZERO; ps];
            h_out.copy_from_slice(&affine(&p.w_hr, &zero, &q.m, 0, ps));
        }
        None => h_out.copy_from_slice(&q.m),
    }
}

/// LSTM backward for one step: adds to the parameter gradients and `dx`, writes `dh_prev` and
/// `dc_prev` (`dh` already includes `dY_t`).
#[allow(clippy::too_many_arguments)]
pub(super) fn lstm_step_back<R: Real>(
    p: &Params<R>,
    x: &[R],
    h: &[R],
    c: &[R],
    dh: &[R],
    dc: &[R],
    grads: &mut Params<R>,
    dx: &mut [R],
    dh_prev: &mut [R],
    dc_prev: &mut [R],
) {
    if p.desc.layer_norm() {
        return ln_lstm_step_back(p, x, h, c, dh, dc, grads, dx, dh_prev, dc_prev);
    }
    let d = &p.desc;
    let hs = d.hidden_size();
    let q = lstm_parts(p, x, h, c);
    let [i, f, g, o] = &q.act;
    let clip = d.clip();
    // d/dm: through the projection when there is one.
    let mut dm = vec![R::ZERO; hs];
    match d.proj_size() {
        Some(ps) => {
            let mut dzero = vec![R::ZERO; ps];
            affine_back(&p.w_hr, &mut grads.w_hr, &mut dzero, &q.m, &mut dm, dh, 0);
        }
        None => dm.copy_from_slice(dh),
    }
    let mut da = vec![R::ZERO; 4 * hs];
    for j in 0..hs {
        let tc = q.c_new[j].tanh();
        let dpo = dm[j] * tc * sig_grad(o[j]) * passes(q.pre[3][j], clip);
        let mut dcn = dc[j] + dm[j] * o[j] * one_minus_sq(tc);
        if d.peepholes() {
            dcn += p.peep[2 * hs + j] * dpo;
            grads.peep[2 * hs + j] += dpo * q.c_new[j];
        }
        let dcr = dcn * passes(q.c_raw[j], d.cell_clip());
        let mut di = dcr * g[j];
        let df = dcr * c[j];
        let dg = dcr * i[j];
        let dpf = if d.input_forget() {
            // f = 1 - i.
            di = di - df;
            R::ZERO
        } else {
            df * sig_grad(f[j]) * passes(q.pre[1][j], clip)
        };
        let dpi = di * sig_grad(i[j]) * passes(q.pre[0][j], clip);
        let dpg = dg * one_minus_sq(g[j]) * passes(q.pre[2][j], clip);
        let mut dcp = dcr * f[j];
        if d.peepholes() {
            dcp += p.peep[j] * dpi + p.peep[hs + j] * dpf;
            grads.peep[j] += dpi * c[j];
            grads.peep[hs + j] += dpf * c[j];
        }
        dc_prev[j] = dcp;
        da[j] = dpi;
        da[hs + j] = dpf;
        da[2 * hs + j] = dpg;
        da[3 * hs + j] = dpo;
    }
    affine_back(&p.w_ih, &mut grads.w_ih, &mut grads.b_ih, x, dx, &da, 0);
    affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, h, dh_prev, &da, 0);
}

/// `(v - mean(v)) / sqrt(var(v) + eps)` and `1 / sqrt(var(v) + eps)` (biased variance).
fn normalize<R: Real>(v: &[R]) -> (Vec<R>, R) {
    let n = R::from_f64(v.len() as f64);
    let mean = v.iter().fold(R::ZERO, |a, &b| a + b) / n;
    let var = v.iter().fold(R::ZERO, |a, &b| a + (b - mean) * (b - mean)) / n;
    let rstd = R::ONE / (var + R::from_f64(crate::desc::LN_EPS as f64)).sqrt();
    (v.iter().map(|&b| (b - mean) * rstd).collect(), rstd)
}

/// The gradient of `normalize` with respect to `v`, from the gradient `dn` of its output `n`.
fn normalize_back<R: Real>(dn: &[R], n: &[R], rstd: R) -> Vec<R> {
    let len = R::from_f64(dn.len() as f64);
    let m1 = dn.iter().fold(R::ZERO, |a, &b| a + b) / len;
    let m2 = dn.iter().zip(n).fold(R::ZERO, |a, (&d, &v)| a + d * v) / len;
    dn.iter().zip(n).map(|(&d, &v)| rstd * (d - m1 - v * m2)).collect()
}

/// What one layer-normalized LSTM step computes for one batch entry.
struct LnParts<R> {
    xhat: Vec<R>,
    rstd_x: R,
    hhat: Vec<R>,
    rstd_h: R,
    /// `i, f, g, o`.
    act: [Vec<R>; 4],
    c_new: Vec<R>,
    chat: Vec<R>,
    rstd_c: R,
    /// `γ_c ĉ + β_c`.
    u: Vec<R>,
    h_new: Vec<R>,
}

/// The layer-normalized LSTM of [`crate::LayerDesc::with_layer_norm`], forward.
fn ln_lstm_parts<R: Real>(p: &Params<R>, x: &[R], h: &[R], c: &[R]) -> LnParts<R> {
    let hs = p.desc.hidden_size();
    let g4 = 4 * hs;
    let zero = vec![R::ZERO; g4];
    let (xhat, rstd_x) = normalize(&affine(&p.w_ih, &zero, x, 0, g4));
    let (hhat, rstd_h) = normalize(&affine(&p.w_hh, &zero, h, 0, g4));
    let ln = &p.ln;
    let a: Vec<R> = (0..g4)
        .map(|k| ln[k] * xhat[k] + ln[g4 + k] + ln[2 * g4 + k] * hhat[k] + ln[3 * g4 + k] + p.b_ih[k] + p.b_hh[k])
        .collect();
    let act: [Vec<R>; 4] = std::array::from_fn(|gate| {
        (0..hs)
            .map(|j| {
                let v = a[gate * hs + j];
                if gate == 2 {
                    v.tanh()
                } else {
                    sigmoid(v)
                }
            })
            .collect()
    });
    let c_new: Vec<R> = (0..hs).map(|j| act[1][j] * c[j] + act[0][j] * act[2][j]).collect();
    let (chat, rstd_c) = normalize(&c_new);
    let u: Vec<R> = (0..hs)
        .map(|j| ln[4 * g4 + j] * chat[j] + ln[4 * g4 + hs + j])
        .collect();
    let h_new = (0..hs).map(|j| act[3][j] * u[j].tanh()).collect();
    LnParts {
        xhat,
        rstd_x,
        hhat,
        rstd_h,
        act,
        c_new,
        chat,
        rstd_c,
        u,
        h_new,
    }
}

/// The layer-normalized LSTM, backward for one step (as [`lstm_step_back`]).
#[allow(clippy::too_many_arguments)]
fn ln_lstm_step_back<R: Real>(
    p: &Params<R>,
    x: &[R],
    h: &[R],
    c: &[R],
    dh: &[R],
    dc: &[R],
    grads: &mut Params<R>,
    dx: &mut [R],
    dh_prev: &mut [R],
    dc_prev: &mut [R],
) {
    let hs = p.desc.hidden_size();
    let g4 = 4 * hs;
    let q = ln_lstm_parts(p, x, h, c);
    let [i, f, g, o] = &q.act;
    let ln = &p.ln;
    let gl = &mut grads.ln;
    // Through h' = o ⊙ tanh(γ_c ĉ + β_c).
    let mut da = vec![R::ZERO; g4];
    let mut dchat = vec![R::ZERO; hs];
    for j in 0..hs {
        let tu = q.u[j].tanh();
        da[3 * hs + j] = dh[j] * tu * sig_grad(o[j]);
        let du = dh[j] * o[j] * one_minus_sq(tu);
        gl[4 * g4 + j] += du * q.chat[j];
        gl[4 * g4 + hs + j] += du;
        dchat[j] = du * ln[4 * g4 + j];
    }
    let dcn = normalize_back(&dchat, &q.chat, q.rstd_c);
    for j in 0..hs {
        let dct = dc[j] + dcn[j];
        da[j] = dct * g[j] * sig_grad(i[j]);
        da[hs + j] = dct * c[j] * sig_grad(f[j]);
        da[2 * hs + j] = dct * i[j] * one_minus_sq(g[j]);
        dc_prev[j] = dct * f[j];
    }
    // Through a = γ_x x̂ + β_x + γ_h ĥ + β_h + b_ih + b_hh.
    let (mut dxh, mut dhh) = (vec![R::ZERO; g4], vec![R::ZERO; g4]);
    for k in 0..g4 {
        grads.b_ih[k] += da[k];
        grads.b_hh[k] += da[k];
        gl[k] += da[k] * q.xhat[k];
        gl[g4 + k] += da[k];
        gl[2 * g4 + k] += da[k] * q.hhat[k];
        gl[3 * g4 + k] += da[k];
        dxh[k] = da[k] * ln[k];
        dhh[k] = da[k] * ln[2 * g4 + k];
    }
    let dpx = normalize_back(&dxh, &q.xhat, q.rstd_x);
    let dph = normalize_back(&dhh, &q.hhat, q.rstd_h);
    let mut scratch = vec![R::ZERO; g4];
    affine_back(&p.w_ih, &mut grads.w_ih, &mut scratch, x, dx, &dpx, 0);
    affine_back(&p.w_hh, &mut grads.w_hh, &mut scratch, h, dh_prev, &dph, 0);
}

/// What one layer-normalized GRU step computes for one batch entry.
struct LnGruParts<R> {
    xhat: Vec<R>,
    rstd_x: R,
    hhat: Vec<R>,
    rstd_h: R,
    /// `γ_h ĥ + β_h + b_hh`, `[3H]`.
    ah: Vec<R>,
    r: Vec<R>,
    z: Vec<R>,
    n: Vec<R>,
}

/// The layer-normalized (linear-before-reset) GRU of [`crate::LayerDesc::with_layer_norm`];
/// `hm` is what the recurrent product multiplies.
fn ln_gru_parts<R: Real>(p: &Params<R>, x: &[R], hm: &[R]) -> LnGruParts<R> {
    let hs = p.desc.hidden_size();
    let g3 = 3 * hs;
    let zero = vec![R::ZERO; g3];
    let (xhat, rstd_x) = normalize(&affine(&p.w_ih, &zero, x, 0, g3));
    let (hhat, rstd_h) = normalize(&affine(&p.w_hh, &zero, hm, 0, g3));
    let ln = &p.ln;
    let ax: Vec<R> = (0..g3).map(|k| ln[k] * xhat[k] + ln[g3 + k] + p.b_ih[k]).collect();
    let ah: Vec<R> = (0..g3)
        .map(|k| ln[2 * g3 + k] * hhat[k] + ln[3 * g3 + k] + p.b_hh[k])
        .collect();
    let r: Vec<R> = (0..hs).map(|j| sigmoid(ax[j] + ah[j])).collect();
    let z: Vec<R> = (0..hs).map(|j| sigmoid(ax[hs + j] + ah[hs + j])).collect();
    let n = (0..hs)
        .map(|j| (ax[2 * hs + j] + r[j] * ah[2 * hs + j]).tanh())
        .collect();
    LnGruParts {
        xhat,
        rstd_x,
        hhat,
        rstd_h,
        ah,
        r,
        z,
        n,
    }
}

/// The layer-normalized GRU, backward for one step (as [`step_back`]).
#[allow(clippy::too_many_arguments)]
fn ln_gru_step_back<R: Real>(
    p: &Params<R>,
    x: &[R],
    h: &[R],
    hm: &[R],
    dh: &[R],
    grads: &mut Params<R>,
    dx: &mut [R],
    dh_prev: &mut [R],
    dhm: &mut [R],
) {
    let hs = p.desc.hidden_size();
    let g3 = 3 * hs;
    let q = ln_gru_parts(p, x, hm);
    let (mut dax, mut dah) = (vec![R::ZERO; g3], vec![R::ZERO; g3]);
    for j in 0..hs {
        let dan = dh[j] * (R::ONE - q.z[j]) * one_minus_sq(q.n[j]);
        let dar = dan * q.ah[2 * hs + j] * sig_grad(q.r[j]);
        let daz = dh[j] * (h[j] - q.n[j]) * sig_grad(q.z[j]);
        dh_prev[j] += dh[j] * q.z[j];
        dax[j] = dar;
        dax[hs + j] = daz;
        dax[2 * hs + j] = dan;
        dah[j] = dar;
        dah[hs + j] = daz;
        dah[2 * hs + j] = dan * q.r[j];
    }
    let ln = &p.ln;
    let gl = &mut grads.ln;
    let (mut dxh, mut dhh) = (vec![R::ZERO; g3], vec![R::ZERO; g3]);
    for k in 0..g3 {
        grads.b_ih[k] += dax[k];
        grads.b_hh[k] += dah[k];
        gl[k] += dax[k] * q.xhat[k];
        gl[g3 + k] += dax[k];
        gl[2 * g3 + k] += dah[k] * q.hhat[k];
        gl[3 * g3 + k] += dah[k];
        dxh[k] = dax[k] * ln[k];
        dhh[k] = dah[k] * ln[2 * g3 + k];
    }
    let dpx = normalize_back(&dxh, &q.xhat, q.rstd_x);
    let dph = normalize_back(&dhh, &q.hhat, q.rstd_h);
    let mut scratch = vec![R::ZERO; g3];
    affine_back(&p.w_ih, &mut grads.w_ih, &mut scratch, x, dx, &dpx, 0);
    affine_back(&p.w_hh, &mut grads.w_hh, &mut scratch, hm, dhm, &dph, 0);
}

/// GRU quantities of one step: `(r, z, n, hn)` where `hn` is the recurrent part of the
/// candidate's pre-activation (`W_hn h + b_hn`, or `W_hn (r h) + b_hn` for the classic GRU).
/// `h` here is what the recurrent products multiply (`h ⊙ mask` under recurrent dropout).
fn gru_parts<R: Real>(p: &Params<R>, v: GruVariant, x: &[R], h: &[R]) -> (Vec<R>, Vec<R>, Vec<R>, Vec<R>) {
    let hs = h.len();
    let ax = affine(&p.w_ih, &p.b_ih, x, 0, 3 * hs);
    let ah = affine(&p.w_hh, &p.b_hh, h, 0, 2 * hs);
    let r: Vec<R> = (0..hs).map(|j| sigmoid(ax[j] + ah[j])).collect();
    let z: Vec<R> = (0..hs).map(|j| sigmoid(ax[hs + j] + ah[hs + j])).collect();
    let (hn, n) = match v {
        GruVariant::LinearBeforeReset => {
            let hn = affine(&p.w_hh, &p.b_hh, h, 2 * hs, hs);
            let n = (0..hs).map(|j| (ax[2 * hs + j] + r[j] * hn[j]).tanh()).collect();
            (hn, n)
        }
        GruVariant::ResetBeforeLinear => {
            let rh: Vec<R> = (0..hs).map(|j| r[j] * h[j]).collect();
            let hn = affine(&p.w_hh, &p.b_hh, &rh, 2 * hs, hs);
            let n = (0..hs).map(|j| (ax[2 * hs + j] + hn[j]).tanh()).collect();
            (hn, n)
        }
    };
    (r, z, n, hn)
}

/// GRU or simple RNN forward for one step.
/// `hm` is `h` as the recurrent products see it (`h ⊙ mask` under recurrent dropout).
pub(super) fn step<R: Real>(p: &Params<R>, x: &[R], h: &[R], hm: &[R], h_out: &mut [R]) {
    let hs = h.len();
    match p.desc.cell() {
        Cell::Rnn(act) => {
            let ax = affine(&p.w_ih, &p.b_ih, x, 0, hs);
            let ah = affine(&p.w_hh, &p.b_hh, hm, 0, hs);
            for j in 0..hs {
                let a = ax[j] + ah[j];
                h_out[j] = match act {
                    Activation::Tanh => a.tanh(),
                    Activation::Relu => relu(a),
                };
            }
        }
        Cell::Gru(_) if p.desc.layer_norm() => {
            let q = ln_gru_parts(p, x, hm);
            for j in 0..hs {
                h_out[j] = (R::ONE - q.z[j]) * q.n[j] + q.z[j] * h[j];
            }
        }
        Cell::Gru(v) => {
            let (_, z, n, _) = gru_parts(p, v, x, hm);
            for j in 0..hs {
                h_out[j] = (R::ONE - z[j]) * n[j] + z[j] * h[j];
            }
        }
        Cell::Lstm => unreachable!("LSTM steps go through lstm_step"),
    }
}

/// GRU or simple RNN backward for one step (`dh` already includes `dY_t`).
#[allow(clippy::too_many_arguments)]
pub(super) fn step_back<R: Real>(
    p: &Params<R>,
    x: &[R],
    h: &[R],
    hm: &[R],
    dh: &[R],
    grads: &mut Params<R>,
    dx: &mut [R],
    dh_prev: &mut [R],
    dhm: &mut [R],
) {
    let hs = h.len();
    match p.desc.cell() {
        Cell::Rnn(act) => {
            let ax = affine(&p.w_ih, &p.b_ih, x, 0, hs);
            let ah = affine(&p.w_hh, &p.b_hh, hm, 0, hs);
            let da: Vec<R> = (0..hs)
                .map(|j| {
                    let a = ax[j] + ah[j];
                    match act {
                        Activation::Tanh => dh[j] * one_minus_sq(a.tanh()),
                        Activation::Relu if a > R::ZERO => dh[j],
                        Activation::Relu => R::ZERO,
                    }
                })
                .collect();
            affine_back(&p.w_ih, &mut grads.w_ih, &mut grads.b_ih, x, dx, &da, 0);
            affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, hm, dhm, &da, 0);
        }
        Cell::Gru(_) if p.desc.layer_norm() => ln_gru_step_back(p, x, h, hm, dh, grads, dx, dh_prev, dhm),
        Cell::Gru(v) => {
            let (r, z, n, hn) = gru_parts(p, v, x, hm);
            // d/d(pre-activation of n), shared by the input side and (classic) the recurrent side.
            let dan: Vec<R> = (0..hs).map(|j| dh[j] * (R::ONE - z[j]) * one_minus_sq(n[j])).collect();
            let daz: Vec<R> = (0..hs).map(|j| dh[j] * (h[j] - n[j]) * sig_grad(z[j])).collect();
            for j in 0..hs {
                dh_prev[j] += dh[j] * z[j];
            }
            // dr = (∂ pre_n / ∂ r) · dan; the recurrent n-block gradient and its input differ by variant.
            let mut dar = vec![R::ZERO; hs];
            match v {
                GruVariant::LinearBeforeReset => {
                    let dahn: Vec<R> = (0..hs).map(|j| dan[j] * r[j]).collect();
                    for j in 0..hs {
                        dar[j] = dan[j] * hn[j] * sig_grad(r[j]);
                    }
                    affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, hm, dhm, &dahn, 2 * hs);
                }
                GruVariant::ResetBeforeLinear => {
                    let rh: Vec<R> = (0..hs).map(|j| r[j] * hm[j]).collect();
                    let mut drh = vec![R::ZERO; hs];
                    affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, &rh, &mut drh, &dan, 2 * hs);
                    for j in 0..hs {
                        dar[j] = drh[j] * hm[j] * sig_grad(r[j]);
                        dhm[j] += drh[j] * r[j];
                    }
                }
            }
            let mut darz = dar;
            darz.extend_from_slice(&daz);
            affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, hm, dhm, &darz, 0);
            darz.extend_from_slice(&dan);
            affine_back(&p.w_ih, &mut grads.w_ih, &mut grads.b_ih, x, dx, &darz, 0);
        }
        Cell::Lstm => unreachable!("LSTM steps go through lstm_step_back"),
    }
}
