//! The capabilities handlers need, one small trait each. Adapters implement them.

use crate::{
    account::{Credential, NewAccount, ReceivingAccount},
    idempotency::{Claim, StoredResponse},
    invoice::{Invoice, InvoiceStatus},
    lines::{LineChange, LineItem, LineItemGroup, Versioned},
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

    /// The account's invoice with this id and its version; another account's invoice is `None`.
    fn get_invoice(
        &self,
        account_id: &str,
        invoice_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<Invoice>>>> + Send;

    /// Writes the invoice's new state if its version is still `expected_version`
    /// (`ErrorKind::Contended` otherwise).
    fn replace_invoice(
        &self,
        invoice: &Invoice,
        expected_version: u64,
    ) -> impl Future<Output = Result<()>> + Send;

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

    /// Sets the bank account the account's invoices are paid into.
    fn set_receiving_account(
        &self,
        account_id: &str,
        receiving: &ReceivingAccount,
    ) -> impl Future<Output = Result<()>> + Send;
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

pub trait LineItemStore: Send + Sync {
    fn get_line_item(
        &self,
        account_id: &str,
        invoice_id: &str,
        line_item_id: &str,
    ) -> impl Future<Output = Result<Option<LineItem>>> + Send;

    /// The invoice's lines in creation order; the page's `after` is a line item id.
    fn list_line_items(
        &self,
        account_id: &str,
        invoice_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Page<LineItem>>> + Send;

    /// The invoice's groups with these ids (missing ones are left out).
    fn get_line_item_groups(
        &self,
        account_id: &str,
        invoice_id: &str,
        group_ids: &[&str],
    ) -> impl Future<Output = Result<Vec<LineItemGroup>>> + Send;

    /// Writes a change atomically, if the invoice's version is still the expected one
    /// (`ErrorKind::Contended` otherwise).
    fn commit_line_change(
        &self,
        account_id: &str,
        change: &LineChange,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Gapless invoice numbers: the account's counter moves only together with the invoice it numbers.
pub trait InvoiceNumbering: Send + Sync {
    /// The last number the account gave out (0 before its first).
    fn last_invoice_number(&self, account_id: &str) -> impl Future<Output = Result<u64>> + Send;

    /// Writes the finalized invoice and moves the counter from `number - 1` to `number`, atomically;
    /// `ErrorKind::Contended` if either moved since they were read.
    fn commit_finalized(
        &self,
        invoice: &Invoice,
        expected_version: u64,
        number: u64,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Account settings that answers need.
pub trait ReceivingAccounts: Send + Sync {
    /// The account's receiving bank account (an unconfigured default if none was set).
    fn receiving_account(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<ReceivingAccount>> + Send;
}
