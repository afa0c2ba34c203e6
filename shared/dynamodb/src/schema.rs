//! The table's definition, for local stacks and tests. `template.yaml` declares the same for AWS.

use aws_sdk_dynamodb::{
    error::DisplayErrorContext,
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
    },
    Client,
};

/// The attribute DynamoDB's TTL deletes expired items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "ttl";

pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash).map_err(|e| e.to_string())?)
        .key_schema(key("sk", KeyType::Range).map_err(|e| e.to_string())?)
        .attribute_definitions(attribute("pk").map_err(|e| e.to_string())?)
        .attribute_definitions(attribute("sk").map_err(|e| e.to_string())?)
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
