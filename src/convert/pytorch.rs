//! PyTorch `nn.LSTM` / `nn.GRU` / `nn.RNN` `state_dict`s stored as safetensors files.
//!
//! Made in Python with
//!
//! ```python
//! from safetensors.torch import save_file
//! save_file(model.state_dict(), "lstm.safetensors")   # model = nn.LSTM(I, H, num_layers=2, bidirectional=True)
//! ```
//!
//! and read here by parameter name: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
//! `bias_hh_l{k}`, with the suffix `_reverse` for the backward direction. `I` and `H` come
//! from the shapes; absent biases (`bias=False`) become zeros. Only `f32` tensors are read.
//! The cell is not stored in a `state_dict`, so it is given: [`Cell::Lstm`],
//! `Cell::Gru(GruVariant::LinearBeforeReset)` (PyTorch's GRU) or `Cell::Rnn(..)` with the
//! module's `nonlinearity`.
//!
//! ```no_run
//! use fusedrnn::{convert::pytorch, Cell, Layer};
//! let w = pytorch::load_state_dict("lstm.safetensors".as_ref(), Cell::Lstm, 2, true)?;
//! // [l0, l0_reverse, l1, l1_reverse]
//! let layers: Vec<Layer> = w.into_iter().map(Layer::new).collect();
//! # Ok::<(), fusedrnn::Error>(())
//! ```
//!
//! LSTM projections (`proj_size > 0`) are read from `weight_hr_l{k}` (`[P, H]`); `P` comes
//! from its shape, and `weight_hh_l{k}` is then `[4H, P]`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::param_err;
use crate::desc::{Cell, GruVariant, LayerDesc};
use crate::error::{Error, Result};
use crate::weights::Weights;

/// The stems of the parameters of one layer-direction, in [`Weights::buffers`] order.
const STEMS: [&str; 4] = ["weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"];
/// LSTM projection weights `[P, H]`.
const PROJ_STEM: &str = "weight_hr_l";
const REVERSE: &str = "_reverse";

/// The name PyTorch gives parameter `stem` of layer `layer`, direction `dir` (0 forward, 1
/// reverse).
fn param_name(stem: &str, layer: usize, dir: usize) -> String {
    format!("{stem}{layer}{}", if dir == 1 { REVERSE } else { "" })
}

