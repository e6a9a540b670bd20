//! The one place where the caller's `(pointer, length)` pairs become slices.
//!
//! [`borrow`] takes every buffer of a call at once, checks them all, and only then makes the
//! slices:
//! - a required buffer must not be NULL (whatever its length);
//! - an optional buffer may be NULL only with length 0, and is then `None`;
//! - a non-NULL pointer must be aligned for `f32`, and `len * 4` bytes from it must fit in
//!   `isize` and not wrap around the address space;
//! - a non-empty output buffer must not overlap any other non-empty buffer of the call (a
//!   `&mut [f32]` must be the only way to reach its memory).
//!
//! Lengths are then checked against the layer and the shape by the safe API.

use std::mem::{align_of, size_of};
use std::slice;

use super::status::{FfiError, Name};

/// Most `f32` elements one buffer may have: its size in bytes must fit in `isize`.
const MAX_LEN: usize = isize::MAX as usize / size_of::<f32>();

/// A buffer the call reads: name (for messages), pointer, length in elements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Src {
    what: Name,
    ptr: *const f32,
    len: usize,
}

/// A buffer the call writes: name, pointer, length in elements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dst {
    what: Name,
    ptr: *mut f32,
    len: usize,
}

impl Src {
    pub(crate) fn new(what: impl Into<Name>, ptr: *const f32, len: usize) -> Self {
        Self {
            what: what.into(),
            ptr,
            len,
        }
    }
}

impl Dst {
    pub(crate) fn new(what: impl Into<Name>, ptr: *mut f32, len: usize) -> Self {
        Self {
            what: what.into(),
            ptr,
            len,
        }
    }
}

/// A buffer as an address range, for the checks.
#[derive(Clone, Copy)]
struct Range {
    what: Name,
    addr: usize,
    len: usize,
    required: bool,
    output: bool,
}

impl Range {
    /// Start and end byte address of a non-empty, non-NULL buffer.
    fn span(&self) -> Option<(usize, usize)> {
        (self.addr != 0 && self.len > 0).then(|| (self.addr, self.addr + self.len * size_of::<f32>()))
    }

    fn check(&self) -> Result<(), FfiError> {
        let what = self.what;
        if self.addr == 0 {
            return match (self.required, self.len) {
                (true, _) => Err(FfiError::Null { what }),
                (false, 0) => Ok(()),
                (false, len) => Err(FfiError::NullWithLen { what, len }),
            };
        }
        let fits = self.len <= MAX_LEN && self.addr.checked_add(self.len * size_of::<f32>()).is_some();
        if !fits {
            return Err(FfiError::TooLong { what, len: self.len });
        }
        if !self.addr.is_multiple_of(align_of::<f32>()) {
            return Err(FfiError::Misaligned {
                what,
                align: align_of::<f32>(),
            });
        }
        Ok(())
    }
}

