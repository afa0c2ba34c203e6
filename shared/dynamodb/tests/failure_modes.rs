//! DynamoDB's failure modes that moto never shows, injected by a double in front of moto_server
//! (`invoicing_test_support::dynamo_double`): transaction conflicts of both kinds, throttling,
//! lost answers (with `ClientRequestToken` idempotency) and the 400 KB item limit.

use chrono::{NaiveDate, SubsecRound, Utc};
use invoicing_domain::{
    model::{
        account::NewAccount,
        idempotency::{self, Claim},
        invoice::{CreateInvoice, Invoice},
        lines::LineItemInput,
        payments::{self, TransactionInput},
        reconcile::{Counts, IntegrationService, JobStatus, Property, ReconcileJob},
    },
    ports::{AccountStore, IdempotencyStore, InvoiceStore, ReconcileJobs, Unrecorded},
    service::{concurrency::retry_on_contention, lifecycle, lines, payments as slash},
    ErrorKind,
};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::{
    dynamo_double::{DynamoDouble, Fault},
    webhooks::outbox_events,
    MotoServer,
};
use serde_json::json;

struct Fixture {
    _moto: MotoServer,
    double: DynamoDouble,
    store: DynamoStore,
    account_id: String,
}

async fn fixture() -> Fixture {
    let moto = MotoServer::start();
    let double = DynamoDouble::new();
    let store = moto.store_through(&double).await;
    let account = NewAccount::generate("Acme", Utc::now());
    store.create_account(&account).await.unwrap();
    Fixture { _moto: moto, double, store, account_id: account.account.id }
}

impl Fixture {
    async fn draft(&self, body: serde_json::Value) -> Invoice {
        let request: CreateInvoice = serde_json::from_value(body).unwrap();
        let invoice = Invoice::new_draft(
            uuid::Uuid::now_v7().to_string(),
            &self.account_id,
            request,
            Utc::now().trunc_subsecs(3),
        );
        self.store.insert_invoice(&invoice, None, None).await.unwrap();
        invoice
    }

    async fn add_line(&self, invoice: &Invoice, rate: &str) {
        let line: LineItemInput =
            serde_json::from_value(json!({"title": "Widget", "quantity": "1", "rate": rate, "taxRate": "0"})).unwrap();
        let id = uuid::Uuid::now_v7().to_string();
        lines::add_line_item(&self.store, &self.account_id, &invoice.id, id, line, Utc::now(), &Unrecorded)
            .await
            .unwrap();
    }

    async fn finalized(&self) -> Invoice {
        let invoice = self.draft(json!({"currency": "USD", "customerId": "c"})).await;
        self.add_line(&invoice, "100").await;
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        lifecycle::finalize(&self.store, &self.account_id, &invoice.id, day, &Unrecorded).await.unwrap()
    }

    async fn pay(
        &self,
        invoice_id: &str,
        amount_cents: i64,
        config: serde_json::Value,
    ) -> Result<(), invoicing_domain::Error> {
        let transactions: Vec<TransactionInput> = serde_json::from_value(json!([{
            "transactionType": "external",
            "transaction": {"paymentMethod": {"method": "card", "config": config}, "paidAt": "2026-11-25T10:00:00Z",
                            "amountCents": amount_cents}
        }]))
        .unwrap();
        slash::change_payments_and_show(
            &self.store,
            &self.account_id,
            invoice_id,
            transactions,
            Utc::now(),
            Invoice::record_payments,
            &Unrecorded,
        )
        .await
        .map(drop)
    }