/// If `name` is a recurrent-layer parameter (`weight_ih_l3_reverse`, ...), its stem, layer
/// and whether it is of the reverse direction; `None` for any other name.
fn parse_name(name: &str) -> Option<(&'static str, usize, bool)> {
    for stem in STEMS.iter().copied().chain([PROJ_STEM]) {
        let Some(rest) = name.strip_prefix(stem) else {
            continue;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (num, tail) = rest.split_at(digits);
        let Ok(layer) = num.parse::<usize>() else {
            continue;
        };
        match tail {
            "" => return Some((stem, layer, false)),
            REVERSE => return Some((stem, layer, true)),
            _ => {}
        }
    }
    None
}

/// Checks the arguments shared by loading and saving.
fn check_cell(cell: Cell) -> Result<()> {
    if cell == Cell::Gru(GruVariant::ResetBeforeLinear) {
        return Err(Error::InvalidValue {
            what: "cell",
            why: "PyTorch's nn.GRU is linear-before-reset: use GruVariant::LinearBeforeReset",
        });
    }
    Ok(())
}

/// Reads the weights of an `nn.LSTM` / `nn.GRU` / `nn.RNN` with `num_layers` layers (and both
/// directions when `bidirectional`) from the safetensors file at `path`. See
/// [`load_state_dict_bytes_prefixed`] for the rules and errors.
pub fn load_state_dict(path: &Path, cell: Cell, num_layers: usize, bidirectional: bool) -> Result<Vec<Weights>> {
    let bytes =
        std::fs::read(path).map_err(|e| param_err("state_dict", format!("cannot read {}: {e}", path.display())))?;
    load_state_dict_bytes(&bytes, cell, num_layers, bidirectional)
}

/// As [`load_state_dict`], from the bytes of a safetensors file.
pub fn load_state_dict_bytes(bytes: &[u8], cell: Cell, num_layers: usize, bidirectional: bool) -> Result<Vec<Weights>> {
    load_state_dict_bytes_prefixed(bytes, "", cell, num_layers, bidirectional)
}

/// As [`load_state_dict_bytes`], for a `state_dict` of a larger module whose recurrent layer's
/// parameters are named `{prefix}weight_ih_l0` etc. (`prefix = "encoder.rnn."` for
/// `self.encoder.rnn = nn.LSTM(...)`); names without the prefix are ignored.
///
/// Returns `L * D` [`Weights`] in PyTorch's order `[l0, l0_reverse, l1, l1_reverse, ...]`.
/// `H` is read from `weight_hh_l0`, `I` from `weight_ih_l0`; layer `l > 0` must read `D*H`
/// features.
///
/// Errors ([`Error::Param`] names the parameter as stored, prefix included):
/// - the bytes are not a safetensors file;
/// - a weight is missing, or one of the two biases of a layer-direction is missing while the
///   other is present;
/// - a parameter is not `f32`, or its shape is not the expected one (the message gives both);
/// - a recurrent parameter for a layer `>= num_layers`, or a `_reverse` one when not
///   `bidirectional` (the model has more layers or directions than asked for);
/// - `weight_hr_l{k}` (LSTM projection) on a cell other than the LSTM, or on some
///   layer-directions and not others;
/// - `num_layers == 0` ([`Error::ZeroSize`]) or `Cell::Gru(ResetBeforeLinear)`
///   ([`Error::InvalidValue`]: PyTorch's GRU is linear-before-reset).
pub fn load_state_dict_bytes_prefixed(
    bytes: &[u8],
    prefix: &str,
    cell: Cell,
    num_layers: usize,
    bidirectional: bool,
) -> Result<Vec<Weights>> {
    if num_layers == 0 {
        return Err(Error::ZeroSize { what: "num_layers" });
    }
    check_cell(cell)?;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| param_err("state_dict", format!("not a readable safetensors file: {e}")))?;
    let dirs = if bidirectional { 2 } else { 1 };

    // Refuse what would be silently dropped: projections, more layers or directions.
    let mut names: Vec<&str> = st.names().into_iter().filter(|n| n.starts_with(prefix)).collect();
    names.sort_unstable();
    for full in names {
        let Some((stem, layer, reverse)) = parse_name(&full[prefix.len()..]) else {
            continue;
        };
        if stem == PROJ_STEM && cell != Cell::Lstm {
            return Err(param_err(full, "a projection (proj_size > 0) exists only for nn.LSTM"));
        }
        if layer >= num_layers || (reverse && !bidirectional) {
            return Err(param_err(
                full,
                format!(
                    "not expected for num_layers = {num_layers}, bidirectional = {bidirectional} \
                     (the model has more layers or directions)"
                ),
            ));
        }
    }

    let g = cell.gates();
    let get = |stem: &str, layer: usize, dir: usize| -> Result<Option<Tensor>> {
        let name = format!("{prefix}{}", param_name(stem, layer, dir));
        read_tensor(&st, &name)
    };
    let require = |stem: &str, layer: usize, dir: usize| -> Result<Tensor> {
        get(stem, layer, dir)?.ok_or_else(|| {
            param_err(
                format!("{prefix}{}", param_name(stem, layer, dir)),
                "missing from the state_dict",
            )
        })
    };

    // H from weight_hh_l0 [G*H, H] ([4H, P] with a projection, P from weight_hr_l0 [P, H]),
    // I from weight_ih_l0 [G*H, I].
    let hh0 = require(STEMS[1], 0, 0)?;
    let hr0 = get(PROJ_STEM, 0, 0)?;
    let (h, proj) = match (&hr0, &hh0.shape[..]) {
        (None, &[rows, cols]) if cols > 0 && rows == g * cols => (cols, None),
        (Some(hr), &[rows, cols]) if cols > 0 && rows > 0 && rows % g == 0 && hr.shape == [cols, rows / g] => {
            (rows / g, Some(cols))
        }
        (None, _) => {
            return Err(param_err(
                hh0.name,
                format!("expected shape [{g}*H, H] for {cell:?}, got {:?}", hh0.shape),
            ))
        }
        (Some(hr), _) => {
            return Err(param_err(
                hh0.name,
                format!(
                    "expected shape [4*H, P] with {} of shape [P, H], got {:?} and {:?}",
                    hr.name, hh0.shape, hr.shape
                ),
            ))
        }
    };
    let hw = proj.unwrap_or(h);
    let ih0 = require(STEMS[0], 0, 0)?;
    let i = match ih0.shape[..] {
        [rows, cols] if cols > 0 && rows == g * h => cols,
        _ => {
            return Err(param_err(
                ih0.name,
                format!("expected shape [{}, I], got {:?}", g * h, ih0.shape),
            ))
        }
    };

    let mut out = Vec::new();
    for layer in 0..num_layers {
        let input = if layer == 0 { i } else { dirs * hw };
        let mut desc = LayerDesc::new(cell, input, h)?;
        if let Some(p) = proj {
            desc = desc.with_proj_size(p)?;
        }
        for dir in 0..dirs {
            let w_ih = require(STEMS[0], layer, dir)?.expect_shape(&[g * h, input])?;
            let w_hh = require(STEMS[1], layer, dir)?.expect_shape(&[g * h, hw])?;
            let w_hr = match (proj, get(PROJ_STEM, layer, dir)?) {
                (Some(p), Some(t)) => Some(t.expect_shape(&[p, h])?),
                (Some(_), None) => {
                    return Err(param_err(
                        format!("{prefix}{}", param_name(PROJ_STEM, layer, dir)),
                        "missing from the state_dict (weight_hr_l0 is present)",
                    ))
                }
                (None, Some(t)) => {
                    return Err(param_err(
                        t.name,
                        "not expected: weight_hr_l0 is absent (proj_size = 0)",
                    ))
                }
                (None, None) => None,
            };
            let lone_bias = |missing: &str, present: Tensor| {
                param_err(
                    format!("{prefix}{}", param_name(missing, layer, dir)),
                    format!("missing while {} is present", present.name),
                )
            };
            let (b_ih, b_hh) = match (get(STEMS[2], layer, dir)?, get(STEMS[3], layer, dir)?) {
                (Some(bi), Some(bh)) => (bi.expect_shape(&[g * h])?, bh.expect_shape(&[g * h])?),
                (None, None) => (vec![0.0; g * h], vec![0.0; g * h]),
                (Some(bi), None) => return Err(lone_bias(STEMS[3], bi)),
                (None, Some(bh)) => return Err(lone_bias(STEMS[2], bh)),
            };
            out.push(Weights::new_lstm(&desc, w_ih, w_hh, b_ih, b_hh, w_hr, None)?);
        }
    }
    Ok(out)
}

