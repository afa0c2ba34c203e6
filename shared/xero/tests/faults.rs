//! The client against wiremock doubles of Xero: token reuse, retries, rate limits, batching,
//! filters that are ignored, and the in-flight limit.

use invoicing_test_support::xero_double::{quick_retry_policy, InFlightProbe};
use invoicing_xero::{
    BudgetFuture, BudgetWait, CallBudget, CallGrant, Remaining, RetryPolicy, XeroClient, XeroConnection, XeroError,
    XeroInvoice, XeroPage, MAX_BATCH, SCAN_PAGE_SIZE,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{basic_auth, bearer_token, body_string, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TENANT: &str = "tenant-1";
const INVOICES_PATH: &str = "/api.xro/2.0/Invoices";

fn connection(server: &MockServer, tenant_id: Option<&str>) -> XeroConnection {
    XeroConnection {
        client_id: "client-id".into(),
        client_secret: "client-secret".into(),
        tenant_id: tenant_id.map(str::to_owned),
        api_base_url: server.uri(),
        token_url: format!("{}/connect/token", server.uri()),
    }
}

fn client(server: &MockServer, tenant_id: Option<&str>) -> XeroClient {
    XeroClient::with_policy(connection(server, tenant_id), quick_retry_policy())
}

fn invoice_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn invoice_json(i: usize) -> Value {
    json!({
        "InvoiceID": invoice_id(i),
        "InvoiceNumber": format!("INV-{i:06}"),
        "Status": "AUTHORISED",
        "Type": "ACCREC",
    })
}

fn invoice(i: usize) -> XeroInvoice {
    XeroInvoice {
        invoice_id: invoice_id(i),
        invoice_number: Some(format!("INV-{i:06}")),
        status: "AUTHORISED".into(),
        url: None,
        invoice_type: Some("ACCREC".into()),
    }
}

fn ids(range: impl IntoIterator<Item = usize>) -> Vec<String> {
    range.into_iter().map(invoice_id).collect()
}

/// Order does not matter, duplicates do: compare sorted.
fn sorted(mut invoices: Vec<XeroInvoice>) -> Vec<XeroInvoice> {
    invoices.sort_by(|a, b| a.invoice_id.cmp(&b.invoice_id));
    invoices
}

/// Issues `token-1`, `token-2`, ... to requests with the expected credentials.
struct TokenIssuer(AtomicUsize);

impl Respond for TokenIssuer {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("token-{n}"),
            "expires_in": 1800,
            "token_type": "Bearer",
        }))
    }
}

async fn mount_token_endpoint(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(basic_auth("client-id", "client-secret"))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(TokenIssuer(AtomicUsize::new(0)))
        .mount(server)
        .await;
}

/// A store of invoices served by `GET Invoices`, paged by 100. It honours the `IDs` and
/// `InvoiceNumbers` filters or ignores them, and sends `pagination` or leaves it out.
struct InvoicesDouble {
    invoices: Vec<Value>,
    honour_filters: bool,
    with_pagination: bool,
}

impl InvoicesDouble {
    fn new(count: usize) -> InvoicesDouble {
        InvoicesDouble {
            invoices: (1..=count).map(invoice_json).collect(),
            honour_filters: true,
            with_pagination: true,
        }
    }

    fn answer(&self, request: &Request) -> Value {
        let params: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let wanted = |key: &str| -> Option<HashSet<String>> {
            let list = params.get(key).filter(|_| self.honour_filters)?;
            Some(list.split(',').map(str::to_owned).collect())
        };
        let (wanted_ids, wanted_numbers) = (wanted("IDs"), wanted("InvoiceNumbers"));
        let matching: Vec<&Value> = self
            .invoices
            .iter()
            .filter(|invoice| {
                let field_in = |set: &Option<HashSet<String>>, field: &str| {
                    set.as_ref().is_none_or(|set| set.contains(invoice[field].as_str().unwrap_or_default()))
                };
                field_in(&wanted_ids, "InvoiceID") && field_in(&wanted_numbers, "InvoiceNumber")
            })
            .collect();
        let page: usize = params.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let on_page: Vec<&Value> = matching.iter().skip((page - 1) * 100).take(100).copied().collect();
        let mut body = json!({ "Invoices": on_page });
        if self.with_pagination {
            body["pagination"] = json!({
                "page": page,
                "pageSize": 100,
                "pageCount": matching.len().div_ceil(100).max(1),
                "itemCount": matching.len(),
            });
        }
        body
    }
}

