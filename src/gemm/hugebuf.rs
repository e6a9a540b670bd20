//! A zero-initialised `f32` buffer backed by transparent huge pages where the OS offers them.
//!
//! The packed weights are streamed through L2 every step; with 4 KiB pages their physical
//! placement is random, so some runs get L2 set conflicts and TLB misses that others do not
//! (measured on the 2-core AVX-512 machine: the single-thread packed product m64 k512 n2048 ran
//! at 76-133 GFLOP/s from one process to the next with 4 KiB pages, 133-138 with huge pages).
//! Buffers of at least [`HUGE_MIN_BYTES`] are therefore allocated 2 MiB-aligned, rounded up to
//! whole 2 MiB pages, and advised `MADV_HUGEPAGE` before they are first touched (Linux; a
//! plain aligned allocation elsewhere, and whenever the advice is refused). The contents are
//! the same either way: this changes speed, never results.

use std::alloc::{self, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The huge-page size (x86-64 and aarch64 Linux with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;
/// Buffers smaller than this use the ordinary 64-byte alignment.
const HUGE_MIN_BYTES: usize = 1 << 20;
/// Alignment of small buffers: one cache line.
const LINE: usize = 64;

/// An owned `[f32]` of fixed length, zero-initialised (see the module doc).
pub(crate) struct HugeBuf {
    ptr: NonNull<f32>,
    len: usize,
    /// `None` for an empty buffer (nothing allocated).
    layout: Option<Layout>,
}

// SAFETY: `HugeBuf` owns its allocation exclusively, like `Vec<f32>`.
unsafe impl Send for HugeBuf {}
// SAFETY: shared access only reads through `&[f32]`, like `Vec<f32>`.
unsafe impl Sync for HugeBuf {}

impl HugeBuf {
    /// `len` zeros.
    pub(crate) fn zeroed(len: usize) -> Self {
        let bytes = len.checked_mul(4).expect("HugeBuf: size overflows");
        if bytes == 0 {
            return Self::default();
        }
        let huge = bytes >= HUGE_MIN_BYTES;
        let (size, align) = if huge {
            (bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE, HUGE_PAGE)
        } else {
            (bytes.div_ceil(LINE) * LINE, LINE)
        };
        let layout = Layout::from_size_align(size, align).expect("HugeBuf: size overflows");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc::alloc(layout) };
        let Some(raw) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        if huge {
            advise_huge(raw.as_ptr(), size);
        }
        // SAFETY: `raw` is valid for `size >= bytes` writable bytes; zero is a valid `f32`.
        unsafe { raw.as_ptr().write_bytes(0, size) };
        Self {
            ptr: raw.cast(),
            len,
            layout: Some(layout),
        }
    }
}

/// Asks the kernel to back `[p, p + len)` (2 MiB-aligned) with transparent huge pages; a
/// refusal (THP disabled, an old kernel) only costs speed.
#[cfg(target_os = "linux")]
fn advise_huge(p: *mut u8, len: usize) {
    // SAFETY: `p..p+len` is one live allocation of ours; `madvise` with `MADV_HUGEPAGE` changes
    // only how the kernel backs it, never its contents or validity.
    let _ = unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_p: *mut u8, _len: usize) {}

impl Default for HugeBuf {
    fn default() -> Self {
        Self {
            ptr: NonNull::dangling(),
            len: 0,
            layout: None,
        }
    }
}

impl Drop for HugeBuf {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: allocated in `zeroed` with exactly this layout and not yet freed.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), layout) }
        }
    }
}

impl Deref for HugeBuf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `ptr` is valid (or dangling and `len == 0`) for `len` initialised floats.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for HugeBuf {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Clone for HugeBuf {
    fn clone(&self) -> Self {
        let mut c = Self::zeroed(self.len);
        c.copy_from_slice(self);
        c
    }
}

impl std::fmt::Debug for HugeBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeBuf").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_writable_and_cloned() {
        for len in [
            0,
            1,
            17,
            (HUGE_MIN_BYTES / 4) - 1,
            HUGE_MIN_BYTES / 4,
            3 * HUGE_PAGE / 4 + 5,
        ] {
            let mut b = HugeBuf::zeroed(len);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&v| v == 0.0));
            if len > 0 {
                let align = if len * 4 >= HUGE_MIN_BYTES { HUGE_PAGE } else { LINE };
                assert_eq!(b.as_ptr() as usize % align, 0, "len {len}");
                b[len - 1] = 3.0;
                b[0] = 1.0;
            }
            let c = b.clone();
            assert_eq!(&c[..], &b[..]);
        }
    }
}
