//! Stacks in the reference: layers composed exactly as [`crate::Stack`] documents them
//! (reverse directions on the time-reversed sequence, concatenated or summed outputs,
//! batch-major data transposed), over the single-layer reference.

use super::{backward, forward_masks, Params, Real, Trace};
use crate::api::seq::{get_cols, put_cols, reverse_seqs, swap_major};
use crate::desc::SeqShape;
use crate::error::{check_len, Result};
use crate::{Direction, StackDesc};

/// What [`stack_forward`] returns.
#[derive(Clone, Debug)]
pub struct StackTrace<R> {
    /// Output `[T, N, W]` (or `[N, T, W]` batch-first).
    pub y: Vec<R>,
    /// Final hidden states `[L*D, N, H]`.
    pub h_n: Vec<R>,
    /// Final cell states `[L*D, N, H]` (LSTM), else empty.
    pub c_n: Vec<R>,
    /// Per layer-direction: its input as fed (time-major, time-reversed for reverse
    /// directions) and its trace.
    pub layers: Vec<(Vec<R>, Trace<R>)>,
    /// The dropout masks applied to the outputs of layers `0..L-1` (empty without dropout).
    pub masks: Vec<Vec<R>>,
}

/// Gradients from [`stack_backward`].
#[derive(Clone, Debug)]
pub struct StackGrads<R> {
    /// `dX`, shaped like the input.
    pub dx: Vec<R>,
    /// `dh_0`, `[L*D, N, H]`.
    pub dh0: Vec<R>,
    /// `dc_0`, `[L*D, N, H]` (LSTM), else empty.
    pub dc0: Vec<R>,
    /// Parameter gradients per layer-direction.
    pub params: Vec<Params<R>>,
}

