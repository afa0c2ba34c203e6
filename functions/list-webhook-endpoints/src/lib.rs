//! `GET /webhook-endpoints?limit=&after=`: the account's endpoints, oldest first, without secrets.

use invoicing_domain::{
    model::pagination::{decode_cursor, parse_limit, Page},
    model::webhooks::EndpointView,
    ports::WebhookEndpoints,
    service::webhooks::list_endpoints,
    Error,
};
use invoicing_http::{query_params, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn list_webhook_endpoints<S: WebhookEndpoints>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let params = query_params(&request, &["limit", "after"])?;
    let get = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    let limit = parse_limit(get("limit"))?;
    let after = get("after").map(decode_cursor).transpose()?;
    let page = list_endpoints(&store, &context.account_id, limit, after.as_deref()).await?;
    let page = Page { items: page.items.iter().map(EndpointView::from).collect(), after: page.after };
    Ok(ApiResponse::json(200, &page))
}
