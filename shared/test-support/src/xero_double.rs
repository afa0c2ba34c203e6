//! An HTTP double of Xero's Accounting API (wiremock) for what xero-local does not show: it honours
//! `IDs`, `InvoiceNumbers`, `Statuses`, `where=Type=="ACCREC"`, `page` and `pageSize` (100 by
//! default, at most 1,000, as Xero does) and answers with Xero's `pagination`; faults (429s, 5xx,
//! slow answers) are injected per request by a rule, and every API request is recorded.

use serde_json::{json, Value};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};
use std::time::{Duration, Instant};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

/// A client retry policy with short delays, so that retries do not slow tests down.
pub fn quick_retry_policy() -> invoicing_xero::RetryPolicy {
    invoicing_xero::RetryPolicy {
        max_retries: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_rate_limit_wait: Duration::from_secs(10),
        max_rate_limit_retries: 3,
        request_timeout: Duration::from_secs(5),
    }
}

/// Xero's page size when `pageSize` is not given.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest `pageSize` Xero honours.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The query of one `GET Invoices`, as the double read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoicesQuery {
    /// `IDs`.
    pub ids: Option<Vec<String>>,
    /// `InvoiceNumbers`.
    pub numbers: Option<Vec<String>>,
    /// `Statuses`.
    pub statuses: Option<Vec<String>>,
    /// `where`, as sent.
    pub where_clause: Option<String>,
    /// `page` (1 if absent).
    pub page: usize,
    /// `pageSize` as sent.
    pub page_size: Option<usize>,
    /// `summaryOnly=true`.
    pub summary_only: bool,
    /// The `xero-tenant-id` header.
    pub tenant: Option<String>,
    /// The bearer token.
    pub bearer: Option<String>,
}

impl InvoicesQuery {
    fn parse(request: &Request) -> InvoicesQuery {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut query = InvoicesQuery {
            page: 1,
            tenant: header("xero-tenant-id"),
            bearer: header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned)),
            ..InvoicesQuery::default()
        };
        let list = |v: &str| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        for (key, value) in request.url.query_pairs() {
            match key.as_ref() {
                "IDs" => query.ids = Some(list(&value)),
                "InvoiceNumbers" => query.numbers = Some(list(&value)),
                "Statuses" => query.statuses = Some(list(&value)),
                "where" => query.where_clause = Some(value.into_owned()),
                "page" => query.page = value.parse().unwrap_or(1),
                "pageSize" => query.page_size = value.parse().ok(),
                "summaryOnly" => query.summary_only = value == "true",
                _ => {}
            }
        }
        query
    }

    /// Whether the invoice passes every filter of the query.
    fn selects(&self, invoice: &Value) -> bool {
        let field = |name: &str| invoice[name].as_str().unwrap_or_default().to_string();
        let within = |values: &Option<Vec<String>>, value: String| values.as_ref().is_none_or(|v| v.contains(&value));
        let sales_only = self.where_clause.as_deref().is_some_and(|w| w.replace(' ', "") == "Type==\"ACCREC\"");
        within(&self.ids, field("InvoiceID"))
            && within(&self.numbers, field("InvoiceNumber"))
            && within(&self.statuses, field("Status"))
            && (!sales_only || field("Type") == "ACCREC")
    }
}

/// Decides a request's answer before the double does: `Some` to answer with it (a fault).
pub type Rule = Box<dyn Fn(&InvoicesQuery, usize) -> Option<ResponseTemplate> + Send + Sync>;

struct State {
    invoices: Mutex<Vec<Value>>,
    calls: Mutex<Vec<InvoicesQuery>>,
    rule: Mutex<Option<Rule>>,
}

/// A running double; stopped when dropped.
pub struct XeroDouble {
    server: MockServer,
    state: Arc<State>,
}

struct Invoices(Arc<State>);

impl Respond for Invoices {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = InvoicesQuery::parse(request);
        let call = {
            let mut calls = self.0.calls.lock().unwrap();
            calls.push(query.clone());
            calls.len()
        };
        if let Some(fault) = self.0.rule.lock().unwrap().as_ref().and_then(|rule| rule(&query, call)) {
            return fault;
        }
        let selected: Vec<Value> =
            self.0.invoices.lock().unwrap().iter().filter(|i| query.selects(i)).cloned().collect();
        let page_size = query.page_size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
        let page_count = selected.len().div_ceil(page_size).max(1);
        let start = (query.page.max(1) - 1) * page_size;
        let page: Vec<Value> = selected.iter().skip(start).take(page_size).cloned().collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "Invoices": page,
            "pagination": {"page": query.page, "pageSize": page_size, "pageCount": page_count, "itemCount": selected.len()},
        }))
    }
}

impl XeroDouble {
    /// A double holding `invoices` (Xero's JSON shape: `InvoiceID`, `InvoiceNumber`, `Status`, `Type`).
    pub async fn start(invoices: Vec<Value>) -> XeroDouble {
        let server = MockServer::start().await;
        let state =
            Arc::new(State { invoices: Mutex::new(invoices), calls: Mutex::new(Vec::new()), rule: Mutex::new(None) });
        Mock::given(method("POST"))
            .and(path("/connect/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": "t", "expires_in": 1800, "token_type": "Bearer"})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api.xro/2.0/Invoices"))
            .respond_with(Invoices(Arc::clone(&state)))
            .mount(&server)
            .await;
        XeroDouble { server, state }
    }

    /// Its base URL (the API's and, with `/connect/token`, the token endpoint's).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Its token URL.
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.server.uri())
    }

    /// Answers requests that `rule` picks (given the query and the call's number, from 1) with its
    /// fault instead.
    pub fn set_rule(&self, rule: impl Fn(&InvoicesQuery, usize) -> Option<ResponseTemplate> + Send + Sync + 'static) {
        *self.state.rule.lock().unwrap() = Some(Box::new(rule));
    }

    /// Replaces the invoices it holds.
    pub fn set_invoices(&self, invoices: Vec<Value>) {
        *self.state.invoices.lock().unwrap() = invoices;
    }

    /// Every `GET Invoices` so far.
    pub fn calls(&self) -> Vec<InvoicesQuery> {
        self.state.calls.lock().unwrap().clone()
    }
}

/// A Xero invoice in the double's shape.
pub fn xero_invoice(id: &str, number: &str, status: &str, kind: &str) -> Value {
    json!({"InvoiceID": id, "InvoiceNumber": number, "Status": status, "Type": kind})
}

/// Wraps a responder, delaying every answer by `delay` and recording the most requests that were
/// waiting for their answer at once (Xero allows 5 per tenant).
pub struct InFlightProbe<R> {
    inner: R,
    delay: Duration,
    arrivals: Mutex<Vec<Instant>>,
    max_in_flight: Arc<AtomicUsize>,
}

impl<R> InFlightProbe<R> {
    /// The probe, and where it records the most requests in flight.
    pub fn new(inner: R, delay: Duration) -> (InFlightProbe<R>, Arc<AtomicUsize>) {
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let probe =
            InFlightProbe { inner, delay, arrivals: Mutex::new(Vec::new()), max_in_flight: Arc::clone(&max_in_flight) };
        (probe, max_in_flight)
    }
}

impl<R: Respond> Respond for InFlightProbe<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // wiremock starts the delay after this returns, so every earlier request that arrived
        // less than `delay` ago still waits for its answer: it is in flight.
        let now = Instant::now();
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(now);
        let in_flight = arrivals.iter().filter(|&&a| a + self.delay > now).count();
        self.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        self.inner.respond(request).set_delay(self.delay)
    }
}
