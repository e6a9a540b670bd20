//! The argument groups that several entry points share, as named buffers for
//! [`borrow`](super::slices::borrow): the sequence buffers of a forward call, the buffers of
//! backward-data, and the four weight (or weight-gradient) buffers of a layer.

use std::mem::{align_of, size_of};

use super::buffers::{frnn_forward_options, frnn_forward_options_ex};
use super::slices::{borrow, Dst, Src};
use super::status::FfiError;
use super::weight_sets::opt_struct;
use crate::api::{GradInput, GradOutput, SeqInput, SeqOutput};
use crate::error::Error;

/// A forward call's buffers: `x`; `h0`, `c0`, `recurrent_mask`, `input_mask` (optional);
/// `y`; `h_n`, `c_n` (optional).
pub(crate) struct SeqBufs {
    pub(crate) req_in: [Src; 1],
    pub(crate) opt_in: [Src; 4],
    pub(crate) req_out: [Dst; 1],
    pub(crate) opt_out: [Dst; 2],
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn seq_bufs(
    x: *const f32,
    x_len: usize,
    h0: *const f32,
    h0_len: usize,
    c0: *const f32,
    c0_len: usize,
    y: *mut f32,
    y_len: usize,
    h_n: *mut f32,
    h_n_len: usize,
    c_n: *mut f32,
    c_n_len: usize,
) -> SeqBufs {
    SeqBufs {
        req_in: [Src::new("x", x, x_len)],
        opt_in: [
            Src::new("h0", h0, h0_len),
            Src::new("c0", c0, c0_len),
            Src::new("recurrent_mask", std::ptr::null(), 0),
            Src::new("input_mask", std::ptr::null(), 0),
        ],
        req_out: [Dst::new("y", y, y_len)],
        opt_out: [Dst::new("h_n", h_n, h_n_len), Dst::new("c_n", c_n, c_n_len)],
    }
}

/// The options of no `*_opts` call: no lengths, no mask.
pub(crate) fn no_options() -> frnn_forward_options {
    frnn_forward_options {
        lengths: std::ptr::null(),
        lengths_len: 0,
        recurrent_mask: std::ptr::null(),
        recurrent_mask_len: 0,
    }
}

/// Only lengths.
pub(crate) fn length_options(lengths: *const usize, lengths_len: usize) -> frnn_forward_options {
    frnn_forward_options {
        lengths,
        lengths_len,
        ..no_options()
    }
}

/// The options argument of a forward call: either struct (NULL: none).
#[derive(Clone, Copy, Debug)]
pub(crate) enum OptsPtr {
    /// A `frnn_forward_options` (the `*_opts` calls).
    Plain(*const frnn_forward_options),
    /// A size-versioned `frnn_forward_options_ex` (the `*_opts_ex` calls).
    Ex(*const frnn_forward_options_ex),
}

impl From<frnn_forward_options> for frnn_forward_options_ex {
    fn from(o: frnn_forward_options) -> Self {
        Self {
            struct_size: size_of::<frnn_forward_options_ex>(),
            lengths: o.lengths,
            lengths_len: o.lengths_len,
            recurrent_mask: o.recurrent_mask,
            recurrent_mask_len: o.recurrent_mask_len,
            input_mask: std::ptr::null(),
            input_mask_len: 0,
        }
    }
}

/// What a caller's options argument says, as a `frnn_forward_options_ex` (absent: all
/// absent).
///
/// # Safety
///
/// A `Plain` pointer is NULL or points to a readable `frnn_forward_options`; an `Ex` pointer
/// as [`read_options_ex`].
pub(crate) unsafe fn read_opts(opts: OptsPtr) -> Result<frnn_forward_options_ex, FfiError> {
    let o = match opts {
        // SAFETY: the contract, passed on.
        OptsPtr::Plain(p) => unsafe { opt_struct("opts", p) }?.map(|o| frnn_forward_options_ex::from(*o)),
        // SAFETY: the contract, passed on.
        OptsPtr::Ex(p) => unsafe { read_options_ex(p) }?,
    };
    Ok(o.unwrap_or_else(|| no_options().into()))
}

/// Reads a size-versioned `frnn_forward_options_ex` (NULL: none): its `struct_size` must be
/// at least this version's size, and every byte past this version's fields (a newer
/// caller's options) zero.
///
/// # Safety
///
/// `opts` is NULL or points to a `frnn_forward_options_ex` whose first `struct_size` bytes
/// are readable and that nothing writes during the call.
pub(crate) unsafe fn read_options_ex(
    opts: *const frnn_forward_options_ex,
) -> Result<Option<frnn_forward_options_ex>, FfiError> {
    if opts.is_null() {
        return Ok(None);
    }
    if !(opts as usize).is_multiple_of(align_of::<frnn_forward_options_ex>()) {
        return Err(FfiError::Misaligned {
            what: "opts".into(),
            align: align_of::<frnn_forward_options_ex>(),
        });
    }
    // SAFETY: non-NULL and aligned; the first member is readable (the contract).
    let size = unsafe { opts.cast::<usize>().read() };
    let ours = size_of::<frnn_forward_options_ex>();
    if size < ours {
        return Err(Error::InvalidValue {
            what: "opts.struct_size",
            why: "smaller than this version's frnn_forward_options_ex (use frnn_forward_options_ex_init)",
        }
        .into());
    }
    let fits = size <= isize::MAX as usize && (opts as usize).checked_add(size).is_some();
    if !fits {
        return Err(Error::InvalidValue {
            what: "opts.struct_size",
            why: "too large for a struct at that address",
        }
        .into());
    }
    // SAFETY: `size` bytes from `opts` are readable (the contract), the range fits in the
    // address space (checked above), and `ours <= size`.
    let newer = unsafe { std::slice::from_raw_parts(opts.cast::<u8>().add(ours), size - ours) };
    if newer.iter().any(|&b| b != 0) {
        return Err(Error::InvalidValue {
            what: "opts",
            why: "sets options this library version does not know (past its frnn_forward_options_ex)",
        }
        .into());
    }
    // SAFETY: aligned, readable (`ours <= size` bytes), and every bit pattern of its fields
    // (pointers and sizes) is valid.
    Ok(Some(unsafe { opts.read() }))
}

impl SeqBufs {
    /// The checked buffers and options as the safe API's arguments.
    ///
    /// # Safety
    ///
    /// As [`borrow`] and [`read_opts`]; the options' buffers are NULL or point to their
    /// lengths in readable elements.
    pub(crate) unsafe fn borrow<'a>(self, opts: OptsPtr) -> Result<(SeqInput<'a>, SeqOutput<'a>), FfiError> {
        // SAFETY: the contract, passed on.
        let opts = unsafe { read_opts(opts) }?;
        // SAFETY: the contract, passed on.
        unsafe { self.borrow_with(opts) }
    }

