//! The capabilities handlers need, one small trait each. Adapters implement them.

use crate::model::{
    account::{Credential, NewAccount, ReceivingAccount},
    error::Result,
    idempotency::{Claim, IdempotencyClaim, Receipt},
    integration::XeroSettings,
    invoice::{Invoice, InvoiceStatus},
    lines::{LineChange, LineItem, LineItemGroup},
    pagination::Page,
    reconcile::{
        ExpandedPage, ExternalInvoice, InvoiceOutcome, JobRecord, OutcomeKind, ReconcileJob, ReconcileMessage,
    },
    webhooks::{
        delivery::{AttemptOutcome, DeliveryAttempt, DeliveryTask, RecordedAttempt},
        signature::WebhookSecret,
        target::TargetPolicy,
        Event, OutboxEvent, WebhookEndpoint,
    },
    xero_budget::{Acquire, BudgetLimits, Lease, Used},
    xero_connection::{OAuthConnection, PendingAuthorization, TokenSet, XeroTenant},
    xero_pull::XeroPullMessage,
    xero_push::XeroPushMessage,
    xero_sync::XeroSyncSettings,
    Versioned,
};
use chrono::{DateTime, Utc};
use std::future::Future;

/// Filters and position of `GET /invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceQuery {
    /// Only invoices in this status.
    pub status: Option<InvoiceStatus>,
    /// Only this customer's invoices.
    pub customer_id: Option<String>,
    /// The page size.
    pub limit: usize,
    /// The id of the last invoice of the previous page.
    pub after: Option<String>,
}

/// Invoices of an account.
pub trait InvoiceStore: Send + Sync {
    /// Stores a new invoice; its id must be new in the account. With a receipt, the answer is
    /// recorded in the same transaction, and with an event, the event is put in the outbox in it
    /// (as every write below that takes them): it exists if and only if the change committed.
    fn insert_invoice(
        &self,
        invoice: &Invoice,
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> impl Future<Output = Result<()>> + Send;

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
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The account's invoices in creation order. The page's `after` is an invoice id.
    fn list_invoices(
        &self,
        account_id: &str,
        query: &InvoiceQuery,
    ) -> impl Future<Output = Result<Page<Invoice>>> + Send;
}

/// Credentials, found by their public id.
pub trait CredentialStore: Send + Sync {
    /// The credential with this id, if any.
    fn find_credential(&self, credential_id: &str) -> impl Future<Output = Result<Option<Credential>>> + Send;
}

/// Accounts.
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

/// Idempotency records (docs/contract.md, section 3).
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

    /// Records the answer of a claimed request that changed nothing (or whose change recorded it
    /// already: then this does nothing). Answers of any size are kept.
    fn complete(&self, receipt: &Receipt) -> impl Future<Output = Result<()>> + Send;

    /// Gives a claim up without an answer (the request failed before changing anything), so a
    /// retry runs again. A claim that was recorded or taken over is left alone.
    fn release(&self, claim: &IdempotencyClaim) -> impl Future<Output = Result<()>> + Send;
}

