//! All-invoices reconcile at scale (`make bench`; not part of `make test`): for each N, N FINAL
//! invoices are loaded into a local table (moto_server, batch writes), a Xero double holds N sales
//! invoices with Xero's real page sizes (100 by default, 1,000 with `pageSize`), and the worker
//! runs the job to COMPLETED, messages delivered ten at a time as Lambda's SQS poller does. Printed
//! per N: wall time, Xero calls next to the minimum possible (ceil(N/1000)) and to what looking the
//! invoices up by number would cost (ceil(N/100)), the share of the daily budget (5,000), and the
//! DynamoDB reads. Exact counts are checked, so a wrong result cannot print a figure.
//!
//! `RECONCILE_BENCH_SIZES=100,1000` picks the sizes (default 100,1000,10000,100000).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{SubsecRound, Utc};
use futures::future::join_all;
use invoicing_domain::{
    model::account::NewAccount,
    model::invoice::{CreateInvoice, Invoice, InvoiceStatus},
    model::reconcile::{Counts, IntegrationService, JobStatus, Property, ReconcileJob, ReconcileMessage, Work},
    ports::{AccountStore, ReconcileJobs, WorkQueue},
    Result,
};
use invoicing_test_support::{
    dynamo_double::DynamoDouble,
    xero_double::{xero_invoice, XeroDouble},
    MotoServer,
};
use invoicing_xero::{XeroClient, XeroConnection};
use reconcile_worker::{Attempts, Integrations, Worker, XeroAccess};
use serde_json::json;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Default)]
struct Queue(Mutex<Vec<ReconcileMessage>>);

impl WorkQueue for Queue {
    async fn enqueue(&self, messages: &[ReconcileMessage], _delay: Duration) -> Result<()> {
        self.0.lock().unwrap().extend_from_slice(messages);
        Ok(())
    }
}

struct OneXero(Arc<XeroClient>);

impl Integrations for OneXero {
    type Source = XeroClient;
    async fn xero_for(&self, _: &str) -> Result<XeroAccess<XeroClient>> {
        Ok(XeroAccess::Client(Arc::clone(&self.0)))
    }
}

fn invoice(account_id: &str, n: usize) -> Invoice {
    let request: CreateInvoice = serde_json::from_value(json!({
        "currency": "GBP", "customerId": format!("customer-{}", n % 50), "customerLegalCompanyName": "Customer Ltd",
        "customerEmails": ["ap@customer.test"], "dueDate": "2026-12-31",
    }))
    .expect("an invoice");
    let mut invoice =
        Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, Utc::now().trunc_subsecs(3));
    invoice.status = InvoiceStatus::Final;
    invoice.invoice_number = Some(format!("INV-{n:07}"));
    invoice
}

struct Figures {
    n: usize,
    load: Duration,
    reconcile: Duration,
    xero_calls: u64,
    messages: usize,
    read_requests: usize,
    /// GetItem and BatchGetItem, measured from the items returned.
    item_read_units: f64,
    /// Queries, estimated: the items they evaluated at the size of an invoice, eventually consistent.
    query_read_units: f64,
}

