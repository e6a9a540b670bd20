//! # fusedrnn
//!
//! Fused, multithreaded SIMD kernels for recurrent layers — LSTM, GRU (both reset placements)
//! and the simple Elman RNN (tanh or relu) — forward and backward, with a safe Rust API and a
//! C ABI.
//!
//! The architecture, top down:
//! - [`mod@api`]: [`Layer`], [`TrainWorkspace`] and the call arguments — the safe interface;
//! - `driver`: the time loops (input projection as one GEMM, per-step recurrent GEMM and fused
//!   gate pass, BPTT with weight gradients as GEMMs over all steps);
//! - `cell`: the fused gate math of each cell, forward and backward;
//! - `gemm`: matrix products; `simd`: vector nonlinearities;
//! - [`mod@reference`]: a naive implementation straight from the equations, to test against.
//!
//! Conventions: weights in PyTorch's layout and gate order (see [`Weights`]); sequences
//! time-major `[T, N, I]`, outputs `[T, N, H]`, states `[N, H]`, all row-major `f32`.

pub mod api;
mod cell;
pub mod convert;
mod desc;
mod driver;
mod error;
pub mod ffi;
mod gemm;
#[doc(hidden)]
pub use gemm::bench_api;
pub mod reference;
pub mod rng;
mod simd;
pub mod train;
mod weights;

pub use api::{
    Direction, Dropout, GradInput, GradMode, GradOutput, Layer, SeqInput, SeqOutput, Stack, StackDesc, StackStream,
    StackWorkspace, Stream, TrainWorkspace, WeightsMut,
};
pub use desc::{Activation, Cell, GruVariant, LayerDesc, SeqShape};
pub use error::{Error, Result};
pub use weights::Weights;

/// The README's Rust example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
