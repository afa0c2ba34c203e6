//! The consumer in process: the DynamoDB adapter on moto_server, the Xero double of
//! `invoicing_test_support::xero_double` (Xero's filters, page sizes and faults) and a recording
//! queue that the tests deliver again, as SQS would.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{SubsecRound, Utc};
use invoicing_domain::{
    model::account::NewAccount,
    model::idempotency::Receipt,
    model::invoice::{CreateInvoice, Invoice, InvoiceStatus, LinkedService},
    model::pagination::Page,
    model::reconcile::{
        batch_messages, Counts, IntegrationService, JobStatus, Property, ReconcileJob, ReconcileMessage, Work,
    },
    model::webhooks::Event,
    model::Versioned,
    ports::{AccountStore, InvoiceBatches, InvoiceQuery, InvoiceStore, ReconcileJobs, WorkQueue},
    Result,
};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::{
    xero_double::{xero_invoice, XeroDouble},
    MotoServer,
};
use invoicing_xero::{
    BudgetFuture, BudgetWait, CallBudget, CallGrant, Remaining, RetryPolicy, XeroClient, XeroConnection,
};
use reconcile_worker::{Attempts, Integrations, Worker, XeroAccess};
use serde_json::{json, Value};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;
use wiremock::ResponseTemplate;

#[derive(Default)]
struct RecordingQueue {
    sent: Mutex<Vec<(ReconcileMessage, Duration)>>,
}

impl WorkQueue for RecordingQueue {
    async fn enqueue(&self, messages: &[ReconcileMessage], delay: Duration) -> Result<()> {
        self.sent.lock().unwrap().extend(messages.iter().map(|m| (m.clone(), delay)));
        Ok(())
    }
}

impl RecordingQueue {
    fn take(&self) -> Vec<(ReconcileMessage, Duration)> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

/// The same Xero client for every account.
struct FixedXero(Arc<XeroClient>);

impl Integrations for FixedXero {
    type Source = XeroClient;
    async fn xero_for(&self, _account_id: &str) -> Result<XeroAccess<XeroClient>> {
        Ok(XeroAccess::Client(Arc::clone(&self.0)))
    }
}

/// Our invoices, counting the batch reads the worker makes.
struct CountingInvoices {
    inner: DynamoStore,
    batch_sizes: Mutex<Vec<usize>>,
}

impl InvoiceBatches for CountingInvoices {
    async fn get_invoices(&self, account_id: &str, ids: &[String]) -> Result<Vec<Versioned<Invoice>>> {
        self.batch_sizes.lock().unwrap().push(ids.len());
        self.inner.get_invoices(account_id, ids).await
    }
    async fn list_reconcilable_invoice_ids(&self, a: &str, limit: usize, after: Option<&str>) -> Result<Page<String>> {
        self.inner.list_reconcilable_invoice_ids(a, limit, after).await
    }
}

impl InvoiceStore for CountingInvoices {
    async fn insert_invoice(&self, invoice: &Invoice, event: Option<&Event>, receipt: Option<&Receipt>) -> Result<()> {
        self.inner.insert_invoice(invoice, event, receipt).await
    }
    async fn get_invoice(&self, a: &str, id: &str) -> Result<Option<Versioned<Invoice>>> {
        self.inner.get_invoice(a, id).await
    }
    async fn replace_invoice(
        &self,
        invoice: &Invoice,
        expected: u64,
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        self.inner.replace_invoice(invoice, expected, event, receipt).await
    }
    async fn list_invoices(&self, a: &str, query: &InvoiceQuery) -> Result<Page<Invoice>> {
        self.inner.list_invoices(a, query).await
    }
}

fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

fn connection(double: &XeroDouble) -> XeroConnection {
    XeroConnection {
        client_id: "id".into(),
        client_secret: "secret".into(),
        tenant_id: Some("tenant-1".into()),
        api_base_url: double.uri(),
        token_url: double.token_url(),
    }
}

/// A client with Xero's limits kept in process.
fn client_for(double: &XeroDouble) -> Arc<XeroClient> {
    Arc::new(XeroClient::with_policy(connection(double), quick_policy()))
}

/// Grants every call and forgets 429s: for tests of the worker's own waiting, where the budget's
/// block would otherwise outlive the test (the budget is tested in tests/budget.rs).
struct Unmetered;

impl CallBudget for Unmetered {
    fn acquire<'a>(&'a self, tenant: &'a str) -> BudgetFuture<'a, std::result::Result<CallGrant, BudgetWait>> {
        let until = std::time::SystemTime::now() + Duration::from_secs(60);
        Box::pin(async move { Ok(CallGrant::new(tenant, 0, "", until)) })
    }
    fn release<'a>(&'a self, _grant: CallGrant, _remaining: Remaining) -> BudgetFuture<'a, ()> {
        Box::pin(async {})
    }
    fn block<'a>(&'a self, _: &'a str, _: std::time::SystemTime, _: Option<&'a str>) -> BudgetFuture<'a, ()> {
        Box::pin(async {})
    }
}

fn sales(id: &str, number: &str, status: &str) -> Value {
    xero_invoice(id, number, status, "ACCREC")
}

fn new_invoice(account_id: &str, status: InvoiceStatus, number: &str, xero_id: Option<&str>) -> Invoice {
    let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
    let now = Utc::now().trunc_subsecs(3);
    let mut invoice = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, now);
    invoice.status = status;
    invoice.invoice_number = Some(number.to_string());
    if let Some(id) = xero_id {
        invoice.linked_services.push(LinkedService {
            external_service: "Xero".into(),
            external_id: Some(id.into()),
            sync_status: None,
            last_error: None,
            sync_time: now,
            external_url: None,
        });
    }
    invoice
}

async fn invoice(
    store: &DynamoStore,
    account_id: &str,
    status: InvoiceStatus,
    number: &str,
    xero_id: Option<&str>,
) -> Invoice {
    let invoice = new_invoice(account_id, status, number, xero_id);
    store.insert_invoice(&invoice, None, None).await.unwrap();
    invoice
}

