//! [`Team::steps`]: a whole time loop on the team, with a barrier per step in place of a
//! hand-off per step.
//!
//! [`Team::on_blocks`] costs every step the poster's bookkeeping and two trips of a cache
//! line between the cores (the job posted, its end seen) while a partner waits: at batch 1
//! (`gru-infer-1x256`, 2 threads) a partner waited 1.2–1.3 µs between jobs of 5.6–5.9 µs. Here
//! every thread runs the loop itself and starts its share of step `t` as soon as every share of
//! step `t - 1` is done (a counter per share, on a cache line of its own): what is left is the
//! wait for the slowest share and one trip. The shares follow the threads' speeds as in
//! `on_blocks`, a step later: after its own share of step `t`, the poster moves them by the
//! finish times of step `t - 1` (all known by then) and publishes the shares of step `t + 1`
//! before it marks its share of step `t` done, which is what the others wait for.
//!
//! A partner that never comes (the pool busy elsewhere) is adopted: the poster, finding its
//! loop still unclaimed at the first barrier, takes it and runs that share too from then on.
//! A panic in any share stops every thread at its next barrier.

use std::cell::Cell;
use std::sync::atomic::AtomicUsize;

use super::*;

/// One share's progress, on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Progress {
    /// Steps of this share done: step `t` is done when `done > t`.
    done: AtomicUsize,
    /// When it finished its steps of each parity, in nanoseconds since the loop began
    /// (`at[t % 2]`: a share starts step `t + 2` only after the poster has read this).
    at: [AtomicU64; 2],
}

/// The state one loop's threads share.
struct Loop<'w> {
    steps: usize,
    parts: usize,
    work: &'w (dyn Fn(usize, Range<usize>) + Sync),
    progress: Vec<Progress>,
    /// The shares' boundaries (`parts + 1`) for steps of each parity: those of step `t + 1`
    /// are written by the poster before it marks its share of step `t` done, and read by each
    /// thread when it starts step `t + 1`, after every share of step `t` is done, so no thread
    /// still reads the ones of step `t - 1` they replace.
    bounds: [Vec<AtomicUsize>; 2],
    /// Set when a share panicked: every thread stops at its next barrier.
    abort: AtomicBool,
    start: Instant,
}

/// Sets the loop's abort flag if dropped while panicking.
struct AbortOnPanic<'a>(&'a AtomicBool);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

impl Loop<'_> {
    fn range(&self, t: usize, i: usize) -> Range<usize> {
        let b = &self.bounds[t % 2];
        b[i].load(Ordering::Relaxed)..b[i + 1].load(Ordering::Relaxed)
    }

    fn set_bounds(&self, t: usize, sh: &Shares) {
        for (i, b) in self.bounds[t % 2].iter().enumerate().take(self.parts) {
            b.store(sh.range(i).start, Ordering::Relaxed);
        }
    }

    /// Runs share `i` of step `t`; `mark`: and marks it done.
    fn run(&self, t: usize, i: usize, mark: bool) {
        (self.work)(t, self.range(t, i));
        let p = &self.progress[i];
        p.at[t % 2].store(self.start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if mark {
            p.done.store(t + 1, Ordering::Release);
        }
    }

    /// Waits until share `j` has done step `t - 1`; `late` is called while it has not and
    /// returns whether it ran the share itself. `false` if the loop was aborted.
    fn wait(&self, j: usize, t: usize, mut late: impl FnMut() -> bool) -> bool {
        let mut spins = 0;
        while self.progress[j].done.load(Ordering::Acquire) < t {
            if self.abort.load(Ordering::Acquire) {
                return false;
            }
            if late() {
                break;
            }
            backoff(&mut spins);
        }
        !self.abort.load(Ordering::Acquire)
    }

    /// A partner's loop: share `i` of every step.
    fn follow(&self, i: usize) {
        let _abort = AbortOnPanic(&self.abort);
        for t in 0..self.steps {
            for j in (0..self.parts).filter(|&j| j != i) {
                if !self.wait(j, t, || false) {
                    return;
                }
            }
            self.run(t, i, true);
        }
    }
}

