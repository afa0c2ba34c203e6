//! `push-to-xero`: the SQS consumer that brings an invoice's copy in Xero in line with it (SPEC.md
//! section 9). A message names an invoice; the worker reads it when the message arrives and does
//! what its state calls for: a FINAL or SENT invoice not yet in Xero is created there (ACCREC,
//! AUTHORISED, our number, our amounts, its customer's contact found or created), a SENT one is
//! marked sent, a VOIDED one is voided. So a repeated, late or reordered message changes nothing,
//! and every Xero write carries an `Idempotency-Key` fixed by the invoice and the action.
//!
//! Before creating, the worker looks the number up in Xero: a copy a lost answer (or an expired
//! idempotency key) left behind is linked rather than created twice. The invoice's Xero entry in
//! `linkedServices` records the outcome: SYNCED, PENDING with `lastError` while SQS redelivers,
//! FAILED with `lastError` when retrying cannot help or the last delivery failed (the message
//! then goes on to the dead-letter queue).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, SubsecRound, Utc};
use invoicing_domain::{
    model::{
        invoice::{Invoice, InvoiceStatus, SyncStatus},
        lines::LineItem,
        reconcile::{unlink_from_xero, xero_entry, xero_link, SALES_INVOICE},
        xero_connection::RECONNECT_REASON,
        xero_push::{idempotency_key, push_invoice, record_push, XeroPushMessage},
        Versioned,
    },
    ports::{
        IntegrationSecrets, IntegrationSettings, InvoiceStore, LineItemStore, TokenVault, XeroConnections,
        XeroContactMap, XeroInvoiceLinks, XeroSyncSettingsStore,
    },
    service::{concurrency::retry_on_contention, xero_sync::sync_settings},
    Error,
};
use invoicing_xero::{
    accounts::{XeroAccess, XeroClients, NO_CONNECTION},
    XeroClient, XeroError, XeroInvoice,
};

/// Lines read per page when building the pushed invoice.
const LINES_PAGE: usize = 100;

/// Why a push did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFailure {
    /// Worth another delivery (Xero unavailable or rate limited, our store unavailable).
    Retry(String),
    /// Retrying cannot help (Xero refused the invoice, no connection): FAILED now.
    Permanent(String),
}

impl From<Error> for PushFailure {
    fn from(error: Error) -> Self {
        tracing::warn!(error = %error.report(), "store call failed during a Xero push");
        PushFailure::Retry("the invoice store was unavailable".into())
    }
}

fn xero_failure(error: XeroError) -> PushFailure {
    match error {
        XeroError::ReconnectRequired => PushFailure::Permanent(RECONNECT_REASON.into()),
        XeroError::Disconnected => PushFailure::Permanent(NO_CONNECTION.into()),
        XeroError::Api { status, body } if (400..500).contains(&status) && status != 429 => {
            PushFailure::Permanent(format!("Xero refused the push ({status}): {body}"))
        }
        other => PushFailure::Retry(other.to_string()),
    }
}

/// What a message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Xero has the invoice as it is here.
    Synced,
    /// Nothing to push: why.
    Skipped(&'static str),
}

/// The worker.
pub struct Pusher<S, K> {
    /// Invoices, lines, settings, the contact map.
    pub store: S,
    /// Each account's Xero client.
    pub clients: XeroClients<S, K>,
    /// The queue's `maxReceiveCount`: the delivery that fails for the last time records FAILED.
    pub max_receives: u32,
}

fn current_time() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn receive_count(message: &SqsMessage) -> u32 {
    message.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1)
}

