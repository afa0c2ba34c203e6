//! `POST /webhook-endpoints`: registers a URL for events, 201 with the endpoint and its signing
//! secret, which no other answer shows again.

use invoicing_domain::{
    model::{idempotency::Receipt, webhooks::target::TargetPolicy, webhooks::EndpointView},
    ports::{Respond, WebhookEndpoints, WebhookSecrets},
    service::webhooks::{create_endpoint, CreatedEndpoint, NewEndpoint},
    Error,
};
use invoicing_http::{parse_json_object, ApiResponse, Request, RequestContext, Route};
use serde::Deserialize;

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Answers with the secret, and records the answer without it: the idempotency record is in the
/// table, which never holds a secret. A replayed create answers the endpoint alone.
struct SecretShownOnce<'a> {
    context: &'a RequestContext,
}

/// The answer shown, and the one recorded.
type Answers = (ApiResponse, ApiResponse);

impl Respond<CreatedEndpoint> for SecretShownOnce<'_> {
    type Answer = Answers;

    fn answer(&self, created: &CreatedEndpoint) -> Result<Answers, Error> {
        let location = format!("/webhook-endpoints/{}", created.endpoint.id);
        let shown = ApiResponse::json(201, &created.view()).with_header("location", location.clone());
        let recorded = ApiResponse::json(201, &EndpointView::from(&created.endpoint)).with_header("location", location);
        Ok((shown, recorded))
    }

    fn receipt(&self, (_, recorded): &Answers) -> Option<Receipt> {
        self.context.receipt(recorded)
    }
}

/// The handler.
pub async fn create_webhook_endpoint<S: WebhookEndpoints, V: WebhookSecrets>(
    store: S,
    secrets: V,
    policy: TargetPolicy,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let body: Body = parse_json_object(&request)?;
    let new = NewEndpoint { url: body.url, events: body.events, description: body.description };
    let respond = SecretShownOnce { context: &context };
    let (shown, _) = create_endpoint(&store, &secrets, &context.account_id, new, policy, context.now, &respond).await?;
    Ok(shown)
}
