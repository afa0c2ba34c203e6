//! The invoicing domain: plain Rust, with no knowledge of HTTP or AWS.
//!
//! Adapters (DynamoDB, the HTTP mapping) implement the traits in [`ports`].

pub mod account;
pub mod concurrency;
pub mod currency;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod invoice;
pub mod lifecycle;
pub mod lines;
pub mod money;
pub mod pagination;
pub mod payments;
pub mod ports;
pub mod reconcile;
pub mod slash;
pub mod totals;
pub mod version;

#[cfg(feature = "test-doubles")]
pub mod memory;

pub use error::{Error, ErrorKind, Result};
