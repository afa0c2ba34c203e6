//! Events and their deliveries on the in-memory store: which changes put an event in the outbox,
//! which endpoints the relay queues it for, and what each delivery message does (the attempt, its
//! record, the retry, the hops, the endpoint's failure streak).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use invoicing_domain::{
    memory::{InMemoryStore, ScriptedSender},
    model::{
        account::NewAccount,
        invoice::{CreateInvoice, Invoice, InvoiceStatus},
        lines::LineItemInput,
        payments::TransactionInput,
        webhooks::{
            delivery::{AttemptOutcome, AttemptResult, DeliveryTask},
            signature::WebhookSecret,
            target::TargetPolicy,
            EndpointStatus, Event, EventSelection, EventType, OutboxEvent, WebhookEndpoint,
        },
    },
    ports::{
        AccountStore, InvoiceStore, Unrecorded, WebhookDeliveries, WebhookEndpoints, WebhookEvents, WebhookSecrets,
    },
    service::{
        deliveries::{relay, Delivered, Delivery},
        lifecycle::{self, Transition},
        lines, payments,
    },
    ErrorKind,
};
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn now() -> DateTime<Utc> {
    at("2026-11-26T10:00:00Z")
}

async fn endpoint(
    store: &InMemoryStore,
    account: &str,
    id: &str,
    events: &[&str],
    status: EndpointStatus,
) -> WebhookEndpoint {
    let names: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let endpoint = WebhookEndpoint {
        id: id.into(),
        account_id: account.into(),
        url: format!("https://hooks.example.com/{id}"),
        events: EventSelection::parse(&names).unwrap(),
        description: None,
        status,
        created_at: now(),
        updated_at: now(),
        failing_since: None,
    };
    store.insert_webhook_endpoint(&endpoint, None).await.unwrap();
    store.store_webhook_secret(account, id, &WebhookSecret::generate()).await.unwrap();
    endpoint
}

/// An account with a FINAL invoice of 100.00 GBP (no tax), and the outbox emptied of its setup.
async fn final_invoice(store: &InMemoryStore) -> (String, Invoice) {
    let account = NewAccount::generate("Acme", now());
    store.create_account(&account).await.unwrap();
    let account_id = account.account.id.clone();
    let request: CreateInvoice = serde_json::from_value(json!({
        "currency": "GBP", "customerId": "c1", "customerLegalCompanyName": "Customer Ltd",
        "customerEmails": ["ap@customer.example"], "dueDate": "2026-12-31"
    }))
    .unwrap();
    let draft = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), &account_id, request, now());
    store.insert_invoice(&draft, None, None).await.unwrap();
    let line: LineItemInput =
        serde_json::from_value(json!({"title": "Work", "quantity": "1", "rate": "100.00", "taxRate": "0"})).unwrap();
    lines::add_line_item(store, &account_id, &draft.id, uuid::Uuid::now_v7().to_string(), line, now(), &Unrecorded)
        .await
        .unwrap();
    let invoice = lifecycle::finalize(store, &account_id, &draft.id, now().date_naive(), &Unrecorded).await.unwrap();
    (account_id, invoice)
}

fn payment(cents: i64, paid_at: &str) -> Vec<TransactionInput> {
    serde_json::from_value(json!([{"transactionType": "external",
        "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": paid_at, "amountCents": cents}}]))
    .unwrap()
}

fn types(outbox: &[OutboxEvent]) -> Vec<EventType> {
    outbox.iter().map(|event| event.event_type).collect()
}

fn body(event: &OutboxEvent) -> serde_json::Value {
    serde_json::from_str(&event.body).unwrap()
}

