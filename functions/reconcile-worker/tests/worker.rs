//! The consumer in process: the DynamoDB adapter on moto_server, a Xero double (wiremock) for
//! faults and call counts, and a recording queue.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{SubsecRound, Utc};
use invoicing_domain::{
    model::account::NewAccount,
    model::idempotency::Receipt,
    model::invoice::{CreateInvoice, Invoice, InvoiceStatus, LinkedService},
    model::pagination::Page,
    model::reconcile::{Counts, IntegrationService, JobStatus, OutcomeKind, Property, ReconcileJob, ReconcileMessage},
    model::Versioned,
    ports::{AccountStore, InvoiceBatches, InvoiceQuery, InvoiceStore, ReconcileJobs, WorkQueue},
    Result,
};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::MotoServer;
use invoicing_xero::{RetryPolicy, XeroClient, XeroConnection};
use reconcile_worker::{Integrations, Worker};
use serde_json::{json, Value};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

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

struct FixedXero(Arc<XeroClient>);

impl Integrations for FixedXero {
    type Source = XeroClient;
    async fn xero_for(&self, _account_id: &str) -> Result<Option<Arc<XeroClient>>> {
        Ok(Some(Arc::clone(&self.0)))
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
    async fn insert_invoice(&self, invoice: &Invoice, receipt: Option<&Receipt>) -> Result<()> {
        self.inner.insert_invoice(invoice, receipt).await
    }
    async fn get_invoice(&self, a: &str, id: &str) -> Result<Option<Versioned<Invoice>>> {
        self.inner.get_invoice(a, id).await
    }
    async fn replace_invoice(&self, invoice: &Invoice, expected: u64, receipt: Option<&Receipt>) -> Result<()> {
        self.inner.replace_invoice(invoice, expected, receipt).await
    }
    async fn list_invoices(&self, a: &str, query: &InvoiceQuery) -> Result<Page<Invoice>> {
        self.inner.list_invoices(a, query).await
    }
}

/// Answers `GET Invoices` from a fixed list, honouring `IDs` and `InvoiceNumbers` (like Xero),
/// after failing the first calls with the given statuses.
struct XeroDouble {
    invoices: Vec<Value>,
    faults: Mutex<Vec<ResponseTemplate>>,
}

impl Respond for XeroDouble {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(fault) = self.faults.lock().unwrap().pop() {
            return fault;
        }
        let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        let wanted = |name: &str| {
            query.iter().find(|(k, _)| k == name).map(|(_, v)| v.split(',').map(String::from).collect::<Vec<_>>())
        };
        let (ids, numbers) = (wanted("IDs"), wanted("InvoiceNumbers"));
        let selected: Vec<&Value> = self
            .invoices
            .iter()
            .filter(|i| ids.as_ref().is_none_or(|ids| ids.iter().any(|id| i["InvoiceID"] == id.as_str())))
            .filter(|i| numbers.as_ref().is_none_or(|ns| ns.iter().any(|n| i["InvoiceNumber"] == n.as_str())))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"Invoices": selected}))
    }
}

async fn xero_double(invoices: Vec<Value>, faults: Vec<ResponseTemplate>) -> (MockServer, Arc<XeroClient>) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "t", "expires_in": 1800, "token_type": "Bearer"})),
        )
        .mount(&server)
        .await;
    let mut faults = faults;
    faults.reverse();
    Mock::given(method("GET"))
        .and(path("/api.xro/2.0/Invoices"))
        .respond_with(XeroDouble { invoices, faults: Mutex::new(faults) })
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    let client = XeroClient::with_policy(
        XeroConnection {
            client_id: "id".into(),
            client_secret: "secret".into(),
            tenant_id: Some("tenant-1".into()),
            api_base_url: server.uri(),
            token_url: format!("{}/connect/token", server.uri()),
        },
        policy,
    );
    (server, Arc::new(client))
}

fn xero_invoice(id: &str, number: &str, status: &str) -> Value {
    json!({"InvoiceID": id, "InvoiceNumber": number, "Status": status})
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
            external_id: id.into(),
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
    store.insert_invoice(&invoice, None).await.unwrap();
    invoice
}

