use crate::{
    auth::authenticate,
    errors::{error_response, ErrorStyle},
    request::body_bytes,
};
use chrono::{DateTime, SubsecRound, Utc};
use invoicing_domain::{
    model::idempotency::{self, Claim, IdempotencyClaim, Receipt, StoredResponse},
    model::version::ApiVersion,
    ports::Respond,
    ports::{CredentialStore, IdempotencyStore},
    Error, ErrorKind,
};
use lambda_http::{http::HeaderValue, service_fn, Body, Request, RequestExt, Response};
use serde::Serialize;
use std::{
    convert::Infallible,
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Instant,
};

/// Who is asking, under which API version, and when.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The account the credentials belong to.
    pub account_id: String,
    /// The version serving the request.
    pub version: ApiVersion,
    /// Lambda's request id.
    pub request_id: String,
    /// The request's time, to the millisecond, so stored and returned times agree.
    pub now: DateTime<Utc>,
    /// The idempotency key this request holds, if it carries one.
    pub idempotency: Option<IdempotencyClaim>,
    /// Set once a receipt was handed out: the handler's change then records its own answer.
    recorded: Arc<AtomicBool>,
}

impl RequestContext {
    /// A context for a request without an idempotency key (tests, and handlers called directly).
    pub fn new(account_id: impl Into<String>, version: ApiVersion, request_id: impl Into<String>) -> Self {
        RequestContext {
            account_id: account_id.into(),
            version,
            request_id: request_id.into(),
            now: Utc::now().trunc_subsecs(3),
            idempotency: None,
            recorded: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The receipt that records `answer` under this request's idempotency key, for a change to
    /// commit with it; `None` without a key.
    pub fn receipt(&self, answer: &ApiResponse) -> Option<Receipt> {
        let claim = self.idempotency.as_ref()?;
        self.recorded.store(true, Ordering::SeqCst);
        Some(Receipt { claim: claim.clone(), response: answer.to_stored(self.version) })
    }

    /// How a use case answers this request: `answer` turns what it commits into the HTTP answer,
    /// which is recorded with the change when the request carries an idempotency key.
    pub fn respond<T, F: Fn(&T) -> Result<ApiResponse, Error>>(&self, answer: F) -> Responder<'_, F> {
        Responder { context: self, answer }
    }
}

/// [`RequestContext::respond`]'s answerer.
pub struct Responder<'a, F> {
    context: &'a RequestContext,
    answer: F,
}

impl<T, F: Fn(&T) -> Result<ApiResponse, Error>> Respond<T> for Responder<'_, F> {
    type Answer = ApiResponse;
    fn answer(&self, committed: &T) -> Result<ApiResponse, Error> {
        (self.answer)(committed)
    }
    fn receipt(&self, answer: &ApiResponse) -> Option<Receipt> {
        self.context.receipt(answer)
    }
}

/// What a handler answers: a status, a JSON body and extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body (JSON, or empty).
    pub body: String,
    /// Extra headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl ApiResponse {
    /// A JSON answer.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> ApiResponse {
        let body = serde_json::to_string(body).expect("API bodies are always serializable");
        ApiResponse { status, body, headers: Vec::new() }
    }

    /// An answer without a body, such as 204.
    pub fn empty(status: u16) -> ApiResponse {
        ApiResponse { status, body: String::new(), headers: Vec::new() }
    }

    /// With an extra header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiResponse {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    fn to_stored(&self, version: ApiVersion) -> StoredResponse {
        StoredResponse {
            status: self.status,
            body: self.body.clone(),
            headers: self.headers.clone(),
            version: Some(version.as_str().to_string()),
        }
    }
}

/// Per-route settings.
#[derive(Debug, Clone)]
pub struct Route {
    /// The function's name (in logs).
    pub name: &'static str,
    /// Which API's error bodies.
    pub error_style: ErrorStyle,
    /// The largest body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Served without credentials (the OAuth callback, where a browser arrives from Xero and
    /// the `state` parameter is the credential); its context has no account.
    pub public: bool,
}

impl Route {
    /// A Sequence-style route with the default 1 MiB body limit (docs/contract.md, section 2).
    pub fn sequence(name: &'static str) -> Route {
        Route { name, error_style: ErrorStyle::Sequence, max_body_bytes: 1024 * 1024, public: false }
    }

    /// A route a browser reaches without credentials (no body accepted).
    pub fn public(name: &'static str) -> Route {
        Route { public: true, max_body_bytes: 0, ..Route::sequence(name) }
    }

