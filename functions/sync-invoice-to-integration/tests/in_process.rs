//! `POST /invoices/{invoiceId}/sync-to-integration` behind the gateway, on the in-memory store:
//! it queues the invoice's push and shows it PENDING, only for a finalized invoice of an account
//! that pushes invoices.

use chrono::Utc;
use invoicing_domain::{
    memory::InMemoryStore,
    model::{
        invoice::{CreateInvoice, Invoice, InvoiceStatus},
        xero_push::XeroPushMessage,
        xero_sync::XeroSyncSettings,
    },
    ports::{InvoiceStore, XeroSyncSettingsStore},
};
use invoicing_test_support::api::{TestApi, TestRequest, TestResponse};
use serde_json::json;
use sync_invoice_to_integration::{route, sync_invoice_to_integration};

async fn invoice(api: &TestApi<InMemoryStore>, status: InvoiceStatus) -> Invoice {
    let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
    let mut invoice =
        Invoice::new_draft(uuid::Uuid::now_v7().to_string(), &api.account.account.id, request, Utc::now());
    if status != InvoiceStatus::Draft {
        invoice.status = status;
        invoice.invoice_number = Some("INV-000001".into());
    }
    api.store.insert_invoice(&invoice, None, None).await.unwrap();
    invoice
}

async fn pushing(api: &TestApi<InMemoryStore>, on: bool) {
    let settings = XeroSyncSettings { push_invoices: on, ..XeroSyncSettings::default() };
    api.store.put_xero_sync_settings(&api.account.account.id, &settings, None, None).await.unwrap();
}

async fn sync(api: &TestApi<InMemoryStore>, request: TestRequest) -> TestResponse {
    api.call(&route(), request, |store, context, request| {
        sync_invoice_to_integration(store.clone(), store, context, request)
    })
    .await
}

fn sync_request(api: &TestApi<InMemoryStore>, invoice_id: &str) -> TestRequest {
    api.request("POST", &format!("/invoices/{invoice_id}/sync-to-integration")).path("invoiceId", invoice_id)
}

#[tokio::test]
async fn a_finalized_invoice_is_queued_for_xero_and_shown_pending() {
    let api = TestApi::in_memory().await;
    pushing(&api, true).await;
    let sent = invoice(&api, InvoiceStatus::Sent).await;
    let answer = sync(&api, sync_request(&api, &sent.id)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["id"], json!(sent.id));
    assert_eq!(
        body["linkedServices"],
        json!([{"externalService": "Xero", "externalId": null, "syncTime": body["linkedServices"][0]["syncTime"],
                "externalUrl": null, "syncStatus": "PENDING", "lastError": null}])
    );
    let account_id = api.account.account.id.clone();
    let queued = XeroPushMessage { account_id: account_id.clone(), invoice_id: sent.id.clone() };
    assert_eq!(api.store.take_pushes(), std::slice::from_ref(&queued));
    // Again: queued again (the worker finds nothing left to do), the invoice not rewritten.
    let version = api.store.get_invoice(&account_id, &sent.id).await.unwrap().unwrap().version;
    assert_eq!(sync(&api, sync_request(&api, &sent.id)).await.status, 202);
    assert_eq!(api.store.take_pushes(), [queued]);
    assert_eq!(api.store.get_invoice(&account_id, &sent.id).await.unwrap().unwrap().version, version);
}

#[tokio::test]
async fn drafts_unknown_invoices_and_accounts_that_do_not_push_are_refused_and_nothing_is_queued() {
    let api = TestApi::in_memory().await;
    let finalized = invoice(&api, InvoiceStatus::Final).await;
    let off = sync(&api, sync_request(&api, &finalized.id)).await;
    assert_eq!(off.status, 409, "{}", off.body);
    assert_eq!(
        off.json()["error"]["message"],
        "pushing invoices to Xero is off for this account: turn it on with PUT /integrations/xero/settings"
    );

    pushing(&api, true).await;
    let draft = invoice(&api, InvoiceStatus::Draft).await;
    let refused = sync(&api, sync_request(&api, &draft.id)).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.json()["error"]["message"], "only finalized invoices are pushed to Xero; this one is DRAFT");

    let unknown = sync(&api, sync_request(&api, "0193a4b0-0000-7000-8000-000000000000")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let other = api.another_account("Other").await;
    let foreign = TestRequest::new("POST", &format!("/invoices/{}/sync-to-integration", finalized.id))
        .basic(&other)
        .path("invoiceId", &finalized.id);
    assert_eq!(sync(&api, foreign).await.status, 404);

    assert!(api.store.take_pushes().is_empty());
    let stored = api.store.get_invoice(&api.account.account.id, &finalized.id).await.unwrap().unwrap();
    assert!(stored.value.linked_services.is_empty());
}
