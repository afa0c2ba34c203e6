//! Two-way Xero sync (SPEC.md section 9) end to end: pushes through the outbox stream, the push
//! queue and `push-to-xero` to xero-local; payments made in xero-local back through a signed
//! webhook, the pull queue and `pull-from-xero`.

use crate::helpers::{json_of, Stack, XERO_WEBHOOK_KEY};
use crate::reconcile::reconcile;
use invoicing_domain::model::{account::NewAccount, xero_webhook::sign};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Waits until the invoice's Xero entry has `status`; answers the invoice.
async fn wait_for_sync(stack: &Stack, account: &NewAccount, invoice_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, _, invoice) =
            json_of(stack.as_account(account, Method::GET, &format!("/invoices/{invoice_id}")).send().await.unwrap())
                .await;
        if invoice["linkedServices"][0]["syncStatus"] == status || Instant::now() > deadline {
            assert_eq!(invoice["linkedServices"][0]["syncStatus"], status, "{invoice}");
            return invoice;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until xero-local's copy of the invoice has `status`; answers it.
async fn wait_for_xero_status(stack: &Stack, tenant: &str, xero_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let copy = stack.xero_get(tenant, &format!("Invoices/{xero_id}")).await["Invoices"][0].clone();
        if copy["Status"] == status || Instant::now() > deadline {
            assert_eq!(copy["Status"], status, "{copy}");
            return copy;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn cents(value: &Value) -> i64 {
    (value.as_f64().unwrap() * 100.0).round() as i64
}

pub async fn finalized_invoices_reach_xero_and_voids_follow_them(stack: &Stack) {
    let account = stack.connected_account("Pushes").await;
    let tenant = account.account.id.clone();
    let settings = json!({"pushInvoices": true, "pullPayments": false});
    let (status, _, _) = json_of(
        stack.as_account(&account, Method::PUT, "/integrations/xero/settings").json(&settings).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let created = stack
        .create_invoice(
            &account,
            json!({"currency": "GBP", "customerId": "cust-push", "customerLegalCompanyName": "Push Customer Ltd"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    for line in [
        json!({"title": "Consulting", "quantity": "3", "rate": "19.99", "taxRate": "0.2"}),
        json!({"title": "Widgets", "quantity": "3", "rate": "0.333", "taxRate": "0.2"}),
    ] {
        let path = format!("/invoices/{id}/line-items");
        let response = stack.as_account(&account, Method::POST, &path).json(&line).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let (status, _, finalized) =
        json_of(stack.as_account(&account, Method::POST, &format!("/invoices/{id}/finalize")).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((finalized["netTotal"].as_str(), finalized["grossTotal"].as_str()), (Some("60.97"), Some("73.16")));
    let number = finalized["invoiceNumber"].as_str().unwrap().to_string();

    // Finalize -> the same invoice in Xero: our number, AUTHORISED, our totals to the cent.
    let synced = wait_for_sync(stack, &account, &id, "SYNCED").await;
    let xero_id = synced["linkedServices"][0]["externalId"].as_str().unwrap().to_string();
    assert_eq!(synced["linkedServices"][0]["lastError"], Value::Null);
    let copies = stack.xero_get(&tenant, &format!("Invoices?InvoiceNumbers={number}")).await;
    let copies = copies["Invoices"].as_array().unwrap();
    assert_eq!(copies.len(), 1, "one invoice in Xero");
    let copy = &copies[0];
    assert_eq!((copy["InvoiceID"].as_str(), copy["Status"].as_str()), (Some(xero_id.as_str()), Some("AUTHORISED")));
    assert_eq!((cents(&copy["SubTotal"]), cents(&copy["TotalTax"]), cents(&copy["Total"])), (6097, 1219, 7316));
    assert_eq!(copy["Contact"]["Name"], "Push Customer Ltd");

    // After the push, reconcile finds it and agrees.
    let (_, outcomes) = reconcile(stack, &account, &[&id]).await;
    assert_eq!(outcomes[&id]["outcome"], "MATCHED", "{outcomes}");

    // Asking for a sync again queues a push that finds nothing to do: still one invoice there.
    let (status, _, pending) = json_of(
        stack.as_account(&account, Method::POST, &format!("/invoices/{id}/sync-to-integration")).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert_eq!(pending["linkedServices"][0]["externalId"], xero_id.as_str());
    wait_for_sync(stack, &account, &id, "SYNCED").await;
    let copies = stack.xero_get(&tenant, &format!("Invoices?InvoiceNumbers={number}")).await;
    assert_eq!(copies["Invoices"].as_array().unwrap().len(), 1);

    // Void -> voided in Xero.
    let response = stack.as_account(&account, Method::POST, &format!("/invoices/{id}/void")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    wait_for_xero_status(stack, &tenant, &xero_id, "VOIDED").await;
}

/// Posts a webhook to our endpoint as Xero would: the body signed with the app's webhook key (or
/// with `key`).
async fn post_webhook(stack: &Stack, body: &str, key: &str) -> (StatusCode, String) {
    let response = stack
        .http
        .post(stack.url("/integrations/xero/webhooks"))
        .header("content-type", "application/json")
        .header("x-xero-signature", sign(key, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Xero's webhook for an update of one of the organisation's invoices.
fn invoice_updated(tenant: &str, xero_id: &str, sequence: u32) -> String {
    json!({"events": [{
        "resourceUrl": format!("https://api.xero.com/api.xro/2.0/Invoices/{xero_id}"), "resourceId": xero_id,
        "eventDateUtc": "2026-11-27T10:00:00.000", "eventType": "UPDATE", "eventCategory": "INVOICE",
        "tenantId": tenant, "tenantType": "ORGANISATION"
    }], "firstEventSequence": sequence, "lastEventSequence": sequence, "entropy": format!("E{sequence}")})
    .to_string()
}

/// Waits until the invoice's `paymentStatus` is `status`; answers the invoice.
async fn wait_for_payment_status(stack: &Stack, account: &NewAccount, invoice_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, _, invoice) =
            json_of(stack.as_account(account, Method::GET, &format!("/invoices/{invoice_id}")).send().await.unwrap())
                .await;
        if invoice["paymentStatus"] == status || Instant::now() > deadline {
            assert_eq!(invoice["paymentStatus"], status, "{invoice}");
            return invoice;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn payments_made_in_xero_reach_our_invoice_through_signed_webhooks(stack: &Stack) {
    let account = stack.connected_account("Pulls").await;
    let tenant = account.account.id.clone();
    let settings = json!({"pushInvoices": true, "pullPayments": true});
    let response =
        stack.as_account(&account, Method::PUT, "/integrations/xero/settings").json(&settings).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let created = stack.create_invoice(&account, json!({"currency": "GBP", "customerId": "cust-pull"})).await;
    let id = created["id"].as_str().unwrap().to_string();
    let line = json!({"title": "Consulting", "quantity": "3", "rate": "19.99", "taxRate": "0.2"});
    let path = format!("/invoices/{id}/line-items");
    assert_eq!(stack.as_account(&account, Method::POST, &path).json(&line).send().await.unwrap().status(), 201);
    let finalize = stack.as_account(&account, Method::POST, &format!("/invoices/{id}/finalize")).send().await.unwrap();
    assert_eq!(finalize.status(), StatusCode::OK);
    let synced = wait_for_sync(stack, &account, &id, "SYNCED").await;
    let xero_id = synced["linkedServices"][0]["externalId"].as_str().unwrap().to_string();

    // Paid in Xero (71.96 = 59.97 + 11.99), then Xero's webhook: PAID here.
    let payment = json!({"Payments": [{"Invoice": {"InvoiceID": xero_id}, "Account": {"Code": "090"},
                                       "Date": "2026-11-28", "Amount": 71.96}]});
    let created: Value = stack
        .http
        .post(format!("{}/api.xro/2.0/Payments", stack.xero_url))
        .bearer_auth(stack.xero_token().await)
        .header("xero-tenant-id", &tenant)
        .json(&payment)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payment_id = created["Payments"][0]["PaymentID"].as_str().unwrap().to_string();
    assert_eq!(
        post_webhook(stack, &invoice_updated(&tenant, &xero_id, 1), XERO_WEBHOOK_KEY).await,
        (StatusCode::OK, String::new())
    );
    wait_for_payment_status(stack, &account, &id, "PAID").await;
    let aggregate_path = format!("/invoice/{id}");
    let (_, _, paid) = json_of(stack.as_account(&account, Method::GET, &aggregate_path).send().await.unwrap()).await;

    // The same webhook again changes nothing; a badly signed one is refused with an empty body.
    assert_eq!(post_webhook(stack, &invoice_updated(&tenant, &xero_id, 1), XERO_WEBHOOK_KEY).await.0, StatusCode::OK);
    let (status, body) = post_webhook(stack, &invoice_updated(&tenant, &xero_id, 2), "not-the-key").await;
    assert_eq!((status, body.as_str()), (StatusCode::UNAUTHORIZED, ""));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, _, after) = json_of(stack.as_account(&account, Method::GET, &aggregate_path).send().await.unwrap()).await;
    assert_eq!(after, paid, "a replayed webhook changes nothing");

    // The payment deleted in Xero, and its webhook: owed again here.
    let deleted = stack
        .http
        .post(format!("{}/api.xro/2.0/Payments/{payment_id}", stack.xero_url))
        .bearer_auth(stack.xero_token().await)
        .header("xero-tenant-id", &tenant)
        .json(&json!({"Status": "DELETED"}))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert_eq!(post_webhook(stack, &invoice_updated(&tenant, &xero_id, 3), XERO_WEBHOOK_KEY).await.0, StatusCode::OK);
    wait_for_payment_status(stack, &account, &id, "UNPAID").await;
}
