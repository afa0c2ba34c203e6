//! `GET /integrations/xero`: the account's Xero connection (OAuth or custom), never its tokens.

use invoicing_domain::{
    ports::{IntegrationSettings, XeroConnections},
    service::xero_connection::connection_view,
    Error,
};
use invoicing_http::{ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn get_xero_connection<S: XeroConnections + IntegrationSettings>(
    store: S,
    context: RequestContext,
    _request: Request,
) -> Result<ApiResponse, Error> {
    Ok(ApiResponse::json(200, &connection_view(&store, &context.account_id).await?))
}
