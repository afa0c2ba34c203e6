//! The pull worker on moto and xero-local: a payment made in Xero is mirrored onto the invoice the
//! account pushed there (PAID), its deletion undoes it (UNPAID), and the same message again
//! changes nothing.

use aws_lambda_events::event::sqs::SqsEvent;
use invoicing_domain::{
    model::{
        invoice::{Invoice, PaymentStatus},
        xero_push::{PushInvoice, PushLine},
        xero_sync::XeroSyncSettings,
    },
    ports::{InvoiceStore, XeroInvoiceLinks},
};
use invoicing_dynamodb::DynamoStore;
use invoicing_secrets::SecretsStore;
use invoicing_test_support::{invoices::finalized_acme_invoice, xero_connected_account, MotoServer, XeroLocal};
use invoicing_xero::{accounts::XeroClients, oauth::XeroApp, InProcessBudget};
use pull_from_xero::{Pulled, Puller};
use serde_json::{json, Value};
use std::{str::FromStr, sync::Arc};

const TENANT: &str = "pull-tenant";

struct Setup {
    _moto: MotoServer,
    xero: XeroLocal,
    store: DynamoStore,
    account_id: String,
    puller: Puller<DynamoStore, SecretsStore>,
    invoice: Invoice,
    xero_invoice_id: String,
}

/// An account pulling TENANT's payments, with one finalized invoice (73.16) that is in Xero.
async fn setup() -> Setup {
    let moto = MotoServer::start();
    let xero = XeroLocal::start();
    let store = moto.fresh_store().await;
    let settings = XeroSyncSettings {
        push_invoices: true,
        pull_payments: true,
        tenant_id: Some(TENANT.into()),
        ..XeroSyncSettings::default()
    };
    let (account_id, secrets) = xero_connected_account(&moto, &store, &xero.base_url, TENANT, &settings).await;
    let clients = XeroClients::new(store.clone(), secrets, XeroApp::from_env(), Arc::new(InProcessBudget::default()));
    let invoice = finalized_acme_invoice(&store, &account_id).await;
    // The invoice as the push left it in Xero, and the link the push records.
    let client = clients.client_for(&account_id).await.unwrap().client().unwrap();
    let contact = client.create_contact("Acme Ltd", None, "pull:contact").await.unwrap();
    let amount = |text: &str| rust_decimal::Decimal::from_str(text).unwrap();
    let pushed = PushInvoice {
        invoice_number: invoice.invoice_number.clone().unwrap(),
        reference: None,
        date: invoice.issue_date.unwrap(),
        due_date: None,
        currency_code: "GBP",
        lines: vec![PushLine {
            description: "Everything".into(),
            quantity: amount("1"),
            unit_amount: amount("60.97"),
            line_amount: amount("60.97"),
            tax_amount: amount("12.19"),
            account_code: "200".into(),
        }],
        sub_total: amount("60.97"),
        total_tax: amount("12.19"),
        total: amount("73.16"),
    };
    let xero_invoice_id = client.create_invoice(&pushed, &contact, "pull:create").await.unwrap().invoice_id;
    store.record_xero_invoice(&account_id, &xero_invoice_id, &invoice.id).await.unwrap();
    let puller = Puller { store: store.clone(), clients };
    Setup { _moto: moto, xero, store, account_id, puller, invoice, xero_invoice_id }
}

/// Pays `amount` of the Xero invoice in xero-local on 2026-11-28; answers the PaymentID.
async fn pay_in_xero(setup: &Setup, amount: f64) -> String {
    let payment = json!({"Payments": [{"Invoice": {"InvoiceID": setup.xero_invoice_id}, "Account": {"Code": "090"},
                                       "Date": "2026-11-28", "Amount": amount}]});
    let created = setup.xero.post_json("Payments", TENANT, &payment).await;
    created["Payments"][0]["PaymentID"].as_str().unwrap().to_string()
}

fn delivery(setup: &Setup, tenant: &str) -> SqsEvent {
    let body = json!({"accountId": setup.account_id, "tenantId": tenant, "xeroInvoiceId": setup.xero_invoice_id});
    serde_json::from_value(json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r", "body": body.to_string(), "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:xero-pulls",
        "awsRegion": "us-east-1", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}
    }]}))
    .unwrap()
}

async fn pull(setup: &Setup) {
    let response = setup.puller.handle(delivery(setup, TENANT)).await;
    assert!(response.batch_item_failures.is_empty());
}

async fn ours(setup: &Setup) -> (Invoice, u64) {
    let stored = setup.store.get_invoice(&setup.account_id, &setup.invoice.id).await.unwrap().unwrap();
    (stored.value, stored.version)
}

#[tokio::test]
async fn a_payment_in_xero_pays_our_invoice_and_its_deletion_undoes_it() {
    let setup = setup().await;
    let payment_id = pay_in_xero(&setup, 73.16).await;
    pull(&setup).await;
    let (paid, version) = ours(&setup).await;
    assert_eq!(paid.payment_status, PaymentStatus::Paid);
    let recorded = serde_json::to_value(&paid.payments).unwrap();
    assert_eq!(recorded[0]["amountCents"], 7316);
    assert_eq!(recorded[0]["paidAt"], "2026-11-28T00:00:00Z");
    let method: Value = serde_json::from_str(recorded[0]["paymentMethod"].as_str().unwrap()).unwrap();
    assert_eq!(method, json!({"method": "xero", "config": {"paymentId": payment_id}}));

    // The same webhook again (or a late one): nothing changes.
    pull(&setup).await;
    assert_eq!(ours(&setup).await.1, version);

    // Deleted in Xero: the mirrored payment goes, the invoice is owed again.
    setup.xero.post_json(&format!("Payments/{payment_id}"), TENANT, &json!({"Status": "DELETED"})).await;
    pull(&setup).await;
    let (unpaid, _) = ours(&setup).await;
    assert_eq!((unpaid.payment_status, unpaid.payments.len()), (PaymentStatus::Unpaid, 0));
}

#[tokio::test]
async fn part_payments_add_up_and_another_organisation_s_message_changes_nothing() {
    let setup = setup().await;
    pay_in_xero(&setup, 50.0).await;
    pull(&setup).await;
    assert_eq!(ours(&setup).await.0.payment_status, PaymentStatus::PartiallyPaid);
    pay_in_xero(&setup, 23.16).await;
    // A message naming an organisation the account does not pull is skipped.
    let skipped = setup
        .puller
        .pull(
            &serde_json::from_value(json!({"accountId": setup.account_id, "tenantId": "another-org",
                                              "xeroInvoiceId": setup.xero_invoice_id}))
            .unwrap(),
        )
        .await
        .unwrap();
    assert!(matches!(skipped, Pulled::Skipped(_)), "{skipped:?}");
    assert_eq!(ours(&setup).await.0.payment_status, PaymentStatus::PartiallyPaid);
    pull(&setup).await;
    let (paid, _) = ours(&setup).await;
    assert_eq!((paid.payment_status, paid.payments.len()), (PaymentStatus::Paid, 2));
}
