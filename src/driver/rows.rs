//! Row-parallel element-wise passes of a time step: a step's buffers viewed by row ranges that
//! the team's threads write apart ([`Team::on_blocks`] hands out disjoint ranges).

use super::team::Team;
use crate::gemm::par::SyncMutPtr;
use std::ops::Range;

/// A mutable `[rows, w]` buffer whose rows threads write in disjoint ranges.
#[derive(Clone, Copy)]
pub(crate) struct RowsMut {
    p: SyncMutPtr,
    w: usize,
    rows: usize,
}

impl RowsMut {
    /// # Safety
    /// Until the last use of the result, `buf` is accessed only through it, and threads use
    /// disjoint row ranges ([`Team::on_blocks`] hands out such ranges).
    pub(crate) unsafe fn new(buf: &mut [f32], w: usize) -> Self {
        Self {
            // SAFETY: the caller's contract is the one `SyncMutPtr::new` asks for.
            p: unsafe { SyncMutPtr::new(buf.as_mut_ptr()) },
            w,
            rows: buf.len() / w.max(1),
        }
    }

    /// Rows `r`.
    ///
    /// # Safety
    /// No other live slice from this buffer overlaps rows `r` (see [`RowsMut::new`]).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self, r: Range<usize>) -> &mut [f32] {
        assert!(r.end <= self.rows);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.p.get().add(r.start * self.w), r.len() * self.w) }
    }
}

/// Runs `f` on row ranges of `0..rows`, split over the team (`work` elementwise operations
/// per row, to decide whether splitting pays).
pub(crate) fn on_rows(team: &Team<'_>, rows: usize, work: usize, f: impl Fn(Range<usize>) + Sync) {
    team.on_blocks(rows, rows * work, f);
}

/// Rows `r` of a shared `[rows, w]` buffer.
#[inline]
pub(crate) fn part<'a>(s: &'a [f32], w: usize, r: &Range<usize>) -> &'a [f32] {
    &s[r.start * w..r.end * w]
}
