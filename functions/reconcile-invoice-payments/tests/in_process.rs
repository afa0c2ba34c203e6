//! Slash's reconcile and unreconcile in process: the handlers behind the shared gateway with
//! in-memory stores. Exact aggregate bodies, Slash error bodies, restored figures.

use chrono::{NaiveDate, Utc};
use get_invoice_aggregate::get_invoice_aggregate;
use invoicing_domain::{
    memory::InMemoryStore,
    model::{
        account::{NewAccount, ReceivingAccount},
        invoice::{CreateInvoice, Invoice},
        lines::LineItemInput,
    },
    ports::{AccountStore, InvoiceStore, Unrecorded},
    service::{lifecycle, lines},
    views::SequenceView,
};
use invoicing_test_support::api::{TestApi, TestRequest, TestResponse};
use reconcile_invoice_payments::reconcile_invoice_payments;
use serde_json::{json, Value};
use unreconcile_invoice_payments::unreconcile_invoice_payments;

struct Fixture {
    api: TestApi<InMemoryStore>,
    invoice_id: String,
}

impl Fixture {
    /// A FINAL USD invoice of 100.00 + 20 % tax = 120.00, due 2999-01-01.
    async fn new() -> Fixture {
        let api = TestApi::in_memory().await;
        let (store, account_id) = (&api.store, &api.account.account.id);
        store
            .set_receiving_account(
                account_id,
                &ReceivingAccount {
                    id: "ra_1".into(),
                    name: "Operating".into(),
                    slash_account_group_id: "sag_1".into(),
                    account_type: "default".into(),
                    account_number: "000123456789".into(),
                    routing_number: "021000021".into(),
                },
            )
            .await
            .unwrap();
        let request: CreateInvoice = serde_json::from_value(json!({
            "currency": "USD", "customerId": "cust-1", "customerLegalCompanyName": "Globex",
            "customerEmails": ["ap@globex.test", "cfo@globex.test"], "dueDate": "2999-01-01", "memo": "Thanks",
            "paymentOptions": ["BANK_TRANSFER"], "customerBillingAddress": {"line1": "1 Main St", "town": "Springfield",
            "state": "IL", "postcode": "62701", "country": "US"}
        }))
        .unwrap();
        let invoice =
            Invoice::new_draft("01a21186-0000-7000-8000-00000000abcd".into(), account_id, request, Utc::now());
        store.insert_invoice(&invoice, None, None).await.unwrap();
        let line: LineItemInput =
            serde_json::from_str(r#"{"title": "Widgets", "quantity": "4", "rate": "25", "taxRate": "0.2"}"#).unwrap();
        lines::add_line_item(
            store,
            account_id,
            &invoice.id,
            "01a21186-0000-7000-8000-0000000000a1".into(),
            line,
            Utc::now(),
            &Unrecorded,
        )
        .await
        .unwrap();
        lifecycle::finalize(
            store,
            account_id,
            &invoice.id,
            NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            &Unrecorded,
        )
        .await
        .unwrap();
        Fixture { api, invoice_id: invoice.id }
    }

    /// Slash's reconcile, unreconcile (`action`) or aggregate (`""`), with `account`'s API key.
    async fn call(&self, action: &str, body: Value, account: &NewAccount) -> TestResponse {
        let api = &self.api;
        let id = &self.invoice_id;
        let request =
            |method: &str, path: String| TestRequest::new(method, &path).api_key(account).path("invoiceId", id);
        match action {
            "reconcile" => {
                let request = request("POST", format!("/invoice/{id}/reconcile")).json(&body);
                api.call(&reconcile_invoice_payments::route(), request, reconcile_invoice_payments).await
            }
            "unreconcile" => {
                let request = request("POST", format!("/invoice/{id}/unreconcile")).json(&body);
                api.call(&unreconcile_invoice_payments::route(), request, unreconcile_invoice_payments).await
            }
            _ => {
                api.call(
                    &get_invoice_aggregate::route(),
                    request("GET", format!("/invoice/{id}")),
                    get_invoice_aggregate,
                )
                .await
            }
        }
    }

    async fn as_owner(&self, action: &str, body: Value) -> (u16, Value) {
        let response = self.call(action, body, &self.api.account).await;
        (response.status, response.json())
    }
}

fn ach(paid_at: &str, amount: Option<i64>) -> Value {
    let mut transaction = json!({"paymentMethod": "inbound_ach_transfer", "paidAt": paid_at});
    if let Some(amount) = amount {
        transaction["amountCents"] = json!(amount);
    }
    json!({"transactionType": "external", "transaction": transaction})
}

#[tokio::test]
async fn a_full_payment_makes_the_invoice_paid_with_every_field_of_the_seed() {
    let f = Fixture::new().await;
    let (status, body) = f.as_owner("reconcile", json!([ach("2026-11-26T10:00:00Z", None)])).await;
    assert_eq!(status, 200);
    let closed_at = body["invoice"]["closedAt"].clone();
    assert!(closed_at.is_string());
    assert_eq!(
        body,
        json!({
            "invoice": {
                "id": f.invoice_id, "status": "paid", "collectedAmountCents": 12000,
                "invoiceDetailsId": f.invoice_id, "accountId": f.api.account.account.id, "legalEntityContactId": "cust-1",
                "invoiceTransactions": [{"transactionType": "external", "transaction": {
                    "paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-26T10:00:00Z", "amountCents": 12000}}],
                "invoicePaymentMethods": [{"method": "inbound_ach_transfer", "config": {"passFeeToPayer": false}}],
                "closedAt": closed_at
            },
            "invoiceDetails": {
                "id": f.invoice_id, "issuedAt": "2026-11-25T00:00:00Z", "dueAt": "2999-01-01T00:00:00Z",
                "invoiceTz": "UTC", "currency": "USD",
                "lineItemsAndTotals": {
                    "lineItems": [{"name": "Widgets", "quantity": 4, "priceCents": 2500}],
                    "subtotalCents": 10000, "totalAmountCents": 12000,
                    "discount": {"type": "percentage", "percent": 0}, "tax": {"type": "percentage", "percent": 20}
                },
                "invoiceNumber": "INV-000001", "documentId": f.invoice_id,
                "billedTo": {"name": "Globex", "email": "ap@globex.test", "address": {
                    "addressLine": "1 Main St", "addressCity": "Springfield", "addressState": "IL", "addressZip": "62701",
                    "addressLine2": "", "addressCountry": "US"}, "ccEmails": ["cfo@globex.test"]},
                "version": 4, "memo": "Thanks"
            },
            "invoiceAccount": {
                "id": "ra_1", "name": "Operating", "slashAccountGroupId": "sag_1", "accountType": "default",
                "accountNumber": "********6789", "routingNumber": "021000021", "closedAt": null
            }
        })
    );
    let sequence =
        f.api.store.get_invoice(&f.api.account.account.id, &f.invoice_id).await.unwrap().unwrap().value.sequence_view();
    assert_eq!(sequence["paymentStatus"], "PAID");
    assert!(sequence.get("payments").is_none());
}

#[tokio::test]
async fn a_partial_payment_then_unreconcile_restores_the_previous_figures() {
    let f = Fixture::new().await;
    let (_, before) = f.as_owner("", Value::Null).await;
    assert_eq!(
        (before["invoice"]["status"].as_str(), before["invoice"]["collectedAmountCents"].as_i64()),
        (Some("unpaid"), Some(0))
    );

    let (status, partial) = f.as_owner("reconcile", json!([ach("2026-11-26T10:00:00Z", Some(5000))])).await;
    assert_eq!(status, 200);
    assert_eq!(
        (partial["invoice"]["status"].as_str(), partial["invoice"]["collectedAmountCents"].as_i64()),
        (Some("unpaid"), Some(5000))
    );
    let sequence = f.api.store.get_invoice(&f.api.account.account.id, &f.invoice_id).await.unwrap().unwrap().value;
    assert_eq!(sequence.sequence_view()["paymentStatus"], "PARTIALLY_PAID");

    // The seed's body shape: method and paidAt only.
    let (status, after) = f
        .as_owner("unreconcile", json!([{"transactionType": "external", "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-26T10:00:00Z"}}]))
        .await;
    assert_eq!(status, 200);
    let mut expected = before.clone();
    expected["invoiceDetails"]["version"] = json!(5);
    assert_eq!(after, expected, "everything but the version is as before the reconcile");
    let sequence = f.api.store.get_invoice(&f.api.account.account.id, &f.invoice_id).await.unwrap().unwrap().value;
    assert_eq!(sequence.sequence_view()["paymentStatus"], "UNPAID");
}

