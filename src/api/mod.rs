//! The safe public API: a [`Layer`] runs inference, training-forward and backward over
//! caller-owned slices.

mod args;
pub(crate) mod dropout;
mod layer;
pub(crate) mod seq;
mod stack;
mod stack_desc;
mod stack_stream;
mod stream;
mod workspace;

pub use args::{GradInput, GradMode, GradOutput, SeqInput, SeqOutput};
pub use dropout::Dropout;
pub use layer::{Layer, WeightsMut};
pub use stack::{Stack, StackWorkspace};
pub use stack_desc::{Direction, StackDesc};
pub use stack_stream::StackStream;
pub use stream::Stream;
pub use workspace::TrainWorkspace;
