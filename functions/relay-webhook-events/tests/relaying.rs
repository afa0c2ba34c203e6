//! The relay on stream records as Lambda delivers them, on the in-memory store.

use aws_lambda_events::event::dynamodb::Event;
use chrono::Utc;
use invoicing_domain::{
    memory::InMemoryStore,
    model::{
        webhooks::{EndpointStatus, EventSelection, WebhookEndpoint},
        xero_push::XeroPushMessage,
        xero_sync::XeroSyncSettings,
    },
    ports::{WebhookEndpoints, XeroSyncSettingsStore},
};
use relay_webhook_events::handle;
use serde_json::{json, Value};

fn record(sequence: &str, name: &str, event_id: &str) -> Value {
    json!({
        "eventID": format!("id-{sequence}"), "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795000000.0,
            "Keys": {"pk": {"S": "ACCOUNT#acc-1"}, "sk": {"S": format!("EVENT#{event_id}")}},
            "NewImage": {
                "pk": {"S": "ACCOUNT#acc-1"}, "sk": {"S": format!("EVENT#{event_id}")},
                "accountId": {"S": "acc-1"}, "eventId": {"S": event_id}, "eventType": {"S": "INVOICE_SENT"},
                "createdAt": {"S": "2026-11-26T10:00:00Z"}, "body": {"S": "{}"}, "ttl": {"N": "1797592000"}
            },
            "SequenceNumber": sequence, "SizeBytes": 300, "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-11-26T00:00:00.000"
    })
}

async fn store_with_endpoint() -> InMemoryStore {
    let store = InMemoryStore::new();
    let endpoint = WebhookEndpoint {
        id: "e1".into(),
        account_id: "acc-1".into(),
        url: "https://hooks.example.com/in".into(),
        events: EventSelection::parse(&["INVOICE_SENT".to_string()]).unwrap(),
        description: None,
        status: EndpointStatus::Enabled,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        failing_since: None,
    };
    store.insert_webhook_endpoint(&endpoint, None).await.unwrap();
    store
}

#[tokio::test]
async fn inserted_events_are_queued_for_their_endpoints_and_other_records_are_passed_over() {
    let store = store_with_endpoint().await;
    let mut removed = record("2", "REMOVE", "evt_2");
    removed["dynamodb"].as_object_mut().unwrap().remove("NewImage");
    let event: Event = serde_json::from_value(
        json!({"Records": [record("1", "INSERT", "evt_1"), removed, record("3", "INSERT", "evt_3")]}),
    )
    .unwrap();
    let response = handle(&store, &store, &store, event).await;
    assert!(response.batch_item_failures.is_empty());
    let queued: Vec<(String, String)> =
        store.take_queued().into_iter().map(|(task, _)| (task.endpoint_id, task.event_id)).collect();
    assert_eq!(queued, [("e1".to_string(), "evt_1".to_string()), ("e1".to_string(), "evt_3".to_string())]);
}

#[tokio::test]
async fn an_unreadable_record_stops_the_batch_there_so_lambda_retries_from_it() {
    let store = store_with_endpoint().await;
    let mut broken = record("2", "INSERT", "evt_2");
    broken["dynamodb"]["NewImage"].as_object_mut().unwrap().remove("eventType");
    let event: Event = serde_json::from_value(
        json!({"Records": [record("1", "INSERT", "evt_1"), broken, record("3", "INSERT", "evt_3")]}),
    )
    .unwrap();
    let response = handle(&store, &store, &store, event).await;
    let failed: Vec<Option<String>> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("2".to_string())]);
    let queued: Vec<String> = store.take_queued().into_iter().map(|(task, _)| task.event_id).collect();
    assert_eq!(queued, ["evt_1"], "what came before it is relayed, nothing after it");
}

/// An insert of an invoice event for `account` and `invoice`.
fn invoice_record(sequence: &str, account: &str, event_type: &str, invoice: &str) -> Value {
    let mut record = record(sequence, "INSERT", &format!("evt_{sequence}"));
    let image = &mut record["dynamodb"]["NewImage"];
    image["accountId"] = json!({"S": account});
    image["eventType"] = json!({"S": event_type});
    let body = json!({"id": format!("evt_{sequence}"), "type": event_type, "data": {"invoice": {"id": invoice}}});
    image["body"] = json!({"S": body.to_string()});
    record
}

#[tokio::test]
async fn finalize_send_and_void_of_an_account_that_pushes_queue_one_push_each_and_nothing_else_does() {
    let store = InMemoryStore::new();
    let pushing = XeroSyncSettings { push_invoices: true, ..XeroSyncSettings::default() };
    store.put_xero_sync_settings("acc-push", &pushing, None, None).await.unwrap();
    let records = [
        invoice_record("1", "acc-push", "INVOICE_CREATED", "inv-1"),
        invoice_record("2", "acc-push", "INVOICE_FINALIZED", "inv-1"),
        invoice_record("3", "acc-quiet", "INVOICE_FINALIZED", "inv-2"),
        invoice_record("4", "acc-push", "INVOICE_PAYMENT_STATUS_CHANGED", "inv-1"),
        invoice_record("5", "acc-push", "INVOICE_SENT", "inv-1"),
        invoice_record("6", "acc-push", "INVOICE_VOIDED", "inv-3"),
    ];
    let event: Event = serde_json::from_value(json!({ "Records": records })).unwrap();
    let response = handle(&store, &store, &store, event).await;
    assert!(response.batch_item_failures.is_empty());
    let push = |invoice: &str| XeroPushMessage { account_id: "acc-push".into(), invoice_id: invoice.into() };
    assert_eq!(store.take_pushes(), [push("inv-1"), push("inv-1"), push("inv-3")]);
}