/// One `f32` tensor read from a safetensors file.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// The data, if the shape is `expected`.
    fn expect_shape(self, expected: &[usize]) -> Result<Vec<f32>> {
        if self.shape != expected {
            return Err(param_err(
                self.name,
                format!("expected shape {expected:?}, got {:?}", self.shape),
            ));
        }
        Ok(self.data)
    }
}

/// The tensor `name` as `f32`, `None` when absent.
fn read_tensor(st: &SafeTensors<'_>, name: &str) -> Result<Option<Tensor>> {
    let view = match st.tensor(name) {
        Ok(v) => v,
        Err(safetensors::SafeTensorError::TensorNotFound(_)) => return Ok(None),
        Err(e) => return Err(param_err(name, e.to_string())),
    };
    if view.dtype() != Dtype::F32 {
        return Err(param_err(
            name,
            format!("dtype {:?}: only F32 tensors are supported", view.dtype()),
        ));
    }
    let data = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Some(Tensor {
        name: name.to_owned(),
        shape: view.shape().to_vec(),
        data,
    }))
}

/// Writes `weights` (`[l0, l0_reverse, l1, ...]`, as [`load_state_dict`] returns them) as a
/// safetensors `state_dict` that `model.load_state_dict(safetensors.torch.load_file(path))`
/// reads into an `nn.LSTM/GRU/RNN(I, H, num_layers = len / D, bidirectional)` with
/// `bias=True` (the biases are always written). See [`save_state_dict_bytes`] for the errors.
pub fn save_state_dict(path: &Path, weights: &[Weights], bidirectional: bool) -> Result<()> {
    let bytes = save_state_dict_bytes(weights, bidirectional)?;
    std::fs::write(path, bytes).map_err(|e| param_err("state_dict", format!("cannot write {}: {e}", path.display())))
}

