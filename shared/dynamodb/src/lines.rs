use crate::{
    account_pk, collect_page, decode, encode,
    invoices::{invoice_item, VERSION_CONDITION},
    is_condition_failure, n, s, sdk_error, DynamoStore, Item,
};
use aws_sdk_dynamodb::types::{Delete, KeysAndAttributes, Put, TransactWriteItem};
use invoicing_domain::{
    lines::{LineChange, LineItem, LineItemGroup},
    pagination::Page,
    ports::LineItemStore,
    Error, Result,
};

fn line_prefix(invoice_id: &str) -> String {
    format!("LINE#{invoice_id}#")
}

fn line_sk(invoice_id: &str, line_item_id: &str) -> String {
    format!("LINE#{invoice_id}#{line_item_id}")
}

fn group_sk(invoice_id: &str, group_id: &str) -> String {
    format!("GROUP#{invoice_id}#{group_id}")
}

fn keyed(mut item: Item, account_id: &str, sk: String, entity: &str) -> Item {
    item.insert("pk".into(), s(account_pk(account_id)));
    item.insert("sk".into(), s(sk));
    item.insert("entity".into(), s(entity));
    item
}

fn put(table: &str, item: Item) -> Result<TransactWriteItem> {
    let put =
        Put::builder().table_name(table).set_item(Some(item)).build().map_err(|e| Error::internal(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl LineItemStore for DynamoStore {
    async fn get_line_item(&self, account_id: &str, invoice_id: &str, line_item_id: &str) -> Result<Option<LineItem>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(line_sk(invoice_id, line_item_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item.map(decode).transpose()
    }

    async fn list_line_items(
        &self,
        account_id: &str,
        invoice_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<LineItem>> {
        let start = after.map(|after| {
            Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(line_sk(invoice_id, after)))])
        });
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(account_pk(account_id)))
            .expression_attribute_values(":prefix", s(line_prefix(invoice_id)))
            .consistent_read(true);
        collect_page(request, start, limit as i32 + 1, limit, decode, |l: &LineItem| l.id.clone()).await
    }

    async fn get_line_item_groups(
        &self,
        account_id: &str,
        invoice_id: &str,
        group_ids: &[&str],
    ) -> Result<Vec<LineItemGroup>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = KeysAndAttributes::builder().consistent_read(true);
        let mut seen = Vec::new();
        for id in group_ids {
            if !seen.contains(id) {
                seen.push(*id);
                keys = keys.keys(Item::from([
                    ("pk".into(), s(account_pk(account_id))),
                    ("sk".into(), s(group_sk(invoice_id, id))),
                ]));
            }
        }
        let output = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys.build().map_err(|e| Error::internal(e.to_string()))?)
            .send()
            .await
            .map_err(|e| sdk_error("BatchGetItem", e))?;
        let items = output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default();
        items.into_iter().map(decode).collect()
    }

    async fn commit_line_change(&self, account_id: &str, change: &LineChange) -> Result<()> {
        let invoice = &change.invoice;
        let guarded = Put::builder()
            .table_name(&self.table)
            .set_item(Some(invoice_item(invoice, change.expected_version + 1)?))
            .condition_expression(VERSION_CONDITION)
            .expression_attribute_values(":expectedVersion", n(change.expected_version))
            .build()
            .map_err(|e| Error::internal(e.to_string()))?;
        let mut writes = vec![TransactWriteItem::builder().put(guarded).build()];
        if let Some(line) = &change.delete_line {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(account_pk(account_id)))
                .key("sk", s(line_sk(&invoice.id, &line.id)))
                .build()
                .map_err(|e| Error::internal(e.to_string()))?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        if let Some(line) = &change.put_line {
            writes
                .push(put(&self.table, keyed(encode(line)?, account_id, line_sk(&invoice.id, &line.id), "LINE_ITEM"))?);
        }
        for group in &change.put_groups {
            let item = keyed(encode(group)?, account_id, group_sk(&invoice.id, &group.id), "LINE_ITEM_GROUP");
            writes.push(put(&self.table, item)?);
        }
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(Error::contended(format!("invoice {} changed concurrently", invoice.id)))
            }
            Err(e) => Err(sdk_error("TransactWriteItems", e)),
        }
    }
}
