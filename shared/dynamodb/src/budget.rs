//! The shared Xero call budget (docs/design.md, "Xero call budget"): per tenant, under
//! `XERO#<tenant>`, a counter per UTC minute (`MINUTE#<minute>`) and day (`DAY#<day>`), one
//! lease item per in-flight slot (`SLOT#<n>`) and the end of a 429's block (`BLOCK`); the app's
//! minute counter and block under `XERO#app`. A call is granted by one `TransactWriteItems` that
//! checks both blocks, counts the call in the three windows and leases one slot; the condition
//! that failed (its cancellation reason) says how long to wait.

use crate::{build_error, n, s, schema::TTL_ATTRIBUTE, sdk_error, transact::is_contention, write_error, DynamoStore};
use aws_sdk_dynamodb::{
    error::SdkError,
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeValue, CancellationReason, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure,
        TransactWriteItem, Update,
    },
};
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use invoicing_domain::{
    model::xero_budget::{
        self, block_scope, day_key, minute_key, next_day, next_minute, Acquire, BlockScope, BudgetLimits, Lease,
        Refusal, Used, APP_KEY,
    },
    ports::XeroBudgetStore,
    Error, Result,
};
use std::time::Duration;

/// Attempts of an acquire whose transaction lost a race with another one (`TransactionConflict`).
const CONFLICT_ATTEMPTS: u32 = 5;
/// How long counters and blocks are kept after their window ends (DynamoDB's TTL deletes them).
const KEEP_AFTER_WINDOW: ChronoDuration = ChronoDuration::days(1);

fn budget_pk(key: &str) -> String {
    format!("XERO#{key}")
}

fn minute_sk(now: DateTime<Utc>) -> String {
    format!("MINUTE#{}", minute_key(now))
}

fn day_sk(now: DateTime<Utc>) -> String {
    format!("DAY#{}", day_key(now))
}

fn slot_sk(slot: u32) -> String {
    format!("SLOT#{slot}")
}

const BLOCK_SK: &str = "BLOCK";

fn millis(time: DateTime<Utc>) -> AttributeValue {
    n(time.timestamp_millis())
}

fn ttl(time: DateTime<Utc>) -> AttributeValue {
    n((time + KEEP_AFTER_WINDOW).timestamp())
}

/// The items of one acquire, in the order their failures are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    TenantBlock,
    AppBlock,
    Day,
    Minute,
    AppMinute,
    Slot,
}

const PARTS: [Part; 6] = [Part::TenantBlock, Part::AppBlock, Part::Day, Part::Minute, Part::AppMinute, Part::Slot];

/// How one attempt at a slot ended.
enum Attempt {
    Granted,
    /// Only the slot was taken: try the next one.
    SlotTaken,
    Refused(Refusal),
    Conflict,
}

impl DynamoStore {
    fn key(&self, pk: String, sk: String) -> [(String, AttributeValue); 2] {
        [("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))]
    }

    fn block_check(&self, key: &str, now: DateTime<Utc>) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(self.key(budget_pk(key), BLOCK_SK.into()).into()))
            .condition_expression("attribute_not_exists(#until) OR #until < :now")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", millis(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn count(&self, key: &str, sk: String, limit: u32, window_end: DateTime<Utc>) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(self.key(budget_pk(key), sk).into()))
            .update_expression("ADD #calls :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#calls) OR #calls < :limit")
            .expression_attribute_names("#calls", "calls")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", ttl(window_end))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn lease_slot(&self, lease: &Lease, now: DateTime<Utc>) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(
                self.key(budget_pk(&lease.tenant), slot_sk(lease.slot))
                    .into_iter()
                    .chain([
                        ("leaseId".to_string(), s(lease.lease_id.clone())),
                        ("leaseUntil".to_string(), millis(lease.until)),
                        (TTL_ATTRIBUTE.to_string(), ttl(lease.until)),
                    ])
                    .collect(),
            ))
            .condition_expression("attribute_not_exists(#leaseUntil) OR #leaseUntil < :now")
            .expression_attribute_names("#leaseUntil", "leaseUntil")
            .expression_attribute_values(":now", millis(now))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn attempt_slot(&self, lease: &Lease, now: DateTime<Utc>, limits: &BudgetLimits) -> Result<Attempt> {
        let tenant = lease.tenant.as_str();
        let items = PARTS
            .iter()
            .map(|part| match part {
                Part::TenantBlock => self.block_check(tenant, now),
                Part::AppBlock => self.block_check(APP_KEY, now),
                Part::Day => self.count(tenant, day_sk(now), limits.per_day, next_day(now)),
                Part::Minute => self.count(tenant, minute_sk(now), limits.per_minute, next_minute(now)),
                Part::AppMinute => self.count(APP_KEY, minute_sk(now), limits.app_per_minute, next_minute(now)),
                Part::Slot => self.lease_slot(lease, now),
            })
            .collect::<Result<Vec<_>>>()?;
        let sent = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match sent {
            Ok(_) => Ok(Attempt::Granted),
            Err(error) => classify(error),
        }
    }
}

