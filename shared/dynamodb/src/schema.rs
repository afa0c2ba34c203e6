//! The table's definition, for local stacks and tests. `template.yaml` declares the same for AWS.

use aws_sdk_dynamodb::{
    error::{BuildError, SdkError},
    operation::{create_table::CreateTableError, update_time_to_live::UpdateTimeToLiveError},
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
    },
    Client,
};

/// The attribute DynamoDB's TTL deletes expired items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Invoices by status (`ACCOUNT#<id>#STATUS#<status>`), in creation order (`sk`).
pub const STATUS_INDEX: &str = "invoices-by-status";
/// The status index's partition key attribute.
pub const STATUS_KEY: &str = "statusKey";
/// Invoices by customer (`ACCOUNT#<id>#CUSTOMER#<sha256 of customerId>`), in creation order (`sk`).
pub const CUSTOMER_INDEX: &str = "invoices-by-customer";
/// The customer index's partition key attribute.
pub const CUSTOMER_KEY: &str = "customerKey";

/// Why the table could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A part of the table's definition is incomplete (a bug).
    #[error("the table definition is incomplete")]
    Definition(#[from] BuildError),
    /// DynamoDB refused to create the table.
    #[error("create table {table}")]
    CreateTable {
        /// The table.
        table: String,
        /// DynamoDB's answer.
        #[source]
        source: SdkError<CreateTableError>,
    },
    /// DynamoDB refused to turn TTL on.
    #[error("enable TTL on {table}")]
    EnableTtl {
        /// The table.
        table: String,
        /// DynamoDB's answer.
        #[source]
        source: SdkError<UpdateTimeToLiveError>,
    },
}

/// A table request keyed by `pk` (hash) and `sk` (range), both strings, billed on demand.
fn keyed_table(
    client: &Client,
    table: &str,
) -> Result<aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder, BuildError> {
    Ok(client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(string_attribute("pk")?)
        .attribute_definitions(string_attribute("sk")?))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, BuildError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build()
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, BuildError> {
    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
}

/// Creates the table with its indexes, and turns TTL on.
pub async fn create_table(client: &Client, table: &str) -> Result<(), SchemaError> {
    let index = |name: &str, partition: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(partition, KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
    };
    keyed_table(client, table)?
        .attribute_definitions(string_attribute(STATUS_KEY)?)
        .attribute_definitions(string_attribute(CUSTOMER_KEY)?)
        .global_secondary_indexes(index(STATUS_INDEX, STATUS_KEY)?)
        .global_secondary_indexes(index(CUSTOMER_INDEX, CUSTOMER_KEY)?)
        .send()
        .await
        .map_err(|source| SchemaError::CreateTable { table: table.to_string(), source })?;
    enable_ttl(client, table).await
}

/// Creates the outbox table of webhook events (outbox.rs): keyed like the table, its stream
/// carrying each new event (NEW_IMAGE) to the relay, and TTL on.
pub async fn create_events_table(client: &Client, table: &str) -> Result<(), SchemaError> {
    keyed_table(client, table)?
        .stream_specification(
            StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewImage).build()?,
        )
        .send()
        .await
        .map_err(|source| SchemaError::CreateTable { table: table.to_string(), source })?;
    enable_ttl(client, table).await
}

async fn enable_ttl(client: &Client, table: &str) -> Result<(), SchemaError> {
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL_ATTRIBUTE).build()?,
        )
        .send()
        .await
        .map_err(|source| SchemaError::EnableTtl { table: table.to_string(), source })?;
    Ok(())
}
