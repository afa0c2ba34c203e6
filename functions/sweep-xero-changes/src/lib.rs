//! `sweep-xero-changes`: the backstop of the pull (SPEC.md section 9). Webhooks can be missed (an
//! outage here, a key rotated, Xero giving up on an endpoint), so on a schedule this asks Xero, per
//! account that pulls payments, which sales invoices changed since its last sweep
//! (`If-Modified-Since`), and queues a pull for each one the account pushed, exactly as a webhook
//! would. A pull reads Xero's state, so a pull queued for an invoice whose webhook did arrive
//! changes nothing. Each account's cursor moves only after its sweep completed; an account whose
//! sweep fails is swept from the same point next time. The window starts a few minutes before the
//! last sweep began, so that a change made while Xero's clock or ours ran a little apart is seen.

use chrono::{DateTime, Duration, Utc};
use invoicing_domain::{
    model::xero_pull::XeroPullMessage,
    ports::{
        IntegrationSecrets, IntegrationSettings, TokenVault, XeroConnections, XeroInvoiceLinks, XeroPullQueue,
        XeroPullSweeps,
    },
};
use invoicing_xero::accounts::{XeroAccess, XeroClients};
use serde::Serialize;

/// How far back the first sweep of an account looks.
pub const FIRST_SWEEP_WINDOW: Duration = Duration::hours(24);
/// How far before the last sweep's start each sweep looks again.
pub const OVERLAP: Duration = Duration::minutes(5);
/// The most pages of changed invoices read per account and sweep (100 each); the rest waits for
/// the next sweep, which starts from the same cursor.
pub const MAX_PAGES: u32 = 50;

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Accounts swept to the end.
    pub accounts_swept: usize,
    /// Accounts whose sweep failed (tried again from the same point next time).
    pub accounts_failed: usize,
    /// Pulls queued.
    pub pulls_queued: usize,
}

/// The sweeper.
pub struct Sweeper<S, K, Q> {
    /// The pulling accounts, their cursors and the Xero invoice links.
    pub store: S,
    /// Each account's Xero client.
    pub clients: XeroClients<S, K>,
    /// The pull queue.
    pub queue: Q,
}

impl<S, K, Q> Sweeper<S, K, Q>
where
    S: XeroPullSweeps + XeroInvoiceLinks + IntegrationSettings + XeroConnections + Clone + 'static,
    K: IntegrationSecrets + TokenVault + Clone + 'static,
    Q: XeroPullQueue,
{
    /// Sweeps every pulling account once; `now` is when the sweep started.
    pub async fn sweep(&self, now: DateTime<Utc>) -> SweepReport {
        let mut report = SweepReport::default();
        let accounts = match self.store.pulling_accounts().await {
            Ok(accounts) => accounts,
            Err(error) => {
                tracing::error!(error = %error.report(), "could not list the accounts that pull Xero payments");
                return report;
            }
        };
        for (account_id, tenant_id) in accounts {
            match self.sweep_account(&account_id, &tenant_id, now).await {
                Ok(queued) => {
                    report.accounts_swept += 1;
                    report.pulls_queued += queued;
                }
                Err(reason) => {
                    tracing::warn!(accountId = %account_id, reason, "sweeping Xero's changes failed; next time again");
                    report.accounts_failed += 1;
                }
            }
        }
        tracing::info!(?report, "Xero changes swept");
        report
    }

    async fn sweep_account(&self, account_id: &str, tenant_id: &str, now: DateTime<Utc>) -> Result<usize, String> {
        let store_failed = |e: invoicing_domain::Error| format!("store: {}", e.report());
        let since = match self.store.pull_cursor(account_id).await.map_err(store_failed)? {
            Some(cursor) => cursor - OVERLAP,
            None => now - FIRST_SWEEP_WINDOW,
        };
        let client = match self.clients.client_for(account_id).await.map_err(store_failed)? {
            XeroAccess::Client(client) => client,
            XeroAccess::Unusable(reason) => return Err(reason.to_string()),
        };
        if client.connection().tenant_id.as_deref().is_some_and(|connected| connected != tenant_id) {
            return Err("the connection reaches another organisation than the one pulled".into());
        }
        let mut queued = 0;
        for page in 1..=MAX_PAGES {
            let changed = client.sales_invoices_page_since(page, Some(since)).await.map_err(|e| e.to_string())?;
            let mut messages = Vec::new();
            for invoice in &changed.invoices {
                let ours = self.store.invoice_for_xero_invoice(account_id, &invoice.invoice_id).await;
                if ours.map_err(store_failed)?.is_some() {
                    messages.push(XeroPullMessage {
                        account_id: account_id.into(),
                        tenant_id: tenant_id.into(),
                        xero_invoice_id: invoice.invoice_id.clone(),
                    });
                }
            }
            if !messages.is_empty() {
                self.queue.queue_pulls(&messages).await.map_err(store_failed)?;
                queued += messages.len();
            }
            let last = match changed.page_count {
                Some(pages) => page >= pages,
                None => changed.invoices.len() < invoicing_xero::SCAN_PAGE_SIZE as usize,
            };
            if last || changed.invoices.is_empty() {
                self.store.set_pull_cursor(account_id, now).await.map_err(store_failed)?;
                return Ok(queued);
            }
        }
        // More pages than one sweep reads: the cursor stays, the next sweep reads them again.
        Ok(queued)
    }
}
