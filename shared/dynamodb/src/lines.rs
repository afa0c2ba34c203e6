use crate::{
    account_pk, build_error, collect_page, decode, encode,
    invoices::versioned_write,
    s, sdk_error,
    transact::{OnConditionFailed, Write},
    DynamoStore, Item,
};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use invoicing_domain::{
    model::idempotency::Receipt,
    model::lines::{LineChange, LineItem, LineItemGroup},
    model::pagination::Page,
    ports::LineItemStore,
    Result,
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

/// An unconditional put: the invoice's version condition guards the whole change.
fn put(table: &str, item: Item, what: String) -> Result<Write> {
    let put = Put::builder().table_name(table).set_item(Some(item)).build().map_err(build_error)?;
    Ok(Write::new(TransactWriteItem::builder().put(put).build(), what, OnConditionFailed::AlreadyDone))
}

impl DynamoStore {
    /// Writes lines as they are, for imports and test fixtures: no condition, and the invoice's
    /// totals are not moved (the caller stores an invoice that agrees with them).
    pub async fn import_line_items(&self, account_id: &str, lines: &[LineItem]) -> Result<()> {
        for line in lines {
            let item = keyed(encode(line)?, account_id, line_sk(&line.invoice_id, &line.id), "LINE_ITEM");
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| sdk_error("PutItem", e))?;
        }
        Ok(())
    }
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
        let page = self.prefix_page(account_id, line_prefix(invoice_id), limit, after);
        collect_page(page, decode, |l: &LineItem| l.id.clone()).await
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
        // At most two groups; BatchGetItem may leave keys unprocessed, which `batch_get` asks for again.
        let mut keys: Vec<Item> = Vec::with_capacity(group_ids.len());
        for (index, id) in group_ids.iter().enumerate() {
            if !group_ids[..index].contains(id) {
                keys.push(Item::from([
                    ("pk".into(), s(account_pk(account_id))),
                    ("sk".into(), s(group_sk(invoice_id, id))),
                ]));
            }
        }
        self.batch_get(keys).await?.into_iter().map(decode).collect()
    }

    async fn commit_line_change(&self, account_id: &str, change: &LineChange, receipt: Option<&Receipt>) -> Result<()> {
        let invoice = &change.invoice;
        let mut writes = vec![versioned_write(&self.table, invoice, change.expected_version)?];
        if let Some(line) = &change.delete_line {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(account_pk(account_id)))
                .key("sk", s(line_sk(&invoice.id, &line.id)))
                .build()
                .map_err(build_error)?;
            writes.push(Write::new(
                TransactWriteItem::builder().delete(delete).build(),
                format!("line item {}", line.id),
                OnConditionFailed::AlreadyDone,
            ));
        }
        if let Some(line) = &change.put_line {
            let item = keyed(encode(line)?, account_id, line_sk(&invoice.id, &line.id), "LINE_ITEM");
            writes.push(put(&self.table, item, format!("line item {}", line.id))?);
        }
        for group in &change.put_groups {
            let item = keyed(encode(group)?, account_id, group_sk(&invoice.id, &group.id), "LINE_ITEM_GROUP");
            writes.push(put(&self.table, item, format!("line item group {}", group.id))?);
        }
        self.transact(writes, receipt).await.map(drop)
    }
}
