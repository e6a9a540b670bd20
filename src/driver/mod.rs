//! The time loops: input projection as one GEMM, then per step the recurrent GEMM and the
//! cell's fused gate pass; backward by BPTT with the weight gradients as GEMMs over all steps.

pub(crate) mod backward;
pub(crate) mod forward;
pub(crate) mod layout;
pub(crate) mod ln_gru;
pub(crate) mod ln_lstm;
pub(crate) mod lstm_ext;
pub(crate) mod prepared;
pub(crate) mod rows;
pub(crate) mod schedule;
pub(crate) mod shares;
pub(crate) mod team;
