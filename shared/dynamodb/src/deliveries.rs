//! Webhook delivery attempts: one item per attempt of an event to an endpoint, under the account's
//! partition, so an endpoint's attempts list newest event first with one query. Attempts expire
//! (TTL) with their events.
//!
//! | item    | pk             | sk                                            |
//! |---------|----------------|-----------------------------------------------|
//! | attempt | `ACCOUNT#<id>` | `WEBHOOK-ATTEMPT#<endpointId>#<eventId>#<nn>` |

use crate::{
    account_pk, collect_page, decode, encode, outbox::EVENT_RETENTION_DAYS, s, schema::TTL_ATTRIBUTE, sdk_error,
    write_error, DynamoStore, Item,
};
use aws_sdk_dynamodb::types::AttributeValue;
use invoicing_domain::{
    model::{
        pagination::Page,
        webhooks::delivery::{attempt_position as position, DeliveryAttempt, RecordedAttempt},
    },
    ports::WebhookDeliveries,
    Result,
};

const FOLLOWED_UP: &str = "followedUp";

fn attempts_prefix(endpoint_id: &str) -> String {
    format!("WEBHOOK-ATTEMPT#{endpoint_id}#")
}

fn attempt_key(account_id: &str, endpoint_id: &str, event_id: &str, attempt: u32) -> Item {
    Item::from([
        ("pk".into(), s(account_pk(account_id))),
        ("sk".into(), s(format!("{}{}", attempts_prefix(endpoint_id), position(event_id, attempt)))),
    ])
}

fn decode_recorded(mut item: Item) -> Result<RecordedAttempt> {
    let followed_up = matches!(item.remove(FOLLOWED_UP), Some(AttributeValue::Bool(true)));
    Ok(RecordedAttempt { attempt: decode(item)?, followed_up })
}

impl WebhookDeliveries for DynamoStore {
    async fn delivery_attempt(
        &self,
        account_id: &str,
        endpoint_id: &str,
        event_id: &str,
        attempt: u32,
    ) -> Result<Option<RecordedAttempt>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(attempt_key(account_id, endpoint_id, event_id, attempt)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item.map(decode_recorded).transpose()
    }

    async fn record_attempt(&self, account_id: &str, endpoint_id: &str, attempt: &DeliveryAttempt) -> Result<bool> {
        let mut item = encode(attempt)?;
        item.extend(attempt_key(account_id, endpoint_id, &attempt.event_id, attempt.attempt));
        item.insert("entity".into(), s("WEBHOOK_ATTEMPT"));
        item.insert(FOLLOWED_UP.into(), AttributeValue::Bool(false));
        let expires = attempt.attempted_at + chrono::TimeDelta::days(EVENT_RETENTION_DAYS);
        item.insert(TTL_ATTRIBUTE.into(), AttributeValue::N(expires.timestamp().to_string()));
        self.put_if_absent(item).await
    }

    async fn mark_followed_up(&self, account_id: &str, endpoint_id: &str, event_id: &str, attempt: u32) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(attempt_key(account_id, endpoint_id, event_id, attempt)))
            .update_expression(format!("SET {FOLLOWED_UP} = :true"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| write_error("UpdateItem", e))?;
        Ok(())
    }

    async fn list_delivery_attempts(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<DeliveryAttempt>> {
        let mut page = self.prefix_page(account_id, attempts_prefix(endpoint_id), limit, after);
        // Newest first: event ids are time-ordered, and so are an event's attempt numbers.
        page.request = page.request.scan_index_forward(false);
        collect_page(page, |item| decode_recorded(item).map(|r| r.attempt), |a| position(&a.event_id, a.attempt)).await
    }
}