/// Lines and groups of invoices.
pub trait LineItemStore: Send + Sync {
    /// A line of an invoice, if it has it.
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
        receipt: Option<&Receipt>,
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
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Account settings that answers need.
pub trait ReceivingAccounts: Send + Sync {
    /// The account's receiving bank account (an unconfigured default if none was set).
    fn receiving_account(&self, account_id: &str) -> impl Future<Output = Result<ReceivingAccount>> + Send;
}

/// Reconcile jobs and their outcomes (docs/contract.md, section 5). Counts are exact under redelivery: an
/// outcome is recorded, and counted, once per invoice and job.
pub trait ReconcileJobs: Send + Sync {
    /// Stores a new job. `all_invoices` for a job over every FINAL, SENT and VOIDED invoice: its
    /// invoices are still to be listed (expansion), and Xero's sales invoices too (a scan).
    fn create_job(
        &self,
        account_id: &str,
        job: &ReconcileJob,
        all_invoices: bool,
        receipt: Option<&Receipt>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A job of the account, if it has it.
    fn get_job(&self, account_id: &str, job_id: &str) -> impl Future<Output = Result<Option<ReconcileJob>>> + Send;

    /// A job with the worker's view of its progress.
    fn get_job_record(&self, account_id: &str, job_id: &str) -> impl Future<Output = Result<Option<JobRecord>>> + Send;

    /// QUEUED -> RUNNING (no change otherwise).
    fn mark_running(&self, account_id: &str, job_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Marks a job FAILED (its work could not be queued).
    fn mark_failed(
        &self,
        account_id: &str,
        job_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records outcomes that are not recorded yet and adds them to the job's counts. Answers how
    /// many were new.
    fn record_outcomes(
        &self,
        account_id: &str,
        job_id: &str,
        outcomes: &[InvoiceOutcome],
    ) -> impl Future<Output = Result<usize>> + Send;

    /// The expansion page recorded under this key, if any.
    fn expanded_page(
        &self,
        account_id: &str,
        job_id: &str,
        page_key: &str,
    ) -> impl Future<Output = Result<Option<ExpandedPage>>> + Send;

    /// Records an expansion page under its key and adds its invoices to the job's total, once per
    /// key (a repeat does nothing); the last page (no `next`) ends the expansion.
    fn record_expanded_page(
        &self,
        account_id: &str,
        job_id: &str,
        page_key: &str,
        page: &ExpandedPage,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Adds one page of Xero's sales invoices to the job's snapshot (a repeat changes nothing);
    /// `last` makes the snapshot ready.
    fn record_xero_page(
        &self,
        account_id: &str,
        job_id: &str,
        page: u32,
        invoices: &[ExternalInvoice],
        last: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Gives the job's scan up: its invoices are FAILED with `reason`.
    fn fail_xero_scan(&self, account_id: &str, job_id: &str, reason: &str) -> impl Future<Output = Result<()>> + Send;

    /// The snapshot's sales invoices with these numbers (all of them, duplicates included).
    fn xero_snapshot(
        &self,
        account_id: &str,
        job_id: &str,
        numbers: &[String],
    ) -> impl Future<Output = Result<Vec<ExternalInvoice>>> + Send;

    /// Adds calls made to Xero to the job's `xeroCalls`.
    fn add_xero_calls(&self, account_id: &str, job_id: &str, calls: u64) -> impl Future<Output = Result<()>> + Send;

    /// RUNNING -> COMPLETED once every invoice has its outcome, with its INTEGRATION_SYNC_COMPLETED
    /// event in the outbox in the same write; answers whether the job is complete.
    fn complete_if_done(
        &self,
        account_id: &str,
        job_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// A job's outcomes in invoice id order; the page's `after` is an invoice id.
    fn list_outcomes(
        &self,
        account_id: &str,
        job_id: &str,
        outcome: Option<OutcomeKind>,
        limit: usize,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Page<InvoiceOutcome>>> + Send;
}

/// Batch reads of invoices for the reconcile consumer.
pub trait InvoiceBatches: Send + Sync {
    /// The account's invoices among these ids (at most `reconcile::BATCH_SIZE` per call); missing
    /// ids are left out.
    fn get_invoices(
        &self,
        account_id: &str,
        invoice_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Versioned<Invoice>>>> + Send;

    /// A page of the ids of the account's FINAL, SENT and VOIDED invoices, in creation order.
    fn list_reconcilable_invoice_ids(
        &self,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Page<String>>> + Send;
}

/// The queue that buffers reconcile work.
pub trait WorkQueue: Send + Sync {
    /// Sends messages, each visible after `delay` (at most 15 minutes).
    fn enqueue(
        &self,
        messages: &[ReconcileMessage],
        delay: std::time::Duration,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Integration settings of an account.
pub trait IntegrationSettings: Send + Sync {
    /// The account's Xero settings, if it is connected.
    fn xero_settings(&self, account_id: &str) -> impl Future<Output = Result<Option<XeroSettings>>> + Send;

    /// Connects the account to Xero.
    fn set_xero_settings(&self, account_id: &str, settings: &XeroSettings) -> impl Future<Output = Result<()>> + Send;
}

/// Secrets of integrations, never stored beside the data.
pub trait IntegrationSecrets: Send + Sync {
    /// The account's Xero client secret, if any.
    fn xero_client_secret(&self, account_id: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Stores the account's Xero client secret.
    fn set_xero_client_secret(&self, account_id: &str, secret: &str) -> impl Future<Output = Result<()>> + Send;

    /// The client secret of the service's own Xero app (OAuth connections), if configured.
    fn xero_app_client_secret(&self) -> impl Future<Output = Result<Option<String>>> + Send;

    /// The webhook key of the service's Xero app (Xero signs its webhooks with it), if configured.
    fn xero_webhook_key(&self) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// Accounts' two-way Xero sync settings, and which account pulls each Xero organisation's payments
/// (the tenant in a Xero webhook finds the account by it).
pub trait XeroSyncSettingsStore: Send + Sync {
    /// The account's settings, if it ever set them.
    fn xero_sync_settings(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<XeroSyncSettings>>>> + Send;

    /// Stores `settings` if the stored version is still `expected` (`None`: nothing stored yet), and
    /// in the same write gives up the account's claim on `previous_tenant` and claims
    /// `settings.tenant_id`. A conflict if another account holds that claim; contended if the
    /// settings changed meanwhile.
    fn put_xero_sync_settings(
        &self,
        account_id: &str,
        settings: &XeroSyncSettings,
        expected: Option<u64>,
        previous_tenant: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The account that pulls payments of this Xero organisation, if any.
    fn account_pulling_tenant(&self, tenant_id: &str) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// The queue of pushes to Xero (SPEC.md section 9): one message per invoice to bring up to date.
pub trait XeroPushQueue: Send + Sync {
    /// Sends the messages, visible at once.
    fn queue_pushes(&self, messages: &[XeroPushMessage]) -> impl Future<Output = Result<()>> + Send;
}

/// The queue of pulls from Xero: one message per Xero invoice a webhook named.
pub trait XeroPullQueue: Send + Sync {
    /// Sends the messages, visible at once.
    fn queue_pulls(&self, messages: &[XeroPullMessage]) -> impl Future<Output = Result<()>> + Send;
}

/// What the periodic backstop of the pull needs: which accounts pull which organisation, and up
/// to when each account's changes in Xero were looked at.
pub trait XeroPullSweeps: Send + Sync {
    /// Every account that pulls payments, with its organisation.
    fn pulling_accounts(&self) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;

    /// When the last sweep of the account's changes in Xero started, if one completed.
    fn pull_cursor(&self, account_id: &str) -> impl Future<Output = Result<Option<DateTime<Utc>>>> + Send;

    /// Records that changes up to `swept_to` were looked at.
    fn set_pull_cursor(&self, account_id: &str, swept_to: DateTime<Utc>) -> impl Future<Output = Result<()>> + Send;
}

/// Which of an account's invoices each Xero invoice it pushed is: a webhook names the Xero
/// invoice, the pull needs ours.
pub trait XeroInvoiceLinks: Send + Sync {
    /// Records that the Xero invoice is the account's invoice (a repeat changes nothing).
    fn record_xero_invoice(
        &self,
        account_id: &str,
        xero_invoice_id: &str,
        invoice_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The account's invoice that the Xero invoice is, if it pushed it.
    fn invoice_for_xero_invoice(
        &self,
        account_id: &str,
        xero_invoice_id: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// Which Xero contact stands for each customer, per organisation: the push finds or creates it
/// once, and every later invoice of the customer goes to the same contact.
pub trait XeroContactMap: Send + Sync {
    /// The contact recorded for the customer in the organisation, if any.
    fn xero_contact(
        &self,
        account_id: &str,
        tenant_id: &str,
        customer_id: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Records the contact unless one is recorded already, and answers the one that stands: of two
    /// pushes that each found or created a contact, the first recorded wins.
    fn record_xero_contact(
        &self,
        account_id: &str,
        tenant_id: &str,
        customer_id: &str,
        contact_id: &str,
    ) -> impl Future<Output = Result<String>> + Send;
}

/// Accounts' Xero OAuth connections (everything but the tokens) and pending authorizations.
pub trait XeroConnections: Send + Sync {
    /// Keeps a pending authorization until its callback or its expiry.
    fn save_authorization(&self, authorization: &PendingAuthorization) -> impl Future<Output = Result<()>> + Send;

    /// Removes and returns the pending authorization with this `state`, once: a second call (or a
    /// concurrent one) finds nothing. An expired one is returned too, for the caller to refuse.
    fn take_authorization(&self, state: &str) -> impl Future<Output = Result<Option<PendingAuthorization>>> + Send;

    /// The account's OAuth connection, with its version.
    fn oauth_connection(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<OAuthConnection>>>> + Send;

    /// Writes the connection if its version is still `expected` (`None`: whatever is stored is
    /// replaced, as a new authorization does); a conflict is [`crate::ErrorKind::Conflict`].
    fn put_oauth_connection(
        &self,
        account_id: &str,
        connection: &OAuthConnection,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Forgets the connection (a repeat changes nothing).
    fn delete_oauth_connection(&self, account_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Takes the connection's refresh lease for `holder` until `until`, if nobody holds it past
    /// `now` (a conditional write: one holder at a time across every instance).
    fn try_lease_refresh(
        &self,
        account_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Gives the lease back, if `holder` still holds it.
    fn release_refresh(&self, account_id: &str, holder: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Where connections' token sets live: encrypted, readable only by the functions that call Xero.
pub trait TokenVault: Send + Sync {
    /// The account's token set, if any.
    fn token_set(&self, account_id: &str) -> impl Future<Output = Result<Option<TokenSet>>> + Send;

    /// Replaces the account's token set.
    fn store_token_set(&self, account_id: &str, tokens: &TokenSet) -> impl Future<Output = Result<()>> + Send;

    /// Forgets it (a repeat changes nothing).
    fn forget_token_set(&self, account_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Why Xero's identity service refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The code or refresh token is not (or no longer) valid: the customer must connect again.
    #[error("Xero refused the grant: {0}")]
    InvalidGrant(String),
    /// Anything else: unreachable, 5xx, an answer that could not be read.
    #[error("Xero's identity service failed: {0}")]
    Unavailable(String),
}

/// What a code exchange or a refresh gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The tokens.
    pub tokens: TokenSet,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

/// Xero's identity service (identity.xero.com, and api.xero.com/connections), for the service's app.
pub trait XeroIdentity: Send + Sync {
    /// Exchanges an authorization code (with its PKCE verifier).
    fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> impl Future<Output = std::result::Result<TokenGrant, IdentityError>> + Send;

    /// A new token set for a refresh token (which Xero then replaces).
    fn refresh(
        &self,
        refresh_token: &str,
    ) -> impl Future<Output = std::result::Result<TokenGrant, IdentityError>> + Send;

    /// The organisations the access token reaches.
    fn connections(
        &self,
        access_token: &str,
    ) -> impl Future<Output = std::result::Result<Vec<XeroTenant>, IdentityError>> + Send;

    /// Removes one organisation's connection.
    fn delete_connection(
        &self,
        access_token: &str,
        connection_id: &str,
    ) -> impl Future<Output = std::result::Result<(), IdentityError>> + Send;

    /// Revokes the refresh token (and every access token of the authorization).
    fn revoke(&self, refresh_token: &str) -> impl Future<Output = std::result::Result<(), IdentityError>> + Send;
}

/// The shared budget of Xero calls (docs/design.md, "Xero call budget"): counts every worker
/// instance sees, so that together they keep within Xero's limits.
pub trait XeroBudgetStore: Send + Sync {
    /// Counts one call against the tenant's minute and day, the app's minute, and takes one of the
    /// tenant's in-flight slots, all or nothing; or says until when to wait (a block first, then
    /// the day, the minute, the app's minute, busy slots).
    fn try_acquire(
        &self,
        tenant: &str,
        now: DateTime<Utc>,
        limits: &BudgetLimits,
    ) -> impl Future<Output = Result<Acquire>> + Send;

    /// Frees the lease's slot, unless it expired and was taken by another call.
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<()>> + Send;

    /// Raises the tenant's (and the app's) counters of the windows of `now` to what Xero said was
    /// used; never lowers them.
    fn observe(&self, tenant: &str, now: DateTime<Utc>, used: &Used) -> impl Future<Output = Result<()>> + Send;

    /// Nobody calls for the tenant (or the whole app, for `appminute`) until `until`; a later
    /// block already recorded is kept.
    fn block(
        &self,
        tenant: &str,
        until: DateTime<Utc>,
        problem: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// An account's webhook endpoints.
pub trait WebhookEndpoints: Send + Sync {
    /// Stores a new endpoint; its id must be new.
    fn insert_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        receipt: Option<&Receipt>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The account's endpoint with this id and its version; another account's is `None`.
    fn get_webhook_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<WebhookEndpoint>>>> + Send;

    /// The account's endpoints in creation order, `limit` at a time after the endpoint `after`.
    fn list_webhook_endpoints(
        &self,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Page<WebhookEndpoint>>> + Send;

    /// Writes the endpoint's new state if its version is still `expected_version`
    /// (`ErrorKind::Contended` otherwise).
    fn replace_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        expected_version: u64,
        receipt: Option<&Receipt>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes the endpoint if its version is still `expected_version` (`ErrorKind::Contended`
    /// otherwise).
    fn delete_webhook_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
        expected_version: u64,
        receipt: Option<&Receipt>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Webhook signing secrets, kept out of the table (encrypted by the secret store).
pub trait WebhookSecrets: Send + Sync {
    /// Stores the endpoint's secret, replacing any earlier one.
    fn store_webhook_secret(
        &self,
        account_id: &str,
        endpoint_id: &str,
        secret: &WebhookSecret,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The endpoint's secret, if stored.
    fn webhook_secret(
        &self,
        account_id: &str,
        endpoint_id: &str,
    ) -> impl Future<Output = Result<Option<WebhookSecret>>> + Send;

    /// Deletes the endpoint's secret; one already gone is not an error.
    fn forget_webhook_secret(&self, account_id: &str, endpoint_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// The outbox's events, read back for delivery.
pub trait WebhookEvents: Send + Sync {
    /// The account's event with this id, while it is kept.
    fn webhook_event(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<OutboxEvent>>> + Send;
}

/// What each endpoint's deliveries attempted.
pub trait WebhookDeliveries: Send + Sync {
    /// The attempt with this number of the event to the endpoint, if it was made.
    fn delivery_attempt(
        &self,
        account_id: &str,
        endpoint_id: &str,
        event_id: &str,
        attempt: u32,
    ) -> impl Future<Output = Result<Option<RecordedAttempt>>> + Send;

    /// Records an attempt (its follow-up not yet done), once: `false` if that attempt of the
    /// event to the endpoint was recorded already.
    fn record_attempt(
        &self,
        account_id: &str,
        endpoint_id: &str,
        attempt: &DeliveryAttempt,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Notes that what follows the attempt was done.
    fn mark_followed_up(
        &self,
        account_id: &str,
        endpoint_id: &str,
        event_id: &str,
        attempt: u32,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The endpoint's attempts, newest event first (and an event's attempts newest first),
    /// `limit` at a time after the position `after`.
    fn list_delivery_attempts(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Page<DeliveryAttempt>>> + Send;
}

/// The queue of deliveries: one message per endpoint and event, so that a slow or failing
/// endpoint holds up only its own.
pub trait DeliveryQueue: Send + Sync {
    /// Sends the tasks, each visible after `delay` (at most 15 minutes).
    fn schedule(&self, tasks: &[DeliveryTask], delay: std::time::Duration) -> impl Future<Output = Result<()>> + Send;
}

/// One HTTP POST of a signed event to an endpoint.
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` with `headers` to `url`, connecting only to addresses `policy` allows (every
    /// address the host resolves to is checked), waiting at most `timeout` for the whole answer.
    fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
        timeout: std::time::Duration,
        policy: TargetPolicy,
    ) -> impl Future<Output = AttemptOutcome> + Send;
}

/// How a use case answers: it builds the answer from exactly what it is about to commit, and asks
/// for the receipt to commit with it (`None` when the request carries no idempotency key).
/// Building the answer before the commit means nothing fallible runs after it.
pub trait Respond<T> {
    /// What the use case returns.
    type Answer;
    /// The answer for `committed`; an error here stops the use case before anything is written.
    fn answer(&self, committed: &T) -> Result<Self::Answer>;
    /// The receipt recording `answer` under the request's idempotency key, if it has one.
    fn receipt(&self, answer: &Self::Answer) -> Option<Receipt>;
}

/// Answers with the committed value itself and records nothing: for callers without a request
/// (workers, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unrecorded;

impl<T: Clone> Respond<T> for Unrecorded {
    type Answer = T;
    fn answer(&self, committed: &T) -> Result<T> {
        Ok(committed.clone())
    }
    fn receipt(&self, _answer: &T) -> Option<Receipt> {
        None
    }
}
