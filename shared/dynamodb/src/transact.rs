//! Every change of the table's invoices and jobs goes through one transaction helper, so that
//! DynamoDB's failure modes are handled once:
//! - a condition that failed means what its write says (a version moved: contention; an item
//!   exists: a conflict);
//! - `TransactionConflict` (another transaction held one of the items) is contention, retried
//!   from a fresh read like a failed version condition;
//! - every call carries a `ClientRequestToken`, so the SDK's own retry of a call whose answer was
//!   lost is answered by DynamoDB as the success it was, never applied twice;
//! - an item over DynamoDB's 400 KB is refused before it is sent, as a 4xx;
//! - a change that carries a receipt records the request's answer under its idempotency key in
//!   the same transaction.

use crate::{idempotency, sdk_error, DynamoStore, Item};
use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, TransactWriteItem},
};
use invoicing_domain::{model::idempotency::Receipt, Error, Result};
use std::time::Duration;

/// The largest item this adapter writes. DynamoDB's limit is 400 KB (409,600 bytes, attribute
/// names and values included); this keeps a margin below it for any difference between our count
/// and the service's.
pub const MAX_ITEM_BYTES: usize = 400_000;

/// What a write's condition failing means for the caller.
#[derive(Debug, Clone)]
pub(crate) enum OnConditionFailed {
    /// Another writer got there first: retry from a fresh read.
    Contended(String),
    /// The request cannot succeed in the item's present state.
    Conflict(String),
    /// The condition only guards against a repeat; failing it means there is nothing to do.
    AlreadyDone,
}

/// One write of a transaction.
pub(crate) struct Write {
    pub item: TransactWriteItem,
    pub on_condition_failed: OnConditionFailed,
    /// What the write is, for errors and size checks ("invoice 0193...").
    pub what: String,
}

impl Write {
    pub fn new(item: TransactWriteItem, what: impl Into<String>, on_condition_failed: OnConditionFailed) -> Write {
        Write { item, on_condition_failed, what: what.into() }
    }
}

/// Whether a transaction wrote anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Committed {
    Yes,
    AlreadyDone,
}

/// How a transaction ended, when it did not simply commit.
enum Cancelled {
    Contended,
    /// The condition of the write at this index failed.
    Condition(usize),
    Other(String),
}

/// How long to wait before asking again about a transaction DynamoDB is still running.
const IN_PROGRESS_WAITS: [Duration; 4] =
    [Duration::from_millis(50), Duration::from_millis(100), Duration::from_millis(200), Duration::from_millis(400)];

impl DynamoStore {
    /// Writes all of `writes`, and the receipt if there is one, in one transaction. `AlreadyDone`
    /// when a write whose condition only guards against a repeat found it repeated (nothing was
    /// written then).
    pub(crate) async fn transact(&self, mut writes: Vec<Write>, receipt: Option<&Receipt>) -> Result<Committed> {
        let receipt_index = match receipt {
            Some(receipt) => {
                writes.push(self.receipt_write(receipt).await?);
                Some(writes.len() - 1)
            }
            None => None,
        };
        for write in &writes {
            if let Some(put) = write.item.put() {
                check_item_size(put.item(), &write.what)?;
            }
        }
        let token = uuid::Uuid::new_v4().to_string();
        let items: Vec<TransactWriteItem> = writes.iter().map(|w| w.item.clone()).collect();
        let mut waits = IN_PROGRESS_WAITS.iter();
        let cancelled = loop {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(Committed::Yes),
                // The same token is still being worked on (our own earlier attempt): ask again.
                Err(e) if e.as_service_error().is_some_and(|e| e.is_transaction_in_progress_exception()) => {
                    match waits.next() {
                        Some(wait) => tokio::time::sleep(*wait).await,
                        None => return Err(Error::contended("a transaction stayed in progress; retry shortly")),
                    }
                }
                Err(e) => break classify(e)?,
            }
        };
        match cancelled {
            Cancelled::Contended => Err(Error::contended("a concurrent transaction held one of the items")),
            Cancelled::Condition(index) if Some(index) == receipt_index => {
                let receipt = receipt.expect("a receipt index has a receipt");
                if self.receipt_recorded(receipt).await? {
                    // Our own earlier attempt committed (its answer was lost on the way back).
                    Ok(Committed::Yes)
                } else {
                    // The claim went stale and another request took the key over: it runs instead.
                    Err(invoicing_domain::model::idempotency::in_progress())
                }
            }
            Cancelled::Condition(index) => match &writes[index].on_condition_failed {
                OnConditionFailed::Contended(message) => Err(Error::contended(message.clone())),
                OnConditionFailed::Conflict(message) => Err(Error::conflict(message.clone())),
                OnConditionFailed::AlreadyDone => Ok(Committed::AlreadyDone),
            },
            Cancelled::Other(detail) => Err(Error::internal(detail)),
        }
    }

    /// Whether the receipt's answer is recorded under its claim (its transaction committed).
    async fn receipt_recorded(&self, receipt: &Receipt) -> Result<bool> {
        let record = self.read_idempotency_head(&receipt.claim.account_id, &receipt.claim.key).await?;
        Ok(record.is_some_and(|head| head.token == receipt.claim.token && head.recorded))
    }

    async fn receipt_write(&self, receipt: &Receipt) -> Result<Write> {
        let update = idempotency::record_answer(self, receipt).await?;
        Ok(Write::new(
            TransactWriteItem::builder().update(update).build(),
            format!("idempotency record {}", receipt.claim.key),
            // Never consulted: `transact` checks the receipt's own condition itself.
            OnConditionFailed::AlreadyDone,
        ))
    }
}