fn new_job(total: u64) -> ReconcileJob {
    ReconcileJob {
        id: uuid::Uuid::now_v7().to_string(),
        status: JobStatus::Queued,
        integration_service: IntegrationService::Xero,
        properties_to_compare: vec![Property::InvoiceNumber, Property::Status],
        counts: Counts { total, ..Counts::default() },
        created_at: Utc::now().trunc_subsecs(3),
        completed_at: None,
        xero_calls: 0,
    }
}

/// A job over explicit ids.
async fn job(store: &DynamoStore, account_id: &str, total: u64) -> ReconcileJob {
    let job = new_job(total);
    store.create_job(account_id, &job, false, None).await.unwrap();
    job
}

/// A job over every FINAL, SENT and VOIDED invoice, with its first message (as the producer queues it).
async fn all_invoices_job(store: &DynamoStore, account_id: &str) -> (ReconcileJob, ReconcileMessage) {
    let job = new_job(0);
    store.create_job(account_id, &job, true, None).await.unwrap();
    let first = ReconcileMessage::new(&job.id, account_id, Work::XeroPage { page: 1 });
    (job, first)
}

fn record(id: &str, message: &ReconcileMessage, receive_count: u32) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(id.to_string());
    record.body = Some(serde_json::to_string(message).unwrap());
    record.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
    record
}

fn event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn batch(job: &ReconcileJob, account_id: &str, ids: &[&str]) -> ReconcileMessage {
    ReconcileMessage::new(
        &job.id,
        account_id,
        Work::Invoices { invoice_ids: ids.iter().map(|s| s.to_string()).collect() },
    )
}

/// A Lambda invocation with plenty of time.
fn roomy() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

type TestWorker<S = DynamoStore> = Worker<DynamoStore, S, FixedXero, RecordingQueue>;

fn worker(store: &DynamoStore, client: &Arc<XeroClient>) -> TestWorker {
    Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: FixedXero(Arc::clone(client)),
        queue: RecordingQueue::default(),
        attempts: Attempts::default(),
    }
}

/// Delivers what the worker queued, as SQS would (each once, one message per invocation), until
/// nothing is left; waits that `notBefore` asks for are skipped by moving it into the past once
/// it has been honoured (queued again without a call). Answers how many messages were delivered.
async fn drain<S: InvoiceBatches + InvoiceStore>(worker: &TestWorker<S>, deadline: impl Fn() -> Instant) -> usize {
    let mut delivered = 0;
    for round in 0..500 {
        let queued = worker.queue.take();
        if queued.is_empty() {
            return delivered;
        }
        for (i, (mut message, delay)) in queued.into_iter().enumerate() {
            if delay >= reconcile_worker::MAX_QUEUE_DELAY || message.not_before.is_some_and(|t| t > Utc::now()) {
                // Deliver it once early (it must go back without a Xero call), then "after the wait".
                let early = worker.handle(event(vec![record("early", &message, 1)]), deadline()).await;
                assert!(early.batch_item_failures.is_empty());
                // It went back (alone: others requeued this round stay queued) without a call.
                let (back, others): (Vec<_>, Vec<_>) =
                    worker.queue.take().into_iter().partition(|(m, _)| m.work == message.work);
                worker.queue.sent.lock().unwrap().extend(others);
                assert_eq!(back.len(), 1, "a message delivered before its time goes back once");
                message = back.into_iter().next().unwrap().0;
                message.not_before = Some(Utc::now() - chrono::Duration::seconds(1));
            }
            let response = worker.handle(event(vec![record(&format!("r{round}-{i}"), &message, 1)]), deadline()).await;
            assert!(response.batch_item_failures.is_empty(), "no message is failed back to SQS");
            delivered += 1;
        }
    }
    panic!("the queue never drained");
}

async fn setup() -> (MotoServer, DynamoStore, String) {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account = NewAccount::generate("Acme", Utc::now());
    store.create_account(&account).await.unwrap();
    (moto, store, account.account.id)
}

async fn outcome(store: &DynamoStore, account_id: &str, job: &ReconcileJob, invoice_id: &str) -> Value {
    let results = store.list_outcomes(account_id, &job.id, None, 100, None).await.unwrap().items;
    let found = results.into_iter().find(|o| o.invoice_id == invoice_id).expect("an outcome");
    let mut value = serde_json::to_value(found).unwrap();
    value.as_object_mut().unwrap().remove("comparedAt");
    value
}

async fn xero_link_of(store: &DynamoStore, account_id: &str, invoice_id: &str) -> Option<String> {
    let invoice = store.get_invoice(account_id, invoice_id).await.unwrap().unwrap().value;
    invoice.linked_services.iter().find(|l| l.external_service == "Xero").and_then(|l| l.external_id.clone())
}

