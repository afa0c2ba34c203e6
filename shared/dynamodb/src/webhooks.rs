//! Webhook endpoints: one item each under the account's partition, versioned like invoices. Their
//! secrets are not here (invoicing-secrets keeps them).

use crate::{
    account_pk, build_error, collect_page, decode_with_version, encode, n, s, sdk_error,
    transact::{OnConditionFailed, Write},
    DynamoStore, Item, VERSION_CONDITION,
};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use invoicing_domain::{
    model::{idempotency::Receipt, pagination::Page, webhooks::WebhookEndpoint, Versioned},
    ports::WebhookEndpoints,
    Result,
};

const ENDPOINT_PREFIX: &str = "WEBHOOK-ENDPOINT#";

fn endpoint_sk(endpoint_id: &str) -> String {
    format!("{ENDPOINT_PREFIX}{endpoint_id}")
}

fn endpoint_item(endpoint: &WebhookEndpoint, version: u64) -> Result<Item> {
    let mut item = encode(endpoint)?;
    item.insert("pk".into(), s(account_pk(&endpoint.account_id)));
    item.insert("sk".into(), s(endpoint_sk(&endpoint.id)));
    item.insert("entity".into(), s("WEBHOOK_ENDPOINT"));
    item.insert("version".into(), n(version));
    Ok(item)
}

fn decode_versioned(item: Item) -> Result<Versioned<WebhookEndpoint>> {
    decode_with_version(item, "webhook endpoint item")
}

fn changed_concurrently(endpoint_id: &str) -> OnConditionFailed {
    OnConditionFailed::Contended(format!("webhook endpoint {endpoint_id} changed concurrently"))
}

impl WebhookEndpoints for DynamoStore {
    async fn insert_webhook_endpoint(&self, endpoint: &WebhookEndpoint, receipt: Option<&Receipt>) -> Result<()> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(endpoint_item(endpoint, 1)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let write = Write::new(
            TransactWriteItem::builder().put(put).build(),
            format!("webhook endpoint {}", endpoint.id),
            OnConditionFailed::Conflict(format!("webhook endpoint {} already exists", endpoint.id)),
        );
        self.transact(vec![write], receipt).await.map(drop)
    }

    async fn get_webhook_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<Versioned<WebhookEndpoint>>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(endpoint_sk(endpoint_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item.map(decode_versioned).transpose()
    }

    async fn list_webhook_endpoints(
        &self,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<WebhookEndpoint>> {
        let page = self.prefix_page(account_id, ENDPOINT_PREFIX.into(), limit, after);
        collect_page(page, |item| decode_versioned(item).map(|v| v.value), |e: &WebhookEndpoint| e.id.clone()).await
    }

    async fn replace_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        expected_version: u64,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(endpoint_item(endpoint, expected_version.saturating_add(1))?))
            .condition_expression(VERSION_CONDITION)
            .expression_attribute_values(":expectedVersion", n(expected_version))
            .build()
            .map_err(build_error)?;
        let write = Write::new(
            TransactWriteItem::builder().put(put).build(),
            format!("webhook endpoint {}", endpoint.id),
            changed_concurrently(&endpoint.id),
        );
        self.transact(vec![write], receipt).await.map(drop)
    }

    async fn delete_webhook_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
        expected_version: u64,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(endpoint_sk(endpoint_id)))
            .condition_expression(VERSION_CONDITION)
            .expression_attribute_values(":expectedVersion", n(expected_version))
            .build()
            .map_err(build_error)?;
        let write = Write::new(
            TransactWriteItem::builder().delete(delete).build(),
            format!("webhook endpoint {endpoint_id}"),
            changed_concurrently(endpoint_id),
        );
        self.transact(vec![write], receipt).await.map(drop)
    }
}
