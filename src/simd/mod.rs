//! Vector math for the gate nonlinearities.
//!
//! `portable` is written with `wide`, which picks its instructions when the crate is compiled
//! (SSE2 on a default x86-64 build); it is the fallback every machine can run.

pub(crate) mod portable;