/// The stack's forward pass; `h0`, `c0` are `[L*D, N, H]` (zeros when `None`).
pub fn stack_forward<R: Real>(
    d: &StackDesc,
    p: &[Params<R>],
    s: SeqShape,
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<StackTrace<R>> {
    stack_forward_lengths(d, p, s, None, x, h0, c0)
}

/// [`stack_forward`] over a variable-length batch (see [`super::forward_lengths`]): a reverse
/// direction reads each sequence backwards from its own last step.
pub fn stack_forward_lengths<R: Real>(
    d: &StackDesc,
    p: &[Params<R>],
    s: SeqShape,
    lengths: Option<&[usize]>,
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<StackTrace<R>> {
    stack_forward_dropout(d, p, s, lengths, &[], &[], x, h0, c0)
}

/// [`stack_forward_lengths`] with inter-layer dropout: the output of layer `l` (time-major
/// `[T, N, W]`) is multiplied elementwise by `masks[l]` before layer `l + 1` reads it;
/// `masks` is empty (no dropout) or has one mask per layer but the last; `recurrent_masks`
/// is empty or has one recurrent-dropout mask per layer-direction (see
/// [`super::forward_dropout`]).
#[allow(clippy::too_many_arguments)]
pub fn stack_forward_dropout<R: Real>(
    d: &StackDesc,
    p: &[Params<R>],
    s: SeqShape,
    lengths: Option<&[usize]>,
    masks: &[Vec<R>],
    recurrent_masks: &[Vec<R>],
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<StackTrace<R>> {
    stack_forward_masks(d, p, s, lengths, masks, recurrent_masks, &[], x, h0, c0)
}

/// [`stack_forward_dropout`] with input dropout as well: `input_masks` is empty or has one
/// `[N, I_l]` input-dropout mask per layer-direction (`I_l` the width that layer reads; see
/// [`super::forward_masks`]), applied to the layer-direction's own input (after the previous
/// layer's output mask).
#[allow(clippy::too_many_arguments)]
pub fn stack_forward_masks<R: Real>(
    d: &StackDesc,
    p: &[Params<R>],
    s: SeqShape,
    lengths: Option<&[usize]>,
    masks: &[Vec<R>],
    recurrent_masks: &[Vec<R>],
    input_masks: &[Vec<R>],
    x: &[R],
    h0: Option<&[R]>,
    c0: Option<&[R]>,
) -> Result<StackTrace<R>> {
    if !recurrent_masks.is_empty() {
        check_len("recurrent_masks", d.layer_count(), recurrent_masks.len())?;
    }
    if !input_masks.is_empty() {
        check_len("input_masks", d.layer_count(), input_masks.len())?;
    }
    if !masks.is_empty() {
        check_len("masks", d.num_layers() - 1, masks.len())?;
        for m in masks {
            check_len("mask", s.t * s.n * d.output_size(), m.len())?;
        }
    }
    check_len("params", d.layer_count(), p.len())?;
    crate::driver::schedule::check_lengths(s.t, s.n, lengths)?;
    check_len("x", s.t * s.n * d.input_size(), x.len())?;
    let (dirs, h, n, w) = (d.direction().count(), d.state_size(), s.n, d.output_size());
    let (st, sc) = (n * h, n * d.hidden_size());
    let mut cur = if d.is_batch_first() {
        swap_major(x, n, s.t, d.input_size())
    } else {
        x.to_vec()
    };
    let (mut h_n, mut c_n, mut layers) = (Vec::new(), Vec::new(), Vec::new());
    for l in 0..d.num_layers() {
        let in_w = if l == 0 { d.input_size() } else { w };
        let mut ys = Vec::new();
        for dd in 0..dirs {
            let k = l * dirs + dd;
            let rev = d.direction().reversed(dd);
            let xin = if rev {
                reverse_seqs(&cur, s.t, n, in_w, lengths, R::ZERO)
            } else {
                cur.clone()
            };
            let tr = forward_masks(
                &p[k],
                s,
                lengths,
                recurrent_masks.get(k).map(|m| &m[..]),
                input_masks.get(k).map(|m| &m[..]),
                &xin,
                h0.map(|v| &v[k * st..][..st]),
                c0.map(|v| &v[k * sc..][..sc]),
            )?;
            h_n.extend_from_slice(&tr.h_n);
            if let Some(c) = &tr.c_n {
                c_n.extend_from_slice(c);
            }
            ys.push(if rev {
                reverse_seqs(&tr.y, s.t, n, h, lengths, R::ZERO)
            } else {
                tr.y.clone()
            });
            layers.push((xin, tr));
        }
        cur = match d.direction() {
            Direction::Bidirectional => {
                let mut y = vec![R::ZERO; s.t * n * w];
                put_cols(&mut y, w, 0, &ys[0], h);
                put_cols(&mut y, w, h, &ys[1], h);
                y
            }
            Direction::BidirectionalSum => ys[0].iter().zip(&ys[1]).map(|(a, b)| *a + *b).collect(),
            _ => ys.remove(0),
        };
        if let Some(m) = masks.get(l) {
            for (a, b) in cur.iter_mut().zip(m) {
                *a = *a * *b;
            }
        }
    }
    let y = if d.is_batch_first() {
        swap_major(&cur, s.t, n, w)
    } else {
        cur
    };
    Ok(StackTrace {
        y,
        h_n,
        c_n,
        layers,
        masks: masks.to_vec(),
    })
}

/// The stack's backward pass from `dY` (shaped like `Y`) and `dh_n`, `dc_n` (`[L*D, N, H]`).
pub fn stack_backward<R: Real>(
    d: &StackDesc,
    p: &[Params<R>],
    tr: &StackTrace<R>,
    dy: &[R],
    dh_n: Option<&[R]>,
    dc_n: Option<&[R]>,
) -> Result<StackGrads<R>> {
    let s = tr.layers[0].1.shape;
    let lengths = tr.layers[0].1.lengths.as_deref();
    let (dirs, h, n, w) = (d.direction().count(), d.state_size(), s.n, d.output_size());
    let (st, sc) = (n * h, n * d.hidden_size());
    let mut dcur = if d.is_batch_first() {
        swap_major(dy, n, s.t, w)
    } else {
        dy.to_vec()
    };
    let mut dh0 = vec![R::ZERO; d.layer_count() * st];
    let mut dc0 = vec![
        R::ZERO;
        if d.cell().has_cell_state() {
            d.layer_count() * sc
        } else {
            0
        }
    ];
    let mut params: Vec<Option<Params<R>>> = vec![None; d.layer_count()];
    for l in (0..d.num_layers()).rev() {
        if let Some(m) = tr.masks.get(l) {
            for (a, b) in dcur.iter_mut().zip(m) {
                *a = *a * *b;
            }
        }
        let in_w = if l == 0 { d.input_size() } else { w };
        let mut dx = vec![R::ZERO; s.t * n * in_w];
        for dd in 0..dirs {
            let k = l * dirs + dd;
            let rev = d.direction().reversed(dd);
            let dyk = match d.direction() {
                Direction::Bidirectional => get_cols(&dcur, w, dd * h, h),
                _ => dcur.clone(),
            };
            let dyk = if rev {
                reverse_seqs(&dyk, s.t, n, h, lengths, R::ZERO)
            } else {
                dyk
            };
            let (xin, trk) = &tr.layers[k];
            let g = backward(
                &p[k],
                xin,
                trk,
                &dyk,
                dh_n.map(|v| &v[k * st..][..st]),
                dc_n.map(|v| &v[k * sc..][..sc]),
            )?;
            let gdx = if rev {
                reverse_seqs(&g.dx, s.t, n, in_w, lengths, R::ZERO)
            } else {
                g.dx
            };
            for (a, b) in dx.iter_mut().zip(&gdx) {
                *a += *b;
            }
            dh0[k * st..][..st].copy_from_slice(&g.dh0);
            if let Some(c) = &g.dc0 {
                dc0[k * sc..][..sc].copy_from_slice(c);
            }
            params[k] = Some(g.params);
        }
        dcur = dx;
    }
    let dx = if d.is_batch_first() {
        swap_major(&dcur, s.t, n, d.input_size())
    } else {
        dcur
    };
    Ok(StackGrads {
        dx,
        dh0,
        dc0,
        params: params
            .into_iter()
            .map(|p| p.expect("every layer-direction visited"))
            .collect(),
    })
}
