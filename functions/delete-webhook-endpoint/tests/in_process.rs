//! `DELETE /webhook-endpoints/{endpointId}` in process, on the in-memory store.

use delete_webhook_endpoint::{delete_webhook_endpoint, route};
use invoicing_domain::{
    memory::InMemoryStore,
    model::webhooks::{signature::WebhookSecret, EndpointStatus},
    ports::{WebhookEndpoints, WebhookSecrets},
};
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    webhooks::stored_endpoint,
};
use serde_json::json;

async fn delete(api: &TestApi<InMemoryStore>, id: &str) -> TestResponse {
    let request = api.request("DELETE", &format!("/webhook-endpoints/{id}")).path("endpointId", id);
    let secrets = api.store.clone();
    api.call(&route(), request, move |store, context, request| {
        delete_webhook_endpoint(store, secrets, context, request)
    })
    .await
}

#[tokio::test]
async fn a_deleted_endpoint_and_its_secret_are_gone() {
    let api = TestApi::in_memory().await;
    let account = api.account.account.id.clone();
    let endpoint = stored_endpoint(&api.store, &account, EndpointStatus::Enabled).await;
    api.store.store_webhook_secret(&account, &endpoint.id, &WebhookSecret::generate()).await.unwrap();

    let response = delete(&api, &endpoint.id).await;
    assert_eq!((response.status, response.body.as_str()), (204, ""));
    assert_eq!(api.store.get_webhook_endpoint(&account, &endpoint.id).await.unwrap(), None);
    assert_eq!(api.store.webhook_secret(&account, &endpoint.id).await.unwrap(), None);

    let again = delete(&api, &endpoint.id).await;
    assert_eq!(
        (again.status, again.json()),
        (404, json!({"error": {"type": "NotFound", "message": format!("no webhook endpoint {}", endpoint.id)}}))
    );
}

#[tokio::test]
async fn another_accounts_endpoint_is_a_404_and_stays() {
    let api = TestApi::in_memory().await;
    let other = api.another_account("Other").await;
    let theirs = stored_endpoint(&api.store, &other.account.id, EndpointStatus::Enabled).await;
    assert_eq!(delete(&api, &theirs.id).await.status, 404);
    assert!(api.store.get_webhook_endpoint(&other.account.id, &theirs.id).await.unwrap().is_some());
}
