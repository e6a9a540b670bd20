//! A naive implementation written straight from the cell equations: no SIMD, no threads,
//! generic over `f32`/`f64`, forward and backward. The fast path is tested against it, and
//! users can validate against it too.
//!
//! Shapes and gate orders are those of [`crate::Weights`]: sequences `[T, N, I]`, outputs
//! `[T, N, H]`, states `[N, H]`, all row-major.
//!
//! ```
//! use fusedrnn::{Cell, LayerDesc, SeqShape, Weights, reference};
//! let desc = LayerDesc::new(Cell::Lstm, 3, 2).unwrap();
//! let p = reference::Params::<f64>::from_weights(&Weights::init_uniform(&desc, 1));
//! let x = vec![0.5; 4 * 1 * 3];
//! let fwd = reference::forward(&p, SeqShape::new(4, 1), &x, None, None).unwrap();
//! assert_eq!(fwd.y.len(), 4 * 2);
//! ```

mod cells;
mod real;
mod stack;

pub use real::{relu, sigmoid, Real};
pub use stack::{
    stack_backward, stack_forward, stack_forward_dropout, stack_forward_lengths, stack_forward_masks, StackGrads,
    StackTrace,
};

use crate::desc::{LayerDesc, SeqShape};
use crate::error::{check_len, Error, Result};
use crate::weights::Weights;

/// Layer parameters in scalar type `R`, same layout as [`Weights`].
#[derive(Clone, Debug, PartialEq)]
pub struct Params<R> {
    /// The layer.
    pub desc: LayerDesc,
    /// `[G*H, I]`.
    pub w_ih: Vec<R>,
    /// `[G*H, H]`.
    pub w_hh: Vec<R>,
    /// `[G*H]`.
    pub b_ih: Vec<R>,
    /// `[G*H]`.
    pub b_hh: Vec<R>,
    /// `[P, H]` (LSTM projection), else empty.
    pub w_hr: Vec<R>,
    /// `[3H]`: `p_i, p_f, p_o` (LSTM peepholes), else empty.
    pub peep: Vec<R>,
    /// `[18H]`: layer-normalization gains and biases (see [`Weights::layer_norm`]), else empty.
    pub ln: Vec<R>,
}

impl<R: Real> Params<R> {
    /// All zeros (a gradient accumulator).
    pub fn zeros(desc: &LayerDesc) -> Self {
        let gh = desc.gate_rows();
        Self {
            desc: *desc,
            w_ih: vec![R::ZERO; gh * desc.input_size()],
            w_hh: vec![R::ZERO; gh * desc.output_size()],
            b_ih: vec![R::ZERO; gh],
            b_hh: vec![R::ZERO; gh],
            w_hr: vec![R::ZERO; desc.proj_size().map_or(0, |p| p * desc.hidden_size())],
            peep: vec![R::ZERO; if desc.peepholes() { 3 * desc.hidden_size() } else { 0 }],
            ln: vec![R::ZERO; desc.layer_norm_len()],
        }
    }

    /// Converts `f32` weights.
    pub fn from_weights(w: &Weights) -> Self {
        let conv = |v: &[f32]| v.iter().map(|&a| R::from_f64(a as f64)).collect();
        Self {
            desc: *w.desc(),
            w_ih: conv(w.w_ih()),
            w_hh: conv(w.w_hh()),
            b_ih: conv(w.b_ih()),
            b_hh: conv(w.b_hh()),
            w_hr: conv(w.w_hr()),
            peep: conv(w.peepholes()),
            ln: conv(w.layer_norm()),
        }
    }

    /// The four buffers, `W_ih, W_hh, b_ih, b_hh`.
    pub fn buffers(&self) -> [&[R]; 4] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    /// Every buffer, as [`Weights::all_buffers`] orders them.
    pub fn all_buffers(&self) -> Vec<&[R]> {
        let mut v: Vec<&[R]> = self.buffers().to_vec();
        v.extend(
            [&self.w_hr[..], &self.peep[..], &self.ln[..]]
                .into_iter()
                .filter(|b| !b.is_empty()),
        );
        v
    }