impl Respond for InvoicesDouble {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(self.answer(request))
    }
}

/// Answers with the given responses in turn, repeating the last one.
struct Sequence {
    next: AtomicUsize,
    responses: Vec<ResponseTemplate>,
}

impl Sequence {
    fn new(responses: Vec<ResponseTemplate>) -> Sequence {
        Sequence { next: AtomicUsize::new(0), responses }
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        self.responses[n.min(self.responses.len() - 1)].clone()
    }
}

fn ok_with(invoices: &[usize]) -> ResponseTemplate {
    let invoices: Vec<Value> = invoices.iter().copied().map(invoice_json).collect();
    ResponseTemplate::new(200).set_body_json(json!({ "Invoices": invoices }))
}

fn rate_limited(retry_after_secs: u64, problem: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("Retry-After", retry_after_secs.to_string().as_str())
        .insert_header("X-Rate-Limit-Problem", problem)
}

async fn mount_invoices(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(method("GET")).and(path(INVOICES_PATH)).respond_with(responder).mount(server).await;
}

#[tokio::test]
async fn token_is_fetched_once_and_reused_and_the_tenant_header_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(basic_auth("client-id", "client-secret"))
        .respond_with(TokenIssuer(AtomicUsize::new(0)))
        .expect(1)
        .mount(&server)
        .await;
    // Answers only requests with both the tenant header and the first token.
    Mock::given(method("GET"))
        .and(path(INVOICES_PATH))
        .and(header("xero-tenant-id", TENANT))
        .and(header("accept", "application/json"))
        .and(bearer_token("token-1"))
        .respond_with(InvoicesDouble::new(50))
        .mount(&server)
        .await;
    let client = client(&server, Some(TENANT));

    // Concurrent first callers share one token fetch, later callers reuse it.
    let singles: Vec<Vec<String>> = (1..=10).map(|i| ids([i])).collect();
    let concurrent = futures::future::join_all(singles.iter().map(|id| client.invoices_by_ids(id))).await;
    for (i, found) in (1..=10).zip(concurrent) {
        assert_eq!(found.unwrap(), vec![invoice(i)]);
    }
    for i in 11..=15 {
        assert_eq!(client.invoices_by_ids(&ids([i])).await.unwrap(), vec![invoice(i)]);
    }

    let calls = client.calls();
    assert_eq!(calls.token_calls, 1);
    assert_eq!(calls.api_calls, 15);
}

#[tokio::test]
async fn no_tenant_header_is_sent_without_a_tenant() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    Mock::given(method("GET"))
        .and(path(INVOICES_PATH))
        .and(|request: &Request| !request.headers.contains_key("xero-tenant-id"))
        .respond_with(InvoicesDouble::new(5))
        .mount(&server)
        .await;
    let client = client(&server, None);

    let found = client.invoices_by_ids(&ids([2, 4])).await.unwrap();

    assert_eq!(sorted(found), vec![invoice(2), invoice(4)]);
    assert_eq!(client.calls().api_calls, 1);
}

#[tokio::test]
async fn empty_input_makes_no_call() {
    let server = MockServer::start().await;
    let client = client(&server, Some(TENANT));

    assert_eq!(client.invoices_by_ids(&[]).await.unwrap(), vec![]);
    assert_eq!(client.invoices_by_numbers(&[]).await.unwrap(), vec![]);

    assert_eq!(client.calls(), Default::default());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn rate_limit_then_server_error_then_success_is_retried() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(
        &server,
        Sequence::new(vec![rate_limited(1, "minute"), ResponseTemplate::new(500), ok_with(&[1, 2])]),
    )
    .await;
    let client = client(&server, Some(TENANT));

    let started = Instant::now();
    let found = client.invoices_by_ids(&ids([1, 2])).await.unwrap();

    assert_eq!(sorted(found), vec![invoice(1), invoice(2)]);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was not honoured");
    let calls = client.calls();
    assert_eq!(calls.api_calls, 3);
    assert_eq!(calls.token_calls, 1);
}

