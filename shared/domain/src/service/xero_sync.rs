//! `GET|PUT /integrations/xero/settings` (SPEC.md section 9): two-way sync is turned on per
//! account, only over a working Xero connection.

use super::{concurrency::retry_on_contention, invoice_event, xero_connection::connection_view};
use crate::{
    model::{
        invoice::{self, InvoiceStatus, SyncStatus},
        webhooks::{EventType, OutboxEvent},
        xero_connection::ConnectionStatus,
        xero_pull::{mirrored_payments, XeroPayment, XeroPullMessage, XERO_PAYMENT_METHOD},
        xero_push::{push_message, record_push, XeroPushMessage},
        xero_sync::{check_account_code, XeroSyncSettings},
        xero_webhook::{verify, XeroWebhook},
        Versioned,
    },
    ports::{
        IntegrationSecrets, IntegrationSettings, InvoiceStore, XeroConnections, XeroPullQueue, XeroPushQueue,
        XeroSyncSettingsStore,
    },
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

/// What a Xero webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookVerdict {
    /// Not signed with the app's webhook key: 401 with an empty body, nothing queued.
    Refused,
    /// Signed: 200 with an empty body (an intent-to-receive check, with no events, included), and
    /// this many pulls queued.
    Accepted(usize),
}

/// The longest resource or tenant id taken from a webhook: Xero's ids are GUIDs; anything else is
/// not looked up (it would only make keys nothing has, or keys DynamoDB refuses).
const MAX_RESOURCE_ID_CHARS: usize = 64;

/// `POST /integrations/xero/webhooks`: checks `x-xero-signature` against the raw body, then queues
/// one pull per INVOICE event of an organisation some account pulls (the tenant claim finds the
/// account; events of other organisations are dropped). Nothing else is done before answering, so
/// the answer comes well within Xero's 5 seconds. No webhook key configured is an error (500), so
/// that Xero shows the endpoint failing rather than every webhook refused.
pub async fn receive_xero_webhook<K, S, Q>(
    secrets: &K,
    store: &S,
    queue: &Q,
    body: &[u8],
    signature: Option<&str>,
) -> Result<WebhookVerdict>
where
    K: IntegrationSecrets,
    S: XeroSyncSettingsStore,
    Q: XeroPullQueue,
{
    let key = secrets
        .xero_webhook_key()
        .await?
        .ok_or_else(|| Error::internal("no Xero webhook key is configured (invoicing-admin set-xero-webhook-key)"))?;
    if !signature.is_some_and(|signature| verify(&key, body, signature)) {
        return Ok(WebhookVerdict::Refused);
    }
    let webhook: XeroWebhook = serde_json::from_slice(body)
        .map_err(|e| Error::validation(format!("request body: not a Xero webhook: {e}")))?;
    let mut accounts: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut messages: Vec<XeroPullMessage> = Vec::new();
    for event in webhook.events.iter().filter(|e| e.is_invoice()) {
        let id = &event.resource_id;
        // Xero's ids are GUIDs: anything else names nothing here (and could not be a key).
        let plausible = |id: &str| {
            !id.is_empty()
                && id.len() <= MAX_RESOURCE_ID_CHARS
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !plausible(id) || !plausible(&event.tenant_id) {
            continue;
        }
        if !accounts.contains_key(&event.tenant_id) {
            let account = store.account_pulling_tenant(&event.tenant_id).await?;
            accounts.insert(event.tenant_id.clone(), account);
        }
        let Some(account_id) = accounts[&event.tenant_id].clone() else { continue };
        let message = XeroPullMessage { account_id, tenant_id: event.tenant_id.clone(), xero_invoice_id: id.clone() };
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    if !messages.is_empty() {
        queue.queue_pulls(&messages).await?;
    }
    Ok(WebhookVerdict::Accepted(messages.len()))
}

/// Mirrors Xero's payments of a Xero invoice onto the account's invoice (external payments of
/// method `xero`), with INVOICE_PAYMENT_STATUS_CHANGED when its payment status changes. `false`
/// when the invoice already shows exactly them. A void invoice whose payments would change is a
/// conflict; an amount we cannot record is a validation error: neither changes anything.
pub async fn mirror_xero_payments<S: InvoiceStore>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    payments: &[XeroPayment],
    now: DateTime<Utc>,
) -> Result<bool> {
    retry_on_contention(|| async {
        let Versioned { value: mut invoice, version } =
            store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))?;
        let wanted = mirrored_payments(payments, invoice.currency).map_err(Error::validation)?;
        let status_before = invoice.payment_status;
        if !invoice.mirror_payments(XERO_PAYMENT_METHOD, &wanted, now)? {
            return Ok(false);
        }
        let event = (invoice.payment_status != status_before)
            .then(|| invoice_event(EventType::InvoicePaymentStatusChanged, &invoice));
        store.replace_invoice(&invoice, version, event.as_ref(), None).await?;
        Ok(true)
    })
    .await
}
