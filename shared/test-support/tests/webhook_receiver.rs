//! `scripts/webhook_receiver.py`, the receiver the README and the delivery tests use: it takes a
//! delivery we sign, refuses one that is changed, stale or signed with another secret, and fails
//! the first attempts of each event on request, so that a retry (same `webhook-id`) gets through.

use chrono::Utc;
use invoicing_domain::model::webhooks::{signature::WebhookSecret, Event, EventType};
use invoicing_test_support::webhooks::WebhookReceiver;
use serde_json::json;

async fn deliver(url: &str, secret: &WebhookSecret, event: &Event, timestamp: i64, body: &str) -> (u16, String) {
    let mut request =
        reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_string());
    for (name, value) in secret.headers(&event.id, timestamp, event.body().as_bytes()) {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("the receiver answers");
    (response.status().as_u16(), response.text().await.unwrap())
}

fn invoice_event() -> Event {
    Event::new(EventType::InvoiceFinalized, Utc::now(), json!({"invoice": {"id": "inv-1", "status": "FINAL"}}))
}

#[tokio::test]
async fn a_signed_delivery_is_verified_and_printed_once() {
    let secret = WebhookSecret::generate();
    let receiver = WebhookReceiver::start(&secret.expose(), 0);
    let event = invoice_event();
    let (status, _) = deliver(&receiver.url, &secret, &event, Utc::now().timestamp(), &event.body()).await;
    assert_eq!(status, 204);
    let verified = receiver.verified();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0]["webhook-id"], json!(event.id));
    assert_eq!(verified[0]["attempt"], 1);
    assert_eq!(verified[0]["event"], serde_json::to_value(&event).unwrap());
}

#[tokio::test]
async fn changed_stale_or_foreign_deliveries_are_refused() {
    let secret = WebhookSecret::generate();
    let receiver = WebhookReceiver::start(&secret.expose(), 0);
    let event = invoice_event();
    let now = Utc::now().timestamp();

    let changed = event.body().replace("inv-1", "inv-2");
    let (status, reason) = deliver(&receiver.url, &secret, &event, now, &changed).await;
    assert_eq!((status, reason.as_str()), (400, "refused: No matching signature found"));

    let (status, reason) = deliver(&receiver.url, &secret, &event, now - 600, &event.body()).await;
    assert_eq!((status, reason.as_str()), (400, "refused: Message timestamp too old"));

    let (status, _) = deliver(&receiver.url, &WebhookSecret::generate(), &event, now, &event.body()).await;
    assert_eq!(status, 400);
    assert!(receiver.verified().is_empty());
}

#[tokio::test]
async fn a_receiver_failing_the_first_attempts_takes_the_retry_of_the_same_event() {
    let secret = WebhookSecret::generate();
    let receiver = WebhookReceiver::start(&secret.expose(), 2);
    let event = invoice_event();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(deliver(&receiver.url, &secret, &event, Utc::now().timestamp(), &event.body()).await.0);
    }
    assert_eq!(statuses, [500, 500, 204]);
    let verified = receiver.verified();
    assert_eq!(verified.len(), 1);
    assert_eq!((verified[0]["webhook-id"].clone(), verified[0]["attempt"].clone()), (json!(event.id), json!(3)));
}
