//! The streaming-inference handle: a layer's state carried across pushes of any chunk size.

use std::sync::MutexGuard;

use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::layer::frnn_layer;
use super::shared::{stream_push, stream_set_state, Serial};
use super::slices::{borrow, Dst};
use super::status::{frnn_status, guard, guard_value};
use crate::api::Stream;
use crate::error::{check_len, Error};

/// Streaming inference for one layer: the hidden (and cell) state of `N` sequences, carried
/// from one `frnn_stream_push` to the next. Pushing a sequence in chunks of any sizes gives
/// bitwise the outputs of one `frnn_layer_forward` over the whole sequence. Opaque; create
/// with `frnn_stream_create`, free with `frnn_stream_destroy`. Calls on one stream are
/// serialised; use one stream per thread.
pub struct frnn_stream {
    stream: Serial<Stream>,
}

impl frnn_stream {
    fn lock(&self) -> MutexGuard<'_, Stream> {
        self.stream.lock()
    }
}

/// Creates a stream of `batch` (`N`) sequences for `layer`, starting from zero states, and
/// writes its handle to `*out_stream`. With `max_steps > 0`, scratch memory for pushes of
/// up to that many steps is allocated now, so such pushes allocate nothing.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE` (`batch` is 0),
/// `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; `out_stream` is NULL or points to a writable
/// `frnn_stream *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stream_create(
    layer: *const frnn_layer,
    batch: usize,
    max_steps: usize,
    out_stream: *mut *mut frnn_stream,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        let out = Out::new("out_stream", out_stream)?;
        let stream = layer.with(|l| match max_steps {
            0 => Stream::new(l, batch),
            steps => Stream::with_capacity(l, batch, steps),
        })?;
        let handle = into_handle(frnn_stream {
            stream: Serial::new(stream),
        });
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Frees a stream. NULL is a no-op.
///
/// # Safety
///
/// `stream` is NULL or a live stream handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_stream_destroy(stream: *mut frnn_stream) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(stream) }
    })
}

/// Runs the next `T = x_len / (N * I)` steps of the stream's sequences through `layer` (a
/// layer with the descriptor the stream was made for): `x` is `[T, N, I]`, `y` `[T, N, H]`;
/// the state moves on. Runs on the layer's threads.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH` (`x_len` is 0 or not a
/// multiple of `N * I`, or `y_len` is not `T * N * H`), `FRNN_STATUS_INVALID_VALUE` (the
/// layer's descriptor differs from the stream's; misaligned or overlapping buffers),
/// `FRNN_STATUS_OVERFLOW`. On error neither `y` nor the state changes.
///
/// # Safety
///
/// `stream` and `layer` are NULL or live handles; `x` and `y` are NULL or point to their
/// lengths in `float`s, readable and writable respectively.
#[no_mangle]
pub unsafe extern "C" fn frnn_stream_push(
    stream: *mut frnn_stream,
    layer: *const frnn_layer,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); shared access, the state is locked.
        let stream = unsafe { borrow_handle("stream", stream) }?;
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { stream_push(&stream.stream, layer, x, x_len, y, y_len) }
    })
}

/// Sets the stream's state: `h` `[N, H]`, and `c` `[N, H]` for an LSTM (NULL with length 0
/// otherwise).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_MISSING_ARGUMENT` (no `c` for an LSTM), `FRNN_STATUS_UNEXPECTED_ARGUMENT` (a
/// `c` for a GRU or RNN), `FRNN_STATUS_INVALID_VALUE` (misaligned). The state is unchanged
/// on error.
///
/// # Safety
///
/// `stream` is NULL or a live stream handle; `h` and `c` are NULL or point to their lengths
/// in readable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stream_set_state(
    stream: *mut frnn_stream,
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

/// Copies the stream's current state into `h` `[N, H]` and, for an LSTM, `c` `[N, H]`; a
/// NULL buffer (length 0) is skipped. Zeros before the first push or `frnn_stream_set_state`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_LENGTH_MISMATCH`,
/// `FRNN_STATUS_UNEXPECTED_ARGUMENT` (a `c` for a GRU or RNN), `FRNN_STATUS_INVALID_VALUE`.
/// Nothing is written on error.
///
/// # Safety
///
/// `stream` is NULL or a live stream handle; `h` and `c` are NULL or point to their lengths
/// in writable `float`s.
#[no_mangle]
pub unsafe extern "C" fn frnn_stream_get_state(
    stream: *const frnn_stream,
    h: *mut f32,
    h_len: usize,
    c: *mut f32,
    c_len: usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stream = unsafe { borrow_handle("stream", stream) }?;
        // SAFETY: the caller's contract (see # Safety).
        let ([], [], [], [h, c]) = unsafe { borrow([], [], [], [Dst::new("h", h, h_len), Dst::new("c", c, c_len)]) }?;
        let s = stream.lock();
        if let Some(h) = &h {
            check_len("h", s.h().len(), h.len())?;
        }
        match (&c, s.c()) {
            (Some(c), Some(state)) => check_len("c", state.len(), c.len())?,
            (Some(_), None) => return Err(Error::Unexpected { what: "c" }.into()),
            (None, _) => {}
        }
        if let Some(h) = h {
            h.copy_from_slice(s.h());
        }
        if let (Some(c), Some(state)) = (c, s.c()) {
            c.copy_from_slice(state);
        }
        Ok(())
    })
}

/// Resets the stream to zero states.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `stream` is NULL or a live stream handle.
#[no_mangle]
pub unsafe extern "C" fn frnn_stream_reset(stream: *mut frnn_stream) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stream = unsafe { borrow_handle("stream", stream) }?;
        stream.lock().reset();
        Ok(())
    })
}
