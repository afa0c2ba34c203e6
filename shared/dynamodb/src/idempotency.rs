use crate::{account_pk, decode, encode, n, s, sdk_error, DynamoStore};
use chrono::{DateTime, Utc};
use invoicing_domain::{
    idempotency::{Claim, IdempotencyRecord, StoredResponse},
    ports::IdempotencyStore,
    Error, Result,
};
use serde::{Deserialize, Serialize};

/// How often a claim is retried when the record changes under it (expired or released between
/// our conditional write and our read).
const CLAIM_ATTEMPTS: usize = 5;

fn idempotency_sk(key: &str) -> String {
    format!("IDEMPOTENCY#{key}")
}

/// The stored shape: times as epoch seconds so that conditions can compare them and DynamoDB's TTL
/// (on `ttl`) can delete expired records.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyItem {
    fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<StoredResponse>,
    ttl: i64,
    locked_until: i64,
}

impl From<&IdempotencyRecord> for IdempotencyItem {
    fn from(record: &IdempotencyRecord) -> Self {
        Self {
            fingerprint: record.fingerprint.clone(),
            response: record.response.clone(),
            ttl: record.expires_at.timestamp(),
            locked_until: record.locked_until.timestamp(),
        }
    }
}

impl From<IdempotencyItem> for IdempotencyRecord {
    fn from(item: IdempotencyItem) -> Self {
        let time = |secs| DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
        Self {
            fingerprint: item.fingerprint,
            response: item.response,
            expires_at: time(item.ttl),
            locked_until: time(item.locked_until),
        }
    }
}

impl DynamoStore {
    async fn read_idempotency(&self, account_id: &str, key: &str) -> Result<Option<IdempotencyRecord>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(idempotency_sk(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(output.item.map(decode::<IdempotencyItem>).transpose()?.map(Into::into))
    }
}

impl IdempotencyStore for DynamoStore {
    async fn claim(&self, account_id: &str, key: &str, fingerprint: &str, now: DateTime<Utc>) -> Result<Claim> {
        for _ in 0..CLAIM_ATTEMPTS {
            let record = IdempotencyRecord::in_progress(fingerprint, now);
            let mut item = encode(&IdempotencyItem::from(&record))?;
            item.insert("pk".into(), s(account_pk(account_id)));
            item.insert("sk".into(), s(idempotency_sk(key)));
            item.insert("entity".into(), s("IDEMPOTENCY"));
            // The same rule as IdempotencyRecord::can_be_replaced, evaluated atomically by DynamoDB.
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(
                    "attribute_not_exists(pk) OR #ttl <= :now \
                     OR (attribute_not_exists(#response) AND lockedUntil <= :now AND fingerprint = :fingerprint)",
                )
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_names("#response", "response")
                .expression_attribute_values(":now", n(now.timestamp()))
                .expression_attribute_values(":fingerprint", s(fingerprint))
                .send()
                .await;
            match written {
                Ok(_) => return Ok(Claim::Acquired),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                    match self.read_idempotency(account_id, key).await? {
                        Some(existing) if !existing.can_be_replaced(fingerprint, now) => {
                            return existing.decide(fingerprint)
                        }
                        // Released or expired in between: claim again.
                        _ => continue,
                    }
                }
                Err(e) => return Err(sdk_error("PutItem", e)),
            }
        }
        Err(Error::conflict("the Idempotency-Key is contended; retry later"))
    }

    async fn complete(&self, account_id: &str, key: &str, response: &StoredResponse) -> Result<()> {
        let response = serde_dynamo::to_attribute_value(response)
            .map_err(|e| Error::internal(format!("unencodable response: {e}")))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(idempotency_sk(key)))
            .update_expression("SET #response = :response")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":response", response)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem", e))?;
        Ok(())
    }

    async fn release(&self, account_id: &str, key: &str) -> Result<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(idempotency_sk(key)))
            // Never delete a completed record: its response is what retries must see.
            .condition_expression("attribute_not_exists(#response)")
            .expression_attribute_names("#response", "response")
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }
}