/// Which conditions failed, and what that means.
fn classify(error: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>) -> Result<Attempt> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() else {
        if is_contention(&error) {
            return Ok(Attempt::Conflict);
        }
        return Err(sdk_error("TransactWriteItems (Xero budget)", error));
    };
    let reasons = cancelled.cancellation_reasons();
    let code = |reason: &CancellationReason| reason.code().unwrap_or("None").to_string();
    if reasons
        .iter()
        .any(|r| matches!(r.code(), Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")))
    {
        return Ok(Attempt::Conflict);
    }
    if reasons.len() != PARTS.len() {
        // DynamoDB gives one reason per item; without them we cannot tell which limit was hit.
        let codes: Vec<String> = reasons.iter().map(code).collect();
        return Err(Error::internal(format!(
            "DynamoDB cancelled the Xero budget transaction without a reason per item ({})",
            codes.join(", ")
        )));
    }
    let failed: Vec<(Part, &CancellationReason)> = PARTS
        .iter()
        .zip(reasons)
        .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
        .map(|(part, reason)| (*part, reason))
        .collect();
    // PARTS is in the order refusals are reported: a block, the day, the minute, the app's minute.
    let Some((part, reason)) = failed.first() else {
        let codes: Vec<String> = reasons.iter().map(code).collect();
        return Err(Error::internal(format!("DynamoDB cancelled the Xero budget transaction: {}", codes.join(", "))));
    };
    Ok(match part {
        Part::TenantBlock | Part::AppBlock => {
            let item = reason.item();
            let until = item
                .and_then(|item| item.get("until"))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            let problem = item.and_then(|item| item.get("problem")).and_then(|v| v.as_s().ok()).cloned();
            match until {
                Some(until) => Attempt::Refused(Refusal::Blocked { until, problem }),
                None => return Err(Error::internal("a Xero budget block without a readable `until`")),
            }
        }
        Part::Day => Attempt::Refused(Refusal::Day),
        Part::Minute => Attempt::Refused(Refusal::Minute),
        Part::AppMinute => Attempt::Refused(Refusal::AppMinute),
        Part::Slot => Attempt::SlotTaken,
    })
}

fn lease_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::seconds(40))
}

impl XeroBudgetStore for DynamoStore {
    async fn try_acquire(&self, tenant: &str, now: DateTime<Utc>, limits: &BudgetLimits) -> Result<Acquire> {
        let slots = limits.in_flight.max(1);
        let first = rand::random_range(0..slots);
        let mut conflicts = 0;
        let mut offset = 0;
        while offset < slots {
            let lease = Lease {
                tenant: tenant.to_string(),
                slot: (first + offset) % slots,
                lease_id: uuid::Uuid::new_v4().to_string(),
                until: lease_until(now, limits.lease),
            };
            match self.attempt_slot(&lease, now, limits).await? {
                Attempt::Granted => return Ok(Acquire::Granted(lease)),
                Attempt::SlotTaken => offset += 1,
                Attempt::Refused(refusal) => return Ok(refusal.wait(now)),
                Attempt::Conflict if conflicts + 1 < CONFLICT_ATTEMPTS => {
                    conflicts += 1;
                    let jitter = rand::random_range(5..=20 * u64::from(conflicts));
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                Attempt::Conflict => {
                    return Err(Error::contended("the Xero call budget is contended; retry shortly"));
                }
            }
        }
        Ok(Refusal::Slots.wait(now))
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(self.key(budget_pk(&lease.tenant), slot_sk(lease.slot)).into()))
            .condition_expression("#leaseId = :leaseId")
            .expression_attribute_names("#leaseId", "leaseId")
            .expression_attribute_values(":leaseId", s(lease.lease_id.clone()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // The lease expired and another call holds the slot now: it is theirs to release.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(write_error("DeleteItem (Xero budget slot)", e)),
        }
    }

    async fn observe(&self, tenant: &str, now: DateTime<Utc>, used: &Used) -> Result<()> {
        let windows = [
            (tenant, minute_sk(now), used.minute, next_minute(now)),
            (tenant, day_sk(now), used.day, next_day(now)),
            (APP_KEY, minute_sk(now), used.app_minute, next_minute(now)),
        ];
        for (key, sk, used, window_end) in windows {
            let Some(used) = used.filter(|used| *used > 0) else { continue };
            let raised = self
                .client
                .update_item()
                .table_name(self.table())
                .set_key(Some(self.key(budget_pk(key), sk).into()))
                .update_expression("SET #calls = :used, #ttl = :ttl")
                .condition_expression("attribute_not_exists(#calls) OR #calls < :used")
                .expression_attribute_names("#calls", "calls")
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_values(":used", n(used))
                .expression_attribute_values(":ttl", ttl(window_end))
                .send()
                .await;
            match raised {
                // Our count is already at least Xero's.
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(write_error("UpdateItem (Xero budget count)", e)),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    async fn block(&self, tenant: &str, until: DateTime<Utc>, problem: Option<&str>) -> Result<()> {
        let key = match block_scope(problem) {
            BlockScope::Tenant => tenant,
            BlockScope::App => xero_budget::APP_KEY,
        };
        let mut request = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(self.key(budget_pk(key), BLOCK_SK.into()).into()))
            .condition_expression("attribute_not_exists(#until) OR #until < :until")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":until", millis(until))
            .expression_attribute_values(":ttl", ttl(until));
        request = match problem {
            Some(problem) => request
                .update_expression("SET #until = :until, #ttl = :ttl, #problem = :problem")
                .expression_attribute_names("#problem", "problem")
                .expression_attribute_values(":problem", s(problem)),
            None => request
                .update_expression("SET #until = :until, #ttl = :ttl REMOVE #problem")
                .expression_attribute_names("#problem", "problem"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            // A later block is already recorded: it stands.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(write_error("UpdateItem (Xero budget block)", e)),
        }
    }
}
