//! `GET /invoices` in process: a page never outgrows Lambda's 6 MB answer.

use chrono::Utc;
use invoicing_domain::{
    model::{
        invoice::{CreateInvoice, Invoice},
        pagination::MAX_PAGE_BYTES,
    },
    ports::InvoiceStore,
};
use invoicing_test_support::api::TestApi;
use list_invoices::{list_invoices, route};
use serde_json::{json, Value};

#[tokio::test]
async fn heavy_invoices_page_by_size_without_skipping_any() {
    let api = TestApi::in_memory().await;
    // 60 invoices of about 120 KB each: 100 of them would not fit one Lambda answer.
    let memo = "\u{1D11E}".repeat(10_000);
    let metadata: Vec<Value> =
        (0..100).map(|i| json!({"key": format!("k{i}"), "value": "\u{1D11E}".repeat(250)})).collect();
    let mut ids = Vec::new();
    for _ in 0..60 {
        let request: CreateInvoice =
            serde_json::from_value(json!({"currency": "EUR", "customerId": "c", "memo": memo, "metadata": metadata}))
                .unwrap();
        let invoice =
            Invoice::new_draft(uuid::Uuid::now_v7().to_string(), &api.account.account.id, request, Utc::now());
        api.store.insert_invoice(&invoice, None, None).await.unwrap();
        ids.push(invoice.id);
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = api.request("GET", "/invoices").query("limit", "100");
        if let Some(after) = &after {
            request = request.query("after", after);
        }
        let response = api.call(&route(), request, list_invoices).await;
        assert_eq!(response.status, 200);
        assert!(response.body.len() <= MAX_PAGE_BYTES + 1024, "a page of {} bytes", response.body.len());
        let page = response.json();
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match page["pagination"]["after"].as_str() {
            Some(cursor) => after = Some(cursor.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every invoice once, in order");
}
