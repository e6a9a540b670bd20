//! Each thread's share of a step's unit blocks in [`super::team::Team::on_blocks`]: one
//! contiguous range per thread, moved step by step toward the threads' measured speeds.
//!
//! A thread keeps its share — and so its slice of the packed weights in its own L2 — step
//! after step. An even split leaves the faster thread waiting whenever the cores run at
//! different speeds, as they do on a shared host: on the 2-core development guest one core
//! was often slower for seconds at a time, and batch-1 steps spent 10–20% of their time
//! waiting at the hand-off. So after each step the poster compares when neighbouring threads
//! finished; when one has finished later than its neighbour by more than [`MOVE_AT`] blocks'
//! time on average (exponential, new steps weighted [`WEIGHT`]), the boundary between them
//! moves blocks from the later one to the other: half the lateness, in blocks' time (each
//! block moved shortens the gap by about two). The threshold keeps the shares still while the
//! threads are about even (a block that moves must bring its weights to the other core's L2).
//! Which thread computes a block never changes its result.
//!
//! Measured against even shares (in-process A/B, 2 threads, alternating calls, medians of 41
//! over 6 runs): `gru-infer-1x256` 0.89–1.03x the time, `lstm-infer-1x256` 0.93–1.01x; in
//! runs where the two cores kept even, 1.01–1.05x (the timing costs about 1%). At batches of 4
//! and 8, even shares took 1.02–1.04x the time of these on `lstm-infer-4x1024`, 1.01–1.09x on
//! an LSTM at `T = 50, N = 8, H = 512` and 0.98–1.03x on a GRU at `T = 50, N = 4, H = 1024`
//! (medians of 21, 3 runs).

use std::ops::Range;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Most threads whose shares adapt; a larger team splits evenly.
pub(crate) const MAX_PARTS: usize = 16;

/// Weight of the newest step in the average lateness.
const WEIGHT: f64 = 0.25;

/// Average lateness, in blocks' time, from which a boundary moves.
const MOVE_AT: f64 = 1.5;

/// Whether reading the clock is cheap enough to time every step (measured once per process):
/// it takes tens of nanoseconds where the clock is read in user space (the TSC through the
/// vDSO on Linux), but a system call of a microsecond or so on a host whose clock source is
/// not (`hpet`, `acpi_pm`), which would cost batch-1 steps more than the shares save. Without
/// a cheap clock the shares stay even.
pub(crate) fn cheap_clock() -> bool {
    static CHEAP: OnceLock<bool> = OnceLock::new();
    *CHEAP.get_or_init(|| {
        const READS: u32 = 64;
        // The fastest of three tries, so a preemption during one does not decide.
        let reads = || {
            let t0 = Instant::now();
            let mut last = t0;
            for _ in 0..READS {
                last = std::hint::black_box(Instant::now());
            }
            last.duration_since(t0)
        };
        (0..3).map(|_| reads()).min().unwrap_or_default() < CHEAP_READ * READS
    })
}

/// The most one clock read may take for [`cheap_clock`].
const CHEAP_READ: Duration = Duration::from_nanos(200);

/// Bound `i` of `0..len` cut into `parts <= len` even ranges: `gemm::split(len, parts, 1)[i]`,
/// without the allocation (this runs at every step).
pub(crate) fn even_bound(len: usize, parts: usize, i: usize) -> usize {
    len * i / parts
}

/// The shares of `parts` threads in `0..blocks`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shares {
    blocks: usize,
    parts: usize,
    /// `bounds[0] = 0 < bounds[1] < ... < bounds[parts] = blocks`: thread `i` runs
    /// `bounds[i]..bounds[i + 1]`.
    bounds: [usize; MAX_PARTS + 1],
    /// `late[j]` (`0 < j < parts`): how much later thread `j` finished than thread `j - 1`, in
    /// nanoseconds, averaged over the steps since boundary `j` last moved.
    late: [f64; MAX_PARTS],
}

