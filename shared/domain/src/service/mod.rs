//! The use cases: each reads through the ports, applies the model's rules and writes back,
//! answering through [`crate::ports::Respond`] so that the answer is built before the write.

pub mod concurrency;
pub mod lifecycle;
pub mod lines;
pub mod payments;
