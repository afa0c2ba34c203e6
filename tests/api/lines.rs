//! Line items, groups and the lifecycle over HTTP.

use crate::helpers::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub async fn line_items_keep_totals_and_the_lifecycle_guards_them(stack: &Stack) {
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

    // The issue date is the (UTC) day of finalizing, which need not be the day of creation.
    let day_before = chrono::Utc::now().date_naive().to_string();
    let (status, finalized) = send(Method::POST, format!("/invoices/{id}/finalize"), None).await;
    let day_after = chrono::Utc::now().date_naive().to_string();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(finalized["status"], "FINAL");
    assert!(finalized["invoiceNumber"].as_str().unwrap().starts_with("INV-"));
    let issued = finalized["issueDate"].as_str().unwrap();
    assert!(issued == day_before || issued == day_after, "issued {issued}, finalized {day_before}..{day_after}");

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
