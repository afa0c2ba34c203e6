use crate::{
    account_pk, build_error,
    invoices::versioned_write,
    n, s,
    transact::{OnConditionFailed, Write},
    DynamoStore,
};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use invoicing_domain::{
    model::{idempotency::Receipt, invoice::Invoice, webhooks::Event},
    ports::InvoiceNumbering,
    Error, Result,
};

/// The account item's counter of finalized invoices.
const COUNTER: &str = "lastInvoiceNumber";

impl InvoiceNumbering for DynamoStore {
    async fn last_invoice_number(&self, account_id: &str) -> Result<u64> {
        let item = self.existing_account_item(account_id, Some(COUNTER)).await?;
        match item.get(COUNTER) {
            None => Ok(0),
            Some(value) => {
                value.as_n().ok().and_then(|v| v.parse().ok()).ok_or_else(|| Error::internal("corrupt invoice counter"))
            }
        }
    }

    async fn commit_finalized(
        &self,
        invoice: &Invoice,
        expected_version: u64,
        number: u64,
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let counter_condition = if number == 1 {
            format!("attribute_exists(pk) AND attribute_not_exists({COUNTER})")
        } else {
            format!("{COUNTER} = :previous")
        };
        let mut counter = Update::builder()
            .table_name(&self.table)
            .key("pk", s(account_pk(&invoice.sequence_account_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression(format!("SET {COUNTER} = :number"))
            .condition_expression(counter_condition)
            .expression_attribute_values(":number", n(number));
        if number > 1 {
            counter = counter.expression_attribute_values(":previous", n(number - 1));
        }
        let writes = vec![
            Write::new(
                TransactWriteItem::builder().update(counter.build().map_err(build_error)?).build(),
                "the invoice number counter",
                OnConditionFailed::Contended("the account's invoice number moved concurrently".into()),
            ),
            versioned_write(&self.table, invoice, expected_version)?,
        ];
        let writes = self.with_event(writes, &invoice.sequence_account_id, event)?;
        self.transact(writes, receipt).await.map(drop)
    }
}
