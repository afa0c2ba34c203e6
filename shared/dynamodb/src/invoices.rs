use crate::{account_pk, collect_page, decode, encode, n, s, sdk_error, DynamoStore, Item};
use invoicing_domain::{
    invoice::Invoice,
    lines::Versioned,
    pagination::Page,
    ports::{InvoiceQuery, InvoiceStore},
    Error, Result,
};

const INVOICE_PREFIX: &str = "INVOICE#";
/// Items DynamoDB evaluates per page when a filter may discard many of them.
const FILTERED_PAGE_SIZE: i32 = 200;

pub(crate) fn invoice_sk(invoice_id: &str) -> String {
    format!("{INVOICE_PREFIX}{invoice_id}")
}

/// The stored item of an invoice at a version.
pub(crate) fn invoice_item(invoice: &Invoice, version: u64) -> Result<Item> {
    let mut item: Item = encode(invoice)?;
    item.insert("pk".into(), s(account_pk(&invoice.sequence_account_id)));
    item.insert("sk".into(), s(invoice_sk(&invoice.id)));
    item.insert("entity".into(), s("INVOICE"));
    item.insert("version".into(), n(version));
    Ok(item)
}

/// The condition that makes a write of `invoice_item(invoice, expected + 1)` optimistic.
pub(crate) const VERSION_CONDITION: &str = "version = :expectedVersion";

pub(crate) fn decode_versioned(item: Item) -> Result<Versioned<Invoice>> {
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::internal("invoice item without a version"))?;
    Ok(Versioned { value: decode(item)?, version })
}

impl DynamoStore {
    /// Writes many new invoices 25 at a time (BatchWriteItem), for imports and test fixtures: no
    /// per-item condition, so the caller guarantees the ids are new.
    pub async fn import_invoices(&self, invoices: &[Invoice]) -> Result<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in invoices.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for invoice in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(invoice_item(invoice, 1)?))
                    .build()
                    .map_err(|e| Error::internal(e.to_string()))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = Some(requests);
            for _ in 0..10 {
                let Some(batch) = pending.take().filter(|b| !b.is_empty()) else { break };
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
}

impl InvoiceStore for DynamoStore {
    async fn insert_invoice(&self, invoice: &Invoice) -> Result<()> {
        // Every later update is conditional on this version.
        let item = invoice_item(invoice, 1)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) {
                    Error::conflict(format!("invoice {} already exists", invoice.id))
                } else {
                    sdk_error("PutItem", e)
                }
            })?;
        Ok(())
    }

    async fn get_invoice(&self, account_id: &str, invoice_id: &str) -> Result<Option<Versioned<Invoice>>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(invoice_sk(invoice_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item.map(decode_versioned).transpose()
    }

    async fn replace_invoice(&self, invoice: &Invoice, expected_version: u64) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(invoice_item(invoice, expected_version + 1)?))
            .condition_expression(VERSION_CONDITION)
            .expression_attribute_values(":expectedVersion", n(expected_version))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) {
                    Error::contended(format!("invoice {} changed concurrently", invoice.id))
                } else {
                    sdk_error("PutItem", e)
                }
            })?;
        Ok(())
    }

    async fn list_invoices(&self, account_id: &str, query: &InvoiceQuery) -> Result<Page<Invoice>> {
        let mut filters = Vec::new();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(account_pk(account_id)))
            .expression_attribute_values(":prefix", s(INVOICE_PREFIX));
        if let Some(status) = query.status {
            filters.push("#status = :status");
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        if let Some(customer_id) = &query.customer_id {
            filters.push("customerId = :customerId");
            request = request.expression_attribute_values(":customerId", s(customer_id));
        }
        let page_size = if filters.is_empty() { query.limit as i32 + 1 } else { FILTERED_PAGE_SIZE };
        if !filters.is_empty() {
            request = request.filter_expression(filters.join(" AND "));
        }
        let start_key = query
            .after
            .as_ref()
            .map(|after| Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(invoice_sk(after)))]));

        collect_page(request, start_key, page_size, query.limit, decode, |i: &Invoice| i.id.clone()).await
    }
}
