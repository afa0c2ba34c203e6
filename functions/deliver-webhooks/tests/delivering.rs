//! The delivery function's HTTP side against servers on this machine, and its batches on the
//! in-memory store: what is sent, what is refused before anything is sent, and which messages
//! come back.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use deliver_webhooks::{handle, CheckedResolver, HttpSender};
use invoicing_domain::{
    memory::{InMemoryStore, ScriptedSender},
    model::webhooks::{
        delivery::{AttemptOutcome, DeliveryTask},
        target::TargetPolicy,
    },
    ports::WebhookSender,
    service::deliveries::Delivery,
};
use invoicing_https::ResolveDns;
use invoicing_test_support::https;
use std::time::Duration;
use wiremock::{
    matchers::{body_string, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

const BODY: &str = r#"{"id":"evt_1","type":"INVOICE_SENT","createdAt":"2026-11-26T10:00:00Z","data":{}}"#;

fn headers() -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", "evt_1".into()),
        ("webhook-timestamp", "1795000000".into()),
        ("webhook-signature", "v1,abc".into()),
    ]
}

#[tokio::test]
async fn the_event_is_posted_as_json_with_its_signature_headers_and_the_status_is_what_counts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .and(header("content-type", "application/json"))
        .and(header("webhook-id", "evt_1"))
        // wiremock's `header` splits values at commas, as a signature has them: compared whole here.
        .and(|request: &wiremock::Request| request.headers.get("webhook-signature").is_some_and(|v| v == "v1,abc"))
        .and(body_string(BODY))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let sender = HttpSender::new(&https(), TargetPolicy::AllowLocal);
    let url = format!("{}/hooks", server.uri());
    let outcome = sender.post(&url, &headers(), BODY, Duration::from_secs(15), TargetPolicy::AllowLocal).await;
    assert_eq!(outcome, AttemptOutcome::Answered(202));
    let elsewhere = format!("{}/other", server.uri());
    let outcome = sender.post(&elsewhere, &headers(), BODY, Duration::from_secs(15), TargetPolicy::AllowLocal).await;
    assert_eq!(outcome, AttemptOutcome::Answered(404));
}

#[tokio::test]
async fn only_the_status_counts_whatever_the_body_of_the_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 20 * 1024 * 1024]))
        .mount(&server)
        .await;
    let sender = HttpSender::new(&https(), TargetPolicy::AllowLocal);
    let outcome = sender.post(&server.uri(), &headers(), BODY, Duration::from_secs(15), TargetPolicy::AllowLocal).await;
    assert_eq!(outcome, AttemptOutcome::Answered(200));
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_in_time_is_a_failed_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let sender = HttpSender::new(&https(), TargetPolicy::AllowLocal);
    let outcome =
        sender.post(&server.uri(), &headers(), BODY, Duration::from_millis(300), TargetPolicy::AllowLocal).await;
    assert_eq!(outcome, AttemptOutcome::NoAnswer("no answer within 300ms".into()));
}

#[tokio::test]
async fn where_only_public_https_is_allowed_local_targets_are_refused_before_connecting() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).expect(0).mount(&server).await;
    let sender = HttpSender::new(&https(), TargetPolicy::PublicHttpsOnly);
    let policy = TargetPolicy::PublicHttpsOnly;
    let post = |url: String| {
        let sender = sender.clone();
        async move { sender.post(&url, &headers(), BODY, Duration::from_secs(15), policy).await }
    };
    assert_eq!(post(server.uri()).await, AttemptOutcome::NoAnswer("url: must be an https URL".into()));
    let port = server.address().port();
    assert_eq!(
        post(format!("https://127.0.0.1:{port}/hooks")).await,
        AttemptOutcome::NoAnswer("url: 127.0.0.1 is a loopback address, which deliveries may not reach".into())
    );
    assert_eq!(
        post("https://169.254.169.254/latest/meta-data".into()).await,
        AttemptOutcome::NoAnswer("url: 169.254.169.254 is a link-local address, which deliveries may not reach".into())
    );
    // A name is checked on every address it resolves to, at the time of the attempt: `localhost`
    // resolves to loopback (RFC 6761, without asking anyone), so the connection is never made.
    let refused = CheckedResolver { policy }.resolve_dns("localhost").await.unwrap_err();
    let reason = std::error::Error::source(&refused).map(|e| e.to_string()).unwrap_or_default();
    assert!(reason.starts_with("localhost: url: ") && reason.contains("loopback address"), "{reason}");
    let allowed = CheckedResolver { policy: TargetPolicy::AllowLocal }.resolve_dns("api.localhost").await.unwrap();
    assert_eq!(allowed, ["127.0.0.1".parse::<std::net::IpAddr>().unwrap(), "::1".parse().unwrap()]);
}

