//! The DynamoDB adapter against a real DynamoDB-protocol server (moto_server), one per test.

use chrono::{Duration, SubsecRound, Utc};
use invoicing_domain::{
    model::account::NewAccount,
    model::idempotency::{self, Claim, IdempotencyClaim, Receipt, StoredResponse},
    model::invoice::{CreateInvoice, Invoice, InvoiceStatus},
    model::Versioned,
    ports::{AccountStore, CredentialStore, IdempotencyStore, InvoiceQuery, InvoiceStore},
    ErrorKind,
};
use invoicing_test_support::MotoServer;
use serde_json::json;
use sha2::Digest;

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
    store.insert_invoice(&invoice, None, None).await.unwrap();

    assert_eq!(
        store.get_invoice("acct-a", &invoice.id).await.unwrap(),
        Some(Versioned { value: invoice.clone(), version: 1 })
    );
    assert_eq!(store.get_invoice("acct-b", &invoice.id).await.unwrap(), None);

    let again = store.insert_invoice(&invoice, None, None).await.unwrap_err();
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
        store.insert_invoice(&invoice, None, None).await.unwrap();
        created.push(invoice);
    }
    store.insert_invoice(&draft("acct-b", "c1"), None, None).await.unwrap();

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

fn acquired(claim: Claim) -> IdempotencyClaim {
    match claim {
        Claim::Acquired(claim) => claim,
        Claim::Replay(response) => panic!("expected to acquire the key, got a replay of {response:?}"),
    }
}

fn receipt(claim: &IdempotencyClaim, status: u16, body: String) -> Receipt {
    Receipt {
        claim: claim.clone(),
        response: StoredResponse {
            status,
            body,
            headers: vec![("location".into(), "/invoices/x".into())],
            version: Some("2024-01-01".into()),
        },
    }
}

#[tokio::test]
async fn idempotency_claims_complete_replay_and_release() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = Utc::now();
    let fp = idempotency::fingerprint("POST", "/invoices", b"{}");
    let other = idempotency::fingerprint("POST", "/invoices", b"{\"a\":1}");

    let k1 = acquired(store.claim("acct", "k1", &fp, now).await.unwrap());
    assert_eq!(store.claim("acct", "k1", &fp, now).await.unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(store.claim("acct", "k1", &other, now).await.unwrap_err().kind(), ErrorKind::IdempotencyKeyReuse);
    // Keys are scoped to the account.
    acquired(store.claim("other-acct", "k1", &fp, now).await.unwrap());

    let recorded = receipt(&k1, 201, "{\"id\":\"x\"}".into());
    store.complete(&recorded).await.unwrap();
    assert_eq!(store.claim("acct", "k1", &fp, now).await.unwrap(), Claim::Replay(recorded.response.clone()));
    // Releasing never drops a recorded answer, and a second answer never replaces the first.
    store.release(&k1).await.unwrap();
    store.complete(&receipt(&k1, 500, "later".into())).await.unwrap();
    assert_eq!(store.claim("acct", "k1", &fp, now).await.unwrap(), Claim::Replay(recorded.response.clone()));
    // After 24 hours the key is free again.
    let later = now + Duration::hours(24) + Duration::seconds(1);
    acquired(store.claim("acct", "k1", &other, later).await.unwrap());

    // A released claim (the request failed before changing anything) runs again.
    let k2 = acquired(store.claim("acct", "k2", &fp, now).await.unwrap());
    store.release(&k2).await.unwrap();
    let k2 = acquired(store.claim("acct", "k2", &fp, now).await.unwrap());

    // A claim whose owner went silent is taken over after the claim timeout, by the same request
    // only; the first owner can then neither record nor release anything under the key.
    let stale = now + idempotency::claim_timeout() + Duration::seconds(1);
    assert_eq!(store.claim("acct", "k2", &other, stale).await.unwrap_err().kind(), ErrorKind::IdempotencyKeyReuse);
    let k2_again = acquired(store.claim("acct", "k2", &fp, stale).await.unwrap());
    store.release(&k2).await.unwrap();
    store.complete(&receipt(&k2, 201, "first owner".into())).await.unwrap();
    store.complete(&receipt(&k2_again, 201, "second owner".into())).await.unwrap();
    match store.claim("acct", "k2", &fp, stale).await.unwrap() {
        Claim::Replay(response) => assert_eq!(response.body, "second owner"),
        other => panic!("expected the second owner's answer, got {other:?}"),
    }
}

#[tokio::test]
async fn answers_of_any_size_are_recorded_and_replayed() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = Utc::now();
    let fp = idempotency::fingerprint("POST", "/invoices-totals", b"{}");
    // 3 MB that compress poorly (hex of a hash chain): stored in several chunks.
    let mut digest = [0u8; 32];
    let mut body = String::with_capacity(3_000_000);
    while body.len() < 3_000_000 {
        digest = sha2::Sha256::digest(digest).into();
        body.push_str(&hex::encode(digest));
    }
    let claim = acquired(store.claim("acct", "big", &fp, now).await.unwrap());
    let recorded = receipt(&claim, 200, body);
    store.complete(&recorded).await.unwrap();
    assert_eq!(store.claim("acct", "big", &fp, now).await.unwrap(), Claim::Replay(recorded.response));
}

#[tokio::test]
async fn concurrent_claims_acquire_exactly_once() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = Utc::now();
    let fp = idempotency::fingerprint("POST", "/invoices", b"{}");
    let claims = futures::future::join_all((0..50).map(|_| store.claim("acct", "same-key", &fp, now))).await;
    let acquired = claims.iter().filter(|c| matches!(c, Ok(Claim::Acquired(_)))).count();
    let conflicts = claims.iter().filter(|c| matches!(c, Err(e) if e.kind() == ErrorKind::Conflict)).count();
    assert_eq!((acquired, conflicts), (1, 49));
}
