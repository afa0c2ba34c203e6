//! DynamoDB adapter. One table, and the outbox of webhook events beside it (outbox.rs); every invoice and idempotency record lives under its account's
//! partition key (`ACCOUNT#<id>`), so no query can cross accounts.
//!
//! | item            | pk                  | sk                    |
//! |-----------------|---------------------|-----------------------|
//! | account         | `ACCOUNT#<id>`      | `ACCOUNT`             |
//! | invoice         | `ACCOUNT#<id>`      | `INVOICE#<invoiceId>` |
//! | line item       | `ACCOUNT#<id>`      | `LINE#<invoiceId>#<lineItemId>` |
//! | line item group | `ACCOUNT#<id>`      | `GROUP#<invoiceId>#<groupId>` |
//! | idempotency     | `ACCOUNT#<id>`      | `IDEMPOTENCY#<key>`   |
//! | webhook endpoint | `ACCOUNT#<id>`     | `WEBHOOK-ENDPOINT#<endpointId>` |
//! | delivery attempt | `ACCOUNT#<id>`     | `WEBHOOK-ATTEMPT#<endpointId>#<eventId>#<nn>` |
//! | credential      | `CREDENTIAL#<id>`   | `CREDENTIAL`          |
//! | Xero calls a minute | `XERO#<tenant>` (`XERO#app` for the app) | `MINUTE#<yyyy-mm-ddThh:mm>` |
//! | Xero calls a day    | `XERO#<tenant>`     | `DAY#<yyyy-mm-dd>`    |
//! | Xero in-flight lease | `XERO#<tenant>`    | `SLOT#<0..in_flight>` |
//! | Xero 429 block      | `XERO#<tenant>` (`XERO#app` for `appminute`) | `BLOCK` |
//!
//! Every key this adapter builds comes from an id the service gave out or a value whose shape was
//! checked at the edge (UUIDs, credential ids, idempotency keys of at most 255 characters), so no
//! key can exceed DynamoDB's 1,024-byte sort key.
#![warn(missing_docs)]

mod accounts;
mod budget;
mod deliveries;
mod idempotency;
mod invoices;
mod lines;
mod numbering;
pub mod outbox;
mod reconcile;
pub mod schema;
pub mod transact;
mod webhooks;
mod xero_connections;
mod xero_sync;

use aws_sdk_dynamodb::{types::AttributeValue, Client};
use invoicing_domain::{
    model::config::{required_env, ConfigError},
    Error,
};
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The table and the client to reach it; implements every store port.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The outbox of webhook events (outbox.rs).
    events_table: String,
}

impl DynamoStore {
    /// A store on `table`, with its outbox in `events_table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>, events_table: impl Into<String>) -> Self {
        Self { client, table: table.into(), events_table: events_table.into() }
    }

    /// Builds the client from the standard AWS environment (including `AWS_ENDPOINT_URL`, so the
    /// same binary runs against AWS and a local server), the table from `TABLE_NAME` and the
    /// outbox table from `EVENTS_TABLE_NAME`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_config(&invoicing_https::sdk_config().await.map_err(|source| ConfigError::Unusable {
            name: invoicing_https::EXTRA_CA_CERTS,
            source: Box::new(source),
        })?)
    }

    /// With an SDK configuration already loaded (one per function, shared by its clients).
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let table = required_env("TABLE_NAME")?;
        let events_table = required_env("EVENTS_TABLE_NAME")?;
        Ok(Self::new(Client::new(config), table, events_table))
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The outbox table's name.
    pub fn events_table(&self) -> &str {
        &self.events_table
    }
}

pub(crate) fn account_pk(account_id: &str) -> String {
    format!("ACCOUNT#{account_id}")
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Any SDK failure is internal: it goes to the logs as the error's source, never to the caller.
pub(crate) fn sdk_error<E: std::error::Error + Send + Sync + 'static>(operation: &str, error: E) -> Error {
    Error::internal_caused(format!("DynamoDB {operation} failed"), error)
}

