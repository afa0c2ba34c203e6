//! The outbox and the delivery attempts against moto_server: an event is stored with its change or
//! not at all, a completed reconcile job records its event once, and attempts are kept once each
//! and listed newest first.

use chrono::{SubsecRound, TimeDelta, Utc};
use invoicing_domain::{
    model::{
        invoice::{CreateInvoice, Invoice},
        reconcile::{Counts, IntegrationService, InvoiceOutcome, JobStatus, OutcomeKind, Property, ReconcileJob},
        webhooks::{
            delivery::{AttemptOutcome, DeliveryAttempt, DeliveryTask},
            Event, EventType,
        },
    },
    ports::{InvoiceStore, ReconcileJobs, WebhookDeliveries, WebhookEvents},
    ErrorKind,
};
use invoicing_test_support::{webhooks::outbox_events, MotoServer};
use serde_json::json;

fn draft(account: &str) -> Invoice {
    let request: CreateInvoice = serde_json::from_value(json!({"currency": "EUR", "customerId": "c1"})).unwrap();
    Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account, request, Utc::now().trunc_subsecs(3))
}

#[tokio::test]
async fn an_event_is_stored_with_its_change_and_not_at_all_without_it() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let invoice = draft("acct-a");
    let created =
        Event::new(EventType::InvoiceCreated, Utc::now().trunc_subsecs(3), json!({"invoice": {"id": invoice.id}}));
    store.insert_invoice(&invoice, Some(&created), None).await.unwrap();
    let stored = store.webhook_event("acct-a", &created.id).await.unwrap().unwrap();
    assert_eq!((stored.event_type, stored.body.as_str()), (EventType::InvoiceCreated, created.body().as_str()));
    assert_eq!(store.webhook_event("acct-b", &created.id).await.unwrap(), None, "another account's event");

    // A write that loses its version race takes its event down with it.
    let mut voided = invoice.clone();
    voided.void().unwrap();
    let lost = Event::new(EventType::InvoiceVoided, Utc::now(), json!({}));
    let error = store.replace_invoice(&voided, 7, Some(&lost), None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Contended);
    assert_eq!(store.webhook_event("acct-a", &lost.id).await.unwrap(), None);
    // So does an insert of an id that exists.
    let duplicate = Event::new(EventType::InvoiceCreated, Utc::now(), json!({}));
    assert_eq!(store.insert_invoice(&invoice, Some(&duplicate), None).await.unwrap_err().kind(), ErrorKind::Conflict);
    let kept: Vec<String> = outbox_events(&store, "acct-a").await.into_iter().map(|e| e.event_id).collect();
    assert_eq!(kept, [created.id.as_str()]);
    // Kept for 30 days (TTL).
    let record = outbox_events(&store, "acct-a").await.remove(0);
    assert_eq!(record.ttl, (created.created_at + TimeDelta::days(30)).timestamp());
}

#[tokio::test]
async fn a_completed_job_records_its_sync_completed_event_once_with_its_final_counts() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let job = ReconcileJob {
        id: uuid::Uuid::now_v7().to_string(),
        status: JobStatus::Queued,
        integration_service: IntegrationService::Xero,
        properties_to_compare: vec![Property::Status],
        counts: Counts { total: 2, ..Counts::default() },
        created_at: Utc::now().trunc_subsecs(3),
        completed_at: None,
        xero_calls: 0,
    };
    store.create_job("acct-a", &job, false, None).await.unwrap();
    let now = Utc::now().trunc_subsecs(3);
    store.record_outcomes("acct-a", &job.id, &[InvoiceOutcome::new("i1", OutcomeKind::Matched, now)]).await.unwrap();
    assert!(!store.complete_if_done("acct-a", &job.id, now).await.unwrap());
    assert!(outbox_events(&store, "acct-a").await.is_empty(), "not complete: no event");

    store.record_outcomes("acct-a", &job.id, &[InvoiceOutcome::new("i2", OutcomeKind::Mismatched, now)]).await.unwrap();
    assert!(store.complete_if_done("acct-a", &job.id, now).await.unwrap());
    assert!(store.complete_if_done("acct-a", &job.id, now).await.unwrap(), "a repeat answers complete");
    let events = outbox_events(&store, "acct-a").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::IntegrationSyncCompleted);
    let body: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
    let completed = store.get_job("acct-a", &job.id).await.unwrap().unwrap();
    assert_eq!(body["data"]["job"], serde_json::to_value(&completed).unwrap());
    assert_eq!(
        (body["data"]["job"]["counts"]["matched"].clone(), body["data"]["job"]["status"].clone()),
        (json!(1), json!("COMPLETED"))
    );
}

#[tokio::test]
async fn attempts_are_recorded_once_and_listed_newest_first_a_page_at_a_time() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = Utc::now().trunc_subsecs(3);
    let (first, second) =
        (format!("evt_{}", uuid::Uuid::now_v7().simple()), format!("evt_{}", uuid::Uuid::now_v7().simple()));
    let task = DeliveryTask::first("acct-a", "e1", &first, now);
    let failed = DeliveryAttempt::new(
        &task,
        EventType::InvoiceSent,
        now,
        15_000,
        &AttemptOutcome::NoAnswer("no answer within 15s".into()),
    );
    let retry = task.retry(now).unwrap();
    let delivered =
        DeliveryAttempt::new(&retry, EventType::InvoiceSent, retry.due_at, 20, &AttemptOutcome::Answered(200));
    let other = DeliveryAttempt::new(
        &DeliveryTask::first("acct-a", "e1", &second, now),
        EventType::InvoiceVoided,
        now,
        5,
        &AttemptOutcome::Answered(204),
    );
    for attempt in [&failed, &delivered, &other] {
        assert!(store.record_attempt("acct-a", "e1", attempt).await.unwrap());
    }
    assert!(!store.record_attempt("acct-a", "e1", &failed).await.unwrap(), "the same attempt again");
    assert!(store.record_attempt("acct-a", "e2", &failed).await.unwrap(), "another endpoint's");

    let recorded = store.delivery_attempt("acct-a", "e1", &first, 1).await.unwrap().unwrap();
    assert_eq!((recorded.attempt, recorded.followed_up), (failed.clone(), false));
    store.mark_followed_up("acct-a", "e1", &first, 1).await.unwrap();
    assert!(store.delivery_attempt("acct-a", "e1", &first, 1).await.unwrap().unwrap().followed_up);
    assert_eq!(store.delivery_attempt("acct-b", "e1", &first, 1).await.unwrap(), None);

    let page = store.list_delivery_attempts("acct-a", "e1", 2, None).await.unwrap();
    assert_eq!(page.items, [other.clone(), delivered.clone()]);
    let rest = store.list_delivery_attempts("acct-a", "e1", 2, page.after.as_deref()).await.unwrap();
    assert_eq!((rest.items, rest.after), (vec![failed.clone()], None));
    assert!(store.list_delivery_attempts("acct-b", "e1", 10, None).await.unwrap().items.is_empty());
}
