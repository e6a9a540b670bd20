//! `C = beta * C + A · B` with `B` packed once ([`Packed::plain`]): the per-step products of
//! backpropagation (`dh_{t-1} = dG_t · W_hh`), which a general GEMM would repack every step.

use std::ops::Range;
use std::slice;

use super::pack::{Packed, UNITS, WIDE};
use super::par::SyncMutPtr;
use super::tile::{tile, tile_rows};
use crate::simd::{isa_dispatch, Vf32};

/// The operands of one product; `C` is shared by the threads, each writing its own columns.
pub(crate) struct PlainGemm<'a> {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// `A` `[m, K]` with leading dimension `lda`.
    pub a: &'a [f32],
    pub lda: usize,
    /// `B` `[K, H]` packed.
    pub b: &'a Packed,
    /// Output columns `H`.
    pub h: usize,
    /// 0 (overwrite) or 1 (add).
    pub beta: f32,
    /// `C` `[m, H]` with leading dimension `ldc`.
    pub c: SyncMutPtr,
    pub ldc: usize,
    /// Visit the blocks from the last (alternated step by step: a step starts on the panels
    /// the one before read last, which are still in L2).
    pub reverse: bool,
}

/// Rows `r0..r0+MR`, block `b`.
///
/// # Safety
/// `g.c` points at `m * ldc` writable elements; no other thread writes block `b`'s columns.
#[inline(always)]
unsafe fn rows<V: Vf32, const MR: usize>(g: &PlainGemm<'_>, b: usize, r0: usize) {
    let k = g.b.k();
    let acc = tile::<V, MR, WIDE>(k, &g.a[r0 * g.lda..], g.lda, g.b.panel(b));
    for (r, a) in acc.iter().enumerate() {
        for (half, v) in a.iter().enumerate() {
            let col = (b * WIDE + half) * UNITS;
            if col >= g.h {
                continue;
            }
            let len = UNITS.min(g.h - col);
            // SAFETY: row r0 + r < m, columns col..col+len < h <= ldc (caller).
            let dst = unsafe { slice::from_raw_parts_mut(g.c.get().add((r0 + r) * g.ldc + col), len) };
            let v = if g.beta == 0.0 { *v } else { *v + V::load_part(dst) };
            v.store_part(dst);
        }
    }
}

#[inline(always)]
fn plain_g<V: Vf32>(g: &PlainGemm<'_>, blocks: Range<usize>) {
    assert!(g.m == 0 || (g.m - 1) * g.lda + g.b.k() <= g.a.len());
    assert!(g.ldc >= g.h && g.b.vecs() == WIDE && g.b.gates_out() == 1);
    for b in super::ordered(blocks, g.reverse) {
        // SAFETY: `PlainGemm::c` is valid for `m * ldc` elements and blocks are disjoint per
        // thread (the contract of `SyncMutPtr` the creator took on).
        tile_rows!(V, g.m, 3, 14, |MR, r0| unsafe { rows::<V, MR>(g, b, r0) });
    }
}

isa_dispatch!(
    /// `C[:, blocks] = beta * C + A · B` for the 32-unit column blocks `blocks`.
    pub(crate) fn plain => plain_g(g: &PlainGemm<'_>, blocks: Range<usize>)
);