    /// A Slash-style route (`/invoice/...`): Slash error bodies, `X-Idempotency-Key` accepted.
    pub fn slash(name: &'static str) -> Route {
        Route { error_style: ErrorStyle::Slash, ..Route::sequence(name) }
    }
}

/// Everything between API Gateway and a handler. Built once per cold start.
pub struct Gateway<C, I> {
    credentials: C,
    idempotency: I,
}

impl<C: CredentialStore, I: IdempotencyStore> Gateway<C, I> {
    /// A gateway authenticating with `credentials` and keeping idempotency records in `idempotency`.
    pub fn new(credentials: C, idempotency: I) -> Self {
        Self { credentials, idempotency }
    }

    /// Serves one request: never fails, every error becomes its HTTP answer.
    pub async fn serve<H, Fut>(&self, request: Request, route: &Route, handler: H) -> Response<Body>
    where
        H: FnOnce(RequestContext, Request) -> Fut,
        Fut: Future<Output = Result<ApiResponse, Error>>,
    {
        let started = Instant::now();
        let request_id = request.lambda_context_ref().map(|context| context.request_id.clone()).unwrap_or_default();
        let method = request.method().as_str().to_string();
        let version_header = request.headers().get("sequence-version").map(|v| v.to_str().unwrap_or("<non-ascii>"));
        let (version, outcome) = match ApiVersion::resolve(version_header) {
            Ok(version) => (version, self.serve_version(request, route, handler, version, &request_id).await),
            Err(error) => (ApiVersion::LATEST, Err(error)),
        };
        let (response, served_by, replayed) = match outcome {
            Ok(Served::Fresh(response)) => (response, version.as_str().to_string(), false),
            Ok(Served::Replayed(stored)) => {
                // A replay is labelled with the version that served the original.
                let served_by = stored
                    .version
                    .as_deref()
                    .and_then(|v| ApiVersion::resolve(Some(v)).ok())
                    .unwrap_or(version)
                    .as_str()
                    .to_string();
                (ApiResponse { status: stored.status, body: stored.body, headers: stored.headers }, served_by, true)
            }
            Err(error) => (self.answer_error(&error, route, &request_id), version.as_str().to_string(), false),
        };
        tracing::info!(
            requestId = %request_id,
            route = route.name,
            method = %method,
            status = response.status,
            replayed,
            elapsedMs = started.elapsed().as_millis() as u64,
            "request served"
        );
        to_http(response, &served_by, replayed)
    }

    fn answer_error(&self, error: &Error, route: &Route, request_id: &str) -> ApiResponse {
        if error.kind() == ErrorKind::Internal {
            tracing::error!(requestId = %request_id, error = %error.report(), "request failed");
        }
        error_response(error, route.error_style, request_id)
    }

    async fn serve_version<H, Fut>(
        &self,
        request: Request,
        route: &Route,
        handler: H,
        version: ApiVersion,
        request_id: &str,
    ) -> Result<Served, Error>
    where
        H: FnOnce(RequestContext, Request) -> Fut,
        Fut: Future<Output = Result<ApiResponse, Error>>,
    {
        let body = body_bytes(&request);
        if body.len() > route.max_body_bytes {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!("request body is {} bytes; the limit is {} bytes", body.len(), route.max_body_bytes),
            ));
        }
        let account_id = if route.public { String::new() } else { authenticate(&self.credentials, &request).await? };
        let mut context = RequestContext::new(account_id, version, request_id);

        // Idempotency records belong to an account: a public route (no account) keeps none, and a
        // key it carries is ignored (its handlers are idempotent of themselves).
        let key = if route.public { None } else { idempotency_key(&request, route)? };
        let Some(key) = key else {
            let response = match handler(context, request).await {
                Ok(response) => response,
                Err(error) => self.answer_error(&error, route, request_id),
            };
            return Ok(Served::Fresh(response));
        };

        let fingerprint = idempotency::fingerprint(request.method().as_str(), request.uri().path(), body);
        let claim = match self.idempotency.claim(&context.account_id, &key, &fingerprint, context.now).await? {
            Claim::Replay(stored) => return Ok(Served::Replayed(stored)),
            Claim::Acquired(claim) => claim,
        };
        context.idempotency = Some(claim.clone());
        let recorded = Arc::clone(&context.recorded);
        let (response, changed) = match handler(context, request).await {
            // Its change committed together with its answer: nothing is left to do, and nothing
            // may fail now.
            Ok(response) => (response, recorded.load(Ordering::SeqCst)),
            Err(error) => {
                let response = self.answer_error(&error, route, request_id);
                if response.status >= 500 || error.kind() == ErrorKind::Contended {
                    // Nothing changed: a retry must run again rather than replay a failure or a
                    // passing contention.
                    if let Err(release) = self.idempotency.release(&claim).await {
                        tracing::warn!(requestId = %request_id, error = %release.report(), "could not release an idempotency claim");
                    }
                    return Ok(Served::Fresh(response));
                }
                (response, false)
            }
        };
        if !changed {
            // An answer of a request that changed nothing (a 4xx, or a calculation): recorded
            // afterwards. Failing to record it costs only a re-run of a request without effect,
            // so the answer goes out regardless.
            let receipt = Receipt { claim, response: response.to_stored(version) };
            if let Err(error) = self.idempotency.complete(&receipt).await {
                tracing::warn!(requestId = %request_id, error = %error.report(), "could not record an idempotent answer");
                let _ = self.idempotency.release(&receipt.claim).await;
            }
        }
        Ok(Served::Fresh(response))
    }
}

