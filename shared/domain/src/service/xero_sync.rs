//! `GET|PUT /integrations/xero/settings` (SPEC.md section 9): two-way sync is turned on per
//! account, only over a working Xero connection.

use super::{concurrency::retry_on_contention, xero_connection::connection_view};
use crate::{
    model::{
        invoice::{self, InvoiceStatus, SyncStatus},
        webhooks::OutboxEvent,
        xero_connection::ConnectionStatus,
        xero_push::{push_message, record_push, XeroPushMessage},
        xero_sync::{check_account_code, XeroSyncSettings},
        Versioned,
    },
    ports::{IntegrationSettings, InvoiceStore, XeroConnections, XeroPushQueue, XeroSyncSettingsStore},
    Error, Result,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What `PUT /integrations/xero/settings` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsChange {
    /// Push finalize, send and void to Xero.
    pub push_invoices: bool,
    /// Mirror Xero's payments of pushed invoices.
    pub pull_payments: bool,
    /// The sales account code; the stored one (or Xero's default "200") when absent.
    pub sales_account_code: Option<String>,
}

/// The account's settings; sync off when never set.
pub async fn sync_settings<S: XeroSyncSettingsStore>(store: &S, account_id: &str) -> Result<XeroSyncSettings> {
    Ok(store.xero_sync_settings(account_id).await?.map(|stored| stored.value).unwrap_or_default())
}

/// Replaces the account's settings. Turning a direction on needs a usable connection (409
/// otherwise); pulling needs the organisation's id, which no other account may be pulling. The same
/// settings again change nothing, not even `updatedAt`.
pub async fn update_sync_settings<S>(
    store: &S,
    account_id: &str,
    change: &SettingsChange,
    now: DateTime<Utc>,
) -> Result<XeroSyncSettings>
where
    S: XeroSyncSettingsStore + XeroConnections + IntegrationSettings,
{
    if let Some(code) = &change.sales_account_code {
        check_account_code(code).map_err(Error::validation)?;
    }
    let mut tenant_id = None;
    if change.push_invoices || change.pull_payments {
        let connection = connection_view(store, account_id).await?;
        if connection.status != ConnectionStatus::Connected {
            return Err(Error::conflict(
                "turning Xero sync on needs a Xero connection in use: connect one first (POST /integrations/xero/connect, GET /integrations/xero)",
            ));
        }
        if change.pull_payments {
            tenant_id = Some(connection.tenant_id.ok_or_else(|| {
                Error::conflict(
                    "pullPayments needs to know the Xero organisation of the connection; this custom connection names none",
                )
            })?);
        }
    }
    retry_on_contention(|| async {
        let stored = store.xero_sync_settings(account_id).await?;
        let current = stored.as_ref().map(|s| s.value.clone()).unwrap_or_default();
        let wanted = XeroSyncSettings {
            push_invoices: change.push_invoices,
            pull_payments: change.pull_payments,
            sales_account_code: change.sales_account_code.clone().unwrap_or_else(|| current.sales_account_code.clone()),
            tenant_id: tenant_id.clone(),
            updated_at: Some(now),
        };
        let unchanged = XeroSyncSettings { updated_at: current.updated_at, ..wanted.clone() } == current;
        if stored.is_some() && unchanged {
            return Ok(current);
        }
        store
            .put_xero_sync_settings(
                account_id,
                &wanted,
                stored.as_ref().map(|s| s.version),
                current.tenant_id.as_deref(),
            )
            .await?;
        Ok(wanted)
    })
    .await
}

/// Queues the pushes that committed outbox events call for, for accounts that push invoices
/// (settings read once per account and batch). On failure, the index of the event that could not
/// be queued and why: those before it are queued, it and those after are to be offered again (the
/// worker makes a repeat harmless).
pub async fn queue_pushes<S, Q>(
    settings: &S,
    queue: &Q,
    events: &[OutboxEvent],
) -> std::result::Result<usize, (usize, Error)>
where
    S: XeroSyncSettingsStore,
    Q: XeroPushQueue,
{
    let mut pushing: BTreeMap<String, bool> = BTreeMap::new();
    let mut queued = 0;
    for (index, event) in events.iter().enumerate() {
        let Some(message) = push_message(event) else { continue };
        if !pushing.contains_key(&event.account_id) {
            let on = sync_settings(settings, &event.account_id).await.map_err(|e| (index, e))?.push_invoices;
            pushing.insert(event.account_id.clone(), on);
        }
        if pushing[&event.account_id] {
            queue.queue_pushes(&[message]).await.map_err(|e| (index, e))?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// `POST /invoices/{invoiceId}/sync-to-integration`: queues the invoice's push again (after a
/// FAILED one, or to bring Xero back in line) and marks it PENDING. Only a finalized invoice of an
/// account that pushes invoices can be synced (409 otherwise). The message is queued before the
/// mark is written: a failure between the two leaves a push that converges anyway, and a retried
/// request queues a push that finds nothing left to do.
pub async fn request_push<S, Q>(
    store: &S,
    queue: &Q,
    account_id: &str,
    invoice_id: &str,
    now: DateTime<Utc>,
) -> Result<invoice::Invoice>
where
    S: XeroSyncSettingsStore + InvoiceStore,
    Q: XeroPushQueue,
{
    let found = store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))?;
    if !sync_settings(store, account_id).await?.push_invoices {
        return Err(Error::conflict(
            "pushing invoices to Xero is off for this account: turn it on with PUT /integrations/xero/settings",
        ));
    }
    if matches!(found.value.status, InvoiceStatus::Draft | InvoiceStatus::InProgress) {
        return Err(Error::conflict(format!(
            "only finalized invoices are pushed to Xero; this one is {}",
            found.value.status.as_str()
        )));
    }
    queue.queue_pushes(&[XeroPushMessage { account_id: account_id.into(), invoice_id: invoice_id.into() }]).await?;
    let mut first = Some(found);
    retry_on_contention(|| {
        let known = first.take();
        async move {
            let Versioned { value: mut invoice, version } = match known {
                Some(found) => found,
                None => {
                    store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))?
                }
            };
            if record_push(&mut invoice, None, SyncStatus::Pending, None, now) {
                store.replace_invoice(&invoice, version, None, None).await?;
            }
            Ok(invoice)
        }
    })
    .await
}
