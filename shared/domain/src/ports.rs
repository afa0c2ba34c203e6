//! The capabilities handlers need, one small trait each. Adapters implement them.

use crate::{
    account::{Credential, NewAccount},
    idempotency::{Claim, StoredResponse},
    invoice::{Invoice, InvoiceStatus},
    pagination::Page,
    Result,
};
use chrono::{DateTime, Utc};
use std::future::Future;

/// Filters and position of `GET /invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceQuery {
    pub status: Option<InvoiceStatus>,
    pub customer_id: Option<String>,
    pub limit: usize,
    /// The id of the last invoice of the previous page.
    pub after: Option<String>,
}

pub trait InvoiceStore: Send + Sync {
    /// Stores a new invoice; its id must be new in the account.
    fn insert_invoice(&self, invoice: &Invoice) -> impl Future<Output = Result<()>> + Send;

    /// The account's invoice with this id; another account's invoice is `None`.
    fn get_invoice(
        &self,
        account_id: &str,
        invoice_id: &str,
    ) -> impl Future<Output = Result<Option<Invoice>>> + Send;

    /// The account's invoices in creation order. The page's `after` is an invoice id.
    fn list_invoices(
        &self,
        account_id: &str,
        query: &InvoiceQuery,
    ) -> impl Future<Output = Result<Page<Invoice>>> + Send;
}

pub trait CredentialStore: Send + Sync {
    fn find_credential(
        &self,
        credential_id: &str,
    ) -> impl Future<Output = Result<Option<Credential>>> + Send;
}

pub trait AccountStore: Send + Sync {
    /// Stores an account and its credentials atomically.
    fn create_account(&self, account: &NewAccount) -> impl Future<Output = Result<()>> + Send;
}

pub trait IdempotencyStore: Send + Sync {
    /// Claims a key for a request with this fingerprint. Exactly one of concurrent claimers gets
    /// `Acquired`; the others get a replay, or an error (`Conflict` while the first still runs,
    /// `IdempotencyKeyReuse` for a different request).
    fn claim(
        &self,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim>> + Send;

    /// Stores the response of a claimed request for replay.
    fn complete(
        &self,
        account_id: &str,
        key: &str,
        response: &StoredResponse,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Gives a claim up without a response (the request failed with a 5xx), so a retry runs again.
    fn release(&self, account_id: &str, key: &str) -> impl Future<Output = Result<()>> + Send;
}
