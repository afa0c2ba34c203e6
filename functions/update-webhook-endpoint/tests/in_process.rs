//! `PATCH /webhook-endpoints/{endpointId}` in process, on the in-memory store.

use invoicing_domain::{
    memory::InMemoryStore,
    model::webhooks::{target::TargetPolicy, EndpointStatus},
    ports::WebhookEndpoints,
};
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    webhooks::stored_endpoint,
};
use serde_json::{json, Value};
use update_webhook_endpoint::{route, update_webhook_endpoint};

async fn patch(api: &TestApi<InMemoryStore>, id: &str, body: &Value) -> TestResponse {
    let request = api.request("PATCH", &format!("/webhook-endpoints/{id}")).path("endpointId", id).json(body);
    api.call(&route(), request, |store, context, request| {
        update_webhook_endpoint(store, TargetPolicy::PublicHttpsOnly, context, request)
    })
    .await
}

#[tokio::test]
async fn a_patch_changes_what_it_names() {
    let api = TestApi::in_memory().await;
    let endpoint = stored_endpoint(&api.store, &api.account.account.id, EndpointStatus::Enabled).await;
    let response = patch(&api, &endpoint.id, &json!({"events": ["INVOICE_VOIDED"], "status": "DISABLED"})).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    assert_eq!((body["events"].clone(), body["status"].clone()), (json!(["INVOICE_VOIDED"]), json!("DISABLED")));
    assert_eq!((body["url"].clone(), body["description"].clone()), (json!(endpoint.url), json!("books")));
    assert!(body.get("secret").is_none());
    let stored = api.store.get_webhook_endpoint(&api.account.account.id, &endpoint.id).await.unwrap().unwrap();
    assert_eq!((stored.value.status, stored.version), (EndpointStatus::Disabled, 2));
}

#[tokio::test]
async fn a_null_description_removes_it() {
    let api = TestApi::in_memory().await;
    let endpoint = stored_endpoint(&api.store, &api.account.account.id, EndpointStatus::Enabled).await;
    let response = patch(&api, &endpoint.id, &json!({"description": null})).await;
    assert_eq!((response.status, response.json()["description"].clone()), (200, Value::Null));
}

#[tokio::test]
async fn enabling_a_disabled_endpoint_forgets_its_failures() {
    let api = TestApi::in_memory().await;
    let endpoint = stored_endpoint(&api.store, &api.account.account.id, EndpointStatus::Disabled).await;
    let response = patch(&api, &endpoint.id, &json!({"status": "ENABLED"})).await;
    assert_eq!(response.json()["status"], "ENABLED");
    let stored = api.store.get_webhook_endpoint(&api.account.account.id, &endpoint.id).await.unwrap().unwrap();
    assert_eq!(stored.value.failing_since, None);
}

#[tokio::test]
async fn a_bad_patch_is_a_400_and_changes_nothing() {
    let api = TestApi::in_memory().await;
    let endpoint = stored_endpoint(&api.store, &api.account.account.id, EndpointStatus::Enabled).await;
    let cases = [
        (json!({}), "request body: name at least one of url, events, description, status"),
        (
            json!({"url": "https://127.0.0.1/in"}),
            "url: 127.0.0.1 is a loopback address, which deliveries may not reach",
        ),
        (json!({"events": []}), "events: name at least one event type, or \"*\" for all of them"),
    ];
    for (body, message) in cases {
        let response = patch(&api, &endpoint.id, &body).await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.json(), json!({"error": {"type": "ValidationError", "message": message}}));
    }
    for body in [json!({"status": "PAUSED"}), json!({"status": null}), json!({"url": null}), json!({"events": null})] {
        assert_eq!(patch(&api, &endpoint.id, &body).await.status, 400, "{body}");
    }
    let stored = api.store.get_webhook_endpoint(&api.account.account.id, &endpoint.id).await.unwrap().unwrap();
    assert_eq!((stored.value, stored.version), (endpoint, 1));
}

#[tokio::test]
async fn another_accounts_endpoint_is_a_404() {
    let api = TestApi::in_memory().await;
    let other = api.another_account("Other").await;
    let theirs = stored_endpoint(&api.store, &other.account.id, EndpointStatus::Enabled).await;
    let response = patch(&api, &theirs.id, &json!({"status": "DISABLED"})).await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.json(),
        json!({"error": {"type": "NotFound", "message": format!("no webhook endpoint {}", theirs.id)}})
    );
    let stored = api.store.get_webhook_endpoint(&other.account.id, &theirs.id).await.unwrap().unwrap();
    assert_eq!(stored.value.status, EndpointStatus::Enabled);
}