#[tokio::test]
async fn faults_and_redelivery_still_give_exact_outcomes_and_counts() {
    let (_moto, store, account_id) = setup().await;
    let a = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    let b = invoice(&store, &account_id, InvoiceStatus::Sent, "INV-000002", None).await;
    let c = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000003", None).await;
    let double =
        XeroDouble::start(vec![sales("x-a", "INV-000001", "AUTHORISED"), sales("x-b", "INV-000002", "VOIDED")]).await;
    // The first call: a 429 for the minute (waited out inside the call), the second a 500 (retried).
    double.set_rule(|_, call| match call {
        1 => Some(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .insert_header("X-Rate-Limit-Problem", "minute"),
        ),
        2 => Some(ResponseTemplate::new(500)),
        _ => None,
    });
    let client = client_for(&double);
    let job = job(&store, &account_id, 4).await;
    let worker = worker(&store, &client);
    let first = batch(&job, &account_id, &[&a.id, &b.id]);
    let second = batch(&job, &account_id, &[&c.id, "01a21186-0000-7000-8000-00000000dead"]);

    // The first message, delivered twice (SQS is at-least-once), then the second.
    for delivery in 1..=2 {
        let response = worker.handle(event(vec![record("m1", &first, delivery)]), roomy()).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let running = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!((running.status, running.counts.matched, running.counts.mismatched), (JobStatus::Running, 1, 1));
    let response = worker.handle(event(vec![record("m2", &second, 1)]), roomy()).await;
    assert!(response.batch_item_failures.is_empty());

    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        done.counts,
        Counts { total: 4, matched: 1, mismatched: 1, not_in_integration: 1, not_found: 1, skipped: 0, failed: 0 }
    );
    assert!(done.completed_at.is_some());
    // First delivery: one lookup by number, answered 429, then 500, then 200 (three calls).
    // Redelivery: the invoices are linked now, one lookup by id. Second message: one by number.
    assert_eq!((client.calls().api_calls, client.calls().token_calls), (5, 1));
    assert_eq!(done.xero_calls, 5);

    assert_eq!(outcome(&store, &account_id, &job, &a.id).await["outcome"], "MATCHED");
    assert_eq!(
        outcome(&store, &account_id, &job, &b.id).await,
        json!({"invoiceId": b.id, "outcome": "MISMATCHED", "integrationId": "x-b", "reason": null,
               "differences": [{"property": "STATUS", "sequenceValue": "SENT", "integrationValue": "VOIDED"}]})
    );
    assert_eq!(outcome(&store, &account_id, &job, &c.id).await["outcome"], "NOT_IN_INTEGRATION");
    assert_eq!(
        outcome(&store, &account_id, &job, "01a21186-0000-7000-8000-00000000dead").await["outcome"],
        "NOT_FOUND"
    );
    // Found by number, the invoices are now linked to their Xero ids.
    assert_eq!(xero_link_of(&store, &account_id, &a.id).await.as_deref(), Some("x-a"));
}

#[tokio::test]
async fn only_sales_invoices_count_duplicates_are_ambiguous_and_stale_links_are_resolved_again() {
    let (_moto, store, account_id) = setup().await;
    // A bill (ACCPAY) carries our number: it is not our invoice.
    let billed = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    // Two sales invoices carry this number: FAILED "ambiguous", never a silent pick.
    let doubled = invoice(&store, &account_id, InvoiceStatus::Sent, "INV-000002", None).await;
    // Linked (by an older version) to the bill: resolved again by number, and linked to the sales invoice.
    let linked_to_bill = invoice(&store, &account_id, InvoiceStatus::Sent, "INV-000003", Some("bill-3")).await;
    // Linked to an invoice Xero no longer has and nothing carries its number: the link is dropped.
    let linked_to_nothing = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000004", Some("gone-4")).await;
    // Linked to a deleted sales invoice that a live one with the same number replaced: relinked.
    let replaced = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000005", Some("deleted-5")).await;
    // Voided here, deleted there: the link stays and it matches.
    let voided = invoice(&store, &account_id, InvoiceStatus::Voided, "INV-000006", Some("deleted-6")).await;
    let double = XeroDouble::start(vec![
        xero_invoice("bill-1", "INV-000001", "AUTHORISED", "ACCPAY"),
        sales("sales-2a", "INV-000002", "AUTHORISED"),
        sales("sales-2b", "INV-000002", "PAID"),
        xero_invoice("bill-3", "INV-000003", "AUTHORISED", "ACCPAY"),
        sales("sales-3", "INV-000003", "AUTHORISED"),
        sales("deleted-5", "INV-000005", "DELETED"),
        sales("sales-5", "INV-000005", "AUTHORISED"),
        sales("deleted-6", "INV-000006", "DELETED"),
    ])
    .await;
    let client = client_for(&double);
    let job = job(&store, &account_id, 6).await;
    let worker = worker(&store, &client);
    let ids = [&billed.id, &doubled.id, &linked_to_bill.id, &linked_to_nothing.id, &replaced.id, &voided.id];
    let ids: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
    let response = worker.handle(event(vec![record("m", &batch(&job, &account_id, &ids), 1)]), roomy()).await;
    assert!(response.batch_item_failures.is_empty());

    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        done.counts,
        Counts { total: 6, matched: 3, mismatched: 0, not_in_integration: 2, not_found: 0, skipped: 0, failed: 1 }
    );
    assert_eq!(outcome(&store, &account_id, &job, &billed.id).await["outcome"], "NOT_IN_INTEGRATION");
    assert_eq!(xero_link_of(&store, &account_id, &billed.id).await, None);
    assert_eq!(
        outcome(&store, &account_id, &job, &doubled.id).await,
        json!({"invoiceId": doubled.id, "outcome": "FAILED", "integrationId": null, "differences": [],
               "reason": "ambiguous: 2 sales invoices in Xero are numbered INV-000002"})
    );
    assert_eq!(xero_link_of(&store, &account_id, &doubled.id).await, None);
    assert_eq!(outcome(&store, &account_id, &job, &linked_to_bill.id).await["integrationId"], "sales-3");
    assert_eq!(xero_link_of(&store, &account_id, &linked_to_bill.id).await.as_deref(), Some("sales-3"));
    assert_eq!(outcome(&store, &account_id, &job, &linked_to_nothing.id).await["outcome"], "NOT_IN_INTEGRATION");
    assert_eq!(xero_link_of(&store, &account_id, &linked_to_nothing.id).await, None);
    assert_eq!(outcome(&store, &account_id, &job, &replaced.id).await["integrationId"], "sales-5");
    assert_eq!(xero_link_of(&store, &account_id, &replaced.id).await.as_deref(), Some("sales-5"));
    assert_eq!(outcome(&store, &account_id, &job, &voided.id).await["outcome"], "MATCHED");
    assert_eq!(xero_link_of(&store, &account_id, &voided.id).await.as_deref(), Some("deleted-6"));
    // Lookups: by id (the four links) and by number (the two unlinked) at once, then by number
    // for the four links that did not lead to a live sales invoice (a bill, nothing, two deleted).
    let calls = double.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].numbers.as_ref().unwrap().len(), 4);
    assert!(calls
        .iter()
        .filter(|c| c.numbers.is_some())
        .all(|c| c.where_clause.as_deref() == Some("Type==\"ACCREC\"")));
}

