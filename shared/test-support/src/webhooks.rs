//! Webhook endpoints stored directly, for the tests of the routes that read and change them.

use chrono::{SubsecRound, Utc};
use invoicing_domain::{
    model::webhooks::{EndpointStatus, EventSelection, WebhookEndpoint},
    ports::WebhookEndpoints,
};

/// Stores an endpoint of `account_id` in `status` (a disabled one failing since now) for
/// `https://hooks.example.com/in`, every event, described "books"; returns it.
pub async fn stored_endpoint(
    store: &impl WebhookEndpoints,
    account_id: &str,
    status: EndpointStatus,
) -> WebhookEndpoint {
    // A millisecond apart, so that ids sort in creation order.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let now = Utc::now().trunc_subsecs(3);
    let endpoint = WebhookEndpoint {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account_id.into(),
        url: "https://hooks.example.com/in".into(),
        events: EventSelection::Every,
        description: Some("books".into()),
        status,
        created_at: now,
        updated_at: now,
        failing_since: (status == EndpointStatus::Disabled).then_some(now),
    };
    store.insert_webhook_endpoint(&endpoint, None).await.expect("store a webhook endpoint");
    endpoint
}
