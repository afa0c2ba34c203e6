//! `POST /integrations/xero/webhooks`: where Xero sends its webhooks (SPEC.md section 9, pull). No
//! credentials: the `x-xero-signature` over the raw body is the credential. A bad signature is 401
//! with an empty body; a good one 200 with an empty body (Xero's intent-to-receive check
//! included), its INVOICE events queued for `pull-from-xero`. Nothing else runs before the answer.

use invoicing_domain::{
    model::xero_webhook::SIGNATURE_HEADER,
    ports::{IntegrationSecrets, XeroPullQueue, XeroSyncSettingsStore},
    service::xero_sync::{receive_xero_webhook, WebhookVerdict},
    Error,
};
use invoicing_http::{ApiResponse, Body, Request, Route};

/// The route's settings: no credentials, and a body (Xero batches events; 1 MiB is far beyond
/// what it sends).
pub fn route() -> Route {
    Route { max_body_bytes: 1024 * 1024, ..Route::public(env!("CARGO_PKG_NAME")) }
}

/// The handler.
pub async fn receive_xero_webhooks<K, S, Q>(
    secrets: &K,
    store: &S,
    queue: &Q,
    request: Request,
) -> Result<ApiResponse, Error>
where
    K: IntegrationSecrets,
    S: XeroSyncSettingsStore,
    Q: XeroPullQueue,
{
    let body: &[u8] = match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let signature = request.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match receive_xero_webhook(secrets, store, queue, body, signature).await? {
        WebhookVerdict::Refused => {
            tracing::warn!("a Xero webhook with a bad signature was refused");
            Ok(ApiResponse::empty(401))
        }
        WebhookVerdict::Accepted(queued) => {
            tracing::info!(queued, "Xero webhook accepted");
            Ok(ApiResponse::empty(200))
        }
    }
}
