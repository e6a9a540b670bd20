//! A small public hook on the packed kernels for the benchmarks in `benches/` (not API: hidden
//! from the docs and free to change).

use super::pack::Packed;
use super::packed::{self, PlainGemm};
use super::par::SyncMutPtr;

/// `B` `[K, N]` row-major, packed once for repeated products `C = A · B`.
#[derive(Debug)]
pub struct PackedB {
    b: Packed,
    n: usize,
}

impl PackedB {
    /// Packs `b` (`[k, n]` row-major).
    pub fn new(b: &[f32], k: usize, n: usize) -> Self {
        Self {
            b: Packed::plain(b, k, n),
            n,
        }
    }

    /// `c = a · B` with `a` `[m, K]` and `c` `[m, N]` row-major, on the current thread.
    pub fn matmul(&self, m: usize, a: &[f32], c: &mut [f32]) {
        assert!(a.len() >= m * self.b.k() && c.len() >= m * self.n);
        // SAFETY: `c` is exclusively borrowed and only this thread writes it.
        let cp = unsafe { SyncMutPtr::new(c.as_mut_ptr()) };
        let g = PlainGemm {
            m,
            a,
            lda: self.b.k(),
            b: &self.b,
            h: self.n,
            beta: 0.0,
            c: cp,
            ldc: self.n,
        };
        packed::plain(&g, 0..self.b.blocks());
    }
}
