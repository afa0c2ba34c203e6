//! Xero Accounting API client for a "custom connection" (OAuth2 client credentials).
//!
//! It reads invoices in batches of at most [`MAX_BATCH`] ids or numbers per call, keeps within
//! Xero's per-tenant limits (5 calls in flight, 60 a minute, 5,000 a day), retries what is worth
//! retrying and hands long rate-limit waits back to the caller as [`XeroError::RateLimited`].
#![warn(missing_docs)]

use http::header::{ACCEPT, RETRY_AFTER};
use invoicing_https::{describe, HeaderMap, Https, Method, Request, StatusCode};
use serde::Deserialize;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub mod accounts;
mod budget;
pub mod oauth;
pub mod pull;
pub mod push;
pub mod shared_budget;
pub use budget::{BudgetFuture, BudgetWait, CallBudget, CallGrant, InProcessBudget, Remaining};

/// Where an OAuth connection's access tokens come from (the token vault, refreshed under a lease:
/// [`oauth::OAuthTokens`]). `stale` is a token Xero just refused, to be replaced even if it has
/// not expired.
pub trait TokenProvider: Send + Sync {
    /// A usable access token.
    fn access_token<'a>(
        &'a self,
        stale: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<String, XeroError>> + Send + 'a>>;
}

/// Most ids (or numbers) Xero accepts in one filter, and its page size.
pub const MAX_BATCH: usize = 100;
/// Xero's API.
pub const DEFAULT_API_BASE_URL: &str = "https://api.xero.com";
/// Xero's token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://identity.xero.com/connect/token";

/// Invoices per page of [`XeroClient::sales_invoices_page`] (Xero's largest page).
pub const SCAN_PAGE_SIZE: u32 = 1000;
/// Budget waits at most this long are waited inside the call (except for the daily limit).
pub const MAX_BUDGET_WAIT_INSIDE_CALL: Duration = Duration::from_secs(2);
/// After a failed token request, callers within this long get its error instead of asking again.
const TOKEN_FAILURE_REUSE: Duration = Duration::from_secs(5);
/// Every status, so that a scan sees every sales invoice.
const ALL_STATUSES: &str = "DRAFT,SUBMITTED,AUTHORISED,PAID,VOIDED,DELETED";
/// Xero's filter for sales invoices (bills are `ACCPAY`).
const SALES_INVOICES: &str = "Type==\"ACCREC\"";
const SALES_INVOICE_TYPE: &str = "ACCREC";
/// Refresh a token this long before Xero says it expires, so it never expires mid-call.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Xero documents 30-minute tokens; used if the answer leaves `expires_in` out.
const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 1800;
/// A 429 without a usable `Retry-After`: assume the minute window has to pass.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Error bodies are kept for diagnosis but bounded, as Xero can answer with whole HTML pages.
const MAX_ERROR_BODY_CHARS: usize = 500;
const TENANT_HEADER: http::HeaderName = http::HeaderName::from_static("xero-tenant-id");
/// Xero applies a write once per key (it answers a repeat with the first result).
const IDEMPOTENCY_KEY_HEADER: http::HeaderName = http::HeaderName::from_static("idempotency-key");

/// One Xero connection: the app's credentials and the organisation (tenant) it reads.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroConnection {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The organisation (`xero-tenant-id`), when set.
    pub tenant_id: Option<String>,
    /// The API base URL.
    pub api_base_url: String,
    /// The token URL.
    pub token_url: String,
}

// Written by hand so that the secret never reaches a log line.
impl std::fmt::Debug for XeroConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XeroConnection")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("tenant_id", &self.tenant_id)
            .field("api_base_url", &self.api_base_url)
            .field("token_url", &self.token_url)
            .finish()
    }
}

/// A Xero invoice, as far as reconcile reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XeroInvoice {
    /// `InvoiceID`.
    pub invoice_id: String,
    /// `InvoiceNumber`.
    pub invoice_number: Option<String>,
    /// `Status`.
    pub status: String,
    /// `Url`, when set.
    pub url: Option<String>,
    /// `Type`: `ACCREC` (a sales invoice), `ACCPAY` (a bill)...; `None` when absent or empty.
    pub invoice_type: Option<String>,
}