    async fn stored(&self, invoice_id: &str) -> invoicing_domain::model::Versioned<Invoice> {
        self.store.get_invoice(&self.account_id, invoice_id).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn transaction_conflicts_are_retried_like_lost_races() {
    let f = fixture().await;
    let invoice = f.draft(json!({"currency": "GBP", "customerId": "c"})).await;
    // Three times in a row another transaction holds the invoice: the change is tried again from
    // a fresh read each time, and commits once.
    f.double.inject("TransactWriteItems", Fault::TransactionConflict, 3);
    let before = f.double.calls("TransactWriteItems");
    f.add_line(&invoice, "20000.10").await;
    assert_eq!(f.double.calls("TransactWriteItems") - before, 4);
    let stored = f.stored(&invoice.id).await;
    assert_eq!(
        (stored.version, stored.value.net_total.to_string(), stored.value.line_count),
        (2, "20000.10".into(), 1)
    );

    // DynamoDB is still applying a transaction with our token: asked again with the same token.
    f.double.inject("TransactWriteItems", Fault::InProgress, 2);
    f.add_line(&invoice, "0.90").await;
    assert_eq!(f.stored(&invoice.id).await.value.net_total.to_string(), "20001.00");

    // Throttling cancels a transaction the same way.
    f.double.inject("TransactWriteItems", Fault::Throttled, 2);
    f.add_line(&invoice, "1").await;
    assert_eq!(f.stored(&invoice.id).await.value.net_total.to_string(), "20002.00");
    assert_eq!(f.double.pending(), 0);
}

#[tokio::test]
async fn single_item_transaction_conflicts_are_contention() {
    let f = fixture().await;
    // The idempotency claim (PutItem) met a transaction holding the record: it claims again.
    f.double.inject("PutItem", Fault::TransactionConflictException, 2);
    let fp = idempotency::fingerprint("POST", "/invoices", b"{}");
    assert!(matches!(f.store.claim(&f.account_id, "k", &fp, Utc::now()).await.unwrap(), Claim::Acquired(_)));

    // A job's status update (UpdateItem) is contention, retried from a fresh read.
    let job = ReconcileJob {
        id: uuid::Uuid::now_v7().to_string(),
        status: JobStatus::Queued,
        integration_service: IntegrationService::Xero,
        properties_to_compare: vec![Property::Status],
        counts: Counts::default(),
        created_at: Utc::now().trunc_subsecs(3),
        completed_at: None,
        xero_calls: 0,
    };
    f.store.create_job(&f.account_id, &job, false, None).await.unwrap();
    f.double.inject("UpdateItem", Fault::TransactionConflictException, 1);
    let error = f.store.mark_running(&f.account_id, &job.id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Contended);
    f.double.inject("UpdateItem", Fault::TransactionConflictException, 2);
    retry_on_contention(|| f.store.mark_running(&f.account_id, &job.id)).await.unwrap();
    assert_eq!(f.store.get_job(&f.account_id, &job.id).await.unwrap().unwrap().status, JobStatus::Running);
}

#[tokio::test]
async fn a_transaction_whose_answer_was_lost_is_applied_once() {
    let f = fixture().await;
    let invoice = f.finalized().await;
    let version = f.stored(&invoice.id).await.version;
    // The payment commits, its answer is lost, the SDK sends the same transaction again: the
    // ClientRequestToken makes DynamoDB answer with the first success instead of applying it twice
    // (without it, the retry would fail its version condition and the payment be recorded again).
    f.double.inject("TransactWriteItems", Fault::LoseAnswer, 1);
    let before = f.double.calls("TransactWriteItems");
    f.pay(&invoice.id, 2_500, json!({})).await.unwrap();
    assert_eq!(f.double.calls("TransactWriteItems") - before, 2, "the SDK retried the lost answer");
    let stored = f.stored(&invoice.id).await;
    assert_eq!(
        (stored.value.payments.len(), stored.value.collected_amount_cents(), stored.version),
        (1, Some(2_500), version + 1)
    );
}

#[tokio::test]
async fn a_change_recorded_with_its_answer_is_found_recorded_after_a_lost_answer() {
    let f = fixture().await;
    let invoice = f.finalized().await;
    let fp = idempotency::fingerprint("POST", "/x", b"[]");
    let Claim::Acquired(claim) = f.store.claim(&f.account_id, "pay-once", &fp, Utc::now()).await.unwrap() else {
        panic!("a new key is acquired")
    };
    let receipt = idempotency::Receipt {
        claim: claim.clone(),
        response: idempotency::StoredResponse { status: 200, body: "{}".into(), headers: vec![], version: None },
    };
    let mut paid = f.stored(&invoice.id).await;
    let requests = payments::validate(
        serde_json::from_value(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "x", "paidAt": "2026-11-25T10:00:00Z", "amountCents": 1}}]))
        .unwrap(),
    )
    .unwrap();
    paid.value.record_payments(&requests, Utc::now()).unwrap();
    // The answer is lost; the SDK's repeat is answered with the first success, and the answer is
    // recorded with the change: a retry of the request replays it.
    f.double.inject("TransactWriteItems", Fault::LoseAnswer, 1);
    f.store.replace_invoice(&paid.value, paid.version, None, Some(&receipt)).await.unwrap();
    assert_eq!(f.stored(&invoice.id).await.value.payments.len(), 1);
    assert_eq!(
        f.store.claim(&f.account_id, "pay-once", &fp, Utc::now()).await.unwrap(),
        Claim::Replay(receipt.response)
    );
}

