//! Invoices: create, read, list, credentials, bad input and idempotency over HTTP.

use crate::helpers::{json_of, uuid_like, Stack};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub async fn create_answers_201_with_the_full_shape_and_get_returns_it(stack: &Stack) {
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

pub async fn another_account_gets_404_for_the_invoice(stack: &Stack) {
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

pub async fn missing_or_wrong_credentials_get_401(stack: &Stack) {
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

pub async fn bad_input_gets_400_naming_the_problem(stack: &Stack) {
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

pub async fn idempotency_key_replays_and_refuses_reuse(stack: &Stack) {
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

pub async fn fifty_concurrent_identical_requests_create_one_invoice(stack: &Stack) {
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

pub async fn list_filters_and_pages_with_a_cursor(stack: &Stack) {
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
