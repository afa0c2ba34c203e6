//! `DELETE /integrations/xero`: revokes the customer's authorization, deletes its Xero
//! connections and forgets the tokens; 204, also when nothing was connected. Two-way sync stops
//! first (both directions off, the organisation's claim given up). A custom connection is an
//! operator's (409).

use invoicing_domain::{
    ports::{IntegrationSettings, TokenVault, XeroConnections, XeroIdentity, XeroSyncSettingsStore},
    service::xero_connection::{disconnect, TokenKeeper},
    Error,
};
use invoicing_http::{ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn disconnect_xero<S, V, I>(
    keeper: &TokenKeeper<S, V, I>,
    context: RequestContext,
    _request: Request,
) -> Result<ApiResponse, Error>
where
    S: XeroConnections + IntegrationSettings + XeroSyncSettingsStore,
    V: TokenVault,
    I: XeroIdentity,
{
    disconnect(keeper, &context.account_id).await?;
    Ok(ApiResponse::empty(204))
}