/// Sorts a failed transaction: contention, a failed condition (which write), or anything else.
fn classify(
    error: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Result<Cancelled> {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() {
        let reasons = cancelled.cancellation_reasons();
        if reasons.iter().any(|r| {
            matches!(r.code(), Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"))
        }) {
            return Ok(Cancelled::Contended);
        }
        if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
            return Ok(Cancelled::Condition(index));
        }
        if let Some(reason) = reasons.iter().find(|r| r.code() == Some("ValidationError")) {
            return Err(too_large_or_internal(reason.message().unwrap_or_default()));
        }
        let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
        return Ok(Cancelled::Other(format!("DynamoDB TransactWriteItems cancelled: {}", codes.join(", "))));
    }
    if is_contention(&error) {
        return Ok(Cancelled::Contended);
    }
    if error.code() == Some("ValidationException") {
        return Err(too_large_or_internal(error.message().unwrap_or_default()));
    }
    Err(sdk_error("TransactWriteItems", error))
}

/// Whether a failed call lost a race with a transaction (`TransactionConflictException`, raised
/// on single-item writes while a transaction holds the item) or was throttled: both are retried
/// from a fresh read.
pub(crate) fn is_contention<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    matches!(
        error.as_service_error().and_then(|e| e.code()),
        Some("TransactionConflictException" | "ProvisionedThroughputExceededException" | "ThrottlingException")
    )
}

/// DynamoDB's answer to an item over 400 KB (which `check_item_size` should have caught first).
fn too_large_or_internal(message: &str) -> Error {
    if message.contains("Item size") || message.contains("item size") {
        Error::validation(format!("the change would make a stored item larger than DynamoDB allows ({message})"))
    } else {
        Error::internal(format!("DynamoDB refused a write: {message}"))
    }
}

/// Refuses an item DynamoDB would refuse for its size, naming it.
pub(crate) fn check_item_size(item: &Item, what: &str) -> Result<()> {
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(Error::validation(format!(
            "{what} would take {size} bytes; a stored item may take at most {MAX_ITEM_BYTES} bytes (DynamoDB's 400 KB)"
        )));
    }
    Ok(())
}

/// An item's size as DynamoDB counts it: attribute names plus values (strings and binaries by
/// their length, numbers by their digits, 3 bytes per list or map plus 1 per element).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::B(bytes) => bytes.as_ref().len(),
        AttributeValue::N(number) => number_size(number),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(fields) => 3 + fields.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        _ => 0,
    }
}

/// A number takes about one byte per two significant digits, plus one (at most 21).
fn number_size(number: &str) -> usize {
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    (digits.div_ceil(2) + 1).min(21)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodbs_rules() {
        let item = Item::from([
            ("pk".to_string(), AttributeValue::S("ACCOUNT#a".into())),
            ("n".to_string(), AttributeValue::N("12345".into())),
            ("m".to_string(), AttributeValue::M([("k".to_string(), AttributeValue::Bool(true))].into())),
            ("l".to_string(), AttributeValue::L(vec![AttributeValue::S("ab".into())])),
        ]);
        // pk: 2 + 9; n: 1 + 4; m: 1 + 3 + (1 + 1 + 1); l: 1 + 3 + (1 + 2).
        assert_eq!(item_size(&item), 11 + 5 + 7 + 7);
        let big = Item::from([("body".to_string(), AttributeValue::S("x".repeat(MAX_ITEM_BYTES)))]);
        assert_eq!(
            check_item_size(&big, "invoice i").unwrap_err().public_message(),
            "invoice i would take 400004 bytes; a stored item may take at most 400000 bytes (DynamoDB's 400 KB)"
        );
    }
}
