//! A DynamoDB double: an HTTP client for the SDK that forwards every call to a DynamoDB-protocol
//! server (moto) and injects what moto never does but DynamoDB documents:
//! - transaction conflicts: `TransactionCanceledException` with reason `TransactionConflict`
//!   (a transaction touched an item another transaction held) and `TransactionConflictException`
//!   (a single-item write met an item a transaction held);
//! - throttling, and the 400 KB item limit's `ValidationException`;
//! - lost answers: the call reaches the server and commits, but its answer never arrives (the SDK
//!   sees a 500 and retries);
//! - `ClientRequestToken` idempotency: a `TransactWriteItems` repeated with a token that already
//!   succeeded is answered as a success without being applied again, as DynamoDB does for 10
//!   minutes (moto ignores the token).

use aws_sdk_dynamodb::config::{
    http::{HttpRequest, HttpResponse},
    HttpClient, RuntimeComponents, SharedHttpClient,
};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_types::body::SdkBody;
use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{Arc, Mutex},
};

/// A failure DynamoDB answers with, injected instead of forwarding the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `TransactionCanceledException`, the first item's reason `TransactionConflict`.
    TransactionConflict,
    /// `TransactionConflictException` (single-item writes).
    TransactionConflictException,
    /// `ProvisionedThroughputExceededException`.
    Throttled,
    /// `ValidationException: Item size has exceeded the maximum allowed size`.
    ItemTooLarge,
    /// The call is applied by the server, but its answer is lost: the SDK gets a 500.
    LoseAnswer,
    /// The service fails the call without applying it (`InternalServerError`, a 500).
    Unavailable,
    /// `TransactionInProgressException`: a transaction with the same `ClientRequestToken` is
    /// still being applied.
    InProgress,
}

#[derive(Default)]
struct State {
    /// Faults still to inject, per operation, in order.
    planned: HashMap<String, Vec<Fault>>,
    /// Calls seen per operation (including retries and injected ones).
    calls: HashMap<String, usize>,
    /// Tokens of transactions that succeeded.
    committed_tokens: HashSet<String>,
    /// What reads returned, for read-unit estimates.
    reads: Reads,
}

/// What the reads that went through the double returned.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reads {
    /// Read units of GetItem and BatchGetItem, by DynamoDB's rule (each item rounded up to 4 KB; a
    /// strongly consistent read 1 unit per 4 KB, an eventually consistent one half), with an item's
    /// size taken as its size on the wire (slightly above DynamoDB's count).
    pub item_read_units: f64,
    /// Items GetItem and BatchGetItem returned.
    pub items: u64,
    /// Query calls.
    pub queries: u64,
    /// Items the queries evaluated (`ScannedCount`): DynamoDB charges a query for these, whole,
    /// before its filter and projection.
    pub query_scanned: u64,
    /// Of which eventually consistent (charged half).
    pub query_scanned_eventually_consistent: u64,
}

/// See the module documentation. Clones share their plan and counts.
#[derive(Clone, Default)]
pub struct DynamoDouble {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for DynamoDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynamoDouble")
    }
}

impl DynamoDouble {
    /// A double with nothing planned.
    pub fn new() -> DynamoDouble {
        DynamoDouble::default()
    }

    /// The next `times` calls of `operation` (`"TransactWriteItems"`, `"PutItem"`...) meet `fault`.
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        let mut state = self.state.lock().unwrap();
        state.planned.entry(operation.to_string()).or_default().extend(std::iter::repeat_n(fault, times));
    }

    /// How many calls of `operation` the SDK made (retries included).
    pub fn calls(&self, operation: &str) -> usize {
        self.state.lock().unwrap().calls.get(operation).copied().unwrap_or(0)
    }

    /// What the reads returned so far.
    pub fn reads(&self) -> Reads {
        self.state.lock().unwrap().reads
    }

    /// Faults planned but not injected yet.
    pub fn pending(&self) -> usize {
        self.state.lock().unwrap().planned.values().map(Vec::len).sum()
    }

    /// An HTTP client for the SDK that goes through this double to `inner`.
    pub fn http_client(&self, inner: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(DoubleClient { double: self.clone(), inner })
    }
}

#[derive(Debug)]
struct DoubleClient {
    double: DynamoDouble,
    inner: SharedHttpClient,
}

