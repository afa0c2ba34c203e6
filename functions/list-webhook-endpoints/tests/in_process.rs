//! `GET /webhook-endpoints` in process, on the in-memory store.

use invoicing_domain::{memory::InMemoryStore, model::webhooks::EndpointStatus};
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    webhooks::stored_endpoint,
};
use list_webhook_endpoints::{list_webhook_endpoints, route};
use serde_json::json;

async fn list(api: &TestApi<InMemoryStore>, query: &[(&str, &str)]) -> TestResponse {
    let mut request = api.request("GET", "/webhook-endpoints");
    for (name, value) in query {
        request = request.query(name, value);
    }
    api.call(&route(), request, list_webhook_endpoints).await
}

#[tokio::test]
async fn the_accounts_endpoints_list_oldest_first_a_page_at_a_time() {
    let api = TestApi::in_memory().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(stored_endpoint(&api.store, &api.account.account.id, EndpointStatus::Enabled).await.id);
    }
    let other = api.another_account("Other").await;
    stored_endpoint(&api.store, &other.account.id, EndpointStatus::Enabled).await;

    let first = list(&api, &[("limit", "2")]).await;
    assert_eq!(first.status, 200);
    let first = first.json();
    let listed: Vec<&str> = first["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [ids[0].as_str(), ids[1].as_str()]);
    assert!(first["items"].as_array().unwrap().iter().all(|e| e.get("secret").is_none()));
    let cursor = first["pagination"]["after"].as_str().unwrap();
    let second = list(&api, &[("limit", "2"), ("after", cursor)]).await.json();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["id"], json!(ids[2]));
    assert_eq!(second["pagination"], json!({"after": null}));
}

#[tokio::test]
async fn unknown_parameters_and_bad_cursors_are_400s() {
    let api = TestApi::in_memory().await;
    assert_eq!(list(&api, &[("status", "ENABLED")]).await.status, 400);
    let bad = list(&api, &[("after", "nope")]).await;
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"error": {"type": "ValidationError", "message": "after: not a cursor returned by this API"}}))
    );
}
