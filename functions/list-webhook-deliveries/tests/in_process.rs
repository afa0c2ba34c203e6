//! `GET /webhook-endpoints/{endpointId}/deliveries` in process, on the in-memory store.

use chrono::TimeDelta;
use invoicing_domain::{
    memory::InMemoryStore,
    model::webhooks::{
        delivery::{AttemptOutcome, DeliveryAttempt, DeliveryTask},
        EndpointStatus, EventType,
    },
    ports::WebhookDeliveries,
};
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    webhooks::stored_endpoint,
};
use list_webhook_deliveries::{list_webhook_deliveries, route};
use serde_json::json;

async fn list(api: &TestApi<InMemoryStore>, endpoint_id: &str, query: &[(&str, &str)]) -> TestResponse {
    let mut request = api.request("GET", &format!("/webhook-endpoints/{endpoint_id}/deliveries"));
    request = request.path("endpointId", endpoint_id);
    for (name, value) in query {
        request = request.query(name, value);
    }
    api.call(&route(), request, list_webhook_deliveries).await
}

#[tokio::test]
async fn an_endpoints_attempts_list_newest_first_with_status_or_error_and_the_next_attempt() {
    let api = TestApi::in_memory().await;
    let account = api.account.account.id.clone();
    let endpoint = stored_endpoint(&api.store, &account, EndpointStatus::Enabled).await;
    let at = "2026-11-26T10:00:00Z".parse().unwrap();
    let task = DeliveryTask::first(&account, &endpoint.id, "evt_0193a2b4c5d67e8f90a1b2c3d4e5f607", at);
    let failed = DeliveryAttempt::new(
        &task,
        EventType::InvoiceFinalized,
        at,
        15_000,
        &AttemptOutcome::NoAnswer("no answer within 15s".into()),
    );
    let retry = task.retry(at).unwrap();
    let delivered = DeliveryAttempt::new(
        &retry,
        EventType::InvoiceFinalized,
        at + TimeDelta::seconds(5),
        31,
        &AttemptOutcome::Answered(204),
    );
    api.store.record_attempt(&account, &endpoint.id, &failed).await.unwrap();
    api.store.record_attempt(&account, &endpoint.id, &delivered).await.unwrap();

    let first = list(&api, &endpoint.id, &[("limit", "1")]).await;
    assert_eq!(first.status, 200);
    let first = first.json();
    assert_eq!(
        first["items"],
        json!([{"eventId": "evt_0193a2b4c5d67e8f90a1b2c3d4e5f607", "eventType": "INVOICE_FINALIZED", "attempt": 2,
                "attemptedAt": "2026-11-26T10:00:05Z", "result": "DELIVERED", "responseStatus": 204, "error": null,
                "durationMs": 31, "nextAttemptAt": null}])
    );
    let cursor = first["pagination"]["after"].as_str().unwrap();
    let second = list(&api, &endpoint.id, &[("after", cursor)]).await.json();
    assert_eq!(
        second["items"],
        json!([{"eventId": "evt_0193a2b4c5d67e8f90a1b2c3d4e5f607", "eventType": "INVOICE_FINALIZED", "attempt": 1,
                "attemptedAt": "2026-11-26T10:00:00Z", "result": "FAILED", "responseStatus": null,
                "error": "no answer within 15s", "durationMs": 15000, "nextAttemptAt": "2026-11-26T10:00:05Z"}])
    );
    assert_eq!(second["pagination"], json!({"after": null}));
}

#[tokio::test]
async fn another_accounts_endpoint_is_404_and_bad_parameters_are_400() {
    let api = TestApi::in_memory().await;
    let other = api.another_account("Other").await;
    let theirs = stored_endpoint(&api.store, &other.account.id, EndpointStatus::Enabled).await;
    let answer = list(&api, &theirs.id, &[]).await;
    assert_eq!(
        (answer.status, answer.json()),
        (404, json!({"error": {"type": "NotFound", "message": format!("no webhook endpoint {}", theirs.id)}}))
    );
    let ours = stored_endpoint(&api.store, &api.account.account.id, EndpointStatus::Enabled).await;
    assert_eq!(list(&api, &ours.id, &[("limit", "0")]).await.status, 400);
    assert_eq!(list(&api, &ours.id, &[("status", "FAILED")]).await.status, 400);
    let empty = list(&api, &ours.id, &[]).await;
    assert_eq!((empty.status, empty.json()), (200, json!({"items": [], "pagination": {"after": null}})));
}
