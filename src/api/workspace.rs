//! The caller-owned buffer in which forward-training keeps what backward needs.

use crate::desc::SeqShape;
use crate::driver::schedule::Schedule;
use crate::gemm::hugebuf::HugeBuf;

/// Identifies the forward call whose results a workspace holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub layer: u64,
    pub version: u64,
    pub shape: SeqShape,
}

/// What [`crate::Layer::forward_train`] saves for backward (gate activations, every hidden and
/// cell state, GRU intermediates) and where backward-data leaves the gate gradients for
/// backward-weights.
///
/// Reusable across calls and layers: it grows when a call needs more room and never shrinks.
/// [`crate::Layer::workspace_len`] tells the size in `f32` elements beforehand (an input
/// mask, [`crate::SeqInput::input_mask`], adds `T*N*I + N*I` for the masked input and the
/// mask);
/// [`TrainWorkspace::for_layer`] allocates it up front so training steps allocate nothing.
/// Backward refuses a workspace that was not filled by the same layer, with the same weights
/// and shape.
#[derive(Debug, Default)]
pub struct TrainWorkspace {
    /// On huge pages where possible (see `gemm::hugebuf`).
    pub(crate) buf: HugeBuf,
    pub(crate) stamp: Option<Stamp>,
    pub(crate) dgates_ready: bool,
    /// The batch schedule of the forward call it holds (sequence lengths).
    pub(crate) sched: Option<Schedule>,
    /// Scratch for variable-length batches (packed inputs, states, gradients).
    pub(crate) pack: Vec<f32>,
    /// The recurrent-dropout mask of the forward call (sorted rows), empty without.
    pub(crate) rmask: Vec<f32>,
    /// The input-dropout mask of the forward call (`[N, I]`, the caller's batch order), empty
    /// without.
    pub(crate) imask: Vec<f32>,
    /// `x ⊙ mask` (`[T, N, I]`), the input the forward call ran on with an input mask, read by
    /// backward-weights; empty without.
    pub(crate) xmasked: Vec<f32>,
}

impl TrainWorkspace {
    /// An empty workspace; the first forward-training call sizes it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A workspace with room for `layer` at `shape`.
    pub fn for_layer(layer: &crate::Layer, shape: SeqShape) -> crate::Result<Self> {
        let mut ws = Self::new();
        ws.reserve(layer.workspace_len(shape)?);
        Ok(ws)
    }

    /// Its current size in `f32` elements.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether it holds no memory yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Grows to at least `elems` elements and forgets what it held.
    pub(crate) fn reserve(&mut self, elems: usize) {
        self.stamp = None;
        self.dgates_ready = false;
        self.sched = None;
        self.rmask.clear();
        self.imask.clear();
        self.xmasked.clear();
        if self.buf.len() < elems {
            // Nothing it held is kept, so a fresh buffer replaces it.
            self.buf = HugeBuf::zeroed(elems);
        }
    }
}
