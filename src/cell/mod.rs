//! Fused gate math for one time step over the `N` rows of a batch, forward and backward.
//!
//! Each function takes the step's buffers row-major: `[N, G*H]` gate buffers (blocks in the
//! cell's gate order) and `[N, H]` state buffers. The matrix products around them are the
//! driver's; these passes read each element once and write each result once.

pub(crate) mod fused;
pub(crate) mod gru;
pub(crate) mod ln_gru;
pub(crate) mod ln_lstm;
pub(crate) mod lstm;
pub(crate) mod lstm_ext;
pub(crate) mod rnn;

use crate::simd::Vf32;

/// Lanes per vector.
pub(crate) const LANES: usize = 8;

/// Runs `body` for `j = 0, 8, 16, ...` below `h`, with `len = min(8, h - j)`.
///
/// A macro, not a function taking a closure: a closure is compiled without the ISA's target
/// features unless it is inlined, and a large one (the LSTM-with-options passes) was not, so
/// every vector operation in it became a function call.
macro_rules! lanes {
    ($h:expr, |$j:ident, $len:ident| $body:expr) => {{
        let h: usize = $h;
        let mut $j = 0usize;
        while $j < h {
            let $len = $crate::cell::LANES.min(h - $j);
            $body;
            $j += $crate::cell::LANES;
        }
    }};
}
pub(crate) use lanes;

/// Loads `min(8, s.len())` elements (missing lanes 0).
#[inline(always)]
pub(crate) fn ld<V: Vf32>(s: &[f32]) -> V {
    V::load_part(s)
}

/// Stores the first `min(8, d.len())` lanes of `v`.
#[inline(always)]
pub(crate) fn st<V: Vf32>(v: V, d: &mut [f32]) {
    v.store_part(d)
}
