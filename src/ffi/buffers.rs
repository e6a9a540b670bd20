//! Buffers passed in arrays: one `float` buffer, and the four weight buffers of one layer
//! (one direction of one layer of a stack).

use std::mem::{align_of, size_of};

use super::slices::{Dst, Src};
use super::status::{FfiError, Name};

/// A buffer the call reads: `len` `float`s at `data` (`data` may be NULL only when `len` is 0).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_const_buffer {
    /// The first element.
    pub data: *const f32,
    /// The number of elements.
    pub len: usize,
}

/// A buffer the call writes (or reads and writes): `len` `float`s at `data` (`data` may be
/// NULL only when `len` is 0).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_buffer {
    /// The first element.
    pub data: *mut f32,
    /// The number of elements.
    pub len: usize,
}

/// The weights of one layer-direction, read by the call, in PyTorch's layout and gate order
/// (as `frnn_layer_create` takes them): `w_ih` `[G*H, I]`, `w_hh` `[G*H, H]`, `b_ih` and
/// `b_hh` `[G*H]`, row-major; gate blocks `i, f, g, o` (LSTM), `r, z, n` (GRU), one block
/// (RNN). Lengths as `frnn_desc_weight_lens` / `frnn_stack_desc_weight_lens`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_weights {
    /// `W_ih`, `[G*H, I]`.
    pub w_ih: frnn_const_buffer,
    /// `W_hh`, `[G*H, H]`.
    pub w_hh: frnn_const_buffer,
    /// `b_ih`, `[G*H]`.
    pub b_ih: frnn_const_buffer,
    /// `b_hh`, `[G*H]`.
    pub b_hh: frnn_const_buffer,
}

/// The weights (or weight gradients) of one layer-direction, written by the call; layout as
/// `frnn_weights`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_weights_mut {
    /// `W_ih` (or `dW_ih`), `[G*H, I]`.
    pub w_ih: frnn_buffer,
    /// `W_hh` (or `dW_hh`), `[G*H, H]`.
    pub w_hh: frnn_buffer,
    /// `b_ih` (or `db_ih`), `[G*H]`.
    pub b_ih: frnn_buffer,
    /// `b_hh` (or `db_hh`), `[G*H]`.
    pub b_hh: frnn_buffer,
}

/// The extra weight buffers of one layer-direction, read by the call: those that only some
/// layers have (lengths as `frnn_desc_extra_weight_lens` / `frnn_stack_desc_extra_weight_lens`).
/// Zero-initialise it; a buffer the layer does not have must be absent (NULL, length 0).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_extra_weights {
    /// `W_hr`, `[P, H]` row-major: the LSTM projection (`options.proj_size`; PyTorch
    /// `weight_hr_l{k}`), `h' = W_hr (o * tanh(c'))`. Required with a projection.
    pub w_hr: frnn_const_buffer,
    /// The LSTM peepholes (`options.peepholes`), `[3H]`: `p_i`, `p_f`, `p_o`, `H` each, in
    /// that order. Required with peepholes.
    pub peepholes: frnn_const_buffer,
    /// The layer-normalization gains and biases (`options.layer_norm`). LSTM `[18H]`: `g_x`,
    /// `b_x`, `g_h`, `b_h` (`[4H]` each, gate blocks `i, f, g, o`), then `g_c`, `b_c` (`[H]`
    /// each). GRU `[12H]`: `g_x`, `b_x`, `g_h`, `b_h` (`[3H]` each, gate blocks `r, z, n`).
    /// `x` normalizes `W_ih x`, `h` normalizes `W_hh h`, `c` the new cell state. Optional:
    /// absent, a layer-normalized layer gets the identity (`g = 1`, `b = 0`).
    pub layer_norm: frnn_const_buffer,
}