async fn run(n: usize) -> Figures {
    let moto = MotoServer::start();
    let reads = DynamoDouble::new();
    let store = moto.store_through(&reads).await;
    let account = NewAccount::generate("Bench Ltd", Utc::now());
    store.create_account(&account).await.expect("account");
    let account_id = account.account.id.clone();

    let started = Instant::now();
    let ours: Vec<Invoice> = (1..=n).map(|i| invoice(&account_id, i)).collect();
    for chunk in ours.chunks(5_000) {
        store.import_invoices(chunk).await.expect("batch writes");
    }
    let load = started.elapsed();
    // One in a hundred is VOIDED in Xero (MISMATCHED); the rest agree.
    let xero = (1..=n)
        .map(|i| {
            let status = if i % 100 == 0 { "VOIDED" } else { "AUTHORISED" };
            xero_invoice(&format!("x-{i}"), &format!("INV-{i:07}"), status, "ACCREC")
        })
        .collect();
    let double = XeroDouble::start(xero).await;
    let client = Arc::new(XeroClient::new(XeroConnection {
        client_id: "bench".into(),
        client_secret: "secret".into(),
        tenant_id: Some("tenant".into()),
        api_base_url: double.uri(),
        token_url: double.token_url(),
    }));
    let job = ReconcileJob {
        id: uuid::Uuid::now_v7().to_string(),
        status: JobStatus::Queued,
        integration_service: IntegrationService::Xero,
        properties_to_compare: vec![Property::InvoiceNumber, Property::Status],
        counts: Counts::default(),
        created_at: Utc::now().trunc_subsecs(3),
        completed_at: None,
        xero_calls: 0,
    };
    store.create_job(&account_id, &job, true, None).await.expect("job");
    let worker = Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: OneXero(client),
        queue: Queue::default(),
        attempts: Attempts::default(),
    };
    worker
        .queue
        .enqueue(&[ReconcileMessage::new(&job.id, &account_id, Work::XeroPage { page: 1 })], Duration::ZERO)
        .await
        .unwrap();
    let (requests_before, reads_before) = (read_requests(&reads), reads.reads());
    let invoice_bytes = serde_json::to_string(&ours[0]).unwrap().len() as f64;

    let started = Instant::now();
    let mut messages = 0;
    loop {
        let pending = std::mem::take(&mut *worker.queue.0.lock().unwrap());
        if pending.is_empty() {
            break;
        }
        // Batches of ten per invocation, four invocations at a time.
        for wave in pending.chunks(40) {
            let invocations = wave.chunks(10).map(|batch| {
                let mut event = SqsEvent::default();
                for (i, message) in batch.iter().enumerate() {
                    let mut record = SqsMessage::default();
                    record.message_id = Some(format!("m{messages}-{i}"));
                    record.body = Some(serde_json::to_string(message).unwrap());
                    record.attributes.insert("ApproximateReceiveCount".into(), "1".into());
                    event.records.push(record);
                }
                worker.handle(event, tokio::time::Instant::now() + Duration::from_secs(900))
            });
            for response in join_all(invocations).await {
                assert!(response.batch_item_failures.is_empty());
            }
            messages += wave.len();
        }
    }
    let reconcile = started.elapsed();
    let done = store.get_job(&account_id, &job.id).await.unwrap().unwrap();
    let voided = (n / 100) as u64;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        done.counts,
        Counts { total: n as u64, matched: n as u64 - voided, mismatched: voided, ..Counts::default() },
        "exact counts"
    );
    let after = reads.reads();
    let scanned = (after.query_scanned - reads_before.query_scanned) as f64;
    Figures {
        n,
        load,
        reconcile,
        xero_calls: done.xero_calls,
        messages,
        read_requests: read_requests(&reads) - requests_before,
        item_read_units: after.item_read_units - reads_before.item_read_units,
        query_read_units: (scanned * invoice_bytes / 4096.0).ceil() * 0.5,
    }
}

fn read_requests(double: &DynamoDouble) -> usize {
    ["GetItem", "BatchGetItem", "Query"].iter().map(|op| double.calls(op)).sum()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("RECONCILE_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    println!(
        "{:>8} {:>8} {:>11} {:>10} {:>8} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "N",
        "load s",
        "reconcile s",
        "Xero calls",
        "minimum",
        "by number",
        "day budget",
        "messages",
        "read reqs",
        "item RCU",
        "query RCU"
    );
    for n in sizes {
        let f = runtime.block_on(run(n));
        println!(
            "{:>8} {:>8.1} {:>11.1} {:>10} {:>8} {:>10} {:>9.2}% {:>9} {:>10} {:>10.0} {:>10.0}",
            f.n,
            f.load.as_secs_f64(),
            f.reconcile.as_secs_f64(),
            f.xero_calls,
            f.n.div_ceil(1000),
            f.n.div_ceil(100),
            f.xero_calls as f64 * 100.0 / 5000.0,
            f.messages,
            f.read_requests,
            f.item_read_units,
            f.query_read_units,
        );
    }
}
