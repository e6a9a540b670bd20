//! The parameters of one layer (and, with the same layout, their gradients).

use crate::desc::LayerDesc;
use crate::error::{check_len, Error, Result};

/// The parameters of one layer in PyTorch's layout, so they copy straight from
/// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}` and `bias_hh_l{k}`.
///
/// | buffer | shape | layout |
/// |---|---|---|
/// | `w_ih` | `[G*H, I]` | row-major; row `gate*H + j` holds the weights of unit `j` of that gate |
/// | `w_hh` | `[G*H, H]` | row-major, same row order |
/// | `b_ih` | `[G*H]`    | |
/// | `b_hh` | `[G*H]`    | |
/// | `w_hr` | `[P, H]`   | LSTM projection only (`weight_hr_l{k}`), row-major |
/// | `peepholes` | `[3H]` | LSTM peepholes only: `p_i, p_f, p_o`, `H` each, in that order |
/// | `layer_norm` | `[18H]` / `[12H]` | layer-normalized LSTM: `γ_x, β_x, γ_h, β_h` (`[4H]` each, gate order), then `γ_c, β_c` (`[H]` each); GRU: `γ_x, β_x, γ_h, β_h` (`[3H]` each) |
///
/// With an LSTM projection `W_hh` is `[4H, P]` (it multiplies the `P`-wide `h`).
/// Gate blocks are in the order `i, f, g, o` (LSTM), `r, z, n` (GRU) or the single block of
/// a simple RNN (see [`crate::Cell`]). The same type holds gradients (`dW_ih`, `dW_hh`,
/// `db_ih`, `db_hh`, `dW_hr`, `dp`) with the same layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    desc: LayerDesc,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
    /// `[P, H]`, empty without a projection.
    w_hr: Vec<f32>,
    /// `[3H]` (`i, f, o`), empty without peepholes.
    peep: Vec<f32>,
    /// `[18H]` layer-normalization gains and biases, empty without layer normalization.
    ln: Vec<f32>,
}

impl Weights {
    /// All-zero parameters (or a zeroed gradient buffer) for `desc`.
    pub fn zeros(desc: &LayerDesc) -> Self {
        let gh = desc.gate_rows();
        let h = desc.hidden_size();
        Self {
            desc: *desc,
            w_ih: vec![0.0; gh * desc.input_size()],
            w_hh: vec![0.0; gh * desc.output_size()],
            b_ih: vec![0.0; gh],
            b_hh: vec![0.0; gh],
            w_hr: vec![0.0; desc.proj_size().map_or(0, |p| p * h)],
            peep: vec![0.0; if desc.peepholes() { 3 * h } else { 0 }],
            ln: vec![0.0; desc.layer_norm_len()],
        }
    }

    /// Takes ownership of the four buffers after checking their lengths against `desc`. For
    /// an LSTM with a projection or peepholes, use [`Weights::new_lstm`].
    pub fn new(desc: &LayerDesc, w_ih: Vec<f32>, w_hh: Vec<f32>, b_ih: Vec<f32>, b_hh: Vec<f32>) -> Result<Self> {
        Self::new_lstm(desc, w_ih, w_hh, b_ih, b_hh, None, None)
    }

    /// As [`Weights::new`], with the projection `W_hr` (`[P, H]`) and the peepholes
    /// (`[3H]`, `p_i, p_f, p_o`) that `desc` calls for (each `None` when it does not).
    pub fn new_lstm(
        desc: &LayerDesc,
        w_ih: Vec<f32>,
        w_hh: Vec<f32>,
        b_ih: Vec<f32>,
        b_hh: Vec<f32>,
        w_hr: Option<Vec<f32>>,
        peepholes: Option<Vec<f32>>,
    ) -> Result<Self> {
        let gh = desc.gate_rows();
        let h = desc.hidden_size();
        check_len("W_ih", gh * desc.input_size(), w_ih.len())?;
        check_len("W_hh", gh * desc.output_size(), w_hh.len())?;
        check_len("b_ih", gh, b_ih.len())?;
        check_len("b_hh", gh, b_hh.len())?;
        let w_hr = match (desc.proj_size(), w_hr) {
            (Some(p), Some(v)) => check_len("W_hr", p * h, v.len()).map(|_| v)?,
            (Some(_), None) => return Err(Error::Missing { what: "W_hr" }),
            (None, Some(_)) => return Err(Error::Unexpected { what: "W_hr" }),
            (None, None) => Vec::new(),
        };
        let peep = match (desc.peepholes(), peepholes) {
            (true, Some(v)) => check_len("peepholes", 3 * h, v.len()).map(|_| v)?,
            (true, None) => return Err(Error::Missing { what: "peepholes" }),
            (false, Some(_)) => return Err(Error::Unexpected { what: "peepholes" }),
            (false, None) => Vec::new(),
        };
        Ok(Self {
            desc: *desc,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            w_hr,
            peep,
            ln: ln_identity(desc),
        })
    }

