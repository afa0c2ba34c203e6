//! `POST /invoices` in process: the handler behind the shared gateway, with in-memory stores for
//! the request rules and with the DynamoDB adapter on moto_server for concurrency.

use create_invoice::{create_invoice, route};
use invoicing_domain::{
    ports::{AccountStore, CredentialStore, IdempotencyStore, InvoiceQuery, InvoiceStore},
    views::SequenceView,
};
use invoicing_test_support::{
    api::{TestApi, TestResponse},
    MotoServer,
};
use serde_json::json;

async fn post<S>(api: &TestApi<S>, body: &str, key: Option<&str>) -> TestResponse
where
    S: InvoiceStore + AccountStore + CredentialStore + IdempotencyStore + Clone,
{
    let mut request = api.request("POST", "/invoices").body(body);
    if let Some(key) = key {
        request = request.idempotency_key(key);
    }
    api.call(&route(), request, create_invoice).await
}

#[tokio::test]
async fn creates_a_draft_with_every_field_of_the_seed() {
    let api = TestApi::in_memory().await;
    let (store, account) = (&api.store, &api.account);
    let body = json!({
        "currency": "USD", "customerId": "cust-42", "dueDate": "2026-12-31",
        "purchaseOrderNumber": "PO-7", "reference": "REF", "customerEmails": ["ap@acme.test"],
        "customerLegalCompanyName": "Acme Ltd", "customerBillingAddress": {"line1": "1 Main St", "country": "US"},
        "memo": "Thanks", "paymentOptions": ["BANK_TRANSFER"],
        "billingPeriod": {"start": "2026-11-01", "end": "2026-11-30"},
        "metadata": [{"key": "team", "value": "finance"}], "accountingDate": "2026-11-30"
    });
    let response = post(&api, &body.to_string(), None).await;
    assert_eq!(response.status, 201);
    let invoice = response.json();
    let id = invoice["id"].as_str().unwrap().to_string();
    assert_eq!(response.header("location"), Some(format!("/invoices/{id}").as_str()));
    let created_at = invoice["createdAt"].clone();
    assert_eq!(
        invoice,
        json!({
            "id": id, "sequenceAccountId": account.account.id, "billingScheduleId": null,
            "billingRunId": null, "status": "DRAFT", "currency": "USD", "invoiceNumber": null,
            "issueDate": null, "dueDate": "2026-12-31", "purchaseOrderNumber": "PO-7", "reference": "REF",
            "customerEmails": ["ap@acme.test"], "customerLegalCompanyName": "Acme Ltd",
            "customerBillingAddress": {"line1": "1 Main St", "country": "US"}, "customerShippingAddress": {},
            "memo": "Thanks", "paymentOptions": ["BANK_TRANSFER"],
            "billingPeriod": {"start": "2026-11-01", "end": "2026-11-30"}, "customerId": "cust-42",
            "totalTax": "0.00", "netTotal": "0.00", "grossTotal": "0.00",
            "metadata": [{"key": "team", "value": "finance"}], "customerTaxId": null,
            "paymentStatus": "UNPAID", "createdAt": created_at, "creditNoteIds": [], "linkedServices": [],
            "merchantDetails": null, "creditBalances": null, "dunningStatus": null,
            "accountingDate": "2026-11-30", "calculatedAt": null, "customerTaxStatus": null,
            "renderSettings": {}
        })
    );
    let stored = store.get_invoice(&account.account.id, &id).await.unwrap().unwrap().value;
    assert_eq!(stored.sequence_view(), invoice);
}

