//! Inter-layer dropout of a stack in training (PyTorch's `dropout` argument of
//! `nn.LSTM/GRU/RNN`): each element of the output of every layer but the last is zeroed with
//! probability `p` and the rest scaled by `1/(1-p)`, with masks drawn from a caller-owned,
//! seeded generator and kept for backward.

use crate::error::{Error, Result};

/// The dropout probabilities of [`crate::Stack::forward_train_dropout`], each in `[0, 1)`
/// (0: off).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dropout {
    /// On the output of every layer but the last (PyTorch's `dropout`).
    pub between_layers: f32,
    /// Recurrent (variational) dropout in every layer-direction: one `[N, H]` mask per call,
    /// the same at every step (see [`crate::SeqInput::recurrent_mask`]).
    pub recurrent: f32,
}
use crate::rng::SplitMix64;

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