/// One page of [`XeroClient::sales_invoices_page`], with Xero's `pagination` when it sent one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XeroPage {
    /// The page's sales invoices (`ACCREC` only).
    pub invoices: Vec<XeroInvoice>,
    /// `pagination.pageCount`.
    pub page_count: Option<u32>,
    /// `pagination.itemCount`.
    pub item_count: Option<u64>,
    /// `pagination.pageSize`.
    pub page_size: Option<u32>,
}

/// HTTP attempts made by a client, retries included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Token requests made.
    pub token_calls: u64,
    /// API requests made.
    pub api_calls: u64,
}

/// Why a Xero call failed.
#[derive(Debug, thiserror::Error)]
pub enum XeroError {
    /// Xero asked to wait longer than the client is willing to: retry the whole batch later.
    #[error("Xero rate limit ({problem:?}); retry after {retry_after:?}")]
    RateLimited {
        /// How long Xero asked to wait.
        retry_after: Duration,
        /// Xero's `X-Rate-Limit-Problem` (minute, concurrent, daily...).
        problem: Option<String>,
    },
    /// The credentials were refused.
    #[error("Xero rejected the credentials")]
    Unauthorized,
    /// The customer's authorization is gone (`invalid_grant`): only connecting again helps.
    #[error("Xero connection needs reconnecting")]
    ReconnectRequired,
    /// The account was disconnected meanwhile.
    #[error("the account has no Xero connection")]
    Disconnected,
    /// Any other answer Xero refused the call with.
    #[error("Xero answered {status}: {body}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Xero's body, for the logs.
        body: String,
    },
    /// 5xx answers, timeouts or connection errors that outlasted the retries.
    #[error("Xero unavailable: {0}")]
    Unavailable(String),
    /// An answer that could not be read.
    #[error("unexpected answer from Xero: {0}")]
    Decode(String),
}

/// How hard the client tries before giving up on a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a 5xx answer, a timeout or a connection error.
    pub max_retries: u32,
    /// Backoff before the first retry; it doubles per retry (with full jitter) up to `max_delay`.
    pub base_delay: Duration,
    /// The longest wait for a 429's `Retry-After` inside one call; longer ones are returned as `RateLimited`.
    pub max_delay: Duration,
    /// A 429 asking to wait longer than this is returned as [`XeroError::RateLimited`].
    pub max_rate_limit_wait: Duration,
    /// How many 429s one call waits out.
    pub max_rate_limit_retries: u32,
    /// Per HTTP attempt, from connecting until the body has been read.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_rate_limit_wait: Duration::from_secs(10),
            max_rate_limit_retries: 3,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A client for one connection (one tenant). Share it through an `Arc`: the token cache, the
/// in-flight limit and the call counters are per instance.
pub struct XeroClient {
    connection: XeroConnection,
    policy: RetryPolicy,
    http: Https,
    /// Held while a token is fetched, so that concurrent callers wait for it instead of each
    /// fetching their own.
    token: Mutex<TokenSlot>,
    /// Who may call, shared by every client of the tenant (in process or across instances).
    budget: Arc<dyn CallBudget>,
    /// The key the budget counts this client's calls under: the tenant, else the client id.
    budget_key: String,
    token_calls: AtomicU64,
    api_calls: AtomicU64,
    /// An OAuth connection's tokens; `None` for a custom connection (client credentials).
    tokens: Option<Arc<dyn TokenProvider>>,
}

impl std::fmt::Debug for XeroClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XeroClient")
            .field("connection", &self.connection)
            .field("policy", &self.policy)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// The cached token, and the last failure to get one (shared with callers that arrive soon after).
#[derive(Default)]
struct TokenSlot {
    token: Option<CachedToken>,
    last_failure: Option<TokenFailure>,
}

struct TokenFailure {
    at: Instant,
    unauthorized: bool,
    text: String,
}

impl TokenFailure {
    fn new(error: &XeroError, at: Instant) -> TokenFailure {
        TokenFailure { at, unauthorized: matches!(error, XeroError::Unauthorized), text: error.to_string() }
    }

