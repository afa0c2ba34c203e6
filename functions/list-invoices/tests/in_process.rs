//! `GET /invoices` in process: a page never outgrows Lambda's 6 MB answer.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use invoicing_domain::{
    account::NewAccount,
    invoice::{CreateInvoice, Invoice},
    memory::InMemoryStore,
    pagination::MAX_PAGE_BYTES,
    ports::{AccountStore, InvoiceStore},
};
use invoicing_http::{Body, Gateway};
use list_invoices::{list_invoices, route};
use serde_json::{json, Value};

#[tokio::test]
async fn heavy_invoices_page_by_size_without_skipping_any() {
    let store = InMemoryStore::new();
    let account = NewAccount::generate("Acme", Utc::now());
    store.create_account(&account).await.unwrap();
    // 60 invoices of about 120 KB each: 100 of them would not fit one Lambda answer.
    let memo = "\u{1D11E}".repeat(10_000);
    let metadata: Vec<Value> =
        (0..100).map(|i| json!({"key": format!("k{i}"), "value": "\u{1D11E}".repeat(250)})).collect();
    let mut ids = Vec::new();
    for _ in 0..60 {
        let request: CreateInvoice =
            serde_json::from_value(json!({"currency": "EUR", "customerId": "c", "memo": memo, "metadata": metadata}))
                .unwrap();
        let invoice = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), &account.account.id, request, Utc::now());
        store.insert_invoice(&invoice, None).await.unwrap();
        ids.push(invoice.id);
    }
    let pair = format!("{}:{}", account.issued.client_id, account.issued.client_secret);
    let mut seen = Vec::new();
    let mut query = "limit=100".to_string();
    loop {
        let request = lambda_http::http::Request::builder()
            .uri(format!("/invoices?{query}"))
            .header("authorization", format!("Basic {}", STANDARD.encode(&pair)))
            .body(Body::Empty)
            .unwrap();
        let params: std::collections::HashMap<String, String> =
            query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let request = lambda_http::RequestExt::with_query_string_parameters(request, params);
        let response = Gateway::new(store.clone(), store.clone())
            .serve(request, &route(), |c, r| list_invoices(&store, c, r))
            .await;
        assert_eq!(response.status(), 200);
        let Body::Text(text) = response.body() else { panic!("a JSON body") };
        assert!(text.len() <= MAX_PAGE_BYTES + 1024, "a page of {} bytes", text.len());
        let page: Value = serde_json::from_str(text).unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match page["pagination"]["after"].as_str() {
            Some(after) => query = format!("limit=100&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every invoice once, in order");
}