impl Shares {
    /// Even shares (`gemm::split`'s), for `1 <= parts <= min(blocks, MAX_PARTS)`.
    pub(crate) fn even(blocks: usize, parts: usize) -> Self {
        assert!(parts >= 1 && parts <= blocks && parts <= MAX_PARTS);
        let mut bounds = [blocks; MAX_PARTS + 1];
        for (i, b) in bounds.iter_mut().enumerate().take(parts + 1) {
            *b = even_bound(blocks, parts, i);
        }
        Self {
            blocks,
            parts,
            bounds,
            late: [0.0; MAX_PARTS],
        }
    }

    /// Whether these are shares of `blocks` among `parts` threads.
    pub(crate) fn is_for(&self, blocks: usize, parts: usize) -> bool {
        self.blocks == blocks && self.parts == parts
    }

    /// The blocks shared.
    pub(crate) fn blocks(&self) -> usize {
        self.blocks
    }

    /// The threads sharing them.
    pub(crate) fn parts(&self) -> usize {
        self.parts
    }

    /// Thread `i`'s blocks.
    pub(crate) fn range(&self, i: usize) -> Range<usize> {
        self.bounds[i]..self.bounds[i + 1]
    }

    /// Moves the boundaries after a step that started at `start` and in which thread `i`
    /// finished its share at `done[i]` (`None`: not known, e.g. another thread ran it).
    pub(crate) fn update(&mut self, start: Instant, done: &[Option<Instant>]) {
        assert!(done.len() == self.parts);
        let ns = |t: Instant| t.saturating_duration_since(start).as_nanos() as f64;
        for j in 1..self.parts {
            let (Some(a), Some(b)) = (done[j - 1], done[j]) else {
                continue;
            };
            let (lo, mid, hi) = (self.bounds[j - 1], self.bounds[j], self.bounds[j + 1]);
            let late = &mut self.late[j];
            *late = (1.0 - WEIGHT) * *late + WEIGHT * (ns(b) - ns(a));
            // The two threads' time per block, on average.
            let block = (ns(a) + ns(b)) / (hi - lo) as f64;
            if block > 0.0 && late.abs() > MOVE_AT * block {
                // Moving one block from the later thread to the other shortens the gap by
                // about two blocks' time.
                let by = (*late / (2.0 * block)).round() as isize;
                let to = (mid as isize + by).clamp(lo as isize + 1, hi as isize - 1) as usize;
                if to != mid {
                    self.bounds[j] = to;
                    *late = 0.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ns: u64) -> Option<Instant> {
        Some(start + Duration::from_nanos(ns))
    }

    fn bounds(s: &Shares) -> Vec<usize> {
        (0..s.parts).map(|i| s.range(i).start).chain([s.blocks]).collect()
    }

    #[test]
    fn even_is_the_gemm_split() {
        for blocks in 1..40 {
            for parts in 1..=blocks.min(MAX_PARTS) {
                let s = Shares::even(blocks, parts);
                assert_eq!(bounds(&s), crate::gemm::split(blocks, parts, 1), "{blocks} / {parts}");
            }
        }
    }

    #[test]
    fn shares_follow_speeds_and_stay_still_when_even() {
        let t0 = Instant::now();
        // Thread 1 takes twice as long per block: 16 blocks settle near 11 + 5.
        let mut s = Shares::even(16, 2);
        for _ in 0..60 {
            let (a, b) = (s.range(0).len() as u64, s.range(1).len() as u64);
            s.update(t0, &[at(t0, 100 * a), at(t0, 200 * b)]);
        }
        let main = s.range(0).len();
        assert!((10..=11).contains(&main), "{:?}", bounds(&s));
        // Even threads within a block's time of each other: nothing moves.
        let mut s = Shares::even(16, 2);
        for step in 0..100 {
            let jitter = if step % 2 == 0 { 90 } else { 0 };
            s.update(t0, &[at(t0, 800 + jitter), at(t0, 800)]);
        }
        assert_eq!(bounds(&s), [0, 8, 16]);
        // Unknown finish times move nothing; every thread keeps at least one block.
        s.update(t0, &[None, at(t0, 1_000_000)]);
        assert_eq!(bounds(&s), [0, 8, 16]);
        let mut s = Shares::even(3, 3);
        for _ in 0..50 {
            s.update(t0, &[at(t0, 10), at(t0, 10_000), at(t0, 10)]);
        }
        assert_eq!(bounds(&s), [0, 1, 2, 3]);
    }
}
