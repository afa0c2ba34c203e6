//! `PUT /integrations/xero/settings`: turns two-way Xero sync on or off for the account
//! (`pushInvoices`, `pullPayments`, `salesAccountCode`); 409 without a Xero connection in use.

use chrono::SubsecRound;
use invoicing_domain::{
    ports::{IntegrationSettings, XeroConnections, XeroSyncSettingsStore},
    service::xero_sync::{update_sync_settings, SettingsChange},
    Error,
};
use invoicing_http::{parse_json_object, ApiResponse, Request, RequestContext, Route};
use serde::Deserialize;

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The body: both directions are required (a PUT replaces the settings); the account code is
/// optional (the stored one, or Xero's default sales account "200").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    push_invoices: bool,
    pull_payments: bool,
    sales_account_code: Option<String>,
}

/// The handler.
pub async fn update_xero_sync_settings<S>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error>
where
    S: XeroSyncSettingsStore + XeroConnections + IntegrationSettings,
{
    let body: Body = parse_json_object(&request)?;
    let change = SettingsChange {
        push_invoices: body.push_invoices,
        pull_payments: body.pull_payments,
        sales_account_code: body.sales_account_code,
    };
    // Milliseconds, like every other time the API answers.
    let now = chrono::Utc::now().trunc_subsecs(3);
    let settings = update_sync_settings(&store, &context.account_id, &change, now).await?;
    Ok(ApiResponse::json(200, &settings))
}