    /// The checked buffers with the options' lengths and masks.
    ///
    /// # Safety
    ///
    /// As [`borrow`]; the buffers of `opts` are NULL or point to their lengths in readable
    /// elements.
    unsafe fn borrow_with<'a>(
        mut self,
        opts: frnn_forward_options_ex,
    ) -> Result<(SeqInput<'a>, SeqOutput<'a>), FfiError> {
        // SAFETY: the contract, passed on.
        let lengths = unsafe { lengths_arg(opts.lengths, opts.lengths_len) }?;
        self.opt_in[2] = Src::new("recurrent_mask", opts.recurrent_mask, opts.recurrent_mask_len);
        self.opt_in[3] = Src::new("input_mask", opts.input_mask, opts.input_mask_len);
        // SAFETY: the contract, passed on.
        let ([x], [h0, c0, recurrent_mask, input_mask], [y], [h_n, c_n]) =
            unsafe { borrow(self.req_in, self.opt_in, self.req_out, self.opt_out) }?;
        Ok((
            SeqInput {
                x,
                h0,
                c0,
                lengths,
                recurrent_mask,
                input_mask,
            },
            SeqOutput { y, h_n, c_n },
        ))
    }
}

/// Backward-data's buffers: `dy`; `dh_n`, `dc_n` (optional); `dx`, `dh0`, `dc0` (optional).
pub(crate) struct GradBufs {
    pub(crate) req_in: [Src; 1],
    pub(crate) opt_in: [Src; 2],
    pub(crate) opt_out: [Dst; 3],
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn grad_bufs(
    dy: *const f32,
    dy_len: usize,
    dh_n: *const f32,
    dh_n_len: usize,
    dc_n: *const f32,
    dc_n_len: usize,
    dx: *mut f32,
    dx_len: usize,
    dh0: *mut f32,
    dh0_len: usize,
    dc0: *mut f32,
    dc0_len: usize,
) -> GradBufs {
    GradBufs {
        req_in: [Src::new("dy", dy, dy_len)],
        opt_in: [Src::new("dh_n", dh_n, dh_n_len), Src::new("dc_n", dc_n, dc_n_len)],
        opt_out: [
            Dst::new("dx", dx, dx_len),
            Dst::new("dh0", dh0, dh0_len),
            Dst::new("dc0", dc0, dc0_len),
        ],
    }
}

/// The safe API's backward-data arguments from the checked slices (in [`GradBufs`] order).
pub(crate) fn grad_args<'a>(
    [dy]: [&'a [f32]; 1],
    [dh_n, dc_n]: [Option<&'a [f32]>; 2],
    [dx, dh0, dc0]: [Option<&'a mut [f32]>; 3],
) -> (GradOutput<'a>, GradInput<'a>) {
    (GradOutput { dy, dh_n, dc_n }, GradInput { dx, dh0, dc0 })
}

/// The optional lengths argument: NULL with 0 is "no lengths".
///
/// # Safety
///
/// `lengths` is NULL or points to `len` readable `size_t`s.
pub(crate) unsafe fn lengths_arg<'a>(lengths: *const usize, len: usize) -> Result<Option<&'a [usize]>, FfiError> {
    if lengths.is_null() && len == 0 {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    unsafe { super::buffers::borrow_array("lengths", lengths, len) }.map(Some)
}
