//! `GET /integrations/xero/settings`: the account's two-way Xero sync settings (off until set).

use invoicing_domain::{ports::XeroSyncSettingsStore, service::xero_sync::sync_settings, Error};
use invoicing_http::{ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn get_xero_sync_settings<S: XeroSyncSettingsStore>(
    store: S,
    context: RequestContext,
    _request: Request,
) -> Result<ApiResponse, Error> {
    Ok(ApiResponse::json(200, &sync_settings(&store, &context.account_id).await?))
}
