//! The push worker on moto (invoices, settings, the contact map, Secrets Manager) and xero-local
//! (contacts and invoices as Xero's API stores them): what Xero holds after finalize, send and
//! void, what the invoice's Xero entry says, and that a repeated message changes nothing.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{NaiveDate, Utc};
use invoicing_domain::{
    model::{
        integration::XeroSettings,
        invoice::{CreateInvoice, Invoice, InvoiceStatus, LinkedService, SyncStatus},
        xero_push::{PushInvoice, PushLine},
        xero_sync::XeroSyncSettings,
    },
    ports::{IntegrationSettings, InvoiceStore, Unrecorded},
    service::lifecycle::{self, Transition},
};
use invoicing_dynamodb::DynamoStore;
use invoicing_secrets::SecretsStore;
use invoicing_test_support::{invoices::finalized_acme_invoice, xero_connected_account, MotoServer, XeroLocal};
use invoicing_xero::{accounts::XeroClients, oauth::XeroApp, InProcessBudget};
use push_to_xero::Pusher;
use serde_json::{json, Value};
use std::sync::Arc;

const TENANT: &str = "push-tenant";

struct Setup {
    _moto: MotoServer,
    xero: XeroLocal,
    store: DynamoStore,
    account_id: String,
    pusher: Pusher<DynamoStore, SecretsStore>,
}

/// An account with a custom connection to xero-local and pushing on (or off).
async fn setup(push_invoices: bool) -> Setup {
    let moto = MotoServer::start();
    let xero = XeroLocal::start();
    let store = moto.fresh_store().await;
    let settings = XeroSyncSettings { push_invoices, ..XeroSyncSettings::default() };
    let (account_id, secrets) = xero_connected_account(&moto, &store, &xero.base_url, TENANT, &settings).await;
    let clients = XeroClients::new(store.clone(), secrets, XeroApp::from_env(), Arc::new(InProcessBudget::default()));
    let pusher = Pusher { store: store.clone(), clients, max_receives: 3 };
    Setup { _moto: moto, xero, store, account_id, pusher }
}

async fn finalized_invoice(setup: &Setup) -> Invoice {
    finalized_acme_invoice(&setup.store, &setup.account_id).await
}

/// An SQS event of one push message for the invoice, on its `receive`th delivery.
fn delivery(account_id: &str, invoice_id: &str, receive: u32) -> SqsEvent {
    let body = json!({"accountId": account_id, "invoiceId": invoice_id}).to_string();
    serde_json::from_value(json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r", "body": body, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:xero-pushes", "awsRegion": "us-east-1",
        "attributes": {"ApproximateReceiveCount": receive.to_string()}, "messageAttributes": {}
    }]}))
    .unwrap()
}

