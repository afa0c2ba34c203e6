//! Pushing to Xero: against the local emulator (`xero-local`: contacts, invoices as it stores
//! them), and against a wiremock double for what the emulator cannot show (5xx and 429 during a
//! push, retried with the same `Idempotency-Key`).

use chrono::NaiveDate;
use invoicing_domain::model::xero_push::{PushInvoice, PushLine};
use invoicing_test_support::{xero_double::quick_retry_policy, XeroLocal};
use invoicing_xero::{XeroClient, XeroConnection};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// INV-000042: 3 x 19.99 (net 59.97, tax 11.99) and one unit of 1.00 (tax 0.20).
fn pushed() -> PushInvoice {
    let line = |description: &str, quantity: &str, unit: &str, amount: &str, tax: &str| PushLine {
        description: description.into(),
        quantity: d(quantity),
        unit_amount: d(unit),
        line_amount: d(amount),
        tax_amount: d(tax),
        account_code: "200".into(),
    };
    PushInvoice {
        invoice_number: "INV-000042".into(),
        reference: Some("PO-7".into()),
        date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        due_date: NaiveDate::from_ymd_opt(2026, 12, 26),
        currency_code: "GBP",
        lines: vec![
            line("Consulting", "3", "19.99", "59.97", "11.99"),
            line("Widgets\n3 x 0.333", "1", "1.00", "1.00", "0.20"),
        ],
        sub_total: d("60.97"),
        total_tax: d("12.19"),
        total: d("73.16"),
    }
}

#[tokio::test]
async fn a_pushed_invoice_is_stored_by_the_emulator_with_our_number_and_amounts() {
    let xero = XeroLocal::start();
    let client = XeroClient::with_policy(
        XeroConnection {
            client_id: "client-id".into(),
            client_secret: "client-secret".into(),
            tenant_id: Some("push-tenant".into()),
            api_base_url: xero.base_url.clone(),
            token_url: xero.token_url(),
        },
        quick_retry_policy(),
    );
    assert_eq!(client.contact_named("Acme Ltd").await.unwrap(), None);
    let contact = client.create_contact("Acme Ltd", Some("ap@acme.example"), "acct:contact:c-1").await.unwrap();
    assert_eq!(client.contact_named("ACME LTD").await.unwrap().as_deref(), Some(contact.as_str()));

    let created = client.create_invoice(&pushed(), &contact, "acct:inv-1:create").await.unwrap();
    assert_eq!((created.invoice_number.as_deref(), created.status.as_str()), (Some("INV-000042"), "AUTHORISED"));
    assert_eq!(created.invoice_type.as_deref(), Some("ACCREC"));

    // As the emulator stored it: lines with our exact amounts, and totals to the cent.
    let stored = xero.get_json(&format!("Invoices/{}", created.invoice_id), "push-tenant").await;
    let invoice = &stored["Invoices"][0];
    assert_eq!(invoice["Contact"]["ContactID"], json!(contact));
    assert_eq!((&invoice["Reference"], &invoice["CurrencyCode"]), (&json!("PO-7"), &json!("GBP")));
    let lines = invoice["LineItems"].as_array().unwrap();
    let amounts: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| (l["LineAmount"].to_string(), l["TaxAmount"].to_string(), l["AccountCode"].to_string()))
        .collect();
    assert_eq!(
        amounts,
        [("59.97".into(), "11.99".into(), "\"200\"".into()), ("1.0".into(), "0.2".into(), "\"200\"".into())]
    );
    let cents = |value: &Value| (value.as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(
        (cents(&invoice["SubTotal"]), cents(&invoice["TotalTax"]), cents(&invoice["Total"])),
        (6097, 1219, 7316)
    );
    let line_cents: i64 = lines.iter().map(|l| cents(&l["LineAmount"]) + cents(&l["TaxAmount"])).sum();
    assert_eq!(line_cents, 7316, "the lines add up to the total");

    let voided = client.void_invoice(&created.invoice_id, "acct:inv-1:void").await.unwrap();
    assert_eq!(voided.status, "VOIDED");
}

/// What the double saw of each request: its `Idempotency-Key` and its body.
type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// Answers the invoice POSTs from a script (503, then 429, then 200), keeping each request's
/// `Idempotency-Key` and body.
struct Scripted {
    answers: Mutex<Vec<ResponseTemplate>>,
    seen: Seen,
}

impl Respond for Scripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let key = request.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.seen.lock().unwrap().push((key, String::from_utf8_lossy(&request.body).into_owned()));
        let mut answers = self.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0].clone()
        }
    }
}

#[tokio::test]
async fn a_push_that_meets_5xx_and_429_is_retried_with_the_same_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 1800})))
        .mount(&server)
        .await;
    let seen: Seen = Arc::default();
    let created = json!({"Invoices": [{"InvoiceID": "x-1", "InvoiceNumber": "INV-000042", "Status": "AUTHORISED", "Type": "ACCREC"}]});
    Mock::given(method("POST"))
        .and(path("/api.xro/2.0/Invoices"))
        .respond_with(Scripted {
            answers: Mutex::new(vec![
                ResponseTemplate::new(503).set_body_string("busy"),
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "0")
                    .insert_header("x-rate-limit-problem", "minute"),
                ResponseTemplate::new(200).set_body_json(created),
            ]),
            seen: Arc::clone(&seen),
        })
        .mount(&server)
        .await;
    let client = XeroClient::with_policy(
        XeroConnection {
            client_id: "client-id".into(),
            client_secret: "client-secret".into(),
            tenant_id: Some("tenant-1".into()),
            api_base_url: server.uri(),
            token_url: format!("{}/connect/token", server.uri()),
        },
        quick_retry_policy(),
    );

    let invoice = client.create_invoice(&pushed(), "contact-1", "acct:inv-1:create").await.unwrap();
    assert_eq!(invoice.invoice_id, "x-1");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "503, 429, then the success");
    assert!(seen.iter().all(|(key, _)| key.as_deref() == Some("acct:inv-1:create")));
    assert!(seen.iter().all(|(_, body)| body == &seen[0].1), "the same body every time");
    // Amounts go as JSON numbers, digit for digit.
    let body: Value = serde_json::from_str(&seen[0].1).unwrap();
    let line = &body["Invoices"][0]["LineItems"][0];
    assert_eq!(
        (line["Quantity"].to_string(), line["UnitAmount"].to_string(), line["LineAmount"].to_string()),
        ("3".into(), "19.99".into(), "59.97".into())
    );
    assert_eq!(body["Invoices"][0]["Total"].to_string(), "73.16");
    assert!(seen[0].1.contains("\"TaxAmount\":11.99"), "{}", seen[0].1);
}
