//! A team of threads kept for a whole time loop, with a cheap hand-off per step.
//!
//! A rayon fork-join per time step costs several microseconds — a large share of a step at
//! batch 1 (20–30 µs for an LSTM with `H = 256`). [`Team::run`] instead starts one *partner*
//! task per extra pool thread for the duration of a loop; each step then posts one block range
//! to each partner's slot, runs its own range, and waits for the partners by spinning.
//!
//! Nothing waits on a partner that never started (the pool may be busy, e.g. with the other
//! direction of a bidirectional layer): a range still unclaimed when the posting thread has
//! finished its own is taken back and run by that thread. Which thread runs a range never
//! changes what is computed, so results stay bitwise identical whatever the thread count.
//! With a range per partner that changes little ([`super::shares`]: it follows the threads'
//! measured speeds), each thread tends to see the same unit blocks — and keeps their slice of
//! the packed weights in its own L2 — step after step. Steps of large blocks
//! ([`Team::on_blocks_balanced`]) start from even ranges, and a thread done with its own
//! takes blocks from the far end of the others': on this 2-core guest, whose cores slow down
//! by turns, the fixed split left about 5% of `lstm-infer-64x512` waiting at the hand-off.
//! A loop whose steps are small and all alike can skip the hand-off: [`Team::steps`] (in
//! `steps`) runs the whole loop on every thread, with a barrier per step.

use std::cell::{RefCell, UnsafeCell};
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use super::shares::{cheap_clock, even_bound, Shares, MAX_PARTS};
use crate::simd::ftz::FlushDenormals;

mod steps;

/// Steps with fewer multiply-adds than this run on one thread: below it, handing work to a
/// second thread costs more than it saves.
const STEP_PAR_MIN_MACS: usize = 1 << 16;

/// A step's work: runs one range of blocks.
type Work = dyn Fn(Range<usize>) + Sync;

const EMPTY: u8 = 0;
const POSTED: u8 = 1;
const CLAIMED: u8 = 2;
const DONE: u8 = 3;
const PANICKED: u8 = 4;

/// One partner's mailbox.
struct Slot {
    state: AtomicU8,
    /// The posted work and its range; written by the poster while `EMPTY`, read by whoever
    /// moves the state from `POSTED` to `CLAIMED`.
    job: UnsafeCell<Option<(*const Work, Range<usize>)>>,
    /// When the partner finished the job: cleared by the poster with the job, written by
    /// the partner before `DONE` (it stays `None` when the poster takes the job back).
    done_at: UnsafeCell<Option<Instant>>,
}

// SAFETY: `job` and `done_at` are accessed by one thread at a time, handed over through
// `state` with acquire/release ordering (see `Team::post` and `partner`); the `Work` `job`
// points to is `Sync`.
unsafe impl Sync for Slot {}

impl Slot {
    fn new() -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            job: UnsafeCell::new(None),
            done_at: UnsafeCell::new(None),
        }
    }

    /// Runs the posted job.
    ///
    /// # Safety
    /// The caller moved `state` from `POSTED` to `CLAIMED`, and the poster keeps the work
    /// alive until it sees `DONE` or `PANICKED`.
    unsafe fn run_claimed(&self) -> bool {
        // SAFETY: claimed, so no other thread touches `job` now (function contract).
        let (work, range) = unsafe { (*self.job.get()).clone() }.expect("a posted slot holds a job");
        // SAFETY: the poster keeps the work alive (function contract).
        let work = unsafe { &*work };
        panic::catch_unwind(AssertUnwindSafe(|| work(range))).is_ok()
    }
}

