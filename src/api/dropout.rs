//! Dropout of a stack in training: between layers (PyTorch's `dropout` argument of
//! `nn.LSTM/GRU/RNN`: each element of the output of every layer but the last is zeroed with
//! probability `p` and the rest scaled by `1/(1-p)`), and variational dropout on each
//! layer-direction's recurrent state and input (Keras `recurrent_dropout` and `dropout`), with
//! masks drawn from a caller-owned, seeded generator and kept for backward.

use crate::error::{Error, Result};

/// The dropout probabilities of [`crate::Stack::forward_train_dropout`], each in `[0, 1)`
/// (0: off). Every mask element is 0 with probability `p`, else `1/(1-p)`.
///
/// Masks are drawn layer by layer, in this order within layer `l`: its recurrent masks
/// (direction by direction), then its input masks (direction by direction), then the mask on
/// its output (when `l` is not the last layer). A kind whose probability is 0 draws nothing,
/// so with `input == 0` a seed gives the masks it gave before input dropout existed.
///
/// ```
/// use fusedrnn::Dropout;
/// // PyTorch's dropout=0.2 between layers, Keras' recurrent_dropout=0.1 and dropout=0.3.
/// let d = Dropout { between_layers: 0.2, recurrent: 0.1, input: 0.3 };
/// assert_eq!(Dropout { recurrent: 0.1, ..Dropout::default() }.input, 0.0);
/// # let _ = d;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dropout {
    /// On the output of every layer but the last (PyTorch's `dropout`): one `[T, N, W]` mask
    /// per layer but the last ([`crate::StackWorkspace::dropout_masks`]).
    pub between_layers: f32,
    /// Recurrent (variational) dropout in every layer-direction: one `[N, H]` (`[N, P]`) mask
    /// per call, the same at every step (see [`crate::SeqInput::recurrent_mask`];
    /// [`crate::StackWorkspace::recurrent_masks`]).
    pub recurrent: f32,
    /// Input (variational) dropout in every layer-direction (Keras `dropout` of each LSTM/GRU
    /// layer): one `[N, I_l]` mask per call, `I_l` the width the layer reads (the stack's
    /// input size for layer 0, `W` above), multiplying every step's input to that
    /// layer-direction, the same at every step (see [`crate::SeqInput::input_mask`];
    /// [`crate::StackWorkspace::input_masks`]). Each direction of a bidirectional layer draws
    /// its own. Above layer 0 it applies after the `between_layers` mask of the layer below.
    pub input: f32,
}
use crate::rng::SplitMix64;

impl Dropout {
    /// Checks every probability in `[0, 1)`.
    pub(crate) fn check(&self) -> Result<()> {
        check_p(self.between_layers)?;
        check_p(self.recurrent)?;
        check_p(self.input)
    }
}

/// Checks `p` in `[0, 1)`.
pub(crate) fn check_p(p: f32) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "dropout",
            why: "the probability must be in [0, 1)",
        })
    }
}

/// `len` mask values in draw order: 0 with probability `p`, else `1/(1-p)`.
pub(crate) fn mask(len: usize, p: f32, rng: &mut SplitMix64) -> Vec<f32> {
    let keep = 1.0 / (1.0 - p);
    (0..len).map(|_| if rng.next_f32() < p { 0.0 } else { keep }).collect()
}

/// `v *= mask`, elementwise.
pub(crate) fn apply(v: &mut [f32], mask: &[f32]) {
    for (a, m) in v.iter_mut().zip(mask) {
        *a *= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_scale_and_range() {
        let m = mask(100_000, 0.3, &mut SplitMix64::new(1));
        let zeros = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
        assert!((zeros - 0.3).abs() < 0.01, "{zeros}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        assert!(mask(10, 0.0, &mut SplitMix64::new(1)).iter().all(|&v| v == 1.0));
        assert!(check_p(1.0).is_err() && check_p(-0.1).is_err() && check_p(f32::NAN).is_err());
        assert!(check_p(0.0).is_ok() && check_p(0.99).is_ok());
    }
}
