//! `POST /invoices-totals` over HTTP.

use crate::helpers::Stack;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub async fn invoices_totals_over_http(stack: &Stack) {
    let body: Value = serde_json::from_slice(
        &std::fs::read(invoicing_test_support::workspace_root().join("events/calculate-invoice-totals.json")).unwrap(),
    )
    .unwrap();
    let seed: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    let (status, _, totals) = stack.post_json(&stack.acme, "/invoices-totals", &seed).await;
    assert_eq!(status, StatusCode::OK);
    let figures = json!({"grossTotal": "48000.24", "netTotal": "40000.20", "totalTax": "8000.04"});
    assert_eq!(
        totals,
        json!({
            "lineItemGroupTotals": [{"id": "befc8235-a295-4548-87bd-e9bcbbdf18b9", "total": figures}],
            "lineItemTotals": [{"id": "af60cab3-812d-4250-a051-0fb7133a00c7", "total": figures}],
            "total": figures
        })
    );
    let (status, _, error) = stack
        .post_json(
            &stack.acme,
            "/invoices-totals",
            &json!({"currency": "JPY", "lineItems": [{"quantity": "1", "rate": "1", "taxRate": "1.5"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["error"]["message"],
        "lineItems[0].taxRate: must be between 0 and 1 (a fraction: \"0.2\" is 20 %), got 1.5"
    );
}
