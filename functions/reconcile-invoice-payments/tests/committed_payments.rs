//! A payment is recorded once, whatever fails around it (issue 9, case 2): the handler behind the
//! gateway, on moto_server through a DynamoDB double that loses answers and fails calls.

use chrono::{NaiveDate, Utc};
use invoicing_domain::{
    account::NewAccount,
    idempotency::Unrecorded,
    invoice::{CreateInvoice, Invoice},
    lifecycle,
    lines::{self, LineItemInput},
    ports::{AccountStore, InvoiceStore},
};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{Body, Gateway, Response};
use invoicing_test_support::{
    dynamo_double::{DynamoDouble, Fault},
    MotoServer,
};
use reconcile_invoice_payments::{reconcile_invoice_payments, route};
use serde_json::{json, Value};

struct Fixture {
    _moto: MotoServer,
    double: DynamoDouble,
    store: DynamoStore,
    account: NewAccount,
    invoice_id: String,
}

impl Fixture {
    /// A FINAL USD invoice of 100.00 + 20 % tax.
    async fn new() -> Fixture {
        let moto = MotoServer::start();
        let double = DynamoDouble::new();
        let store = moto.store_through(&double).await;
        let account = NewAccount::generate("Acme", Utc::now());
        store.create_account(&account).await.unwrap();
        let account_id = &account.account.id;
        let request: CreateInvoice = serde_json::from_value(json!({"currency": "USD", "customerId": "c"})).unwrap();
        let invoice = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, Utc::now());
        store.insert_invoice(&invoice, None).await.unwrap();
        let line: LineItemInput =
            serde_json::from_str(r#"{"title": "Widgets", "quantity": "4", "rate": "25", "taxRate": "0.2"}"#).unwrap();
        let line_id = uuid::Uuid::now_v7().to_string();
        lines::add_line_item(&store, account_id, &invoice.id, line_id, line, Utc::now(), &Unrecorded).await.unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        lifecycle::finalize(&store, account_id, &invoice.id, day, &Unrecorded).await.unwrap();
        Fixture { _moto: moto, double, store, account, invoice_id: invoice.id }
    }

    async fn reconcile(&self, key: &str) -> Response<Body> {
        let body = json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-25T10:00:00Z"}}]);
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!("/invoice/{}/reconcile", self.invoice_id))
            .header("x-api-key", &self.account.issued.api_key)
            .header("x-idempotency-key", key)
            .body(Body::Text(body.to_string()))
            .unwrap();
        let request = lambda_http::RequestExt::with_path_parameters(
            request,
            std::collections::HashMap::from([("invoiceId".to_string(), self.invoice_id.clone())]),
        );
        let gateway = Gateway::new(self.store.clone(), self.store.clone());
        gateway.serve(request, &route(), |c, r| reconcile_invoice_payments(&self.store, c, r)).await
    }

    async fn payments_stored(&self) -> usize {
        self.store.get_invoice(&self.account.account.id, &self.invoice_id).await.unwrap().unwrap().value.payments.len()
    }
}

fn json_body(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn a_payment_whose_answer_was_lost_is_recorded_once_and_replayed() {
    let f = Fixture::new().await;
    f.double.inject("TransactWriteItems", Fault::LoseAnswer, 1);
    let first = f.reconcile("pay-once").await;
    assert_eq!(first.status(), 200);
    let paid = json_body(&first);
    assert_eq!(
        (paid["invoice"]["status"].as_str(), paid["invoice"]["collectedAmountCents"].as_i64()),
        (Some("paid"), Some(12000))
    );
    assert_eq!(f.payments_stored().await, 1);

    // The client did not hear back either, and retries: the answer recorded with the payment.
    let retry = f.reconcile("pay-once").await;
    assert_eq!((retry.status().as_u16(), retry.headers()["idempotent-replayed"].to_str().unwrap()), (200, "true"));
    assert_eq!(json_body(&retry), paid);
    assert_eq!(f.payments_stored().await, 1);
}

#[tokio::test]
async fn a_payment_that_failed_before_committing_runs_again_on_retry() {
    let f = Fixture::new().await;
    // DynamoDB fails the transaction on every one of the SDK's attempts: nothing is stored.
    f.double.inject("TransactWriteItems", Fault::Unavailable, 3);
    let failed = f.reconcile("pay-after-outage").await;
    assert_eq!(failed.status(), 500);
    assert_eq!(json_body(&failed)["identifier"], "InternalError");
    assert_eq!(f.payments_stored().await, 0);

    let retry = f.reconcile("pay-after-outage").await;
    assert_eq!(retry.status(), 200);
    assert!(retry.headers().get("idempotent-replayed").is_none());
    assert_eq!(f.payments_stored().await, 1);
    let again = f.reconcile("pay-after-outage").await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(f.payments_stored().await, 1);
}

#[tokio::test]
async fn concurrent_conflicts_on_the_invoice_are_retried_and_the_payment_recorded_once() {
    let f = Fixture::new().await;
    f.double.inject("TransactWriteItems", Fault::TransactionConflict, 4);
    let response = f.reconcile("pay-under-conflict").await;
    assert_eq!(response.status(), 200);
    assert_eq!(f.payments_stored().await, 1);
    assert_eq!(f.double.pending(), 0);
}
