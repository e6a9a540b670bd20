//! PyTorch `state_dict`s stored as safetensors: a stack from a file or from bytes, and a
//! stack's weights written as one.

use std::ffi::{c_char, CStr};
use std::path::PathBuf;

use super::handles::{borrow_handle, into_handle, Out};
use super::stack::frnn_stack;
use super::stack_desc::frnn_stack_desc;
use super::status::{frnn_status, guard, FfiError};
use crate::api::{Direction, Stack, StackDesc};
use crate::convert::pytorch;
use crate::error::Error;

/// A NUL-terminated string argument, as a path.
///
/// # Safety
///
/// `s` is NULL or points to a NUL-terminated string that stays unchanged during the call.
unsafe fn path_arg(what: &'static str, s: *const c_char) -> Result<PathBuf, FfiError> {
    if s.is_null() {
        return Err(FfiError::Null { what: what.into() });
    }
    // SAFETY: non-NULL; NUL-terminated and unchanged per the contract.
    let bytes = unsafe { CStr::from_ptr(s) }.to_bytes();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidValue {
            what,
            why: "not valid UTF-8",
        })?;
        Ok(PathBuf::from(text))
    }
}

/// The optional `prefix` argument: NULL is `""`.
///
/// # Safety
///
/// As [`path_arg`].
unsafe fn prefix_arg<'a>(s: *const c_char) -> Result<&'a str, FfiError> {
    if s.is_null() {
        return Ok("");
    }
    // SAFETY: non-NULL; NUL-terminated and unchanged per the contract.
    let text = unsafe { CStr::from_ptr(s) }.to_str().map_err(|_| Error::InvalidValue {
        what: "prefix",
        why: "not valid UTF-8",
    })?;
    Ok(text)
}

/// A stack described by `desc` (sizes 0: as stored) with the weights of a `state_dict`.
fn load(desc: &frnn_stack_desc, bytes: &[u8], prefix: &str) -> Result<Stack, FfiError> {
    let (cell, direction, batch_first) = desc.parts()?;
    let bidirectional = direction.count() == 2;
    let w = pytorch::load_state_dict_bytes_prefixed(bytes, prefix, cell, desc.num_layers, bidirectional)?;
    let first = *w[0].desc();
    for (what, given, stored) in [
        ("desc.input_size", desc.input_size, first.input_size()),
        ("desc.hidden_size", desc.hidden_size, first.hidden_size()),
    ] {
        if given != 0 && given != stored {
            return Err(Error::InvalidValue {
                what,
                why: "differs from the state_dict's (0 takes the stored size)",
            }
            .into());
        }
    }
    // A state_dict holds the LSTM projection (`weight_hr_l{k}`) and nothing of the other
    // options: refuse them rather than build a stack without them.
    let o = desc.options;
    if o.peepholes != 0 || o.layer_norm != 0 || o.input_forget != 0 || o.clip != 0.0 || o.cell_clip != 0.0 {
        return Err(Error::InvalidValue {
            what: "desc.options",
            why: "a PyTorch state_dict holds only proj_size of the cell options",
        }
        .into());
    }
    if o.proj_size != 0 && Some(o.proj_size) != first.proj_size() {
        return Err(Error::InvalidValue {
            what: "desc.options.proj_size",
            why: "differs from the state_dict's (0 takes the stored size)",
        }
        .into());
    }
    // Layer 0's descriptor as stored (with its projection, if any) sets the stack's.
    let sd = StackDesc::from_layer(first, desc.num_layers, direction)?;
    Ok(Stack::new(sd.batch_first(batch_first), w)?)
}

