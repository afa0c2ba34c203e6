//! `GET|PUT /integrations/xero/settings` (SPEC.md section 9): two-way sync is turned on per
//! account, only over a working Xero connection.

use super::{concurrency::retry_on_contention, xero_connection::connection_view};
use crate::{
    model::{
        xero_connection::ConnectionStatus,
        xero_sync::{check_account_code, XeroSyncSettings},
    },
    ports::{IntegrationSettings, XeroConnections, XeroSyncSettingsStore},
    Error, Result,
};
use chrono::{DateTime, Utc};

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
