//! Calling handlers in process as API Gateway would: an account, the shared gateway in front of a
//! store, requests with typed helpers, and answers read as JSON.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use invoicing_domain::{
    memory::InMemoryStore,
    model::account::NewAccount,
    ports::{AccountStore, CredentialStore, IdempotencyStore},
    Error,
};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{ApiResponse, Body, Gateway, Request, RequestContext, Route};
use lambda_http::RequestExt;
use serde_json::Value;
use std::{collections::HashMap, future::Future};

/// An account on a store, and the gateway every handler runs behind.
pub struct TestApi<S> {
    /// The store the gateway and the handlers share.
    pub store: S,
    /// The account whose credentials requests carry (see [`TestApi::request`]).
    pub account: NewAccount,
}

impl TestApi<InMemoryStore> {
    /// A new in-memory store with one account.
    pub async fn in_memory() -> TestApi<InMemoryStore> {
        TestApi::with_store(InMemoryStore::new()).await
    }
}

impl TestApi<DynamoStore> {
    /// A DynamoDB store (moto's, or one through a double) with one account.
    pub async fn on(store: DynamoStore) -> TestApi<DynamoStore> {
        TestApi::with_store(store).await
    }
}

impl<S: AccountStore + CredentialStore + IdempotencyStore + Clone> TestApi<S> {
    /// `store` with a new account ("Acme").
    pub async fn with_store(store: S) -> TestApi<S> {
        let account = NewAccount::generate("Acme", Utc::now());
        store.create_account(&account).await.expect("create the test account");
        TestApi { store, account }
    }

    /// Another account on the same store.
    pub async fn another_account(&self, name: &str) -> NewAccount {
        let account = NewAccount::generate(name, Utc::now());
        self.store.create_account(&account).await.expect("create another account");
        account
    }

    /// A request with the account's Basic credentials.
    pub fn request(&self, method: &str, uri: &str) -> TestRequest {
        TestRequest::new(method, uri).basic(&self.account)
    }

    /// Serves `request` on `route` with `handler`, behind the gateway, as a deployed function does.
    pub async fn call<H, Fut>(&self, route: &Route, request: TestRequest, handler: H) -> TestResponse
    where
        H: FnOnce(S, RequestContext, Request) -> Fut,
        Fut: Future<Output = Result<ApiResponse, Error>>,
    {
        let gateway = Gateway::new(self.store.clone(), self.store.clone());
        let store = self.store.clone();
        let response = gateway.serve(request.build(), route, |context, request| handler(store, context, request)).await;
        TestResponse::from(response)
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct TestRequest {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    path: HashMap<String, String>,
    query: HashMap<String, String>,
}

impl TestRequest {
    /// A request without credentials.
    pub fn new(method: &str, uri: &str) -> TestRequest {
        TestRequest {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: Vec::new(),
            body: None,
            path: HashMap::new(),
            query: HashMap::new(),
        }
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> TestRequest {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// With `account`'s Basic credentials (client id and secret).
    pub fn basic(self, account: &NewAccount) -> TestRequest {
        let pair = format!("{}:{}", account.issued.client_id, account.issued.client_secret);
        self.header("authorization", format!("Basic {}", STANDARD.encode(pair)))
    }

    /// With `account`'s API key instead of any other credentials.
    pub fn api_key(mut self, account: &NewAccount) -> TestRequest {
        self.headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        self.header("x-api-key", account.issued.api_key.clone())
    }

    /// With an `Idempotency-Key`.
    pub fn idempotency_key(self, key: &str) -> TestRequest {
        self.header("idempotency-key", key)
    }

    /// With a JSON body.
    pub fn json(self, body: &Value) -> TestRequest {
        self.body(body.to_string())
    }

    /// With a body as given.
    pub fn body(mut self, body: impl Into<String>) -> TestRequest {
        self.body = Some(body.into());
        self
    }

    /// With a path parameter, as API Gateway extracts it from the route.
    pub fn path(mut self, name: &str, value: &str) -> TestRequest {
        self.path.insert(name.to_string(), value.to_string());
        self
    }

    /// With a query string parameter.
    pub fn query(mut self, name: &str, value: &str) -> TestRequest {
        self.query.insert(name.to_string(), value.to_string());
        self
    }

    /// The request as `lambda_http` hands it to a function.
    pub fn build(self) -> Request {
        let mut builder = lambda_http::http::Request::builder().method(self.method.as_str()).uri(&self.uri);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let body = self.body.map_or(Body::Empty, Body::Text);
        builder
            .body(body)
            .expect("a valid test request")
            .with_path_parameters(self.path)
            .with_query_string_parameters(self.query)
    }
}

/// An answer, with its body read.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// The body as text (empty for 204).
    pub body: String,
}

impl TestResponse {
    /// The body as JSON (panics, failing the test, when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("a JSON body ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

impl From<lambda_http::Response<Body>> for TestResponse {
    fn from(response: lambda_http::Response<Body>) -> TestResponse {
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = match response.body() {
            Body::Text(text) => text.clone(),
            Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        TestResponse { status: response.status().as_u16(), headers, body }
    }
}
