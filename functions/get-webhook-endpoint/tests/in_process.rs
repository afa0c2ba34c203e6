//! `GET /webhook-endpoints/{endpointId}` in process, on the in-memory store.

use get_webhook_endpoint::{get_webhook_endpoint, route};
use invoicing_domain::{memory::InMemoryStore, model::webhooks::EndpointStatus};
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    webhooks::stored_endpoint,
};
use serde_json::json;

async fn get(api: &TestApi<InMemoryStore>, id: &str) -> TestResponse {
    let request = api.request("GET", &format!("/webhook-endpoints/{id}")).path("endpointId", id);
    api.call(&route(), request, get_webhook_endpoint).await
}

#[tokio::test]
async fn an_endpoint_is_shown_without_its_secret() {
    let api = TestApi::in_memory().await;
    let endpoint = stored_endpoint(&api.store, &api.account.account.id, EndpointStatus::Disabled).await;
    let response = get(&api, &endpoint.id).await;
    assert_eq!(response.status, 200);
    let at = serde_json::to_value(endpoint.created_at).unwrap();
    assert_eq!(
        response.json(),
        json!({
            "id": endpoint.id, "url": "https://hooks.example.com/in", "events": ["*"], "description": "books",
            "status": "DISABLED", "createdAt": at, "updatedAt": at,
        })
    );
}

#[tokio::test]
async fn unknown_foreign_and_malformed_ids_are_refused() {
    let api = TestApi::in_memory().await;
    let other = api.another_account("Other").await;
    let theirs = stored_endpoint(&api.store, &other.account.id, EndpointStatus::Enabled).await;
    let response = get(&api, &theirs.id).await;
    assert_eq!(
        (response.status, response.json()),
        (404, json!({"error": {"type": "NotFound", "message": format!("no webhook endpoint {}", theirs.id)}}))
    );
    let malformed = get(&api, "not-an-id").await;
    assert_eq!(
        (malformed.status, malformed.json()),
        (400, json!({"error": {"type": "ValidationError", "message": "endpointId: `not-an-id` is not a valid id"}}))
    );
}
