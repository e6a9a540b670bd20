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

/// LSTM gate activations `(i, f, g, o)` for input `x` and previous `h`.
fn lstm_gates<R: Real>(p: &Params<R>, x: &[R], h: &[R]) -> [Vec<R>; 4] {
    let hs = h.len();
    let ax = affine(&p.w_ih, &p.b_ih, x, 0, 4 * hs);
    let ah = affine(&p.w_hh, &p.b_hh, h, 0, 4 * hs);
    let a = |gate: usize, j: usize| ax[gate * hs + j] + ah[gate * hs + j];
    [
        (0..hs).map(|j| sigmoid(a(0, j))).collect(),
        (0..hs).map(|j| sigmoid(a(1, j))).collect(),
        (0..hs).map(|j| a(2, j).tanh()).collect(),
        (0..hs).map(|j| sigmoid(a(3, j))).collect(),
    ]
}

/// LSTM: `c' = f c + i g`, `h' = o tanh(c')`.
pub(super) fn lstm_step<R: Real>(p: &Params<R>, x: &[R], h: &[R], c: &[R], h_out: &mut [R], c_out: &mut [R]) {
    let [i, f, g, o] = lstm_gates(p, x, h);
    for j in 0..h.len() {
        c_out[j] = f[j] * c[j] + i[j] * g[j];
        h_out[j] = o[j] * c_out[j].tanh();
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
    let hs = h.len();
    let [i, f, g, o] = lstm_gates(p, x, h);
    let mut da = vec![R::ZERO; 4 * hs];
    for j in 0..hs {
        let c_new = f[j] * c[j] + i[j] * g[j];
        let tc = c_new.tanh();
        let d_o = dh[j] * tc;
        let dcc = dc[j] + dh[j] * o[j] * one_minus_sq(tc);
        da[j] = dcc * g[j] * sig_grad(i[j]);
        da[hs + j] = dcc * c[j] * sig_grad(f[j]);
        da[2 * hs + j] = dcc * i[j] * one_minus_sq(g[j]);
        da[3 * hs + j] = d_o * sig_grad(o[j]);
        dc_prev[j] = dcc * f[j];
    }
    affine_back(&p.w_ih, &mut grads.w_ih, &mut grads.b_ih, x, dx, &da, 0);
    affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, h, dh_prev, &da, 0);
}

/// GRU quantities of one step: `(r, z, n, hn)` where `hn` is the recurrent part of the
/// candidate's pre-activation (`W_hn h + b_hn`, or `W_hn (r h) + b_hn` for the classic GRU).
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
pub(super) fn step<R: Real>(p: &Params<R>, x: &[R], h: &[R], h_out: &mut [R]) {
    let hs = h.len();
    match p.desc.cell() {
        Cell::Rnn(act) => {
            let ax = affine(&p.w_ih, &p.b_ih, x, 0, hs);
            let ah = affine(&p.w_hh, &p.b_hh, h, 0, hs);
            for j in 0..hs {
                let a = ax[j] + ah[j];
                h_out[j] = match act {
                    Activation::Tanh => a.tanh(),
                    Activation::Relu => relu(a),
                };
            }
        }
        Cell::Gru(v) => {
            let (_, z, n, _) = gru_parts(p, v, x, h);
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
    dh: &[R],
    grads: &mut Params<R>,
    dx: &mut [R],
    dh_prev: &mut [R],
) {
    let hs = h.len();
    match p.desc.cell() {
        Cell::Rnn(act) => {
            let ax = affine(&p.w_ih, &p.b_ih, x, 0, hs);
            let ah = affine(&p.w_hh, &p.b_hh, h, 0, hs);
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
            affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, h, dh_prev, &da, 0);
        }
        Cell::Gru(v) => {
            let (r, z, n, hn) = gru_parts(p, v, x, h);
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
                    affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, h, dh_prev, &dahn, 2 * hs);
                }
                GruVariant::ResetBeforeLinear => {
                    let rh: Vec<R> = (0..hs).map(|j| r[j] * h[j]).collect();
                    let mut drh = vec![R::ZERO; hs];
                    affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, &rh, &mut drh, &dan, 2 * hs);
                    for j in 0..hs {
                        dar[j] = drh[j] * h[j] * sig_grad(r[j]);
                        dh_prev[j] += drh[j] * r[j];
                    }
                }
            }
            let mut darz = dar;
            darz.extend_from_slice(&daz);
            affine_back(&p.w_hh, &mut grads.w_hh, &mut grads.b_hh, h, dh_prev, &darz, 0);
            darz.extend_from_slice(&dan);
            affine_back(&p.w_ih, &mut grads.w_ih, &mut grads.b_ih, x, dx, &darz, 0);
        }
        Cell::Lstm => unreachable!("LSTM steps go through lstm_step_back"),
    }
}
