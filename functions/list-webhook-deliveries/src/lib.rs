//! `GET /webhook-endpoints/{endpointId}/deliveries?limit=&after=`: the endpoint's delivery
//! attempts, newest event first: event id and type, when, the HTTP status or the error, and when
//! the next attempt is due.

use invoicing_domain::{
    model::pagination::{decode_cursor_of, parse_limit},
    model::webhooks::{delivery::is_attempt_position, endpoint_not_found},
    ports::{WebhookDeliveries, WebhookEndpoints},
    Error,
};
use invoicing_http::{path_param, query_params, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn list_webhook_deliveries<S: WebhookEndpoints + WebhookDeliveries>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let endpoint_id = path_param(&request, "endpointId")?;
    let params = query_params(&request, &["limit", "after"])?;
    let get = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    let limit = parse_limit(get("limit"))?;
    let after = get("after").map(|cursor| decode_cursor_of(cursor, is_attempt_position)).transpose()?;
    if store.get_webhook_endpoint(&context.account_id, &endpoint_id).await?.is_none() {
        return Err(endpoint_not_found(&endpoint_id));
    }
    let page = store.list_delivery_attempts(&context.account_id, &endpoint_id, limit, after.as_deref()).await?;
    Ok(ApiResponse::json(200, &page))
}