#[tokio::test]
async fn items_over_400_kb_are_refused_as_bad_requests_and_change_nothing() {
    let f = fixture().await;
    // An invoice near the limit: every text field at its maximum, in 3-byte characters.
    let wide = |n: usize| "€".repeat(n);
    let address = json!({"line1": wide(1000), "line2": wide(1000), "town": wide(1000), "state": wide(1000),
                         "postcode": wide(1000), "country": wide(1000)});
    let metadata: Vec<_> =
        (0..100).map(|i| json!({"key": format!("{i:02}{}", wide(98)), "value": wide(250)})).collect();
    let emails: Vec<_> = (0..100).map(|i| format!("{i:03}{}@example.test", "a".repeat(238))).collect();
    let invoice = f
        .draft(json!({"currency": "USD", "customerId": wide(1000), "memo": wide(10_000),
                      "customerBillingAddress": address, "customerShippingAddress": address, "metadata": metadata,
                      "customerEmails": emails, "customerLegalCompanyName": wide(1000), "reference": wide(1000),
                      "purchaseOrderNumber": wide(1000), "billingScheduleId": wide(1000), "billingRunId": wide(1000),
                      "creditBalances": wide(1000)}))
        .await;
    f.add_line(&invoice, "1000000").await;
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    lifecycle::finalize(&f.store, &f.account_id, &invoice.id, day, &Unrecorded).await.unwrap();
    let config = json!({"note": "x".repeat(2_000)});
    let mut recorded = 0;
    let error = loop {
        match f.pay(&invoice.id, 1, config.clone()).await {
            Ok(()) => recorded += 1,
            Err(error) => break error,
        }
    };
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert!(
        error.public_message().starts_with(&format!("invoice {} would take ", invoice.id))
            && error
                .public_message()
                .ends_with("bytes; a stored item may take at most 400000 bytes (DynamoDB's 400 KB)"),
        "{}",
        error.public_message()
    );
    assert!(recorded > 0 && recorded < payments::MAX_PAYMENTS_PER_INVOICE, "{recorded} payments fitted");
    assert_eq!(f.stored(&invoice.id).await.value.payments.len(), recorded);

    // Should DynamoDB itself refuse an item for its size, the answer is the same kind.
    f.double.inject("TransactWriteItems", Fault::ItemTooLarge, 1);
    let error = f.pay(&invoice.id, 1, json!({})).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert_eq!(f.stored(&invoice.id).await.value.payments.len(), recorded);
}

