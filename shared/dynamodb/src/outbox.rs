//! The outbox of webhook events: a table of its own (`EVENTS_TABLE_NAME`), written in the same
//! TransactWriteItems as the change each event records, so that an event exists if and only if its
//! change committed. The table's stream (NEW_IMAGE) feeds the relay, which queues deliveries; the
//! delivery function reads each event's body back from here. Events expire after
//! [`EVENT_RETENTION_DAYS`] (TTL), longer than the retry schedule.
//!
//! | item  | pk             | sk               |
//! |-------|----------------|------------------|
//! | event | `ACCOUNT#<id>` | `EVENT#<evt_id>` |

use crate::{
    account_pk, build_error, decode, s, sdk_error,
    transact::{OnConditionFailed, Write},
    DynamoStore,
};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use invoicing_domain::{
    model::webhooks::{Event, EventType, OutboxEvent},
    ports::WebhookEvents,
    Result,
};
use serde::{Deserialize, Serialize};

/// How long an event is kept: every attempt of the retry schedule (27 h 35 min) happens well within.
pub const EVENT_RETENTION_DAYS: i64 = 30;

fn event_sk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

/// An event as the outbox table stores it, and as its stream's `NewImage` carries it to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxRecord {
    /// `ACCOUNT#<id>`.
    pub pk: String,
    /// `EVENT#<evt_id>`.
    pub sk: String,
    /// The account.
    pub account_id: String,
    /// The event's id.
    pub event_id: String,
    /// Its type.
    pub event_type: EventType,
    /// When its change committed.
    pub created_at: DateTime<Utc>,
    /// The exact body every delivery sends.
    pub body: String,
    /// When DynamoDB's TTL removes it (epoch seconds).
    pub ttl: i64,
}

impl OutboxRecord {
    /// The record of an account's event.
    pub fn new(account_id: &str, event: &Event) -> OutboxRecord {
        let expires = event.created_at + chrono::TimeDelta::days(EVENT_RETENTION_DAYS);
        OutboxRecord {
            pk: account_pk(account_id),
            sk: event_sk(&event.id),
            account_id: account_id.to_string(),
            event_id: event.id.clone(),
            event_type: event.event_type,
            created_at: event.created_at,
            body: event.body(),
            ttl: expires.timestamp(),
        }
    }
}

impl From<OutboxRecord> for OutboxEvent {
    fn from(record: OutboxRecord) -> OutboxEvent {
        OutboxEvent {
            account_id: record.account_id,
            id: record.event_id,
            event_type: record.event_type,
            created_at: record.created_at,
            body: record.body,
        }
    }
}

impl DynamoStore {
    /// The outbox write of an event, for the transaction of the change it records.
    pub(crate) fn event_write(&self, account_id: &str, event: &Event) -> Result<Write> {
        let put = Put::builder()
            .table_name(&self.events_table)
            .set_item(Some(crate::encode(&OutboxRecord::new(account_id, event))?))
            // Ids are fresh UUIDs: this only guards against ever overwriting an event.
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok(Write::new(
            TransactWriteItem::builder().put(put).build(),
            format!("event {}", event.id),
            OnConditionFailed::Conflict(format!("event {} already exists", event.id)),
        ))
    }

    /// `writes`, with the event's outbox write when there is one.
    pub(crate) fn with_event(
        &self,
        mut writes: Vec<Write>,
        account_id: &str,
        event: Option<&Event>,
    ) -> Result<Vec<Write>> {
        if let Some(event) = event {
            writes.push(self.event_write(account_id, event)?);
        }
        Ok(writes)
    }
}

impl WebhookEvents for DynamoStore {
    async fn webhook_event(&self, account_id: &str, event_id: &str) -> Result<Option<OutboxEvent>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.events_table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(event_sk(event_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item.map(|item| decode::<OutboxRecord>(item).map(OutboxEvent::from)).transpose()
    }
}