#[tokio::test]
async fn long_retry_after_is_returned_without_waiting() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, Sequence::new(vec![rate_limited(120, "minute")])).await;
    let client = client(&server, Some(TENANT));

    let started = Instant::now();
    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(5));
    match error {
        XeroError::RateLimited { retry_after, problem } => {
            assert_eq!(retry_after, Duration::from_secs(120));
            assert_eq!(problem.as_deref(), Some("minute"));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(client.calls().api_calls, 1);
}

#[tokio::test]
async fn short_rate_limits_give_up_after_the_allowed_waits() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, Sequence::new(vec![rate_limited(0, "concurrent")])).await;
    let client = client(&server, Some(TENANT));

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    assert!(
        matches!(
            &error,
            XeroError::RateLimited { retry_after, problem }
                if *retry_after == Duration::ZERO && problem.as_deref() == Some("concurrent")
        ),
        "{error:?}"
    );
    // The first attempt and then one per allowed wait.
    assert_eq!(client.calls().api_calls, u64::from(quick_retry_policy().max_rate_limit_retries) + 1);
}

/// 401 for the first token, the invoices for any later one.
struct RejectsFirstToken;

impl Respond for RejectsFirstToken {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match request.headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer token-1") => ResponseTemplate::new(401),
            _ => ok_with(&[7]),
        }
    }
}

#[tokio::test]
async fn unauthorized_drops_the_token_and_retries_once_with_a_new_one() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, RejectsFirstToken).await;
    let client = client(&server, Some(TENANT));

    let found = client.invoices_by_ids(&ids([7])).await.unwrap();

    assert_eq!(found, vec![invoice(7)]);
    let calls = client.calls();
    assert_eq!(calls.token_calls, 2);
    assert_eq!(calls.api_calls, 2);

    // The new token is cached.
    client.invoices_by_ids(&ids([7])).await.unwrap();
    assert_eq!(client.calls().token_calls, 2);
}

#[tokio::test]
async fn unauthorized_twice_is_an_error() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, ResponseTemplate::new(401)).await;
    let client = client(&server, Some(TENANT));

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    assert!(matches!(error, XeroError::Unauthorized), "{error:?}");
    let calls = client.calls();
    assert_eq!(calls.token_calls, 2);
    assert_eq!(calls.api_calls, 2);
}

#[tokio::test]
async fn rejected_credentials_are_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let client = client(&server, Some(TENANT));

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    assert!(matches!(error, XeroError::Unauthorized), "{error:?}");
    assert_eq!(client.calls().token_calls, 1);
    assert_eq!(client.calls().api_calls, 0);
}

#[tokio::test]
async fn other_client_errors_are_returned_with_a_truncated_body() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    let long_body = "x".repeat(5_000);
    mount_invoices(&server, ResponseTemplate::new(400).set_body_string(long_body)).await;
    let client = client(&server, Some(TENANT));

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    match error {
        XeroError::Api { status, body } => {
            assert_eq!(status, 400);
            assert!(body.starts_with("xxx"));
            assert!(body.chars().count() <= 501, "{} chars", body.chars().count());
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert_eq!(client.calls().api_calls, 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_thousand_ids_take_ten_calls_when_the_filter_is_honoured() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, InvoicesDouble::new(1_500)).await;
    let client = client(&server, Some(TENANT));

    let found = client.invoices_by_ids(&ids(1..=1_000)).await.unwrap();

    assert_eq!(sorted(found), (1..=1_000).map(invoice).collect::<Vec<_>>());
    assert_eq!(client.calls().api_calls, 10);
    // Each call asked for one batch of distinct ids.
    let mut asked = HashSet::new();
    for request in server.received_requests().await.unwrap() {
        if request.url.path() != INVOICES_PATH {
            continue;
        }
        let (_, list) = request.url.query_pairs().find(|(k, _)| k == "IDs").unwrap();
        let batch: Vec<String> = list.split(',').map(str::to_owned).collect();
        assert_eq!(batch.len(), MAX_BATCH);
        asked.extend(batch);
    }
    assert_eq!(asked.len(), 1_000);
}

#[tokio::test]
async fn duplicated_input_is_asked_for_and_returned_once() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, InvoicesDouble::new(10)).await;
    let client = client(&server, Some(TENANT));

    let numbers: Vec<String> = ["INV-000003", "INV-000003", "INV-000004", "INV-404404"].map(String::from).to_vec();
    let found = client.invoices_by_numbers(&numbers).await.unwrap();

    assert_eq!(sorted(found), vec![invoice(3), invoice(4)]);
    assert_eq!(client.calls().api_calls, 1);
}

