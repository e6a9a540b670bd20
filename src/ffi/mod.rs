//! The C ABI: a thin layer of `extern "C"` functions over the safe API, declared in
//! `include/fusedrnn.h` (generated from this module by cbindgen; see `build.rs`).
//!
//! # Shape of the API
//!
//! - A plain C struct [`frnn_layer_desc`] (cell, GRU variant, activation, `I`, `H`, and the
//!   [`frnn_cell_options`]: LSTM projection, peepholes, clips, coupled gates, layer norm)
//!   describes a layer; `frnn_layer_create` makes an opaque `frnn_layer` handle from it and the four weight
//!   buffers (PyTorch layout, as [`crate::Weights`]); `frnn_layer_destroy` frees it.
//! - `frnn_workspace_create` / `frnn_workspace_destroy` manage the training workspace that
//!   `frnn_layer_forward_train` fills and `frnn_layer_backward_data` /
//!   `frnn_layer_backward_weights` read.
//! - `frnn_stream_create` / `frnn_stream_push` / `frnn_stream_destroy`: streaming inference,
//!   the state carried across pushes of any chunk size.
//! - Every buffer is a `(pointer, length in elements)` pair of row-major `float`s. An optional
//!   buffer (initial/final states, their gradients, `dx`) is "absent" when its pointer is NULL,
//!   and its length must then be 0.
//! - Per-call options (lengths, dropout masks) come in [`frnn_forward_options`] (fixed layout)
//!   or [`frnn_forward_options_ex`], which carries its own `struct_size` so that fields can be
//!   appended later without breaking callers built against an older header (the `*_opts_ex`
//!   calls; `frnn_forward_options_ex_init` fills in the defaults).
//! - The training helpers of `fusedrnn::train`: `frnn_adam` (the Adam optimizer over a list
//!   of `frnn_buffer`s, moments kept per position), `frnn_dense` (a dense head `x W^T + b`,
//!   forward and backward), `frnn_seq2vec` (recurrent layers, a width each, read at the last
//!   step by a dense head and trained on the mean squared error: `_predict`,
//!   `_loss_and_grads` then `_apply`, or `_train_step` with clipping and an
//!   [`frnn_step_stats`]; each layer's weights, the head's and the gradient buffers read and
//!   written, for saving, restoring and custom clipping); clipping is `frnn_grad_norm` and
//!   `frnn_clip_grad_*`. `fusedrnn::train::LayerStack` has no handle: `frnn_stack` does what it
//!   does for layers of one width, and `frnn_seq2vec` holds one with a width per layer.
//! - Every call that can fail returns an [`frnn_status`]; `frnn_last_error_message` gives the
//!   detail of the last failure on the calling thread. Out-parameters and output buffers are
//!   written only on success.
//!
//! # Safety model
//!
//! No panic crosses the boundary (every body runs under `catch_unwind`); every
//! pointer is NULL- and alignment-checked and every length validated with overflow-checked
//! arithmetic before any slice is made (in `slices.rs`, the one place raw buffers become
//! slices). Output buffers may not overlap any other buffer of the same call (checked). What
//! cannot be checked — that a non-NULL pointer really points to that many elements, and that a
//! handle is live — is the caller's contract, stated under `# Safety` on every function.
//!
//! # Threads
//!
//! - Any number of threads may call `frnn_layer_forward`, `frnn_layer_forward_train`, the
//!   backward calls and the getters on the same `frnn_layer` at once, provided each training
//!   call uses its own `frnn_workspace`.
//! - The same holds for a `frnn_stack`: inference, training forwards (dropout included) and
//!   backward on one stack at once, each training call with its own `frnn_stack_workspace`
//!   (`ffi-tests/threads.cpp` checks the results are bitwise those of a lone call).
//! - `frnn_layer_set_weights*`, `frnn_stack_set_weights*` and the `*_set_num_threads` calls
//!   may also be called while other threads use the handle: they wait until the running calls
//!   on it have finished, and calls that start later see the new state.
//! - A `frnn_workspace`, `frnn_stack_workspace`, `frnn_stream` or `frnn_stack_stream` serves
//!   one call at a time: concurrent calls on one are serialised (memory-safe, but what it then
//!   holds depends on their order).
//! - A `frnn_dense` is shared like a layer: `frnn_dense_forward`, `frnn_dense_backward` and
//!   the getters from any number of threads at once; `frnn_dense_set_weights` waits for them.
//! - A `frnn_seq2vec`: `frnn_seq2vec_predict` and the getters from any number of threads at
//!   once; the calls that change the model (`_loss_and_grads`, `_apply`, `_train_step`,
//!   `_set_layer_weights`, `_set_head`, `_set_grads`) wait for the running calls and run one
//!   at a time. Its layers run on the process-wide thread setting.
//! - A `frnn_adam` serves one call at a time (concurrent calls are serialised);
//!   `frnn_seq2vec_apply` and `frnn_seq2vec_train_step` lock the model, then the optimizer.
//! - Descriptors are plain structs that the `*_desc_set_*` calls write: not from two threads
//!   at once on one descriptor.
//! - `*_destroy` must not run concurrently with any other use of that handle.
//! - Threads used by a call: the layer's own pool (`frnn_layer_set_num_threads`), else the
//!   process-wide setting (`frnn_set_num_threads`), else the environment variable
//!   `FUSEDRNN_NUM_THREADS` (read once), else rayon's global pool (all cores, or
//!   `RAYON_NUM_THREADS`). Results are bitwise identical whatever the thread count.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types)]

// Declared in the order the header lists them (blank lines keep rustfmt from sorting).
mod status;

mod desc;

mod buffers;

mod layer;

mod workspace;

mod stream;

mod stack_desc;

mod stack;

mod stack_exec;

mod stack_stream;

mod threads;

mod exec;

mod pytorch;

mod convert;

mod clip;

mod train;

mod dense;

mod seq2vec;

mod seq2vec_params;

mod args;
mod handles;
mod shared;
mod slices;
mod weight_sets;

pub use buffers::*;
pub use clip::*;
pub use convert::*;
pub use dense::*;
pub use desc::*;
pub use exec::*;
pub use layer::*;
pub use pytorch::*;
pub use seq2vec::*;
pub use seq2vec_params::*;
pub use stack::*;
pub use stack_desc::*;
pub use stack_exec::*;
pub use stack_stream::*;
pub use status::*;
pub use stream::*;
pub use threads::*;
pub use train::*;
pub use workspace::*;

use std::ffi::{c_char, CStr};

/// The library version, `"MAJOR.MINOR.PATCH"`, as a static NUL-terminated string. It equals
/// `FUSEDRNN_VERSION_STRING` when the header matches the library.
#[no_mangle]
pub extern "C" fn frnn_version() -> *const c_char {
    const VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the version contains a NUL byte"),
    };
    status::guard_value(c"".as_ptr(), || VERSION.as_ptr())
}
