//! `relay-webhook-events`: reads the outbox table's stream and queues one delivery message per
//! event and ENABLED endpoint that selects it (SPEC.md section 8), and one Xero push per
//! finalize, send and void of an account that pushes invoices (section 9): the outbox holds only
//! committed changes, so nothing is pushed that did not happen. Records are relayed in stream
//! order; the first that cannot be is reported (`ReportBatchItemFailures`), so Lambda retries from
//! it and never skips one. A repeat queues a message again; the delivery's record of its attempts
//! keeps that from sending an event twice.

use aws_lambda_events::{
    event::dynamodb::{Event, EventRecord},
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use chrono::Utc;
use invoicing_domain::{
    model::webhooks::OutboxEvent,
    ports::{DeliveryQueue, WebhookEndpoints, XeroPushQueue, XeroSyncSettingsStore},
    service::{deliveries::relay, xero_sync::queue_pushes},
};
use invoicing_dynamodb::outbox::OutboxRecord;

/// The outbox event a stream record inserted, if it is one (TTL removals and anything else are
/// not events to relay); an INSERT that cannot be read is an error, never skipped.
fn inserted_event(record: &EventRecord) -> Result<Option<OutboxEvent>, String> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    let stored: OutboxRecord = serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|e| format!("stream record {} is not an outbox event: {e}", record.event_id))?;
    Ok(Some(stored.into()))
}

/// Relays a batch of stream records: deliveries to `queue`, Xero pushes to `pushes`.
pub async fn handle<S, Q, P>(store: &S, queue: &Q, pushes: &P, event: Event) -> DynamoDbEventResponse
where
    S: WebhookEndpoints + XeroSyncSettingsStore,
    Q: DeliveryQueue,
    P: XeroPushQueue,
{
    let mut response = DynamoDbEventResponse::default();
    let mut events = Vec::with_capacity(event.records.len());
    let mut positions = Vec::with_capacity(event.records.len());
    let mut unreadable = None;
    for (index, record) in event.records.iter().enumerate() {
        match inserted_event(record) {
            Ok(Some(event)) => {
                events.push(event);
                positions.push(index);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "outbox record unreadable; the batch stops before it");
                unreadable = Some(index);
                break;
            }
        }
    }
    let relayed = match relay(store, queue, &events, Utc::now()).await {
        Ok(queued) => {
            tracing::info!(events = events.len(), queued, "webhook events relayed");
            events.len()
        }
        Err((index, error)) => {
            tracing::error!(event = %events[index].id, error = ?error, "relaying a webhook event failed; retried from it");
            index
        }
    };
    // Pushes for the events relayed (a retry from the first failure queues the rest).
    let pushed = match queue_pushes(store, pushes, &events[..relayed]).await {
        Ok(queued) => {
            if queued > 0 {
                tracing::info!(queued, "Xero pushes queued");
            }
            relayed
        }
        Err((index, error)) => {
            tracing::error!(event = %events[index].id, error = ?error, "queueing a Xero push failed; retried from it");
            index
        }
    };
    let failed_at = if pushed < events.len() { Some(positions[pushed]) } else { unreadable };
    if let Some(index) = failed_at {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = event.records[index].change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    }
    response
}