#[tokio::test]
async fn every_failure_path_still_completes_the_job_with_exact_counts() {
    let (_moto, store, account_id) = setup().await;
    let (_moto_b, other_store, other_account) = setup().await;
    let matched = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    let slow = invoice(&store, &account_id, InvoiceStatus::Final, "SLOW-1", None).await;
    let broken = invoice(&store, &account_id, InvoiceStatus::Final, "BROKEN-1", None).await;
    let limited = invoice(&store, &account_id, InvoiceStatus::Sent, "LIMIT-1", None).await;
    let billed = invoice(&store, &account_id, InvoiceStatus::Final, "BILL-1", None).await;
    let double = XeroDouble::start(vec![
        xero_invoice("x-bill", "BILL-1", "AUTHORISED", "ACCPAY"),
        sales("x-1", "INV-000001", "AUTHORISED"),
        sales("x-slow", "SLOW-1", "AUTHORISED"),
        sales("x-limit", "LIMIT-1", "AUTHORISED"),
        sales("x-other", "OTHER-1", "PAID"),
    ])
    .await;
    let daily_limit_hit = Arc::new(Mutex::new(false));
    let hit = Arc::clone(&daily_limit_hit);
    double.set_rule(move |query, _| {
        let numbers = query.numbers.clone().unwrap_or_default();
        if numbers.iter().any(|n| n == "SLOW-1") {
            // Longer than the invocation has: the worker must cut it short, not Lambda.
            return Some(ResponseTemplate::new(200).set_delay(Duration::from_secs(4)));
        }
        if numbers.iter().any(|n| n == "BROKEN-1") {
            return Some(ResponseTemplate::new(503).set_body_string("down for maintenance"));
        }
        if numbers.iter().any(|n| n == "LIMIT-1") && !std::mem::replace(&mut *hit.lock().unwrap(), true) {
            // The day's 5,000 calls are spent; Xero says to come back in 20 hours.
            return Some(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "72000")
                    .insert_header("X-Rate-Limit-Problem", "daily"),
            );
        }
        None
    });
    let client = Arc::new(XeroClient::with_budget(connection(&double), quick_policy(), Arc::new(Unmetered)));
    let job = job(&store, &account_id, 8).await;
    let worker = Worker {
        attempts: Attempts { max: 3, safety_margin: Duration::from_millis(500), retry_delay: Duration::from_secs(1) },
        ..worker(&store, &client)
    };
    let other_job = job_for(&other_store, &other_account).await;
    let other = invoice(&other_store, &other_account, InvoiceStatus::Sent, "OTHER-1", None).await;
    let other_worker = Worker { attempts: worker.attempts, ..worker_for(&other_store, &client) };

    // One SQS batch, as Lambda hands it over: poison ids, a batch Xero answers too slowly, one it
    // fails, one that hits the daily limit, one whose number only a bill carries, and a good one.
    let long_id = "x".repeat(1100);
    let messages = [
        batch(&job, &account_id, &[&long_id, "not-an-id", "01a21186-0000-7000-8000-00000000dead"]),
        batch(&job, &account_id, &[&slow.id]),
        batch(&job, &account_id, &[&broken.id]),
        batch(&job, &account_id, &[&limited.id]),
        batch(&job, &account_id, &[&billed.id, &matched.id]),
    ];
    let records = messages.iter().enumerate().map(|(i, m)| record(&format!("m{i}"), m, 1)).collect();
    let short = || Instant::now() + Duration::from_millis(2500);
    let started = Instant::now();
    let response = worker.handle(event(records), short()).await;
    // The invocation ended before its deadline, with nothing failed back to SQS as a batch.
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert!(response.batch_item_failures.is_empty());
    // Another account's work in the same moment is not held up by any of it.
    let other_response = other_worker
        .handle(event(vec![record("o", &batch(&other_job, &other_account, &[&other.id]), 1)]), short())
        .await;
    assert!(other_response.batch_item_failures.is_empty());
    assert_eq!(other_store.get_job(&other_account, &other_job.id).await.unwrap().unwrap().status, JobStatus::Completed);

    // What came back: the slow and broken ones with their attempt counted, the limited one for
    // after the reset (chained past SQS's 15 minutes).
    let queued = worker.queue.sent.lock().unwrap().clone();
    assert_eq!(queued.len(), 3, "{queued:#?}");
    let limited_again = queued.iter().find(|(m, _)| m.work == messages[3].work).unwrap();
    assert_eq!((limited_again.0.attempt, limited_again.1), (0, reconcile_worker::MAX_QUEUE_DELAY));
    let reset = limited_again.0.not_before.unwrap() - Utc::now();
    assert!(reset > chrono::Duration::hours(19) && reset <= chrono::Duration::hours(20));
    assert!(queued.iter().filter(|(m, _)| m.work != messages[3].work).all(|(m, _)| m.attempt == 1));

    // Delivered again until nothing is left: the slow and broken batches run out of attempts.
    let calls_before = double.calls().iter().filter(|c| c.numbers.as_ref().is_some_and(|n| n[0] == "LIMIT-1")).count();
    drain(&worker, short).await;
    let limit_calls = double.calls().iter().filter(|c| c.numbers.as_ref().is_some_and(|n| n[0] == "LIMIT-1")).count();
    // The daily limit: one call after the reset, none while waiting.
    assert_eq!((calls_before, limit_calls), (1, 2));

    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        done.counts,
        Counts { total: 8, matched: 2, mismatched: 0, not_in_integration: 1, not_found: 3, skipped: 0, failed: 2 }
    );
    assert_eq!(
        outcome(&store, &account_id, &job, &slow.id).await["reason"],
        "could not be compared before the worker's time limit"
    );
    let broken_reason = outcome(&store, &account_id, &job, &broken.id).await["reason"].as_str().unwrap().to_string();
    assert!(broken_reason.starts_with("Xero lookup failed: Xero unavailable: 503"), "{broken_reason}");
    let long_reported = format!("{}...", "x".repeat(40));
    let results = store.list_outcomes(&account_id, &job.id, None, 100, None).await.unwrap().items;
    let long = results.iter().find(|o| o.invoice_id.starts_with(&long_reported)).expect("the long id's outcome");
    assert_eq!((long.outcome, long.invoice_id.len()), (invoicing_domain::model::reconcile::OutcomeKind::NotFound, 59));
    assert_eq!(outcome(&store, &account_id, &job, "not-an-id").await["outcome"], "NOT_FOUND");
    assert_eq!(outcome(&store, &account_id, &job, &limited.id).await["outcome"], "MATCHED");
}