    /// The four buffers, mutable.
    pub fn buffers_mut(&mut self) -> [&mut Vec<R>; 4] {
        [&mut self.w_ih, &mut self.w_hh, &mut self.b_ih, &mut self.b_hh]
    }
}

/// What [`forward`] returns: outputs, final states, and what [`backward`] needs.
#[derive(Clone, Debug)]
pub struct Trace<R> {
    /// The shape it ran with.
    pub shape: SeqShape,
    /// `Y`, `[T, N, H]`.
    pub y: Vec<R>,
    /// `h_T`, `[N, H]`.
    pub h_n: Vec<R>,
    /// `c_T`, `[N, H]` (LSTM only).
    pub c_n: Option<Vec<R>>,
    /// `h_t` for `t = 0..=T`, each `[N, H]`.
    pub h: Vec<Vec<R>>,
    /// `c_t` for `t = 0..=T` (LSTM only; empty otherwise).
    pub c: Vec<Vec<R>>,
    /// The sequence lengths it ran with (`None`: all `T`).
    pub lengths: Option<Vec<usize>>,
    /// The recurrent-dropout mask `[N, P or H]` it ran with, if any.
    pub recurrent_mask: Option<Vec<R>>,
    /// The input-dropout mask `[N, I]` it ran with, if any.
    pub input_mask: Option<Vec<R>>,
}

/// Gradients from [`backward`].
#[derive(Clone, Debug)]
pub struct Grads<R> {
    /// `dX`, `[T, N, I]`.
    pub dx: Vec<R>,
    /// `dh_0`, `[N, H]`.
    pub dh0: Vec<R>,
    /// `dc_0`, `[N, H]` (LSTM only).
    pub dc0: Option<Vec<R>>,
    /// `dW_ih, dW_hh, db_ih, db_hh`.
    pub params: Params<R>,
}

fn check_states<R>(
    desc: &LayerDesc,
    n: usize,
    h: Option<&[R]>,
    c: Option<&[R]>,
    names: (&'static str, &'static str),
) -> Result<()> {
    if let Some(h) = h {
        check_len(names.0, n * desc.output_size(), h.len())?;
    }
    match (c, desc.cell().has_cell_state()) {
        (Some(c), true) => check_len(names.1, n * desc.hidden_size(), c.len()),
        (Some(_), false) => Err(Error::Unexpected { what: names.1 }),
        (None, _) => Ok(()),
    }
}

