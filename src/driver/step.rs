//! Splitting one time step's unit blocks across threads.

use std::ops::Range;

use crate::gemm::split;
use crate::simd::ftz::FlushDenormals;

/// Steps with fewer multiply-adds than this run on one thread: below it, waking a second
/// thread costs more than it saves.
const STEP_PAR_MIN_MACS: usize = 1 << 16;

/// Runs `f` over `0..blocks`, split into one contiguous range per thread when the step is
/// large enough. The split depends only on the block count and the pool size, and every
/// element is computed by one call in the same order, so results do not depend on threads.
pub(crate) fn on_blocks(blocks: usize, macs: usize, f: impl Fn(Range<usize>) + Sync) {
    let threads = rayon::current_num_threads();
    if threads <= 1 || blocks < 2 || macs < STEP_PAR_MIN_MACS {
        f(0..blocks);
        return;
    }
    let bounds = split(blocks, threads, 1);
    let f = &f;
    rayon::scope(|s| {
        for w in bounds.windows(2).skip(1) {
            let r = w[0]..w[1];
            s.spawn(move |_| {
                let _ftz = FlushDenormals::new();
                f(r)
            });
        }
        f(bounds[0]..bounds[1]);
    });
}