async fn job_for(store: &DynamoStore, account_id: &str) -> ReconcileJob {
    job(store, account_id, 1).await
}

fn worker_for(store: &DynamoStore, client: &Arc<XeroClient>) -> TestWorker {
    worker(store, client)
}

#[tokio::test]
async fn a_message_on_its_last_sqs_delivery_records_failed_outcomes() {
    let (_moto, store, account_id) = setup().await;
    let a = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    let double = XeroDouble::start(vec![]).await;
    double.set_rule(|_, _| Some(ResponseTemplate::new(500)));
    let client = client_for(&double);
    let job = job(&store, &account_id, 1).await;
    let worker = worker(&store, &client);
    // Earlier invocations crashed (SQS counted four receives); this fifth one is the last.
    let response = worker.handle(event(vec![record("m", &batch(&job, &account_id, &[&a.id]), 5)]), roomy()).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(worker.queue.sent.lock().unwrap().is_empty());
    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.failed, done.counts.total), (JobStatus::Completed, 1, 1));
}

#[tokio::test]
async fn unparseable_messages_fail_alone() {
    let (_moto, store, account_id) = setup().await;
    let a = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    let double = XeroDouble::start(vec![sales("x-1", "INV-000001", "AUTHORISED")]).await;
    let client = client_for(&double);
    let job = job(&store, &account_id, 1).await;
    let worker = worker(&store, &client);
    let mut bad = SqsMessage::default();
    bad.message_id = Some("bad".into());
    bad.body = Some("not json".into());
    let response =
        worker.handle(event(vec![bad, record("good", &batch(&job, &account_id, &[&a.id]), 1)]), roomy()).await;
    let failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["bad"]);
    assert_eq!(store.get_job(&account_id, &job.id).await.unwrap().unwrap().status, JobStatus::Completed);
}

#[tokio::test]
async fn a_thousand_linked_invoices_take_ten_xero_calls_and_batch_reads_of_at_most_100() {
    let (_moto, store, account_id) = setup().await;
    let mut ids = Vec::new();
    let mut xero = Vec::new();
    let mut invoices = Vec::new();
    for n in 1..=1000 {
        let number = format!("INV-{n:06}");
        let xero_id = format!("x-{n}");
        let invoice = new_invoice(&account_id, InvoiceStatus::Final, &number, Some(&xero_id));
        ids.push(invoice.id.clone());
        invoices.push(invoice);
        xero.push(sales(&xero_id, &number, "AUTHORISED"));
    }
    store.import_invoices(&invoices).await.unwrap();
    let double = XeroDouble::start(xero).await;
    let client = client_for(&double);
    let job = job(&store, &account_id, 1000).await;
    let worker = Worker {
        jobs: store.clone(),
        store: CountingInvoices { inner: store.clone(), batch_sizes: Mutex::new(Vec::new()) },
        integrations: FixedXero(Arc::clone(&client)),
        queue: RecordingQueue::default(),
        attempts: Attempts::default(),
    };
    let messages = batch_messages(&job.id, &account_id, &ids);
    assert_eq!(messages.len(), 10);
    let records = messages.iter().enumerate().map(|(i, m)| record(&format!("m{i}"), m, 1)).collect();
    let response = worker.handle(event(records), roomy()).await;
    assert!(response.batch_item_failures.is_empty());

    let calls = client.calls();
    assert_eq!((calls.api_calls, calls.token_calls), (10, 1));
    let batch_sizes = worker.store.batch_sizes.lock().unwrap().clone();
    assert_eq!(batch_sizes, vec![100; 10]);
    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.counts.matched, done.counts.total, done.xero_calls),
        (JobStatus::Completed, 1000, 1000, 10)
    );
}

#[tokio::test]
async fn an_all_invoices_job_lists_xero_a_thousand_at_a_time_and_compares_every_final_sent_and_voided_invoice() {
    let (_moto, store, account_id) = setup().await;
    let mut ours = Vec::new();
    let mut xero = Vec::new();
    for n in 1..=300 {
        let number = format!("INV-{n:06}");
        let status = match n % 5 {
            0 => InvoiceStatus::Draft,
            1 => InvoiceStatus::Sent,
            2 => InvoiceStatus::Voided,
            _ => InvoiceStatus::Final,
        };
        ours.push(new_invoice(&account_id, status, &number, None));
    }
    // Xero has 1,200 sales invoices: every third number up to 3,600; of ours, the FINAL ones
    // numbered 3 modulo 15 are voided there.
    for n in (3..=3600).step_by(3) {
        let ours = ours.get(n - 1).map(|i| i.status);
        let voided = ours == Some(InvoiceStatus::Voided) || (n % 15 == 3 && n <= 300);
        xero.push(sales(&format!("x-{n}"), &format!("INV-{n:06}"), if voided { "VOIDED" } else { "AUTHORISED" }));
    }
    // Bills are listed by nobody: the double honours where=Type=="ACCREC".
    xero.push(xero_invoice("bill-1", "INV-000003", "AUTHORISED", "ACCPAY"));
    store.import_invoices(&ours).await.unwrap();
    let expected = ours.iter().filter(|i| i.status != InvoiceStatus::Draft).count() as u64;
    let double = XeroDouble::start(xero).await;
    let client = client_for(&double);
    let (job, first) = all_invoices_job(&store, &account_id).await;
    let worker = worker(&store, &client);
    worker.queue.enqueue(&[first], Duration::ZERO).await.unwrap();
    drain(&worker, roomy).await;

    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    // 240 compared; Xero has those numbered by a multiple of three.
    let in_xero = ours
        .iter()
        .filter(|i| i.status != InvoiceStatus::Draft)
        .filter(|i| i.invoice_number.as_ref().unwrap()[4..].parse::<u32>().unwrap() % 3 == 0)
        .count() as u64;
    assert_eq!(done.counts.total, expected);
    assert_eq!(done.counts.not_in_integration, expected - in_xero);
    assert_eq!(in_xero, 80);
    // Mismatched: FINAL here, VOIDED there (numbers 3 modulo 15: 3, 18, 33, ...).
    let mismatched = ours
        .iter()
        .filter(|i| i.status == InvoiceStatus::Final)
        .filter(|i| i.invoice_number.as_ref().unwrap()[4..].parse::<u32>().unwrap() % 15 == 3)
        .count() as u64;
    assert_eq!((done.counts.matched, done.counts.mismatched), (in_xero - mismatched, mismatched));
    assert_eq!(done.counts.processed(), expected);
    // 1,200 sales invoices in Xero: two pages of 1,000, and no call per invoice.
    let calls = double.calls();
    assert_eq!(done.xero_calls, 2, "{calls:?} {:?}", client.calls());
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[1].page, calls[1].page_size, calls[1].summary_only), (2, Some(1000), true));
    assert_eq!(calls[0].where_clause.as_deref(), Some("Type==\"ACCREC\""));
}

