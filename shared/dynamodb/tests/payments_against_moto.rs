//! Payments and account settings through the DynamoDB adapter on moto_server.

use chrono::{Duration, NaiveDate, SubsecRound, Utc};
use futures::future::join_all;
use invoicing_domain::{
    model::{
        account::{NewAccount, ReceivingAccount},
        invoice::{CreateInvoice, Invoice, PaymentStatus},
        lines::LineItemInput,
        payments::TransactionInput,
    },
    ports::{AccountStore, InvoiceStore, ReceivingAccounts, Unrecorded},
    service::{lifecycle, lines, payments as slash},
};
use invoicing_test_support::MotoServer;
use serde_json::json;

#[tokio::test]
async fn fifty_concurrent_one_cent_reconciles_keep_every_transaction() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account = NewAccount::generate("Acme", Utc::now());
    store.create_account(&account).await.unwrap();
    let account_id = &account.account.id;
    let request: CreateInvoice = serde_json::from_value(json!({"currency": "USD", "customerId": "c"})).unwrap();
    let invoice =
        Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, Utc::now().trunc_subsecs(3));
    store.insert_invoice(&invoice, None, None).await.unwrap();
    let line: LineItemInput =
        serde_json::from_str(r#"{"title": "Widget", "quantity": "1", "rate": "100", "taxRate": "0"}"#).unwrap();
    lines::add_line_item(
        &store,
        account_id,
        &invoice.id,
        uuid::Uuid::now_v7().to_string(),
        line,
        Utc::now(),
        &Unrecorded,
    )
    .await
    .unwrap();
    lifecycle::finalize(&store, account_id, &invoice.id, NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(), &Unrecorded)
        .await
        .unwrap();

    let start = Utc::now().trunc_subsecs(0);
    let reconciles = (0..50).map(|i| {
        let transactions: Vec<TransactionInput> = serde_json::from_value(json!([{
            "transactionType": "external",
            "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": (start + Duration::seconds(i)).to_rfc3339(), "amountCents": 1}
        }]))
        .unwrap();
        let (store, invoice_id) = (&store, &invoice.id);
        async move {
            slash::change_payments_and_show(
                store,
                account_id,
                invoice_id,
                transactions,
                Utc::now(),
                Invoice::record_payments,
                &Unrecorded,
            )
            .await
        }
    });
    for result in join_all(reconciles).await {
        result.unwrap();
    }
    let stored = store.get_invoice(account_id, &invoice.id).await.unwrap().unwrap();
    assert_eq!(stored.value.payments.len(), 50);
    assert_eq!(stored.value.collected_amount_cents(), Some(50));
    assert_eq!(stored.value.payment_status, PaymentStatus::PartiallyPaid);
    // Each reconcile was its own versioned write: create, line, finalize, then 50 payments.
    assert_eq!(stored.version, 53);
}

#[tokio::test]
async fn receiving_accounts_default_and_round_trip() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account = NewAccount::generate("Acme", Utc::now());
    store.create_account(&account).await.unwrap();
    let id = &account.account.id;
    assert_eq!(store.receiving_account(id).await.unwrap(), ReceivingAccount::unconfigured(&account.account));
    let receiving = ReceivingAccount {
        id: format!("ra_{id}"),
        name: "Operating".into(),
        slash_account_group_id: "sag_1".into(),
        account_type: "default".into(),
        account_number: "000123456789".into(),
        routing_number: "021000021".into(),
    };
    store.set_receiving_account(id, &receiving).await.unwrap();
    assert_eq!(store.receiving_account(id).await.unwrap(), receiving);
    let missing = store.set_receiving_account("no-such-account", &receiving).await.unwrap_err();
    assert_eq!(missing.kind(), invoicing_domain::ErrorKind::NotFound);
}
