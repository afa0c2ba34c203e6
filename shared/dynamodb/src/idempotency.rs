//! Idempotency records.
//!
//! | item          | pk             | sk                                         |
//! |---------------|----------------|--------------------------------------------|
//! | record (head) | `ACCOUNT#<id>` | `IDEMPOTENCY#<key>`                        |
//! | answer chunk  | `ACCOUNT#<id>` | `IDEMPOTENCY-BODY#<answerId>#<n>`          |
//!
//! The head holds the claim (fingerprint, token, lock) and, once recorded, the answer: status,
//! version, headers and the body deflate-compressed, inline when small, else in chunks written
//! before the head refers to them (chunks nobody refers to expire with the record). So an answer
//! of any size a Lambda can return can be recorded, and the head stays small enough to join the
//! change's transaction.

use crate::{account_pk, build_error, n, s, sdk_error, transact::is_contention, DynamoStore, Item};
use aws_sdk_dynamodb::{
    primitives::Blob,
    types::{AttributeValue, Update},
};
use chrono::{DateTime, Utc};
use flate2::{read::DeflateDecoder, write::DeflateEncoder, Compression};
use invoicing_domain::{
    model::idempotency::{
        new_claim_token, retention, Claim, IdempotencyClaim, IdempotencyRecord, Receipt, StoredResponse,
    },
    ports::IdempotencyStore,
    Error, Result,
};
use std::io::{Read, Write};

/// How often a claim is retried when the record changes under it (expired or released between
/// our conditional write and our read).
const CLAIM_ATTEMPTS: usize = 5;
/// A compressed body up to this size stays in the head (which joins transactions of up to 4 MB).
const INLINE_BODY_BYTES: usize = 64 * 1024;
/// Chunks of larger bodies: well within the 400 KB item.
const CHUNK_BYTES: usize = 300 * 1024;

fn head_sk(key: &str) -> String {
    format!("IDEMPOTENCY#{key}")
}

fn chunk_sk(answer_id: &str, index: usize) -> String {
    format!("IDEMPOTENCY-BODY#{answer_id}#{index}")
}

fn key_of(account_id: &str, sk: String) -> Item {
    Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(sk))])
}

/// The head as read: the claim, and whether (and what) it recorded.
pub(crate) struct Head {
    pub token: String,
    pub recorded: bool,
    item: Item,
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn corrupt(key: &str, what: &str) -> Error {
    Error::internal(format!("idempotency record {key}: {what}"))
}

fn compress(body: &str) -> Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
    encoder
        .write_all(body.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| Error::internal_caused("compressing an answer", e))
}

fn decompress(bytes: &[u8], key: &str) -> Result<String> {
    let mut body = String::new();
    DeflateDecoder::new(bytes).read_to_string(&mut body).map_err(|e| corrupt(key, &format!("body: {e}")))?;
    Ok(body)
}

impl DynamoStore {
    pub(crate) async fn read_idempotency_head(&self, account_id: &str, key: &str) -> Result<Option<Head>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, head_sk(key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(output.item.map(|item| Head {
            token: text(&item, "claimToken").unwrap_or_default(),
            recorded: item.contains_key("responseStatus"),
            item,
        }))
    }

    /// The record a head describes, with its answer read back (chunks included).
    async fn record_of(&self, account_id: &str, key: &str, head: Head) -> Result<IdempotencyRecord> {
        let item = &head.item;
        let time = |name: &str| number(item, name).and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0));
        let response = if head.recorded {
            let status = number(item, "responseStatus")
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| corrupt(key, "status"))?;
            let headers = match text(item, "responseHeaders") {
                Some(json) => serde_json::from_str(&json).map_err(|e| corrupt(key, &format!("headers: {e}")))?,
                None => Vec::new(),
            };
            let compressed = match item.get("responseBody") {
                Some(AttributeValue::B(blob)) => blob.as_ref().to_vec(),
                _ => {
                    let answer_id = text(item, "responseBodyId").ok_or_else(|| corrupt(key, "no body"))?;
                    let chunks = number(item, "responseBodyChunks").ok_or_else(|| corrupt(key, "no chunk count"))?;
                    self.read_chunks(account_id, key, &answer_id, chunks as usize).await?
                }
            };
            Some(StoredResponse {
                status,
                body: decompress(&compressed, key)?,
                headers,
                version: text(item, "responseVersion"),
            })
        } else {
            None
        };
        Ok(IdempotencyRecord {
            fingerprint: text(item, "fingerprint").unwrap_or_default(),
            token: head.token.clone(),
            response,
            expires_at: time("ttl").unwrap_or_default(),
            locked_until: time("lockedUntil").unwrap_or_default(),
        })
    }

    async fn read_chunks(&self, account_id: &str, key: &str, answer_id: &str, count: usize) -> Result<Vec<u8>> {
        let mut found: Vec<Option<Vec<u8>>> = vec![None; count];
        let wanted: Vec<Item> = (0..count).map(|i| key_of(account_id, chunk_sk(answer_id, i))).collect();
        for item in self.batch_get(wanted).await? {
            let index = number(&item, "chunk").and_then(|i| usize::try_from(i).ok()).filter(|i| *i < count);
            match (index, item.get("data")) {
                (Some(index), Some(AttributeValue::B(data))) => found[index] = Some(data.as_ref().to_vec()),
                _ => return Err(corrupt(key, "a chunk without data")),
            }
        }
        let mut body = Vec::new();
        for chunk in found {
            body.extend(chunk.ok_or_else(|| corrupt(key, "a chunk is missing"))?);
        }
        Ok(body)
    }
}