/// A request that could not be built (a required field missing): a bug, kept with its cause.
pub(crate) fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::internal_caused("building a DynamoDB request", error)
}

/// A single-item write's failure: contention when a transaction held the item
/// (`TransactionConflictException`) or the table throttled, which callers retry from a fresh
/// read; anything else is internal.
pub(crate) fn write_error<E, R>(operation: &str, error: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if transact::is_contention(&error) {
        Error::contended(format!("DynamoDB {operation}: a concurrent transaction held the item"))
    } else {
        sdk_error(operation, error)
    }
}

impl DynamoStore {
    /// The items with these keys (consistent reads), in no particular order; missing ones are
    /// left out. Keys DynamoDB leaves unprocessed under load are asked for again.
    /// Puts items in batches of 25 (DynamoDB's most per BatchWriteItem), writing again what a
    /// batch leaves unprocessed. Plain puts: for items whose repeat is harmless.
    pub(crate) async fn batch_put(&self, items: Vec<Item>) -> Result<(), Error> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let mut requests = Vec::with_capacity(25);
            for item in items.by_ref().take(25) {
                let put = PutRequest::builder().set_item(Some(item)).build().map_err(build_error)?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = Some(requests);
            for retry in 0..10u32 {
                let Some(batch) = pending.take().filter(|b| !b.is_empty()) else { break };
                if retry > 0 {
                    // Unprocessed items mean the table is throttling: back off before asking again.
                    tokio::time::sleep(std::time::Duration::from_millis(25 << retry.min(6))).await;
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, batch)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                pending = output.unprocessed_items.and_then(|mut u| u.remove(&self.table));
            }
            if pending.is_some_and(|p| !p.is_empty()) {
                return Err(Error::internal("BatchWriteItem left items unprocessed"));
            }
        }
        Ok(())
    }

    /// Reads items by key, at most 100 keys per BatchGetItem, reading again what a call leaves
    /// unprocessed.
    pub(crate) async fn batch_get_all(&self, keys: Vec<Item>) -> Result<Vec<Item>, Error> {
        let mut found = Vec::with_capacity(keys.len());
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            found.extend(self.batch_get(keys.by_ref().take(100).collect()).await?);
        }
        Ok(found)
    }

    pub(crate) async fn batch_get(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, Error> {
        let mut found = Vec::with_capacity(keys.len());
        for _ in 0..10 {
            if keys.is_empty() {
                return Ok(found);
            }
            let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            found.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            keys = output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
        }
        if keys.is_empty() {
            Ok(found)
        } else {
            Err(Error::internal("BatchGetItem left keys unprocessed"))
        }
    }
}

/// A query for one page of a list, and how far it may read.
pub(crate) struct PageQuery {
    pub request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    /// The key to start after (the previous page's last position).
    pub start: Option<Item>,
    /// Items DynamoDB evaluates per call.
    pub page_size: i32,
    pub limit: usize,
    /// The most items one page may evaluate in all: a filter that matches few items ends the page
    /// early, with a cursor where it stopped, rather than reading a whole partition.
    pub max_evaluated: usize,
    /// The sort key prefix before an item's position (`INVOICE#`), to make a cursor of the last
    /// key evaluated.
    pub position_prefix: String,
}

impl DynamoStore {
    /// The page query of the account's items whose sort keys start with `prefix` (an endpoint's
    /// attempts, an invoice's lines, the endpoints), `limit` at a time after the position `after`
    /// (what follows the prefix in the sort key), consistently read, in key order.
    pub(crate) fn prefix_page(&self, account_id: &str, prefix: String, limit: usize, after: Option<&str>) -> PageQuery {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(account_pk(account_id)))
            .expression_attribute_values(":prefix", s(&prefix))
            .consistent_read(true);
        let start = after.map(|after| {
            Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(format!("{prefix}{after}")))])
        });
        PageQuery {
            request,
            start,
            page_size: i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX),
            limit,
            max_evaluated: usize::MAX,
            position_prefix: prefix,
        }
    }
}

