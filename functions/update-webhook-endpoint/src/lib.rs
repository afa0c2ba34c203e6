//! `PATCH /webhook-endpoints/{endpointId}`: changes what the body names (`url`, `events`,
//! `description`, `status`), 200 with the endpoint.

use invoicing_domain::{
    model::webhooks::{target::TargetPolicy, EndpointStatus, EndpointView, WebhookEndpoint},
    ports::WebhookEndpoints,
    service::webhooks::{update_endpoint, EndpointChange},
    Error,
};
use invoicing_http::{parse_json_object, path_param, ApiResponse, Request, RequestContext, Route};
use serde::Deserialize;

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    #[serde(default, deserialize_with = "not_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    events: Option<Vec<String>>,
    /// Absent: unchanged; null or empty: removed.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    status: Option<EndpointStatus>,
}

/// A field that may be absent but, when present, must not be null.
fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A field that is present, even as null.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The handler.
pub async fn update_webhook_endpoint<S: WebhookEndpoints>(
    store: S,
    policy: TargetPolicy,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let endpoint_id = path_param(&request, "endpointId")?;
    let body: Body = parse_json_object(&request)?;
    if body.url.is_none() && body.events.is_none() && body.description.is_none() && body.status.is_none() {
        return Err(Error::validation("request body: name at least one of url, events, description, status"));
    }
    let change = EndpointChange {
        url: body.url,
        events: body.events,
        description: body.description.map(Option::unwrap_or_default),
        status: body.status,
    };
    let respond =
        context.respond(|endpoint: &WebhookEndpoint| Ok(ApiResponse::json(200, &EndpointView::from(endpoint))));
    update_endpoint(&store, &context.account_id, &endpoint_id, change, policy, context.now, &respond).await
}
