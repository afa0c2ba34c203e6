//! `POST /webhook-endpoints` in process, behind the shared gateway, on the in-memory store.

use create_webhook_endpoint::{create_webhook_endpoint, route};
use invoicing_domain::{
    memory::InMemoryStore,
    model::webhooks::target::TargetPolicy,
    ports::{WebhookEndpoints, WebhookSecrets},
};
use invoicing_test_support::api::{TestApi, TestResponse};
use serde_json::{json, Value};

async fn post(api: &TestApi<InMemoryStore>, body: &Value, key: Option<&str>, policy: TargetPolicy) -> TestResponse {
    let mut request = api.request("POST", "/webhook-endpoints").json(body);
    if let Some(key) = key {
        request = request.idempotency_key(key);
    }
    let secrets = api.store.clone();
    api.call(&route(), request, move |store, context, request| {
        create_webhook_endpoint(store, secrets, policy, context, request)
    })
    .await
}

#[tokio::test]
async fn an_endpoint_is_created_with_a_secret_shown_in_this_answer() {
    let api = TestApi::in_memory().await;
    let body = json!({"url": "https://hooks.example.com/in", "events": ["INVOICE_SENT", "INVOICE_CREATED"], "description": "books"});
    let response = post(&api, &body, None, TargetPolicy::PublicHttpsOnly).await;
    assert_eq!(response.status, 201, "{}", response.body);
    let created = response.json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(response.header("location"), Some(format!("/webhook-endpoints/{id}").as_str()));
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(
        created,
        json!({
            "id": id, "url": "https://hooks.example.com/in", "events": ["INVOICE_CREATED", "INVOICE_SENT"],
            "description": "books", "status": "ENABLED", "createdAt": created["createdAt"],
            "updatedAt": created["createdAt"], "secret": secret,
        })
    );
    let stored_secret = api.store.webhook_secret(&api.account.account.id, id).await.unwrap().unwrap();
    assert_eq!(stored_secret.expose(), secret);
    let stored = api.store.get_webhook_endpoint(&api.account.account.id, id).await.unwrap().unwrap();
    assert_eq!((stored.value.url.as_str(), stored.version), ("https://hooks.example.com/in", 1));
}

#[tokio::test]
async fn a_replayed_create_answers_the_same_endpoint_without_its_secret() {
    let api = TestApi::in_memory().await;
    let body = json!({"url": "https://hooks.example.com/in", "events": ["*"]});
    let first = post(&api, &body, Some("create-hook-1"), TargetPolicy::PublicHttpsOnly).await;
    let again = post(&api, &body, Some("create-hook-1"), TargetPolicy::PublicHttpsOnly).await;
    assert_eq!((first.status, again.status), (201, 201));
    let (first, again) = (first.json(), again.json());
    assert!(first["secret"].as_str().unwrap().starts_with("whsec_"));
    let mut without_secret = first.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(again, without_secret);
    let listed = api.store.list_webhook_endpoints(&api.account.account.id, 10, None).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    // The idempotency record (in the table) holds the answer without the secret.
    let recorded = api.store.recorded_answer(&api.account.account.id, "create-hook-1").unwrap();
    assert_eq!(serde_json::from_str::<Value>(&recorded.body).unwrap(), without_secret);
}

#[tokio::test]
async fn a_refused_endpoint_is_a_400_that_names_the_problem_and_stores_nothing() {
    let api = TestApi::in_memory().await;
    let cases = [
        (json!({"url": "http://hooks.example.com/in", "events": ["*"]}), "url: must be an https URL"),
        (
            json!({"url": "https://169.254.169.254/latest/meta-data", "events": ["*"]}),
            "url: 169.254.169.254 is a link-local address, which deliveries may not reach",
        ),
        (
            json!({"url": "https://hooks.example.com/in", "events": ["INVOICE_PAID"]}),
            "events[0]: unknown event type \"INVOICE_PAID\"; expected \"*\" or one of INVOICE_CREATED, INVOICE_FINALIZED, \
             INVOICE_SENT, INVOICE_VOIDED, INVOICE_PAYMENT_STATUS_CHANGED, INTEGRATION_SYNC_COMPLETED",
        ),
        (json!({"url": "https://hooks.example.com/in"}), "request body: missing field `events` at line 1 column 38"),
    ];
    for (body, message) in cases {
        let response = post(&api, &body, None, TargetPolicy::PublicHttpsOnly).await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.json(), json!({"error": {"type": "ValidationError", "message": message}}), "{body}");
    }
    let unknown = post(
        &api,
        &json!({"url": "https://a.example.com", "events": ["*"], "secret": "x"}),
        None,
        TargetPolicy::PublicHttpsOnly,
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert!(api.store.list_webhook_endpoints(&api.account.account.id, 10, None).await.unwrap().items.is_empty());
    assert_eq!(api.store.stored_webhook_secrets(), 0);
}

#[tokio::test]
async fn a_deployment_that_allows_local_targets_accepts_a_local_receiver() {
    let api = TestApi::in_memory().await;
    let body = json!({"url": "http://127.0.0.1:8025/hooks", "events": ["*"]});
    assert_eq!(post(&api, &body, None, TargetPolicy::PublicHttpsOnly).await.status, 400);
    let response = post(&api, &body, None, TargetPolicy::AllowLocal).await;
    assert_eq!(response.status, 201, "{}", response.body);
    assert_eq!(response.json()["url"], "http://127.0.0.1:8025/hooks");
}
