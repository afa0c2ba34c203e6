//! Xero connections a customer makes (SPEC.md section 7), through the API and xero-local's
//! authorize, token and connections endpoints: connect, callback, status, reconcile through the
//! connection, refusals that change nothing, disconnect and reconnect, and tenants kept apart.

use crate::helpers::{json_of, Stack, XERO_APP_CLIENT_ID};
use crate::reconcile::{finalized_invoice, reconcile};
use chrono::Utc;
use invoicing_domain::{
    model::account::NewAccount,
    model::xero_connection::PendingAuthorization,
    ports::{AccountStore, TokenVault, XeroConnections},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A client that does not follow redirects, as the tests check each hop.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn new_account(stack: &Stack, name: &str) -> NewAccount {
    let account = NewAccount::generate(name, Utc::now());
    stack.store.create_account(&account).await.unwrap();
    account
}

async fn connection(stack: &Stack, account: &NewAccount) -> Value {
    let (status, _, body) =
        json_of(stack.as_account(account, Method::GET, "/integrations/xero").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `POST /integrations/xero/connect`: the authorize URL and its query.
async fn start(stack: &Stack, account: &NewAccount, body: Option<Value>) -> (String, HashMap<String, String>) {
    let request = stack.as_account(account, Method::POST, "/integrations/xero/connect");
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let (status, headers, started) = json_of(request.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(headers["cache-control"], "no-store");
    let url = started["authorizeUrl"].as_str().unwrap().to_string();
    let expires_at: chrono::DateTime<Utc> = started["expiresAt"].as_str().unwrap().parse().unwrap();
    let lifetime = expires_at - Utc::now();
    assert!(lifetime > chrono::Duration::minutes(9) && lifetime <= chrono::Duration::minutes(10), "{lifetime}");
    let query = reqwest::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    (url, query)
}

/// The customer says yes in Xero: xero-local's authorize answers a 302 to the callback with a
/// code; answers that callback URL.
async fn authorize(stack: &Stack, authorize_url: &str) -> String {
    let answer = browser().get(authorize_url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    let callback = answer.headers()["location"].to_str().unwrap().to_string();
    assert!(callback.starts_with(&stack.url("/integrations/xero/callback?code=")), "{callback}");
    callback
}

/// The browser arrives at the callback: status, headers, body.
async fn arrive(url: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let answer = browser().get(url).send().await.unwrap();
    (answer.status(), answer.headers().clone(), answer.text().await.unwrap())
}

/// xero-local's one organisation (`GET /connections`): its id and name.
async fn xero_local_tenant(stack: &Stack) -> (String, String) {
    let listed: Value = stack
        .http
        .get(format!("{}/connections", stack.xero_url))
        .bearer_auth(stack.xero_token().await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (listed[0]["tenantId"].as_str().unwrap().to_string(), listed[0]["tenantName"].as_str().unwrap().to_string())
}

fn assert_page(headers: &reqwest::header::HeaderMap) {
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

async fn reconcile_refused(stack: &Stack, account: &NewAccount) -> Value {
    let body = json!({"integrationService": "Xero", "invoiceIds": [], "propertiesToCompare": ["STATUS"]});
    let (status, _, error) = stack.post_json(account, "/invoices/reconcile-with-integration", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    error
}

pub async fn connect_reconcile_disconnect_and_reconnect_through_xeros_authorization_code_flow(stack: &Stack) {
    let account = new_account(stack, "Hooli").await;
    let not_connected = json!({"status": "NOT_CONNECTED", "kind": null, "tenantId": null, "tenantName": null,
        "connectedAt": null, "scopes": [], "lastError": null, "tenants": []});
    assert_eq!(connection(stack, &account).await, not_connected);
    assert_eq!(
        reconcile_refused(stack, &account).await["error"]["message"],
        "integrationService: this account has no Xero connection; connect one before reconciling"
    );

    // 1. The authorize URL: code flow, the app, our callback, the scopes, a state and PKCE S256.
    let (authorize_url, query) = start(stack, &account, None).await;
    assert!(authorize_url.starts_with(&format!("{}/identity/connect/authorize?", stack.xero_url)));
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], XERO_APP_CLIENT_ID);
    assert_eq!(query["redirect_uri"], stack.url("/integrations/xero/callback"));
    assert_eq!(query["scope"], "offline_access accounting.invoices.read");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!((query["state"].len(), query["code_challenge"].len()), (43, 43));

    // 2. Xero sends the browser back; the callback connects the one organisation and says so.
    let callback = authorize(stack, &authorize_url).await;
    let (status, headers, page) = arrive(&callback).await;
    let (tenant_id, tenant_name) = xero_local_tenant(stack).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_page(&headers);
    assert!(page.contains("<h1>Connected to Xero</h1>"), "{page}");
    assert!(page.contains(&format!("\u{201c}{tenant_name}\u{201d} is connected")), "{page}");

    let connected = connection(stack, &account).await;
    assert_eq!(connected["status"], "CONNECTED");
    assert_eq!(connected["kind"], "OAUTH");
    assert_eq!(connected["tenantId"], tenant_id.as_str());
    assert_eq!(connected["tenantName"], tenant_name.as_str());
    assert_eq!(connected["tenants"], json!([{"tenantId": tenant_id, "tenantName": tenant_name}]));
    assert_eq!(connected["lastError"], Value::Null);
    assert!(connected["scopes"].as_array().unwrap().contains(&json!("accounting.invoices")), "{connected}");
    // The tokens are in the vault (Secrets Manager), never in the table nor in an answer.
    let secrets = invoicing_secrets::SecretsStore::new(
        aws_sdk_secretsmanager::Client::new(&stack.moto.sdk_config().await),
        &stack.secrets_prefix,
    );
    let tokens = secrets.token_set(&account.account.id).await.unwrap().expect("a token set in the vault");
    assert!(
        tokens.access_token.starts_with("xero-local-token-") && tokens.refresh_token.starts_with("xero-local-refresh-")
    );
    let item = stack.connection_item(&account).await;
    assert!(!item.contains(&tokens.access_token) && !item.contains(&tokens.refresh_token) && !item.contains("Token"));
    assert!(!connected.to_string().contains(&tokens.access_token));

    // 3. The state was used: the same callback again is a 400 page and changes nothing.
    let (status, headers, page) = arrive(&callback).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_page(&headers);
    assert!(page.contains("This link is unknown or was already used"), "{page}");
    assert_eq!(connection(stack, &account).await, connected);

    // 4. Reconcile through the connection: every call carries its tenant. An invoice numbered in
    // this organisation matches; one whose number exists only in another organisation (another
    // account's, a custom connection to a tenant of its own) is not in Xero for this account.
    let neighbour = stack.custom_connected_account("Neighbour").await;
    let (here, here_number) = finalized_invoice(stack, &account).await;
    let (elsewhere, elsewhere_number) = finalized_invoice(stack, &account).await;
    stack.create_documents_in_tenant(&tenant_id, &[("ACCREC", &here_number, "AUTHORISED")]).await;
    stack.create_in_xero(&neighbour, &[(&elsewhere_number, "AUTHORISED")]).await;
    let (job, outcomes) = reconcile(stack, &account, &[&here, &elsewhere]).await;
    assert_eq!(
        job["counts"],
        json!({"total": 2, "matched": 1, "mismatched": 0, "notInIntegration": 1,
        "notFound": 0, "skipped": 0, "failed": 0})
    );
    assert_eq!(outcomes[&here]["outcome"], "MATCHED");
    assert_eq!(outcomes[&elsewhere]["outcome"], "NOT_IN_INTEGRATION");
    // ... and the neighbour does not see this organisation's invoice either.
    let (theirs, their_number) = finalized_invoice(stack, &neighbour).await;
    stack.create_documents_in_tenant(&tenant_id, &[("ACCREC", &their_number, "AUTHORISED")]).await;
    let (_, their_outcomes) = reconcile(stack, &neighbour, &[&theirs]).await;
    assert_eq!(their_outcomes[&theirs]["outcome"], "NOT_IN_INTEGRATION");

    // 5. Disconnect: 204, the tokens forgotten, reconcile refused; a repeat is 204 too.
    let disconnected = stack.as_account(&account, Method::DELETE, "/integrations/xero").send().await.unwrap();
    assert_eq!(disconnected.status(), StatusCode::NO_CONTENT);
    assert_eq!(connection(stack, &account).await, not_connected);
    assert!(secrets.token_set(&account.account.id).await.unwrap().is_none());
    reconcile_refused(stack, &account).await;
    let again = stack.as_account(&account, Method::DELETE, "/integrations/xero").send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);

    // 6. Reconnecting works, and reconcile with it.
    let (authorize_url, _) = start(stack, &account, None).await;
    let (status, _, _) = arrive(&authorize(stack, &authorize_url).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(connection(stack, &account).await["status"], "CONNECTED");
    let (job, _) = reconcile(stack, &account, &[&here]).await;
    assert_eq!(job["counts"]["matched"], 1);
}

pub async fn callback_refusals_change_nothing_and_redirects_carry_the_outcome(stack: &Stack) {
    let account = new_account(stack, "Pied Piper").await;
    let not_connected = connection(stack, &account).await;
    assert_eq!(not_connected["status"], "NOT_CONNECTED");
    let redirect_url = "https://app.example.test/settings?tab=xero";

    // The customer says no in Xero: back to the client's page with xero=error; nothing changed,
    // and the state is used up.
    let (_, query) = start(stack, &account, Some(json!({"redirectUrl": redirect_url}))).await;
    let denied = stack.url(&format!("/integrations/xero/callback?error=access_denied&state={}", query["state"]));
    let answer = browser().get(&denied).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    assert_eq!(answer.headers()["location"], "https://app.example.test/settings?tab=xero&xero=error");
    assert_eq!(connection(stack, &account).await, not_connected);
    let (status, _, page) = arrive(&denied).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("already used"), "{page}");

    // Without a redirectUrl: a 400 page that says why.
    let (_, query) = start(stack, &account, None).await;
    let (status, headers, page) =
        arrive(&stack.url(&format!("/integrations/xero/callback?error=access_denied&state={}", query["state"]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_page(&headers);
    assert!(page.contains("Access was not granted in Xero: nothing was connected."), "{page}");

    // A good state without a code, an unknown state, no state at all.
    let (_, query) = start(stack, &account, None).await;
    let (status, _, page) = arrive(&stack.url(&format!("/integrations/xero/callback?state={}", query["state"]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Xero sent no authorization code"), "{page}");
    let (status, _, page) = arrive(&stack.url("/integrations/xero/callback?code=abc&state=made-up")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("unknown or was already used"), "{page}");
    let (status, _, page) = arrive(&stack.url("/integrations/xero/callback?code=abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("no state"), "{page}");

    // An expired state (handed out 11 minutes ago) is refused even with a code.
    let mut old = PendingAuthorization::generate(&account.account.id, None, Utc::now() - chrono::Duration::minutes(11));
    old.redirect_url = None;
    stack.store.save_authorization(&old).await.unwrap();
    let (status, _, page) =
        arrive(&stack.url(&format!("/integrations/xero/callback?code=abc&state={}", old.state))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("This link expired"), "{page}");
    assert_eq!(connection(stack, &account).await, not_connected);

    // Bad redirect URLs are refused at connect.
    for bad in ["http://app.example.test/", "javascript:alert(1)"] {
        let (status, _, error) =
            stack.post_json(&account, "/integrations/xero/connect", &json!({"redirectUrl": bad})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["error"]["type"], "ValidationError");
    }

    // A success with a redirectUrl: back to the client's page with xero=connected.
    let (authorize_url, _) = start(stack, &account, Some(json!({"redirectUrl": redirect_url}))).await;
    let answer = browser().get(authorize(stack, &authorize_url).await).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    assert_eq!(answer.headers()["location"], "https://app.example.test/settings?tab=xero&xero=connected");
    assert_eq!(connection(stack, &account).await["status"], "CONNECTED");

    // PUT picks among the authorized tenants only.
    let (tenant_id, _) = xero_local_tenant(stack).await;
    let (status, _, error) = json_of(
        stack
            .as_account(&account, Method::PUT, "/integrations/xero")
            .json(&json!({"tenantId": "not-ours"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _, chosen) = json_of(
        stack
            .as_account(&account, Method::PUT, "/integrations/xero")
            .json(&json!({"tenantId": tenant_id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, chosen["status"].as_str()), (StatusCode::OK, Some("CONNECTED")));

    // Another account cannot see or remove this connection.
    let other = new_account(stack, "Other").await;
    assert_eq!(connection(stack, &other).await["status"], "NOT_CONNECTED");
    assert_eq!(stack.store.oauth_connection(&other.account.id).await.unwrap(), None);
}

pub async fn custom_connections_show_as_such_and_stay_an_operators(stack: &Stack) {
    let account = stack.custom_connected_account("Operated").await;
    let shown = connection(stack, &account).await;
    assert_eq!(
        shown,
        json!({"status": "CONNECTED", "kind": "CUSTOM_CONNECTION", "tenantId": account.account.id, "tenantName": null,
            "connectedAt": null, "scopes": [], "lastError": null, "tenants": []})
    );
    let removed = stack.as_account(&account, Method::DELETE, "/integrations/xero").send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::CONFLICT);
    let (status, _, error) = json_of(
        stack
            .as_account(&account, Method::PUT, "/integrations/xero")
            .json(&json!({"tenantId": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error["error"]["message"],
        "this account uses a custom Xero connection, which reaches one organisation; an operator manages it"
    );
    assert_eq!(connection(stack, &account).await, shown);
}
