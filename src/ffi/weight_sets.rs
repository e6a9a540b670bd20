//! Weight sets as the C caller passes them: the four buffers every layer has and the extras
//! (`W_hr`, peepholes, layer-norm parameters) that some have, for one layer or for each
//! layer-direction of a stack. Shared by the layer and stack calls that create, read, write
//! and differentiate weights, so both check the same way and name the buffers alike.

use super::buffers::{frnn_extra_weights, frnn_extra_weights_mut, frnn_weights, frnn_weights_mut};
use super::desc::{extra_lens, weight_lens};
use super::slices::{Dst, Src};
use super::status::{FfiError, Name};
use crate::desc::LayerDesc;
use crate::weights::Weights;

/// The names of the seven buffers of a weight set, in [`Weights::all_buffers`] order.
pub(crate) const WEIGHT_NAMES7: [&str; 7] = ["W_ih", "W_hh", "b_ih", "b_hh", "W_hr", "peepholes", "layer_norm"];
/// The names of the seven gradient buffers.
pub(crate) const GRAD_NAMES7: [&str; 7] = ["dW_ih", "dW_hh", "db_ih", "db_hh", "dW_hr", "dpeepholes", "dlayer_norm"];

/// Where the buffers of one weight set come from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At {
    /// Plain arguments or single structs (messages name the buffer: `W_hr`).
    Args,
    /// Element `k` of an array of main sets and of an array of extras (messages say
    /// `weights[2].W_ih`, `extra[2].W_hr`).
    Elem {
        main: &'static str,
        extra: &'static str,
        k: usize,
    },
}

