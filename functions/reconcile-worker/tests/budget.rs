//! Three worker instances (three `XeroClient`s, each with its own `SharedBudget` over its own
//! `DynamoStore` handle on one moto table) against one Xero double for one tenant: together they
//! keep within the tenant's in-flight and minute limits, and a daily 429 stops all of them until
//! its Retry-After has passed.

use chrono::{DateTime, TimeZone, Utc};
use invoicing_domain::model::xero_budget::BudgetLimits;
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::{events_table_name, xero_double::InFlightProbe, MotoServer};
use invoicing_xero::{RetryPolicy, XeroClient, XeroConnection, XeroError};
use reconcile_worker::budget::{Clock, SharedBudget};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TENANT: &str = "tenant-1";
const INVOICES_PATH: &str = "/api.xro/2.0/Invoices";
const INSTANCES: usize = 3;

fn invoice_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_rate_limit_wait: Duration::from_secs(10),
        max_rate_limit_retries: 3,
        request_timeout: Duration::from_secs(5),
    }
}

fn limits() -> BudgetLimits {
    BudgetLimits { per_minute: 12, ..BudgetLimits::default() }
}

/// Answers each `IDs` request with the invoice asked for, after `first` answers given in turn.
struct FirstThenInvoice {
    first: Vec<ResponseTemplate>,
    served: AtomicUsize,
}

impl Respond for FirstThenInvoice {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(answer) = self.first.get(self.served.fetch_add(1, Ordering::SeqCst)) {
            return answer.clone();
        }
        let id = request.url.query_pairs().find(|(k, _)| k == "IDs").map(|(_, v)| v.into_owned()).unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(
            json!({ "Invoices": [{ "InvoiceID": id, "InvoiceNumber": "INV-1", "Status": "AUTHORISED", "Type": "ACCREC" }] }),
        )
    }
}

struct Fixture {
    _moto: MotoServer,
    server: MockServer,
    clients: Vec<XeroClient>,
    max_in_flight: Arc<AtomicUsize>,
}

async fn fixture(first: Vec<ResponseTemplate>, clock: Option<Clock>) -> Fixture {
    let moto = MotoServer::start();
    let table = moto.fresh_store().await.table().to_string();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "token", "expires_in": 1800})))
        .mount(&server)
        .await;
    let double = FirstThenInvoice { first, served: AtomicUsize::new(0) };
    let (probe, max_in_flight) = InFlightProbe::new(double, Duration::from_millis(150));
    Mock::given(method("GET")).and(path(INVOICES_PATH)).respond_with(probe).mount(&server).await;
    let clients = (0..INSTANCES)
        .map(|_| {
            // Each instance has its own DynamoDB client on the one table.
            let store = DynamoStore::new(moto.dynamodb_client(), table.clone(), events_table_name(&table));
            let budget = match &clock {
                Some(clock) => SharedBudget::with_clock(store, limits(), Arc::clone(clock)),
                None => SharedBudget::new(store, limits()),
            };
            let connection = XeroConnection {
                client_id: "client-id".into(),
                client_secret: "client-secret".into(),
                tenant_id: Some(TENANT.into()),
                api_base_url: server.uri(),
                token_url: format!("{}/connect/token", server.uri()),
            };
            XeroClient::with_budget(connection, policy(), Arc::new(budget))
        })
        .collect();
    Fixture { _moto: moto, server, clients, max_in_flight }
}

async fn api_requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == INVOICES_PATH).count()
}

#[tokio::test]
async fn three_instances_share_the_in_flight_and_minute_limits() {
    // The minute is pinned (half past), so the count cannot straddle two windows.
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 26, 2, 31, 30).unwrap();
    let fx = fixture(Vec::new(), Some(Arc::new(move || now))).await;
    let per_client = 10;

    let calls = fx.clients.iter().enumerate().flat_map(|(c, client)| {
        (0..per_client).map(move |i| async move {
            let id = invoice_id(c * per_client + i);
            client.invoices_by_ids(std::slice::from_ref(&id)).await.map(|found| (id, found))
        })
    });
    let results = futures::future::join_all(calls).await;

    let mut granted = 0;
    let mut limited = 0;
    for result in results {
        match result {
            Ok((id, found)) => {
                assert_eq!(found.len(), 1);
                assert_eq!(found[0].invoice_id, id);
                granted += 1;
            }
            Err(XeroError::RateLimited { retry_after, problem }) => {
                // Refused by the shared budget until the next minute, 30 s on the pinned clock.
                assert_eq!((retry_after, problem.as_deref()), (Duration::from_secs(30), Some("minute")));
                limited += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((granted, limited), (12, INSTANCES * per_client - 12));
    assert_eq!(api_requests(&fx.server).await, 12, "only granted calls reach Xero");
    let api_calls: u64 = fx.clients.iter().map(|c| c.calls().api_calls).sum();
    assert_eq!(api_calls, 12);
    let max = fx.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 5, "{max} calls in flight");
    assert!(max >= 2, "calls did not run concurrently (max {max} in flight)");
}

#[tokio::test]
async fn a_daily_limit_stops_every_instance_until_its_retry_after() {
    let daily =
        ResponseTemplate::new(429).insert_header("Retry-After", "2").insert_header("X-Rate-Limit-Problem", "daily");
    let fx = fixture(vec![daily], None).await;

    let error = fx.clients[0].invoices_by_ids(&[invoice_id(1)]).await.unwrap_err();
    assert!(
        matches!(&error, XeroError::RateLimited { retry_after, problem }
            if *retry_after == Duration::from_secs(2) && problem.as_deref() == Some("daily")),
        "{error:?}"
    );

    // During the block no instance calls Xero.
    for i in 0..10 {
        let client = &fx.clients[i % INSTANCES];
        match client.invoices_by_ids(&[invoice_id(i)]).await {
            Err(XeroError::RateLimited { retry_after, problem }) => {
                assert!(retry_after <= Duration::from_secs(2), "{retry_after:?}");
                assert_eq!(problem.as_deref(), Some("daily"));
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }
    assert_eq!(api_requests(&fx.server).await, 1);

    // Once the block has ended, a call goes through.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let found = fx.clients[2].invoices_by_ids(&[invoice_id(42)]).await.unwrap();
    assert_eq!(found[0].invoice_id, invoice_id(42));
    assert_eq!(api_requests(&fx.server).await, 2);
}
