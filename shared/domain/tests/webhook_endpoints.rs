//! Webhook endpoint use cases on the in-memory store: what is stored, what is refused, and that
//! each account sees only its own endpoints.

use chrono::{DateTime, Utc};
use invoicing_domain::{
    memory::InMemoryStore,
    model::{
        webhooks::{target::TargetPolicy, EndpointStatus, EventSelection},
        Versioned,
    },
    ports::{Unrecorded, WebhookEndpoints, WebhookSecrets},
    service::webhooks::{
        create_endpoint, delete_endpoint, get_endpoint, list_endpoints, update_endpoint, CreatedEndpoint,
        EndpointChange, NewEndpoint,
    },
    ErrorKind,
};

const ACCOUNT: &str = "acc-1";
const OTHER: &str = "acc-2";

fn now() -> DateTime<Utc> {
    "2026-11-26T10:00:00Z".parse().unwrap()
}

fn new_endpoint(url: &str, events: &[&str]) -> NewEndpoint {
    NewEndpoint {
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        description: Some(" books ".into()),
    }
}

async fn created(store: &InMemoryStore, account: &str) -> CreatedEndpoint {
    let request = new_endpoint("https://hooks.example.com/in", &["INVOICE_SENT"]);
    create_endpoint(store, store, account, request, TargetPolicy::PublicHttpsOnly, now(), &Unrecorded).await.unwrap()
}

#[tokio::test]
async fn a_created_endpoint_is_stored_enabled_with_its_secret_kept_apart() {
    let store = InMemoryStore::new();
    let created = created(&store, ACCOUNT).await;
    let endpoint = &created.endpoint;
    assert_eq!(endpoint.url, "https://hooks.example.com/in");
    assert_eq!(endpoint.events.names(), ["INVOICE_SENT"]);
    assert_eq!(endpoint.description.as_deref(), Some("books"));
    assert_eq!((endpoint.status, endpoint.created_at, endpoint.failing_since), (EndpointStatus::Enabled, now(), None));
    let stored = get_endpoint(&store, ACCOUNT, &endpoint.id).await.unwrap();
    assert_eq!((&stored.value, stored.version), (endpoint, 1));
    assert_eq!(store.webhook_secret(ACCOUNT, &endpoint.id).await.unwrap(), Some(created.secret.clone()));
    let view = created.view();
    assert_eq!(view.secret, Some(created.secret.expose()));
    assert!(view.secret.unwrap().starts_with("whsec_"));
}

#[tokio::test]
async fn a_refused_endpoint_stores_nothing() {
    let store = InMemoryStore::new();
    let cases = [
        (new_endpoint("http://hooks.example.com/in", &["*"]), "url: must be an https URL"),
        (
            new_endpoint("https://10.0.0.8/in", &["*"]),
            "url: 10.0.0.8 is a private address, which deliveries may not reach",
        ),
        (
            new_endpoint("https://hooks.example.com/in", &[]),
            "events: name at least one event type, or \"*\" for all of them",
        ),
    ];
    for (request, message) in cases {
        let error =
            create_endpoint(&store, &store, ACCOUNT, request, TargetPolicy::PublicHttpsOnly, now(), &Unrecorded)
                .await
                .unwrap_err();
        assert_eq!((error.kind(), error.public_message().as_str()), (ErrorKind::Validation, message));
    }
    assert!(list_endpoints(&store, ACCOUNT, 10, None).await.unwrap().items.is_empty());
    assert_eq!(store.stored_webhook_secrets(), 0);
}

#[tokio::test]
async fn a_local_target_is_accepted_where_the_deployment_allows_it() {
    let store = InMemoryStore::new();
    let request = new_endpoint("http://127.0.0.1:9999/in", &["*"]);
    let allowed =
        create_endpoint(&store, &store, ACCOUNT, request, TargetPolicy::AllowLocal, now(), &Unrecorded).await.unwrap();
    assert_eq!(allowed.endpoint.url, "http://127.0.0.1:9999/in");
}

#[tokio::test]
async fn another_accounts_endpoint_is_not_found_by_any_route() {
    let store = InMemoryStore::new();
    let theirs = created(&store, OTHER).await.endpoint.id;
    let message = format!("no webhook endpoint {theirs}");
    assert_eq!(get_endpoint(&store, ACCOUNT, &theirs).await.unwrap_err().public_message(), message);
    let change = EndpointChange { status: Some(EndpointStatus::Disabled), ..Default::default() };
    let updated = update_endpoint(&store, ACCOUNT, &theirs, change, TargetPolicy::PublicHttpsOnly, now(), &Unrecorded);
    assert_eq!(updated.await.unwrap_err().public_message(), message);
    let deleted = delete_endpoint(&store, &store, ACCOUNT, &theirs, &Unrecorded).await;
    assert_eq!(deleted.unwrap_err().kind(), ErrorKind::NotFound);
    assert!(list_endpoints(&store, ACCOUNT, 10, None).await.unwrap().items.is_empty());
    assert_eq!(get_endpoint(&store, OTHER, &theirs).await.unwrap().value.status, EndpointStatus::Enabled);
    assert!(store.webhook_secret(OTHER, &theirs).await.unwrap().is_some());
}