impl Team<'_> {
    /// Runs `work(t, blocks)` for every step `t` in `0..steps`, each step's `0..blocks` split
    /// into one range per thread (see the module doc), step `t + 1` on any thread only after
    /// every range of step `t` has been run. Every block of every step is run by one call, so
    /// results do not depend on the threads.
    pub(crate) fn steps(&self, steps: usize, blocks: usize, macs: usize, work: &(dyn Fn(usize, Range<usize>) + Sync)) {
        let parts = self.threads().min(blocks).min(MAX_PARTS);
        if parts <= 1 || steps < 2 || macs < STEP_PAR_MIN_MACS {
            for t in 0..steps {
                self.on_blocks(blocks, macs, |r| work(t, r));
            }
            return;
        }
        let first = self.shares_for(blocks, parts);
        let sh = std::sync::Mutex::new(first);
        let lp = Loop {
            steps,
            parts,
            work,
            progress: (0..parts).map(|_| Progress::default()).collect(),
            bounds: [0, 1].map(|_| {
                (0..=parts)
                    .map(|i| AtomicUsize::new(if i == parts { blocks } else { 0 }))
                    .collect()
            }),
            abort: AtomicBool::new(false),
            start: Instant::now(),
        };
        lp.set_bounds(0, &first);
        lp.set_bounds(1, &first);
        let adapt = cheap_clock();
        let slots = self.slots;
        self.post(parts, &|r: Range<usize>| {
            for i in r {
                if i == 0 {
                    let mut sh = sh.lock().unwrap_or_else(|e| e.into_inner());
                    lead(slots, &lp, &mut sh, adapt);
                } else {
                    lp.follow(i);
                }
            }
        });
        if lp.abort.load(Ordering::Acquire) {
            panic!("a fusedrnn kernel panicked on a team thread");
        }
        self.keep_shares(sh.into_inner().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The poster's loop: share 0 of every step, the shares of partners it adopts (their slots in
/// `slots`), and the shares' boundaries.
fn lead(slots: &[Slot], lp: &Loop<'_>, sh: &mut Shares, adapt: bool) {
    let _abort = AbortOnPanic(&lp.abort);
    // The shares of partners this thread adopted (their slots it claimed); the guard leaves
    // their slots DONE, so the post's wait passes them, also on unwind.
    let adopted: [Cell<bool>; MAX_PARTS] = std::array::from_fn(|_| Cell::new(false));
    struct Release<'a>(&'a [Slot], &'a [Cell<bool>; MAX_PARTS]);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            for (slot, a) in self.0.iter().zip(&self.1[1..]) {
                if a.get() {
                    slot.state.store(DONE, Ordering::Release);
                }
            }
        }
    }
    let _release = Release(slots, &adopted);
    let mut prev_start = 0u64;
    for t in 0..lp.steps {
        for j in (1..lp.parts).filter(|&j| !adopted[j].get()) {
            let slot = &slots[j - 1];
            let ok = lp.wait(j, t, || {
                // Never started: take its loop, and catch up on its steps.
                if slot
                    .state
                    .compare_exchange(POSTED, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    return false;
                }
                adopted[j].set(true);
                for s in lp.progress[j].done.load(Ordering::Relaxed)..t {
                    lp.run(s, j, true);
                }
                true
            });
            if !ok {
                return;
            }
        }
        let start = lp.start.elapsed().as_nanos() as u64;
        lp.run(t, 0, false);
        for j in (1..lp.parts).filter(|&j| adopted[j].get()) {
            lp.run(t, j, true);
        }
        if t + 1 < lp.steps {
            if adapt && t >= 1 {
                // Every share of step t - 1 is done (the barrier above): move the shares by
                // when each finished.
                let at = |ns: u64| Some(lp.start + std::time::Duration::from_nanos(ns));
                let mut done = [None; MAX_PARTS];
                for (d, p) in done.iter_mut().zip(&lp.progress).take(lp.parts) {
                    *d = at(p.at[(t - 1) % 2].load(Ordering::Relaxed));
                }
                sh.update(at(prev_start).unwrap_or(lp.start), &done[..lp.parts]);
            }
            lp.set_bounds(t + 1, sh);
        }
        lp.progress[0].done.store(t + 1, Ordering::Release);
        prev_start = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()
    }

    /// Every block of every step runs exactly once, and a step's blocks start only after
    /// every block of the step before has finished, whatever the pool size.
    fn check(threads: usize, blocks: usize, steps: usize) {
        pool(threads).install(|| {
            let counts: Vec<AtomicUsize> = (0..blocks).map(|_| AtomicUsize::new(0)).collect();
            let finished = AtomicUsize::new(0);
            Team::run(|team| {
                team.steps(steps, blocks, usize::MAX, &|t, r| {
                    assert!(finished.load(Ordering::Acquire) >= t * blocks, "step {t} began early");
                    for b in r {
                        assert_eq!(counts[b].fetch_add(1, Ordering::Relaxed), t);
                        finished.fetch_add(1, Ordering::Release);
                    }
                });
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == steps));
        });
    }

    #[test]
    fn every_block_once_per_step_in_order() {
        for threads in [1, 2, 3, 5] {
            for (blocks, steps) in [(37, 300), (2, 50), (3, 2), (16, 1), (5, 0)] {
                check(threads, blocks, steps);
            }
        }
    }

    /// A partner whose thread is busy elsewhere for the whole loop is adopted by the poster.
    #[test]
    fn a_partner_that_never_comes_is_adopted() {
        pool(2).install(|| {
            let counts: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
            let (busy, done) = (AtomicBool::new(false), AtomicBool::new(false));
            let poster_only = AtomicBool::new(true);
            rayon::join(
                || {
                    // Until the other thread is busy (it steals the second half of the join).
                    let t0 = Instant::now();
                    while !busy.load(Ordering::Acquire) && t0.elapsed().as_secs() < 5 {
                        std::thread::yield_now();
                    }
                    let me = std::thread::current().id();
                    Team::run(|team| {
                        team.steps(100, counts.len(), usize::MAX, &|t, r| {
                            if std::thread::current().id() != me {
                                poster_only.store(false, Ordering::Relaxed);
                            }
                            for b in r {
                                assert_eq!(counts[b].fetch_add(1, Ordering::Relaxed), t);
                            }
                        });
                    });
                    done.store(true, Ordering::Release);
                },
                // The pool's other thread: busy until the loop is over.
                || {
                    busy.store(true, Ordering::Release);
                    while !done.load(Ordering::Acquire) {
                        std::thread::yield_now();
                    }
                },
            );
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 100));
            assert!(busy.load(Ordering::Acquire), "the other thread never took its task");
            assert!(poster_only.load(Ordering::Relaxed), "the busy thread ran a share");
        });
    }

    /// A panic in any share ends the loop on every thread and reaches the caller.
    #[test]
    fn a_panic_stops_every_thread() {
        for threads in [2, 3] {
            for bad_block in [0, 7] {
                let r = std::panic::catch_unwind(|| {
                    pool(threads).install(|| {
                        Team::run(|team| {
                            team.steps(50, 8, usize::MAX, &|t, r| {
                                if t == 20 && r.contains(&bad_block) {
                                    panic!("boom");
                                }
                            });
                        });
                    })
                });
                assert!(r.is_err(), "{threads} threads, block {bad_block}");
            }
        }
    }
}
