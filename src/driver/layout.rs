//! The training workspace: what forward-training saves for backward, and where.

use crate::desc::{Cell, GruVariant, LayerDesc, SeqShape};
use crate::error::{product, Result};

/// Element counts of the workspace regions for one layer and shape, in storage order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `[T, N, G*H]` gate activations (the input projection before the step runs).
    pub gates: usize,
    /// `[T+1, N, H]` hidden states `h_0 .. h_T`.
    pub h: usize,
    /// `[T+1, N, H]` cell states (LSTM), else 0.
    pub c: usize,
    /// `[T, N, H]` GRU: `W_hn h + b_hn` (linear-before-reset) or `r ⊙ h` (reset-before-linear).
    pub aux: usize,
    /// `[T, N, G*H]` pre-activation gradients, written by backward-data.
    pub dgates: usize,
    /// `[T, N, G*H]` recurrent-side gradients (linear-before-reset GRU only).
    pub dgh: usize,
    /// LSTM projection: `[T, N, H]` `m = o ⊙ tanh(c')`, the projection's input; else 0.
    pub m: usize,
    /// LSTM projection: `[T, N, P]` the gradient of every `h_t` (for `dW_hr`); else 0.
    pub dh: usize,
    /// Layer-normalized LSTM: see `ln_lstm::LnBufs`; else 0.
    pub ln: usize,
}

/// The regions of one workspace buffer.
pub(crate) struct Regions<'a> {
    pub gates: &'a mut [f32],
    pub h: &'a mut [f32],
    pub c: &'a mut [f32],
    pub aux: &'a mut [f32],
    pub dgates: &'a mut [f32],
    pub dgh: &'a mut [f32],
    pub m: &'a mut [f32],
    pub dh: &'a mut [f32],
    pub ln: &'a mut [f32],
}

impl Layout {
    pub(crate) fn new(d: &LayerDesc, s: &SeqShape) -> Result<Self> {
        s.validate(d)?;
        let tn = product(&[s.t, s.n], "T*N")?;
        let gates = product(&[tn, d.gate_rows()], "workspace")?;
        let states = product(&[s.t + 1, s.n, d.hidden_size()], "workspace")?;
        let h_states = product(&[s.t + 1, s.n, d.output_size()], "workspace")?;
        let seq_h = product(&[tn, d.hidden_size()], "workspace")?;
        let (m, dh) = match d.proj_size() {
            Some(p) => (seq_h, product(&[tn, p], "workspace")?),
            None => (0, 0),
        };
        let (c, aux, dgh) = match d.cell() {
            Cell::Lstm if d.layer_norm() => (states, 0, gates),
            Cell::Lstm => (states, 0, 0),
            Cell::Gru(GruVariant::LinearBeforeReset) => (0, seq_h, gates),
            Cell::Gru(GruVariant::ResetBeforeLinear) => (0, seq_h, 0),
            Cell::Rnn(_) => (0, 0, 0),
        };
        Ok(Self {
            gates,
            h: h_states,
            c,
            aux,
            dgates: gates,
            dgh,
            m,
            dh,
            ln: if d.layer_norm() {
                super::ln_lstm::LnBufs::len(tn, s.n, d, true)
            } else {
                0
            },
        })
    }

    /// Total elements (checked: [`Layout::new`] bounds every region by `MAX_ELEMS`).
    pub(crate) fn total(&self) -> Result<usize> {
        [
            self.gates,
            self.h,
            self.c,
            self.aux,
            self.dgates,
            self.dgh,
            self.m,
            self.dh,
            self.ln,
        ]
        .iter()
        .try_fold(0usize, |a, &b| a.checked_add(b))
        .ok_or(crate::Error::Overflow { what: "workspace" })
    }

    /// Cuts `buf` (at least [`Layout::total`] long) into the regions.
    pub(crate) fn split<'a>(&self, buf: &'a mut [f32]) -> Regions<'a> {
        let (gates, rest) = buf.split_at_mut(self.gates);
        let (h, rest) = rest.split_at_mut(self.h);
        let (c, rest) = rest.split_at_mut(self.c);
        let (aux, rest) = rest.split_at_mut(self.aux);
        let (dgates, rest) = rest.split_at_mut(self.dgates);
        let (dgh, rest) = rest.split_at_mut(self.dgh);
        let (m, rest) = rest.split_at_mut(self.m);
        let (dh, rest) = rest.split_at_mut(self.dh);
        let (ln, _) = rest.split_at_mut(self.ln);
        Regions {
            gates,
            h,
            c,
            aux,
            dgates,
            dgh,
            m,
            dh,
            ln,
        }
    }
}