/// Delivers the message and answers which messages are to come again.
async fn deliver(setup: &Setup, invoice_id: &str, receive: u32) -> Vec<String> {
    let response = setup.pusher.handle(delivery(&setup.account_id, invoice_id, receive)).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

async fn stored(setup: &Setup, invoice_id: &str) -> Invoice {
    setup.store.get_invoice(&setup.account_id, invoice_id).await.unwrap().unwrap().value
}

fn xero_entry(invoice: &Invoice) -> LinkedService {
    invoice.linked_services.iter().find(|l| l.external_service == "Xero").cloned().expect("a Xero entry")
}

/// xero-local's sales invoices with this number.
async fn xero_invoices_numbered(setup: &Setup, number: &str) -> Vec<Value> {
    let found = setup.xero.get_json(&format!("Invoices?InvoiceNumbers={number}"), TENANT).await;
    found["Invoices"].as_array().cloned().unwrap_or_default()
}

fn cents(value: &Value) -> i64 {
    (value.as_f64().unwrap() * 100.0).round() as i64
}

#[tokio::test]
async fn a_finalized_invoice_reaches_xero_with_our_number_and_totals_and_a_repeat_changes_nothing() {
    let setup = setup(true).await;
    let invoice = finalized_invoice(&setup).await;
    let number = invoice.invoice_number.clone().unwrap();
    assert_eq!((invoice.net_total.to_string(), invoice.total_tax.to_string()), ("60.97".into(), "12.19".into()));

    assert!(deliver(&setup, &invoice.id, 1).await.is_empty());
    let in_xero = xero_invoices_numbered(&setup, &number).await;
    assert_eq!(in_xero.len(), 1);
    let copy = &in_xero[0];
    assert_eq!((copy["Type"].as_str(), copy["Status"].as_str()), (Some("ACCREC"), Some("AUTHORISED")));
    assert_eq!((cents(&copy["SubTotal"]), cents(&copy["TotalTax"]), cents(&copy["Total"])), (6097, 1219, 7316));
    assert_eq!(copy["Contact"]["Name"], json!("Acme Ltd"));
    assert_eq!(copy["Reference"], json!("PO-7"));
    let entry = xero_entry(&stored(&setup, &invoice.id).await);
    assert_eq!(entry.external_id.as_deref(), copy["InvoiceID"].as_str());
    assert_eq!((entry.sync_status, entry.last_error), (Some(SyncStatus::Synced), None));

    // SQS delivers the message again: no second invoice, nothing rewritten.
    let version = setup.store.get_invoice(&setup.account_id, &invoice.id).await.unwrap().unwrap().version;
    assert!(deliver(&setup, &invoice.id, 2).await.is_empty());
    assert_eq!(xero_invoices_numbered(&setup, &number).await.len(), 1);
    let again = setup.store.get_invoice(&setup.account_id, &invoice.id).await.unwrap().unwrap();
    assert_eq!(again.version, version);

    // The customer's next invoice goes to the same contact.
    let second = finalized_invoice(&setup).await;
    assert!(deliver(&setup, &second.id, 1).await.is_empty());
    let second_copy = &xero_invoices_numbered(&setup, second.invoice_number.as_deref().unwrap()).await[0];
    assert_eq!(second_copy["Contact"]["ContactID"], copy["Contact"]["ContactID"]);
    let contacts = setup.xero.get_json("Contacts", TENANT).await;
    assert_eq!(contacts["Contacts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sent_and_voided_invoices_are_marked_sent_and_voided_in_xero() {
    let setup = setup(true).await;
    let invoice = finalized_invoice(&setup).await;
    assert!(deliver(&setup, &invoice.id, 1).await.is_empty());
    lifecycle::transition(&setup.store, &setup.account_id, &invoice.id, Transition::Send, &Unrecorded).await.unwrap();
    assert!(deliver(&setup, &invoice.id, 1).await.is_empty());
    let xero_id = xero_entry(&stored(&setup, &invoice.id).await).external_id.unwrap();
    let sent = setup.xero.get_json(&format!("Invoices/{xero_id}"), TENANT).await;
    assert_eq!(sent["Invoices"][0]["SentToContact"], json!(true));

    lifecycle::transition(&setup.store, &setup.account_id, &invoice.id, Transition::Void, &Unrecorded).await.unwrap();
    assert!(deliver(&setup, &invoice.id, 1).await.is_empty());
    let voided = setup.xero.get_json(&format!("Invoices/{xero_id}"), TENANT).await;
    assert_eq!(voided["Invoices"][0]["Status"], json!("VOIDED"));
    let entry = xero_entry(&stored(&setup, &invoice.id).await);
    assert_eq!((entry.external_id.as_deref(), entry.sync_status), (Some(xero_id.as_str()), Some(SyncStatus::Synced)));
}

#[tokio::test]
async fn an_invoice_already_in_xero_under_our_number_is_linked_not_created_twice() {
    let setup = setup(true).await;
    let invoice = finalized_invoice(&setup).await;
    let number = invoice.invoice_number.clone().unwrap();
    // A push whose answer was lost (or whose idempotency key expired) left the invoice in Xero.
    let client = setup.pusher.clients.client_for(&setup.account_id).await.unwrap().client().unwrap();
    let contact = client.create_contact("Acme Ltd", None, "lost:contact").await.unwrap();
    let line = PushLine {
        description: "Consulting".into(),
        quantity: 1.into(),
        unit_amount: 1.into(),
        line_amount: 1.into(),
        tax_amount: 0.into(),
        account_code: "200".into(),
    };
    let earlier = PushInvoice {
        invoice_number: number.clone(),
        reference: None,
        date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        due_date: None,
        currency_code: "GBP",
        lines: vec![line],
        sub_total: 1.into(),
        total_tax: 0.into(),
        total: 1.into(),
    };
    let lost = client.create_invoice(&earlier, &contact, "lost:create").await.unwrap();

    assert!(deliver(&setup, &invoice.id, 1).await.is_empty());
    assert_eq!(xero_invoices_numbered(&setup, &number).await.len(), 1);
    assert_eq!(xero_entry(&stored(&setup, &invoice.id).await).external_id, Some(lost.invoice_id));
}

#[tokio::test]
async fn nothing_is_pushed_while_pushing_is_off_or_for_a_draft() {
    let off = setup(false).await;
    let invoice = finalized_invoice(&off).await;
    assert!(deliver(&off, &invoice.id, 1).await.is_empty());
    assert!(xero_invoices_numbered(&off, invoice.invoice_number.as_deref().unwrap()).await.is_empty());
    assert!(stored(&off, &invoice.id).await.linked_services.is_empty());

    let on = setup(true).await;
    let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
    let draft = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), &on.account_id, request, Utc::now());
    on.store.insert_invoice(&draft, None, None).await.unwrap();
    assert!(deliver(&on, &draft.id, 1).await.is_empty());
    let after = stored(&on, &draft.id).await;
    assert_eq!((after.status, after.linked_services.len()), (InvoiceStatus::Draft, 0));
}

#[tokio::test]
async fn an_invoice_xero_refuses_is_failed_with_xero_s_reason_and_not_retried() {
    let setup = setup(true).await;
    let invoice = finalized_invoice(&setup).await;
    // Our lines never disagree with their amounts, so the refusal comes from a base URL under
    // which the emulator answers every call 404: a 4xx is Xero's answer for good.
    let broken = XeroSettings {
        client_id: "local-client".into(),
        tenant_id: Some(TENANT.into()),
        api_base_url: format!("{}/no-such-api", setup.xero.base_url),
        token_url: setup.xero.token_url(),
    };
    setup.store.set_xero_settings(&setup.account_id, &broken).await.unwrap();
    assert!(deliver(&setup, &invoice.id, 1).await.is_empty(), "a refusal is not delivered again");
    let entry = xero_entry(&stored(&setup, &invoice.id).await);
    assert_eq!((entry.external_id.as_deref(), entry.sync_status), (None, Some(SyncStatus::Failed)));
    assert!(entry.last_error.as_deref().unwrap().starts_with("Xero refused the push (404)"), "{entry:?}");
}

#[tokio::test]
async fn an_unreachable_xero_leaves_the_push_pending_until_the_last_delivery_fails_it() {
    let setup = setup(true).await;
    let invoice = finalized_invoice(&setup).await;
    let unreachable = XeroSettings {
        client_id: "local-client".into(),
        tenant_id: Some(TENANT.into()),
        api_base_url: "http://127.0.0.1:9".into(),
        token_url: "http://127.0.0.1:9/connect/token".into(),
    };
    setup.store.set_xero_settings(&setup.account_id, &unreachable).await.unwrap();
    assert_eq!(deliver(&setup, &invoice.id, 1).await, ["m-1"], "delivered again");
    let pending = xero_entry(&stored(&setup, &invoice.id).await);
    assert_eq!(pending.sync_status, Some(SyncStatus::Pending));
    assert!(pending.last_error.is_some());
    // The queue's last delivery (max_receives = 3): FAILED, and on to the dead-letter queue.
    assert_eq!(deliver(&setup, &invoice.id, 3).await, ["m-1"]);
    assert_eq!(xero_entry(&stored(&setup, &invoice.id).await).sync_status, Some(SyncStatus::Failed));
}
