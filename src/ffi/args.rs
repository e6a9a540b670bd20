//! The argument groups that several entry points share, as named buffers for
//! [`borrow`](super::slices::borrow): the sequence buffers of a forward call, the buffers of
//! backward-data, and the four weight (or weight-gradient) buffers of a layer.

use super::buffers::frnn_forward_options;
use super::slices::{borrow, Dst, Src};
use super::status::FfiError;
use super::weight_sets::opt_struct;
use crate::api::{GradInput, GradOutput, SeqInput, SeqOutput};

/// A forward call's buffers: `x`; `h0`, `c0`, `recurrent_mask` (optional); `y`; `h_n`, `c_n`
/// (optional).
pub(crate) struct SeqBufs {
    pub(crate) req_in: [Src; 1],
    pub(crate) opt_in: [Src; 3],
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

impl SeqBufs {
    /// The checked buffers and options (`opts` NULL: none) as the safe API's arguments.
    ///
    /// # Safety
    ///
    /// As [`borrow`]; `opts` is NULL or points to a readable `frnn_forward_options` whose
    /// `lengths` is NULL or points to `lengths_len` readable `size_t`s.
    pub(crate) unsafe fn borrow<'a>(
        mut self,
        opts: *const frnn_forward_options,
    ) -> Result<(SeqInput<'a>, SeqOutput<'a>), FfiError> {
        // SAFETY: the contract, passed on.
        let opts = unsafe { opt_struct("opts", opts) }?.copied().unwrap_or_else(no_options);
        // SAFETY: the contract, passed on.
        let lengths = unsafe { lengths_arg(opts.lengths, opts.lengths_len) }?;
        self.opt_in[2] = Src::new("recurrent_mask", opts.recurrent_mask, opts.recurrent_mask_len);
        // SAFETY: the contract, passed on.
        let ([x], [h0, c0, recurrent_mask], [y], [h_n, c_n]) =
            unsafe { borrow(self.req_in, self.opt_in, self.req_out, self.opt_out) }?;
        Ok((
            SeqInput {
                x,
                h0,
                c0,
                lengths,
                recurrent_mask,
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