/// Runs the layer over `x` (`[T, N, I]`) from `h0` (`[N, P or H]`), `c0` (`[N, H]`), zeros
/// when `None`.
pub fn forward<R: Real>(
    p: &Params<R>,
    shape: SeqShape,
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<Trace<R>> {
    forward_lengths(p, shape, None, x, h0, c0)
}

/// [`forward`] over a variable-length batch: sequence `b` runs steps `t < lengths[b]`; past
/// its length its state is carried unchanged and its output is zero.
pub fn forward_lengths<R: Real>(
    p: &Params<R>,
    shape: SeqShape,
    lengths: Option<&[usize]>,
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<Trace<R>> {
    forward_dropout(p, shape, lengths, None, x, h0, c0)
}

/// [`forward_lengths`] with recurrent dropout: `h ⊙ mask` (`mask` `[N, P or H]`, the same at
/// every step) is what every recurrent product multiplies (`W_hh h`, the GRU's
/// `W_hn (r ⊙ h)`); the state itself and the GRU's `z ⊙ h` are not masked.
#[allow(clippy::too_many_arguments)]
pub fn forward_dropout<R: Real>(
    p: &Params<R>,
    shape: SeqShape,
    lengths: Option<&[usize]>,
    recurrent_mask: Option<&[R]>,
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<Trace<R>> {
    forward_masks(p, shape, lengths, recurrent_mask, None, x, h0, c0)
}

/// [`forward_dropout`] with input dropout as well: every step reads `x_t ⊙ input_mask`
/// (`input_mask` `[N, I]`, the same at every step) instead of `x_t`; [`backward`] then gives
/// `dX` through the mask and `dW_ih` from the masked input.
#[allow(clippy::too_many_arguments)]
pub fn forward_masks<R: Real>(
    p: &Params<R>,
    shape: SeqShape,
    lengths: Option<&[usize]>,
    recurrent_mask: Option<&[R]>,
    input_mask: Option<&[R]>,
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<Trace<R>> {
    let d = &p.desc;
    shape.validate(d)?;
    crate::driver::schedule::check_lengths(shape.t, shape.n, lengths)?;
    let active = |t: usize, b: usize| lengths.is_none_or(|l| t < l[b]);
    let (t_len, n, i_sz) = (shape.t, shape.n, d.input_size());
    // `h` is `P` wide with a projection (`o_sz`), the cell state `H` (`c_sz`).
    let (o_sz, c_sz) = (d.output_size(), d.hidden_size());
    check_len("x", t_len * n * i_sz, x.len())?;
    check_states(d, n, h0, c0, ("h0", "c0"))?;
    if let Some(m) = recurrent_mask {
        check_len("recurrent_mask", n * o_sz, m.len())?;
    }
    if let Some(m) = input_mask {
        check_len("input_mask", n * i_sz, m.len())?;
    }
    let lstm = d.cell().has_cell_state();
    let mut h = vec![h0.map_or_else(|| vec![R::ZERO; n * o_sz], <[R]>::to_vec)];
    let mut c = Vec::new();
    if lstm {
        c.push(c0.map_or_else(|| vec![R::ZERO; n * c_sz], <[R]>::to_vec));
    }
    let mut y = Vec::with_capacity(t_len * n * o_sz);
    for t in 0..t_len {
        let mut h_next = vec![R::ZERO; n * o_sz];
        let mut c_next = vec![R::ZERO; if lstm { n * c_sz } else { 0 }];
        for b in 0..n {
            let xb = masked(
                &x[(t * n + b) * i_sz..][..i_sz],
                input_mask.map(|m| &m[b * i_sz..][..i_sz]),
            );
            let xb = &xb[..];
            let hb = &h[t][b * o_sz..][..o_sz];
            let (hr, cr) = (b * o_sz..(b + 1) * o_sz, b * c_sz..(b + 1) * c_sz);
            if !active(t, b) {
                h_next[hr].copy_from_slice(hb);
                if lstm {
                    c_next[cr.clone()].copy_from_slice(&c[t][cr]);
                }
                continue;
            }
            let hm = masked(hb, recurrent_mask.map(|m| &m[hr.clone()]));
            if lstm {
                let cb = &c[t][cr.clone()];
                cells::lstm_step(p, xb, &hm, cb, &mut h_next[hr], &mut c_next[cr]);
            } else {
                cells::step(p, xb, hb, &hm, &mut h_next[hr]);
            }
        }
        for b in 0..n {
            let on = active(t, b);
            y.extend(h_next[b * o_sz..][..o_sz].iter().map(|&v| if on { v } else { R::ZERO }));
        }
        h.push(h_next);
        if lstm {
            c.push(c_next);
        }
    }
    Ok(Trace {
        shape,
        y,
        h_n: h[t_len].clone(),
        c_n: lstm.then(|| c[t_len].clone()),
        h,
        c,
        lengths: lengths.map(<[usize]>::to_vec),
        recurrent_mask: recurrent_mask.map(<[R]>::to_vec),
        input_mask: input_mask.map(<[R]>::to_vec),
    })
}

/// `h ⊙ mask`, or `h`.
fn masked<R: Real>(h: &[R], mask: Option<&[R]>) -> Vec<R> {
    match mask {
        Some(m) => h.iter().zip(m).map(|(&a, &b)| a * b).collect(),
        None => h.to_vec(),
    }
}

/// Backpropagation through time: the gradients of a loss whose gradients with respect to
/// `Y`, `h_T` and `c_T` are `dy` (`[T, N, P or H]`), `dh_n` and `dc_n` (zeros when `None`).
pub fn backward<R: Real>(
    p: &Params<R>,
    x: &[R],
    tr: &Trace<R>,
    dy: &[R],
    dh_n: Option<&[R]>,
    dc_n: Option<&[R]>,
) -> Result<Grads<R>> {
    let d = &p.desc;
    let SeqShape { t: t_len, n } = tr.shape;
    let (i_sz, o_sz, c_sz) = (d.input_size(), d.output_size(), d.hidden_size());
    check_len("x", t_len * n * i_sz, x.len())?;
    check_len("dy", t_len * n * o_sz, dy.len())?;
    check_states(d, n, dh_n, dc_n, ("dh_n", "dc_n"))?;
    let lstm = d.cell().has_cell_state();
    let mut g = Grads {
        dx: vec![R::ZERO; x.len()],
        dh0: Vec::new(),
        dc0: None,
        params: Params::zeros(d),
    };
    let mut dh = dh_n.map_or_else(|| vec![R::ZERO; n * o_sz], <[R]>::to_vec);
    let mut dc = dc_n.map_or_else(|| vec![R::ZERO; n * c_sz], <[R]>::to_vec);
    let lengths = tr.lengths.as_deref();
    for t in (0..t_len).rev() {
        let mut dh_prev = vec![R::ZERO; n * o_sz];
        let mut dc_prev = vec![R::ZERO; n * c_sz];
        for b in 0..n {
            let (hr, cr) = (b * o_sz..(b + 1) * o_sz, b * c_sz..(b + 1) * c_sz);
            if lengths.is_some_and(|l| t >= l[b]) {
                // Past the end: the state was carried, so is its gradient; dY is ignored.
                dh_prev[hr.clone()].copy_from_slice(&dh[hr]);
                if lstm {
                    dc_prev[cr.clone()].copy_from_slice(&dc[cr]);
                }
                continue;
            }
            let imask = tr.input_mask.as_ref().map(|m| &m[b * i_sz..][..i_sz]);
            let xb = masked(&x[(t * n + b) * i_sz..][..i_sz], imask);
            let xb = &xb[..];
            let mut dh_b: Vec<R> = dh[hr.clone()].to_vec();
            for (a, &e) in dh_b.iter_mut().zip(&dy[(t * n + b) * o_sz..][..o_sz]) {
                *a += e;
            }
            let dxb = &mut g.dx[(t * n + b) * i_sz..][..i_sz];
            let hb = &tr.h[t][hr.clone()];
            let mask = tr.recurrent_mask.as_ref().map(|m| &m[hr.clone()]);
            let hm = masked(hb, mask);
            // The products' gradient is with respect to h ⊙ mask.
            let mut dhm = vec![R::ZERO; o_sz];
            if lstm {
                cells::lstm_step_back(
                    p,
                    xb,
                    &hm,
                    &tr.c[t][cr.clone()],
                    &dh_b,
                    &dc[cr.clone()],
                    &mut g.params,
                    dxb,
                    &mut dhm,
                    &mut dc_prev[cr],
                );
            } else {
                cells::step_back(
                    p,
                    xb,
                    hb,
                    &hm,
                    &dh_b,
                    &mut g.params,
                    dxb,
                    &mut dh_prev[hr.clone()],
                    &mut dhm,
                );
            }
            for (k, (d, e)) in dh_prev[hr].iter_mut().zip(&dhm).enumerate() {
                *d += mask.map_or(*e, |m| m[k] * *e);
            }
            // The cell's gradient is with respect to x ⊙ input_mask.
            if let Some(m) = imask {
                for (d, &e) in dxb.iter_mut().zip(m) {
                    *d = *d * e;
                }
            }
        }
        dh = dh_prev;
        dc = dc_prev;
    }
    g.dh0 = dh;
    g.dc0 = lstm.then_some(dc);
    Ok(g)
}