#[tokio::test]
async fn each_committed_change_puts_its_event_in_the_outbox_and_a_refused_one_puts_none() {
    let store = InMemoryStore::new();
    let (account, invoice) = final_invoice(&store).await;
    assert_eq!(types(&store.outbox()), [EventType::InvoiceFinalized]);
    let finalized = body(&store.outbox()[0]);
    assert_eq!(finalized["type"], "INVOICE_FINALIZED");
    assert_eq!(finalized["data"]["invoice"]["id"], invoice.id.as_str());
    assert_eq!(finalized["data"]["invoice"]["status"], "FINAL");
    assert_eq!(finalized["data"]["invoice"]["invoiceNumber"], invoice.invoice_number.clone().unwrap().as_str());
    assert_eq!(finalized["id"], store.outbox()[0].id.as_str());

    // Refused: a second finalize, removing a payment never recorded. Nothing is emitted.
    let again = lifecycle::finalize(&store, &account, &invoice.id, now().date_naive(), &Unrecorded).await;
    assert_eq!(again.unwrap_err().kind(), ErrorKind::Conflict);
    let at = now() + TimeDelta::hours(1);
    let unknown = payments::change_payments_and_show(
        &store,
        &account,
        &invoice.id,
        payment(2_500, "2026-11-26T09:00:00Z"),
        at,
        Invoice::remove_payments,
        &Unrecorded,
    );
    assert!(unknown.await.is_err());
    assert_eq!(store.outbox().len(), 1);
    let change = |transactions, at: &str| {
        payments::change_payments_and_show(
            &store,
            &account,
            &invoice.id,
            transactions,
            at.parse().unwrap(),
            Invoice::record_payments,
            &Unrecorded,
        )
    };

    // UNPAID -> PARTIALLY_PAID, PARTIALLY_PAID -> PARTIALLY_PAID (no event), -> PAID.
    for (cents, paid_at) in
        [(2_500, "2026-11-26T11:00:00Z"), (2_500, "2026-11-26T11:01:00Z"), (5_000, "2026-11-26T11:02:00Z")]
    {
        change(payment(cents, paid_at), paid_at).await.unwrap();
    }
    lifecycle::transition(&store, &account, &invoice.id, Transition::Send, &Unrecorded).await.unwrap();
    let outbox = store.outbox();
    assert_eq!(
        types(&outbox),
        [
            EventType::InvoiceFinalized,
            EventType::InvoicePaymentStatusChanged,
            EventType::InvoicePaymentStatusChanged,
            EventType::InvoiceSent
        ]
    );
    let statuses: Vec<_> = outbox[1..3].iter().map(|e| body(e)["data"]["invoice"]["paymentStatus"].clone()).collect();
    assert_eq!(statuses, [json!("PARTIALLY_PAID"), json!("PAID")]);
    assert_eq!(body(&outbox[3])["data"]["invoice"]["status"], "SENT");
    // Every event has its own id, and each carries the account it belongs to.
    let mut ids: Vec<_> = outbox.iter().map(|e| e.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert!(outbox.iter().all(|e| e.account_id == account));
    assert_eq!(store.get_invoice(&account, &invoice.id).await.unwrap().unwrap().value.status, InvoiceStatus::Sent);
}

#[tokio::test]
async fn the_relay_queues_one_message_per_enabled_endpoint_that_selects_the_event() {
    let store = InMemoryStore::new();
    endpoint(&store, "acc-1", "e-all", &["*"], EndpointStatus::Enabled).await;
    endpoint(&store, "acc-1", "e-sent", &["INVOICE_SENT"], EndpointStatus::Enabled).await;
    endpoint(&store, "acc-1", "e-off", &["*"], EndpointStatus::Disabled).await;
    endpoint(&store, "acc-2", "e-other", &["*"], EndpointStatus::Enabled).await;
    let finalized = OutboxEvent::new("acc-1", &Event::new(EventType::InvoiceFinalized, now(), json!({})));
    let sent = OutboxEvent::new("acc-1", &Event::new(EventType::InvoiceSent, now(), json!({})));

    let queued = relay(&store, &store, &[finalized.clone(), sent.clone()], now()).await.unwrap();
    assert_eq!(queued, 3);
    let messages: Vec<(String, String, u32, Duration)> = store
        .take_queued()
        .into_iter()
        .map(|(task, delay)| (task.endpoint_id, task.event_id, task.attempts_made, delay))
        .collect();
    assert_eq!(
        messages,
        [
            ("e-all".to_string(), finalized.id.clone(), 0, Duration::ZERO),
            ("e-all".to_string(), sent.id.clone(), 0, Duration::ZERO),
            ("e-sent".to_string(), sent.id.clone(), 0, Duration::ZERO),
        ]
    );
}

/// A store with one ENABLED endpoint of acc-1 selecting everything, and one event in its outbox.
async fn one_event() -> (InMemoryStore, WebhookEndpoint, OutboxEvent) {
    let store = InMemoryStore::new();
    let endpoint = endpoint(&store, "acc-1", "e1", &["*"], EndpointStatus::Enabled).await;
    let event = Event::new(EventType::InvoiceVoided, now(), json!({"invoice": {"id": "i1"}}));
    let invoice: Invoice = {
        let request: CreateInvoice = serde_json::from_value(json!({
            "currency": "GBP", "customerId": "c1", "dueDate": "2026-12-31"
        }))
        .unwrap();
        Invoice::new_draft("i1".into(), "acc-1", request, now())
    };
    store.insert_invoice(&invoice, Some(&event), None).await.unwrap();
    let outbox = store.webhook_event("acc-1", &event.id).await.unwrap().unwrap();
    (store, endpoint, outbox)
}

fn delivery<'a>(
    store: &'a InMemoryStore,
    sender: &'a ScriptedSender,
) -> Delivery<'a, InMemoryStore, InMemoryStore, InMemoryStore, ScriptedSender> {
    Delivery { store, secrets: store, queue: store, sender, policy: TargetPolicy::PublicHttpsOnly }
}