/// The extra weight buffers (or their gradients `dW_hr`, `dpeepholes`, `dlayer_norm`) of
/// one layer-direction, written by the call; layout as `frnn_extra_weights`. Zero-initialise
/// it; a buffer the layer does not have must be absent (NULL, length 0).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_extra_weights_mut {
    /// `W_hr` (or `dW_hr`), `[P, H]`.
    pub w_hr: frnn_buffer,
    /// The peepholes (or their gradient), `[3H]`: `p_i, p_f, p_o`.
    pub peepholes: frnn_buffer,
    /// The layer-normalization parameters (or their gradient), `[18H]` (LSTM) or `[12H]`
    /// (GRU).
    pub layer_norm: frnn_buffer,
}

/// The per-call options of the `*_opts` forward calls (`frnn_layer_forward_opts`,
/// `frnn_layer_forward_train_opts`, `frnn_stack_forward_train_dropout`). Zero-initialise it;
/// a NULL options pointer means all absent. Its layout is fixed (it has no size field); the
/// input-dropout mask and later options are in `frnn_forward_options_ex`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_forward_options {
    /// Sequence lengths, one per sequence (`N` of them, each in `0..=T`), as in
    /// `frnn_layer_forward_lengths`; NULL (length 0): every sequence has `T` steps.
    pub lengths: *const usize,
    /// The number of elements of `lengths`.
    pub lengths_len: usize,
    /// Recurrent (variational) dropout of a layer's training forward (Gal & Ghahramani 2016;
    /// Keras `recurrent_dropout`): a `[N, H]` mask (`[N, P]` with an LSTM projection)
    /// multiplying the hidden state wherever it enters a recurrent product (`W_hh h`; the
    /// GRU's `W_hn (r * h)`), the same at every step; the GRU's `z * h` and the state itself
    /// are not masked. Usually 0 or `1/(1-p)` per element (`frnn_dropout_mask` draws one). It
    /// is kept in the workspace, and backward goes through it. NULL (length 0): none.
    /// Inference refuses a mask (`FRNN_STATUS_UNEXPECTED_ARGUMENT`), and so do stacks, which
    /// draw their own (`FRNN_STATUS_INVALID_VALUE`).
    pub recurrent_mask: *const f32,
    /// The number of elements of `recurrent_mask`.
    pub recurrent_mask_len: usize,
}

/// The per-call options of the `*_opts_ex` forward calls (`frnn_layer_forward_opts_ex`,
/// `frnn_layer_forward_train_opts_ex`, `frnn_stack_forward_opts`,
/// `frnn_stack_forward_train_dropout_ex`): those of `frnn_forward_options` and the input
/// dropout mask, in a struct that says its own size so that later versions can append fields
/// without breaking callers compiled against this header.
///
/// Initialise it with `frnn_forward_options_ex_init` (or zero it and set `struct_size` to
/// `sizeof(frnn_forward_options_ex)`), then set the fields wanted. The library refuses a
/// `struct_size` smaller than this version's struct (`FRNN_STATUS_INVALID_VALUE`); a larger
/// one (a caller built against a newer header) is accepted when every byte past this
/// version's fields is zero, that is when the caller left the options this library does not
/// know unset, and refused otherwise (`FRNN_STATUS_INVALID_VALUE`). A NULL options pointer
/// means all absent.
///
/// (`frnn_forward_options` itself has no size field, so it stays as it is: a library reading
/// more fields from it would read past the struct of a caller compiled with the old header.)
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_forward_options_ex {
    /// `sizeof(frnn_forward_options_ex)` as the caller compiled it; must be first.
    pub struct_size: usize,
    /// Sequence lengths, as `frnn_forward_options.lengths`.
    pub lengths: *const usize,
    /// The number of elements of `lengths`.
    pub lengths_len: usize,
    /// A layer's recurrent-dropout mask (training only), as
    /// `frnn_forward_options.recurrent_mask`.
    pub recurrent_mask: *const f32,
    /// The number of elements of `recurrent_mask`.
    pub recurrent_mask_len: usize,
    /// Input (variational) dropout of a layer's training forward (Gal & Ghahramani 2016;
    /// Keras `dropout` of an LSTM/GRU layer): a `[N, I]` mask multiplying every step's input
    /// `x_t` (in the caller's batch order, also with `lengths`), the same at every step.
    /// Usually 0 or `1/(1-p)` per element (`frnn_dropout_mask` draws one). The masked input is
    /// kept in the workspace: backward-weights computes `dW_ih` from it (the `x` it is given
    /// must still have its length) and backward-data multiplies `dx` by the mask. NULL
    /// (length 0): none. Inference refuses a mask (`FRNN_STATUS_UNEXPECTED_ARGUMENT`), and so
    /// do stacks, which draw their own (`FRNN_STATUS_INVALID_VALUE`; `frnn_dropout.input`).
    pub input_mask: *const f32,
    /// The number of elements of `input_mask`.
    pub input_mask_len: usize,
}

