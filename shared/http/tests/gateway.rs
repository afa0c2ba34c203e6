//! The shared HTTP edge, in process, with in-memory stores: versions, credentials, body limits,
//! idempotency and error bodies.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use invoicing_domain::{account::NewAccount, memory::InMemoryStore, ports::AccountStore, Error};
use invoicing_http::{ApiResponse, Body, Gateway, Request, Response, Route};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Fixture {
    gateway: Gateway<InMemoryStore, InMemoryStore>,
    account: NewAccount,
    calls: AtomicUsize,
}

impl Fixture {
    async fn new() -> Fixture {
        let store = InMemoryStore::new();
        let account = NewAccount::generate("Acme", Utc::now());
        store.create_account(&account).await.unwrap();
        Fixture { gateway: Gateway::new(store.clone(), store), account, calls: AtomicUsize::new(0) }
    }

    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.account.issued.client_id, self.account.issued.client_secret);
        format!("Basic {}", STANDARD.encode(pair))
    }

    fn post(&self, body: &str) -> lambda_http::http::request::Builder {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/invoices")
            .header("authorization", self.basic())
            .header("content-type", "application/json")
            .header("x-test-body", body)
    }

    /// Serves with a handler that echoes the account and counts its calls.
    async fn serve(&self, request: Request, route: &Route) -> Response<Body> {
        self.gateway
            .serve(request, route, |context, _request| async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                Ok(ApiResponse::json(201, &json!({"account": context.account_id, "version": context.version.as_str()}))
                    .with_header("location", "/invoices/x"))
            })
            .await
    }
}

fn build(builder: lambda_http::http::request::Builder, body: &str) -> Request {
    builder.body(Body::Text(body.to_string())).unwrap()
}

fn json_body(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn both_credential_kinds_authenticate_and_echo_the_version() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let response = f.serve(build(f.post("{}"), "{}"), &route).await;
    assert_eq!(response.status(), 201);
    assert_eq!(json_body(&response), json!({"account": f.account.account.id, "version": "2024-07-30"}));
    assert_eq!(header(&response, "sequence-version"), Some("2024-07-30"));
    assert_eq!(header(&response, "content-type"), Some("application/json"));

    let with_key = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/invoices")
        .header("X-API-Key", &f.account.issued.api_key)
        .header("Sequence-Version", "2024-01-01");
    let response = f.serve(build(with_key, "{}"), &route).await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "sequence-version"), Some("2024-01-01"));
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let unauthorized = json!({"error": {"type": "Unauthorized", "message": "missing or invalid credentials"}});
    let wrong_secret = format!("Basic {}", STANDARD.encode(format!("{}:nope", f.account.issued.client_id)));
    let api_key_as_basic = {
        let (id, secret) = f.account.issued.api_key.split_once('.').unwrap();
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    };
    let cases: Vec<(&str, String)> = vec![
        ("authorization", wrong_secret),
        ("authorization", "Basic !!!".into()),
        ("authorization", "Bearer token".into()),
        ("authorization", api_key_as_basic),
        ("x-api-key", format!("{}x", f.account.issued.api_key)),
        ("x-api-key", "nodot".into()),
    ];
    for (name, value) in cases {
        let request = lambda_http::http::Request::builder().method("POST").uri("/invoices").header(name, &value);
        let response = f.serve(build(request, "{}"), &route).await;
        assert_eq!(response.status(), 401, "{name}: {value}");
        assert_eq!(json_body(&response), unauthorized);
    }
    let anonymous = lambda_http::http::Request::builder().method("POST").uri("/invoices");
    let response = f.serve(build(anonymous, "{}"), &route).await;
    assert_eq!(response.status(), 401);
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_versions_are_400_before_anything_runs() {
    let f = Fixture::new().await;
    let response =
        f.serve(build(f.post("{}").header("sequence-version", "2025-13-01"), "{}"), &Route::sequence("test")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_body(&response),
        json!({"error": {"type": "UnrecognisedApiVersion",
            "message": "unrecognised Sequence-Version `2025-13-01`; supported versions: 2024-01-01, 2024-07-30"}})
    );
    assert_eq!(header(&response, "sequence-version"), Some("2024-07-30"));
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn oversized_bodies_are_413_before_parsing() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let big = "x".repeat(1024 * 1024 + 1);
    let response = f.serve(build(f.post(""), &big), &route).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        json_body(&response),
        json!({"error": {"type": "PayloadTooLarge",
            "message": "request body is 1048577 bytes; the limit is 1048576 bytes"}})
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_reuse() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let first = f.serve(build(f.post("").header("idempotency-key", "k-1"), "{\"a\":1}"), &route).await;
    assert_eq!(first.status(), 201);
    assert_eq!(header(&first, "idempotent-replayed"), None);

    let replay = f.serve(build(f.post("").header("Idempotency-Key", "k-1"), "{\"a\":1}"), &route).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(header(&replay, "idempotent-replayed"), Some("true"));
    assert_eq!(header(&replay, "location"), Some("/invoices/x"));
    assert_eq!(json_body(&replay), json_body(&first));
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);

    let reuse = f.serve(build(f.post("").header("idempotency-key", "k-1"), "{\"a\":2}"), &route).await;
    assert_eq!(reuse.status(), 422);
    assert_eq!(json_body(&reuse)["error"]["type"], "IdempotencyKeyReuse");

    let too_long = f.serve(build(f.post("").header("idempotency-key", "k".repeat(256)), "{}"), &route).await;
    assert_eq!(too_long.status(), 400);
    assert_eq!(
        json_body(&too_long),
        json!({"error": {"type": "ValidationError", "message": "Idempotency-Key must be at most 255 characters"}})
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn slash_routes_take_x_idempotency_key_and_check_every_key_header() {
    let f = Fixture::new().await;
    let route = Route::slash("test");
    let first = f.serve(build(f.post("").header("x-idempotency-key", "s-1"), "{}"), &route).await;
    assert_eq!(first.status(), 201);
    let replay = f.serve(build(f.post("").header("x-idempotency-key", "s-1"), "{}"), &route).await;
    assert_eq!(header(&replay, "idempotent-replayed"), Some("true"));
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);

    let request = f.post("").header("idempotency-key", "s-2").header("x-idempotency-key", "k".repeat(256));
    let too_long = f.serve(build(request, "{}"), &route).await;
    assert_eq!(too_long.status(), 400);
    assert_eq!(json_body(&too_long)["identifier"], "ValidationError");
    assert!(json_body(&too_long)["message"]
        .as_str()
        .unwrap()
        .starts_with("X-Idempotency-Key must be at most 255 characters ["));
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);

    // Sequence routes do not read X-Idempotency-Key at all.
    let request = f.post("").header("x-idempotency-key", "k".repeat(256));
    assert_eq!(f.serve(build(request, "{}"), &Route::sequence("test")).await.status(), 201);
}

#[tokio::test]
async fn server_errors_are_not_stored_so_a_retry_runs_again() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let failing = |_: invoicing_http::RequestContext, _: Request| async {
        f.calls.fetch_add(1, Ordering::SeqCst);
        Err::<ApiResponse, _>(Error::internal("store unreachable"))
    };
    for _ in 0..2 {
        let request = build(f.post("").header("idempotency-key", "k-500"), "{}");
        let response = f.gateway.serve(request, &route, failing).await;
        assert_eq!(response.status(), 500);
        assert_eq!(
            json_body(&response),
            json!({"error": {"type": "InternalError", "message": "An internal error occurred. Please retry later."}})
        );
    }
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
}