/// Spins, then yields, so an oversubscribed machine still makes progress.
fn backoff(spins: &mut u32) {
    if *spins < 1 << 12 {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// The threads of one time loop; see the module doc.
pub(crate) struct Team<'s> {
    slots: &'s [Slot],
    /// One block range per thread (the poster's first) for [`Team::on_blocks_balanced`].
    claims: &'s [Claims],
    /// The shares of [`Team::on_blocks`] and [`Team::steps`], one per block count seen (the
    /// poster's alone).
    shares: RefCell<Vec<Shares>>,
}

/// Sets the exit flag when the loop ends, also by a panic (the partners must not spin on).
struct ExitOnDrop<'a>(&'a AtomicBool);

impl Drop for ExitOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Team<'_> {
    /// Runs `body` with a team of the current rayon pool's size.
    pub(crate) fn run<R: Send>(body: impl FnOnce(&Team<'_>) -> R + Send) -> R {
        let threads = rayon::current_num_threads();
        if threads <= 1 {
            return body(&Team {
                slots: &[],
                claims: &[],
                shares: RefCell::default(),
            });
        }
        let slots: Vec<Slot> = (1..threads).map(|_| Slot::new()).collect();
        let claims: Vec<Claims> = (0..threads).map(|_| Claims::default()).collect();
        let exit = AtomicBool::new(false);
        rayon::scope(|s| {
            for slot in &slots {
                let exit = &exit;
                s.spawn(move |_| partner(slot, exit));
            }
            let _exit = ExitOnDrop(&exit);
            body(&Team {
                slots: &slots,
                claims: &claims,
                shares: RefCell::default(),
            })
        })
    }

    /// Threads of the team: the calling one and its partners.
    pub(crate) fn threads(&self) -> usize {
        self.slots.len() + 1
    }

    /// Runs `f` over `0..blocks`, split into one contiguous range per thread when the step is
    /// large enough: each thread's [`Shares`] of the step's blocks, which start even and follow
    /// the threads' speeds from step to step (shared by every step of the loop with the same
    /// block count). Every block is computed by one call in the same order whoever runs it,
    /// so results do not depend on threads.
    pub(crate) fn on_blocks(&self, blocks: usize, macs: usize, f: impl Fn(Range<usize>) + Sync) {
        let threads = self.threads();
        if threads <= 1 || blocks < 2 || macs < STEP_PAR_MIN_MACS {
            f(0..blocks);
            return;
        }
        let parts = threads.min(blocks);
        if parts > MAX_PARTS || !cheap_clock() {
            self.post(parts, &|r: Range<usize>| {
                f(even_bound(blocks, parts, r.start)..even_bound(blocks, parts, r.end))
            });
            return;
        }
        let mut sh = self.shares_for(blocks, parts);
        let start = Instant::now();
        let mut done = [None; MAX_PARTS];
        done[0] = Some(self.post(parts, &|r: Range<usize>| f(sh.range(r.start))));
        for (d, slot) in done[1..parts].iter_mut().zip(self.slots) {
            // SAFETY: `post` has seen every slot `DONE` (acquire) or taken it back, so no
            // partner writes `done_at` now.
            *d = unsafe { *slot.done_at.get() };
        }
        sh.update(start, &done[..parts]);
        self.keep_shares(sh);
    }

    /// The shares kept for `blocks` among `parts` threads, or even ones (copied out: the loop
    /// that moves them holds no borrow, so its work may use the team).
    fn shares_for(&self, blocks: usize, parts: usize) -> Shares {
        let list = self.shares.borrow();
        let kept = list.iter().find(|s| s.is_for(blocks, parts)).copied();
        kept.unwrap_or_else(|| Shares::even(blocks, parts))
    }

    /// Keeps `sh` for the next step or loop with its block count.
    fn keep_shares(&self, sh: Shares) {
        let mut list = self.shares.borrow_mut();
        match list.iter_mut().find(|s| s.is_for(sh.blocks(), sh.parts())) {
            Some(s) => *s = sh,
            None => list.push(sh),
        }
    }

    /// As [`Team::on_blocks`], for steps whose blocks are large ([`BALANCE_MIN_BLOCK_MACS`]),
    /// handed out `grain` blocks at a time (`grain.min(blocks)` at the end; `f` always sees
    /// ranges that start at a multiple of `grain`): each thread runs the grains of its own
    /// range one at a time (from the last with `reverse`, as the kernels'
    /// [`crate::gemm::ordered`] does), then takes grains from the far end of the others'
    /// ranges until none is left, so a thread slowed down (by the host, or by cache misses the
    /// other does not have) no longer holds the step up. Each block is still computed by one
    /// call, so results do not depend on who runs it; threads keep seeing mostly the same
    /// blocks step after step.
    pub(crate) fn on_blocks_balanced(
        &self,
        blocks: usize,
        grain: usize,
        macs: usize,
        reverse: bool,
        f: impl Fn(Range<usize>) + Sync,
    ) {
        if !self.balances(blocks, grain, macs) {
            return self.on_blocks(blocks, macs, f);
        }
        let threads = self.threads();
        let grain = grain.max(1);
        let grains = blocks.div_ceil(grain);
        let parts = threads.min(grains);
        let claims = &self.claims[..parts];
        for (i, c) in claims.iter().enumerate() {
            c.set(even_bound(grains, parts, i), even_bound(grains, parts, i + 1));
        }
        let run = |g: usize| f(g * grain..((g + 1) * grain).min(blocks));
        // Thread `i`'s share: its own range from its end, then the others' from theirs.
        let drain = |i: usize| {
            while let Some(g) = claims[i].take(reverse) {
                run(g);
            }
            for d in 1..parts {
                while let Some(g) = claims[(i + d) % parts].take(!reverse) {
                    run(g);
                }
            }
        };
        // Posted as ranges `i..i+1` of "threads", so the slots' hand-off is the same.
        self.post(parts, &|r: Range<usize>| r.for_each(drain));
    }

    /// Whether [`Team::on_blocks_balanced`] balances a step of these sizes (else it is
    /// [`Team::on_blocks`]'s).
    pub(crate) fn balances(&self, blocks: usize, grain: usize, macs: usize) -> bool {
        let grains = blocks.div_ceil(grain.max(1));
        self.threads() > 1 && grains >= 2 && macs / grains >= BALANCE_MIN_BLOCK_MACS && grains <= u32::MAX as usize
    }

    /// Posts `work(i..i+1)` to partner `i` for `i` in `1..parts`, runs `work(0..1)`, and
    /// waits for the partners (see [`Pending`]); returns when `work(0..1)` finished.
    fn post(&self, parts: usize, work: &(dyn Fn(Range<usize>) + Sync + '_)) -> Instant {
        // SAFETY: only the lifetime is erased; `Pending` below waits for (or takes back) every
        // posted range before `work` goes out of scope, on return and on unwind alike.
        let work_ptr: *const Work =
            unsafe { std::mem::transmute::<&(dyn Fn(Range<usize>) + Sync + '_), &'static Work>(work) };
        let mut pending = Pending {
            slots: &self.slots[..parts - 1],
        };
        for (i, slot) in pending.slots.iter().enumerate() {
            debug_assert_eq!(slot.state.load(Ordering::Relaxed), EMPTY);
            // SAFETY: the slot is EMPTY, so no partner touches `job` or `done_at` until the store
            // below.
            unsafe {
                *slot.job.get() = Some((work_ptr, i + 1..i + 2));
                *slot.done_at.get() = None;
            }
            slot.state.store(POSTED, Ordering::Release);
        }
        work(0..1);
        let done = Instant::now();
        pending.finish();
        done
    }
}

/// Steps whose grains average fewer multiply-adds than this keep [`Team::on_blocks`]'s fixed
/// ranges (2^20: 7 µs of one core; a claim costs tens of nanoseconds, a stolen one a cache
/// line's trip between the cores).
const BALANCE_MIN_BLOCK_MACS: usize = 1 << 20;

/// The blocks `[front, back)` of one thread's range still to be claimed, in one word (on a
/// cache line of its own: each thread claims from its own word far more often than from the
/// others').
#[derive(Default)]
#[repr(align(128))]
struct Claims(AtomicU64);

impl Claims {
    fn set(&self, front: usize, back: usize) {
        self.0.store(((front as u64) << 32) | back as u64, Ordering::Relaxed);
    }

    /// Claims the block at the back (`back`) or the front of what is left.
    fn take(&self, back: bool) -> Option<usize> {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (f, b) = ((cur >> 32) as usize, (cur & 0xffff_ffff) as usize);
            if f >= b {
                return None;
            }
            let (next, blk) = if back {
                (((f as u64) << 32) | (b - 1) as u64, b - 1)
            } else {
                ((((f + 1) as u64) << 32) | b as u64, f)
            };
            // Relaxed: the claim only has to be unique (one modification order per atomic);
            // the work's results are published by the slots' release/acquire hand-off.
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(blk),
                Err(c) => cur = c,
            }
        }
    }
}