/// As [`save_state_dict`], returning the file's bytes.
///
/// Errors ([`Error::InvalidValue`] on `weights`) unless the layers form a PyTorch module:
/// at least one layer, a whole number of layers (`len` divisible by `D`), one cell and one `H`
/// throughout, layer `l > 0` reading `D*H` features; and `Cell::Gru(ResetBeforeLinear)`, which
/// PyTorch does not implement, is refused.
pub fn save_state_dict_bytes(weights: &[Weights], bidirectional: bool) -> Result<Vec<u8>> {
    let dirs = if bidirectional { 2 } else { 1 };
    let first = weights.first().ok_or(Error::Missing { what: "weights" })?.desc();
    check_cell(first.cell())?;
    if !weights.len().is_multiple_of(dirs) {
        return Err(Error::InvalidValue {
            what: "weights",
            why: "a bidirectional module needs an even number of layer-directions",
        });
    }
    let (h, hw) = (first.hidden_size(), first.output_size());
    for (k, w) in weights.iter().enumerate() {
        let d = w.desc();
        if d.cell() != first.cell() || d.hidden_size() != h || d.proj_size() != first.proj_size() {
            return Err(Error::InvalidValue {
                what: "weights",
                why: "every layer must have the same cell, hidden size and projection",
            });
        }
        if d.peepholes() || d.clip().is_some() || d.cell_clip().is_some() || d.input_forget() || d.layer_norm() {
            return Err(Error::InvalidValue {
                what: "weights",
                why: "nn.LSTM has no peepholes, clipping, input_forget or layer normalization",
            });
        }
        let layer = k / dirs;
        let input = if layer == 0 { first.input_size() } else { dirs * hw };
        if d.input_size() != input {
            return Err(Error::InvalidValue {
                what: "weights",
                why: "layer l > 0 must read D*H features and both directions of a layer the same input",
            });
        }
    }

    let gh = first.gate_rows();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(4 * weights.len());
    for (k, w) in weights.iter().enumerate() {
        let (layer, dir) = (k / dirs, k % dirs);
        let shapes = [vec![gh, w.desc().input_size()], vec![gh, hw], vec![gh], vec![gh]];
        for ((stem, shape), buf) in STEMS.iter().zip(shapes).zip(w.buffers()) {
            let bytes = buf.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((param_name(stem, layer, dir), shape, bytes));
        }
        if let Some(p) = w.desc().proj_size() {
            let bytes = w.w_hr().iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((param_name(PROJ_STEM, layer, dir), vec![p, h], bytes));
        }
    }
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| param_err(name.as_str(), e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize(views, Some(meta)).map_err(|e| param_err("state_dict", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_parser() {
        assert_eq!(param_name("weight_ih_l", 0, 0), "weight_ih_l0");
        assert_eq!(param_name("bias_hh_l", 12, 1), "bias_hh_l12_reverse");
        assert_eq!(parse_name("bias_hh_l12_reverse"), Some(("bias_hh_l", 12, true)));
        assert_eq!(parse_name("weight_hh_l3"), Some(("weight_hh_l", 3, false)));
        assert_eq!(parse_name("weight_hr_l0"), Some((PROJ_STEM, 0, false)));
        for other in [
            "fc.weight",
            "weight_ih_l",
            "weight_ih_lx",
            "weight_ih_l0_rev",
            "bias_ih",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn saved_tensors_have_pytorch_names_and_shapes() {
        let d0 = LayerDesc::new(Cell::Rnn(crate::desc::Activation::Tanh), 3, 2).unwrap();
        let d1 = LayerDesc::new(d0.cell(), 2, 2).unwrap();
        let w = vec![Weights::init_uniform(&d0, 1), Weights::init_uniform(&d1, 2)];
        let bytes = save_state_dict_bytes(&w, false).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "bias_hh_l0",
                "bias_hh_l1",
                "bias_ih_l0",
                "bias_ih_l1",
                "weight_hh_l0",
                "weight_hh_l1",
                "weight_ih_l0",
                "weight_ih_l1"
            ]
        );
        assert_eq!(st.tensor("weight_ih_l0").unwrap().shape(), [2, 3]);
        assert_eq!(st.tensor("weight_ih_l1").unwrap().shape(), [2, 2]);
        let t = read_tensor(&st, "weight_ih_l0").unwrap().unwrap();
        assert_eq!(t.data, w[0].w_ih());
    }
}
