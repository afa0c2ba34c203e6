//! Hostile and extreme input over HTTP (issue 9): every bad input is a 4xx that changes nothing,
//! and stored extremes never make a route panic.

use crate::helpers::{json_of, Stack};
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{SubsecRound, Utc};

use invoicing_domain::{
    model::invoice::{CreateInvoice, Invoice, InvoiceStatus},
    model::lines::LineItem,
    model::payments::{PaymentMethod, RecordedPayment, TransactionType},
    model::totals::RateDisplay,
    ports::InvoiceStore,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Whether an answer came from our HTTP edge (a function that panicked answers through the
/// emulator instead, without the header every answer of ours carries).
fn from_our_edge(headers: &reqwest::header::HeaderMap) -> bool {
    headers.contains_key("sequence-version")
}

pub async fn extreme_values_are_refused_where_they_arrive(stack: &Stack) {
    let account = &stack.acme;
    let draft = stack.create_invoice(account, json!({"currency": "GBP", "customerId": "cust-extreme"})).await;
    let id = draft["id"].as_str().unwrap();
    // The line: it nets 1.00, but its price has no minor-unit form.
    let line = json!({"title": "x", "quantity": "0.000000000000000000000000001",
                      "rate": "1000000000000000000000000000", "taxRate": "0"});
    let (status, _, error) = stack.post_json(account, &format!("/invoices/{id}/line-items"), &line).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({"error": {"type": "ValidationError",
                         "message": "rate: out of range: amounts may be at most 9999999999999.99 in magnitude"}})
    );
    let (_, _, lines) =
        json_of(stack.as_account(account, Method::GET, &format!("/invoices/{id}/line-items")).send().await.unwrap())
            .await;
    assert_eq!(lines["items"], json!([]), "nothing was stored");

    // A payment of i64::MAX cents is refused before anything is read.
    stack
        .as_account(account, Method::POST, &format!("/invoices/{id}/line-items"))
        .json(&json!({"title": "x", "quantity": "1", "rate": "10", "taxRate": "0"}))
        .send()
        .await
        .unwrap();
    stack.as_account(account, Method::POST, &format!("/invoices/{id}/finalize")).send().await.unwrap();
    let huge = json!([{"transactionType": "external",
        "transaction": {"paymentMethod": "x", "paidAt": "2026-11-25T10:00:00Z", "amountCents": i64::MAX}}]);
    let (status, _, error) = stack.post_json(account, &format!("/invoice/{id}/reconcile"), &huge).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("[0].transaction.amountCents: must be a whole number of minor units from 1 to 999999999999999"));
    // A config nested deeper than DynamoDB's 32 levels (serde alone allows 128) is refused.
    let deep = (0..40).fold(json!(true), |inner, _| json!({"a": inner}));
    let nested = json!([{"transactionType": "external",
        "transaction": {"paymentMethod": {"method": "card", "config": deep}, "paidAt": "2026-11-25T10:00:00Z"}}]);
    let (status, _, error) = stack.post_json(account, &format!("/invoice/{id}/reconcile"), &nested).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["message"].as_str().unwrap().starts_with(
        "[0].transaction.paymentMethod: `config` must nest at most 8 levels of objects and arrays, got 40"
    ));
    // A config whose keys look like DynamoDB's type tags is stored as text and read back intact.
    let odd = json!({"S": {"N": "1", "M": [{"NULL": true}]}, "BOOL": "x"});
    let tagged = json!([{"transactionType": "external",
        "transaction": {"paymentMethod": {"method": "card", "config": odd}, "paidAt": "2026-11-25T10:00:00Z", "amountCents": 1}}]);
    let (status, _, paid) = stack.post_json(account, &format!("/invoice/{id}/reconcile"), &tagged).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let (status, _, read_back) =
        json_of(stack.as_account(account, Method::GET, &format!("/invoice/{id}")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read_back["invoice"]["invoiceTransactions"][0]["transaction"]["paymentMethod"]["config"], odd);
    assert_eq!(read_back, paid);
}