/// A request's answer: run now, or replayed from its idempotency record.
enum Served {
    Fresh(ApiResponse),
    Replayed(StoredResponse),
}

/// The request's idempotency key, if it carries one (POST only; Slash routes also accept
/// `X-Idempotency-Key`, used when `Idempotency-Key` is absent). Every key header present is
/// checked, so an invalid `X-Idempotency-Key` is a 400 even beside a valid `Idempotency-Key`.
fn idempotency_key(request: &Request, route: &Route) -> Result<Option<String>, Error> {
    if request.method() != "POST" {
        return Ok(None);
    }
    let mut names = vec!["Idempotency-Key"];
    if route.error_style == ErrorStyle::Slash {
        names.push("X-Idempotency-Key");
    }
    let mut key = None;
    for name in names {
        let Some(value) = request.headers().get(name) else { continue };
        let value = value.to_str().map_err(|_| Error::validation(format!("{name} must be printable ASCII")))?;
        idempotency::validate_key(value)
            .map_err(|e| Error::validation(e.public_message().replacen("Idempotency-Key", name, 1)))?;
        key.get_or_insert_with(|| value.to_string());
    }
    Ok(key)
}

fn to_http(response: ApiResponse, version: &str, replayed: bool) -> Response<Body> {
    let mut builder = Response::builder().status(response.status).header("sequence-version", version);
    if !response.body.is_empty() && !response.headers.iter().any(|(name, _)| name == "content-type") {
        builder = builder.header("content-type", "application/json");
    }
    if replayed {
        builder = builder.header("idempotent-replayed", "true");
    }
    for (name, value) in &response.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            builder = builder.header(name.as_str(), value);
        }
    }
    builder.body(Body::Text(response.body)).unwrap_or_else(|error| {
        // Only a corrupt stored answer (an impossible status) gets here.
        tracing::error!(error = %error, "unusable response parts");
        let mut fallback = Response::new(Body::Text(
            r#"{"error":{"type":"InternalError","message":"An internal error occurred. Please retry later."}}"#.into(),
        ));
        *fallback.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

/// Runs a Lambda function that serves one route with one handler. Stores are built once, before
/// the first request, and shared by every invocation of the execution environment; the runtime
/// loop outlives a failed exchange with the Runtime API (`runtime::run_restarting`).
pub async fn run<C, I, H, Fut>(gateway: Gateway<C, I>, route: Route, handler: H) -> Result<(), lambda_http::Error>
where
    C: CredentialStore + 'static,
    I: IdempotencyStore + 'static,
    H: Fn(RequestContext, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ApiResponse, Error>> + Send,
{
    let shared = Arc::new((gateway, route, handler));
    crate::runtime::run_restarting(|| {
        let shared = Arc::clone(&shared);
        lambda_http::run(service_fn(move |request: Request| {
            let shared = Arc::clone(&shared);
            async move {
                let (gateway, route, handler) = &*shared;
                Ok::<_, Infallible>(gateway.serve(request, route, handler).await)
            }
        }))
    })
    .await
}

/// Runs a function whose one store serves authentication, idempotency and the handler: the usual
/// shape of a `main.rs`.
pub async fn run_with_store<S, H, Fut>(store: S, route: Route, handler: H) -> Result<(), lambda_http::Error>
where
    S: CredentialStore + IdempotencyStore + Clone + 'static,
    H: Fn(S, RequestContext, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ApiResponse, Error>> + Send,
{
    let gateway = Gateway::new(store.clone(), store.clone());
    run(gateway, route, move |context, request| handler(store.clone(), context, request)).await
}
