//! `DELETE /webhook-endpoints/{endpointId}`: deletes the endpoint, then its secret, 204. Events
//! already queued for it are dropped when their delivery finds it gone.

use invoicing_domain::{
    model::webhooks::WebhookEndpoint,
    ports::{WebhookEndpoints, WebhookSecrets},
    service::webhooks::delete_endpoint,
    Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn delete_webhook_endpoint<S: WebhookEndpoints, V: WebhookSecrets>(
    store: S,
    secrets: V,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let endpoint_id = path_param(&request, "endpointId")?;
    let respond = context.respond(|_: &WebhookEndpoint| Ok(ApiResponse::empty(204)));
    delete_endpoint(&store, &secrets, &context.account_id, &endpoint_id, &respond).await
}
