//! Webhook endpoints in DynamoDB (moto_server): versioned writes, account scoping and pages.

use invoicing_domain::{
    model::{
        webhooks::{EndpointStatus, EventSelection, WebhookEndpoint},
        Versioned,
    },
    ports::WebhookEndpoints,
    ErrorKind,
};
use invoicing_test_support::{webhooks::new_endpoint, MotoServer};

/// The shared test endpoint, selecting two event types (stored as a list of two names).
fn endpoint(account: &str) -> WebhookEndpoint {
    let events = EventSelection::parse(&["INVOICE_SENT".into(), "INVOICE_VOIDED".into()]).unwrap();
    WebhookEndpoint { events, ..new_endpoint(account, EndpointStatus::Enabled) }
}

#[tokio::test]
async fn an_endpoint_round_trips_in_its_account_only() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let endpoint = endpoint("acct-a");
    store.insert_webhook_endpoint(&endpoint, None).await.unwrap();
    assert_eq!(
        store.get_webhook_endpoint("acct-a", &endpoint.id).await.unwrap(),
        Some(Versioned { value: endpoint.clone(), version: 1 })
    );
    assert_eq!(store.get_webhook_endpoint("acct-b", &endpoint.id).await.unwrap(), None);
    assert_eq!(store.insert_webhook_endpoint(&endpoint, None).await.unwrap_err().kind(), ErrorKind::Conflict);

    // The stored item holds no secret: nothing in it starts with the secret prefix.
    let item = moto
        .dynamodb_client()
        .get_item()
        .table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT#acct-a".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("WEBHOOK-ENDPOINT#{}", endpoint.id)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["events"].as_l().unwrap().len(), 2);
    assert!(!format!("{item:?}").contains("whsec_"));
}

#[tokio::test]
async fn changes_and_deletions_need_the_version_they_read() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let mut endpoint = endpoint("acct-a");
    store.insert_webhook_endpoint(&endpoint, None).await.unwrap();

    endpoint.status = EndpointStatus::Disabled;
    endpoint.failing_since = Some(endpoint.created_at);
    store.replace_webhook_endpoint(&endpoint, 1, None).await.unwrap();
    let stale = store.replace_webhook_endpoint(&endpoint, 1, None).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Contended);
    assert_eq!(
        store.get_webhook_endpoint("acct-a", &endpoint.id).await.unwrap(),
        Some(Versioned { value: endpoint.clone(), version: 2 })
    );

    let stale = store.delete_webhook_endpoint("acct-a", &endpoint.id, 1, None).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Contended);
    store.delete_webhook_endpoint("acct-a", &endpoint.id, 2, None).await.unwrap();
    assert_eq!(store.get_webhook_endpoint("acct-a", &endpoint.id).await.unwrap(), None);
    let gone = store.delete_webhook_endpoint("acct-a", &endpoint.id, 2, None).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::Contended);
}

#[tokio::test]
async fn endpoints_list_in_creation_order_a_page_at_a_time() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        let endpoint = endpoint("acct-a");
        store.insert_webhook_endpoint(&endpoint, None).await.unwrap();
        created.push(endpoint.id);
    }
    store.insert_webhook_endpoint(&endpoint("acct-b"), None).await.unwrap();

    let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = store.list_webhook_endpoints("acct-a", 2, after.as_deref()).await.unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|e| e.id));
        match page.after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!((seen, pages), (created, 3));
}