    /// The failure's error again, if it happened less than [`TOKEN_FAILURE_REUSE`] before `now`.
    fn reuse(&self, now: Instant) -> Option<XeroError> {
        if now.saturating_duration_since(self.at) >= TOKEN_FAILURE_REUSE {
            return None;
        }
        Some(if self.unauthorized {
            XeroError::Unauthorized
        } else {
            XeroError::Unavailable(format!("the token request failed moments ago: {}", self.text))
        })
    }
}

#[derive(Clone, Copy)]
enum Call {
    Token,
    Api,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Filter {
    Ids,
    Numbers,
}

impl Filter {
    fn query_param(self) -> &'static str {
        match self {
            Filter::Ids => "IDs",
            Filter::Numbers => "InvoiceNumbers",
        }
    }

    fn key(self, invoice: &XeroInvoice) -> Option<&str> {
        match self {
            Filter::Ids => Some(&invoice.invoice_id),
            Filter::Numbers => invoice.invoice_number.as_deref(),
        }
    }
}

/// An HTTP answer read in full (status, headers, body).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct InvoicesPage {
    #[serde(rename = "Invoices", default)]
    invoices: Vec<RawInvoice>,
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pagination {
    page_count: Option<u32>,
    item_count: Option<u64>,
    page_size: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawInvoice {
    #[serde(rename = "InvoiceID")]
    invoice_id: String,
    invoice_number: Option<String>,
    status: String,
    url: Option<String>,
    #[serde(rename = "Type")]
    invoice_type: Option<String>,
}

impl From<RawInvoice> for XeroInvoice {
    fn from(raw: RawInvoice) -> Self {
        // Xero sends empty strings for fields that have no value.
        let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
        XeroInvoice {
            invoice_id: raw.invoice_id,
            invoice_number: non_empty(raw.invoice_number),
            status: raw.status,
            url: non_empty(raw.url),
            invoice_type: non_empty(raw.invoice_type),
        }
    }
}

impl XeroClient {
    /// A client with the default retry policy.
    pub fn new(connection: XeroConnection) -> XeroClient {
        XeroClient::with_policy(connection, RetryPolicy::default())
    }

    /// A client with `policy`, within an in-process budget of its own ([`InProcessBudget`]: 5
    /// calls in flight and 60 a minute).
    pub fn with_policy(connection: XeroConnection, policy: RetryPolicy) -> XeroClient {
        XeroClient::with_budget(connection, policy, Arc::new(InProcessBudget::default()))
    }

    /// A client with `policy` whose every API call is granted by `budget` first (token requests
    /// are not counted: Xero does not count them against the API's limits).
    pub fn with_budget(connection: XeroConnection, policy: RetryPolicy, budget: Arc<dyn CallBudget>) -> XeroClient {
        let budget_key = connection.tenant_id.clone().unwrap_or_else(|| connection.client_id.clone());
        XeroClient {
            connection,
            policy,
            // Timeouts are set per request, from the policy.
            http: shared_https(),
            token: Mutex::new(TokenSlot::default()),
            budget,
            budget_key,
            token_calls: AtomicU64::new(0),
            api_calls: AtomicU64::new(0),
            tokens: None,
        }
    }

    /// A client of an OAuth connection: tokens come from `tokens`, and every call carries the
    /// connection's tenant (`connection.tenant_id`).
    pub fn with_tokens(
        connection: XeroConnection,
        policy: RetryPolicy,
        budget: Arc<dyn CallBudget>,
        tokens: Arc<dyn TokenProvider>,
    ) -> XeroClient {
        XeroClient { tokens: Some(tokens), ..XeroClient::with_budget(connection, policy, budget) }
    }

    /// What it connects to.
    pub fn connection(&self) -> &XeroConnection {
        &self.connection
    }

    /// The invoices with these InvoiceIDs that exist; ids Xero does not know are left out.
    pub async fn invoices_by_ids(&self, ids: &[String]) -> Result<Vec<XeroInvoice>, XeroError> {
        self.invoices_by(Filter::Ids, ids).await
    }

    /// The invoices with these numbers that exist; numbers Xero does not know are left out. Xero
    /// is asked for sales invoices only (`where=Type=="ACCREC"`); servers that ignore `where` may
    /// still answer bills with those numbers, so callers check [`XeroInvoice::invoice_type`].
    pub async fn invoices_by_numbers(&self, numbers: &[String]) -> Result<Vec<XeroInvoice>, XeroError> {
        self.invoices_by(Filter::Numbers, numbers).await
    }

    /// One page of the tenant's sales invoices in every status, [`SCAN_PAGE_SIZE`] a page, as
    /// summaries (no line items): one call (and its retries). Anything but `ACCREC` is left out,
    /// even from a server that ignores the `where` filter.
    pub async fn sales_invoices_page(&self, page: u32) -> Result<XeroPage, XeroError> {
        self.sales_invoices_page_since(page, None).await
    }

    /// The same, only invoices changed since `since` (Xero's `If-Modified-Since`: a server that
    /// ignores it answers every invoice, which costs calls but misses nothing).
    pub async fn sales_invoices_page_since(
        &self,
        page: u32,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<XeroPage, XeroError> {
        let page = page.to_string();
        let page_size = SCAN_PAGE_SIZE.to_string();
        let query = [
            ("Statuses", ALL_STATUSES),
            ("where", SALES_INVOICES),
            ("page", page.as_str()),
            ("pageSize", page_size.as_str()),
            ("summaryOnly", "true"),
        ];
        let since = since.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string());
        let header = since.as_deref().map(|since| (http::header::IF_MODIFIED_SINCE, since));
        let answer = self.get_invoices(&query, header).await?;
        let pagination = answer.pagination;
        Ok(XeroPage {
            invoices: answer
                .invoices
                .into_iter()
                .map(XeroInvoice::from)
                .filter(|invoice| invoice.invoice_type.as_deref() == Some(SALES_INVOICE_TYPE))
                .collect(),
            page_count: pagination.as_ref().and_then(|p| p.page_count),
            item_count: pagination.as_ref().and_then(|p| p.item_count),
            page_size: pagination.as_ref().and_then(|p| p.page_size),
        })
    }

    /// How many calls it made.
    pub fn calls(&self) -> CallCounts {
        CallCounts {
            token_calls: self.token_calls.load(Ordering::Relaxed),
            api_calls: self.api_calls.load(Ordering::Relaxed),
        }
    }

    async fn invoices_by(&self, filter: Filter, keys: &[String]) -> Result<Vec<XeroInvoice>, XeroError> {
        let mut seen = HashSet::new();
        let wanted: Vec<&str> =
            keys.iter().map(String::as_str).filter(|key| !key.is_empty() && seen.insert(*key)).collect();
        // Batches run concurrently; the semaphore keeps them within Xero's in-flight limit.
        let batches = wanted.chunks(MAX_BATCH).map(|batch| self.fetch_batch(filter, batch)).collect();
        let found = try_join_all(batches).await?;
        let mut ids = HashSet::new();
        Ok(found.into_iter().flatten().filter(|invoice| ids.insert(invoice.invoice_id.clone())).collect())
    }

    /// Reads one batch page by page. Servers may ignore the filter (the local emulator ignores
    /// `IDs`), so only the requested invoices are kept, and paging stops once all were seen.
    async fn fetch_batch(&self, filter: Filter, batch: &[&str]) -> Result<Vec<XeroInvoice>, XeroError> {
        let requested: HashSet<&str> = batch.iter().copied().collect();
        let mut missing = requested.clone();
        let joined = batch.join(",");
        let mut found = Vec::new();
        let mut page = 1;
        loop {
            let answer = self.invoices_page(filter, &joined, page).await?;
            let count = answer.invoices.len();
            let last_page = match answer.pagination.and_then(|p| p.page_count) {
                Some(page_count) => page >= page_count,
                None => count < MAX_BATCH,
            };
            for invoice in answer.invoices.into_iter().map(XeroInvoice::from) {
                if let Some(key) = filter.key(&invoice).filter(|k| requested.contains(k)) {
                    missing.remove(key);
                    found.push(invoice);
                }
            }
            if missing.is_empty() || last_page || count == 0 {
                return Ok(found);
            }
            page += 1;
        }
    }

    async fn invoices_page(&self, filter: Filter, joined: &str, page: u32) -> Result<InvoicesPage, XeroError> {
        let page = page.to_string();
        let mut query = vec![(filter.query_param(), joined), ("page", page.as_str())];
        if filter == Filter::Numbers {
            query.push(("where", SALES_INVOICES));
        }
        self.get_invoices(&query, None).await
    }

    /// A GET of `Invoices` (with one more header, such as `If-Modified-Since`, when given).
    async fn get_invoices(
        &self,
        query: &[(&str, &str)],
        header: Option<(http::HeaderName, &str)>,
    ) -> Result<InvoicesPage, XeroError> {
        let url = format!("{}/api.xro/2.0/Invoices", self.connection.api_base_url.trim_end_matches('/'));
        let answer = self.authorized(Method::GET, &url, query, None, header).await?;
        serde_json::from_str(&answer.body).map_err(|e| XeroError::Decode(e.to_string()))
    }

    /// A GET with the bearer token; a 401 means the token was revoked or expired early, so it is
    /// dropped and the call made once more with a new one.
    async fn authorized_get(&self, url: &str, query: &[(&str, &str)]) -> Result<Answer, XeroError> {
        self.authorized(Method::GET, url, query, None, None).await
    }

    /// A call with the bearer token (and the tenant, a JSON body, one more header such as Xero's
    /// `Idempotency-Key` or `If-Modified-Since`, when given); a 401 drops the token and the call is
    /// made once more with a new one. Retries of a write carry the same key, so Xero applies it once.
    async fn authorized(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        json_body: Option<&[u8]>,
        header: Option<(http::HeaderName, &str)>,
    ) -> Result<Answer, XeroError> {
        let mut refused: Option<String> = None;
        loop {
            let token = match &self.tokens {
                Some(tokens) => tokens.access_token(refused.as_deref()).await?,
                None => self.access_token().await?,
            };
            let answer = self
                .send(Call::Api, || {
                    let mut request = self
                        .http
                        .request(method.clone(), url)
                        .bearer_auth(&token)
                        .header(ACCEPT, "application/json")
                        .query(query);
                    if let Some(tenant) = &self.connection.tenant_id {
                        request = request.header(TENANT_HEADER, tenant);
                    }
                    if let Some((name, value)) = &header {
                        request = request.header(name.clone(), value);
                    }
                    match json_body {
                        Some(body) => request.body("application/json", body.to_vec()),
                        None => request,
                    }
                })
                .await?;
            match answer.status {
                status if status.is_success() => return Ok(answer),
                StatusCode::UNAUTHORIZED if refused.is_none() => {
                    tracing::info!("Xero refused the access token; fetching a new one");
                    self.forget_token(&token).await;
                    refused = Some(token);
                }
                StatusCode::UNAUTHORIZED => return Err(XeroError::Unauthorized),
                status => return Err(api_error(status, &answer.body)),
            }
        }
    }

    /// The cached token, or a new one. A failure is kept for [`TOKEN_FAILURE_REUSE`]: callers that
    /// waited for the failed request, or arrive soon after, get its error instead of asking again.
    async fn access_token(&self) -> Result<String, XeroError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.token.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        if let Some(error) = slot.last_failure.as_ref().and_then(|f| f.reuse(Instant::now())) {
            return Err(error);
        }
        match self.fetch_token().await {
            Ok(token) => {
                let value = token.value.clone();
                *slot = TokenSlot { token: Some(token), last_failure: None };
                Ok(value)
            }
            Err(error) => {
                slot.last_failure = Some(TokenFailure::new(&error, Instant::now()));
                Err(error)
            }
        }
    }

    /// Drops the cached token unless another caller has already replaced it.
    async fn forget_token(&self, stale: &str) {
        let mut slot = self.token.lock().await;
        if slot.token.as_ref().is_some_and(|t| t.value == stale) {
            slot.token = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, XeroError> {
        let connection = &self.connection;
        let answer = self
            .send(Call::Token, || {
                self.http
                    .post(&connection.token_url)
                    .basic_auth(&connection.client_id, &connection.client_secret)
                    .header(ACCEPT, "application/json")
                    .form(&[("grant_type", "client_credentials")])
            })
            .await?;
        match answer.status {
            status if status.is_success() => {}
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(XeroError::Unauthorized)
            }
            status => return Err(api_error(status, &answer.body)),
        }
        let token: TokenAnswer =
            serde_json::from_str(&answer.body).map_err(|e| XeroError::Decode(format!("token answer: {e}")))?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS));
        // Short-lived tokens still get used for half their life rather than not at all.
        let usable_for = lifetime.saturating_sub(TOKEN_REFRESH_MARGIN).max(lifetime / 2);
        Ok(CachedToken { value: token.access_token, refresh_at: Instant::now() + usable_for })
    }

    /// Sends a request, retrying 5xx answers and transport errors with backoff and short 429
    /// waits. Any other answer (success or not) is returned for the caller to interpret. A 429 of
    /// an API call blocks the budget until its `Retry-After`; a daily one is returned at once.
    async fn send(&self, call: Call, request: impl Fn() -> Request) -> Result<Answer, XeroError> {
        let policy = &self.policy;
        let mut failures = 0;
        let mut rate_limit_waits = 0;
        loop {
            let failure = match self.attempt(call, request()).await? {
                Ok(answer) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                    let retry_after = retry_after(&answer.headers);
                    let problem =
                        answer.headers.get("x-rate-limit-problem").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    if let Call::Api = call {
                        let until = SystemTime::now() + retry_after;
                        self.budget.block(&self.budget_key, until, problem.as_deref()).await;
                    }
                    let daily = problem.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("daily"));
                    if daily
                        || rate_limit_waits >= policy.max_rate_limit_retries
                        || retry_after > policy.max_rate_limit_wait
                    {
                        return Err(XeroError::RateLimited { retry_after, problem });
                    }
                    rate_limit_waits += 1;
                    tracing::warn!(?retry_after, ?problem, "Xero rate limit; waiting");
                    tokio::time::sleep(retry_after).await;
                    continue;
                }
                Ok(answer) if answer.status.is_server_error() => {
                    format!("{}: {}", answer.status, truncate(&answer.body))
                }
                Ok(answer) => return Ok(answer),
                Err(transport_error) => transport_error,
            };
            if failures >= policy.max_retries {
                return Err(XeroError::Unavailable(failure));
            }
            let delay = backoff(policy, failures);
            failures += 1;
            tracing::warn!(%failure, ?delay, retry = failures, "Xero call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP attempt, counted. An API attempt is granted by the budget first (or refused, as
    /// `Err`, without calling) and holds its grant until the body is read; the grant is released
    /// with what Xero said remains, or by its guard if the call is dropped. The inner error
    /// describes a transport failure (worth retrying).
    async fn attempt(&self, call: Call, request: Request) -> Result<Result<Answer, String>, XeroError> {
        let grant = match call {
            Call::Token => {
                self.token_calls.fetch_add(1, Ordering::Relaxed);
                None
            }
            Call::Api => {
                let grant = self.grant().await?;
                self.api_calls.fetch_add(1, Ordering::Relaxed);
                Some(grant)
            }
        };
        let answer = self.exchange(request).await;
        if let Some(grant) = grant {
            let remaining = answer.as_ref().map(|a| remaining(&a.headers)).unwrap_or_default();
            grant.release(remaining).await;
        }
        Ok(answer)
    }

    /// Asks the budget for a call, waiting out short waits (at most [`MAX_BUDGET_WAIT_INSIDE_CALL`]
    /// each and `max_rate_limit_wait` in all; never the daily limit).
    async fn grant(&self) -> Result<GrantGuard, XeroError> {
        let mut waited = Duration::ZERO;
        loop {
            match self.budget.acquire(&self.budget_key).await {
                Ok(grant) => return Ok(GrantGuard { budget: Arc::clone(&self.budget), grant: Some(grant) }),
                Err(wait)
                    if wait.retry_after <= MAX_BUDGET_WAIT_INSIDE_CALL
                        && !wait.reason.eq_ignore_ascii_case("daily")
                        && waited + wait.retry_after <= self.policy.max_rate_limit_wait =>
                {
                    tracing::debug!(retry_after = ?wait.retry_after, reason = %wait.reason, "waiting for the Xero call budget");
                    waited += wait.retry_after;
                    tokio::time::sleep(wait.retry_after).await;
                }
                Err(wait) => {
                    return Err(XeroError::RateLimited { retry_after: wait.retry_after, problem: Some(wait.reason) })
                }
            }
        }
    }

    async fn exchange(&self, request: Request) -> Result<Answer, String> {
        let response = request.timeout(self.policy.request_timeout).send().await.map_err(|e| describe(&e))?;
        let body = response.text();
        Ok(Answer { status: response.status, headers: response.headers, body })
    }
}

