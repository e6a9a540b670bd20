//! The parameters of one layer (and, with the same layout, their gradients).

use crate::desc::LayerDesc;
use crate::error::{check_len, Result};

/// The parameters of one layer in PyTorch's layout, so they copy straight from
/// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}` and `bias_hh_l{k}`.
///
/// | buffer | shape | layout |
/// |---|---|---|
/// | `w_ih` | `[G*H, I]` | row-major; row `gate*H + j` holds the weights of unit `j` of that gate |
/// | `w_hh` | `[G*H, H]` | row-major, same row order |
/// | `b_ih` | `[G*H]`    | |
/// | `b_hh` | `[G*H]`    | |
///
/// Gate blocks are in the order `i, f, g, o` (LSTM), `r, z, n` (GRU) or the single block of
/// a simple RNN (see [`crate::Cell`]). The same type holds gradients (`dW_ih`, `dW_hh`,
/// `db_ih`, `db_hh`) with the same layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    desc: LayerDesc,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
}

impl Weights {
    /// All-zero parameters (or a zeroed gradient buffer) for `desc`.
    pub fn zeros(desc: &LayerDesc) -> Self {
        let gh = desc.gate_rows();
        Self {
            desc: *desc,
            w_ih: vec![0.0; gh * desc.input_size()],
            w_hh: vec![0.0; gh * desc.hidden_size()],
            b_ih: vec![0.0; gh],
            b_hh: vec![0.0; gh],
        }
    }

    /// Takes ownership of the four buffers after checking their lengths against `desc`.
    pub fn new(desc: &LayerDesc, w_ih: Vec<f32>, w_hh: Vec<f32>, b_ih: Vec<f32>, b_hh: Vec<f32>) -> Result<Self> {
        let gh = desc.gate_rows();
        check_len("W_ih", gh * desc.input_size(), w_ih.len())?;
        check_len("W_hh", gh * desc.hidden_size(), w_hh.len())?;
        check_len("b_ih", gh, b_ih.len())?;
        check_len("b_hh", gh, b_hh.len())?;
        Ok(Self {
            desc: *desc,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        })
    }

    /// Fills every parameter uniformly in `[-1/sqrt(H), 1/sqrt(H)]` as PyTorch does, from a
    /// small deterministic generator seeded by `seed`.
    pub fn init_uniform(desc: &LayerDesc, seed: u64) -> Self {
        let mut w = Self::zeros(desc);
        let bound = 1.0 / (desc.hidden_size() as f32).sqrt();
        let mut rng = crate::rng::SplitMix64::new(seed);
        for v in w.buffers_mut() {
            for x in v.iter_mut() {
                *x = bound * (2.0 * rng.next_f32() - 1.0);
            }
        }
        w
    }

    /// The layer this belongs to.
    pub fn desc(&self) -> &LayerDesc {
        &self.desc
    }
    /// `W_ih`, `[G*H, I]` row-major.
    pub fn w_ih(&self) -> &[f32] {
        &self.w_ih
    }
    /// `W_hh`, `[G*H, H]` row-major.
    pub fn w_hh(&self) -> &[f32] {
        &self.w_hh
    }
    /// `b_ih`, `[G*H]`.
    pub fn b_ih(&self) -> &[f32] {
        &self.b_ih
    }
    /// `b_hh`, `[G*H]`.
    pub fn b_hh(&self) -> &[f32] {
        &self.b_hh
    }

    /// The four buffers in the order `W_ih, W_hh, b_ih, b_hh`, mutable (lengths are fixed).
    pub fn buffers_mut(&mut self) -> [&mut [f32]; 4] {
        [&mut self.w_ih, &mut self.w_hh, &mut self.b_ih, &mut self.b_hh]
    }

    /// The four buffers in the order `W_ih, W_hh, b_ih, b_hh`.
    pub fn buffers(&self) -> [&[f32]; 4] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    /// Sets every element to 0 (used for gradient buffers).
    pub fn fill_zero(&mut self) {
        for b in self.buffers_mut() {
            b.fill(0.0);
        }
    }
}
