//! Fused gate math for one time step over the `N` rows of a batch, forward and backward.
//!
//! Each function takes the step's buffers row-major: `[N, G*H]` gate buffers (blocks in the
//! cell's gate order) and `[N, H]` state buffers. The matrix products around them are the
//! driver's; these passes read each element once and write each result once.

pub(crate) mod gru;
pub(crate) mod lstm;
pub(crate) mod rnn;

use crate::simd::portable::LANES;

/// Calls `f(j, len)` for `j = 0, 8, 16, ...` below `h`, with `len = min(8, h - j)`.
#[inline(always)]
pub(crate) fn lanes(h: usize, mut f: impl FnMut(usize, usize)) {
    let mut j = 0;
    while j < h {
        f(j, LANES.min(h - j));
        j += LANES;
    }
}
