//! A raw pointer that may cross threads, for writing disjoint blocks of one output.

/// A `*mut f32` that is `Send + Sync`. Only [`SyncMutPtr::new`] makes one, and it is unsafe:
/// the creator promises that the threads it is shared with write disjoint elements and that
/// the buffer outlives them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyncMutPtr(*mut f32);

// SAFETY: see the type's contract; the constructor is where callers take it on.
unsafe impl Send for SyncMutPtr {}
// SAFETY: as above.
unsafe impl Sync for SyncMutPtr {}

impl SyncMutPtr {
    /// # Safety
    /// Every thread that receives a copy must write only elements no other thread touches
    /// while they run, and the buffer must outlive all of them.
    pub(crate) unsafe fn new(p: *mut f32) -> Self {
        Self(p)
    }

    /// The pointer.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}
