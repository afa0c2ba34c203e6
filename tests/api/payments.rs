//! Slash's reconcile and unreconcile over HTTP.

use crate::helpers::{json_of, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub async fn slash_reconcile_and_unreconcile_over_http(stack: &Stack) {
    let globex = &stack.globex;
    let create = stack
        .as_account(globex, Method::POST, "/invoices")
        .json(&json!({"currency": "JPY", "customerId": "cust-slash", "dueDate": "2999-12-31"}))
        .send()
        .await
        .unwrap();
    let id = json_of(create).await.2["id"].as_str().unwrap().to_string();
    stack
        .as_account(globex, Method::POST, &format!("/invoices/{id}/line-items"))
        .json(&json!({"title": "Consulting", "quantity": "3", "rate": "3333.5", "taxRate": "0.1"}))
        .send()
        .await
        .unwrap();
    let (status, _, finalized) =
        json_of(stack.as_account(globex, Method::POST, &format!("/invoices/{id}/finalize")).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);
    // 3 x 3333.5 = 10000.5 -> 10001 yen; tax 1000.1 -> 1000; gross 11001.
    assert_eq!(finalized["grossTotal"], "11001");

    let slash = |path: String, body: Option<Value>| {
        let method = if body.is_some() { Method::POST } else { Method::GET };
        let request = stack.http.request(method, stack.url(&path)).header("x-api-key", &globex.issued.api_key);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { json_of(request.send().await.unwrap()).await }
    };
    let paid_at = "2026-11-25T12:00:00Z";
    let payment = json!([{"transactionType": "external",
        "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": paid_at, "amountCents": 5000}}]);
    let (status, _, partial) = slash(format!("/invoice/{id}/reconcile"), Some(payment)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(partial["invoice"]["status"], "unpaid");
    assert_eq!(partial["invoice"]["collectedAmountCents"], 5000);
    assert_eq!(partial["invoiceDetails"]["lineItemsAndTotals"]["totalAmountCents"], 11001);
    let (_, _, sequence) =
        json_of(stack.as_account(globex, Method::GET, &format!("/invoices/{id}")).send().await.unwrap()).await;
    assert_eq!(sequence["paymentStatus"], "PARTIALLY_PAID");

    // The rest of the balance, with a Slash idempotency key: a retry does not pay twice.
    let rest = json!([{"transactionType": "external", "transaction": {
        "paymentMethod": {"method": "card", "config": {"passFeeToPayer": true}}, "paidAt": "2026-11-25T13:00:00Z"}}]);
    let send_rest = || {
        stack
            .http
            .post(stack.url(&format!("/invoice/{id}/reconcile")))
            .header("x-api-key", &globex.issued.api_key)
            .header("x-idempotency-key", format!("pay-rest-{id}"))
            .json(&rest)
            .send()
    };
    let (status, _, paid) = json_of(send_rest().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paid["invoice"]["status"], "paid");
    assert_eq!(paid["invoice"]["collectedAmountCents"], 11001);
    let (status, headers, replay) = json_of(send_rest().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replay, paid);
    let (_, _, sequence) =
        json_of(stack.as_account(globex, Method::GET, &format!("/invoices/{id}")).send().await.unwrap()).await;
    assert_eq!(sequence["paymentStatus"], "PAID");

    // Unreconcile the first payment with the seed's body shape: back to unpaid, 6001 collected.
    let seed_shape = json!([{"transactionType": "external",
        "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": paid_at}}]);
    let (status, _, after) = slash(format!("/invoice/{id}/unreconcile"), Some(seed_shape.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["invoice"]["status"], "unpaid");
    assert_eq!(after["invoice"]["collectedAmountCents"], 6001);
    let (_, _, aggregate) = slash(format!("/invoice/{id}"), None).await;
    assert_eq!(aggregate, after);

    // The same transaction again is no longer on the invoice: a Slash 400.
    let (status, _, error) = slash(format!("/invoice/{id}/unreconcile"), Some(seed_shape)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["identifier"], "ValidationError");
    assert!(error["message"].as_str().unwrap().starts_with("[0].transaction: no recorded transaction on invoice"));

    // Another account cannot see it.
    let other = stack.http.get(stack.url(&format!("/invoice/{id}"))).header("x-api-key", &stack.acme.issued.api_key);
    let (status, _, error) = json_of(other.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["identifier"], "NotFound");
}