/// The update that records a receipt's answer on its head, if the claim still holds the key and
/// nothing is recorded yet. A large body is written in chunks first (outside any transaction: a
/// chunk that ends up unreferenced only waits for its TTL).
pub(crate) async fn record_answer(store: &DynamoStore, receipt: &Receipt) -> Result<Update> {
    let claim = &receipt.claim;
    let response = &receipt.response;
    let body = compress(&response.body)?;
    let headers = serde_json::to_string(&response.headers)
        .map_err(|e| Error::internal_caused("headers that cannot be encoded", e))?;
    let mut update = Update::builder()
        .table_name(&store.table)
        .set_key(Some(key_of(&claim.account_id, head_sk(&claim.key))))
        .condition_expression("claimToken = :token AND attribute_not_exists(responseStatus)")
        .expression_attribute_values(":token", s(&claim.token))
        .expression_attribute_values(":status", n(response.status))
        .expression_attribute_values(":headers", s(headers));
    let mut set = "SET responseStatus = :status, responseHeaders = :headers".to_string();
    if let Some(version) = &response.version {
        set.push_str(", responseVersion = :version");
        update = update.expression_attribute_values(":version", s(version));
    }
    if body.len() <= INLINE_BODY_BYTES {
        set.push_str(", responseBody = :body");
        update = update.expression_attribute_values(":body", AttributeValue::B(Blob::new(body)));
    } else {
        let answer_id = uuid::Uuid::new_v4().to_string();
        let expires = (Utc::now() + retention()).timestamp();
        let chunks: Vec<&[u8]> = body.chunks(CHUNK_BYTES).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            let mut item = key_of(&claim.account_id, chunk_sk(&answer_id, index));
            item.insert("entity".into(), s("IDEMPOTENCY_BODY"));
            item.insert("chunk".into(), n(index));
            item.insert("data".into(), AttributeValue::B(Blob::new(chunk.to_vec())));
            item.insert("ttl".into(), n(expires));
            store
                .client
                .put_item()
                .table_name(&store.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| sdk_error("PutItem", e))?;
        }
        set.push_str(", responseBodyId = :answerId, responseBodyChunks = :chunks");
        update = update
            .expression_attribute_values(":answerId", s(answer_id))
            .expression_attribute_values(":chunks", n(chunks.len()));
    }
    update.update_expression(set).build().map_err(build_error)
}

impl IdempotencyStore for DynamoStore {
    async fn claim(&self, account_id: &str, key: &str, fingerprint: &str, now: DateTime<Utc>) -> Result<Claim> {
        for _ in 0..CLAIM_ATTEMPTS {
            let token = new_claim_token();
            let record = IdempotencyRecord::in_progress(fingerprint, &token, now);
            let mut item = key_of(account_id, head_sk(key));
            item.insert("entity".into(), s("IDEMPOTENCY"));
            item.insert("fingerprint".into(), s(fingerprint));
            item.insert("claimToken".into(), s(&token));
            item.insert("ttl".into(), n(record.expires_at.timestamp()));
            item.insert("lockedUntil".into(), n(record.locked_until.timestamp()));
            // The same rule as IdempotencyRecord::can_be_replaced, evaluated atomically by DynamoDB.
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(
                    "attribute_not_exists(pk) OR #ttl <= :now \
                     OR (attribute_not_exists(responseStatus) AND lockedUntil <= :now AND fingerprint = :fingerprint)",
                )
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", n(now.timestamp()))
                .expression_attribute_values(":fingerprint", s(fingerprint))
                .send()
                .await;
            match written {
                Ok(_) => {
                    return Ok(Claim::Acquired(IdempotencyClaim {
                        account_id: account_id.to_string(),
                        key: key.to_string(),
                        fingerprint: fingerprint.to_string(),
                        token,
                    }))
                }
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                    match self.read_idempotency_head(account_id, key).await? {
                        Some(head) => {
                            let existing = self.record_of(account_id, key, head).await?;
                            if !existing.can_be_replaced(fingerprint, now) {
                                return existing.decide(fingerprint);
                            }
                        }
                        // Released in between: claim again.
                        None => continue,
                    }
                }
                // A transaction held the record (or the table throttled): claim again.
                Err(e) if is_contention(&e) => continue,
                Err(e) => return Err(sdk_error("PutItem", e)),
            }
        }
        Err(Error::contended("the Idempotency-Key is contended; retry shortly"))
    }

    async fn complete(&self, receipt: &Receipt) -> Result<()> {
        let update = record_answer(self, receipt).await?;
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key))
            .set_update_expression(Some(update.update_expression))
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            // Recorded already (by the change's own transaction), or the key was taken over.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    async fn release(&self, claim: &IdempotencyClaim) -> Result<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(&claim.account_id, head_sk(&claim.key))))
            // Only our own claim, and never a recorded answer: that is what retries must see.
            .condition_expression("claimToken = :token AND attribute_not_exists(responseStatus)")
            .expression_attribute_values(":token", s(&claim.token))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }
}