#[tokio::test]
async fn an_ignored_filter_pages_until_everything_asked_for_is_found() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    // 250 invoices in 3 pages; the double returns all of them whatever the IDs.
    let double = InvoicesDouble { honour_filters: false, ..InvoicesDouble::new(250) };
    mount_invoices(&server, double).await;
    let client = client(&server, Some(TENANT));

    let found = client.invoices_by_ids(&ids([3, 150, 42])).await.unwrap();

    assert_eq!(sorted(found), vec![invoice(3), invoice(42), invoice(150)]);
    assert_eq!(client.calls().api_calls, 2, "page 3 is not needed");
}

#[tokio::test]
async fn an_ignored_filter_without_pagination_pages_until_a_short_page() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    let double = InvoicesDouble { honour_filters: false, with_pagination: false, ..InvoicesDouble::new(250) };
    mount_invoices(&server, double).await;
    let client = client(&server, Some(TENANT));

    // One id that does not exist keeps the client paging to the end.
    let mut wanted = ids([5, 205]);
    wanted.push(invoice_id(9_999));
    let found = client.invoices_by_ids(&wanted).await.unwrap();

    assert_eq!(sorted(found), vec![invoice(5), invoice(205)]);
    assert_eq!(client.calls().api_calls, 3);
}

#[tokio::test]
async fn at_most_five_calls_are_in_flight() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    let (probe, max_in_flight) = InFlightProbe::new(InvoicesDouble::new(2_000), Duration::from_millis(100));
    mount_invoices(&server, probe).await;
    let client = client(&server, Some(TENANT));

    // 20 batches at once.
    let found = client.invoices_by_ids(&ids(1..=2_000)).await.unwrap();

    assert_eq!(found.len(), 2_000);
    assert_eq!(client.calls().api_calls, 20);
    let max = max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 5, "{max} calls in flight");
    assert!(max >= 2, "batches did not run concurrently (max {max} in flight)");
}

#[tokio::test]
async fn server_errors_forever_are_unavailable_after_the_retries() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, ResponseTemplate::new(503)).await;
    let client = client(&server, Some(TENANT));

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    assert!(matches!(error, XeroError::Unavailable(_)), "{error:?}");
    assert_eq!(client.calls().api_calls, u64::from(quick_retry_policy().max_retries) + 1);
}

#[tokio::test]
async fn timeouts_are_retried_then_unavailable() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, ok_with(&[1]).set_delay(Duration::from_millis(500))).await;
    let policy = RetryPolicy { max_retries: 2, request_timeout: Duration::from_millis(100), ..quick_retry_policy() };
    let client = XeroClient::with_policy(connection(&server, Some(TENANT)), policy);

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    assert!(matches!(error, XeroError::Unavailable(_)), "{error:?}");
    assert_eq!(client.calls().api_calls, 3);
}

#[tokio::test]
async fn a_failed_token_request_is_shared_with_the_callers_waiting_for_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    mount_invoices(&server, InvoicesDouble::new(5)).await;
    let client = client(&server, Some(TENANT));

    let singles: Vec<Vec<String>> = (1..=5).map(|i| ids([i])).collect();
    let results = futures::future::join_all(singles.iter().map(|id| client.invoices_by_ids(id))).await;

    for result in results {
        assert!(matches!(result, Err(XeroError::Unavailable(_))), "{result:?}");
    }
    // One caller's request and its retries; the four others got its failure.
    let calls = client.calls();
    assert_eq!(calls.token_calls, u64::from(quick_retry_policy().max_retries) + 1);
    assert_eq!(calls.api_calls, 0);
    // A caller arriving just after gets the failure too, without a token request.
    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();
    assert!(error.to_string().contains("the token request failed moments ago"), "{error}");
    assert_eq!(client.calls().token_calls, u64::from(quick_retry_policy().max_retries) + 1);
}

#[tokio::test]
async fn rejected_credentials_are_shared_as_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let client = client(&server, Some(TENANT));

    let singles: Vec<Vec<String>> = (1..=3).map(|i| ids([i])).collect();
    let results = futures::future::join_all(singles.iter().map(|id| client.invoices_by_ids(id))).await;

    for result in results {
        assert!(matches!(result, Err(XeroError::Unauthorized)), "{result:?}");
    }
    assert_eq!(client.calls().token_calls, 1);
}

