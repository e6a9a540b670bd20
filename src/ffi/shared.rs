//! What a layer or stack handle holds: the value behind a read-write lock, and optionally its
//! own thread pool.

use std::ops::DerefMut;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rayon::ThreadPool;

use super::status::FfiError;
use super::threads;

/// A value shared by concurrent calls (read-locked), replaced or reconfigured under the write
/// lock (which waits for the running calls).
pub struct Shared<T> {
    state: RwLock<Pooled<T>>,
}

/// The value and, when set by `*_set_num_threads`, its own pool (`None`: the process-wide
/// default).
pub struct Pooled<T> {
    pub(crate) value: T,
    pub(crate) pool: Option<ThreadPool>,
}

impl<T: Sync> Shared<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            state: RwLock::new(Pooled { value, pool: None }),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Pooled<T>> {
        // A panic while the value was replaced is reported as INTERNAL; the handle stays usable.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Pooled<T>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// `f` on the value, on the calling thread.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> crate::Result<R>) -> Result<R, FfiError> {
        Ok(f(&self.read().value)?)
    }

    /// `f` on the value, on the handle's threads.
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce(&T) -> crate::Result<R> + Send) -> Result<R, FfiError> {
        let st = self.read();
        let value = &st.value;
        Ok(threads::run(st.pool.as_ref(), move || f(value))??)
    }

    /// `f` on the value and what `lock` locks (a workspace, a stream), on the handle's
    /// threads. Both locks are taken on the calling thread (never on a pool thread, which
    /// could be running another call's task), always the handle's first.
    pub(crate) fn run_locked<G, U, R>(
        &self,
        lock: impl FnOnce() -> G,
        f: impl FnOnce(&T, &mut U) -> Result<R, FfiError> + Send,
    ) -> Result<R, FfiError>
    where
        G: DerefMut<Target = U>,
        U: Send + ?Sized,
        R: Send,
    {
        let st = self.read();
        let mut guard = lock();
        let (value, target) = (&st.value, &mut *guard);
        threads::run(st.pool.as_ref(), move || f(value, target))?
    }

    /// Gives the handle its own pool of `num_threads` threads (0: back to the process-wide
    /// setting); waits for the running calls.
    pub(crate) fn set_num_threads(&self, num_threads: usize) -> Result<(), FfiError> {
        let pool = match num_threads {
            0 => None,
            n => Some(threads::build_pool("num_threads", n)?),
        };
        let old = std::mem::replace(&mut self.write().pool, pool);
        drop(old); // outside the lock: its threads are told to stop.
        Ok(())
    }

    /// The number of threads calls on the handle use.
    pub(crate) fn num_threads(&self) -> Result<usize, FfiError> {
        threads::effective(self.read().pool.as_ref())
    }
}