#[tokio::test]
async fn a_redelivered_expansion_queues_the_same_work_even_when_invoices_changed_meanwhile() {
    let (_moto, store, account_id) = setup().await;
    let mut ours = Vec::new();
    for n in 1..=1050 {
        ours.push(new_invoice(&account_id, InvoiceStatus::Final, &format!("INV-{n:06}"), None));
    }
    store.import_invoices(&ours).await.unwrap();
    let double = XeroDouble::start(vec![]).await;
    let client = client_for(&double);
    let (job, first) = all_invoices_job(&store, &account_id).await;
    let worker = worker(&store, &client);
    // The Xero page, then the first expansion page.
    worker.handle(event(vec![record("x", &first, 1)]), roomy()).await;
    let expand = worker.queue.take().pop().unwrap().0;
    assert_eq!(expand.work, Work::Expand { after: None });
    worker.handle(event(vec![record("e", &expand, 1)]), roomy()).await;
    let first_delivery = worker.queue.take();
    // Meanwhile ten invoices of the first page leave the listed statuses ...
    for invoice in &ours[..10] {
        let mut voided = store.get_invoice(&account_id, &invoice.id).await.unwrap().unwrap();
        voided.value.status = InvoiceStatus::Draft;
        store.replace_invoice(&voided.value, voided.version, None, None).await.unwrap();
    }
    // ... and SQS delivers the expansion message again.
    worker.handle(event(vec![record("e", &expand, 2)]), roomy()).await;
    let second_delivery = worker.queue.take();
    assert_eq!(second_delivery, first_delivery, "the same batches and the same next page");
    assert_eq!(first_delivery.len(), 11);
    worker.queue.sent.lock().unwrap().extend(first_delivery);
    drain(&worker, roomy).await;
    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.total, done.counts.processed()), (JobStatus::Completed, 1050, 1050));
}

#[tokio::test]
async fn a_rotated_client_secret_is_used_from_the_next_message_on() {
    use invoicing_domain::ports::{IntegrationSecrets, IntegrationSettings};
    let (moto, store, account) = setup().await;
    let secrets = invoicing_secrets::SecretsStore::from_config(&moto.sdk_config().await);
    let settings = invoicing_domain::model::integration::XeroSettings {
        client_id: "app".into(),
        tenant_id: Some("tenant-1".into()),
        api_base_url: "http://127.0.0.1:9".into(),
        token_url: "http://127.0.0.1:9/connect/token".into(),
    };
    store.set_xero_settings(&account, &settings).await.unwrap();
    secrets.set_xero_client_secret(&account, "first").await.unwrap();
    let clients = reconcile_worker::XeroClients::new(
        store,
        secrets.clone(),
        invoicing_xero::oauth::XeroApp::from_env(),
        Arc::new(invoicing_xero::InProcessBudget::default()),
    );
    let first = clients.xero_for(&account).await.unwrap().client().unwrap();
    // Kept across messages while nothing changes, so its cached token is reused.
    assert!(Arc::ptr_eq(&first, &clients.xero_for(&account).await.unwrap().client().unwrap()));
    secrets.set_xero_client_secret(&account, "second").await.unwrap();
    let second = clients.xero_for(&account).await.unwrap().client().unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(second.connection().client_secret, "second");
}

/// Our invoices, with each batch read followed by a concurrent change of the first invoice (it is
/// sent), as if a user acted while the worker was comparing.
struct SentMeanwhile(DynamoStore);

impl InvoiceBatches for SentMeanwhile {
    async fn get_invoices(&self, account_id: &str, ids: &[String]) -> Result<Vec<Versioned<Invoice>>> {
        let read = self.0.get_invoices(account_id, ids).await?;
        let mut sent = read[0].value.clone();
        sent.status = InvoiceStatus::Sent;
        self.0.replace_invoice(&sent, read[0].version, None, None).await?;
        Ok(read)
    }
    async fn list_reconcilable_invoice_ids(&self, a: &str, limit: usize, after: Option<&str>) -> Result<Page<String>> {
        self.0.list_reconcilable_invoice_ids(a, limit, after).await
    }
}

impl InvoiceStore for SentMeanwhile {
    async fn insert_invoice(&self, invoice: &Invoice, event: Option<&Event>, receipt: Option<&Receipt>) -> Result<()> {
        self.0.insert_invoice(invoice, event, receipt).await
    }
    async fn get_invoice(&self, a: &str, id: &str) -> Result<Option<Versioned<Invoice>>> {
        self.0.get_invoice(a, id).await
    }
    async fn replace_invoice(
        &self,
        invoice: &Invoice,
        expected: u64,
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        self.0.replace_invoice(invoice, expected, event, receipt).await
    }
    async fn list_invoices(&self, a: &str, query: &InvoiceQuery) -> Result<Page<Invoice>> {
        self.0.list_invoices(a, query).await
    }
}

