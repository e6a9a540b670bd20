//! Forward time loop, shared by inference (ring buffers of two states) and training (every
//! state kept in the workspace).

use super::prepared::Prepared;
use super::ring_pair;
use super::team::Team;
use crate::cell::fused::{self, FwdStep, StepSlices};
use crate::desc::{Cell, GruVariant, LayerDesc, SeqShape};
use crate::gemm::par::SyncMutPtr;
use crate::gemm::proj::{self, Proj};
use crate::weights::Weights;

/// A layer's weights and what was prepared from them.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub desc: &'a LayerDesc,
    pub w: &'a Weights,
    pub p: &'a Prepared,
}

/// Where the loop keeps its state. `h`, `c` and `aux` are rings of `[N, H]` slots; with
/// `T + 1` slots (`T` for `aux`) nothing is overwritten, which is what training needs.
pub(crate) struct Bufs<'a> {
    /// `[T, N, G*H]`: the input projection, then each step's gate activations.
    pub gates: &'a mut [f32],
    pub h: &'a mut [f32],
    pub h_slots: usize,
    pub c: &'a mut [f32],
    pub aux: &'a mut [f32],
    pub aux_slots: usize,
}

/// Caller-facing inputs and outputs of one forward call (shapes already checked).
pub(crate) struct Io<'a> {
    pub x: &'a [f32],
    pub h0: Option<&'a [f32]>,
    pub c0: Option<&'a [f32]>,
    pub y: &'a mut [f32],
    pub h_n: Option<&'a mut [f32]>,
    pub c_n: Option<&'a mut [f32]>,
}

/// Runs the layer over the sequence.
pub(crate) fn run(cx: Ctx<'_>, s: SeqShape, io: Io<'_>, b: Bufs<'_>) {
    let (h_sz, gh_w) = (cx.desc.hidden_size(), cx.desc.gate_rows());
    let (t_len, n) = (s.t, s.n);
    let nh = n * h_sz;
    let step_g = n * gh_w;

    // One team of threads for the whole loop: a cheap hand-off per step, no fork-join.
    Team::run(|team| {
        project(cx, team, t_len * n, io.x, b.gates);

        match io.h0 {
            Some(h0) => b.h[..nh].copy_from_slice(h0),
            None => b.h[..nh].fill(0.0),
        }
        if cx.desc.cell() == Cell::Lstm {
            match io.c0 {
                Some(c0) => b.c[..nh].copy_from_slice(c0),
                None => b.c[..nh].fill(0.0),
            }
        }
        // With no h0 the first recurrent product is zero and skipped.
        let h0_zero = io.h0.is_none();

        let nb = cx.p.fwd.blocks();
        for t in 0..t_len {
            let gates = &mut b.gates[t * step_g..][..step_g];
            let (h_prev, h_next) = ring_pair(b.h, nh, b.h_slots, t);
            let rec = !(t == 0 && h0_zero);
            let (c_prev, c_next): (&[f32], &mut [f32]) = match cx.desc.cell() {
                Cell::Lstm => ring_pair(b.c, nh, b.h_slots, t),
                _ => (&[], &mut []),
            };
            let aux: &mut [f32] = match cx.desc.cell() {
                Cell::Gru(_) => &mut b.aux[(t % b.aux_slots) * nh..][..nh],
                _ => &mut [],
            };
            let slices = StepSlices {
                n,
                h: h_sz,
                gates_per_unit: cx.desc.gates(),
                h_prev,
                rec,
                gates,
                c_prev,
                c_next,
                h_next,
                aux,
                b_hn: &cx.p.b_hn,
            };
            // SAFETY: the slices are borrowed for this whole step and used only through `st`;
            // `team.on_blocks` gives each thread a disjoint block range and joins before returning.
            let st = unsafe { FwdStep::new(slices) };
            let macs = n * h_sz * gh_w;
            match cx.desc.cell() {
                Cell::Lstm => team.on_blocks(nb, macs, |r| fused::lstm(&st, &cx.p.fwd, r)),
                Cell::Rnn(act) => team.on_blocks(nb, macs, |r| fused::rnn(&st, &cx.p.fwd, act, r)),
                Cell::Gru(GruVariant::LinearBeforeReset) => {
                    team.on_blocks(nb, macs, |r| fused::gru_lbr(&st, &cx.p.fwd, r))
                }
                Cell::Gru(GruVariant::ResetBeforeLinear) => {
                    team.on_blocks(nb, macs, |r| fused::gru_rz(&st, &cx.p.fwd, r));
                    team.on_blocks(nb, macs, |r| fused::gru_n(&st, &cx.p.fwd_n, r));
                }
            }
            io.y[t * nh..][..nh].copy_from_slice(&b.h[((t + 1) % b.h_slots) * nh..][..nh]);
        }

        let last = t_len % b.h_slots;
        if let Some(h_n) = io.h_n {
            h_n.copy_from_slice(&b.h[last * nh..][..nh]);
        }
        if let Some(c_n) = io.c_n {
            c_n.copy_from_slice(&b.c[last * nh..][..nh]);
        }
    });
}

/// Inference scratch: the hoisted projection and two-slot rings. Grows to the largest shape
/// it has served and is reused, so repeated calls allocate nothing.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    gates: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    aux: Vec<f32>,
}

impl Scratch {
    /// The buffers for `d` at shape `s`, growing them if needed.
    pub(crate) fn bufs(&mut self, d: &LayerDesc, s: SeqShape) -> Bufs<'_> {
        let nh = s.n * d.hidden_size();
        let lens = [
            s.t * s.n * d.gate_rows(),
            2 * nh,
            if d.cell() == Cell::Lstm { 2 * nh } else { 0 },
            if matches!(d.cell(), Cell::Gru(_)) { nh } else { 0 },
        ];
        for (v, len) in [&mut self.gates, &mut self.h, &mut self.c, &mut self.aux]
            .into_iter()
            .zip(lens)
        {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        }
        Bufs {
            gates: &mut self.gates[..lens[0]],
            h: &mut self.h[..lens[1]],
            h_slots: 2,
            c: &mut self.c[..lens[2]],
            aux: &mut self.aux[..lens[3]],
            aux_slots: 1,
        }
    }
}

/// `gates = bias + X W_ihᵀ` for all `rows = T*N` rows at once, with `W_ih` packed once.
///
/// Always this kernel, whatever the number of rows: each output element is then computed in
/// the same order whatever `T`, `N` or the chunking of a stream, so results are batch- and
/// chunk-invariant (bitwise).
fn project(cx: Ctx<'_>, team: &Team<'_>, rows: usize, x: &[f32], gates: &mut [f32]) {
    let (i_sz, gh_w) = (cx.desc.input_size(), cx.desc.gate_rows());
    assert!(gates.len() == rows * gh_w);
    // SAFETY: `gates` is exclusively borrowed for this call; `team.on_blocks` hands each thread a
    // disjoint range of unit blocks and joins before returning.
    let out = unsafe { SyncMutPtr::new(gates.as_mut_ptr()) };
    let p = Proj {
        rows,
        x,
        w: &cx.p.proj,
        bias: &cx.p.bias_x,
        h: cx.desc.hidden_size(),
        out,
    };
    team.on_blocks(cx.p.proj.blocks(), rows * i_sz * gh_w, |r| proj::project(&p, r));
}