#[tokio::test]
async fn filtered_lists_read_what_they_answer_and_bounded_pages_still_give_a_cursor() {
    use invoicing_domain::{model::invoice::InvoiceStatus, model::pagination::DEFAULT_LIMIT, ports::InvoiceQuery};
    let f = fixture().await;
    let invoice = |customer: &str, status: InvoiceStatus| {
        let request: CreateInvoice =
            serde_json::from_value(json!({"currency": "EUR", "customerId": customer})).unwrap();
        let mut invoice =
            Invoice::new_draft(uuid::Uuid::now_v7().to_string(), &f.account_id, request, Utc::now().trunc_subsecs(3));
        invoice.status = status;
        invoice
    };
    // 1,200 drafts of a big customer, then one FINAL invoice of it, and 3 drafts of a small one.
    let mut invoices: Vec<Invoice> = (0..1_200).map(|_| invoice("big", InvoiceStatus::Draft)).collect();
    invoices.push(invoice("big", InvoiceStatus::Final));
    invoices.extend((0..3).map(|_| invoice("small", InvoiceStatus::Draft)));
    f.store.import_invoices(&invoices).await.unwrap();
    let final_id = invoices[1_200].id.clone();

    let list = |customer: Option<&str>, status: Option<InvoiceStatus>, after: Option<String>| InvoiceQuery {
        status,
        customer_id: customer.map(String::from),
        limit: DEFAULT_LIMIT,
        after,
    };
    let queries = || f.double.calls("Query");

    // One customer's invoices: one query of the customer index, whatever the account holds.
    let before = queries();
    let small = f.store.list_invoices(&f.account_id, &list(Some("small"), None, None)).await.unwrap();
    assert_eq!((small.items.len(), small.after, queries() - before), (3, None, 1));
    let before = queries();
    let nobody = f.store.list_invoices(&f.account_id, &list(Some("nobody"), None, None)).await.unwrap();
    assert_eq!((nobody.items.len(), nobody.after, queries() - before), (0, None, 1));
    // One status: the status index, exact.
    let before = queries();
    let finals = f.store.list_invoices(&f.account_id, &list(None, Some(InvoiceStatus::Final), None)).await.unwrap();
    assert_eq!(finals.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), vec![final_id.clone()]);
    assert_eq!(queries() - before, 1);

    // Both filters: the customer index filtered by status reads at most 1,000 items per page; the
    // first page ends empty with a cursor, the next one finds the FINAL invoice.
    let first =
        f.store.list_invoices(&f.account_id, &list(Some("big"), Some(InvoiceStatus::Final), None)).await.unwrap();
    assert!(first.items.is_empty());
    let cursor = first.after.expect("a cursor where the page stopped");
    let second = f
        .store
        .list_invoices(&f.account_id, &list(Some("big"), Some(InvoiceStatus::Final), Some(cursor)))
        .await
        .unwrap();
    assert_eq!(second.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), vec![final_id]);
    assert_eq!(second.after, None);
}

#[tokio::test]
async fn a_retried_or_repeated_transaction_puts_its_event_in_the_outbox_once() {
    use invoicing_domain::model::webhooks::EventType;
    let f = fixture().await;
    let invoice = f.finalized().await;
    // A conflict cancels the payment's transaction, event included; the retry from a fresh read commits both.
    f.double.inject("TransactWriteItems", Fault::TransactionConflict, 1);
    f.pay(&invoice.id, 2_500, json!({})).await.unwrap();
    // The whole rest, committed but its answer lost: the SDK's retry is answered by DynamoDB as the
    // success it was (ClientRequestToken), so neither the payment nor its event is written twice.
    f.double.inject("TransactWriteItems", Fault::LoseAnswer, 1);
    let rest: Vec<TransactionInput> = serde_json::from_value(json!([{"transactionType": "external",
        "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-25T11:00:00Z", "amountCents": 7_500}}]))
    .unwrap();
    slash::change_payments_and_show(
        &f.store,
        &f.account_id,
        &invoice.id,
        rest,
        Utc::now(),
        Invoice::record_payments,
        &Unrecorded,
    )
    .await
    .unwrap();
    let events = outbox_events(&f.store, &f.account_id).await;
    let kinds: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        [EventType::InvoiceFinalized, EventType::InvoicePaymentStatusChanged, EventType::InvoicePaymentStatusChanged]
    );
    let statuses: Vec<serde_json::Value> = events[1..]
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.body).unwrap()["data"]["invoice"]["paymentStatus"].clone()
        })
        .collect();
    assert_eq!(statuses, [json!("PARTIALLY_PAID"), json!("PAID")]);
    assert_eq!(f.stored(&invoice.id).await.value.payments.len(), 2);
}
