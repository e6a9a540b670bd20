//! The training-workspace handle.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::handles::{borrow_handle, free_handle, into_handle, Out};
use super::layer::frnn_layer;
use super::status::{frnn_status, guard, guard_value};
use crate::api::TrainWorkspace;
use crate::desc::SeqShape;
use crate::weights::Weights;

/// A training workspace: what `frnn_layer_forward_train` saves for the backward calls. It
/// grows as needed and is reusable across calls and layers. Opaque; create with
/// `frnn_workspace_create` or `frnn_workspace_create_for`, free with `frnn_workspace_destroy`.
pub struct frnn_workspace {
    state: Mutex<WorkspaceState>,
}

/// The workspace and a scratch gradient buffer for backward-weights.
pub(crate) struct WorkspaceState {
    pub(crate) ws: TrainWorkspace,
    /// Gradients are computed here, then copied to the caller's buffers (kept between calls
    /// so training steps do not allocate).
    pub(crate) grads: Option<Weights>,
}

impl frnn_workspace {
    fn new(ws: TrainWorkspace) -> Self {
        Self {
            state: Mutex::new(WorkspaceState { ws, grads: None }),
        }
    }

    /// Exclusive access for one call (concurrent calls on one workspace wait their turn).
    pub(crate) fn lock(&self) -> MutexGuard<'_, WorkspaceState> {
        // A panic inside a call leaves at worst an unstamped workspace, which backward refuses.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates an empty workspace in `*out_workspace`; the first `frnn_layer_forward_train` that
/// uses it sizes it.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `out_workspace` is NULL or points to a writable `frnn_workspace *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_workspace_create(out_workspace: *mut *mut frnn_workspace) -> frnn_status {
    guard(|| {
        let out = Out::new("out_workspace", out_workspace)?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_workspace::new(TrainWorkspace::new()))) };
        Ok(())
    })
}

/// Creates in `*out_workspace` a workspace with room for `layer` at `steps` x `batch`
/// (`frnn_layer_workspace_size` elements), so that training steps allocate nothing.
///
/// Errors: `FRNN_STATUS_NULL_POINTER`, `FRNN_STATUS_ZERO_SIZE`, `FRNN_STATUS_OVERFLOW`.
///
/// # Safety
///
/// `layer` is NULL or a live layer handle; `out_workspace` is NULL or points to a writable
/// `frnn_workspace *`.
#[no_mangle]
pub unsafe extern "C" fn frnn_workspace_create_for(
    layer: *const frnn_layer,
    steps: usize,
    batch: usize,
    out_workspace: *mut *mut frnn_workspace,
) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let layer = unsafe { borrow_handle("layer", layer) }?;
        let out = Out::new("out_workspace", out_workspace)?;
        let ws = layer.with(|l| TrainWorkspace::for_layer(l, SeqShape::new(steps, batch)))?;
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(into_handle(frnn_workspace::new(ws))) };
        Ok(())
    })
}

/// Frees a workspace. NULL is a no-op.
///
/// # Safety
///
/// `workspace` is NULL or a live workspace handle that no call uses now or later.
#[no_mangle]
pub unsafe extern "C" fn frnn_workspace_destroy(workspace: *mut frnn_workspace) {
    guard_value((), || {
        // SAFETY: the caller's contract (see # Safety).
        unsafe { free_handle(workspace) }
    })
}

/// Writes the workspace's current size in `float` elements to `*out_elems` (0 until the first
/// training forward unless created with `frnn_workspace_create_for`).
///
/// Errors: `FRNN_STATUS_NULL_POINTER`.
///
/// # Safety
///
/// `workspace` is NULL or a live workspace handle; `out_elems` is NULL or points to a
/// writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn frnn_workspace_size(workspace: *const frnn_workspace, out_elems: *mut usize) -> frnn_status {
    guard(|| {
        // SAFETY: the caller's contract (see # Safety).
        let ws = unsafe { borrow_handle("workspace", workspace) }?;
        let out = Out::new("out_elems", out_elems)?;
        let len = ws.lock().ws.len();
        // SAFETY: the caller's contract (see # Safety).
        unsafe { out.write(len) };
        Ok(())
    })
}