/// The dropout probabilities of `frnn_stack_forward_train_dropout_ex`, each in `[0, 1)`
/// (0: off); every mask element is 0 with probability `p`, else `1/(1-p)`. Zero-initialise
/// it. Its layout is fixed: dropout of another kind would come with a new struct and call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct frnn_dropout {
    /// On the output of every layer but the last (PyTorch's `dropout`): one `[T, N, W]` mask
    /// per layer but the last (`FRNN_MASK_KIND_BETWEEN_LAYERS`).
    pub between_layers: f32,
    /// Recurrent (variational) dropout: one `[N, H]` (`[N, P]`) mask per layer-direction, the
    /// same at every step (`FRNN_MASK_KIND_RECURRENT`; see
    /// `frnn_forward_options.recurrent_mask`).
    pub recurrent: f32,
    /// Input (variational) dropout (Keras `dropout`): one `[N, I_l]` mask per
    /// layer-direction (`I_l`: the stack's input size for layer 0, its output width `W`
    /// above), multiplying every step's input to it (`FRNN_MASK_KIND_INPUT`; see
    /// `frnn_forward_options_ex.input_mask`). Above layer 0 it applies after the
    /// `between_layers` mask of the layer below.
    pub input: f32,
}

/// The names of the four weight buffers in messages.
pub(crate) const WEIGHT_NAMES: [&str; 4] = ["W_ih", "W_hh", "b_ih", "b_hh"];

impl frnn_weights {
    /// The four buffers as sources named `{array}[{index}].W_ih` etc.
    pub(crate) fn srcs(&self, array: &'static str, index: usize) -> [Src; 4] {
        let b = [self.w_ih, self.w_hh, self.b_ih, self.b_hh];
        std::array::from_fn(|k| Src::new(Name::at(array, index, WEIGHT_NAMES[k]), b[k].data, b[k].len))
    }
}

impl frnn_weights_mut {
    /// The four buffers as destinations named `{array}[{index}].{names[k]}`.
    pub(crate) fn dsts(&self, array: &'static str, index: usize, names: [&'static str; 4]) -> [Dst; 4] {
        let b = [self.w_ih, self.w_hh, self.b_ih, self.b_hh];
        std::array::from_fn(|k| Dst::new(Name::at(array, index, names[k]), b[k].data, b[k].len))
    }
}

/// Borrows an array argument of `count` elements: NULL only with `count == 0` (an empty
/// array), aligned, and `count * size_of::<T>()` bytes fitting in `isize`.
///
/// # Safety
///
/// A non-NULL `ptr` points to `count` initialised `T`s that nothing writes during `'a`.
pub(crate) unsafe fn borrow_array<'a, T>(what: &'static str, ptr: *const T, count: usize) -> Result<&'a [T], FfiError> {
    let what = Name::from(what);
    if ptr.is_null() {
        return match count {
            0 => Ok(&[]),
            len => Err(FfiError::NullWithLen { what, len }),
        };
    }
    if !(ptr as usize).is_multiple_of(align_of::<T>()) {
        return Err(FfiError::Misaligned {
            what,
            align: align_of::<T>(),
        });
    }
    let fits = count
        .checked_mul(size_of::<T>())
        .is_some_and(|b| b <= isize::MAX as usize && (ptr as usize).checked_add(b).is_some());
    if !fits {
        return Err(FfiError::TooLong { what, len: count });
    }
    // SAFETY: non-NULL, aligned, the size fits (checked above); validity is the contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}
