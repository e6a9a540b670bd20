//! Variable-length batches as a per-step batch schedule (cuDNN's packed layout).
//!
//! The batch is sorted by length, longest first (ties keep the caller's order), so that at
//! step `t` the active sequences are the first `n_t = #{b : len_b > t}` rows. Every per-step
//! buffer then holds just those rows: packed `[Σ n_t, width]` buffers put step `t`'s block at
//! row `off(t) = Σ_{t' < t} n_t'`. Padded steps are never computed. A uniform batch (no
//! lengths, or all equal to `T`) is the schedule `n_t = N`, `off(t) = t*N` with the identity
//! order, which is exactly the plain `[T, N, width]` layout.

use crate::error::{check_len, Error, Result};

/// Who is active at each step, and where each step's rows live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// Every sequence runs all `t` steps.
    Uniform { t: usize, n: usize },
    /// Sequences of their own lengths (at least one shorter than `T`).
    Varlen(Varlen),
}

/// The sorted batch of a variable-length call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Varlen {
    n: usize,
    /// `n_t` for `t = 0..T` (non-increasing).
    rows: Vec<usize>,
    /// `off(t)` for `t = 0..=T`.
    off: Vec<usize>,
    /// `perm[j]`: the caller's batch index of sorted row `j`.
    perm: Vec<usize>,
    /// `len[j]`: the length of sorted row `j` (non-increasing).
    len: Vec<usize>,
}

/// Checks that `lengths` has one entry per sequence, each at most `t`.
pub(crate) fn check_lengths(t: usize, n: usize, lengths: Option<&[usize]>) -> Result<()> {
    let Some(lens) = lengths else { return Ok(()) };
    check_len("lengths", n, lens.len())?;
    if lens.iter().any(|&l| l > t) {
        return Err(Error::InvalidValue {
            what: "lengths",
            why: "a sequence length exceeds T",
        });
    }
    Ok(())
}

impl Schedule {
    /// The schedule of `lengths` (one per batch entry, each in `0..=t`; `None`: all `t`).
    pub(crate) fn new(t: usize, n: usize, lengths: Option<&[usize]>) -> Result<Self> {
        check_lengths(t, n, lengths)?;
        let Some(lens) = lengths else {
            return Ok(Schedule::Uniform { t, n });
        };
        if lens.iter().all(|&l| l == t) {
            return Ok(Schedule::Uniform { t, n });
        }
        let mut perm: Vec<usize> = (0..n).collect();
        // Stable: equal lengths keep the caller's order.
        perm.sort_by_key(|&b| std::cmp::Reverse(lens[b]));
        let len: Vec<usize> = perm.iter().map(|&b| lens[b]).collect();
        let rows: Vec<usize> = (0..t).map(|s| len.partition_point(|&l| l > s)).collect();
        let mut off = Vec::with_capacity(t + 1);
        off.push(0);
        for &r in &rows {
            off.push(off.last().copied().unwrap_or(0) + r);
        }
        Ok(Schedule::Varlen(Varlen {
            n,
            rows,
            off,
            perm,
            len,
        }))
    }

    /// `N`.
    pub(crate) fn n(&self) -> usize {
        match self {
            Schedule::Uniform { n, .. } => *n,
            Schedule::Varlen(v) => v.n,
        }
    }

    /// `T`.
    pub(crate) fn t(&self) -> usize {
        match self {
            Schedule::Uniform { t, .. } => *t,
            Schedule::Varlen(v) => v.rows.len(),
        }
    }

    /// `n_t`: rows active at step `t`.
    pub(crate) fn rows(&self, t: usize) -> usize {
        match self {
            Schedule::Uniform { n, .. } => *n,
            Schedule::Varlen(v) => v.rows[t],
        }
    }

    /// Row offset of step `t`'s block in packed buffers (`t = T` gives the total).
    pub(crate) fn off(&self, t: usize) -> usize {
        match self {
            Schedule::Uniform { n, .. } => t * n,
            Schedule::Varlen(v) => v.off[t],
        }
    }

    /// `Σ n_t`: the rows of a packed buffer.
    pub(crate) fn total(&self) -> usize {
        self.off(self.t())
    }

    /// The sorted batch, unless the batch is uniform.
    pub(crate) fn varlen(&self) -> Option<&Varlen> {
        match self {
            Schedule::Uniform { .. } => None,
            Schedule::Varlen(v) => Some(v),
        }
    }

    /// The length of sorted row `j`.
    pub(crate) fn len_of(&self, j: usize) -> usize {
        match self {
            Schedule::Uniform { t, .. } => *t,
            Schedule::Varlen(v) => v.len[j],
        }
    }
}

impl Varlen {
    /// `perm[j]`: the caller's batch index of sorted row `j`.
    pub(crate) fn perm(&self) -> &[usize] {
        &self.perm
    }