/// Creates a stack from a PyTorch `nn.LSTM` / `nn.GRU` / `nn.RNN` `state_dict` saved as a
/// safetensors file at `path` (`safetensors.torch.save_file(model.state_dict(), path)`), and
/// writes its handle to `*out_stack`.
///
/// `desc` says what the file holds, as the module's arguments: the cell (a GRU must be
/// `FRNN_GRU_VARIANT_LINEAR_BEFORE_RESET`, PyTorch's; an RNN's activation is the module's
/// `nonlinearity`), `num_layers`, `direction` (`FRNN_DIRECTION_BIDIRECTIONAL` for
/// `bidirectional=True`, `FRNN_DIRECTION_FORWARD` otherwise) and `batch_first`. Its
/// `input_size` and `hidden_size` may be 0 (taken from the file) or must equal the stored
/// ones. `prefix` (NULL: none) selects the parameters of a submodule, named
/// `{prefix}weight_ih_l0` etc. (e.g. `"encoder.rnn."`). Absent biases (`bias=False`) are
/// zeros; only `float32` tensors are read.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_ZERO_SIZE` (`num_layers` is 0);
/// `FRNN_STATUS_INVALID_VALUE` for a bad descriptor and for every problem with the file, the
/// message naming the parameter: `"parameter state_dict: cannot read ..."`, `"parameter
/// weight_hh_l1_reverse: missing from the state_dict"`, a wrong shape or dtype, parameters
/// of more layers or directions than `desc` says; cell options other than `proj_size` in
/// `desc` (a state_dict holds none of them), or a non-zero `proj_size` other than the file's.
/// LSTM projections (`weight_hr_l{k}`, PyTorch `proj_size`) are read; `desc.options.proj_size`
/// 0 takes the stored one.
///
/// # Safety
///
/// `desc` is NULL or points to a readable `frnn_stack_desc`; `path` and `prefix` are NULL or
/// point to NUL-terminated strings; `out_stack` is NULL or points to a writable
/// `frnn_stack *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_load_safetensors(
    desc: *const frnn_stack_desc,
    path: *const c_char,
    prefix: *const c_char,
    out_stack: *mut *mut frnn_stack,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?;
        // SAFETY: the caller's contract (see # Safety).
        let path = unsafe { path_arg("path", path) }?;
        // SAFETY: the caller's contract (see # Safety).
        let prefix = unsafe { prefix_arg(prefix) }?;
        let out = Out::new("out_stack", out_stack)?;
        desc.parts()?;
        let bytes = std::fs::read(&path).map_err(|e| Error::Param {
            name: "state_dict".into(),
            why: format!("cannot read {}: {e}", path.display()),
        })?;
        let stack = load(desc, &bytes, prefix)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_stack::new(stack))) };
        Ok(())
    })
}

/// As `frnn_stack_load_safetensors`, from the `bytes_len` bytes of a safetensors file in
/// memory at `bytes`.
///
/// Errors: as `frnn_stack_load_safetensors`.
///
/// # Safety
///
/// As `frnn_stack_load_safetensors`; `bytes` is NULL or points to `bytes_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_load_safetensors_bytes(
    desc: *const frnn_stack_desc,
    bytes: *const u8,
    bytes_len: usize,
    prefix: *const c_char,
    out_stack: *mut *mut frnn_stack,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety); every bit pattern is a valid desc.
        let desc = unsafe { borrow_handle("desc", desc) }?;
        if bytes.is_null() {
            return Err(FfiError::Null { what: "bytes".into() });
        }
        // SAFETY: the caller's contract (see # Safety): u8 has no alignment to check; the
        // length is the caller's.
        let bytes = unsafe { super::buffers::borrow_array("bytes", bytes, bytes_len) }?;
        // SAFETY: the caller's contract (see # Safety).
        let prefix = unsafe { prefix_arg(prefix) }?;
        let out = Out::new("out_stack", out_stack)?;
        let stack = load(desc, bytes, prefix)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_stack::new(stack))) };
        Ok(())
    })
}

/// The safetensors bytes of a stack's weights.
fn save(stack: &frnn_stack) -> Result<Vec<u8>, FfiError> {
    stack.with(|s| {
        let direction = s.desc().direction();
        if direction == Direction::Reverse {
            return Err(Error::InvalidValue {
                what: "stack",
                why: "PyTorch has no reverse-only recurrent module",
            });
        }
        let weights: Vec<_> = s.layers().iter().map(|l| l.weights().clone()).collect();
        pytorch::save_state_dict_bytes(&weights, direction.count() == 2)
    })
}

/// Writes the stack's weights to `path` as a safetensors `state_dict` that
/// `model.load_state_dict(safetensors.torch.load_file(path))` reads into the matching
/// `nn.LSTM` / `nn.GRU` / `nn.RNN(I, H, num_layers, bidirectional=...)` with `bias=True`.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`; `FRNN_STATUS_INVALID_VALUE`: a stack PyTorch cannot
/// hold (`FRNN_DIRECTION_REVERSE`; a reset-before-linear GRU; `FRNN_DIRECTION_BIDIRECTIONAL_SUM`
/// with more than one layer), or the file cannot be written (`"parameter state_dict: cannot
/// write ..."`).
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `path` is NULL or points to a NUL-terminated
/// string.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_save_safetensors(stack: *const frnn_stack, path: *const c_char) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        // SAFETY: the caller's contract (see # Safety).
        let path = unsafe { path_arg("path", path) }?;
        let bytes = save(stack)?;
        std::fs::write(&path, bytes).map_err(|e| Error::Param {
            name: "state_dict".into(),
            why: format!("cannot write {}: {e}", path.display()),
        })?;
        Ok(())
    })
}

