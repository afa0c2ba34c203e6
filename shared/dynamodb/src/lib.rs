//! DynamoDB adapter. One table; every invoice and idempotency record lives under its account's
//! partition key (`ACCOUNT#<id>`), so no query can cross accounts.
//!
//! | item            | pk                  | sk                    |
//! |-----------------|---------------------|-----------------------|
//! | account         | `ACCOUNT#<id>`      | `ACCOUNT`             |
//! | invoice         | `ACCOUNT#<id>`      | `INVOICE#<invoiceId>` |
//! | line item       | `ACCOUNT#<id>`      | `LINE#<invoiceId>#<lineItemId>` |
//! | line item group | `ACCOUNT#<id>`      | `GROUP#<invoiceId>#<groupId>` |
//! | idempotency     | `ACCOUNT#<id>`      | `IDEMPOTENCY#<key>`   |
//! | credential      | `CREDENTIAL#<id>`   | `CREDENTIAL`          |

mod accounts;
mod idempotency;
mod invoices;
mod lines;
mod numbering;
mod reconcile;
pub mod schema;

use aws_sdk_dynamodb::{error::DisplayErrorContext, types::AttributeValue, Client};
use invoicing_domain::Error;
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The table and the client to reach it; implements every store port.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Builds the client from the standard AWS environment (including `AWS_ENDPOINT_URL`, so the
    /// same binary runs against AWS and a local server) and the table from `TABLE_NAME`.
    pub async fn from_env() -> Result<Self, String> {
        Self::from_config(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    }

    /// With an SDK configuration already loaded (one per function, shared by its clients).
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_string())?;
        Ok(Self::new(Client::new(config), table))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
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

/// Any SDK failure is internal: the detail goes to the logs, never to the caller.
pub(crate) fn sdk_error<E: std::error::Error>(operation: &str, error: E) -> Error {
    Error::internal(format!("DynamoDB {operation} failed: {}", DisplayErrorContext(error)))
}

/// Whether a transaction failed only because one of its conditions did not hold.
pub(crate) fn is_condition_failure(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
) -> bool {
    error.as_service_error().is_some_and(|e| match e {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
            c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
        }
        _ => false,
    })
}

/// Runs a query page by page until it has found `limit + 1` items (the extra one is what proves
/// that a next page exists) and answers the first `limit`, with the position of the last when more
/// follow. Filters may discard items, so DynamoDB is asked for `page_size` items at a time.
pub(crate) async fn collect_page<T>(
    request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    mut start: Option<Item>,
    page_size: i32,
    limit: usize,
    decode_item: impl Fn(Item) -> Result<T, Error>,
    position: impl Fn(&T) -> String,
) -> Result<invoicing_domain::pagination::Page<T>, Error> {
    let mut items: Vec<T> = Vec::with_capacity(limit + 1);
    loop {
        let output = request
            .clone()
            .limit(page_size)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        for item in output.items.unwrap_or_default() {
            items.push(decode_item(item)?);
            if items.len() > limit {
                break;
            }
        }
        match output.last_evaluated_key {
            Some(key) if items.len() <= limit => start = Some(key),
            _ => break,
        }
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let after = if more { items.last().map(&position) } else { None };
    Ok(invoicing_domain::pagination::Page { items, after })
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, Error> {
    serde_dynamo::from_item(item).map_err(|e| Error::internal(format!("corrupt item: {e}")))
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Item, Error> {
    serde_dynamo::to_item(value).map_err(|e| Error::internal(format!("unencodable item: {e}")))
}
