//! Row-parallel element-wise passes of a time step: a step's buffers viewed by row ranges that
//! the team's threads write apart ([`Team::on_blocks`] hands out disjoint ranges).

use super::team::Team;
use crate::gemm::par::SyncMutPtr;
use std::ops::Range;

/// A mutable `[rows, w]` buffer whose rows threads write in disjoint ranges.
#[derive(Clone, Copy)]
struct RowsMut {
    p: SyncMutPtr,
    w: usize,
    rows: usize,
}

impl RowsMut {
    /// # Safety
    /// Until the last use of the result, `buf` is accessed only through it, and threads use
    /// disjoint row ranges ([`Team::on_blocks`] hands out such ranges).
    unsafe fn new(buf: &mut [f32], w: usize) -> Self {
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
    unsafe fn get(&self, r: Range<usize>) -> &mut [f32] {
        assert!(r.end <= self.rows);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.p.get().add(r.start * self.w), r.len() * self.w) }
    }
}

/// Runs `f(r, parts)` on row ranges `r` of `0..rows`, split over the team (`work` elementwise
/// operations per row, to decide whether splitting pays), where `parts[i]` is rows `r` of
/// `bufs[i]`, a `[rows, w_i]` buffer that `f` writes (or an empty one, which `f` does not use:
/// its rows are empty).
pub(crate) fn on_rows<const B: usize>(
    team: &Team<'_>,
    rows: usize,
    work: usize,
    bufs: [(&mut [f32], usize); B],
    f: impl Fn(Range<usize>, [&mut [f32]; B]) + Sync,
) {
    let views = bufs.map(|(buf, w)| {
        assert!(buf.is_empty() || buf.len() == rows * w, "a [rows, w] buffer");
        // SAFETY: `buf` is borrowed for this whole call and used only through its view, and
        // `Team::on_blocks` hands out disjoint row ranges.
        unsafe { RowsMut::new(buf, w) }
    });
    team.on_blocks(rows, rows * work, |r| {
        // SAFETY: `r` is this call's own row range (see above); an empty buffer's rows are
        // empty.
        let parts = views
            .each_ref()
            .map(|v| unsafe { v.get(if v.rows == 0 { 0..0 } else { r.clone() }) });
        f(r, parts)
    });
}

/// Rows `r` of a shared `[rows, w]` buffer.
#[inline]
pub(crate) fn part<'a>(s: &'a [f32], w: usize, r: &Range<usize>) -> &'a [f32] {
    &s[r.start * w..r.end * w]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of every buffer is handed out once, with its own row index, whatever the
    /// pool size; an empty buffer gives empty parts.
    #[test]
    fn every_row_once() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let rows = 37;
                let (mut a, mut b, mut none) = (vec![0.0f32; rows * 3], vec![0.0f32; rows], Vec::new());
                Team::run(|team| {
                    let bufs = [(&mut a[..], 3), (&mut b[..], 1), (&mut none[..], 5)];
                    on_rows(team, rows, usize::MAX / rows, bufs, |r, [pa, pb, pn]| {
                        assert!(pn.is_empty() && pa.len() == 3 * r.len() && pb.len() == r.len());
                        for (i, row) in r.clone().enumerate() {
                            pa[3 * i..3 * i + 3].iter_mut().for_each(|v| *v += row as f32);
                            pb[i] += 1.0;
                        }
                    });
                });
                assert!(b.iter().all(|&v| v == 1.0));
                assert!(a
                    .chunks(3)
                    .enumerate()
                    .all(|(row, c)| c.iter().all(|&v| v == row as f32)));
            });
        }
    }
}