async fn job(store: &DynamoStore, account_id: &str, total: u64) -> ReconcileJob {
    let job = ReconcileJob {
        id: uuid::Uuid::now_v7().to_string(),
        status: JobStatus::Queued,
        integration_service: IntegrationService::Xero,
        properties_to_compare: vec![Property::InvoiceNumber, Property::Status],
        counts: Counts { total, ..Counts::default() },
        created_at: Utc::now().trunc_subsecs(3),
        completed_at: None,
    };
    store.create_job(account_id, &job, false, None).await.unwrap();
    job
}

fn event(messages: &[(&str, Value)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (id, body) in messages {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.to_string());
        record.body = Some(if body.is_string() { body.as_str().unwrap().to_string() } else { body.to_string() });
        record.attributes.insert("ApproximateReceiveCount".into(), "1".into());
        event.records.push(record);
    }
    event
}

fn batch(job: &ReconcileJob, account_id: &str, ids: &[&str]) -> Value {
    json!({"kind": "invoices", "jobId": job.id, "accountId": account_id, "invoiceIds": ids})
}

async fn setup() -> (MotoServer, DynamoStore, String) {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account = NewAccount::generate("Acme", Utc::now());
    store.create_account(&account).await.unwrap();
    (moto, store, account.account.id)
}

#[tokio::test]
async fn faults_and_redelivery_still_give_exact_outcomes_and_counts() {
    let (_moto, store, account_id) = setup().await;
    let a = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    let b = invoice(&store, &account_id, InvoiceStatus::Sent, "INV-000002", None).await;
    let c = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000003", None).await;
    let (_server, client) = xero_double(
        vec![xero_invoice("x-a", "INV-000001", "AUTHORISED"), xero_invoice("x-b", "INV-000002", "VOIDED")],
        vec![
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .insert_header("X-Rate-Limit-Problem", "minute"),
            ResponseTemplate::new(500),
        ],
    )
    .await;
    let job = job(&store, &account_id, 4).await;
    let worker = Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: FixedXero(Arc::clone(&client)),
        queue: RecordingQueue::default(),
        max_receive_count: 5,
    };
    let first = batch(&job, &account_id, &[&a.id, &b.id]);
    let second = batch(&job, &account_id, &[&c.id, "01a21186-0000-7000-8000-00000000dead"]);

    // The first message, delivered twice (SQS is at-least-once), then the second.
    for _ in 0..2 {
        let response = worker.handle(event(&[("m1", first.clone())])).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let running = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!((running.status, running.counts.matched, running.counts.mismatched), (JobStatus::Running, 1, 1));
    let response = worker.handle(event(&[("m2", second)])).await;
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

    let results = store.list_outcomes(&account_id, &job.id, None, 10, None).await.unwrap().items;
    let outcome_of = |id: &str| results.iter().find(|o| o.invoice_id == id).unwrap().clone();
    assert_eq!(outcome_of(&a.id).outcome, OutcomeKind::Matched);
    let mismatched = outcome_of(&b.id);
    assert_eq!(mismatched.outcome, OutcomeKind::Mismatched);
    assert_eq!(
        serde_json::to_value(&mismatched.differences).unwrap(),
        json!([{"property": "STATUS", "sequenceValue": "SENT", "integrationValue": "VOIDED"}])
    );
    assert_eq!(outcome_of(&c.id).outcome, OutcomeKind::NotInIntegration);
    assert_eq!(outcome_of("01a21186-0000-7000-8000-00000000dead").outcome, OutcomeKind::NotFound);
    let mismatched_only =
        store.list_outcomes(&account_id, &job.id, Some(OutcomeKind::Mismatched), 10, None).await.unwrap();
    assert_eq!(mismatched_only.items, vec![mismatched]);

    // Found by number, the invoices are now linked to their Xero ids.
    let linked = store.get_invoice(&account_id, &a.id).await.unwrap().unwrap().value;
    assert_eq!(linked.linked_services[0].external_id, "x-a");
    assert_eq!(linked.linked_services[0].external_service, "Xero");
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
        xero.push(xero_invoice(&xero_id, &number, "AUTHORISED"));
    }
    store.import_invoices(&invoices).await.unwrap();
    let (_server, client) = xero_double(xero, vec![]).await;
    let job = job(&store, &account_id, 1000).await;
    let invoices = CountingInvoices { inner: store.clone(), batch_sizes: Mutex::new(Vec::new()) };
    let worker = Worker {
        jobs: store.clone(),
        store: invoices,
        integrations: FixedXero(Arc::clone(&client)),
        queue: RecordingQueue::default(),
        max_receive_count: 5,
    };
    let messages: Vec<(String, Value)> = invoicing_domain::model::reconcile::batch_messages(&job.id, &account_id, &ids)
        .into_iter()
        .enumerate()
        .map(|(i, m)| (format!("m{i}"), serde_json::to_value(m).unwrap()))
        .collect();
    assert_eq!(messages.len(), 10);
    let refs: Vec<(&str, Value)> = messages.iter().map(|(id, body)| (id.as_str(), body.clone())).collect();
    let response = worker.handle(event(&refs)).await;
    assert!(response.batch_item_failures.is_empty());

    let calls = client.calls();
    assert_eq!((calls.api_calls, calls.token_calls), (10, 1));
    let batch_sizes = worker.store.batch_sizes.lock().unwrap().clone();
    assert_eq!(batch_sizes.len(), 10);
    assert!(batch_sizes.iter().all(|&size| size == 100));
    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.matched, done.counts.total), (JobStatus::Completed, 1000, 1000));
}

