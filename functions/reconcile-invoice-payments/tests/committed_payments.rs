//! A payment is recorded once, whatever fails around it (issue 9, case 2): the handler behind the
//! gateway, on moto_server through a DynamoDB double that loses answers and fails calls.

use chrono::{NaiveDate, Utc};
use invoicing_domain::{
    model::{
        invoice::{CreateInvoice, Invoice},
        lines::LineItemInput,
    },
    ports::{InvoiceStore, Unrecorded},
    service::{lifecycle, lines},
};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    dynamo_double::{DynamoDouble, Fault},
    MotoServer,
};
use reconcile_invoice_payments::{reconcile_invoice_payments, route};
use serde_json::json;

struct Fixture {
    _moto: MotoServer,
    double: DynamoDouble,
    api: TestApi<DynamoStore>,
    invoice_id: String,
}

impl Fixture {
    /// A FINAL USD invoice of 100.00 + 20 % tax.
    async fn new() -> Fixture {
        let moto = MotoServer::start();
        let double = DynamoDouble::new();
        let api = TestApi::on(moto.store_through(&double).await).await;
        let (store, account_id) = (&api.store, &api.account.account.id);
        let request: CreateInvoice = serde_json::from_value(json!({"currency": "USD", "customerId": "c"})).unwrap();
        let invoice = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, Utc::now());
        store.insert_invoice(&invoice, None, None).await.unwrap();
        let line: LineItemInput =
            serde_json::from_str(r#"{"title": "Widgets", "quantity": "4", "rate": "25", "taxRate": "0.2"}"#).unwrap();
        let line_id = uuid::Uuid::now_v7().to_string();
        lines::add_line_item(store, account_id, &invoice.id, line_id, line, Utc::now(), &Unrecorded).await.unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        lifecycle::finalize(store, account_id, &invoice.id, day, &Unrecorded).await.unwrap();
        Fixture { _moto: moto, double, api, invoice_id: invoice.id }
    }

    async fn reconcile(&self, key: &str) -> TestResponse {
        let body = json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-25T10:00:00Z"}}]);
        let request = self
            .api
            .request("POST", &format!("/invoice/{}/reconcile", self.invoice_id))
            .api_key(&self.api.account)
            .header("x-idempotency-key", key)
            .path("invoiceId", &self.invoice_id)
            .json(&body);
        self.api.call(&route(), request, reconcile_invoice_payments).await
    }

    async fn payments_stored(&self) -> usize {
        let stored = self.api.store.get_invoice(&self.api.account.account.id, &self.invoice_id).await.unwrap();
        stored.unwrap().value.payments.len()
    }
}

#[tokio::test]
async fn a_payment_whose_answer_was_lost_is_recorded_once_and_replayed() {
    let f = Fixture::new().await;
    f.double.inject("TransactWriteItems", Fault::LoseAnswer, 1);
    let first = f.reconcile("pay-once").await;
    assert_eq!(first.status, 200);
    let paid = first.json();
    assert_eq!(
        (paid["invoice"]["status"].as_str(), paid["invoice"]["collectedAmountCents"].as_i64()),
        (Some("paid"), Some(12000))
    );
    assert_eq!(f.payments_stored().await, 1);

    // The client did not hear back either, and retries: the answer recorded with the payment.
    let retry = f.reconcile("pay-once").await;
    assert_eq!((retry.status, retry.header("idempotent-replayed")), (200, Some("true")));
    assert_eq!(retry.json(), paid);
    assert_eq!(f.payments_stored().await, 1);
}

#[tokio::test]
async fn a_payment_that_failed_before_committing_runs_again_on_retry() {
    let f = Fixture::new().await;
    // DynamoDB fails the transaction on every one of the SDK's attempts: nothing is stored.
    f.double.inject("TransactWriteItems", Fault::Unavailable, 3);
    let failed = f.reconcile("pay-after-outage").await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()["identifier"], "InternalError");
    assert_eq!(f.payments_stored().await, 0);

    let retry = f.reconcile("pay-after-outage").await;
    assert_eq!((retry.status, retry.header("idempotent-replayed")), (200, None));
    assert_eq!(f.payments_stored().await, 1);
    let again = f.reconcile("pay-after-outage").await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(f.payments_stored().await, 1);
}

#[tokio::test]
async fn concurrent_conflicts_on_the_invoice_are_retried_and_the_payment_recorded_once() {
    let f = Fixture::new().await;
    f.double.inject("TransactWriteItems", Fault::TransactionConflict, 4);
    let response = f.reconcile("pay-under-conflict").await;
    assert_eq!(response.status, 200);
    assert_eq!(f.payments_stored().await, 1);
    assert_eq!(f.double.pending(), 0);
}
