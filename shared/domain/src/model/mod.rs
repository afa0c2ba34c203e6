//! Plain types and the rules that need nothing but them. This module imports nothing else of the
//! crate: everything else builds on it.

pub mod account;
pub mod config;
/// Accounts, their credentials and receiving bank accounts.
pub mod currency;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod integration;
pub mod invoice;
pub mod lines;
pub mod money;
pub mod pagination;
pub mod payments;
pub mod reconcile;
pub mod totals;
pub mod version;
pub mod webhooks;
pub mod xero_budget;
pub mod xero_connection;
pub mod xero_pull;
pub mod xero_push;
pub mod xero_sync;
pub mod xero_webhook;

/// A stored value with the version its conditional update must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value as stored.
    pub value: T,
    /// Its version: 1 when created, one more with each write.
    pub version: u64,
}
