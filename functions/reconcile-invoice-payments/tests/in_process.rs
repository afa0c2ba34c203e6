//! Slash's reconcile and unreconcile in process: the handlers behind the shared gateway with
//! in-memory stores. Exact aggregate bodies, Slash error bodies, restored figures.

use chrono::{NaiveDate, Utc};
use get_invoice_aggregate::get_invoice_aggregate;
use invoicing_domain::{
    account::{NewAccount, ReceivingAccount},
    idempotency::Unrecorded,
    invoice::{CreateInvoice, Invoice},
    lifecycle,
    lines::{self, LineItemInput},
    memory::InMemoryStore,
    ports::{AccountStore, InvoiceStore},
};
use invoicing_http::{Body, Gateway, Response};
use reconcile_invoice_payments::reconcile_invoice_payments;
use serde_json::{json, Value};
use unreconcile_invoice_payments::unreconcile_invoice_payments;

struct Fixture {
    store: InMemoryStore,
    account: NewAccount,
    invoice_id: String,
}

impl Fixture {
    /// A FINAL USD invoice of 100.00 + 20 % tax = 120.00, due 2999-01-01.
    async fn new() -> Fixture {
        let store = InMemoryStore::new();
        let account = NewAccount::generate("Acme", Utc::now());
        store.create_account(&account).await.unwrap();
        let account_id = &account.account.id;
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
        store.insert_invoice(&invoice, None).await.unwrap();
        let line: LineItemInput =
            serde_json::from_str(r#"{"title": "Widgets", "quantity": "4", "rate": "25", "taxRate": "0.2"}"#).unwrap();
        lines::add_line_item(
            &store,
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
            &store,
            account_id,
            &invoice.id,
            NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            &Unrecorded,
        )
        .await
        .unwrap();
        Fixture { store, account, invoice_id: invoice.id }
    }

    async fn call(&self, action: &str, body: Value, api_key: &str) -> Response<Body> {
        let method = if action.is_empty() { "GET" } else { "POST" };
        let path = format!(
            "/invoice/{}{}",
            self.invoice_id,
            if action.is_empty() { String::new() } else { format!("/{action}") }
        );
        let request = lambda_http::http::Request::builder()
            .method(method)
            .uri(&path)
            .header("x-api-key", api_key)
            .body(if action.is_empty() { Body::Empty } else { Body::Text(body.to_string()) })
            .unwrap();
        let request = lambda_http::RequestExt::with_path_parameters(
            request,
            std::collections::HashMap::from([("invoiceId".to_string(), self.invoice_id.clone())]),
        );
        let gateway = Gateway::new(self.store.clone(), self.store.clone());
        let store = &self.store;
        match action {
            "reconcile" => {
                gateway
                    .serve(request, &reconcile_invoice_payments::route(), |c, r| {
                        reconcile_invoice_payments(store, c, r)
                    })
                    .await
            }
            "unreconcile" => {
                gateway
                    .serve(request, &unreconcile_invoice_payments::route(), |c, r| {
                        unreconcile_invoice_payments(store, c, r)
                    })
                    .await
            }
            _ => {
                gateway.serve(request, &get_invoice_aggregate::route(), |c, r| get_invoice_aggregate(store, c, r)).await
            }
        }
    }

    async fn as_owner(&self, action: &str, body: Value) -> (u16, Value) {
        let response = self.call(action, body, &self.account.issued.api_key).await;
        let body = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            _ => Value::Null,
        };
        (response.status().as_u16(), body)
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
                "invoiceDetailsId": f.invoice_id, "accountId": f.account.account.id, "legalEntityContactId": "cust-1",
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
        f.store.get_invoice(&f.account.account.id, &f.invoice_id).await.unwrap().unwrap().value.sequence_view();
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
    let sequence = f.store.get_invoice(&f.account.account.id, &f.invoice_id).await.unwrap().unwrap().value;
    assert_eq!(sequence.sequence_view()["paymentStatus"], "PARTIALLY_PAID");

    // The seed's body shape: method and paidAt only.
    let (status, after) = f
        .as_owner("unreconcile", json!([{"transactionType": "external", "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-26T10:00:00Z"}}]))
        .await;
    assert_eq!(status, 200);
    let mut expected = before.clone();
    expected["invoiceDetails"]["version"] = json!(5);
    assert_eq!(after, expected, "everything but the version is as before the reconcile");
    let sequence = f.store.get_invoice(&f.account.account.id, &f.invoice_id).await.unwrap().unwrap().value;
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
        let response = f.call(action, body.clone(), &f.account.issued.api_key).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let Body::Text(text) = response.body() else { panic!() };
        let answer: Value = serde_json::from_str(text).unwrap();
        // No Lambda context in process: the request id part is empty.
        assert_eq!(
            answer,
            json!({"message": format!("{message} [{identifier}-]"), "identifier": identifier}),
            "{body}"
        );
    }

    // Another account's credentials: 404 exactly like a missing invoice.
    let stranger = NewAccount::generate("Other", Utc::now());
    f.store.create_account(&stranger).await.unwrap();
    let response = f.call("reconcile", json!([ach("2026-11-26T10:00:00Z", None)]), &stranger.issued.api_key).await;
    assert_eq!(response.status(), 404);

    // A voided invoice takes neither call.
    lifecycle::transition(&f.store, &f.account.account.id, &f.invoice_id, Invoice::void, &Unrecorded).await.unwrap();
    for action in ["reconcile", "unreconcile"] {
        let (status, body) = f.as_owner(action, json!([ach("2026-11-26T10:00:00Z", Some(100))])).await;
        assert_eq!((status, body["identifier"].as_str()), (409, Some("Conflict")), "{action}");
    }
    let (_, aggregate) = f.as_owner("", Value::Null).await;
    assert_eq!(aggregate["invoice"]["status"], "void");
}
