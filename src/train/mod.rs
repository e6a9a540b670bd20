//! Small training pieces built on the layers: an [`Adam`] optimizer, a [`Dense`] output head,
//! gradient clipping ([`clip_grad_norm`], [`clip_grad_value`]), a [`LayerStack`] of recurrent layers
//! and a sequence-to-vector regressor [`Seq2Vec`] that ties them together.
//!
//! Everything here runs on the calling thread in a fixed order (the recurrent layers it calls
//! are themselves thread-count independent), so training is bitwise reproducible from a seed
//! whatever the size of the rayon pool. `examples/forecast.rs` trains RNN, LSTM and GRU
//! forecasters with it.
//!
//! ```
//! use fusedrnn::{Cell, SeqShape};
//! use fusedrnn::train::{Adam, Seq2Vec};
//! // Two LSTM layers of 16 units and a head predicting 3 values from a 1-feature sequence.
//! let mut model = Seq2Vec::new(Cell::Lstm, 1, &[16, 16], 3, 42)?;
//! let mut opt = Adam::new(1e-3);
//! let shape = SeqShape::new(10, 4);                  // T = 10 steps, N = 4 sequences
//! let x = vec![0.1f32; 10 * 4];                      // [T, N, 1]
//! let y = vec![0.2f32; 4 * 3];                       // [N, 3]
//! let stats = model.train_step(shape, &x, &y, &mut opt, Some(1.0))?;
//! assert!(stats.loss.is_finite());
//! # Ok::<(), fusedrnn::Error>(())
//! ```

mod adam;
mod clip;
mod dense;
mod seq2vec;
mod stack;

pub use adam::Adam;
pub use clip::{clip_grad_norm, clip_grad_value, global_norm};
pub use dense::Dense;
pub use seq2vec::{Seq2Vec, StepStats};
pub use stack::LayerStack;

/// A dropout mask of `len` elements: 0 with probability `p` (in `[0, 1)`), else `1/(1-p)`,
/// drawn from `rng` in order (for `SeqInput::recurrent_mask`, one `[N, H]` mask per sequence
/// batch and layer).
pub fn dropout_mask(len: usize, p: f32, rng: &mut crate::rng::SplitMix64) -> crate::Result<Vec<f32>> {
    crate::api::dropout::check_p(p)?;
    Ok(crate::api::dropout::mask(len, p, rng))
}