#[tokio::test]
async fn a_link_is_written_on_the_version_read_and_a_concurrent_change_is_kept() {
    let (_moto, store, account_id) = setup().await;
    let a = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    let double = XeroDouble::start(vec![sales("x-a", "INV-000001", "AUTHORISED")]).await;
    let client = client_for(&double);
    let job = job(&store, &account_id, 1).await;
    let worker = Worker {
        jobs: store.clone(),
        store: SentMeanwhile(store.clone()),
        integrations: FixedXero(client),
        queue: RecordingQueue::default(),
        attempts: Attempts::default(),
    };
    let response = worker.handle(event(vec![record("m", &batch(&job, &account_id, &[&a.id]), 1)]), roomy()).await;
    assert!(response.batch_item_failures.is_empty());
    // The write on the version read lost to the change; the link was written again on top of it.
    let stored = store.get_invoice(&account_id, &a.id).await.unwrap().unwrap();
    assert_eq!(stored.value.status, InvoiceStatus::Sent);
    assert_eq!(stored.value.linked_services[0].external_id.as_deref(), Some("x-a"));
    assert_eq!(stored.version, 3);
}

// --- OAuth connections (SPEC.md section 7): tokens refreshed under a lease, rotated refresh
// tokens, invalid_grant. Xero's identity service is the double of
// `invoicing_test_support::xero_identity_double`, which enforces single-use refresh tokens.

mod oauth {
    use super::*;
    use invoicing_domain::{
        model::xero_connection::{ConnectionStatus, OAuthConnection, TokenSet, XeroTenant},
        ports::{TokenVault, XeroConnections},
        service::xero_connection::TokenKeeper,
    };
    use invoicing_secrets::SecretsStore;
    use invoicing_test_support::xero_identity_double::{DoubleTenant, IdentityDouble};
    use invoicing_xero::oauth::{XeroApp, XeroIdentityClient};
    use reconcile_worker::XeroClients;

    fn app(identity: &IdentityDouble, api: &XeroDouble) -> XeroApp {
        identity.app(&api.uri())
    }