#[tokio::test]
async fn rate_limits_requeue_with_a_delay_and_unparseable_messages_fail_alone() {
    let (_moto, store, account_id) = setup().await;
    let a = invoice(&store, &account_id, InvoiceStatus::Final, "INV-000001", None).await;
    let (_server, client) = xero_double(
        vec![],
        vec![ResponseTemplate::new(429)
            .insert_header("Retry-After", "120")
            .insert_header("X-Rate-Limit-Problem", "daily")],
    )
    .await;
    let job = job(&store, &account_id, 1).await;
    let worker = Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: FixedXero(client),
        queue: RecordingQueue::default(),
        max_receive_count: 5,
    };
    let good = batch(&job, &account_id, &[&a.id]);
    let response = worker.handle(event(&[("bad", json!("not json")), ("good", good.clone())])).await;
    let failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["bad"]);
    // The rate-limited batch is not failed: it is queued again, to come back after Retry-After.
    let sent = worker.queue.sent.lock().unwrap().clone();
    assert_eq!(sent, vec![(serde_json::from_value(good).unwrap(), Duration::from_secs(120))]);
    let waiting = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    assert_eq!((waiting.status, waiting.counts.processed()), (JobStatus::Running, 0));
}

#[tokio::test]
async fn an_empty_id_list_expands_to_every_final_sent_and_voided_invoice() {
    let (_moto, store, account_id) = setup().await;
    let mut reconcilable = Vec::new();
    for (n, status) in
        [InvoiceStatus::Final, InvoiceStatus::Sent, InvoiceStatus::Voided, InvoiceStatus::Draft].into_iter().enumerate()
    {
        let invoice = invoice(&store, &account_id, status, &format!("INV-{n:06}"), None).await;
        if status != InvoiceStatus::Draft {
            reconcilable.push(invoice.id);
        }
    }
    let (_server, client) = xero_double(vec![], vec![]).await;
    let job = ReconcileJob { counts: Counts::default(), ..job(&store, &account_id, 0).await };
    // A job to expand starts with no total and its expansion pending.
    let expanding = ReconcileJob { id: uuid::Uuid::now_v7().to_string(), ..job };
    store.create_job(&account_id, &expanding, true, None).await.unwrap();
    let worker = Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: FixedXero(client),
        queue: RecordingQueue::default(),
        max_receive_count: 5,
    };
    let expand = json!({"kind": "expand", "jobId": expanding.id, "accountId": account_id, "after": null});
    assert!(worker.handle(event(&[("e", expand.clone())])).await.batch_item_failures.is_empty());
    // Redelivered: the page is counted once.
    assert!(worker.handle(event(&[("e", expand)])).await.batch_item_failures.is_empty());
    let queued: Vec<ReconcileMessage> = worker.queue.sent.lock().unwrap().iter().map(|(m, _)| m.clone()).collect();
    let ReconcileMessage::Invoices { invoice_ids, .. } = &queued[0] else { panic!("a batch first") };
    assert_eq!(invoice_ids, &reconcilable);
    let after_expansion = store.get_job(&account_id, &expanding.id).await.unwrap().unwrap();
    assert_eq!(after_expansion.counts.total, 3);

    let body = serde_json::to_value(&queued[0]).unwrap();
    assert!(worker.handle(event(&[("b", body)])).await.batch_item_failures.is_empty());
    let done = store.get_job(&account_id, &expanding.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.not_in_integration, done.counts.total), (JobStatus::Completed, 3, 3));
}