    /// Packs a caller's `[T, N, w]` sequence into `[Σ n_t, w]` (step-major, sorted rows).
    pub(crate) fn gather(&self, src: &[f32], w: usize, dst: &mut [f32]) {
        for (t, &r) in self.rows.iter().enumerate() {
            let base = t * self.n;
            for (j, d) in dst[self.off[t] * w..][..r * w].chunks_exact_mut(w).enumerate() {
                d.copy_from_slice(&src[(base + self.perm[j]) * w..][..w]);
            }
        }
    }

    /// Unpacks `[Σ n_t, w]` into a caller's `[T, N, w]` sequence, zero at padded steps.
    pub(crate) fn scatter(&self, src: &[f32], w: usize, dst: &mut [f32]) {
        for t in 0..self.rows.len() {
            self.scatter_step(
                t,
                &src[self.off[t] * w..][..self.rows[t] * w],
                w,
                &mut dst[t * self.n * w..][..self.n * w],
            );
        }
    }

    /// Unpacks step `t`'s `[n_t, w]` rows into its `[N, w]` slab of the caller's sequence,
    /// zero for the sequences that have ended.
    pub(crate) fn scatter_step(&self, t: usize, src: &[f32], w: usize, dst: &mut [f32]) {
        let r = self.rows[t];
        for (j, &b) in self.perm.iter().enumerate() {
            let d = &mut dst[b * w..][..w];
            if j < r {
                d.copy_from_slice(&src[j * w..][..w]);
            } else {
                d.fill(0.0);
            }
        }
    }

    /// Step `t`'s `[n_t, w]` rows from its `[N, w]` slab of the caller's sequence.
    pub(crate) fn gather_step(&self, t: usize, src: &[f32], w: usize, dst: &mut [f32]) {
        for (j, d) in dst[..self.rows[t] * w].chunks_exact_mut(w).enumerate() {
            d.copy_from_slice(&src[self.perm[j] * w..][..w]);
        }
    }

    /// `[N, w]` caller-ordered rows → sorted rows.
    pub(crate) fn sort_rows(&self, src: &[f32], w: usize, dst: &mut [f32]) {
        for (j, &b) in self.perm.iter().enumerate() {
            dst[j * w..][..w].copy_from_slice(&src[b * w..][..w]);
        }
    }

    /// Sorted `[N, w]` rows → caller order.
    pub(crate) fn unsort_rows(&self, src: &[f32], w: usize, dst: &mut [f32]) {
        for (j, &b) in self.perm.iter().enumerate() {
            dst[b * w..][..w].copy_from_slice(&src[j * w..][..w]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_schedule_and_round_trips() {
        let s = Schedule::new(4, 3, Some(&[2, 4, 0])).unwrap();
        let v = s.varlen().unwrap();
        assert_eq!(v.perm(), [1, 0, 2]);
        assert_eq!((0..4).map(|t| s.rows(t)).collect::<Vec<_>>(), [2, 2, 1, 1]);
        assert_eq!((0..=4).map(|t| s.off(t)).collect::<Vec<_>>(), [0, 2, 4, 5, 6]);
        assert_eq!((s.total(), s.len_of(0), s.len_of(2)), (6, 4, 0));
        // [T=4, N=3, w=1]: value 10t + b.
        let x: Vec<f32> = (0..4).flat_map(|t| (0..3).map(move |b| (10 * t + b) as f32)).collect();
        let mut p = vec![0.0; 6];
        v.gather(&x, 1, &mut p);
        assert_eq!(p, [1., 0., 11., 10., 21., 31.]);
        let mut back = vec![f32::NAN; 12];
        v.scatter(&p, 1, &mut back);
        assert_eq!(back, [0., 1., 0., 10., 11., 0., 0., 21., 0., 0., 31., 0.]);
        let mut sorted = vec![0.0; 3];
        v.sort_rows(&[5., 6., 7.], 1, &mut sorted);
        assert_eq!(sorted, [6., 5., 7.]);
        let mut un = vec![0.0; 3];
        v.unsort_rows(&sorted, 1, &mut un);
        assert_eq!(un, [5., 6., 7.]);
    }

    #[test]
    fn uniform_when_all_full_and_errors() {
        assert_eq!(
            Schedule::new(3, 2, Some(&[3, 3])).unwrap(),
            Schedule::Uniform { t: 3, n: 2 }
        );
        assert_eq!(Schedule::new(3, 2, None).unwrap().off(2), 4);
        assert!(matches!(
            Schedule::new(3, 2, Some(&[3])),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            Schedule::new(3, 2, Some(&[3, 4])),
            Err(Error::InvalidValue { .. })
        ));
    }
}
