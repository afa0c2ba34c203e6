//! Two-way Xero sync's use cases on the in-memory store: which events queue a push, how a change
//! of the Xero connection stops or narrows sync, and how Xero's payments are mirrored.

use chrono::Utc;
use invoicing_domain::{
    memory::InMemoryStore,
    model::{
        invoice::{CreateInvoice, Invoice, InvoiceStatus, PaymentStatus},
        webhooks::EventType,
        xero_pull::XeroPayment,
        xero_sync::XeroSyncSettings,
    },
    ports::{InvoiceStore, XeroSyncSettingsStore},
    service::{xero_connection::follow_connection_change, xero_sync::mirror_xero_payments},
    ErrorKind,
};
use rust_decimal::Decimal;
use serde_json::json;

async fn syncing(store: &InMemoryStore, account: &str, tenant: &str) {
    let settings = XeroSyncSettings {
        push_invoices: true,
        pull_payments: true,
        tenant_id: Some(tenant.into()),
        ..XeroSyncSettings::default()
    };
    store.put_xero_sync_settings(account, &settings, None, None).await.unwrap();
}

async fn settings(store: &InMemoryStore, account: &str) -> XeroSyncSettings {
    store.xero_sync_settings(account).await.unwrap().unwrap().value
}

#[tokio::test]
async fn a_disconnect_stops_both_directions_and_gives_the_organisation_up() {
    let store = InMemoryStore::new();
    syncing(&store, "acct", "org-1").await;
    follow_connection_change(&store, "acct", None, Utc::now()).await.unwrap();
    let after = settings(&store, "acct").await;
    assert_eq!((after.push_invoices, after.pull_payments, after.tenant_id), (false, false, None));
    assert_eq!(store.account_pulling_tenant("org-1").await.unwrap(), None);
    // Another account may now pull it.
    syncing(&store, "other", "org-1").await;
    assert_eq!(store.account_pulling_tenant("org-1").await.unwrap().as_deref(), Some("other"));
}

#[tokio::test]
async fn another_organisation_keeps_the_push_and_stops_the_pull_and_the_same_one_changes_nothing() {
    let store = InMemoryStore::new();
    syncing(&store, "acct", "org-1").await;
    let version = store.xero_sync_settings("acct").await.unwrap().unwrap().version;
    follow_connection_change(&store, "acct", Some("org-1"), Utc::now()).await.unwrap();
    assert_eq!(store.xero_sync_settings("acct").await.unwrap().unwrap().version, version, "nothing written");

    follow_connection_change(&store, "acct", Some("org-2"), Utc::now()).await.unwrap();
    let after = settings(&store, "acct").await;
    assert_eq!((after.push_invoices, after.pull_payments, after.tenant_id), (true, false, None));
    assert_eq!(store.account_pulling_tenant("org-1").await.unwrap(), None);
}

fn xero_payment(id: &str, status: &str, amount: i64) -> XeroPayment {
    XeroPayment { payment_id: id.into(), status: status.into(), amount: Decimal::from(amount), date: Utc::now() }
}

#[tokio::test]
async fn mirrored_payments_change_the_payment_status_with_its_event_and_a_void_invoice_refuses_them() {
    let store = InMemoryStore::new();
    let request: CreateInvoice = serde_json::from_value(json!({"currency": "USD", "customerId": "c"})).unwrap();
    let mut invoice = Invoice::new_draft("inv-1".into(), "acct", request, Utc::now());
    invoice.status = InvoiceStatus::Final;
    invoice.gross_total = Decimal::from(100);
    invoice.net_total = Decimal::from(100);
    store.insert_invoice(&invoice, None, None).await.unwrap();

    let paid = [xero_payment("p1", "AUTHORISED", 100)];
    assert!(mirror_xero_payments(&store, "acct", "inv-1", &paid, Utc::now()).await.unwrap());
    let stored = store.get_invoice("acct", "inv-1").await.unwrap().unwrap();
    assert_eq!(stored.value.payment_status, PaymentStatus::Paid);
    let events: Vec<EventType> = store.outbox().iter().map(|e| e.event_type).collect();
    assert_eq!(events, [EventType::InvoicePaymentStatusChanged]);
    assert!(!mirror_xero_payments(&store, "acct", "inv-1", &paid, Utc::now()).await.unwrap(), "a repeat");
    assert_eq!(store.get_invoice("acct", "inv-1").await.unwrap().unwrap().version, stored.version);

    let mut voided = stored.value.clone();
    voided.status = InvoiceStatus::Voided;
    store.replace_invoice(&voided, stored.version, None, None).await.unwrap();
    let refused = mirror_xero_payments(&store, "acct", "inv-1", &[], Utc::now()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert_eq!(store.outbox().len(), 1);
}