#[tokio::test]
async fn a_change_applies_what_it_names_and_nothing_else() {
    let store = InMemoryStore::new();
    let id = created(&store, ACCOUNT).await.endpoint.id;
    let later = now() + chrono::TimeDelta::minutes(5);
    let change = EndpointChange {
        url: Some("https://other.example.com/hooks".into()),
        events: Some(vec!["*".into()]),
        ..Default::default()
    };
    let updated =
        update_endpoint(&store, ACCOUNT, &id, change, TargetPolicy::PublicHttpsOnly, later, &Unrecorded).await.unwrap();
    assert_eq!(updated.url, "https://other.example.com/hooks");
    assert_eq!(updated.events, EventSelection::Every);
    assert_eq!((updated.description.as_deref(), updated.created_at, updated.updated_at), (Some("books"), now(), later));
    assert_eq!(get_endpoint(&store, ACCOUNT, &id).await.unwrap(), Versioned { value: updated, version: 2 });

    let cleared = EndpointChange { description: Some("".into()), ..Default::default() };
    let updated = update_endpoint(&store, ACCOUNT, &id, cleared, TargetPolicy::PublicHttpsOnly, later, &Unrecorded)
        .await
        .unwrap();
    assert_eq!(updated.description, None);
}

#[tokio::test]
async fn a_refused_change_changes_nothing() {
    let store = InMemoryStore::new();
    let id = created(&store, ACCOUNT).await.endpoint.id;
    let before = get_endpoint(&store, ACCOUNT, &id).await.unwrap();
    let change = EndpointChange {
        url: Some("https://169.254.169.254/latest".into()),
        status: Some(EndpointStatus::Disabled),
        ..Default::default()
    };
    let error = update_endpoint(&store, ACCOUNT, &id, change, TargetPolicy::PublicHttpsOnly, now(), &Unrecorded)
        .await
        .unwrap_err();
    assert_eq!(error.public_message(), "url: 169.254.169.254 is a link-local address, which deliveries may not reach");
    assert_eq!(get_endpoint(&store, ACCOUNT, &id).await.unwrap(), before);
}

#[tokio::test]
async fn enabling_an_endpoint_the_service_disabled_starts_its_failures_afresh() {
    let store = InMemoryStore::new();
    let mut endpoint = created(&store, ACCOUNT).await.endpoint;
    endpoint.status = EndpointStatus::Disabled;
    endpoint.failing_since = Some(now() - chrono::TimeDelta::hours(30));
    store.replace_webhook_endpoint(&endpoint, 1, None).await.unwrap();

    let keep_disabled = EndpointChange { description: Some("paused".into()), ..Default::default() };
    let still = update_endpoint(
        &store,
        ACCOUNT,
        &endpoint.id,
        keep_disabled,
        TargetPolicy::PublicHttpsOnly,
        now(),
        &Unrecorded,
    )
    .await
    .unwrap();
    assert_eq!((still.status, still.failing_since), (EndpointStatus::Disabled, endpoint.failing_since));

    let enable = EndpointChange { status: Some(EndpointStatus::Enabled), ..Default::default() };
    let enabled =
        update_endpoint(&store, ACCOUNT, &endpoint.id, enable, TargetPolicy::PublicHttpsOnly, now(), &Unrecorded)
            .await
            .unwrap();
    assert_eq!((enabled.status, enabled.failing_since), (EndpointStatus::Enabled, None));
}

#[tokio::test]
async fn a_deleted_endpoint_and_its_secret_are_gone() {
    let store = InMemoryStore::new();
    let endpoint = created(&store, ACCOUNT).await.endpoint;
    let deleted = delete_endpoint(&store, &store, ACCOUNT, &endpoint.id, &Unrecorded).await.unwrap();
    assert_eq!(deleted, endpoint);
    assert_eq!(get_endpoint(&store, ACCOUNT, &endpoint.id).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(store.webhook_secret(ACCOUNT, &endpoint.id).await.unwrap(), None);
    let again = delete_endpoint(&store, &store, ACCOUNT, &endpoint.id, &Unrecorded).await.unwrap_err();
    assert_eq!(again.public_message(), format!("no webhook endpoint {}", endpoint.id));
}

#[tokio::test]
async fn endpoints_list_in_creation_order_a_page_at_a_time() {
    let store = InMemoryStore::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(created(&store, ACCOUNT).await.endpoint.id);
    }
    created(&store, OTHER).await;
    let first = list_endpoints(&store, ACCOUNT, 2, None).await.unwrap();
    assert_eq!(first.items.iter().map(|e| &e.id).collect::<Vec<_>>(), [&ids[0], &ids[1]]);
    assert_eq!(first.after.as_ref(), Some(&ids[1]));
    let second = list_endpoints(&store, ACCOUNT, 2, first.after.as_deref()).await.unwrap();
    assert_eq!(second.items.iter().map(|e| &e.id).collect::<Vec<_>>(), [&ids[2]]);
    assert_eq!(second.after, None);
}
