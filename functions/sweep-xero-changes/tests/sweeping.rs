//! The backstop of the pull on moto and xero-local (and a wiremock double for the header
//! xero-local ignores): invoices the account pushed that changed in Xero are queued for a pull, as
//! a missed webhook would have queued them; the cursor moves only after a complete sweep.

use chrono::{DateTime, Duration, Utc};
use invoicing_domain::{
    memory::InMemoryStore,
    model::{xero_pull::XeroPullMessage, xero_sync::XeroSyncSettings},
    ports::{XeroInvoiceLinks, XeroPullSweeps},
};
use invoicing_dynamodb::DynamoStore;
use invoicing_secrets::SecretsStore;
use invoicing_test_support::{xero_connected_account, MotoServer, XeroLocal};
use invoicing_xero::{accounts::XeroClients, oauth::XeroApp, InProcessBudget};
use serde_json::{json, Value};
use std::sync::Arc;
use sweep_xero_changes::{SweepReport, Sweeper, FIRST_SWEEP_WINDOW, OVERLAP};
use wiremock::{
    matchers::{header, method, path},
    Mock, MockServer, ResponseTemplate,
};

const TENANT: &str = "sweep-tenant";

/// An account that pulls TENANT's payments through a custom connection to `api_base_url`.
async fn pulling_account(moto: &MotoServer, store: &DynamoStore, api_base_url: &str) -> (String, SecretsStore) {
    let settings = XeroSyncSettings {
        push_invoices: true,
        pull_payments: true,
        tenant_id: Some(TENANT.into()),
        ..XeroSyncSettings::default()
    };
    xero_connected_account(moto, store, api_base_url, TENANT, &settings).await
}

fn sweeper(
    store: &DynamoStore,
    secrets: SecretsStore,
    queue: &InMemoryStore,
) -> Sweeper<DynamoStore, SecretsStore, InMemoryStore> {
    let clients = XeroClients::new(store.clone(), secrets, XeroApp::from_env(), Arc::new(InProcessBudget::default()));
    Sweeper { store: store.clone(), clients, queue: queue.clone() }
}

/// Creates sales invoices in xero-local's TENANT; answers their InvoiceIDs.
async fn in_xero(xero: &XeroLocal, numbers: &[&str]) -> Vec<String> {
    let invoices: Vec<Value> = numbers
        .iter()
        .map(|n| {
            json!({"Type": "ACCREC", "InvoiceNumber": n, "Status": "AUTHORISED", "Contact": {"Name": "Acme"},
                        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10}]})
        })
        .collect();
    let created = xero.post_json("Invoices", TENANT, &json!({ "Invoices": invoices })).await;
    created["Invoices"].as_array().unwrap().iter().map(|i| i["InvoiceID"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn changed_invoices_the_account_pushed_are_queued_for_a_pull_and_the_cursor_moves() {
    let moto = MotoServer::start();
    let xero = XeroLocal::start();
    let store = moto.fresh_store().await;
    let (account_id, secrets) = pulling_account(&moto, &store, &xero.base_url).await;
    let ids = in_xero(&xero, &["INV-000001", "INV-000002", "THEIRS-1"]).await;
    // The account pushed the first two; the third is the organisation's own.
    store.record_xero_invoice(&account_id, &ids[0], "our-1").await.unwrap();
    store.record_xero_invoice(&account_id, &ids[1], "our-2").await.unwrap();
    let queue = InMemoryStore::new();
    let now = Utc::now();

    let report = sweeper(&store, secrets, &queue).sweep(now).await;
    assert_eq!(report, SweepReport { accounts_swept: 1, accounts_failed: 0, pulls_queued: 2 });
    let pull = |id: &str| XeroPullMessage {
        account_id: account_id.clone(),
        tenant_id: TENANT.into(),
        xero_invoice_id: id.into(),
    };
    assert_eq!(queue.take_pulls(), [pull(&ids[0]), pull(&ids[1])]);
    assert_eq!(store.pull_cursor(&account_id).await.unwrap(), Some(now));
    assert_eq!(store.pulling_accounts().await.unwrap(), [(account_id, TENANT.to_string())]);
}

#[tokio::test]
async fn each_sweep_asks_xero_only_for_changes_since_the_last_one_and_a_failed_sweep_keeps_the_cursor() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let double = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 1800})))
        .mount(&double)
        .await;
    let (account_id, secrets) = pulling_account(&moto, &store, &double.uri()).await;
    let queue = InMemoryStore::new();
    let sweeper = sweeper(&store, secrets, &queue);
    let first = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().with_timezone(&Utc);
    let since_first = (first - FIRST_SWEEP_WINDOW).format("%Y-%m-%dT%H:%M:%S").to_string();
    Mock::given(method("GET"))
        .and(path("/api.xro/2.0/Invoices"))
        .and(header("if-modified-since", since_first.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Invoices": []})))
        .expect(1)
        .mount(&double)
        .await;
    assert_eq!(sweeper.sweep(first).await.accounts_swept, 1);
    assert_eq!(store.pull_cursor(&account_id).await.unwrap(), Some(first));

    // Xero fails the next sweep: the cursor stays where it was.
    let second = first + Duration::minutes(15);
    let since_second = (first - OVERLAP).format("%Y-%m-%dT%H:%M:%S").to_string();
    Mock::given(method("GET"))
        .and(path("/api.xro/2.0/Invoices"))
        .and(header("if-modified-since", since_second.as_str()))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Message": "refused"})))
        .expect(1)
        .mount(&double)
        .await;
    assert_eq!(sweeper.sweep(second).await.accounts_failed, 1);
    assert_eq!(store.pull_cursor(&account_id).await.unwrap(), Some(first));
    assert!(queue.take_pulls().is_empty());
}
