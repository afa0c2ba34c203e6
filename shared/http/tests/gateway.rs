//! The shared HTTP edge, in process, with in-memory stores: versions, credentials, body limits,
//! idempotency and error bodies.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use invoicing_domain::{memory::InMemoryStore, Error};
use invoicing_http::{ApiResponse, Gateway, Request, Route};
use invoicing_test_support::api::{TestApi, TestRequest, TestResponse};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Fixture {
    api: TestApi<InMemoryStore>,
    gateway: Gateway<InMemoryStore, InMemoryStore>,
    calls: AtomicUsize,
}

impl Fixture {
    async fn new() -> Fixture {
        let api = TestApi::in_memory().await;
        let gateway = Gateway::new(api.store.clone(), api.store.clone());
        Fixture { api, gateway, calls: AtomicUsize::new(0) }
    }

    /// The fixture's store (with its account), for gateways of other stores in front of it.
    fn gateway_store(&self) -> InMemoryStore {
        self.api.store.clone()
    }

    /// A JSON POST with the account's Basic credentials.
    fn post(&self) -> TestRequest {
        self.api.request("POST", "/invoices").header("content-type", "application/json")
    }

    /// Serves with a handler that echoes the account and counts its calls.
    async fn serve(&self, request: TestRequest, route: &Route) -> TestResponse {
        self.serve_with(request, route, |context, _request| async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(ApiResponse::json(201, &json!({"account": context.account_id, "version": context.version.as_str()}))
                .with_header("location", "/invoices/x"))
        })
        .await
    }

    async fn serve_with<H, Fut>(&self, request: TestRequest, route: &Route, handler: H) -> TestResponse
    where
        H: FnOnce(invoicing_http::RequestContext, Request) -> Fut,
        Fut: std::future::Future<Output = Result<ApiResponse, Error>>,
    {
        TestResponse::from(self.gateway.serve(request.build(), route, handler).await)
    }
}