impl HttpClient for DoubleClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(DoubleConnector {
            double: self.double.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct DoubleConnector {
    double: DynamoDouble,
    inner: SharedHttpConnector,
}

fn error_response(status: u16, error_type: &str, message: &str, extra: serde_json::Value) -> HttpResponse {
    let mut body = serde_json::json!({"__type": error_type, "message": message});
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let mut response = HttpResponse::new(status.try_into().expect("a status code"), SdkBody::from(body.to_string()));
    response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    response
}

fn fault_response(fault: Fault, request_body: &serde_json::Value) -> HttpResponse {
    const PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";
    match fault {
        Fault::TransactionConflict => {
            let items = request_body["TransactItems"].as_array().map_or(1, Vec::len);
            let reasons: Vec<serde_json::Value> = (0..items)
                .map(|i| {
                    if i == 0 {
                        serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
                    } else {
                        serde_json::json!({"Code": "None"})
                    }
                })
                .collect();
            error_response(
                400,
                &format!("{PREFIX}TransactionCanceledException"),
                "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                serde_json::json!({"CancellationReasons": reasons}),
            )
        }
        Fault::TransactionConflictException => error_response(
            400,
            &format!("{PREFIX}TransactionConflictException"),
            "Transaction is ongoing for the item",
            serde_json::Value::Null,
        ),
        Fault::Throttled => error_response(
            400,
            &format!("{PREFIX}ProvisionedThroughputExceededException"),
            "The level of configured provisioned throughput for the table was exceeded.",
            serde_json::Value::Null,
        ),
        Fault::InProgress => error_response(
            400,
            &format!("{PREFIX}TransactionInProgressException"),
            "The transaction with the given request token is already in progress.",
            serde_json::Value::Null,
        ),
        Fault::ItemTooLarge => error_response(
            400,
            "com.amazon.coral.validate#ValidationException",
            "Item size has exceeded the maximum allowed size",
            serde_json::Value::Null,
        ),
        Fault::LoseAnswer | Fault::Unavailable => error_response(
            500,
            &format!("{PREFIX}InternalServerError"),
            "Internal server error",
            serde_json::Value::Null,
        ),
    }
}

/// Sends the call to the server; a transaction that succeeds has its token remembered, and what a
/// read returned is measured.
async fn forward(
    inner: SharedHttpConnector,
    double: DynamoDouble,
    request: HttpRequest,
    call: Call,
) -> Result<HttpResponse, aws_smithy_runtime_api::client::result::ConnectorError> {
    let mut response = inner.call(request).await?;
    if response.status().is_success() {
        if let Some(token) = &call.token {
            double.state.lock().unwrap().committed_tokens.insert(token.clone());
        }
        if matches!(call.operation.as_str(), "GetItem" | "BatchGetItem" | "Query") {
            let body = aws_smithy_types::byte_stream::ByteStream::new(response.take_body())
                .collect()
                .await
                .map_err(|e| aws_smithy_runtime_api::client::result::ConnectorError::io(e.into()))?
                .into_bytes();
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            measure(&mut double.state.lock().unwrap().reads, &call, &answer);
            *response.body_mut() = SdkBody::from(body);
        }
    }
    Ok(response)
}

/// What a forwarded call was.
struct Call {
    operation: String,
    token: Option<String>,
    /// The request, for its consistency settings.
    body: serde_json::Value,
}

fn measure(reads: &mut Reads, call: &Call, answer: &serde_json::Value) {
    let units = |item: &serde_json::Value, consistent: bool| {
        let size = item.to_string().len().max(1) as f64;
        (size / 4096.0).ceil() * if consistent { 1.0 } else { 0.5 }
    };
    match call.operation.as_str() {
        "GetItem" => {
            if let Some(item) = answer.get("Item") {
                reads.item_read_units += units(item, call.body["ConsistentRead"] == true);
                reads.items += 1;
            }
        }
        "BatchGetItem" => {
            for (table, items) in answer["Responses"].as_object().into_iter().flatten() {
                let consistent = call.body["RequestItems"][table]["ConsistentRead"] == true;
                for item in items.as_array().into_iter().flatten() {
                    reads.item_read_units += units(item, consistent);
                    reads.items += 1;
                }
            }
        }
        _ => {
            let scanned = answer["ScannedCount"].as_u64().unwrap_or_default();
            reads.queries += 1;
            reads.query_scanned += scanned;
            if call.body["ConsistentRead"] != true {
                reads.query_scanned_eventually_consistent += scanned;
            }
        }
    }
}

impl HttpConnector for DoubleConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.split('.').nth(1))
            .unwrap_or_default()
            .to_string();
        let body: serde_json::Value =
            request.body().bytes().and_then(|bytes| serde_json::from_slice(bytes).ok()).unwrap_or_default();
        let token = body["ClientRequestToken"].as_str().map(str::to_string);
        let fault = {
            let mut state = self.double.state.lock().unwrap();
            *state.calls.entry(operation.clone()).or_default() += 1;
            if token.as_ref().is_some_and(|t| state.committed_tokens.contains(t)) {
                // DynamoDB answers a repeated token with the success it already gave.
                let mut response = HttpResponse::new(200.try_into().expect("200"), SdkBody::from("{}"));
                response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
                return HttpConnectorFuture::ready(Ok(response));
            }
            state.planned.get_mut(&operation).and_then(|faults| (!faults.is_empty()).then(|| faults.remove(0)))
        };
        let (inner, double) = (self.inner.clone(), self.double.clone());
        match fault {
            Some(Fault::LoseAnswer) => HttpConnectorFuture::new(async move {
                let response = fault_response(Fault::LoseAnswer, &body);
                forward(inner, double, request, Call { operation, token, body }).await?;
                Ok(response)
            }),
            Some(fault) => HttpConnectorFuture::ready(Ok(fault_response(fault, &body))),
            None => HttpConnectorFuture::new(forward(inner, double, request, Call { operation, token, body })),
        }
    }
}