impl DynamoStore {
    /// Puts the item unless its key is taken: `false` (and nothing written) when it is.
    pub(crate) async fn put_if_absent(&self, item: Item) -> Result<bool, Error> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(write_error("PutItem", e)),
        }
    }
}

/// The most items a filtered page evaluates (a few DynamoDB calls of 1 MB at most).
pub(crate) const MAX_EVALUATED_PER_PAGE: usize = 1_000;

/// Runs a query page by page until it has found `limit + 1` items (the extra one is what proves
/// that a next page exists) or evaluated `max_evaluated` items, and answers the first `limit`
/// found, with the position to continue after when more may follow.
pub(crate) async fn collect_page<T>(
    query: PageQuery,
    decode_item: impl Fn(Item) -> Result<T, Error>,
    position: impl Fn(&T) -> String,
) -> Result<invoicing_domain::model::pagination::Page<T>, Error> {
    let PageQuery { request, mut start, page_size, limit, max_evaluated, position_prefix } = query;
    let mut items: Vec<T> = Vec::with_capacity(limit + 1);
    let mut evaluated = 0usize;
    let stopped_at = loop {
        let output = request
            .clone()
            .limit(page_size)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        evaluated += usize::try_from(output.scanned_count).unwrap_or(0);
        for item in output.items.unwrap_or_default() {
            items.push(decode_item(item)?);
            if items.len() > limit {
                break;
            }
        }
        match output.last_evaluated_key {
            Some(key) if items.len() <= limit && evaluated >= max_evaluated => break Some(key),
            Some(key) if items.len() <= limit => start = Some(key),
            _ => break None,
        }
    };
    let more = items.len() > limit;
    items.truncate(limit);
    let after = if more {
        items.last().map(&position)
    } else {
        // The budget ran out before the page filled: continue after the last item evaluated.
        stopped_at
            .as_ref()
            .and_then(|key| key.get("sk"))
            .and_then(|sk| sk.as_s().ok())
            .and_then(|sk| sk.strip_prefix(&position_prefix))
            .map(str::to_string)
    };
    Ok(invoicing_domain::model::pagination::Page { items, after })
}

/// Decodes an item. One that cannot be decoded is logged with its key and answered as a clear
/// error naming it, never as something else.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, Error> {
    let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let (pk, sk) = (key("pk"), key("sk"));
    serde_dynamo::from_item(item).map_err(|e| {
        tracing::error!(pk = %pk, sk = %sk, error = %e, "a stored item cannot be decoded");
        let what = sk.replace('#', " ").to_lowercase();
        Error::unreadable_caused(
            format!("stored {what} cannot be read; the problem has been logged"),
            format!("corrupt item {pk} / {sk}"),
            e,
        )
    })
}

/// The condition that makes a write of an item at version `expected + 1` optimistic (with
/// `:expectedVersion` bound to `expected`).
pub(crate) const VERSION_CONDITION: &str = "version = :expectedVersion";

/// Decodes an item written with a `version` attribute (invoices, webhook endpoints, Xero
/// connections); `what` names it in the error when the attribute is missing.
pub(crate) fn decode_with_version<T: serde::de::DeserializeOwned>(
    mut item: Item,
    what: &str,
) -> Result<invoicing_domain::model::Versioned<T>, Error> {
    let version = item
        .remove("version")
        .and_then(|v| v.as_n().ok().and_then(|n| n.parse().ok()))
        .ok_or_else(|| Error::internal(format!("{what} without a version")))?;
    Ok(invoicing_domain::model::Versioned { value: decode(item)?, version })
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Item, Error> {
    serde_dynamo::to_item(value).map_err(|e| Error::internal_caused("an item that cannot be encoded", e))
}
