//! The invoicing domain: plain Rust, with no knowledge of HTTP or AWS.
//!
//! Layers, each depending only on those above it in this list:
//! - [`model`]: plain types and their rules (money, invoices, lines, payments, reconcile outcomes,
//!   accounts, idempotency records, errors). Imports nothing else of this crate.
//! - [`ports`]: the small traits adapters implement (stores, queues, secrets) and the one a use
//!   case answers through. Depends on the model only.
//! - [`views`]: the public APIs' JSON shapes of the model (Sequence's invoice, Slash's aggregate).
//! - [`service`]: the use cases, on the model through the ports.
//!
//! `python3 ../shared/tools/module_cycles.py shared/domain/src` shows there is no cycle.
#![warn(missing_docs)]

pub mod model;
pub mod ports;
pub mod service;
pub mod views;

#[cfg(feature = "test-doubles")]
pub mod memory;

pub use model::error::{Error, ErrorKind, Result};
