//! `GET /webhook-endpoints/{endpointId}`: one of the account's endpoints, without its secret.

use invoicing_domain::{
    model::webhooks::EndpointView, ports::WebhookEndpoints, service::webhooks::get_endpoint, Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn get_webhook_endpoint<S: WebhookEndpoints>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let endpoint_id = path_param(&request, "endpointId")?;
    let endpoint = get_endpoint(&store, &context.account_id, &endpoint_id).await?;
    Ok(ApiResponse::json(200, &EndpointView::from(&endpoint.value)))
}
