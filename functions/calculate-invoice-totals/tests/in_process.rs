//! `POST /invoices-totals` in process behind the shared gateway (in-memory credentials).

use calculate_invoice_totals::{calculate_invoice_totals, route, MAX_BODY_BYTES};
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    MotoServer,
};
use serde_json::{json, Value};

async fn post(body: String) -> TestResponse {
    let api = TestApi::in_memory().await;
    api.call(&route(), api.request("POST", "/invoices-totals").body(body), calculate_invoice_totals).await
}

fn lines(n: usize) -> String {
    let line = r#"{"quantity": "1.5", "rate": "0.99", "taxRate": "0.2", "title": "Usage"}"#;
    format!(r#"{{"lineItems": [{}]}}"#, vec![line; n].join(","))
}

#[tokio::test]
async fn the_seed_request_gets_exact_figures() {
    let body = json!({"lineItems": [{
        "description": "Red", "externalIds": [{"key": "Xero", "value": "123"}], "grossTotal": "0",
        "groupId": "befc8235-a295-4548-87bd-e9bcbbdf18b9", "id": "af60cab3-812d-4250-a051-0fb7133a00c7",
        "index": 2, "invoiceId": "cd11218d-fa00-4faa-8684-a43113d076a8", "netTotal": "0", "quantity": "2",
        "rate": "20000.10", "rateDisplay": "ABSOLUTE", "revenueClassification": "EARNED",
        "servicePeriod": {"endDate": "2022-10-24", "startDate": "2022-10-20"},
        "servicePeriodEnd": "2022-10-24T00:00:00Z", "servicePeriodStart": "2022-10-20T00:00:00Z",
        "taxRate": "0.2", "title": "Ferraris", "totalTax": "0"
    }]});
    let response = post(body.to_string()).await;
    assert_eq!(response.status, 200);
    let figures = json!({"grossTotal": "48000.24", "netTotal": "40000.20", "totalTax": "8000.04"});
    assert_eq!(
        response.json(),
        json!({
            "lineItemGroupTotals": [{"id": "befc8235-a295-4548-87bd-e9bcbbdf18b9", "total": figures}],
            "lineItemTotals": [{"id": "af60cab3-812d-4250-a051-0fb7133a00c7", "total": figures}],
            "total": figures
        })
    );
}

#[tokio::test]
async fn malformed_lines_are_400s_naming_line_and_field() {
    let cases = [
        (
            r#"{"lineItems": [{"quantity": "1", "rate": "ten", "taxRate": "0"}]}"#,
            "lineItems[0].rate: `ten` is not a decimal number at line 1 column 46",
        ),
        (
            r#"{"lineItems": [{"quantity": "1", "rate": "1", "taxRate": "0"}, {"quantity": "1", "rate": "1", "taxRate": "1.5"}]}"#,
            "lineItems[1].taxRate: must be between 0 and 1 (a fraction: \"0.2\" is 20 %), got 1.5",
        ),
        (
            r#"{"lineItems": [{"quantity": "123456789012345678901234567890", "rate": "1", "taxRate": "0"}]}"#,
            "lineItems[0].quantity: `123456789012345678901234567890` cannot be represented exactly (at most 28 significant digits and 28 decimal places) at line 1 column 60",
        ),
        (
            r#"{"lineItems": [{"quantity": "1", "rate": "1", "taxRate": "0"}, {"quantity": "1", "rate": "9999999999999999999999999999", "taxRate": "0"}]}"#,
            "lineItems[1]: netTotal (quantity × rate) is out of range",
        ),
        (
            r#"{"lineItems": [{"quantity": 1e400, "rate": "1", "taxRate": "0"}]}"#,
            "lineItems[0].quantity: `1e400` cannot be represented exactly (at most 28 significant digits and 28 decimal places) at line 1 column 33",
        ),
        (
            r#"{"lineItems": [{"quantity": "1", "rate": true, "taxRate": "0"}]}"#,
            "lineItems[0].rate: expected a decimal string or number, found true at line 1 column 45",
        ),
        (
            r#"{"lineItems": [{"quantity": "1", "rate": "1"}]}"#,
            "lineItems[0]: missing field `taxRate` at line 1 column 45",
        ),
        (
            r#"{"currency": "XXX", "lineItems": []}"#,
            "currency: unknown variant `XXX`, expected one of `ARS`, `AUD`, `BRL`, `CAD`, `CHF`, `CNY`, `COP`, `CZK`, `DKK`, `EUR`, `GBP`, `HKD`, `ILS`, `JPY`, `KRW`, `MXN`, `NOK`, `NZD`, `PLN`, `SEK`, `SGD`, `THB`, `USD`, `UYU`, `ZAR` at line 1 column 18",
        ),
        (
            r#"{"lineItems": [{"quantity": "79228162514264337593543950335", "rate": "2", "taxRate": "0"}]}"#,
            "lineItems[0]: netTotal (quantity × rate) is out of range",
        ),
    ];
    for (body, message) in cases {
        let response = post(body.to_string()).await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.json(), json!({"error": {"type": "ValidationError", "message": message}}), "{body}");
    }
}

#[tokio::test]
async fn ten_thousand_lines_are_accepted_and_one_more_is_refused() {
    let response = post(lines(10_000)).await;
    assert_eq!(response.status, 200);
    // 1.5 x 0.99 = 1.485 -> 1.49; tax 0.298 -> 0.30.
    assert_eq!(
        response.json()["total"],
        json!({"grossTotal": "17900.00", "netTotal": "14900.00", "totalTax": "3000.00"})
    );

    let response = post(lines(10_001)).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"error": {"type": "ValidationError", "message": "lineItems: at most 10000 lines, got 10001"}})
    );
}

#[tokio::test]
async fn bodies_over_six_mebibytes_are_413() {
    let padding = "x".repeat(MAX_BODY_BYTES);
    let response = post(format!(r#"{{"lineItems": [], "note": "{padding}"}}"#)).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"]["type"], "PayloadTooLarge");
}

/// The issue's case: 10,000 lines with ids under an `Idempotency-Key`, on DynamoDB (moto): the
/// answer (about 1.6 MB) is recorded, in compressed chunks, and replayed exactly.
#[tokio::test]
async fn an_answer_of_ten_thousand_lines_is_recorded_and_replayed() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let lines: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"id": format!("0193a1b2-c3d4-7e5f-8a9b-{i:012x}"), "quantity": "1.5", "rate": format!("{i}.99"),
                   "taxRate": "0.2", "groupId": format!("group-{}", i % 100)})
        })
        .collect();
    let request =
        api.request("POST", "/invoices-totals").idempotency_key("ten-thousand").json(&json!({"lineItems": lines}));
    let first = api.call(&route(), request.clone(), calculate_invoice_totals).await;
    assert_eq!(first.status, 200);
    let first_body = first.json();
    assert_eq!(first_body["lineItemTotals"].as_array().unwrap().len(), 10_000);
    assert!(first.body.len() > 1_000_000);
    let replay = api.call(&route(), request, calculate_invoice_totals).await;
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (200, Some("true")));
    assert_eq!(replay.json(), first_body);
}
