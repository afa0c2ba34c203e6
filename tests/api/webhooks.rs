//! Webhooks over HTTP (SPEC.md section 8): endpoints registered, read, changed and deleted through
//! `cargo lambda watch`, each account seeing only its own, the secret shown once; and committed
//! changes delivered to a receiver that verifies them, through the outbox, its stream, the relay,
//! the delivery queue and the delivery function.

use crate::helpers::{json_of, Stack};
use chrono::Utc;
use invoicing_domain::{
    model::{account::NewAccount, webhooks::signature::WebhookSecret},
    ports::{AccountStore, WebhookSecrets},
};
use invoicing_test_support::webhooks::WebhookReceiver;
use reqwest::{Method, StatusCode};
use serde_json::json;

pub async fn webhook_endpoints_are_managed_over_http_and_stay_in_their_account(stack: &Stack) {
    let (acme, globex) = (&stack.acme, &stack.globex);
    // The local stack allows receivers on this machine.
    let body = json!({"url": "http://127.0.0.1:9/hooks", "events": ["INVOICE_FINALIZED"], "description": "ledger"});
    let (status, headers, created) = stack.post_json(acme, "/webhook-endpoints", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("/webhook-endpoints/{id}"));
    let secret = created["secret"].as_str().unwrap();
    // Kept in Secrets Manager (moto), exactly as shown.
    let secrets = invoicing_secrets::SecretsStore::new(
        aws_sdk_secretsmanager::Client::new(&stack.moto.sdk_config().await),
        stack.secrets_prefix.clone(),
    );
    let stored = secrets.webhook_secret(&acme.account.id, &id).await.unwrap().map(|s: WebhookSecret| s.expose());
    assert_eq!(stored.as_deref(), Some(secret));

    let path = format!("/webhook-endpoints/{id}");
    let (status, _, shown) = json_of(stack.as_account(acme, Method::GET, &path).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let mut without_secret = created.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(shown, without_secret);

    let (status, _, listed) =
        json_of(stack.as_account(acme, Method::GET, "/webhook-endpoints").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed["items"].as_array().unwrap().contains(&without_secret), "{listed}");

    // Another account sees nothing of it.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let request = stack.as_account(globex, method.clone(), &path).json(&json!({"status": "DISABLED"}));
        let (status, _, error) = json_of(request.send().await.unwrap()).await;
        assert_eq!((status, error["error"]["type"].as_str()), (StatusCode::NOT_FOUND, Some("NotFound")), "{method}");
    }
    let (_, _, theirs) =
        json_of(stack.as_account(globex, Method::GET, "/webhook-endpoints").send().await.unwrap()).await;
    assert!(!theirs["items"].as_array().unwrap().iter().any(|e| e["id"] == id.as_str()));

    let change = json!({"events": ["*"], "status": "DISABLED"});
    let (status, _, changed) =
        json_of(stack.as_account(acme, Method::PATCH, &path).json(&change).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["events"].clone(), changed["status"].clone()), (json!(["*"]), json!("DISABLED")));
    assert_eq!(changed["description"], "ledger");

    let bad = json!({"url": "ftp://127.0.0.1/hooks"});
    let (status, _, error) =
        json_of(stack.as_account(acme, Method::PATCH, &path).json(&bad).send().await.unwrap()).await;
    assert_eq!(
        (status, error),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": {"type": "ValidationError", "message": "url: must be an https URL"}})
        )
    );

    let deleted = stack.as_account(acme, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = stack.as_account(acme, Method::GET, &path).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(secrets.webhook_secret(&acme.account.id, &id).await.unwrap(), None);
}

