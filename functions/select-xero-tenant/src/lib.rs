//! `PUT /integrations/xero`: chooses which of the authorized Xero organisations every call goes to.
//! Choosing another one turns pulling Xero's payments off (and gives up the claim on the old one).

use invoicing_domain::{
    ports::{IntegrationSettings, XeroConnections, XeroSyncSettingsStore},
    service::xero_connection::select_tenant,
    Error,
};
use invoicing_http::{parse_json_object, ApiResponse, Request, RequestContext, Route};
use serde::Deserialize;

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SelectTenant {
    tenant_id: String,
}

/// The handler.
pub async fn select_xero_tenant<S: XeroConnections + IntegrationSettings + XeroSyncSettingsStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let body: SelectTenant = parse_json_object(&request)?;
    if body.tenant_id.trim().is_empty() || body.tenant_id.chars().count() > 100 {
        return Err(Error::validation("tenantId: 1 to 100 characters"));
    }
    let view = select_tenant(&store, &context.account_id, &body.tenant_id).await?;
    Ok(ApiResponse::json(200, &view))
}