#[tokio::test]
async fn a_delivery_posts_the_signed_event_and_records_the_attempt() {
    let (store, endpoint, event) = one_event().await;
    let sender = ScriptedSender::answering([AttemptOutcome::Answered(204)]);
    let task = DeliveryTask::first("acc-1", "e1", &event.id, now());
    let attempted = delivery(&store, &sender).deliver(&task, now).await.unwrap();
    let Delivered::Attempted(attempt) = attempted else { panic!("{attempted:?}") };
    assert_eq!(
        (attempt.attempt, attempt.result, attempt.response_status, attempt.next_attempt_at),
        (1, AttemptResult::Delivered, Some(204), None)
    );
    let sent = sender.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].url.as_str(), sent[0].body.as_str()), (endpoint.url.as_str(), event.body.as_str()));
    let secret = store.webhook_secret("acc-1", "e1").await.unwrap().unwrap();
    let expected = secret.headers(&event.id, now().timestamp(), event.body.as_bytes());
    assert_eq!(sent[0].headers, expected.to_vec());
    assert!(store.take_queued().is_empty());
    let listed = store.list_delivery_attempts("acc-1", "e1", 10, None).await.unwrap();
    assert_eq!(listed.items, [attempt]);

    // The same message again (SQS delivers at least once): nothing is sent twice.
    let again = delivery(&store, &sender).deliver(&task, now).await.unwrap();
    assert_eq!(again, Delivered::Dropped("this attempt was made already"));
    assert_eq!(sender.sent().len(), 1);
}

#[tokio::test]
async fn a_failed_attempt_queues_the_next_with_the_same_event_and_a_success_clears_the_streak() {
    let (store, _, event) = one_event().await;
    let sender =
        ScriptedSender::answering([AttemptOutcome::Answered(500), AttemptOutcome::NoAnswer("timed out".into())]);
    let first = DeliveryTask::first("acc-1", "e1", &event.id, now());
    let Delivered::Attempted(failed) = delivery(&store, &sender).deliver(&first, now).await.unwrap() else { panic!() };
    assert_eq!((failed.result, failed.response_status), (AttemptResult::Failed, Some(500)));
    assert_eq!(failed.next_attempt_at, Some(now() + TimeDelta::seconds(5)));
    let queued = store.take_queued();
    assert_eq!(queued.len(), 1);
    let (second, delay) = queued[0].clone();
    assert_eq!((second.event_id.as_str(), second.attempts_made, delay), (event.id.as_str(), 1, Duration::from_secs(5)));
    let streak = store.get_webhook_endpoint("acc-1", "e1").await.unwrap().unwrap().value.failing_since;
    assert_eq!(streak, Some(now()));

    let later = now() + TimeDelta::seconds(5);
    let Delivered::Attempted(timed_out) = delivery(&store, &sender).deliver(&second, || later).await.unwrap() else {
        panic!()
    };
    assert_eq!((timed_out.attempt, timed_out.error.as_deref()), (2, Some("timed out")));
    let (third, delay) = store.take_queued()[0].clone();
    assert_eq!((third.attempts_made, delay), (2, Duration::from_secs(300)));

    let Delivered::Attempted(ok) = delivery(&store, &sender).deliver(&third, || third.due_at).await.unwrap() else {
        panic!()
    };
    assert_eq!((ok.attempt, ok.result), (3, AttemptResult::Delivered));
    assert!(store.take_queued().is_empty());
    assert_eq!(store.get_webhook_endpoint("acc-1", "e1").await.unwrap().unwrap().value.failing_since, None);
    // Every attempt carried the same webhook-id.
    assert!(sender.sent().iter().all(|s| s.headers[0] == ("webhook-id", event.id.clone())));
    let attempts: Vec<u32> =
        store.list_delivery_attempts("acc-1", "e1", 10, None).await.unwrap().items.iter().map(|a| a.attempt).collect();
    assert_eq!(attempts, [3, 2, 1]);
}