/// The safetensors file of `frnn_stack_save_safetensors`, in memory: writes its size in
/// bytes to `*out_len` and, when `buf` is not NULL, the file into `buf` (`buf_len` bytes, at
/// least `*out_len`). Call with `buf = NULL, buf_len = 0` to learn the size.
///
/// Errors: as `frnn_stack_save_safetensors`; `FRNN_STATUS_LENGTH_MISMATCH` when `buf_len` is
/// smaller than the size (nothing is written then, not even `*out_len`);
/// `FRNN_STATUS_NULL_POINTER` for a NULL `buf` with `buf_len > 0`.
///
/// # Safety
///
/// `stack` is NULL or a live stack handle; `buf` is NULL or points to `buf_len` writable
/// bytes; `out_len` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_stack_save_safetensors_bytes(
    stack: *const frnn_stack,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let stack = unsafe { borrow_handle("stack", stack) }?;
        let out = Out::new("out_len", out_len)?;
        // Checked before the bytes are made: NULL with a length, or a range past the end of
        // the address space.
        // SAFETY: only NULL-ness, alignment (none for u8) and size are checked; nothing is read.
        unsafe { super::buffers::borrow_array("buf", buf.cast_const(), buf_len) }?;
        let bytes = save(stack)?;
        if !buf.is_null() {
            if buf_len < bytes.len() {
                return Err(Error::LengthMismatch {
                    what: "buf (bytes, at least)",
                    expected: bytes.len(),
                    got: buf_len,
                }
                .into());
            }
            // SAFETY: `buf` points to `buf_len >= bytes.len()` writable bytes (the contract),
            // which cannot overlap the freshly allocated `bytes`.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
        }
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(bytes.len()) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cell, LayerDesc, Weights};

    /// A projection LSTM stack saved as a state_dict loads back through the C entry point
    /// with its projection; options a state_dict cannot hold are refused.
    #[test]
    fn projection_round_trip_and_refused_options() {
        let l0 = LayerDesc::new(Cell::Lstm, 3, 6).unwrap().with_proj_size(2).unwrap();
        let sd = StackDesc::from_layer(l0, 2, Direction::Bidirectional).unwrap();
        let w: Vec<Weights> = (0..sd.layer_count())
            .map(|i| Weights::init_uniform(&sd.layer_desc(i / 2).unwrap(), i as u64 + 1))
            .collect();
        let bytes = pytorch::save_state_dict_bytes(&w, true).unwrap();
        let mut d = frnn_stack_desc::from_desc(&StackDesc::new(Cell::Lstm, 3, 6, 2, Direction::Bidirectional).unwrap());
        for proj in [0, 2] {
            d.options.proj_size = proj;
            let mut out: *mut frnn_stack = std::ptr::null_mut();
            // SAFETY: valid descriptor, bytes and out-pointer.
            let st = unsafe {
                frnn_stack_load_safetensors_bytes(&d, bytes.as_ptr(), bytes.len(), std::ptr::null(), &mut out)
            };
            assert_eq!(st, frnn_status::Ok);
            // SAFETY: `out` is the live handle just created.
            let stack = unsafe { &*out };
            stack
                .with(|s| {
                    assert_eq!(s.desc().layer_desc(1).unwrap().proj_size(), Some(2));
                    for (l, want) in s.layers().iter().zip(&w) {
                        assert_eq!(l.weights().w_hr(), want.w_hr());
                        assert_eq!(l.weights().w_hh(), want.w_hh());
                    }
                    Ok(())
                })
                .unwrap();
            // SAFETY: destroyed once.
            unsafe { super::super::stack::frnn_stack_destroy(out) };
        }
        for change in [
            |d: &mut frnn_stack_desc| d.options.proj_size = 3,
            |d: &mut frnn_stack_desc| d.options.peepholes = 1,
            |d: &mut frnn_stack_desc| d.options.layer_norm = 1,
            |d: &mut frnn_stack_desc| d.options.cell_clip = 5.0,
        ] {
            let mut bad = d;
            change(&mut bad);
            let mut out: *mut frnn_stack = std::ptr::null_mut();
            // SAFETY: valid descriptor, bytes and out-pointer.
            let st = unsafe {
                frnn_stack_load_safetensors_bytes(&bad, bytes.as_ptr(), bytes.len(), std::ptr::null(), &mut out)
            };
            assert_eq!(st, frnn_status::InvalidValue);
            assert!(out.is_null(), "out written on failure");
        }
    }
}