    /// Sets the layer-normalization gains and biases (`[18H]`, see the table above); a new
    /// layer-normalized layer starts with the identity (`γ = 1`, `β = 0`).
    pub fn set_layer_norm(&mut self, params: &[f32]) -> Result<()> {
        if !self.desc.layer_norm() {
            return Err(Error::Unexpected { what: "layer_norm" });
        }
        check_len("layer_norm", self.ln.len(), params.len())?;
        self.ln.copy_from_slice(params);
        Ok(())
    }

    /// Fills every parameter uniformly in `[-1/sqrt(H), 1/sqrt(H)]` as PyTorch does, from a
    /// small deterministic generator seeded by `seed`.
    pub fn init_uniform(desc: &LayerDesc, seed: u64) -> Self {
        let mut w = Self::zeros(desc);
        let bound = 1.0 / (desc.hidden_size() as f32).sqrt();
        let mut rng = crate::rng::SplitMix64::new(seed);
        for v in w.all_buffers_mut() {
            for x in v.iter_mut() {
                *x = bound * (2.0 * rng.next_f32() - 1.0);
            }
        }
        w.ln = ln_identity(desc);
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
    /// `W_hh`, `[G*H, H]` row-major (`[4H, P]` with a projection).
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

    /// `W_hr`, `[P, H]` row-major (empty without a projection).
    pub fn w_hr(&self) -> &[f32] {
        &self.w_hr
    }
    /// The peepholes `[3H]`: `p_i, p_f, p_o` (empty without peepholes).
    pub fn peepholes(&self) -> &[f32] {
        &self.peep
    }

    /// The layer-normalization gains and biases `[18H]` (empty without layer normalization).
    pub fn layer_norm(&self) -> &[f32] {
        &self.ln
    }

    /// Every buffer the layer has, in the order `W_ih, W_hh, b_ih, b_hh`, then `W_hr`, the
    /// peepholes and the layer-normalization parameters when it has them (what an optimizer
    /// or a gradient clip walks over).
    pub fn all_buffers(&self) -> Vec<&[f32]> {
        let mut v: Vec<&[f32]> = self.buffers().to_vec();
        v.extend(
            [&self.w_hr[..], &self.peep[..], &self.ln[..]]
                .into_iter()
                .filter(|b| !b.is_empty()),
        );
        v
    }

    /// [`Weights::all_buffers`], mutable (lengths are fixed).
    pub fn all_buffers_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = vec![&mut self.w_ih, &mut self.w_hh, &mut self.b_ih, &mut self.b_hh];
        v.extend(
            [&mut self.w_hr[..], &mut self.peep[..], &mut self.ln[..]]
                .into_iter()
                .filter(|b| !b.is_empty()),
        );
        v
    }

    /// The layer-normalization parameters, mutable.
    pub(crate) fn layer_norm_mut(&mut self) -> &mut [f32] {
        &mut self.ln
    }

    /// `W_hr` and the peepholes, mutable.
    pub(crate) fn lstm_extra_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        (&mut self.w_hr, &mut self.peep)
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
        for b in self.all_buffers_mut() {
            b.fill(0.0);
        }
    }
}

/// `γ = 1, β = 0` for every layer normalization of `desc` (empty without).
fn ln_identity(desc: &LayerDesc) -> Vec<f32> {
    let h = desc.hidden_size();
    let mut v = vec![0.0; desc.layer_norm_len()];
    if v.len() == 18 * h {
        for r in [0..4 * h, 8 * h..12 * h, 16 * h..17 * h] {
            v[r].fill(1.0);
        }
    } else if v.len() == 12 * h {
        for r in [0..3 * h, 6 * h..9 * h] {
            v[r].fill(1.0);
        }
    }
    v
}
