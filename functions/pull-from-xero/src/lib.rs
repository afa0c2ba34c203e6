//! `pull-from-xero`: the SQS consumer that mirrors Xero's payments of an invoice (SPEC.md section
//! 9, pull). A message names an account and a Xero invoice a signed webhook reported changed. If
//! the account still pulls that organisation's payments and pushed that Xero invoice, the worker
//! reads the invoice's payments from Xero and makes our invoice's `xero` payments exactly Xero's
//! live ones (`service::xero_sync::mirror_xero_payments`), so `paymentStatus` follows Xero. It reads
//! Xero's state rather than trusting the event, so duplicated, late and reordered webhooks change
//! nothing. Mirrored payments are never pushed back (only finalize, send and void are pushed).
//! A failure is retried by SQS (the message reported); one that cannot succeed is logged and
//! dropped; after the queue's last delivery the message goes to the dead-letter queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{SubsecRound, Utc};
use invoicing_domain::{
    model::{error::ErrorKind, xero_pull::XeroPullMessage},
    ports::{
        IntegrationSecrets, IntegrationSettings, InvoiceStore, TokenVault, XeroConnections, XeroInvoiceLinks,
        XeroSyncSettingsStore,
    },
    service::xero_sync::{mirror_xero_payments, sync_settings},
};
use invoicing_xero::{
    accounts::{XeroAccess, XeroClients},
    XeroError,
};

/// What a message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    /// Our invoice now shows Xero's payments (`true`: it changed).
    Mirrored(bool),
    /// Nothing to do: why.
    Skipped(String),
}

/// The worker.
pub struct Puller<S, K> {
    /// Invoices, settings, the Xero invoice links.
    pub store: S,
    /// Each account's Xero client.
    pub clients: XeroClients<S, K>,
}

impl<S, K> Puller<S, K>
where
    S: InvoiceStore
        + XeroSyncSettingsStore
        + XeroInvoiceLinks
        + IntegrationSettings
        + XeroConnections
        + Clone
        + 'static,
    K: IntegrationSecrets + TokenVault + Clone + 'static,
{
    /// Works a batch, message by message; those to be delivered again are reported.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut handled = Vec::with_capacity(event.records.len());
        for message in &event.records {
            handled.push(self.handle_one(message).await);
        }
        invoicing_sqs::batch_response(&event.records, &handled)
    }

    /// `false` when the message is to be delivered again.
    async fn handle_one(&self, message: &SqsMessage) -> bool {
        let body = message.body.as_deref().unwrap_or_default();
        let Ok(pull) = serde_json::from_str::<XeroPullMessage>(body) else {
            tracing::error!(messageId = ?message.message_id, "a Xero pull message that cannot be read");
            return false;
        };
        match self.pull(&pull).await {
            Ok(Pulled::Mirrored(changed)) => {
                tracing::info!(xeroInvoiceId = %pull.xero_invoice_id, changed, "Xero payments mirrored");
                true
            }
            Ok(Pulled::Skipped(why)) => {
                tracing::info!(xeroInvoiceId = %pull.xero_invoice_id, why, "nothing to pull from Xero");
                true
            }
            Err(reason) => {
                tracing::warn!(xeroInvoiceId = %pull.xero_invoice_id, reason, "Xero pull failed; delivered again");
                false
            }
        }
    }

    /// Mirrors the Xero invoice's payments onto ours; `Err` when another delivery may succeed.
    pub async fn pull(&self, pull: &XeroPullMessage) -> Result<Pulled, String> {
        let store_failed = |e: invoicing_domain::Error| format!("store: {}", e.report());
        let settings = sync_settings(&self.store, &pull.account_id).await.map_err(store_failed)?;
        if !settings.pull_payments || settings.tenant_id.as_deref() != Some(pull.tenant_id.as_str()) {
            return Ok(Pulled::Skipped("the account does not pull this organisation's payments".into()));
        }
        let Some(invoice_id) =
            self.store.invoice_for_xero_invoice(&pull.account_id, &pull.xero_invoice_id).await.map_err(store_failed)?
        else {
            return Ok(Pulled::Skipped("not an invoice the account pushed".into()));
        };
        let client = match self.clients.client_for(&pull.account_id).await.map_err(store_failed)? {
            XeroAccess::Client(client) => client,
            XeroAccess::Unusable(reason) => return Ok(Pulled::Skipped(reason.into())),
        };
        let payments = match client.invoice_payments(&pull.xero_invoice_id).await {
            Ok(Some(payments)) => payments,
            Ok(None) => return Ok(Pulled::Skipped("Xero has no such invoice".into())),
            Err(XeroError::ReconnectRequired | XeroError::Disconnected) => {
                return Ok(Pulled::Skipped("the Xero connection is gone".into()))
            }
            Err(error) => return Err(error.to_string()),
        };
        let now = Utc::now().trunc_subsecs(3);
        match mirror_xero_payments(&self.store, &pull.account_id, &invoice_id, &payments, now).await {
            Ok(changed) => Ok(Pulled::Mirrored(changed)),
            Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Validation | ErrorKind::NotFound) => {
                Ok(Pulled::Skipped(e.to_string()))
            }
            Err(e) => Err(store_failed(e)),
        }
    }
}