#[tokio::test]
async fn bad_bodies_are_400s_that_name_the_problem() {
    let api = TestApi::in_memory().await;
    let (store, account) = (&api.store, &api.account);
    let cases = [
        ("{\"currency\": \"USD\",", "malformed JSON: EOF while parsing a value at line 1 column 19"),
        (r#"{"currency": "USD"}"#, "request body: missing field `customerId` at line 1 column 19"),
        (
            r#"{"currency": "XYZ", "customerId": "c"}"#,
            "currency: unknown variant `XYZ`, expected one of `ARS`, `AUD`, `BRL`, `CAD`, `CHF`, `CNY`, `COP`, `CZK`, `DKK`, `EUR`, `GBP`, `HKD`, `ILS`, `JPY`, `KRW`, `MXN`, `NOK`, `NZD`, `PLN`, `SEK`, `SGD`, `THB`, `USD`, `UYU`, `ZAR` at line 1 column 18",
        ),
        (
            r#"{"currency": "USD", "customerId": 42}"#,
            "customerId: invalid type: integer `42`, expected a string at line 1 column 36",
        ),
        (
            r#"{"currency": "USD", "customerId": "c", "dueDate": "31/12/2026"}"#,
            "dueDate: input contains invalid characters at line 1 column 62",
        ),
        ("[]", "request body: must be a JSON object"),
        ("\"USD\"", "request body: must be a JSON object"),
        ("", "request body: a JSON object is required"),
    ];
    for (body, message) in cases {
        let response = post(&api, body, None).await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.json(), json!({"error": {"type": "ValidationError", "message": message}}), "{body}");
    }
    let page =
        store.list_invoices(&account.account.id, &InvoiceQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn fifty_concurrent_identical_requests_create_one_invoice_in_dynamodb() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let (store, account) = (&api.store, &api.account);
    let body = r#"{"currency": "GBP", "customerId": "cust-1"}"#;

    let responses = futures::future::join_all((0..50).map(|_| post(&api, body, Some("create-once")))).await;
    let created: Vec<&TestResponse> = responses.iter().filter(|r| r.status == 201).collect();
    let conflicts = responses.iter().filter(|r| r.status == 409).count();
    assert_eq!(created.len() + conflicts, 50, "only 201s and in-progress 409s");
    assert!(!created.is_empty());

    // Whatever each caller saw, the table holds exactly one invoice, and every 201 names it.
    let output = moto
        .dynamodb_client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :invoice)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{}", account.account.id)),
        )
        .expression_attribute_values(":invoice", aws_sdk_dynamodb::types::AttributeValue::S("INVOICE#".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(output.count, 1);
    let stored_id = output.items.unwrap()[0]["id"].as_s().unwrap().clone();
    for response in created {
        assert_eq!(response.json()["id"], stored_id.as_str());
    }

    // Once complete, a retry replays the same answer.
    let replay = post(&api, body, Some("create-once")).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["id"], stored_id.as_str());
}

#[tokio::test]
async fn the_largest_valid_invoice_fits_in_one_dynamodb_item() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let (store, account) = (&api.store, &api.account);
    // Four-byte characters at every length limit: the worst case for DynamoDB's 400 KB item limit.
    let wide = |n: usize| "\u{1D11E}".repeat(n);
    let address = json!({"line1": wide(1000), "line2": wide(1000), "town": wide(1000),
        "state": wide(1000), "postcode": wide(1000), "country": wide(1000)});
    let email = format!("{}@example.test", "a".repeat(200));
    let body = json!({
        "currency": "EUR", "customerId": wide(1000), "billingScheduleId": wide(1000),
        "billingRunId": wide(1000), "purchaseOrderNumber": wide(1000), "reference": wide(1000),
        "customerLegalCompanyName": wide(1000), "creditBalances": wide(1000), "memo": wide(10_000),
        "customerBillingAddress": address, "customerShippingAddress": address,
        "customerEmails": vec![email; 100],
        "metadata": (0..100).map(|i| json!({"key": format!("{i:0>100}"), "value": wide(250)})).collect::<Vec<_>>(),
    });
    let response = post(&api, &body.to_string(), Some("largest")).await;
    assert_eq!(response.status, 201, "{}", response.body);
    let id = response.json()["id"].as_str().unwrap().to_string();
    let stored = store.get_invoice(&account.account.id, &id).await.unwrap().unwrap().value;
    assert_eq!(stored.memo.as_deref(), Some(wide(10_000).as_str()));
    assert_eq!(stored.metadata.len(), 100);

    // One character more anywhere is refused before anything is stored.
    let mut too_long = body.clone();
    too_long["metadata"][99]["value"] = json!(wide(251));
    let response = post(&api, &too_long.to_string(), None).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"error": {"type": "ValidationError", "message": "metadata[99].value: must be at most 250 characters"}})
    );
}