/// The ranges posted in one step, finished (by their partner or taken back) before the
/// step's work may be dropped.
struct Pending<'a> {
    slots: &'a [Slot],
}

impl Pending<'_> {
    fn finish(&mut self) {
        let mut panicked = false;
        for slot in std::mem::take(&mut self.slots) {
            if slot
                .state
                .compare_exchange(POSTED, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // The partner has not come for it: run it here.
                // SAFETY: claimed just now; the work lives until this function returns.
                panicked |= !unsafe { slot.run_claimed() };
            } else {
                let mut spins = 0;
                loop {
                    match slot.state.load(Ordering::Acquire) {
                        DONE => break,
                        PANICKED => {
                            panicked = true;
                            break;
                        }
                        _ => backoff(&mut spins),
                    }
                }
            }
            slot.state.store(EMPTY, Ordering::Release);
        }
        if panicked {
            panic!("a fusedrnn kernel panicked on a team thread");
        }
    }
}

impl Drop for Pending<'_> {
    /// On unwind (the poster's own range panicked), still wait for every posted range.
    fn drop(&mut self) {
        if !self.slots.is_empty() {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| self.finish()));
        }
    }
}

/// A partner: runs what is posted to its slot until the loop ends.
fn partner(slot: &Slot, exit: &AtomicBool) {
    let _ftz = FlushDenormals::new();
    let mut spins = 0;
    loop {
        if slot.state.load(Ordering::Acquire) == POSTED
            && slot
                .state
                .compare_exchange(POSTED, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            // SAFETY: claimed just now; the poster waits for DONE/PANICKED before dropping
            // the work.
            let ok = unsafe { slot.run_claimed() };
            if cheap_clock() {
                // SAFETY: claimed, so the poster does not touch `done_at` until it sees the
                // store below.
                unsafe { *slot.done_at.get() = Some(Instant::now()) };
            }
            slot.state.store(if ok { DONE } else { PANICKED }, Ordering::Release);
            spins = 0;
        } else if exit.load(Ordering::Acquire) {
            return;
        } else {
            backoff(&mut spins);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()
    }

    /// Every block of every step is run exactly once, whatever the pool size.
    #[test]
    fn every_block_once_per_step() {
        for threads in [1, 2, 3, 5] {
            pool(threads).install(|| {
                let counts: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
                Team::run(|team| {
                    for step in 0..200 {
                        team.on_blocks(counts.len(), usize::MAX, |r| {
                            for b in r {
                                assert_eq!(counts[b].fetch_add(1, Ordering::Relaxed), step);
                            }
                        });
                    }
                });
                assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 200));
            });
        }
    }

    /// With one thread slower per block, its share shrinks (the blocks it ran in the last
    /// step are counted), and every block still runs once per step.
    #[test]
    fn shares_move_to_the_faster_thread() {
        if !cheap_clock() {
            eprintln!("SKIPPED: the shares stay even here (reading the clock is a system call)");
            return;
        }
        pool(2).install(|| {
            let counts: Vec<AtomicUsize> = (0..16).map(|_| AtomicUsize::new(0)).collect();
            let poster = std::thread::current().id();
            let mine = AtomicUsize::new(0);
            Team::run(|team| {
                for step in 0..60 {
                    mine.store(0, Ordering::Relaxed);
                    team.on_blocks(counts.len(), usize::MAX, |r| {
                        let slow = std::thread::current().id() != poster;
                        for b in r {
                            assert_eq!(counts[b].fetch_add(1, Ordering::Relaxed), step);
                            if slow {
                                std::thread::sleep(std::time::Duration::from_micros(300));
                            } else {
                                mine.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 60));
            // The poster spends nothing per block: it ends with all but the one block the
            // partner keeps (unless the partner never came, and the poster ran all 16).
            assert!(
                mine.load(Ordering::Relaxed) >= 15,
                "{} blocks",
                mine.load(Ordering::Relaxed)
            );
        });
    }

    /// The balanced hand-off too runs every block exactly once per step, in either direction,
    /// whoever ends up running it; and with a partner slowed down, the others take its blocks.
    #[test]
    fn balanced_every_block_once_per_step() {
        for threads in [1, 2, 3, 5] {
            pool(threads).install(|| {
                let counts: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
                let by_poster = AtomicUsize::new(0);
                let poster = std::thread::current().id();
                Team::run(|team| {
                    for step in 0..200 {
                        team.on_blocks_balanced(counts.len(), 1, usize::MAX, step % 2 == 1, |r| {
                            if step % 50 == 0 {
                                if std::thread::current().id() == poster {
                                    by_poster.fetch_add(r.len(), Ordering::Relaxed);
                                } else {
                                    std::thread::sleep(std::time::Duration::from_millis(1));
                                }
                            }
                            for b in r {
                                assert_eq!(counts[b].fetch_add(1, Ordering::Relaxed), step);
                            }
                        });
                    }
                });
                assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 200));
                // The poster's own range is `even_bound(37, threads, 1)` blocks a step; at the
                // four steps where its partners sleep a millisecond a block, it takes most of
                // theirs as well (all but about one a partner).
                if threads > 1 {
                    let own = 4 * even_bound(37, threads, 1);
                    let got = by_poster.load(Ordering::Relaxed);
                    assert!(
                        got >= own + 4 * 8,
                        "{threads} threads: the poster ran {got} blocks, {own} its own"
                    );
                }
            });
        }
    }

    /// Two teams on a two-thread pool at once (a bidirectional layer): partners that cannot
    /// start do not stall the loops.
    #[test]
    fn busy_pool_does_not_deadlock() {
        pool(2).install(|| {
            let run = || {
                let sum = AtomicUsize::new(0);
                Team::run(|team| {
                    for _ in 0..500 {
                        team.on_blocks(8, usize::MAX, |r| {
                            sum.fetch_add(r.len(), Ordering::Relaxed);
                        });
                    }
                });
                sum.load(Ordering::Relaxed)
            };
            let (a, b) = rayon::join(run, run);
            assert_eq!((a, b), (4000, 4000));
        });
    }

    /// A panic in any range reaches the caller, and the team still shuts down.
    #[test]
    fn panics_propagate() {
        for bad in [0usize, 7] {
            let r = panic::catch_unwind(|| {
                pool(2).install(|| {
                    Team::run(|team| {
                        team.on_blocks(8, usize::MAX, |r| assert!(!r.contains(&bad), "boom"));
                    })
                })
            });
            assert!(r.is_err(), "block {bad}");
            let r = panic::catch_unwind(|| {
                pool(2).install(|| {
                    Team::run(|team| {
                        team.on_blocks_balanced(8, 1, usize::MAX, false, |r| assert!(!r.contains(&bad), "boom"));
                    })
                })
            });
            assert!(r.is_err(), "block {bad}");
        }
    }
}