#[tokio::test]
async fn both_credential_kinds_authenticate_and_echo_the_version() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let response = f.serve(f.post().body("{}"), &route).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.json(), json!({"account": f.api.account.account.id, "version": "2024-07-30"}));
    assert_eq!(response.header("sequence-version"), Some("2024-07-30"));
    assert_eq!(response.header("content-type"), Some("application/json"));

    let with_key = TestRequest::new("POST", "/invoices")
        .header("X-API-Key", f.api.account.issued.api_key.clone())
        .header("Sequence-Version", "2024-01-01");
    let response = f.serve(with_key.body("{}"), &route).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.header("sequence-version"), Some("2024-01-01"));
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let unauthorized = json!({"error": {"type": "Unauthorized", "message": "missing or invalid credentials"}});
    let wrong_secret = format!("Basic {}", STANDARD.encode(format!("{}:nope", f.api.account.issued.client_id)));
    let api_key_as_basic = {
        let (id, secret) = f.api.account.issued.api_key.split_once('.').unwrap();
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    };
    let cases: Vec<(&str, String)> = vec![
        ("authorization", wrong_secret),
        ("authorization", "Basic !!!".into()),
        ("authorization", "Bearer token".into()),
        ("authorization", api_key_as_basic),
        ("x-api-key", format!("{}x", f.api.account.issued.api_key)),
        ("x-api-key", "nodot".into()),
    ];
    for (name, value) in cases {
        let request = TestRequest::new("POST", "/invoices").header(name, &value);
        let response = f.serve(request.body("{}"), &route).await;
        assert_eq!(response.status, 401, "{name}: {value}");
        assert_eq!(response.json(), unauthorized);
    }
    let anonymous = TestRequest::new("POST", "/invoices");
    let response = f.serve(anonymous.body("{}"), &route).await;
    assert_eq!(response.status, 401);
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_versions_are_400_before_anything_runs() {
    let f = Fixture::new().await;
    let response =
        f.serve(f.post().header("sequence-version", "2025-13-01").body("{}"), &Route::sequence("test")).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"error": {"type": "UnrecognisedApiVersion",
            "message": "unrecognised Sequence-Version `2025-13-01`; supported versions: 2024-01-01, 2024-07-30"}})
    );
    assert_eq!(response.header("sequence-version"), Some("2024-07-30"));
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn oversized_bodies_are_413_before_parsing() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let big = "x".repeat(1024 * 1024 + 1);
    let response = f.serve(f.post().body(&big), &route).await;
    assert_eq!(response.status, 413);
    assert_eq!(
        response.json(),
        json!({"error": {"type": "PayloadTooLarge",
            "message": "request body is 1048577 bytes; the limit is 1048576 bytes"}})
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_reuse() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let first = f.serve(f.post().header("idempotency-key", "k-1").body("{\"a\":1}"), &route).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);

    let replay = f.serve(f.post().header("Idempotency-Key", "k-1").body("{\"a\":1}"), &route).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("location"), Some("/invoices/x"));
    assert_eq!(replay.json(), first.json());
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);

    let reuse = f.serve(f.post().header("idempotency-key", "k-1").body("{\"a\":2}"), &route).await;
    assert_eq!(reuse.status, 422);
    assert_eq!(reuse.json()["error"]["type"], "IdempotencyKeyReuse");

    let too_long = f.serve(f.post().header("idempotency-key", "k".repeat(256)).body("{}"), &route).await;
    assert_eq!(too_long.status, 400);
    assert_eq!(
        too_long.json(),
        json!({"error": {"type": "ValidationError", "message": "Idempotency-Key must be at most 255 characters"}})
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn slash_routes_take_x_idempotency_key_and_check_every_key_header() {
    let f = Fixture::new().await;
    let route = Route::slash("test");
    let first = f.serve(f.post().header("x-idempotency-key", "s-1").body("{}"), &route).await;
    assert_eq!(first.status, 201);
    let replay = f.serve(f.post().header("x-idempotency-key", "s-1").body("{}"), &route).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);

    let request = f.post().header("idempotency-key", "s-2").header("x-idempotency-key", "k".repeat(256));
    let too_long = f.serve(request.body("{}"), &route).await;
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.json()["identifier"], "ValidationError");
    assert!(too_long.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("X-Idempotency-Key must be at most 255 characters ["));
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);

    // Sequence routes do not read X-Idempotency-Key at all.
    let request = f.post().header("x-idempotency-key", "k".repeat(256));
    assert_eq!(f.serve(request.body("{}"), &Route::sequence("test")).await.status, 201);
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
        let request = f.post().header("idempotency-key", "k-500").body("{}");
        let response = f.serve_with(request, &route, failing).await;
        assert_eq!(response.status, 500);
        assert_eq!(
            response.json(),
            json!({"error": {"type": "InternalError", "message": "An internal error occurred. Please retry later."}})
        );
    }
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn replays_carry_the_version_that_served_them() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let first = f.post().header("idempotency-key", "v-1").header("sequence-version", "2024-01-01");
    let first = f.serve(first.body("{}"), &route).await;
    assert_eq!(first.header("sequence-version"), Some("2024-01-01"));
    // The retry asks for the latest version; the replay says which version made the answer.
    let replay = f.serve(f.post().header("idempotency-key", "v-1").body("{}"), &route).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("sequence-version"), Some("2024-01-01"));
    assert_eq!(replay.json(), json!({"account": f.api.account.account.id, "version": "2024-01-01"}));
}

#[tokio::test]
async fn contention_answers_are_not_stored_so_a_retry_runs_again() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    let contended_once = |_: invoicing_http::RequestContext, _: Request| async {
        if f.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(Error::contended("the resource is being changed by other requests; retry shortly"))
        } else {
            Ok(ApiResponse::json(201, &json!({"ok": true})))
        }
    };
    let first = f.serve_with(f.post().header("idempotency-key", "c-1").body("{}"), &route, contended_once).await;
    assert_eq!(first.status, 409);
    let retry = f.serve_with(f.post().header("idempotency-key", "c-1").body("{}"), &route, contended_once).await;
    assert_eq!((retry.status, retry.header("idempotent-replayed")), (201, None));
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_api_key_counts_when_authorization_is_not_basic() {
    let f = Fixture::new().await;
    let route = Route::sequence("test");
    // A proxy in front of the API added a bearer token of its own.
    let request = TestRequest::new("POST", "/invoices")
        .header("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")
        .header("x-api-key", f.api.account.issued.api_key.clone());
    let response = f.serve(request.body("{}"), &route).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.json()["account"], f.api.account.account.id.as_str());
    // Well-formed Basic credentials are the ones that count, right or wrong.
    let wrong_basic = format!("Basic {}", STANDARD.encode(format!("{}:nope", f.api.account.issued.client_id)));
    let request = TestRequest::new("POST", "/invoices")
        .header("authorization", wrong_basic)
        .header("x-api-key", f.api.account.issued.api_key.clone());
    assert_eq!(f.serve(request.body("{}"), &route).await.status, 401);
}