#[tokio::test]
async fn a_message_that_is_not_due_is_sent_on_in_hops_of_at_most_fifteen_minutes() {
    let (store, _, event) = one_event().await;
    let sender = ScriptedSender::default();
    let task = DeliveryTask {
        due_at: now() + TimeDelta::hours(2),
        attempts_made: 3,
        ..DeliveryTask::first("acc-1", "e1", &event.id, now())
    };
    assert_eq!(delivery(&store, &sender).deliver(&task, now).await.unwrap(), Delivered::NotYetDue);
    assert_eq!(store.take_queued(), [(task.clone(), Duration::from_secs(900))]);
    let nearly = now() + TimeDelta::hours(2) - TimeDelta::milliseconds(1_500);
    delivery(&store, &sender).deliver(&task, || nearly).await.unwrap();
    assert_eq!(store.take_queued(), [(task, Duration::from_secs(2))]);
    assert!(sender.sent().is_empty());
}

#[tokio::test]
async fn after_a_crash_between_the_record_and_its_follow_up_the_retry_is_queued_without_a_second_post() {
    let (store, _, event) = one_event().await;
    let task = DeliveryTask::first("acc-1", "e1", &event.id, now());
    let failed = invoicing_domain::model::webhooks::delivery::DeliveryAttempt::new(
        &task,
        EventType::InvoiceVoided,
        now(),
        40,
        &AttemptOutcome::Answered(503),
    );
    assert!(store.record_attempt("acc-1", "e1", &failed).await.unwrap());
    assert!(!store.record_attempt("acc-1", "e1", &failed).await.unwrap(), "recorded once");
    let sender = ScriptedSender::default();
    assert_eq!(delivery(&store, &sender).deliver(&task, now).await.unwrap(), Delivered::Attempted(failed));
    assert!(sender.sent().is_empty());
    assert_eq!(store.take_queued().len(), 1);
    assert!(store.delivery_attempt("acc-1", "e1", &event.id, 1).await.unwrap().unwrap().followed_up);
}

#[tokio::test]
async fn an_endpoint_failing_everything_for_a_day_is_disabled_and_then_sent_nothing() {
    let (store, endpoint, event) = one_event().await;
    let mut failing = endpoint.clone();
    failing.failing_since = Some(now() - TimeDelta::hours(24));
    store.replace_webhook_endpoint(&failing, 1, None).await.unwrap();
    let sender = ScriptedSender::answering([AttemptOutcome::NoAnswer("connection refused".into())]);
    let task = DeliveryTask { attempts_made: 6, ..DeliveryTask::first("acc-1", "e1", &event.id, now()) };
    let Delivered::Attempted(failed) = delivery(&store, &sender).deliver(&task, now).await.unwrap() else { panic!() };
    assert_eq!(failed.next_attempt_at, Some(now() + TimeDelta::hours(10)));
    let stored = store.get_webhook_endpoint("acc-1", "e1").await.unwrap().unwrap().value;
    assert_eq!((stored.status, stored.updated_at), (EndpointStatus::Disabled, now()));

    let (next, _) = store.take_queued()[0].clone();
    let dropped = delivery(&store, &sender).deliver(&next, || next.due_at).await.unwrap();
    assert_eq!(dropped, Delivered::Dropped("the endpoint is disabled"));
    assert_eq!(sender.sent().len(), 1);
}

#[tokio::test]
async fn the_eighth_failed_attempt_ends_the_schedule() {
    let (store, _, event) = one_event().await;
    let sender = ScriptedSender::answering([AttemptOutcome::Answered(410)]);
    let task = DeliveryTask { attempts_made: 7, ..DeliveryTask::first("acc-1", "e1", &event.id, now()) };
    let Delivered::Attempted(last) = delivery(&store, &sender).deliver(&task, now).await.unwrap() else { panic!() };
    assert_eq!((last.attempt, last.result, last.next_attempt_at), (8, AttemptResult::Failed, None));
    assert!(store.take_queued().is_empty());
}

#[tokio::test]
async fn deleted_endpoints_and_other_accounts_messages_are_dropped_unsent() {
    let (store, _, event) = one_event().await;
    let sender = ScriptedSender::default();
    let theirs = DeliveryTask::first("acc-2", "e1", &event.id, now());
    assert_eq!(
        delivery(&store, &sender).deliver(&theirs, now).await.unwrap(),
        Delivered::Dropped("the endpoint was deleted")
    );
    store.delete_webhook_endpoint("acc-1", "e1", 1, None).await.unwrap();
    let ours = DeliveryTask::first("acc-1", "e1", &event.id, now());
    assert_eq!(
        delivery(&store, &sender).deliver(&ours, now).await.unwrap(),
        Delivered::Dropped("the endpoint was deleted")
    );
    assert!(sender.sent().is_empty());
}