#[tokio::test]
async fn numbers_are_asked_for_among_sales_invoices_and_the_type_is_returned() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    // A server that ignores `where`: a bill with a number asked for comes back, typed.
    let mut double = InvoicesDouble::new(3);
    double.invoices[1]["Type"] = json!("ACCPAY");
    double.invoices[2]["Type"] = json!("");
    mount_invoices(&server, double).await;
    let client = client(&server, Some(TENANT));

    let numbers: Vec<String> = ["INV-000001", "INV-000002", "INV-000003"].map(String::from).to_vec();
    let found = client.invoices_by_numbers(&numbers).await.unwrap();

    let types: Vec<Option<String>> = sorted(found).into_iter().map(|i| i.invoice_type).collect();
    assert_eq!(types, vec![Some("ACCREC".to_string()), Some("ACCPAY".to_string()), None]);
    let requests = server.received_requests().await.unwrap();
    let asked = requests.iter().find(|r| r.url.path() == INVOICES_PATH).unwrap();
    let params: HashMap<String, String> = asked.url.query_pairs().into_owned().collect();
    assert_eq!(params.get("where").map(String::as_str), Some("Type==\"ACCREC\""));
    // Ids are not filtered by type: a link may point to a bill.
    client.invoices_by_ids(&ids([2])).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let by_ids = requests.iter().filter(|r| r.url.path() == INVOICES_PATH).nth(1).unwrap();
    assert!(!by_ids.url.query_pairs().any(|(k, _)| k == "where"), "{}", by_ids.url);
}

#[tokio::test]
async fn a_sales_invoice_page_is_one_call_with_its_pagination_and_without_bills() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    let mut invoices: Vec<Value> = (1..=4).map(invoice_json).collect();
    invoices[2]["Type"] = json!("ACCPAY");
    Mock::given(method("GET"))
        .and(path(INVOICES_PATH))
        .and(wiremock::matchers::query_param("Statuses", "DRAFT,SUBMITTED,AUTHORISED,PAID,VOIDED,DELETED"))
        .and(wiremock::matchers::query_param("where", "Type==\"ACCREC\""))
        .and(wiremock::matchers::query_param("page", "3"))
        .and(wiremock::matchers::query_param("pageSize", "1000"))
        .and(wiremock::matchers::query_param("summaryOnly", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Invoices": invoices,
            "pagination": { "page": 3, "pageSize": 1000, "pageCount": 7, "itemCount": 6543 },
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, Some(TENANT));

    let page = client.sales_invoices_page(3).await.unwrap();

    assert_eq!(
        page,
        XeroPage {
            invoices: vec![invoice(1), invoice(2), invoice(4)],
            page_count: Some(7),
            item_count: Some(6543),
            page_size: Some(SCAN_PAGE_SIZE),
        }
    );
    assert_eq!(client.calls().api_calls, 1);
}

#[tokio::test]
async fn a_sales_invoice_page_without_pagination_says_so() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, ok_with(&[1])).await;
    let client = client(&server, Some(TENANT));

    let page = client.sales_invoices_page(1).await.unwrap();

    assert_eq!(page, XeroPage { invoices: vec![invoice(1)], page_count: None, item_count: None, page_size: None });
}

#[tokio::test]
async fn a_daily_limit_is_returned_at_once_and_blocks_the_next_calls() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, Sequence::new(vec![rate_limited(1, "DAILY"), ok_with(&[1])])).await;
    let client = client(&server, Some(TENANT));

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();
    assert!(
        matches!(&error, XeroError::RateLimited { retry_after, problem }
            if *retry_after == Duration::from_secs(1) && problem.as_deref() == Some("DAILY")),
        "{error:?}"
    );
    assert_eq!(client.calls().api_calls, 1, "a daily limit is never waited inside the call");
    // The budget is blocked until the Retry-After: the next call does not reach Xero.
    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();
    assert!(matches!(&error, XeroError::RateLimited { retry_after, .. } if *retry_after <= Duration::from_secs(1)));
    assert_eq!(client.calls().api_calls, 1);
}