#[tokio::test]
async fn reserved_names_fail_their_attempts_without_a_dns_query() {
    let sender = HttpSender::new(&https(), TargetPolicy::AllowLocal);
    for url in ["https://hooks.example.test/invoicing", "https://shop.example/hooks", "https://x.invalid./hooks"] {
        let outcome = sender.post(url, &headers(), BODY, Duration::from_secs(15), TargetPolicy::AllowLocal).await;
        let AttemptOutcome::NoAnswer(reason) = outcome else { panic!("{url}: {outcome:?}") };
        assert!(reason.contains("a reserved name") && reason.contains("that does not resolve"), "{url}: {reason}");
    }
}

fn message(id: &str, body: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.into());
    message.body = Some(body.into());
    message
}

#[tokio::test]
async fn a_batch_drops_unreadable_messages_and_leaves_the_others_to_their_attempts() {
    let store = InMemoryStore::new();
    let sender = ScriptedSender::default();
    let delivery =
        Delivery { store: &store, secrets: &store, queue: &store, sender: &sender, policy: TargetPolicy::AllowLocal };
    let task = DeliveryTask::first("acc-1", "gone", "evt_1", Utc::now());
    let mut event = SqsEvent::default();
    event.records = vec![message("m1", "not json"), message("m2", &serde_json::to_string(&task).unwrap())];
    let response = handle(&delivery, event).await;
    // Neither comes back: the first can never be read, the second's endpoint does not exist.
    assert!(response.batch_item_failures.is_empty());
    assert!(sender.sent().is_empty());
}

/// An endpoint of acc-1 at `url` selecting every event, with a secret, and an event in the outbox.
async fn endpoint_at(store: &InMemoryStore, id: &str, url: &str) {
    use invoicing_domain::{
        model::webhooks::{signature::WebhookSecret, EndpointStatus, EventSelection, WebhookEndpoint},
        ports::{WebhookEndpoints, WebhookSecrets},
    };
    let endpoint = WebhookEndpoint {
        id: id.into(),
        account_id: "acc-1".into(),
        url: url.into(),
        events: EventSelection::Every,
        description: None,
        status: EndpointStatus::Enabled,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        failing_since: None,
    };
    store.insert_webhook_endpoint(&endpoint, None).await.unwrap();
    store.store_webhook_secret("acc-1", id, &WebhookSecret::generate()).await.unwrap();
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_another_endpoints_delivery_in_the_same_batch() {
    use invoicing_domain::{
        model::{
            invoice::{CreateInvoice, Invoice},
            webhooks::{Event, EventType},
        },
        ports::InvoiceStore,
    };
    let (slow, fast) = (MockServer::start().await, MockServer::start().await);
    // Slower than the 15 s an attempt may take: it holds its attempt until the timeout.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(60)))
        .mount(&slow)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&fast).await;
    let store = InMemoryStore::new();
    endpoint_at(&store, "slow", &slow.uri()).await;
    endpoint_at(&store, "fast", &fast.uri()).await;
    let request: CreateInvoice =
        serde_json::from_value(serde_json::json!({"currency": "USD", "customerId": "c1"})).unwrap();
    let event = Event::new(EventType::InvoiceCreated, Utc::now(), serde_json::json!({}));
    store
        .insert_invoice(&Invoice::new_draft("i1".into(), "acc-1", request, Utc::now()), Some(&event), None)
        .await
        .unwrap();

    let sender = HttpSender::new(&https(), TargetPolicy::AllowLocal);
    let mut batch = SqsEvent::default();
    batch.records = ["slow", "fast"]
        .iter()
        .map(|endpoint| {
            let task = DeliveryTask::first("acc-1", endpoint, &event.id, Utc::now());
            message(endpoint, &serde_json::to_string(&task).unwrap())
        })
        .collect();
    let handling = tokio::spawn(async move {
        let delivery = Delivery {
            store: &store,
            secrets: &store,
            queue: &store,
            sender: &sender,
            policy: TargetPolicy::AllowLocal,
        };
        handle(&delivery, batch).await
    });
    // The fast endpoint gets its delivery while the slow one, first in the batch, has not answered:
    // within 10 s, where one after the other it would wait for the slow one's 15 s timeout.
    let delivered = tokio::time::timeout(Duration::from_secs(10), async {
        while fast.received_requests().await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(delivered.await.is_ok(), "the fast endpoint waited for the slow one");
    assert!(!handling.is_finished(), "the batch still waits for the slow endpoint");
    assert_eq!(slow.received_requests().await.unwrap().len(), 1, "the slow one was sent its delivery too");
    handling.abort();
}