/// A granted call. Released explicitly after the call; if the call is dropped first (its task
/// was cancelled), `Drop` releases it on the runtime, and the in-process permit goes with the grant.
struct GrantGuard {
    budget: Arc<dyn CallBudget>,
    grant: Option<CallGrant>,
}

impl GrantGuard {
    async fn release(mut self, remaining: Remaining) {
        if let Some(grant) = self.grant.take() {
            self.budget.release(grant, remaining).await;
        }
    }
}

impl Drop for GrantGuard {
    fn drop(&mut self) {
        let Some(grant) = self.grant.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let budget = Arc::clone(&self.budget);
            runtime.spawn(async move { budget.release(grant, Remaining::default()).await });
        }
    }
}

/// What Xero's rate-limit headers say remains.
fn remaining(headers: &HeaderMap) -> Remaining {
    let read = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    Remaining {
        minute: read("x-minlimit-remaining"),
        day: read("x-daylimit-remaining"),
        app_minute: read("x-appminlimit-remaining"),
    }
}

fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RETRY_AFTER)
}

/// Exponential backoff with full jitter: anywhere between zero and the capped exponential delay,
/// so that clients that failed together do not retry together.
fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let ceiling = policy.base_delay.saturating_mul(2u32.saturating_pow(retry)).min(policy.max_delay);
    ceiling.mul_f64(rand::random::<f64>())
}