/// Checks every buffer of a call (see the module docs), then the overlaps of the outputs.
fn check_all(ranges: &[Range]) -> Result<(), FfiError> {
    for r in ranges {
        r.check()?;
    }
    for (k, out) in ranges.iter().enumerate().filter(|(_, r)| r.output) {
        let Some((a0, a1)) = out.span() else { continue };
        for (j, other) in ranges.iter().enumerate() {
            if j == k {
                continue;
            }
            if let Some((b0, b1)) = other.span() {
                if a0 < b1 && b0 < a1 {
                    return Err(FfiError::Overlap {
                        what: out.what,
                        other: other.what,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The buffers of one call as slices: required inputs, optional inputs, required outputs,
/// optional outputs (each group in the order given).
pub(crate) type Borrowed<'a, const A: usize, const B: usize, const C: usize, const D: usize> = (
    [&'a [f32]; A],
    [Option<&'a [f32]>; B],
    [&'a mut [f32]; C],
    [Option<&'a mut [f32]>; D],
);

/// As [`Borrowed`], for groups whose sizes are known only at run time.
pub(crate) type BorrowedVec<'a> = (
    Vec<&'a [f32]>,
    Vec<Option<&'a [f32]>>,
    Vec<&'a mut [f32]>,
    Vec<Option<&'a mut [f32]>>,
);

/// Checks all buffers of a call together (see the module docs) and makes the slices.
///
/// # Safety
///
/// For the lifetime `'a`: every non-NULL `Src` pointer must point to `len` initialised `f32`s
/// that nothing writes, and every non-NULL `Dst` pointer to `len` `f32`s that nothing else
/// reads or writes (both in one allocation each). That is the C caller's contract; the checks
/// here catch what can be caught without dereferencing (NULL, alignment, size, overlaps
/// between the buffers of the call).
pub(crate) unsafe fn borrow<'a, const A: usize, const B: usize, const C: usize, const D: usize>(
    req_in: [Src; A],
    opt_in: [Src; B],
    req_out: [Dst; C],
    opt_out: [Dst; D],
) -> Result<Borrowed<'a, A, B, C, D>, FfiError> {
    // SAFETY: the same contract, passed on.
    let (a, b, c, d) = unsafe { borrow_vec(&req_in, &opt_in, &req_out, &opt_out) }?;
    Ok((into_array(a), into_array(b), into_array(c), into_array(d)))
}

/// The `N` elements of `v` (which has exactly `N`: one slice per buffer given) as an array.
fn into_array<T, const N: usize>(v: Vec<T>) -> [T; N] {
    let mut it = v.into_iter();
    std::array::from_fn(|_| it.next().expect("one slice per buffer"))
}

/// As [`borrow`], for any number of buffers per group. The overlap check compares every
/// output with every other buffer, so its cost grows with the square of their number.
///
/// # Safety
///
/// As [`borrow`].
pub(crate) unsafe fn borrow_vec<'a>(
    req_in: &[Src],
    opt_in: &[Src],
    req_out: &[Dst],
    opt_out: &[Dst],
) -> Result<BorrowedVec<'a>, FfiError> {
    let in_range = |s: &Src, required| Range {
        what: s.what,
        addr: s.ptr as usize,
        len: s.len,
        required,
        output: false,
    };
    let out_range = |d: &Dst, required| Range {
        what: d.what,
        addr: d.ptr as usize,
        len: d.len,
        required,
        output: true,
    };
    let ranges: Vec<Range> = (req_in.iter().map(|s| in_range(s, true)))
        .chain(opt_in.iter().map(|s| in_range(s, false)))
        .chain(req_out.iter().map(|d| out_range(d, true)))
        .chain(opt_out.iter().map(|d| out_range(d, false)))
        .collect();
    check_all(&ranges)?;
    // Past this point every pointer has passed `check_all`: required ones are non-NULL, every
    // non-NULL one is aligned with `len * 4` bytes fitting in `isize` without wrapping, and no
    // output overlaps any other buffer. Validity of the memory for `'a` is the contract.
    let src = |s: &Src| -> &'a [f32] {
        // SAFETY: called only with non-NULL pointers (required, or checked below); aligned and
        // sized per `check_all`; readable and unchanged for `'a` per the contract.
        unsafe { slice::from_raw_parts(s.ptr, s.len) }
    };
    let dst = |d: &Dst| -> &'a mut [f32] {
        // SAFETY: as `src`; and no other buffer of the call overlaps this one (`check_all`), so
        // this is the only reference to that memory.
        unsafe { slice::from_raw_parts_mut(d.ptr, d.len) }
    };
    Ok((
        req_in.iter().map(src).collect(),
        opt_in.iter().map(|s| (!s.ptr.is_null()).then(|| src(s))).collect(),
        req_out.iter().map(dst).collect(),
        opt_out.iter().map(|d| (!d.ptr.is_null()).then(|| dst(d))).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    #[test]
    fn rules() {
        let a = [1.0f32; 8];
        let mut b = [0.0f32; 8];
        let pa = a.as_ptr();
        let pb = b.as_mut_ptr();
        // SAFETY: in every call below, non-NULL pointers point into the 8-element arrays above
        // with lengths that stay inside them wherever a slice is made.
        unsafe {
            let ([x], [h], [y], [o]) = borrow(
                [Src::new("x", pa, 8)],
                [Src::new("h", null(), 0)],
                [Dst::new("y", pb, 8)],
                [Dst::new("o", null_mut(), 0)],
            )
            .unwrap();
            assert_eq!((x.len(), h, y.len(), o), (8, None, 8, None));
            let e = |r: Result<Borrowed<'_, 1, 1, 1, 0>, FfiError>| r.unwrap_err();
            assert_eq!(
                e(borrow(
                    [Src::new("x", null(), 0)],
                    [Src::new("h", null(), 0)],
                    [Dst::new("y", pb, 8)],
                    []
                )),
                FfiError::Null { what: "x".into() }
            );
            assert_eq!(
                e(borrow(
                    [Src::new("x", pa, 8)],
                    [Src::new("h", null(), 3)],
                    [Dst::new("y", pb, 8)],
                    []
                )),
                FfiError::NullWithLen {
                    what: "h".into(),
                    len: 3
                }
            );
            assert_eq!(
                e(borrow(
                    [Src::new("x", pa, usize::MAX)],
                    [Src::new("h", null(), 0)],
                    [Dst::new("y", pb, 8)],
                    []
                )),
                FfiError::TooLong {
                    what: "x".into(),
                    len: usize::MAX
                }
            );
            let odd = (pa as usize + 1) as *const f32;
            assert_eq!(
                e(borrow(
                    [Src::new("x", odd, 1)],
                    [Src::new("h", null(), 0)],
                    [Dst::new("y", pb, 8)],
                    []
                )),
                FfiError::Misaligned {
                    what: "x".into(),
                    align: 4
                }
            );
            let inside = pb.wrapping_add(7) as *const f32;
            assert_eq!(
                e(borrow(
                    [Src::new("x", pa, 8)],
                    [Src::new("h", inside, 1)],
                    [Dst::new("y", pb, 8)],
                    []
                )),
                FfiError::Overlap {
                    what: "y".into(),
                    other: "h".into()
                }
            );
            // Adjacent is not overlapping, and an empty buffer overlaps nothing.
            let (_, [h], _, _) = borrow(
                [Src::new("x", pa, 8)],
                [Src::new("h", pb.wrapping_add(4) as *const f32, 0)],
                [Dst::new("y", pb, 4)],
                [],
            )
            .unwrap();
            assert_eq!(h.map(<[f32]>::len), Some(0));
            // Two inputs may share memory.
            assert!(borrow(
                [Src::new("x", pa, 8)],
                [Src::new("h", pa, 8)],
                [Dst::new("y", pb, 8)],
                []
            )
            .is_ok());
        }
    }
}
