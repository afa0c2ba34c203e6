//! The relay on stream records as Lambda delivers them, on the in-memory store.

use aws_lambda_events::event::dynamodb::Event;
use chrono::Utc;
use invoicing_domain::{
    memory::InMemoryStore,
    model::webhooks::{EndpointStatus, EventSelection, WebhookEndpoint},
    ports::WebhookEndpoints,
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
    let response = handle(&store, &store, event).await;
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
    let response = handle(&store, &store, event).await;
    let failed: Vec<Option<String>> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("2".to_string())]);
    let queued: Vec<String> = store.take_queued().into_iter().map(|(task, _)| task.event_id).collect();
    assert_eq!(queued, ["evt_1"], "what came before it is relayed, nothing after it");
}
