//! End-to-end: real HTTP requests to the deployed routes, served by `cargo lambda watch`, with the
//! functions on moto_server. One stack serves every test; it starts with the first test that runs
//! and stops when the run ends.

mod hardening;

use end_to_end_tests::{Stack, FUNCTIONS};
use futures::future::join_all;
use hardening::{
    extreme_values_are_refused_where_they_arrive, keys_and_credentials_are_checked_by_shape,
    replays_are_labelled_with_the_version_that_served_them, stored_extremes_never_make_a_route_panic,
};
use libtest_mimic::{Arguments, Failed, Trial};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
};

type Scenario = for<'a> fn(&'a Stack) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

macro_rules! scenarios {
    ($($name:ident),+ $(,)?) => {
        &[$((stringify!($name), (|stack| Box::pin($name(stack))) as Scenario)),+]
    };
}

fn main() {
    let arguments = Arguments::from_args();
    let runtime = Arc::new(tokio::runtime::Runtime::new().unwrap());
    let stack: Arc<OnceLock<Stack>> = Arc::new(OnceLock::new());
    let all: &[(&str, Scenario)] = scenarios![
        create_answers_201_with_the_full_shape_and_get_returns_it,
        another_account_gets_404_for_the_invoice,
        missing_or_wrong_credentials_get_401,
        bad_input_gets_400_naming_the_problem,
        idempotency_key_replays_and_refuses_reuse,
        fifty_concurrent_identical_requests_create_one_invoice,
        list_filters_and_pages_with_a_cursor,
        every_event_file_works_with_cargo_lambda_invoke,
        invoices_totals_over_http,
        line_items_keep_totals_and_the_lifecycle_guards_them,
        slash_reconcile_and_unreconcile_over_http,
        reconcile_with_xero_end_to_end,
        reconcile_every_invoice_of_an_account,
        reconcile_requests_are_validated,
        unparseable_messages_reach_the_dead_letter_queue,
        extreme_values_are_refused_where_they_arrive,
        stored_extremes_never_make_a_route_panic,
        keys_and_credentials_are_checked_by_shape,
        replays_are_labelled_with_the_version_that_served_them,
    ];
    let trials = all
        .iter()
        .map(|&(name, scenario)| {
            let (runtime, stack) = (Arc::clone(&runtime), Arc::clone(&stack));
            Trial::test(name, move || {
                let stack = stack.get_or_init(|| Stack::start(&runtime));
                runtime.block_on(scenario(stack));
                Ok::<(), Failed>(())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&arguments, trials);
    // Stop the stack before exiting: `exit` would skip its destructors.
    if let Some(stack) = Arc::try_unwrap(stack).ok().and_then(OnceLock::into_inner) {
        if conclusion.has_failed() {
            eprintln!("cargo lambda watch log: {}", stack.log.display());
        }
        drop(stack);
    }
    conclusion.exit();
}

async fn json_of(response: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.expect("a JSON body");
    (status, headers, body)
}

async fn create_answers_201_with_the_full_shape_and_get_returns_it(stack: &Stack) {
    let body = json!({
        "currency": "JPY", "customerId": "cust-e2e-1", "customerLegalCompanyName": "Acme KK",
        "customerEmails": ["ap@acme.test"], "dueDate": "2026-12-31", "reference": "R-1"
    });
    let response = stack
        .as_account(&stack.acme, Method::POST, "/invoices")
        .header("sequence-version", "2024-01-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers, created) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["sequence-version"], "2024-01-01");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("/invoices/{id}").as_str());
    let expected = json!({
        "id": id, "sequenceAccountId": stack.acme.account.id, "billingScheduleId": null, "billingRunId": null,
        "status": "DRAFT", "currency": "JPY", "invoiceNumber": null, "issueDate": null, "dueDate": "2026-12-31",
        "purchaseOrderNumber": null, "reference": "R-1", "customerEmails": ["ap@acme.test"],
        "customerLegalCompanyName": "Acme KK", "customerBillingAddress": {}, "customerShippingAddress": {},
        "memo": null, "paymentOptions": [], "billingPeriod": null, "customerId": "cust-e2e-1",
        "totalTax": "0", "netTotal": "0", "grossTotal": "0", "metadata": [], "customerTaxId": null,
        "paymentStatus": "UNPAID", "createdAt": created["createdAt"], "creditNoteIds": [], "linkedServices": [],
        "merchantDetails": null, "creditBalances": null, "dunningStatus": null,
        "accountingDate": created["createdAt"].as_str().unwrap()[..10], "calculatedAt": null,
        "customerTaxStatus": null, "renderSettings": {}
    });
    assert_eq!(created, expected);

    // Read back with the other credential kind.
    let (status, headers, fetched) = json_of(
        stack
            .http
            .get(stack.url(&format!("/invoices/{id}")))
            .header("x-api-key", &stack.acme.issued.api_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["sequence-version"], "2024-07-30");
    assert_eq!(fetched, created);
}

async fn another_account_gets_404_for_the_invoice(stack: &Stack) {
    let response = stack
        .as_account(&stack.acme, Method::POST, "/invoices")
        .json(&json!({"currency": "EUR", "customerId": "cust-private"}))
        .send()
        .await
        .unwrap();
    let (_, _, created) = json_of(response).await;
    let id = created["id"].as_str().unwrap();
    let (status, _, body) =
        json_of(stack.as_account(&stack.globex, Method::GET, &format!("/invoices/{id}")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": {"type": "NotFound", "message": format!("no invoice with id {id}")}}));
    // Exactly like an id that never existed.
    let missing = "01a21186-0000-7000-8000-000000000001";
    let (status, _, body) =
        json_of(stack.as_account(&stack.globex, Method::GET, &format!("/invoices/{missing}")).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": {"type": "NotFound", "message": format!("no invoice with id {missing}")}}));
    // And Globex's list does not show it.
    let (_, _, list) = json_of(
        stack.as_account(&stack.globex, Method::GET, "/invoices?customerId=cust-private").send().await.unwrap(),
    )
    .await;
    assert_eq!(list, json!({"items": [], "pagination": {"after": null}}));
}

async fn missing_or_wrong_credentials_get_401(stack: &Stack) {
    let unauthorized = json!({"error": {"type": "Unauthorized", "message": "missing or invalid credentials"}});
    let requests = [
        stack.http.get(stack.url("/invoices")),
        stack.http.get(stack.url("/invoices")).basic_auth(&stack.acme.issued.client_id, Some("wrong-secret")),
        stack.http.get(stack.url("/invoices")).basic_auth("ci_nobody", Some(&stack.acme.issued.client_secret)),
        stack.http.get(stack.url("/invoices")).header("x-api-key", "ak_nobody.secret"),
        stack.http.post(stack.url("/invoices")).json(&json!({"currency": "GBP", "customerId": "c"})),
    ];
    for request in requests {
        let (status, _, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, unauthorized);
    }
}

async fn bad_input_gets_400_naming_the_problem(stack: &Stack) {
    let post = |body: &'static str| {
        stack.as_account(&stack.acme, Method::POST, "/invoices").header("content-type", "application/json").body(body)
    };
    let cases = [
        (post("{\"currency\": "), "ValidationError", "malformed JSON: EOF while parsing a value at line 1 column 13"),
        (post(r#"{"currency": "GBP"}"#), "ValidationError", "request body: missing field `customerId` at line 1 column 19"),
        (
            post(r#"{"currency": "GBX", "customerId": "c"}"#),
            "ValidationError",
            "currency: unknown variant `GBX`, expected one of `ARS`, `AUD`, `BRL`, `CAD`, `CHF`, `CNY`, `COP`, `CZK`, `DKK`, `EUR`, `GBP`, `HKD`, `ILS`, `JPY`, `KRW`, `MXN`, `NOK`, `NZD`, `PLN`, `SEK`, `SGD`, `THB`, `USD`, `UYU`, `ZAR` at line 1 column 18",
        ),
        (
            post(r#"{"currency": "GBP", "customerId": "c", "customerEmails": "ap@acme.test"}"#),
            "ValidationError",
            "customerEmails: invalid type: string \"ap@acme.test\", expected a sequence at line 1 column 71",
        ),
        (
            post(r#"{"currency": "GBP", "customerId": "c"}"#).header("sequence-version", "2019-01-01"),
            "UnrecognisedApiVersion",
            "unrecognised Sequence-Version `2019-01-01`; supported versions: 2024-01-01, 2024-07-30",
        ),
        (
            stack.as_account(&stack.acme, Method::GET, "/invoices?status=PAID"),
            "ValidationError",
            "status: `PAID` is not one of IN_PROGRESS, DRAFT, FINAL, SENT, VOIDED",
        ),
        (
            stack.as_account(&stack.acme, Method::GET, "/invoices?after=%21%21"),
            "ValidationError",
            "after: not a cursor returned by this API",
        ),
        (
            stack.as_account(&stack.acme, Method::GET, "/invoices/not-an-id"),
            "ValidationError",
            "invoiceId: `not-an-id` is not a valid id",
        ),
    ];
    let before = stack.stored_invoice_count(&stack.acme).await;
    for (request, error_type, message) in cases {
        let (status, _, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        assert_eq!(body, json!({"error": {"type": error_type, "message": message}}));
    }
    assert_eq!(stack.stored_invoice_count(&stack.acme).await, before, "no bad request stored anything");
}

async fn idempotency_key_replays_and_refuses_reuse(stack: &Stack) {
    let key = format!("e2e-{}", uuid_like());
    let send = |body: Value| {
        stack.as_account(&stack.globex, Method::POST, "/invoices").header("idempotency-key", &key).json(&body).send()
    };
    let body = json!({"currency": "USD", "customerId": "cust-idem"});
    let (status, headers, first) = json_of(send(body.clone()).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());

    let (status, headers, replay) = json_of(send(body).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replay, first);

    let (status, _, reuse) = json_of(send(json!({"currency": "USD", "customerId": "cust-other"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reuse,
        json!({"error": {"type": "IdempotencyKeyReuse",
            "message": "this Idempotency-Key was already used with a different request (method, path or body)"}})
    );
    let (_, _, list) =
        json_of(stack.as_account(&stack.globex, Method::GET, "/invoices?customerId=cust-idem").send().await.unwrap())
            .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn fifty_concurrent_identical_requests_create_one_invoice(stack: &Stack) {
    let account = &stack.events_account;
    let before = stack.stored_invoice_count(account).await;
    let key = format!("burst-{}", uuid_like());
    let body = json!({"currency": "GBP", "customerId": "cust-burst"});
    let responses = join_all((0..50).map(|_| {
        stack.as_account(account, Method::POST, "/invoices").header("idempotency-key", &key).json(&body).send()
    }))
    .await;
    let mut ids = Vec::new();
    for response in responses {
        let (status, _, body) = json_of(response.unwrap()).await;
        match status {
            StatusCode::CREATED => ids.push(body["id"].as_str().unwrap().to_string()),
            StatusCode::CONFLICT => assert_eq!(body["error"]["type"], "Conflict"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(stack.stored_invoice_count(account).await, before + 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "every 201 names the one invoice");
}

async fn list_filters_and_pages_with_a_cursor(stack: &Stack) {
    let customer = format!("cust-list-{}", uuid_like());
    let mut created = Vec::new();
    for _ in 0..3 {
        let response = stack
            .as_account(&stack.acme, Method::POST, "/invoices")
            .json(&json!({"currency": "EUR", "customerId": customer}))
            .send()
            .await
            .unwrap();
        created.push(json_of(response).await.2);
    }
    let path = format!("/invoices?customerId={customer}&limit=2&status=DRAFT");
    let (status, _, first) = json_of(stack.as_account(&stack.acme, Method::GET, &path).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["items"], json!([created[0], created[1]]));
    let after = first["pagination"]["after"].as_str().expect("a cursor to the next page");
    let (_, _, second) =
        json_of(stack.as_account(&stack.acme, Method::GET, &format!("{path}&after={after}")).send().await.unwrap())
            .await;
    assert_eq!(second, json!({"items": [created[2]], "pagination": {"after": null}}));
}

async fn every_event_file_works_with_cargo_lambda_invoke(stack: &Stack) {
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

    let found_or_listed = [
        "create-invoice",
        "list-invoices",
        "calculate-invoice-totals",
        "reconcile-with-integration",
        "reconcile-worker",
    ];
    for function in FUNCTIONS.iter().filter(|f| !found_or_listed.contains(f)) {
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

async fn invoices_totals_over_http(stack: &Stack) {
    let body: Value = serde_json::from_slice(
        &std::fs::read(invoicing_test_support::workspace_root().join("events/calculate-invoice-totals.json")).unwrap(),
    )
    .unwrap();
    let seed: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    let (status, _, totals) =
        json_of(stack.as_account(&stack.acme, Method::POST, "/invoices-totals").json(&seed).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);
    let figures = json!({"grossTotal": "48000.24", "netTotal": "40000.20", "totalTax": "8000.04"});
    assert_eq!(
        totals,
        json!({
            "lineItemGroupTotals": [{"id": "befc8235-a295-4548-87bd-e9bcbbdf18b9", "total": figures}],
            "lineItemTotals": [{"id": "af60cab3-812d-4250-a051-0fb7133a00c7", "total": figures}],
            "total": figures
        })
    );
    let (status, _, error) = json_of(
        stack
            .as_account(&stack.acme, Method::POST, "/invoices-totals")
            .json(&json!({"currency": "JPY", "lineItems": [{"quantity": "1", "rate": "1", "taxRate": "1.5"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["error"]["message"],
        "lineItems[0].taxRate: must be between 0 and 1 (a fraction: \"0.2\" is 20 %), got 1.5"
    );
}

async fn line_items_keep_totals_and_the_lifecycle_guards_them(stack: &Stack) {
    let acme = &stack.acme;
    let send = |method: Method, path: String, body: Option<Value>| {
        let request = stack.as_account(acme, method, &path);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            (status, if text.is_empty() { Value::Null } else { serde_json::from_str::<Value>(&text).unwrap() })
        }
    };
    let (_, invoice) =
        send(Method::POST, "/invoices".into(), Some(json!({"currency": "USD", "customerId": "cust-lines"}))).await;
    let id = invoice["id"].as_str().unwrap().to_string();
    let (status, group) =
        send(Method::POST, format!("/invoices/{id}/line-item-groups"), Some(json!({"title": "Cars"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let group_id = group["id"].as_str().unwrap().to_string();

    let (status, first) = send(
        Method::POST,
        format!("/invoices/{id}/line-items"),
        Some(json!({"title": "Ferraris", "quantity": "2", "rate": "20000.10", "taxRate": "0.2", "groupId": group_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (first["netTotal"].as_str(), first["totalTax"].as_str(), first["grossTotal"].as_str()),
        (Some("40000.20"), Some("8000.04"), Some("48000.24"))
    );
    let (_, second) = send(
        Method::POST,
        format!("/invoices/{id}/line-items"),
        Some(json!({"title": "Fee", "quantity": 3, "rate": 0.335, "taxRate": 0})),
    )
    .await;
    let (status, _) = send(
        Method::PUT,
        format!("/invoices/{id}/line-items/{}", second["id"].as_str().unwrap()),
        Some(json!({"title": "Fee", "quantity": "3", "rate": "0.345", "taxRate": "0.1"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, third) = send(
        Method::POST,
        format!("/invoices/{id}/line-items"),
        Some(json!({"title": "Refund", "quantity": "-1", "rate": "5", "taxRate": "0"})),
    )
    .await;
    let (status, _) =
        send(Method::DELETE, format!("/invoices/{id}/line-items/{}", third["id"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // The stored invoice adds up to exactly what /invoices-totals says of its stored lines.
    let (status, lines) = send(Method::GET, format!("/invoices/{id}/line-items"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines["items"].as_array().unwrap().len(), 2);
    let (_, totals) =
        send(Method::POST, "/invoices-totals".into(), Some(json!({"currency": "USD", "lineItems": lines["items"]})))
            .await;
    let (_, stored) = send(Method::GET, format!("/invoices/{id}"), None).await;
    assert_eq!(
        json!({"grossTotal": stored["grossTotal"], "netTotal": stored["netTotal"], "totalTax": stored["totalTax"]}),
        totals["total"]
    );
    // 48000.24 + (3 x 0.345 = 1.035 -> 1.04, tax 0.104 -> 0.10).
    assert_eq!(stored["grossTotal"], "48001.38");

    let (status, finalized) = send(Method::POST, format!("/invoices/{id}/finalize"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(finalized["status"], "FINAL");
    assert!(finalized["invoiceNumber"].as_str().unwrap().starts_with("INV-"));
    assert_eq!(finalized["issueDate"], finalized["createdAt"].as_str().unwrap()[..10]);

    let (status, refused) = send(
        Method::POST,
        format!("/invoices/{id}/line-items"),
        Some(json!({"title": "Late", "quantity": "1", "rate": "1", "taxRate": "0"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        refused,
        json!({"error": {"type": "Conflict", "message": format!("invoice {id} is FINAL; only DRAFT invoices can change their lines")}})
    );
    let (status, _) = send(Method::POST, format!("/invoices/{id}/send"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, voided) = send(Method::POST, format!("/invoices/{id}/void"), None).await;
    assert_eq!((status, voided["status"].as_str()), (StatusCode::OK, Some("VOIDED")));
    let (status, again) = send(Method::POST, format!("/invoices/{id}/void"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        again["error"]["message"],
        format!("cannot void invoice {id}: it is VOIDED; only DRAFT, FINAL or SENT invoices can be voided")
    );
}

async fn slash_reconcile_and_unreconcile_over_http(stack: &Stack) {
    let globex = &stack.globex;
    let create = stack
        .as_account(globex, Method::POST, "/invoices")
        .json(&json!({"currency": "JPY", "customerId": "cust-slash", "dueDate": "2999-12-31"}))
        .send()
        .await
        .unwrap();
    let id = json_of(create).await.2["id"].as_str().unwrap().to_string();
    stack
        .as_account(globex, Method::POST, &format!("/invoices/{id}/line-items"))
        .json(&json!({"title": "Consulting", "quantity": "3", "rate": "3333.5", "taxRate": "0.1"}))
        .send()
        .await
        .unwrap();
    let (status, _, finalized) =
        json_of(stack.as_account(globex, Method::POST, &format!("/invoices/{id}/finalize")).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);
    // 3 x 3333.5 = 10000.5 -> 10001 yen; tax 1000.1 -> 1000; gross 11001.
    assert_eq!(finalized["grossTotal"], "11001");

    let slash = |path: String, body: Option<Value>| {
        let method = if body.is_some() { Method::POST } else { Method::GET };
        let request = stack.http.request(method, stack.url(&path)).header("x-api-key", &globex.issued.api_key);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { json_of(request.send().await.unwrap()).await }
    };
    let paid_at = "2026-11-25T12:00:00Z";
    let payment = json!([{"transactionType": "external",
        "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": paid_at, "amountCents": 5000}}]);
    let (status, _, partial) = slash(format!("/invoice/{id}/reconcile"), Some(payment)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(partial["invoice"]["status"], "unpaid");
    assert_eq!(partial["invoice"]["collectedAmountCents"], 5000);
    assert_eq!(partial["invoiceDetails"]["lineItemsAndTotals"]["totalAmountCents"], 11001);
    let (_, _, sequence) =
        json_of(stack.as_account(globex, Method::GET, &format!("/invoices/{id}")).send().await.unwrap()).await;
    assert_eq!(sequence["paymentStatus"], "PARTIALLY_PAID");

    // The rest of the balance, with a Slash idempotency key: a retry does not pay twice.
    let rest = json!([{"transactionType": "external", "transaction": {
        "paymentMethod": {"method": "card", "config": {"passFeeToPayer": true}}, "paidAt": "2026-11-25T13:00:00Z"}}]);
    let send_rest = || {
        stack
            .http
            .post(stack.url(&format!("/invoice/{id}/reconcile")))
            .header("x-api-key", &globex.issued.api_key)
            .header("x-idempotency-key", format!("pay-rest-{id}"))
            .json(&rest)
            .send()
    };
    let (status, _, paid) = json_of(send_rest().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paid["invoice"]["status"], "paid");
    assert_eq!(paid["invoice"]["collectedAmountCents"], 11001);
    let (status, headers, replay) = json_of(send_rest().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replay, paid);
    let (_, _, sequence) =
        json_of(stack.as_account(globex, Method::GET, &format!("/invoices/{id}")).send().await.unwrap()).await;
    assert_eq!(sequence["paymentStatus"], "PAID");

    // Unreconcile the first payment with the seed's body shape: back to unpaid, 6001 collected.
    let seed_shape = json!([{"transactionType": "external",
        "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": paid_at}}]);
    let (status, _, after) = slash(format!("/invoice/{id}/unreconcile"), Some(seed_shape.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["invoice"]["status"], "unpaid");
    assert_eq!(after["invoice"]["collectedAmountCents"], 6001);
    let (_, _, aggregate) = slash(format!("/invoice/{id}"), None).await;
    assert_eq!(aggregate, after);

    // The same transaction again is no longer on the invoice: a Slash 400.
    let (status, _, error) = slash(format!("/invoice/{id}/unreconcile"), Some(seed_shape)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["identifier"], "ValidationError");
    assert!(error["message"].as_str().unwrap().starts_with("[0].transaction: no recorded transaction on invoice"));

    // Another account cannot see it.
    let other = stack.http.get(stack.url(&format!("/invoice/{id}"))).header("x-api-key", &stack.acme.issued.api_key);
    let (status, _, error) = json_of(other.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["identifier"], "NotFound");
}

async fn finalized_invoice(stack: &Stack, account: &invoicing_domain::model::account::NewAccount) -> (String, String) {
    let (_, _, created) = json_of(
        stack
            .as_account(account, Method::POST, "/invoices")
            .json(&json!({"currency": "GBP", "customerId": "cust-xero"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _, finalized) =
        json_of(stack.as_account(account, Method::POST, &format!("/invoices/{id}/finalize")).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);
    (id, finalized["invoiceNumber"].as_str().unwrap().to_string())
}

/// Starts a reconcile and waits for it to complete; answers the job and its outcomes by invoice.
async fn reconcile(
    stack: &Stack,
    account: &invoicing_domain::model::account::NewAccount,
    ids: &[&str],
) -> (Value, Value) {
    let body =
        json!({"integrationService": "Xero", "invoiceIds": ids, "propertiesToCompare": ["INVOICE_NUMBER", "STATUS"]});
    let response = stack
        .as_account(account, Method::POST, "/invoices/reconcile-with-integration")
        .header("sequence-version", "2024-07-30")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers, accepted) = json_of(response).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job_id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(accepted, json!({"id": job_id, "status": "QUEUED"}));
    assert_eq!(headers["location"], format!("/invoices/reconcile-with-integration/{job_id}").as_str());
    let path = format!("/invoices/reconcile-with-integration/{job_id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let job = loop {
        let (_, _, job) = json_of(stack.as_account(account, Method::GET, &path).send().await.unwrap()).await;
        if job["status"] == "COMPLETED" || std::time::Instant::now() > deadline {
            break job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let (_, _, results) =
        json_of(stack.as_account(account, Method::GET, &format!("{path}/results?limit=100")).send().await.unwrap())
            .await;
    let mut by_invoice = serde_json::Map::new();
    for outcome in results["items"].as_array().unwrap() {
        by_invoice.insert(outcome["invoiceId"].as_str().unwrap().to_string(), outcome.clone());
    }
    (job, Value::Object(by_invoice))
}

async fn reconcile_with_xero_end_to_end(stack: &Stack) {
    let acme = &stack.acme;
    let (agreeing, agreeing_number) = finalized_invoice(stack, acme).await;
    let (renumbered, renumbered_number) = finalized_invoice(stack, acme).await;
    let (voided_there, voided_number) = finalized_invoice(stack, acme).await;
    stack.as_account(acme, Method::POST, &format!("/invoices/{voided_there}/send")).send().await.unwrap();
    let (absent, _) = finalized_invoice(stack, acme).await;
    let unknown = "01a21186-0000-7000-8000-00000000beef";
    let xero_ids = stack
        .create_in_xero(
            acme,
            &[(&agreeing_number, "AUTHORISED"), (&renumbered_number, "AUTHORISED"), (&voided_number, "AUTHORISED")],
        )
        .await;

    // First pass: found by number, everything agrees, and the links are stored.
    let ids = [agreeing.as_str(), renumbered.as_str(), voided_there.as_str(), absent.as_str(), unknown];
    let (job, outcomes) = reconcile(stack, acme, &ids).await;
    assert_eq!(
        job["counts"],
        json!({"total": 5, "matched": 3, "mismatched": 0, "notInIntegration": 1, "notFound": 1, "skipped": 0, "failed": 0})
    );
    let (_, _, linked) =
        json_of(stack.as_account(acme, Method::GET, &format!("/invoices/{renumbered}")).send().await.unwrap()).await;
    assert_eq!(linked["linkedServices"][0]["externalService"], "Xero");
    assert_eq!(linked["linkedServices"][0]["externalId"], xero_ids[1].as_str());
    assert_eq!(outcomes[&agreeing]["integrationId"], xero_ids[0].as_str());

    // In Xero, one invoice is renumbered and one voided; reconcile again (by the stored links).
    stack.update_in_xero(acme, &xero_ids[1], json!({"InvoiceNumber": "XERO-RENUMBERED"})).await;
    stack.update_in_xero(acme, &xero_ids[2], json!({"Status": "VOIDED"})).await;
    let (job, outcomes) = reconcile(stack, acme, &ids).await;
    assert_eq!(
        job["counts"],
        json!({"total": 5, "matched": 1, "mismatched": 2, "notInIntegration": 1, "notFound": 1, "skipped": 0, "failed": 0})
    );
    assert_eq!(job["integrationService"], "Xero");
    assert_eq!(job["propertiesToCompare"], json!(["INVOICE_NUMBER", "STATUS"]));
    assert!(job["completedAt"].is_string());
    assert_eq!(outcomes[&agreeing]["outcome"], "MATCHED");
    assert_eq!(outcomes[&renumbered]["outcome"], "MISMATCHED");
    assert_eq!(
        outcomes[&renumbered]["differences"],
        json!([{"property": "INVOICE_NUMBER", "sequenceValue": renumbered_number, "integrationValue": "XERO-RENUMBERED"}])
    );
    assert_eq!(
        outcomes[&voided_there]["differences"],
        json!([{"property": "STATUS", "sequenceValue": "SENT", "integrationValue": "VOIDED"}])
    );
    assert_eq!(outcomes[&absent]["outcome"], "NOT_IN_INTEGRATION");
    assert_eq!(outcomes[unknown]["outcome"], "NOT_FOUND");
    // Reconcile changes nothing on our side but the link.
    let (_, _, after) =
        json_of(stack.as_account(acme, Method::GET, &format!("/invoices/{voided_there}")).send().await.unwrap()).await;
    assert_eq!(after["status"], "SENT");
}

async fn reconcile_every_invoice_of_an_account(stack: &Stack) {
    let initech = &stack.initech;
    let (first, first_number) = finalized_invoice(stack, initech).await;
    let (second, _) = finalized_invoice(stack, initech).await;
    // A draft is not part of "every invoice".
    stack
        .as_account(initech, Method::POST, "/invoices")
        .json(&json!({"currency": "GBP", "customerId": "cust-draft"}))
        .send()
        .await
        .unwrap();
    stack.create_in_xero(initech, &[(&first_number, "PAID")]).await;
    let (job, outcomes) = reconcile(stack, initech, &[]).await;
    assert_eq!(
        job["counts"],
        json!({"total": 2, "matched": 1, "mismatched": 0, "notInIntegration": 1, "notFound": 0, "skipped": 0, "failed": 0})
    );
    assert_eq!(outcomes[&first]["outcome"], "MATCHED");
    assert_eq!(outcomes[&second]["outcome"], "NOT_IN_INTEGRATION");
}

async fn reconcile_requests_are_validated(stack: &Stack) {
    let post = |account: &invoicing_domain::model::account::NewAccount, body: Value| {
        stack.as_account(account, Method::POST, "/invoices/reconcile-with-integration").json(&body).send()
    };
    let ok_properties = json!(["STATUS"]);
    let too_many: Vec<String> = (0..10_001).map(|i| format!("id-{i}")).collect();
    let cases = [
        (
            json!({"integrationService": "QuickBooks", "invoiceIds": [], "propertiesToCompare": ok_properties}),
            "integrationService: unknown variant `QuickBooks`, expected `Xero`",
        ),
        (
            json!({"integrationService": "Xero", "invoiceIds": [], "propertiesToCompare": ["AMOUNT"]}),
            "propertiesToCompare[0]: unknown variant `AMOUNT`, expected `INVOICE_NUMBER` or `STATUS`",
        ),
        (
            json!({"integrationService": "Xero", "invoiceIds": [], "propertiesToCompare": []}),
            "propertiesToCompare: at least one of INVOICE_NUMBER, STATUS is required",
        ),
        (
            json!({"integrationService": "Xero", "invoiceIds": too_many, "propertiesToCompare": ok_properties}),
            "invoiceIds: at most 10000 ids, got 10001",
        ),
        (
            json!({"integrationService": "Xero", "invoiceIds": [42], "propertiesToCompare": ok_properties}),
            "invoiceIds[0]: invalid type: integer `42`, expected a string",
        ),
        (
            json!({"integrationService": "Xero", "propertiesToCompare": ok_properties}),
            "request body: missing field `invoiceIds`",
        ),
        (
            // An id that cannot be an invoice id never reaches the queue (nor a DynamoDB key).
            json!({"integrationService": "Xero", "invoiceIds": ["x".repeat(1100)], "propertiesToCompare": ok_properties}),
            "invoiceIds[0]: `xxxxxxxx",
        ),
    ];
    for (body, message) in cases {
        let (status, _, error) = json_of(post(&stack.acme, body).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"]["type"], "ValidationError");
        assert!(error["error"]["message"].as_str().unwrap().starts_with(message), "{error}");
    }
    let (status, _, error) = json_of(
        post(
            &stack.globex,
            json!({"integrationService": "Xero", "invoiceIds": [], "propertiesToCompare": ok_properties}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({"error": {"type": "ValidationError", "message": "integrationService: this account has no Xero connection; connect one before reconciling"}})
    );
    // Another account's job is a 404.
    let (_, acme_job) = (
        0,
        json_of(
            post(
                &stack.acme,
                json!({"integrationService": "Xero", "invoiceIds": ["01a21186-0000-7000-8000-000000000002"],
                       "propertiesToCompare": ok_properties}),
            )
            .await
            .unwrap(),
        )
        .await
        .2,
    );
    let job_id = acme_job["id"].as_str().unwrap();
    let (status, _, error) = json_of(
        stack
            .as_account(&stack.globex, Method::GET, &format!("/invoices/reconcile-with-integration/{job_id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["message"], format!("no reconcile job with id {job_id}"));
}

async fn unparseable_messages_reach_the_dead_letter_queue(stack: &Stack) {
    let sqs = stack.sqs().await;
    let garbage = format!("not a reconcile message {}", uuid_like());
    sqs.send_message().queue_url(&stack.queue_url).message_body(&garbage).send().await.unwrap();
    // The worker fails it on every delivery; after the fifth the queue's redrive policy moves it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut dead = Vec::new();
    while std::time::Instant::now() < deadline && !dead.contains(&garbage) {
        let received = sqs
            .receive_message()
            .queue_url(&stack.dead_letter_queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for message in received.messages.unwrap_or_default() {
            dead.push(message.body.unwrap_or_default());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(dead.contains(&garbage), "the message did not reach the dead-letter queue");
}

fn uuid_like() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}