impl<S, K> Pusher<S, K>
where
    S: InvoiceStore
        + LineItemStore
        + XeroSyncSettingsStore
        + XeroContactMap
        + XeroInvoiceLinks
        + IntegrationSettings
        + XeroConnections
        + Clone
        + 'static,
    K: IntegrationSecrets + TokenVault + Clone + 'static,
{
    /// Works a batch, message by message; those to be delivered again are reported.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        // One after another: two pushes of one customer's invoices must not race to create its contact.
        let mut handled = Vec::with_capacity(event.records.len());
        for message in &event.records {
            handled.push(self.handle_one(message).await);
        }
        invoicing_sqs::batch_response(&event.records, &handled)
    }

    /// `false` when the message is to be delivered again.
    async fn handle_one(&self, message: &SqsMessage) -> bool {
        let body = message.body.as_deref().unwrap_or_default();
        let Ok(push) = serde_json::from_str::<XeroPushMessage>(body) else {
            // Never readable: redelivered until it reaches the dead-letter queue, for an operator.
            tracing::error!(messageId = ?message.message_id, "a Xero push message that cannot be read");
            return false;
        };
        let mut xero = None;
        let outcome = self.push(&push, &mut xero).await;
        let last_delivery = receive_count(message) >= self.max_receives;
        let (status, error, done) = match &outcome {
            Ok(Pushed::Synced) => (SyncStatus::Synced, None, true),
            Ok(Pushed::Skipped(why)) => {
                tracing::info!(invoiceId = %push.invoice_id, why, "nothing to push to Xero");
                return true;
            }
            Err(PushFailure::Permanent(reason)) => (SyncStatus::Failed, Some(reason.as_str()), true),
            Err(PushFailure::Retry(reason)) if last_delivery => (SyncStatus::Failed, Some(reason.as_str()), false),
            Err(PushFailure::Retry(reason)) => (SyncStatus::Pending, Some(reason.as_str()), false),
        };
        match &outcome {
            Ok(_) => tracing::info!(invoiceId = %push.invoice_id, "invoice pushed to Xero"),
            Err(failure) => tracing::warn!(invoiceId = %push.invoice_id, ?failure, last_delivery, "Xero push failed"),
        }
        let external = xero.as_ref().map(|x: &XeroInvoice| (x.invoice_id.as_str(), x.url.as_deref()));
        if let Err(error) = self.record(&push, external, status, error).await {
            tracing::error!(invoiceId = %push.invoice_id, error = %error.report(), "could not record the push's outcome");
            return false;
        }
        done
    }

    /// Writes the outcome into the invoice's Xero entry (on the latest version; nothing when it
    /// would not change).
    async fn record(
        &self,
        push: &XeroPushMessage,
        external: Option<(&str, Option<&str>)>,
        status: SyncStatus,
        error: Option<&str>,
    ) -> Result<(), Error> {
        retry_on_contention(|| async {
            let Some(Versioned { value: mut invoice, version }) =
                self.store.get_invoice(&push.account_id, &push.invoice_id).await?
            else {
                return Ok(());
            };
            if record_push(&mut invoice, external, status, error, current_time()) {
                self.store.replace_invoice(&invoice, version, None, None).await?;
            }
            Ok(())
        })
        .await
    }

    /// Brings Xero in line with the invoice; `xero` is set to its Xero copy as soon as one is known.
    pub async fn push(&self, push: &XeroPushMessage, xero: &mut Option<XeroInvoice>) -> Result<Pushed, PushFailure> {
        let settings = sync_settings(&self.store, &push.account_id).await?;
        if !settings.push_invoices {
            return Ok(Pushed::Skipped("pushing invoices is off for the account"));
        }
        let Some(Versioned { value: invoice, version }) =
            self.store.get_invoice(&push.account_id, &push.invoice_id).await?
        else {
            return Ok(Pushed::Skipped("no such invoice"));
        };
        if matches!(invoice.status, InvoiceStatus::Draft | InvoiceStatus::InProgress) {
            return Ok(Pushed::Skipped("not finalized"));
        }
        let client = match self.clients.client_for(&push.account_id).await? {
            XeroAccess::Client(client) => client,
            XeroAccess::Unusable(reason) => return Err(PushFailure::Permanent(reason.into())),
        };
        let linked_id = xero_link(&invoice).and_then(|l| l.external_id.clone());
        let xero_id = match linked_id {
            Some(id) => id,
            None if invoice.status == InvoiceStatus::Voided => {
                // Voided before it reached Xero: nothing there to void; a pending entry goes.
                if xero_entry(&invoice).is_some() {
                    let mut unlinked = invoice.clone();
                    unlink_from_xero(&mut unlinked);
                    self.store.replace_invoice(&unlinked, version, None, None).await?;
                }
                return Ok(Pushed::Skipped("voided before it reached Xero"));
            }
            None => {
                let created = self.create(&client, &invoice, &settings.sales_account_code).await?;
                let id = created.invoice_id.clone();
                *xero = Some(created);
                id
            }
        };
        let account = &push.account_id;
        // Xero's webhooks name the Xero invoice; the pull finds ours by it.
        self.store.record_xero_invoice(account, &xero_id, &invoice.id).await?;
        let updated = match invoice.status {
            InvoiceStatus::Sent => Some(
                client
                    .mark_sent(&xero_id, &idempotency_key(account, &invoice.id, "sent"))
                    .await
                    .map_err(xero_failure)?,
            ),
            InvoiceStatus::Voided => Some(
                client
                    .void_invoice(&xero_id, &idempotency_key(account, &invoice.id, "void"))
                    .await
                    .map_err(xero_failure)?,
            ),
            _ => None,
        };
        if let Some(updated) = updated {
            *xero = Some(updated);
        }
        Ok(Pushed::Synced)
    }

    /// The invoice's copy in Xero: the sales invoice with its number if Xero has one (a push whose
    /// answer was lost), else created for its customer's contact.
    async fn create(
        &self,
        client: &XeroClient,
        invoice: &Invoice,
        account_code: &str,
    ) -> Result<XeroInvoice, PushFailure> {
        let number = invoice.invoice_number.clone().unwrap_or_default();
        let existing = client.invoices_by_numbers(std::slice::from_ref(&number)).await.map_err(xero_failure)?;
        if let Some(found) =
            existing.into_iter().find(|x| x.invoice_type.as_deref() == Some(SALES_INVOICE) && x.status != "DELETED")
        {
            return Ok(found);
        }
        let lines = self.lines(invoice).await?;
        let pushed = push_invoice(invoice, &lines, account_code).map_err(PushFailure::Permanent)?;
        let contact = self.contact(client, invoice).await?;
        let key = idempotency_key(&invoice.sequence_account_id, &invoice.id, "create");
        client.create_invoice(&pushed, &contact, &key).await.map_err(xero_failure)
    }

    /// Every line of the invoice, in order.
    async fn lines(&self, invoice: &Invoice) -> Result<Vec<LineItem>, PushFailure> {
        let mut lines = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list_line_items(&invoice.sequence_account_id, &invoice.id, LINES_PAGE, after.as_deref())
                .await?;
            lines.extend(page.items);
            match page.after {
                Some(next) => after = Some(next),
                None => return Ok(lines),
            }
        }
    }

    /// The Xero contact of the invoice's customer: the one recorded for it, else the contact with
    /// its legal name, else a new one; recorded so that every later invoice goes to the same one.
    async fn contact(&self, client: &XeroClient, invoice: &Invoice) -> Result<String, PushFailure> {
        let account = &invoice.sequence_account_id;
        // A custom connection that names no organisation has one: its own.
        let tenant = client.connection().tenant_id.clone().unwrap_or_default();
        if let Some(contact) = self.store.xero_contact(account, &tenant, &invoice.customer_id).await? {
            return Ok(contact);
        }
        // Xero needs a name; an invoice without the customer's legal name goes under its id.
        let name = match invoice.customer_legal_company_name.trim() {
            "" => invoice.customer_id.as_str(),
            legal_name => legal_name,
        };
        let found = client.contact_named(name).await.map_err(xero_failure)?;
        let contact = match found {
            Some(contact) => contact,
            None => {
                let email = invoice.customer_emails.first().map(String::as_str);
                let key = idempotency_key(account, &invoice.id, "contact");
                client.create_contact(name, email, &key).await.map_err(xero_failure)?
            }
        };
        Ok(self.store.record_xero_contact(account, &tenant, &invoice.customer_id, &contact).await?)
    }
}
