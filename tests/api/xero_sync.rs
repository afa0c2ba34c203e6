//! Two-way Xero sync (SPEC.md section 9), push: through the outbox stream, the push queue and
//! `push-to-xero`, to xero-local.

use crate::helpers::{json_of, Stack};
use crate::reconcile::reconcile;
use invoicing_domain::model::account::NewAccount;
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
