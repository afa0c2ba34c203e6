//! Reconcile with Xero, through the queue and xero-local.

use crate::helpers::{json_of, uuid_like, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) async fn finalized_invoice(
    stack: &Stack,
    account: &invoicing_domain::model::account::NewAccount,
) -> (String, String) {
    let created = stack.create_invoice(account, json!({"currency": "GBP", "customerId": "cust-xero"})).await;
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _, finalized) =
        json_of(stack.as_account(account, Method::POST, &format!("/invoices/{id}/finalize")).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);
    (id, finalized["invoiceNumber"].as_str().unwrap().to_string())
}

/// Starts a reconcile and waits for it to complete; answers the job and its outcomes by invoice.
pub(crate) async fn reconcile(
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

pub async fn reconcile_with_xero_end_to_end(stack: &Stack) {
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

pub async fn reconcile_every_invoice_of_an_account(stack: &Stack) {
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
    // Xero's sales invoices were listed (xero-local pages them 100 at a time): one call here.
    assert_eq!(job["xeroCalls"], 1);
}

pub async fn reconcile_counts_only_sales_invoices_and_never_picks_between_two(stack: &Stack) {
    let acme = &stack.acme;
    let (billed, billed_number) = finalized_invoice(stack, acme).await;
    let (doubled, doubled_number) = finalized_invoice(stack, acme).await;
    // A supplier's bill (ACCPAY) that happens to carry our number, and two sales invoices with one number.
    stack
        .create_documents_in_xero(
            acme,
            &[
                ("ACCPAY", &billed_number, "AUTHORISED"),
                ("ACCREC", &doubled_number, "AUTHORISED"),
                ("ACCREC", &doubled_number, "PAID"),
            ],
        )
        .await;
    let (job, outcomes) = reconcile(stack, acme, &[&billed, &doubled]).await;
    assert_eq!(
        job["counts"],
        json!({"total": 2, "matched": 0, "mismatched": 0, "notInIntegration": 1, "notFound": 0, "skipped": 0, "failed": 1})
    );
    assert_eq!(outcomes[&billed]["outcome"], "NOT_IN_INTEGRATION");
    assert_eq!(
        outcomes[&doubled]["reason"],
        format!("ambiguous: 2 sales invoices in Xero are numbered {doubled_number}").as_str()
    );
    // Neither is linked: not to the bill, not to either of the two.
    for id in [&billed, &doubled] {
        let (_, _, invoice) =
            json_of(stack.as_account(acme, Method::GET, &format!("/invoices/{id}")).send().await.unwrap()).await;
        assert_eq!(invoice["linkedServices"], json!([]), "{id}");
    }
}

pub async fn reconcile_requests_are_validated(stack: &Stack) {
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

pub async fn unparseable_messages_reach_the_dead_letter_queue(stack: &Stack) {
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
