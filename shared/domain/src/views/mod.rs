//! The public APIs' JSON shapes of the model. Nothing in the model or the ports depends on them.

pub mod sequence;
pub mod slash;

pub use sequence::SequenceView;
