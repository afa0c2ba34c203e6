//! Webhook endpoints over HTTP (SPEC.md section 8): registered, read, changed and deleted through
//! `cargo lambda watch`, each account seeing only its own, the secret shown once.

use crate::helpers::{json_of, Stack};
use invoicing_domain::{model::webhooks::signature::WebhookSecret, ports::WebhookSecrets};
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
