//! The input projection `gates = bias + X · W_ihᵀ` with `W_ih` packed once, for few rows
//! (streaming, batch 1), where a general GEMM would spend its time repacking `W_ih`.

use std::ops::Range;
use std::slice;

use super::pack::{Packed, UNITS};
use super::par::SyncMutPtr;
use super::tile::{tile, tile_rows};
use crate::simd::{isa_dispatch, Vf32};

/// The operands: `x` `[rows, I]`, `W_ihᵀ` packed gate-interleaved, `bias` `[G*H]`, and the
/// output `[rows, G*H]` (gate blocks of `H` columns), shared by threads by unit block.
pub(crate) struct Proj<'a> {
    pub rows: usize,
    pub x: &'a [f32],
    pub w: &'a Packed,
    pub bias: &'a [f32],
    pub h: usize,
    pub out: SyncMutPtr,
}

/// # Safety
/// `p.out` is valid for `rows * G * H` elements; no other thread writes block `b`.
#[inline(always)]
unsafe fn rows<V: Vf32, const MR: usize, const G: usize>(p: &Proj<'_>, b: usize, r0: usize) {
    let k = p.w.k();
    let gh = p.w.gates_out() * p.h;
    let acc = tile::<V, MR, G>(k, &p.x[r0 * k..], k, p.w.panel(b));
    for (r, a) in acc.iter().enumerate() {
        for (g, v) in a.iter().enumerate() {
            let (gate, u0, len) = p.w.out_units(b, g, p.h);
            if len == 0 {
                continue;
            }
            let col = gate * p.h + u0;
            // SAFETY: row r0 + r < rows, columns col..col+len inside the row (caller).
            let dst = unsafe { slice::from_raw_parts_mut(p.out.get().add((r0 + r) * gh + col), len) };
            (*v + V::load_part(&p.bias[col..col + len])).store_part(dst);
        }
    }
}

/// Rows per chunk: a chunk of `X` (48 × I floats) stays in L2 while every unit block of the
/// group passes over it. A multiple of the 256-bit tile heights (2 and 3); the 512-bit tiles
/// split it evenly.
const ROW_CHUNK: usize = 48;

/// Packed panels per group, about 512 KiB: the group's panels stay in L2 while every row chunk
/// of `X` streams past them, so `W_ih` is read from memory once per call rather than once per
/// row chunk.
const GROUP_BYTES: usize = 512 << 10;

/// Unit blocks per group of [`GROUP_BYTES`] for the packed `w`: ranges of whole groups keep
/// the blocking of a call over the whole range.
pub(crate) fn group_blocks(w: &Packed) -> usize {
    (GROUP_BYTES / (w.k() * w.vecs() * UNITS * 4).max(1)).max(1)
}

/// Unit blocks handed to a thread at a time (see `Team::on_blocks_balanced`) when `threads`
/// share the projection by `w`: at most a group of [`group_blocks`], and few enough that
/// every thread starts with the same number of grains, at least two, so a thread done first
/// can take one from another. (With whole groups, `gru-infer-1x256`'s 16 blocks went out as
/// 10 + 6; in-process A/B, 2 threads: 0.93-0.96x its time, medians of 41 calls, 5 runs.)
pub(crate) fn grain(w: &Packed, threads: usize) -> usize {
    let (blocks, th) = (w.blocks(), threads.max(1));
    let grains = blocks.div_ceil(group_blocks(w)).max(2 * th).next_multiple_of(th);
    blocks.div_ceil(grains).max(1)
}

#[inline(always)]
fn proj_g<V: Vf32>(p: &Proj<'_>, blocks: Range<usize>) {
    assert!(p.x.len() >= p.rows * p.w.k() && p.bias.len() == p.w.gates_out() * p.h);
    let group = group_blocks(p.w);
    // Loop over groups of unit blocks, then row chunks, then the group's blocks (one packed
    // panel each), then row tiles. The order changes no element's arithmetic.
    for g0 in blocks.clone().step_by(group) {
        let g1 = (g0 + group).min(blocks.end);
        for c0 in (0..p.rows).step_by(ROW_CHUNK) {
            let n = ROW_CHUNK.min(p.rows - c0);
            for b in g0..g1 {
                // SAFETY: `Proj::out` covers the output and blocks are disjoint per thread (the
                // `SyncMutPtr` contract its creator took on).
                match p.w.vecs() {
                    4 => tile_rows!(V, n, 3, 12, |MR, r| unsafe { rows::<V, MR, 4>(p, b, c0 + r) }),
                    6 => tile_rows!(V, n, 2, 9, |MR, r| unsafe { rows::<V, MR, 6>(p, b, c0 + r) }),
                    8 => tile_rows!(V, n, 1, 6, |MR, r| unsafe { rows::<V, MR, 8>(p, b, c0 + r) }),
                    v => unreachable!("{v} vectors per panel row"),
                }
            }
        }
    }
}

isa_dispatch!(
    /// `out[:, unit blocks] = bias + x · W_ihᵀ` for the unit blocks `blocks`.
    pub(crate) fn project => proj_g(p: &Proj<'_>, blocks: Range<usize>)
);