/// A budget that refuses every call, or grants them and records what it was told.
#[derive(Default)]
struct RecordingBudget {
    refuse: bool,
    events: Mutex<Vec<String>>,
}

impl CallBudget for RecordingBudget {
    fn acquire<'a>(&'a self, tenant: &'a str) -> BudgetFuture<'a, Result<CallGrant, BudgetWait>> {
        self.events.lock().unwrap().push(format!("acquire {tenant}"));
        let answer = if self.refuse {
            Err(BudgetWait { retry_after: Duration::from_secs(30), reason: "minute".into() })
        } else {
            Ok(CallGrant::new(tenant, 2, "lease-1", std::time::SystemTime::now()))
        };
        Box::pin(std::future::ready(answer))
    }

    fn release<'a>(&'a self, grant: CallGrant, remaining: Remaining) -> BudgetFuture<'a, ()> {
        self.events.lock().unwrap().push(format!(
            "release {} {} {:?} {:?} {:?}",
            grant.tenant, grant.lease_id, remaining.minute, remaining.day, remaining.app_minute
        ));
        Box::pin(std::future::ready(()))
    }

    fn block<'a>(
        &'a self,
        tenant: &'a str,
        _until: std::time::SystemTime,
        problem: Option<&'a str>,
    ) -> BudgetFuture<'a, ()> {
        self.events.lock().unwrap().push(format!("block {tenant} {problem:?}"));
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn a_refusing_budget_is_rate_limited_without_calling_xero() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, ok_with(&[1])).await;
    let budget = Arc::new(RecordingBudget { refuse: true, ..Default::default() });
    let client = XeroClient::with_budget(connection(&server, None), quick_retry_policy(), budget.clone());

    let error = client.invoices_by_ids(&ids([1])).await.unwrap_err();

    assert!(
        matches!(&error, XeroError::RateLimited { retry_after, problem }
            if *retry_after == Duration::from_secs(30) && problem.as_deref() == Some("minute")),
        "{error:?}"
    );
    assert_eq!(client.calls().api_calls, 0);
    // Without a tenant, the client id is the budget's key.
    assert_eq!(*budget.events.lock().unwrap(), vec!["acquire client-id".to_string()]);
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.url.path() != INVOICES_PATH));
}

#[tokio::test]
async fn grants_are_released_with_what_xero_said_remains_and_429s_block() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    let ok = ok_with(&[1])
        .insert_header("X-MinLimit-Remaining", "57")
        .insert_header("X-DayLimit-Remaining", "4990")
        .insert_header("X-AppMinLimit-Remaining", "9000");
    mount_invoices(&server, Sequence::new(vec![rate_limited(0, "appminute"), ok])).await;
    let budget = Arc::new(RecordingBudget::default());
    let client = XeroClient::with_budget(connection(&server, Some(TENANT)), quick_retry_policy(), budget.clone());

    client.invoices_by_ids(&ids([1])).await.unwrap();

    assert_eq!(
        *budget.events.lock().unwrap(),
        vec![
            "acquire tenant-1".to_string(),
            "release tenant-1 lease-1 None None None".to_string(),
            "block tenant-1 Some(\"appminute\")".to_string(),
            "acquire tenant-1".to_string(),
            "release tenant-1 lease-1 Some(57) Some(4990) Some(9000)".to_string(),
        ]
    );
}

#[tokio::test]
async fn a_call_dropped_mid_flight_releases_its_grant() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server).await;
    mount_invoices(&server, ok_with(&[1]).set_delay(Duration::from_secs(30))).await;
    let budget = Arc::new(RecordingBudget::default());
    let client = XeroClient::with_budget(connection(&server, Some(TENANT)), quick_retry_policy(), budget.clone());

    // Cancelled once the request has reached the double (as a Lambda deadline would cancel it).
    let wanted = ids([1]);
    let call = client.invoices_by_ids(&wanted);
    let arrived = async {
        while server.received_requests().await.unwrap().iter().all(|r| r.url.path() != INVOICES_PATH) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        _ = call => panic!("the call should not finish"),
        _ = arrived => {}
    }
    // The guard's release runs on the runtime.
    for _ in 0..100 {
        if budget.events.lock().unwrap().len() == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        *budget.events.lock().unwrap(),
        vec!["acquire tenant-1".to_string(), "release tenant-1 lease-1 None None None".to_string()]
    );
}
