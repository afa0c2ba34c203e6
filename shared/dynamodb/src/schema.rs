//! The table's definition, for local stacks and tests. `template.yaml` declares the same for AWS.

use aws_sdk_dynamodb::{
    error::DisplayErrorContext,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TimeToLiveSpecification,
    },
    Client,
};

/// The attribute DynamoDB's TTL deletes expired items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Invoices by status (`ACCOUNT#<id>#STATUS#<status>`), in creation order (`sk`).
pub const STATUS_INDEX: &str = "invoices-by-status";
pub const STATUS_KEY: &str = "statusKey";
/// Invoices by customer (`ACCOUNT#<id>#CUSTOMER#<sha256 of customerId>`), in creation order (`sk`).
pub const CUSTOMER_INDEX: &str = "invoices-by-customer";
pub const CUSTOMER_KEY: &str = "customerKey";

pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let key = |name: &str, kind| {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| e.to_string())
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let index = |name: &str, partition: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(partition, KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| e.to_string())
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .attribute_definitions(attribute(STATUS_KEY)?)
        .attribute_definitions(attribute(CUSTOMER_KEY)?)
        .global_secondary_indexes(index(STATUS_INDEX, STATUS_KEY)?)
        .global_secondary_indexes(index(CUSTOMER_INDEX, CUSTOMER_KEY)?)
        .send()
        .await
        .map_err(|e| format!("create table {table}: {}", DisplayErrorContext(e)))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("enable TTL on {table}: {}", DisplayErrorContext(e)))?;
    Ok(())
}
