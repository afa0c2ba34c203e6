//! The DynamoDB adapter against a real DynamoDB-protocol server (moto_server), one per test.

use chrono::{Duration, SubsecRound, Utc};
use invoicing_domain::{
    account::NewAccount,
    idempotency::{self, Claim, StoredResponse},
    invoice::{CreateInvoice, Invoice, InvoiceStatus},
    lines::Versioned,
    ports::{AccountStore, CredentialStore, IdempotencyStore, InvoiceQuery, InvoiceStore},
    ErrorKind,
};
use invoicing_test_support::MotoServer;
use serde_json::json;

fn draft(account: &str, customer: &str) -> Invoice {
    let request: CreateInvoice =
        serde_json::from_value(json!({"currency": "EUR", "customerId": customer, "memo": "Thanks"})).unwrap();
    Invoice::new_draft(uuid_v7(), account, request, Utc::now().trunc_subsecs(3))
}

fn uuid_v7() -> String {
    // A millisecond apart, so that the ids sort in creation order.
    std::thread::sleep(std::time::Duration::from_millis(2));
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn invoices_round_trip_and_stay_in_their_account() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let invoice = draft("acct-a", "cust-1");
    store.insert_invoice(&invoice).await.unwrap();

    assert_eq!(
        store.get_invoice("acct-a", &invoice.id).await.unwrap(),
        Some(Versioned { value: invoice.clone(), version: 1 })
    );
    assert_eq!(store.get_invoice("acct-b", &invoice.id).await.unwrap(), None);

    let again = store.insert_invoice(&invoice).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);

    // The stored item carries the account-scoped keys and the version used by conditional updates.
    let item = moto
        .dynamodb_client()
        .get_item()
        .table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT#acct-a".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("INVOICE#{}", invoice.id)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["version"].as_n().unwrap(), "1");
    assert_eq!(item["netTotal"].as_s().unwrap(), "0.00");
    assert_eq!(item["status"].as_s().unwrap(), "DRAFT");
}

#[tokio::test]
async fn lists_page_in_creation_order_with_filters() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let mut created = Vec::new();
    for customer in ["c1", "c2", "c1", "c1", "c2"] {
        let invoice = draft("acct-a", customer);
        store.insert_invoice(&invoice).await.unwrap();
        created.push(invoice);
    }
    store.insert_invoice(&draft("acct-b", "c1")).await.unwrap();

    let mut query = InvoiceQuery { limit: 2, ..Default::default() };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.list_invoices("acct-a", &query).await.unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|i| i.id.clone()));
        match page.after {
            Some(after) => query.after = Some(after),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created.iter().map(|i| i.id.clone()).collect::<Vec<_>>());

    let c1 = InvoiceQuery { customer_id: Some("c1".into()), limit: 10, ..Default::default() };
    let page = store.list_invoices("acct-a", &c1).await.unwrap();
    let expected: Vec<String> = created.iter().filter(|i| i.customer_id == "c1").map(|i| i.id.clone()).collect();
    assert_eq!(page.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), expected);
    assert_eq!(page.after, None);

    let finals = InvoiceQuery { status: Some(InvoiceStatus::Final), limit: 10, ..Default::default() };
    assert!(store.list_invoices("acct-a", &finals).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn accounts_store_credentials_as_hashes() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let new = NewAccount::generate("Acme", Utc::now().trunc_subsecs(3));
    store.create_account(&new).await.unwrap();

    let found = store.find_credential(&new.issued.client_id).await.unwrap().unwrap();
    assert_eq!(found, new.credentials[0]);
    assert!(found.verify(&new.issued.client_secret));
    assert_eq!(store.find_credential("ci_unknown").await.unwrap(), None);

    // Creating the same account again must not overwrite it.
    assert_eq!(store.create_account(&new).await.unwrap_err().kind(), ErrorKind::Internal);
}

#[tokio::test]
async fn idempotency_claims_complete_replay_and_release() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = Utc::now();
    let fp = idempotency::fingerprint("POST", "/invoices", b"{}");
    let other = idempotency::fingerprint("POST", "/invoices", b"{\"a\":1}");

    assert_eq!(store.claim("acct", "k1", &fp, now).await.unwrap(), Claim::Acquired);
    assert_eq!(store.claim("acct", "k1", &fp, now).await.unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(store.claim("acct", "k1", &other, now).await.unwrap_err().kind(), ErrorKind::IdempotencyKeyReuse);
    // Keys are scoped to the account.
    assert_eq!(store.claim("other-acct", "k1", &fp, now).await.unwrap(), Claim::Acquired);

    let response = StoredResponse {
        status: 201,
        body: "{\"id\":\"x\"}".into(),
        headers: vec![("location".into(), "/invoices/x".into())],
    };
    store.complete("acct", "k1", &response).await.unwrap();
    assert_eq!(store.claim("acct", "k1", &fp, now).await.unwrap(), Claim::Replay(response.clone()));
    // Releasing never drops a completed response.
    store.release("acct", "k1").await.unwrap();
    assert_eq!(store.claim("acct", "k1", &fp, now).await.unwrap(), Claim::Replay(response));
    // After 24 hours the key is free again.
    let later = now + Duration::hours(24) + Duration::seconds(1);
    assert_eq!(store.claim("acct", "k1", &other, later).await.unwrap(), Claim::Acquired);

    // A released claim (the request failed with a 5xx) runs again.
    assert_eq!(store.claim("acct", "k2", &fp, now).await.unwrap(), Claim::Acquired);
    store.release("acct", "k2").await.unwrap();
    assert_eq!(store.claim("acct", "k2", &fp, now).await.unwrap(), Claim::Acquired);

    // A claim whose owner died is taken over after the claim timeout, by the same request only.
    let stale = now + idempotency::claim_timeout() + Duration::seconds(1);
    assert_eq!(store.claim("acct", "k2", &other, stale).await.unwrap_err().kind(), ErrorKind::IdempotencyKeyReuse);
    assert_eq!(store.claim("acct", "k2", &fp, stale).await.unwrap(), Claim::Acquired);
}

#[tokio::test]
async fn concurrent_claims_acquire_exactly_once() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = Utc::now();
    let fp = idempotency::fingerprint("POST", "/invoices", b"{}");
    let claims = futures::future::join_all((0..50).map(|_| store.claim("acct", "same-key", &fp, now))).await;
    let acquired = claims.iter().filter(|c| matches!(c, Ok(Claim::Acquired))).count();
    let conflicts = claims.iter().filter(|c| matches!(c, Err(e) if e.kind() == ErrorKind::Conflict)).count();
    assert_eq!((acquired, conflicts), (1, 49));
}