/// The account's deliveries as the receiver verified them, once `expected` distinct events are
/// in (or after two minutes, for the assertions to say what is missing).
async fn verified_events(receiver: &WebhookReceiver, expected: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let verified = receiver.verified();
        let ids: std::collections::BTreeSet<String> =
            verified.iter().map(|line| line["webhook-id"].as_str().unwrap().to_string()).collect();
        if ids.len() >= expected || std::time::Instant::now() > deadline {
            // A moment more, so that a duplicate delivery would show.
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            return receiver.verified();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub async fn committed_changes_reach_a_receiver_signed_retried_and_once_each(stack: &Stack) {
    let account = NewAccount::generate("Hooks", Utc::now());
    stack.store.create_account(&account).await.unwrap();
    // The receiver needs the secret, which the creating answer shows: register, then point it there.
    let body = json!({"url": "http://127.0.0.1:9/not-yet", "events": ["*"]});
    let (status, _, created) = stack.post_json(&account, "/webhook-endpoints", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let endpoint_id = created["id"].as_str().unwrap().to_string();
    // Every event's first attempt gets a 500: each is delivered by its retry, 5 s later.
    let receiver = WebhookReceiver::start(created["secret"].as_str().unwrap(), 1);
    let path = format!("/webhook-endpoints/{endpoint_id}");
    let moved =
        stack.as_account(&account, Method::PATCH, &path).json(&json!({"url": receiver.url})).send().await.unwrap();
    assert_eq!(moved.status(), StatusCode::OK);

    // INVOICE_CREATED once, though the request is sent twice with its idempotency key.
    let create = || {
        stack
            .as_account(&account, Method::POST, "/invoices")
            .header("idempotency-key", "hooks-invoice-1")
            .json(&json!({"currency": "USD", "customerId": "cust-hooks", "dueDate": "2999-12-31"}))
            .send()
    };
    let (status, _, invoice) = json_of(create().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    let (_, headers, _) = json_of(create().await.unwrap()).await;
    assert_eq!(headers["idempotent-replayed"], "true");
    let id = invoice["id"].as_str().unwrap().to_string();
    let (status, _, _) = stack
        .post_json(
            &account,
            &format!("/invoices/{id}/line-items"),
            &json!({"title": "Audit", "quantity": "1", "rate": "50.00", "taxRate": "0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let finalize = || stack.as_account(&account, Method::POST, &format!("/invoices/{id}/finalize")).send();
    assert_eq!(finalize().await.unwrap().status(), StatusCode::OK);
    // A refused change (already FINAL) emits nothing.
    assert_eq!(finalize().await.unwrap().status(), StatusCode::CONFLICT);

    // 50 concurrent payments of $1 on a $50 invoice: UNPAID -> PARTIALLY_PAID once, -> PAID once.
    let payments = (0..50).map(|n| {
        let paid_at = format!("2026-11-26T12:{:02}:{:02}Z", n / 60, n % 60);
        let body = json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": paid_at, "amountCents": 100}}]);
        let request = stack
            .http
            .post(stack.url(&format!("/invoice/{id}/reconcile")))
            .header("x-api-key", &account.issued.api_key)
            .header("x-idempotency-key", format!("hooks-payment-{n}"))
            .json(&body);
        async move {
            // Sent again (same key: never paid twice) only when the answer is cargo lambda watch's
            // own 500, which it gives when it loses an invocation under this many concurrent ones
            // (docs/design.md, "cargo lambda watch"); any answer of the API counts as it is.
            for _ in 0..3 {
                let answer = request.try_clone().unwrap().send().await.unwrap();
                let status = answer.status();
                let text = answer.text().await.unwrap_or_default();
                if !(status == StatusCode::INTERNAL_SERVER_ERROR && text.contains("httpstatuses.com")) {
                    return (status, text);
                }
            }
            panic!("cargo lambda watch lost the same payment three times");
        }
    });
    let answers = futures::future::join_all(payments).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK), "{answers:?}");
    assert_eq!(
        stack.as_account(&account, Method::POST, &format!("/invoices/{id}/send")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // A second invoice, voided as a draft.
    let other = stack.create_invoice(&account, json!({"currency": "USD", "customerId": "cust-hooks"})).await;
    let other_id = other["id"].as_str().unwrap().to_string();
    assert_eq!(
        stack.as_account(&account, Method::POST, &format!("/invoices/{other_id}/void")).send().await.unwrap().status(),
        StatusCode::OK
    );

    let verified = verified_events(&receiver, 7).await;
    let mut ids: Vec<&str> = verified.iter().map(|line| line["webhook-id"].as_str().unwrap()).collect();
    let delivered = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((delivered, ids.len()), (7, 7), "one verified delivery per event: {verified:#?}");
    for line in &verified {
        // The id signed is the event's own, and it was the second attempt of it that got through.
        assert_eq!(line["webhook-id"], line["event"]["id"]);
        assert_eq!(line["attempt"], 2, "{line}");
    }
    let of_type = |kind: &str| -> Vec<&serde_json::Value> {
        verified.iter().map(|line| &line["event"]).filter(|event| event["type"] == kind).collect()
    };
    let on = |events: Vec<&serde_json::Value>| -> Vec<String> {
        events.iter().map(|e| e["data"]["invoice"]["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(on(of_type("INVOICE_CREATED")).len(), 2);
    assert!(on(of_type("INVOICE_CREATED")).contains(&id) && on(of_type("INVOICE_CREATED")).contains(&other_id));
    assert_eq!(on(of_type("INVOICE_FINALIZED")), [id.as_str()]);
    assert_eq!(of_type("INVOICE_FINALIZED")[0]["data"]["invoice"]["status"], "FINAL");
    let mut payment_statuses: Vec<String> = of_type("INVOICE_PAYMENT_STATUS_CHANGED")
        .iter()
        .map(|e| e["data"]["invoice"]["paymentStatus"].as_str().unwrap().to_string())
        .collect();
    payment_statuses.sort();
    assert_eq!(payment_statuses, ["PAID", "PARTIALLY_PAID"]);
    assert_eq!(on(of_type("INVOICE_SENT")), [id.as_str()]);
    assert_eq!(on(of_type("INVOICE_VOIDED")), [other_id.as_str()]);

    // The endpoint's deliveries: every event twice, the first attempt FAILED with the 500 and
    // the time of its retry, the second DELIVERED with the 204.
    let deliveries = format!("{path}/deliveries?limit=100");
    let (status, _, page) = json_of(stack.as_account(&account, Method::GET, &deliveries).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let attempts = page["items"].as_array().unwrap();
    assert_eq!(attempts.len(), 14, "{page:#}");
    for attempt in attempts {
        match attempt["attempt"].as_u64() {
            Some(1) => {
                assert_eq!(
                    (attempt["result"].as_str(), attempt["responseStatus"].as_u64()),
                    (Some("FAILED"), Some(500))
                );
                let at: chrono::DateTime<Utc> = attempt["attemptedAt"].as_str().unwrap().parse().unwrap();
                let next: chrono::DateTime<Utc> = attempt["nextAttemptAt"].as_str().unwrap().parse().unwrap();
                assert_eq!(next - at, chrono::TimeDelta::seconds(5));
            }
            _ => {
                assert_eq!(
                    (attempt["result"].as_str(), attempt["responseStatus"].as_u64()),
                    (Some("DELIVERED"), Some(204))
                );
                assert!(attempt["nextAttemptAt"].is_null());
            }
        }
    }
    // Another account's endpoint, and its deliveries, are not found.
    let theirs = stack.as_account(&stack.globex, Method::GET, &deliveries).send().await.unwrap();
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
}