/// An invoice stored with every extreme the issue found (as a version without the checks could
/// have stored it): every route that reads it answers from our edge, never by panicking, and
/// nothing changes.
pub async fn stored_extremes_never_make_a_route_panic(stack: &Stack) {
    let account = &stack.acme;
    let account_id = &account.account.id;
    let request: CreateInvoice =
        serde_json::from_value(json!({"currency": "USD", "customerId": "cust-legacy"})).unwrap();
    let now = Utc::now().trunc_subsecs(3);
    let mut invoice = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, now);
    invoice.status = InvoiceStatus::Final;
    invoice.invoice_number = Some("INV-LEGACY".into());
    invoice.gross_total = "99999999999999999999999999.99".parse().unwrap();
    invoice.net_total = "0.01".parse().unwrap();
    invoice.total_tax = "99999999999999999999999999.98".parse().unwrap();
    invoice.payments = (0..2)
        .map(|_| RecordedPayment {
            transaction_type: TransactionType::External,
            payment_method: PaymentMethod::Name("x".into()),
            paid_at: now,
            amount_cents: i64::MAX,
            recorded_at: now,
        })
        .collect();
    invoice.line_count = 1;
    stack.store.insert_invoice(&invoice, None, None).await.unwrap();
    let line = LineItem {
        id: uuid::Uuid::now_v7().to_string(),
        invoice_id: invoice.id.clone(),
        title: "legacy".into(),
        description: None,
        quantity: "0.000000000000000000000000001".parse().unwrap(),
        rate: "1000000000000000000000000000".parse().unwrap(),
        tax_rate: "0".parse().unwrap(),
        rate_display: RateDisplay::Absolute,
        group_id: None,
        external_ids: vec![],
        service_period: None,
        net_total: "1.00".parse().unwrap(),
        total_tax: "0.00".parse().unwrap(),
        gross_total: "1.00".parse().unwrap(),
        created_at: now,
        updated_at: now,
    };
    stack.store.import_line_items(account_id, std::slice::from_ref(&line)).await.unwrap();
    let before = stack.store.get_invoice(account_id, &invoice.id).await.unwrap().unwrap();

    let id = &invoice.id;
    let payment =
        json!([{"transactionType": "external", "transaction": {"paymentMethod": "x", "paidAt": now.to_rfc3339()}}]);
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/invoices/{id}"), None),
        (Method::GET, "/invoices?customerId=cust-legacy".into(), None),
        (Method::GET, format!("/invoices/{id}/line-items"), None),
        (Method::GET, format!("/invoice/{id}"), None),
        (Method::POST, format!("/invoice/{id}/reconcile"), Some(payment.clone())),
        (Method::POST, format!("/invoice/{id}/unreconcile"), Some(payment)),
        (Method::POST, format!("/invoices/{id}/send"), None),
        (Method::POST, format!("/invoices/{id}/finalize"), None),
        (
            Method::POST,
            format!("/invoices/{id}/line-items"),
            Some(json!({"title": "x", "quantity": "1", "rate": "1", "taxRate": "0"})),
        ),
        (Method::DELETE, format!("/invoices/{id}/line-items/{}", line.id), None),
    ];
    let mut answers = Vec::new();
    for (method, path, body) in calls {
        let mut request = stack.as_account(account, method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        assert!(from_our_edge(&headers), "{method} {path} answered outside our edge: {status} {text}");
        answers.push((format!("{method} {path}"), status.as_u16(), text));
    }
    let status_of =
        |route: &str| answers.iter().find(|(r, _, _)| r.starts_with(route)).map(|(_, s, t)| (*s, t.clone()));
    // Sequence's view shows exact decimal strings, whatever their size.
    assert_eq!(status_of("GET /invoices/").unwrap().0, 200);
    // Slash's view cannot show these amounts in cents: a clear error naming the invoice.
    let (status, body) = status_of("GET /invoice/").unwrap();
    assert_eq!(status, 500);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("invoice {id} holds amounts beyond what Slash's view can show [InternalError-")));
    // Payments cannot be computed on it either; nothing was recorded or removed.
    assert_eq!(status_of("POST /invoice/").unwrap().0, 500);
    let after = stack.store.get_invoice(account_id, &invoice.id).await.unwrap().unwrap();
    assert_eq!(after.value.payments, before.value.payments);
    // FINAL cannot be finalized again or take lines: 409s.
    assert_eq!(status_of(&format!("POST /invoices/{id}/finalize")).unwrap().0, 409);
    assert_eq!(status_of(&format!("POST /invoices/{id}/line-items")).unwrap().0, 409);
}

pub async fn keys_and_credentials_are_checked_by_shape(stack: &Stack) {
    let account = &stack.acme;
    let oversize_cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a".repeat(1_500));
    let created = stack.create_invoice(account, json!({"currency": "GBP", "customerId": "cust-keys"})).await;
    let id = created["id"].as_str().unwrap();
    for path in
        [format!("/invoices?after={oversize_cursor}"), format!("/invoices/{id}/line-items?after={oversize_cursor}")]
    {
        let (status, _, error) = json_of(stack.as_account(account, Method::GET, &path).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            error,
            json!({"error": {"type": "ValidationError", "message": "after: not a cursor returned by this API"}})
        );
    }
    let long_id = "c".repeat(3_000);
    let unauthorized = json!({"error": {"type": "Unauthorized", "message": "missing or invalid credentials"}});
    for (name, value) in [
        ("authorization", format!("Basic {}", STANDARD.encode(format!("{long_id}:secret")))),
        ("x-api-key", format!("{long_id}.secret")),
    ] {
        let (status, _, body) =
            json_of(stack.http.get(stack.url("/invoices")).header(name, value).send().await.unwrap()).await;
        assert_eq!((status, body), (StatusCode::UNAUTHORIZED, unauthorized.clone()));
    }
    // A proxy's own bearer token beside a valid API key.
    let response = stack
        .http
        .get(stack.url(&format!("/invoices/{id}")))
        .header("authorization", "Bearer proxy-token")
        .header("x-api-key", &account.issued.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

pub async fn replays_are_labelled_with_the_version_that_served_them(stack: &Stack) {
    let body = json!({"currency": "GBP", "customerId": "cust-version"});
    let key = format!("version-{}", uuid::Uuid::new_v4());
    let send = |version: Option<&str>| {
        let mut request =
            stack.as_account(&stack.acme, Method::POST, "/invoices").header("idempotency-key", &key).json(&body);
        if let Some(version) = version {
            request = request.header("sequence-version", version);
        }
        request.send()
    };
    let (status, headers, first) = json_of(send(Some("2024-01-01")).await.unwrap()).await;
    assert_eq!((status, headers["sequence-version"].to_str().unwrap()), (StatusCode::CREATED, "2024-01-01"));
    let (status, headers, replay) = json_of(send(None).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(headers["sequence-version"], "2024-01-01");
    assert_eq!(replay, first);
}
