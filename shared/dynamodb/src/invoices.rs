use crate::{
    account_pk, build_error, collect_page, decode, decode_with_version, encode, n, s,
    schema::{CUSTOMER_INDEX, CUSTOMER_KEY, STATUS_INDEX, STATUS_KEY},
    sdk_error,
    transact::{OnConditionFailed, Write},
    DynamoStore, Item, PageQuery, MAX_EVALUATED_PER_PAGE, VERSION_CONDITION,
};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use invoicing_domain::{
    model::idempotency::Receipt,
    model::invoice::{Invoice, InvoiceStatus},
    model::pagination::Page,
    model::webhooks::Event,
    model::Versioned,
    ports::{InvoiceQuery, InvoiceStore},
    Result,
};
use sha2::{Digest, Sha256};

const INVOICE_PREFIX: &str = "INVOICE#";
/// Items DynamoDB evaluates per call when a filter may discard many of them.
const FILTERED_PAGE_SIZE: i32 = 200;

pub(crate) fn invoice_sk(invoice_id: &str) -> String {
    format!("{INVOICE_PREFIX}{invoice_id}")
}

/// The status index's partition: the account's invoices in one status.
fn status_key(account_id: &str, status: InvoiceStatus) -> String {
    format!("{}#STATUS#{}", account_pk(account_id), status.as_str())
}

/// The customer index's partition: the account's invoices of one customer. The customer id (up to
/// 1,000 characters of the client's choosing) is hashed, so the key stays far below DynamoDB's
/// 2,048-byte partition key.
fn customer_key(account_id: &str, customer_id: &str) -> String {
    format!("{}#CUSTOMER#{}", account_pk(account_id), hex::encode(Sha256::digest(customer_id.as_bytes())))
}

/// The stored item of an invoice at a version, with its index keys.
pub(crate) fn invoice_item(invoice: &Invoice, version: u64) -> Result<Item> {
    let mut item: Item = encode(invoice)?;
    let account_id = &invoice.sequence_account_id;
    item.insert("pk".into(), s(account_pk(account_id)));
    item.insert("sk".into(), s(invoice_sk(&invoice.id)));
    item.insert("entity".into(), s("INVOICE"));
    item.insert("version".into(), n(version));
    item.insert(STATUS_KEY.into(), s(status_key(account_id, invoice.status)));
    item.insert(CUSTOMER_KEY.into(), s(customer_key(account_id, &invoice.customer_id)));
    Ok(item)
}

/// The write of an invoice's new state, if its version is still `expected_version`.
pub(crate) fn versioned_write(table: &str, invoice: &Invoice, expected_version: u64) -> Result<Write> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(invoice_item(invoice, expected_version.saturating_add(1))?))
        .condition_expression(VERSION_CONDITION)
        .expression_attribute_values(":expectedVersion", n(expected_version))
        .build()
        .map_err(build_error)?;
    Ok(Write::new(
        TransactWriteItem::builder().put(put).build(),
        format!("invoice {}", invoice.id),
        OnConditionFailed::Contended(format!("invoice {} changed concurrently", invoice.id)),
    ))
}

pub(crate) fn decode_versioned(item: Item) -> Result<Versioned<Invoice>> {
    decode_with_version(item, "invoice item")
}

impl DynamoStore {
    /// Writes many new invoices 25 at a time (BatchWriteItem), for imports and test fixtures: no
    /// per-item condition, so the caller guarantees the ids are new.
    pub async fn import_invoices(&self, invoices: &[Invoice]) -> Result<()> {
        let items = invoices.iter().map(|invoice| invoice_item(invoice, 1)).collect::<Result<Vec<_>>>()?;
        self.batch_put(items).await
    }
}

impl InvoiceStore for DynamoStore {
    async fn insert_invoice(&self, invoice: &Invoice, event: Option<&Event>, receipt: Option<&Receipt>) -> Result<()> {
        // Every later update is conditional on this version.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(invoice_item(invoice, 1)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let write = Write::new(
            TransactWriteItem::builder().put(put).build(),
            format!("invoice {}", invoice.id),
            OnConditionFailed::Conflict(format!("invoice {} already exists", invoice.id)),
        );
        let writes = self.with_event(vec![write], &invoice.sequence_account_id, event)?;
        self.transact(writes, receipt).await.map(drop)
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

    async fn replace_invoice(
        &self,
        invoice: &Invoice,
        expected_version: u64,
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let write = versioned_write(&self.table, invoice, expected_version)?;
        let writes = self.with_event(vec![write], &invoice.sequence_account_id, event)?;
        self.transact(writes, receipt).await.map(drop)
    }

    /// Unfiltered: the account's partition in key order. By status: the status index, exact. By
    /// customer: the customer index (the filter on `customerId` itself only guards against a hash
    /// collision). By both: the customer index filtered by status, at most
    /// `MAX_EVALUATED_PER_PAGE` items per page. Index reads are eventually consistent.
    async fn list_invoices(&self, account_id: &str, query: &InvoiceQuery) -> Result<Page<Invoice>> {
        let mut request = self.client.query().table_name(&self.table);
        let mut start = query
            .after
            .as_ref()
            .map(|after| Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(invoice_sk(after)))]));
        let mut filters = Vec::new();
        match (&query.customer_id, query.status) {
            (None, None) => {
                request = request
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":pk", s(account_pk(account_id)))
                    .expression_attribute_values(":prefix", s(INVOICE_PREFIX));
            }
            (None, Some(status)) => {
                let key = status_key(account_id, status);
                request = request
                    .index_name(STATUS_INDEX)
                    .key_condition_expression("#index = :index")
                    .expression_attribute_names("#index", STATUS_KEY)
                    .expression_attribute_values(":index", s(&key));
                if let Some(start) = start.as_mut() {
                    start.insert(STATUS_KEY.into(), s(key));
                }
            }
            (Some(customer_id), status) => {
                let key = customer_key(account_id, customer_id);
                request = request
                    .index_name(CUSTOMER_INDEX)
                    .key_condition_expression("#index = :index")
                    .expression_attribute_names("#index", CUSTOMER_KEY)
                    .expression_attribute_values(":index", s(&key))
                    .expression_attribute_values(":customerId", s(customer_id));
                filters.push("customerId = :customerId");
                if let Some(status) = status {
                    filters.push("#status = :status");
                    request = request
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":status", s(status.as_str()));
                }
                if let Some(start) = start.as_mut() {
                    start.insert(CUSTOMER_KEY.into(), s(key));
                }
            }
        }
        let filtered_by_status = query.customer_id.is_some() && query.status.is_some();
        if !filters.is_empty() {
            request = request.filter_expression(filters.join(" AND "));
        }
        let page_size = if filtered_by_status { FILTERED_PAGE_SIZE } else { query.limit as i32 + 1 };
        let page = PageQuery {
            request,
            start,
            page_size,
            limit: query.limit,
            max_evaluated: MAX_EVALUATED_PER_PAGE,
            position_prefix: INVOICE_PREFIX.into(),
        };
        collect_page(page, decode, |i: &Invoice| i.id.clone()).await
    }
}