    /// An account connected through OAuth to `tenant`, whose access token has expired (the next
    /// call needs a refresh), with the app's secret in Secrets Manager.
    async fn connected(
        moto: &MotoServer,
        store: &DynamoStore,
        identity: &IdentityDouble,
        tenant: &DoubleTenant,
    ) -> (String, SecretsStore) {
        let account = NewAccount::generate("Customer", Utc::now());
        store.create_account(&account).await.unwrap();
        let account_id = account.account.id;
        let secrets = SecretsStore::new(
            aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await),
            format!("oauth-{}", uuid::Uuid::new_v4()),
        );
        secrets.set_xero_app_client_secret("app-secret").await.unwrap();
        let tenants = vec![XeroTenant {
            tenant_id: tenant.tenant_id.clone(),
            tenant_name: Some(tenant.tenant_name.clone()),
            connection_id: tenant.connection_id.clone(),
        }];
        let connection = OAuthConnection::authorized(tenants, vec!["accounting.invoices.read".into()], Utc::now());
        store.put_oauth_connection(&account_id, &connection, None).await.unwrap();
        secrets.store_token_set(&account_id, &identity.expired_token_set()).await.unwrap();
        (account_id, secrets)
    }

    #[tokio::test]
    async fn twenty_concurrent_instances_needing_a_refresh_make_one_and_all_succeed() {
        let (moto, store, _) = setup().await;
        let tenant = DoubleTenant::named("Customer Ltd");
        let identity = IdentityDouble::start(vec![tenant.clone()]).await;
        let api = XeroDouble::start(vec![sales("x-1", "INV-000001", "AUTHORISED")]).await;
        let (account_id, secrets) = connected(&moto, &store, &identity, &tenant).await;
        let before = secrets.token_set(&account_id).await.unwrap().unwrap();

        // Twenty worker instances: each its own clients, token cache and identity client.
        let instances: Vec<_> = (0..20)
            .map(|_| {
                XeroClients::new(
                    store.clone(),
                    secrets.clone(),
                    app(&identity, &api),
                    Arc::new(invoicing_xero::InProcessBudget::default()),
                )
            })
            .collect();
        let found = futures::future::join_all(instances.iter().map(|instance| async {
            let client = instance.xero_for(&account_id).await.unwrap().client().expect("a client");
            client.invoices_by_ids(&["x-1".to_string()]).await
        }))
        .await;

        for result in &found {
            assert_eq!(result.as_ref().expect("every instance reads Xero").len(), 1);
        }
        assert_eq!(identity.counts(|c| (c.refresh_requests, c.grace_refreshes, c.refused_refreshes)), (1, 0, 0));
        let after = secrets.token_set(&account_id).await.unwrap().unwrap();
        assert_ne!(after.refresh_token, before.refresh_token, "the rotated refresh token is stored");
        let calls = api.calls();
        assert_eq!(calls.len(), 20);
        assert!(
            calls.iter().all(|c| c.tenant.as_deref() == Some(tenant.tenant_id.as_str())),
            "every call names the tenant"
        );
        assert!(
            calls.iter().all(|c| c.bearer.as_deref() == Some(after.access_token.as_str())),
            "the stored token is the one used"
        );
    }

    /// A vault whose next write never finishes: the Lambda dies between Xero's answer and the store.
    #[derive(Clone)]
    struct DiesBeforeStoring(SecretsStore, Arc<std::sync::atomic::AtomicBool>);

    impl TokenVault for DiesBeforeStoring {
        async fn token_set(&self, account_id: &str) -> Result<Option<TokenSet>> {
            self.0.token_set(account_id).await
        }
        async fn store_token_set(&self, account_id: &str, tokens: &TokenSet) -> Result<()> {
            if self.1.swap(false, std::sync::atomic::Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            self.0.store_token_set(account_id, tokens).await
        }
        async fn forget_token_set(&self, account_id: &str) -> Result<()> {
            self.0.forget_token_set(account_id).await
        }
    }

    fn keeper<V: TokenVault>(
        store: &DynamoStore,
        vault: V,
        app: XeroApp,
    ) -> TokenKeeper<DynamoStore, V, XeroIdentityClient> {
        TokenKeeper {
            connections: store.clone(),
            vault,
            identity: XeroIdentityClient::new(app, "app-secret".into()),
            lease: chrono::Duration::seconds(2),
            max_wait: Duration::from_secs(20),
            poll: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn a_crash_between_refresh_and_store_recovers_with_the_old_refresh_token_within_the_grace_window() {
        let (moto, store, _) = setup().await;
        let tenant = DoubleTenant::named("Customer Ltd");
        let identity = IdentityDouble::start(vec![tenant.clone()]).await;
        let api = XeroDouble::start(vec![]).await;
        let (account_id, secrets) = connected(&moto, &store, &identity, &tenant).await;
        let old = secrets.token_set(&account_id).await.unwrap().unwrap();

        let dying = keeper(&store, DiesBeforeStoring(secrets.clone(), Arc::new(true.into())), app(&identity, &api));
        let crashed = tokio::time::timeout(Duration::from_secs(3), dying.access_token(&account_id, None)).await;
        assert!(crashed.is_err(), "the first refresher died holding the lease");
        assert_eq!(identity.counts(|c| c.refresh_requests), 1, "Xero replaced the refresh token");
        assert_eq!(secrets.token_set(&account_id).await.unwrap().unwrap(), old, "nothing was stored");

        // The next instance waits out the dead one's lease, then refreshes with the old refresh
        // token, which Xero accepts again within its grace window.
        let next = keeper(&store, secrets.clone(), app(&identity, &api));
        let token = next.access_token(&account_id, None).await.expect("recovered");
        assert_eq!(identity.counts(|c| (c.refresh_requests, c.grace_refreshes, c.refused_refreshes)), (2, 1, 0));
        let stored = secrets.token_set(&account_id).await.unwrap().unwrap();
        assert_eq!(stored.access_token, token);
        assert_ne!(stored.refresh_token, old.refresh_token);

        // Past the grace window the replaced token is refused: only the stored one works.
        identity.set_grace(Duration::ZERO);
        let expired = TokenSet { access_expires_at: Utc::now() - chrono::Duration::minutes(1), ..stored };
        secrets.store_token_set(&account_id, &expired).await.unwrap();
        next.access_token(&account_id, None).await.expect("the stored refresh token is live");
        assert_eq!(identity.counts(|c| (c.refresh_requests, c.refused_refreshes)), (3, 0));
    }

    #[tokio::test]
    async fn a_lost_refresh_answer_is_retried_with_the_same_refresh_token() {
        let (moto, store, _) = setup().await;
        let tenant = DoubleTenant::named("Customer Ltd");
        let identity = IdentityDouble::start(vec![tenant.clone()]).await;
        let api = XeroDouble::start(vec![]).await;
        let (account_id, secrets) = connected(&moto, &store, &identity, &tenant).await;
        identity.lose_refresh_answers(1);
        let token =
            keeper(&store, secrets.clone(), app(&identity, &api)).access_token(&account_id, None).await.unwrap();
        assert_eq!(identity.counts(|c| (c.refresh_requests, c.grace_refreshes, c.refused_refreshes)), (2, 1, 0));
        assert_eq!(secrets.token_set(&account_id).await.unwrap().unwrap().access_token, token);
    }

    #[tokio::test]
    async fn invalid_grant_needs_reconnecting_fails_the_outcomes_and_completes_the_job() {
        let (moto, store, _) = setup().await;
        let tenant = DoubleTenant::named("Customer Ltd");
        let identity = IdentityDouble::start(vec![tenant.clone()]).await;
        let api = XeroDouble::start(vec![sales("x-1", "INV-000001", "AUTHORISED")]).await;
        let (account_id, secrets) = connected(&moto, &store, &identity, &tenant).await;
        // The customer removed the app in Xero: every refresh token is refused.
        identity.revoke_everything();
        let a = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
        let b = invoice(&store, &account_id, InvoiceStatus::Sent, "INV-000002", None).await;
        let draft = invoice(&store, &account_id, InvoiceStatus::InProgress, "", None).await;
        let job = job(&store, &account_id, 3).await;
        let worker = Worker {
            jobs: store.clone(),
            store: store.clone(),
            integrations: XeroClients::new(
                store.clone(),
                secrets.clone(),
                app(&identity, &api),
                Arc::new(invoicing_xero::InProcessBudget::default()),
            ),
            queue: RecordingQueue::default(),
            attempts: Attempts::default(),
        };
        let message = batch(&job, &account_id, &[&a.id, &b.id, &draft.id]);
        let response = worker.handle(event(vec![record("m1", &message, 1)]), roomy()).await;
        assert!(response.batch_item_failures.is_empty());
        assert!(worker.queue.take().is_empty(), "no retry: only the customer can fix it");

        let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(
            done.counts,
            Counts { total: 3, matched: 0, mismatched: 0, not_in_integration: 0, not_found: 0, skipped: 1, failed: 2 }
        );
        for id in [&a.id, &b.id] {
            let failed = outcome(&store, &account_id, &job, id).await;
            assert_eq!(failed["outcome"], "FAILED");
            assert_eq!(failed["reason"], "Xero connection needs reconnecting");
        }
        assert_eq!(identity.counts(|c| (c.refresh_requests, c.refused_refreshes)), (1, 1), "one refresh, no retries");
        assert!(api.calls().is_empty());
        let connection = store.oauth_connection(&account_id).await.unwrap().unwrap().value;
        assert_eq!(connection.status, ConnectionStatus::ReconnectRequired);
        assert!(connection.last_error.unwrap().contains("invalid_grant"));

        // A second job fails the same way without asking Xero again.
        let second = super::job(&store, &account_id, 1).await;
        let message = batch(&second, &account_id, &[&a.id]);
        worker.handle(event(vec![record("m2", &message, 1)]), roomy()).await;
        assert_eq!(store.get_job(&account_id, &second.id).await.unwrap().unwrap().counts.failed, 1);
        assert_eq!(identity.counts(|c| c.refresh_requests), 1);
    }
}
