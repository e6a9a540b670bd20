//! What a layer, stack, dense-head or model handle holds: the value behind a read-write
//! lock, and optionally its own thread pool.

use std::ops::DerefMut;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

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

    /// `f` on the value under the write lock (it waits for the running calls, and calls that
    /// start later wait for it), on the handle's threads.
    pub(crate) fn run_mut<R: Send>(&self, f: impl FnOnce(&mut T) -> Result<R, FfiError> + Send) -> Result<R, FfiError>
    where
        T: Send,
    {
        let mut st = self.write();
        let st = &mut *st;
        let value = &mut st.value;
        threads::run(st.pool.as_ref(), move || f(value))?
    }

    /// As [`Shared::run_mut`], with what `lock` locks (an optimizer); both locks taken on the
    /// calling thread, the handle's first (as [`Shared::run_locked`]).
    pub(crate) fn run_mut_locked<G, U, R>(
        &self,
        lock: impl FnOnce() -> G,
        f: impl FnOnce(&mut T, &mut U) -> Result<R, FfiError> + Send,
    ) -> Result<R, FfiError>
    where
        T: Send,
        G: DerefMut<Target = U>,
        U: Send + ?Sized,
        R: Send,
    {
        let mut st = self.write();
        let mut guard = lock();
        let st = &mut *st;
        let (value, target) = (&mut st.value, &mut *guard);
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

/// What a streaming handle holds: its state behind a mutex (calls on one stream are
/// serialised).
pub struct Serial<S> {
    state: Mutex<S>,
}

impl<S> Serial<S> {
    pub(crate) fn new(state: S) -> Self {
        Self {
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        // A push refused or interrupted keeps the previous state (see `Stream::push`).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The streaming state of a layer or a stack: the calls `frnn_stream_*` and
/// `frnn_stack_stream_*` share.
pub(crate) trait StreamState: Send {
    /// What it streams through (a layer or a stack).
    type Model: Sync;
    fn push(&mut self, model: &Self::Model, x: &[f32], y: &mut [f32]) -> crate::Result<()>;
    fn set_state(&mut self, h: &[f32], c: Option<&[f32]>) -> crate::Result<()>;
}

impl StreamState for crate::api::Stream {
    type Model = crate::api::Layer;
    fn push(&mut self, model: &Self::Model, x: &[f32], y: &mut [f32]) -> crate::Result<()> {
        crate::api::Stream::push(self, model, x, y)
    }
    fn set_state(&mut self, h: &[f32], c: Option<&[f32]>) -> crate::Result<()> {
        crate::api::Stream::set_state(self, h, c)
    }
}

impl StreamState for crate::api::StackStream {
    type Model = crate::api::Stack;
    fn push(&mut self, model: &Self::Model, x: &[f32], y: &mut [f32]) -> crate::Result<()> {
        crate::api::StackStream::push(self, model, x, y)
    }
    fn set_state(&mut self, h: &[f32], c: Option<&[f32]>) -> crate::Result<()> {
        crate::api::StackStream::set_state(self, h, c)
    }
}

/// The body of `frnn_stream_push` / `frnn_stack_stream_push`: the next steps `x` through
/// `model` into `y`, on the model's threads.
///
/// # Safety
///
/// `x` and `y` are NULL or point to their lengths in `float`s, readable and writable.
pub(crate) unsafe fn stream_push<S: StreamState>(
    stream: &Serial<S>,
    model: &Shared<S::Model>,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> Result<(), FfiError> {
    use super::slices::{borrow, Dst, Src};
    // SAFETY: the caller's contract.
    let ([x], [], [y], []) = unsafe { borrow([Src::new("x", x, x_len)], [], [Dst::new("y", y, y_len)], []) }?;
    // Lock order as everywhere: the model's (inside `run_locked`), then the stream's.
    model.run_locked(|| stream.lock(), |m, s| Ok(s.push(m, x, y)?))
}

/// The body of `frnn_stream_set_state` / `frnn_stack_stream_set_state`.
///
/// # Safety
///
/// `h` and `c` are NULL or point to their lengths in readable `float`s.
pub(crate) unsafe fn stream_set_state<S: StreamState>(
    stream: &Serial<S>,
    h: *const f32,
    h_len: usize,
    c: *const f32,
    c_len: usize,
) -> Result<(), FfiError> {
    use super::slices::{borrow, Src};
    // SAFETY: the caller's contract.
    let ([h], [c], [], []) = unsafe { borrow([Src::new("h", h, h_len)], [Src::new("c", c, c_len)], [], []) }?;
    Ok(stream.lock().set_state(h, c)?)
}