#[tokio::test]
async fn bad_requests_get_slash_error_bodies() {
    let f = Fixture::new().await;
    f.as_owner("reconcile", json!([ach("2026-11-26T10:00:00Z", Some(100))])).await;
    let cases = [
        ("unreconcile", json!([ach("2026-11-27T10:00:00Z", None)]), 400, "ValidationError",
            format!("[0].transaction: no recorded transaction on invoice {} has method `inbound_ach_transfer` and paidAt 2026-11-27T10:00:00Z", f.invoice_id)),
        ("reconcile", json!([{"transactionType": "wire", "transaction": {"paymentMethod": "x", "paidAt": "2026-11-26T10:00:00Z"}}]), 400, "ValidationError",
            "[0].transactionType: unknown variant `wire`, expected `external` at line 1 column 26".to_string()),
        ("reconcile", json!([ach("26/11/2026", None)]), 400, "ValidationError",
            "[0].transaction.paidAt: `26/11/2026` is not an RFC 3339 time such as 2026-11-25T10:00:00Z".to_string()),
        ("reconcile", json!([]), 400, "ValidationError", "request body: at least one transaction is required".to_string()),
        ("reconcile", json!({"transactionType": "external"}), 400, "ValidationError",
            "request body: invalid type: map, expected a sequence at line 1 column 0".to_string()),
    ];
    for (action, body, status, identifier, message) in cases {
        let response = f.call(action, body.clone(), &f.api.account).await;
        assert_eq!(response.status, status, "{body}");
        let answer = response.json();
        // No Lambda context in process: the request id part is empty.
        assert_eq!(
            answer,
            json!({"message": format!("{message} [{identifier}-]"), "identifier": identifier}),
            "{body}"
        );
    }

    // Another account's credentials: 404 exactly like a missing invoice.
    let stranger = f.api.another_account("Other").await;
    let response = f.call("reconcile", json!([ach("2026-11-26T10:00:00Z", None)]), &stranger).await;
    assert_eq!(response.status, 404);

    // A voided invoice takes neither call.
    lifecycle::transition(
        &f.api.store,
        &f.api.account.account.id,
        &f.invoice_id,
        lifecycle::Transition::Void,
        &Unrecorded,
    )
    .await
    .unwrap();
    for action in ["reconcile", "unreconcile"] {
        let (status, body) = f.as_owner(action, json!([ach("2026-11-26T10:00:00Z", Some(100))])).await;
        assert_eq!((status, body["identifier"].as_str()), (409, Some("Conflict")), "{action}");
    }
    let (_, aggregate) = f.as_owner("", Value::Null).await;
    assert_eq!(aggregate["invoice"]["status"], "void");
}
