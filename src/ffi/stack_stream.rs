//! The stack streaming handle: every layer's state carried across pushes of any chunk size.

use std::sync::MutexGuard;

use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::shared::{stream_push, stream_set_state, Serial};
use super::slices::{borrow, Dst};
use super::stack::frnn_stack;
use super::status::{frnn_status, guard, guard_value};
use crate::api::StackStream;

/// Streaming inference through a forward-direction stack: the hidden (and cell) states of
/// every layer for `N` sequences, carried from one `frnn_stack_stream_push` to the next.
/// Pushing a sequence in chunks of any sizes gives bitwise the outputs and final states of one
/// `frnn_stack_forward` over the whole sequence. Data is time-major whatever the stack's
/// `batch_first`. Opaque; create with `frnn_stack_stream_create`, free with
/// `frnn_stack_stream_destroy`. Calls on one stream are serialised; use one stream per thread.
pub struct frnn_stack_stream {
    stream: Serial<StackStream>,
}

impl frnn_stack_stream {
    fn lock(&self) -> MutexGuard<'_, StackStream> {
        self.stream.lock()
    }
}

/// Creates a stream of `batch` (`N`) sequences through `stack` (whose direction must be
/// `FRNN_DIRECTION_FORWARD`), starting from zero states, and writes its handle to
/// `*out_stream`. With `max_steps > 0`, scratch memory for pushes of up to that many steps is
/// allocated now, so such pushes allocate nothing.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`batch` is 0),
/// `FRNN_STATUS_OVERFLOW`, `FRNN_STATUS_INVALID_VALUE` (not a forward-direction stack).
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `out_stream` is NULL or points to a writable
/// `frnn_stack_stream *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_stream_create(
    stack: *const frnn_stack,
    batch: usize,
    max_steps: usize,
    out_stream: *mut *mut frnn_stack_stream,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let out = Out::new("out_stream", out_stream)?;
        let stream = stack.with(|s| StackStream::with_capacity(s, batch, max_steps))?;
        let handle = into_handle(frnn_stack_stream {
            stream: Serial::new(stream),
        });
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Frees a stack stream. NULL is a no-op.
///
/// # Safety
///
/// `stream` is NULL or a live stack stream handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_stream_destroy(stream: *mut frnn_stack_stream) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(stream) }
    })
}

/// Runs the next `T = x_len / (N * I)` steps of the stream's sequences through every layer of
/// `stack` (a stack with the descriptor the stream was made for): `x` is `[T, N, I]`, `y`
/// the top layer's output `[T, N, H]`; the states move on. Runs on the stack's threads.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH` (`x_len` is 0 or not a
/// multiple of `N * I`, or `y_len` is not `T * N * H`), `FRNN_STATUS_INVALID_VALUE` (the
/// stack's descriptor differs from the stream's; misaligned or overlapping buffers),
/// `FRNN_STATUS_OVERFLOW`. On error neither `y` nor the states change.
///
/// # Safety
///
/// `stream` and `stack` are NULL or live handles; `x` and `y` are NULL or point to their
/// lengths in `float`s, readable and writable respectively.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_stream_push(
    stream: *mut frnn_stack_stream,
    stack: *const frnn_stack,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let stream = unsafe { borrow_handle("stream", stream) }?;
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { stream_push(&stream.stream, stack, x, x_len, y, y_len) }
    })
}

/// Sets the states of every layer: `h` `[L, N, H]`, and `c` `[L, N, H]` for an LSTM (NULL
/// with length 0 otherwise).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_MISSING_ARGUMENT` (no `c` for an LSTM), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (a
/// `c` for a GRU or RNN), `FRNN_STATUS_INVALID_VALUE` (misaligned). The states are unchanged
/// on error.
///
/// # Safety
///
/// `stream` is NULL or a live stack stream handle; `h` and `c` are NULL or point to their
/// lengths in readable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_stream_set_state(
    stream: *mut frnn_stack_stream,
    h: *const f32,
    h_len: usize,
    c: *const f32,
    c_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let stream = unsafe { borrow_handle("stream", stream) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { stream_set_state(&stream.stream, h, h_len, c, c_len) }
    })
}

/// Copies the states of every layer into `h` `[L, N, H]` and, for an LSTM and when not NULL,
/// `c` `[L, N, H]`. Zeros before the first push or `frnn_stack_stream_set_state`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_UNEXPECTED_ARGUMENT` (a `c` for a GRU or RNN), `FRNN_STATUS_INVALID_VALUE`.
/// Nothing is written on error.
///
/// # Safety
///
/// `stream` is NULL or a live stack stream handle; `h` and `c` are NULL or point to their
/// lengths in writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_stream_get_state(
    stream: *const frnn_stack_stream,
    h: *mut f32,
    h_len: usize,
    c: *mut f32,
    c_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stream = unsafe { borrow_handle("stream", stream) }?;
        // SAFETY: the caller's contract (see # Safety).
        let ([], [], [h], [c]) = unsafe { borrow([], [], [Dst::new("h", h, h_len)], [Dst::new("c", c, c_len)]) }?;
        Ok(stream.lock().state(h, c)?)
    })
}

/// Resets every layer of the stream to zero states.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `stream` is NULL or a live stack stream handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_stream_reset(stream: *mut frnn_stack_stream) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stream = unsafe { borrow_handle("stream", stream) }?;
        stream.lock().reset();
        Ok(())
    })
}