impl At {
    /// The name of buffer `j` (`0..7`, in [`WEIGHT_NAMES7`] order) in messages.
    pub(crate) fn name(self, names: &[&'static str; 7], j: usize) -> Name {
        match self {
            At::Args => names[j].into(),
            At::Elem { main, extra, k } => Name::at(if j < 4 { main } else { extra }, k, names[j]),
        }
    }
}

/// The expected length of each of the seven buffers of a layer described by `d` (0: it does
/// not have that buffer).
pub(crate) fn lens7(d: &LayerDesc) -> [usize; 7] {
    let (m, e) = (weight_lens(d), extra_lens(d));
    [m[0], m[1], m[2], m[3], e[0], e[1], e[2]]
}

/// The buffers of one set, read: the four main ones (required) and the extras (optional;
/// all absent when `e` is `None`).
pub(crate) fn set_srcs(at: At, w: &frnn_weights, e: Option<&frnn_extra_weights>) -> ([Src; 4], [Src; 3]) {
    let n = |j| at.name(&WEIGHT_NAMES7, j);
    let main = [w.w_ih, w.w_hh, w.b_ih, w.b_hh];
    let extra = e.map_or([(std::ptr::null(), 0); 3], |e| {
        [e.w_hr, e.peepholes, e.layer_norm].map(|b| (b.data, b.len))
    });
    (
        std::array::from_fn(|j| Src::new(n(j), main[j].data, main[j].len)),
        std::array::from_fn(|j| Src::new(n(4 + j), extra[j].0, extra[j].1)),
    )
}

/// The buffers of one set, written: the four main ones (all absent when `w` is `None`) and
/// the extras (all absent when `e` is `None`), named from `names`.
pub(crate) fn set_dsts(
    at: At,
    names: &[&'static str; 7],
    w: Option<&frnn_weights_mut>,
    e: Option<&frnn_extra_weights_mut>,
) -> [Dst; 7] {
    let null = (std::ptr::null_mut(), 0);
    let main = w.map_or([null; 4], |w| [w.w_ih, w.w_hh, w.b_ih, w.b_hh].map(|b| (b.data, b.len)));
    let extra = e.map_or([null; 3], |e| {
        [e.w_hr, e.peepholes, e.layer_norm].map(|b| (b.data, b.len))
    });
    std::array::from_fn(|j| {
        let (p, len) = if j < 4 { main[j] } else { extra[j - 4] };
        Dst::new(at.name(names, j), p, len)
    })
}

/// Checks the lengths of the seven buffers of a set for a layer described by `d` (`None`: a
/// buffer not given): a buffer the layer does not have may not be given, every given buffer
/// must have its length, and the buffers in `required` (by index) the layer has must be given.
pub(crate) fn check_set(
    d: &LayerDesc,
    at: At,
    names: &[&'static str; 7],
    got: [Option<usize>; 7],
    required: &[usize],
) -> Result<(), FfiError> {
    for (j, (expected, got)) in lens7(d).into_iter().zip(got).enumerate() {
        let what = at.name(names, j);
        match got {
            Some(_) if expected == 0 => return Err(FfiError::Unexpected { what }),
            Some(got) if got != expected => return Err(FfiError::Length { what, expected, got }),
            None if expected > 0 && required.contains(&j) => return Err(FfiError::Missing { what }),
            _ => {}
        }
    }
    Ok(())
}

/// Weights for `d` from the checked slices of one set (copied): the four main buffers, `W_hr`
/// and the peepholes when the layer has them, and the layer-norm parameters (the identity
/// when absent).
pub(crate) fn weights_from_set(
    d: &LayerDesc,
    at: At,
    main: [&[f32]; 4],
    extra: [Option<&[f32]>; 3],
) -> Result<Weights, FfiError> {
    let got = [
        main.map(|b| Some(b.len())).to_vec(),
        extra.map(|b| b.map(<[f32]>::len)).to_vec(),
    ]
    .concat();
    check_set(
        d,
        at,
        &WEIGHT_NAMES7,
        std::array::from_fn(|j| got[j]),
        &[0, 1, 2, 3, 4, 5],
    )?;
    let [w_ih, w_hh, b_ih, b_hh] = main.map(<[f32]>::to_vec);
    let [w_hr, peep, ln] = extra;
    let mut w = Weights::new_lstm(
        d,
        w_ih,
        w_hh,
        b_ih,
        b_hh,
        w_hr.map(<[f32]>::to_vec),
        peep.map(<[f32]>::to_vec),
    )?;
    if let Some(ln) = ln {
        w.set_layer_norm(ln)?;
    }
    Ok(w)
}

/// The given buffers among the seven of a set, those the layer has, in
/// [`Weights::all_buffers`] order (`None`: not given). Run after [`check_set`].
pub(crate) fn present<T>(d: &LayerDesc, outs: impl IntoIterator<Item = Option<T>>) -> Vec<Option<T>> {
    (lens7(d).into_iter().zip(outs))
        .filter(|(len, _)| *len > 0)
        .map(|(_, o)| o)
        .collect()
}

/// Copies every buffer of `w` into the given buffers of `outs` (from [`present`]).
pub(crate) fn copy_set_out(w: &Weights, outs: Vec<Option<&mut [f32]>>) {
    for (src, out) in w.all_buffers().into_iter().zip(outs) {
        if let Some(out) = out {
            out.copy_from_slice(src);
        }
    }
}

/// An optional struct argument: NULL is `None`.
///
/// # Safety
///
/// `ptr` is NULL or points to a readable `T` that nothing writes during `'a`.
pub(crate) unsafe fn opt_struct<'a, T>(what: &'static str, ptr: *const T) -> Result<Option<&'a T>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    unsafe { super::handles::borrow_handle(what, ptr) }.map(Some)
}

/// The weights of one layer described by `d` from the caller's `weights` (required) and
/// `extra` (NULL: no extras) structs, checked and copied.
///
/// # Safety
///
/// `weights` and `extra` are NULL or point to readable structs whose buffers are NULL or
/// point to their lengths in readable `float`s.
pub(crate) unsafe fn read_set(
    d: &LayerDesc,
    weights: *const frnn_weights,
    extra: *const frnn_extra_weights,
) -> Result<Weights, FfiError> {
    // SAFETY: the caller's contract.
    let w = unsafe { super::handles::borrow_handle("weights", weights) }?;
    // SAFETY: the caller's contract.
    let e = unsafe { opt_struct("extra", extra) }?;
    let (main, opt) = set_srcs(At::Args, w, e);
    // SAFETY: the caller's contract.
    let (main, opt, [], []) = unsafe { super::slices::borrow(main, opt, [], []) }?;
    weights_from_set(d, At::Args, main, opt)
}
