//! The `events/` files drive every function as `sam local invoke` would.

use crate::helpers::{functions, Stack};
use serde_json::{json, Value};

pub async fn every_event_file_works_with_cargo_lambda_invoke(stack: &Stack) {
    let answer = |function: &str| {
        let response = stack.invoke_event(function, &format!("{function}.json"));
        let body = response["body"].as_str().map(|b| serde_json::from_str::<Value>(b).unwrap_or(Value::Null));
        (response["statusCode"].as_u64().unwrap(), body.unwrap_or(Value::Null))
    };
    let (status, invoice) = answer("create-invoice");
    assert_eq!(status, 201);
    assert_eq!(invoice["customerId"], "cust-example");
    assert_eq!(invoice["sequenceAccountId"], stack.events_account.account.id);

    let (status, page) = answer("list-invoices");
    assert_eq!(status, 200);
    assert!(page["items"].as_array().unwrap().iter().any(|i| i["id"] == invoice["id"]));

    let (status, totals) = answer("calculate-invoice-totals");
    assert_eq!(status, 200);
    assert_eq!(totals["total"], json!({"grossTotal": "48000.24", "netTotal": "40000.20", "totalTax": "8000.04"}));

    // The other events name an invoice that does not exist: each function answers 404 for it.
    let (status, job) = answer("reconcile-with-integration");
    assert_eq!((status, job["status"].as_str()), (202, Some("QUEUED")));
    // The SQS event names a job that does not exist: the worker drops the message, failing nothing.
    let worker = stack.invoke_event("reconcile-worker", "reconcile-worker.json");
    assert_eq!(worker, json!({"batchItemFailures": []}));

    // The events account has a custom Xero connection (an operator's).
    let (status, connection) = answer("get-xero-connection");
    assert_eq!(
        (status, &connection["status"], &connection["kind"]),
        (200, &json!("CONNECTED"), &json!("CUSTOM_CONNECTION"))
    );
    let (status, started) = answer("connect-xero");
    assert_eq!(status, 200, "{started}");
    let authorize_url = started["authorizeUrl"].as_str().unwrap();
    assert!(authorize_url.starts_with(&format!("{}/identity/connect/authorize?response_type=code&", stack.xero_url)));
    assert!(authorize_url.contains("redirect_uri=http%3A%2F%2F127.0.0.1"), "{authorize_url}");
    // The callback's event carries a state nobody handed out: the 400 page.
    let callback = stack.invoke_event("xero-callback", "xero-callback.json");
    assert_eq!(callback["statusCode"], 400);
    assert!(callback["body"].as_str().unwrap().contains("This link is unknown or was already used"));
    for function in ["select-xero-tenant", "disconnect-xero"] {
        let (status, error) = answer(function);
        assert_eq!((status, error["error"]["type"].as_str()), (409, Some("Conflict")), "{function}");
    }
    // Two-way sync is off until set; the event's body turns it off, which needs no connection.
    let (status, settings) = answer("get-xero-sync-settings");
    assert_eq!((status, &settings["pushInvoices"], &settings["salesAccountCode"]), (200, &json!(false), &json!("200")));
    let (status, settings) = answer("update-xero-sync-settings");
    assert_eq!(
        (status, &settings["pushInvoices"], &settings["pullPayments"], &settings["salesAccountCode"]),
        (200, &json!(false), &json!(false), &json!("200")),
        "{settings}"
    );

    // A public https URL, as a deployed function requires.
    let (status, endpoint) = answer("create-webhook-endpoint");
    assert_eq!((status, endpoint["url"].as_str()), (201, Some("https://hooks.example.test/invoices")), "{endpoint}");
    assert!(endpoint["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, endpoints) = answer("list-webhook-endpoints");
    assert_eq!(status, 200);
    assert!(endpoints["items"].as_array().unwrap().iter().any(|e| e["id"] == endpoint["id"]));

    // The stream record is relayed (to whatever endpoints its account has here), and the delivery
    // message, naming an endpoint this stack does not have, is dropped: neither fails anything.
    let relayed = stack.invoke_event("relay-webhook-events", "relay-webhook-events.json");
    assert_eq!(relayed, json!({"batchItemFailures": []}));
    let delivered = stack.invoke_event("deliver-webhooks", "deliver-webhooks.json");
    assert_eq!(delivered, json!({"batchItemFailures": []}));

    // Xero sync: the events account neither pushes nor pulls, so the workers' messages change
    // nothing; the webhook event is signed with the development webhook key: 200, empty body.
    for worker in ["push-to-xero", "pull-from-xero"] {
        assert_eq!(stack.invoke_event(worker, &format!("{worker}.json")), json!({"batchItemFailures": []}), "{worker}");
    }
    // The backstop's schedule event: it sweeps whichever accounts pull here (other scenarios may
    // have made some), failing none.
    let swept = stack.invoke_event("sweep-xero-changes", "sweep-xero-changes.json");
    assert_eq!(swept["accountsFailed"], 0, "{swept}");
    assert!(swept["accountsSwept"].is_u64() && swept["pullsQueued"].is_u64(), "{swept}");
    let webhook = stack.invoke_event("receive-xero-webhooks", "receive-xero-webhooks.json");
    assert_eq!(
        (webhook["statusCode"].as_u64(), webhook["body"].as_str().unwrap_or_default()),
        (Some(200), ""),
        "{webhook}"
    );

    let found_or_listed = [
        "relay-webhook-events",
        "deliver-webhooks",
        "push-to-xero",
        "pull-from-xero",
        "receive-xero-webhooks",
        "sweep-xero-changes",
        "create-webhook-endpoint",
        "list-webhook-endpoints",
        "create-invoice",
        "list-invoices",
        "calculate-invoice-totals",
        "reconcile-with-integration",
        "reconcile-worker",
        "get-xero-connection",
        "connect-xero",
        "xero-callback",
        "select-xero-tenant",
        "disconnect-xero",
        "get-xero-sync-settings",
        "update-xero-sync-settings",
    ];
    for function in functions().iter().map(String::as_str).filter(|f| !found_or_listed.contains(f)) {
        let (status, error) = answer(function);
        // Slash routes answer Slash's error body, with the event's request id.
        let error_type = error["error"]["type"].as_str().or(error["identifier"].as_str());
        assert_eq!((status, error_type), (404, Some("NotFound")), "{function}");
    }
    // Slash's message carries the Lambda request id of the invocation that answered.
    let (_, slash_error) = answer("get-invoice-aggregate");
    assert_eq!(slash_error["identifier"], "NotFound");
    let message = slash_error["message"].as_str().unwrap();
    let request_id = message
        .strip_prefix("no invoice with id 01a21186-0000-7000-8000-000000000000 [NotFound-")
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("unexpected message {message}"));
    assert_eq!(request_id.len(), 36, "a request id: {request_id}");
}