fn api_error(status: StatusCode, body: &str) -> XeroError {
    XeroError::Api { status: status.as_u16(), body: truncate(body) }
}

fn truncate(body: &str) -> String {
    match body.char_indices().nth(MAX_ERROR_BODY_CHARS) {
        Some((end, _)) => format!("{}…", &body[..end]),
        None => body.to_owned(),
    }
}

/// The process's HTTPS client. A function's start has built it already (its SDK configuration
/// comes from it), so an unusable `EXTRA_CA_CERTS` stopped the function there; should it not have,
/// the built-in roots serve and the problem is logged.
fn shared_https() -> Https {
    Https::shared().unwrap_or_else(|error| {
        tracing::error!(error = %error, "HTTPS client from the environment unusable; trusting the built-in roots only");
        Https::trusting(None)
    })
}

/// Runs the futures concurrently and collects their outputs (in completion order), stopping at
/// the first error. Borrowing futures cannot be spawned as tasks, hence this small join.
async fn try_join_all<T, E, F>(futures: Vec<F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done = Vec::with_capacity(pending.len());
    std::future::poll_fn(|cx| {
        let mut i = 0;
        while i < pending.len() {
            match pending[i].as_mut().poll(cx) {
                Poll::Ready(Ok(output)) => {
                    done.push(output);
                    drop(pending.swap_remove(i));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => i += 1,
            }
        }
        if pending.is_empty() {
            Poll::Ready(Ok(std::mem::take(&mut done)))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let connection = XeroConnection {
            client_id: "id".into(),
            client_secret: "very-secret".into(),
            tenant_id: None,
            api_base_url: DEFAULT_API_BASE_URL.into(),
            token_url: DEFAULT_TOKEN_URL.into(),
        };
        let text = format!("{connection:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn backoff_stays_within_the_capped_exponential() {
        let policy = RetryPolicy::default();
        for retry in 0..10 {
            let ceiling = (policy.base_delay * 2u32.pow(retry)).min(policy.max_delay);
            assert!(backoff(&policy, retry) <= ceiling);
        }
    }

    #[test]
    fn truncate_keeps_short_bodies_and_cuts_long_ones_on_char_boundaries() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(MAX_ERROR_BODY_CHARS + 10);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_BODY_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn missing_or_unparsable_retry_after_assumes_a_minute() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), DEFAULT_RETRY_AFTER);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Duration::from_secs(7));
    }
}