/// Stores that count what the gateway asks of them, and can fail to record answers.
#[derive(Clone, Default)]
struct Counting {
    inner: InMemoryStore,
    lookups: std::sync::Arc<AtomicUsize>,
    completes: std::sync::Arc<AtomicUsize>,
    fail_completes: bool,
}

impl invoicing_domain::ports::CredentialStore for Counting {
    async fn find_credential(
        &self,
        id: &str,
    ) -> invoicing_domain::Result<Option<invoicing_domain::model::account::Credential>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_credential(id).await
    }
}

impl invoicing_domain::ports::IdempotencyStore for Counting {
    async fn claim(
        &self,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        now: chrono::DateTime<Utc>,
    ) -> invoicing_domain::Result<invoicing_domain::model::idempotency::Claim> {
        self.inner.claim(account_id, key, fingerprint, now).await
    }
    async fn complete(&self, receipt: &invoicing_domain::model::idempotency::Receipt) -> invoicing_domain::Result<()> {
        self.completes.fetch_add(1, Ordering::SeqCst);
        if self.fail_completes {
            return Err(Error::internal("DynamoDB UpdateItem failed: connection reset"));
        }
        self.inner.complete(receipt).await
    }
    async fn release(
        &self,
        claim: &invoicing_domain::model::idempotency::IdempotencyClaim,
    ) -> invoicing_domain::Result<()> {
        self.inner.release(claim).await
    }
}

use invoicing_domain::ports::IdempotencyStore;

#[tokio::test]
async fn credential_ids_are_checked_by_shape_before_any_lookup() {
    let f = Fixture::new().await;
    let store = Counting { inner: f.gateway_store(), ..Counting::default() };
    let gateway = Gateway::new(store.clone(), store.clone());
    let long_id = "c".repeat(3_000);
    let cases = [
        ("authorization", format!("Basic {}", STANDARD.encode(format!("{long_id}:secret")))),
        ("x-api-key", format!("{long_id}.secret")),
        ("x-api-key", "ak_not/base64url.secret".to_string()),
    ];
    for (name, value) in cases {
        let request = TestRequest::new("GET", "/invoices").header(name, value);
        let route = Route::sequence("test");
        let answer = gateway.serve(request.build(), &route, |_, _| async { Ok(ApiResponse::empty(204)) });
        let response = TestResponse::from(answer.await);
        assert_eq!(response.status, 401);
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 0, "no lookup with an id that cannot be a credential");
}

#[tokio::test]
async fn failing_to_record_an_answer_never_turns_success_into_an_error() {
    let f = Fixture::new().await;
    let store = Counting { inner: f.gateway_store(), fail_completes: true, ..Counting::default() };
    let gateway = Gateway::new(store.clone(), store.clone());
    let route = Route::sequence("test");
    let calculate = |_: invoicing_http::RequestContext, _: Request| async {
        f.calls.fetch_add(1, Ordering::SeqCst);
        Ok(ApiResponse::json(200, &json!({"total": "1.00"})))
    };
    for _ in 0..2 {
        let request = f.post().header("idempotency-key", "r-1").body("{}");
        let response = TestResponse::from(gateway.serve(request.build(), &route, calculate).await);
        assert_eq!((response.status, response.json()), (200, json!({"total": "1.00"})));
    }
    // The claim was released when recording failed: the retry ran again (it changes nothing).
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_answer_recorded_with_its_change_is_not_recorded_again() {
    let f = Fixture::new().await;
    let store = Counting { inner: f.gateway_store(), ..Counting::default() };
    let gateway = Gateway::new(store.clone(), store.clone());
    let route = Route::sequence("test");
    let changing = |context: invoicing_http::RequestContext, _: Request| {
        let store = store.clone();
        async move {
            let answer = ApiResponse::json(201, &json!({"created": true}));
            // What a change's transaction does with its receipt.
            let receipt = context.receipt(&answer).expect("the request carries a key");
            store.inner.complete(&receipt).await?;
            Ok(answer)
        }
    };
    let request = f.post().header("idempotency-key", "w-1").body("{}");
    let first = TestResponse::from(gateway.serve(request.clone().build(), &route, changing).await);
    assert_eq!(first.status, 201);
    assert_eq!(store.completes.load(Ordering::SeqCst), 0, "the gateway left the recorded answer alone");
    let replay = TestResponse::from(gateway.serve(request.build(), &route, changing).await);
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")));
}
