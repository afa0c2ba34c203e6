//! Line items and groups of a DRAFT invoice: each change is read, computed by the model and
//! written with the invoice's new totals in one optimistic write, retried on contention.

use super::{concurrency::retry_on_contention, load_invoice};
use crate::{
    model::lines::{
        add_group, add_line, line_not_found, remove_line, replace_line, LineItem, LineItemGroup, LineItemGroupInput,
        LineItemInput, TouchedGroups,
    },
    ports::{InvoiceStore, LineItemStore, Respond},
    Error, Result,
};
use chrono::{DateTime, Utc};

async fn load_line<S: LineItemStore>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    line_item_id: &str,
) -> Result<LineItem> {
    store
        .get_line_item(account_id, invoice_id, line_item_id)
        .await?
        .ok_or_else(|| line_not_found(invoice_id, line_item_id))
}

async fn load_groups<S: LineItemStore>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    ids: [Option<&String>; 2],
) -> Result<TouchedGroups> {
    let ids: Vec<&str> = ids.into_iter().flatten().map(String::as_str).collect();
    Ok(TouchedGroups { groups: store.get_line_item_groups(account_id, invoice_id, &ids).await? })
}

/// `POST /invoices/{id}/line-items`: the new line, written with the invoice's new totals, and
/// answered as `respond` says.
pub async fn add_line_item<S, R>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    line_item_id: String,
    input: LineItemInput,
    now: DateTime<Utc>,
    respond: &R,
) -> Result<R::Answer>
where
    S: InvoiceStore + LineItemStore,
    R: Respond<LineItem> + Sync,
    R::Answer: Send,
{
    retry_on_contention(|| async {
        let invoice = load_invoice(store, account_id, invoice_id).await?;
        let groups = load_groups(store, account_id, invoice_id, [input.group_id.as_ref(), None]).await?;
        let change = add_line(&invoice, groups, line_item_id.clone(), input.clone(), now)?;
        let line = change.put_line.as_ref().ok_or_else(|| Error::internal("an added line has no line"))?;
        let answer = respond.answer(line)?;
        store.commit_line_change(account_id, &change, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}

/// `PUT /invoices/{id}/line-items/{lineItemId}`.
pub async fn update_line_item<S: InvoiceStore + LineItemStore>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    line_item_id: &str,
    input: LineItemInput,
    now: DateTime<Utc>,
) -> Result<LineItem> {
    retry_on_contention(|| async {
        let invoice = load_invoice(store, account_id, invoice_id).await?;
        let old = load_line(store, account_id, invoice_id, line_item_id).await?;
        let groups =
            load_groups(store, account_id, invoice_id, [old.group_id.as_ref(), input.group_id.as_ref()]).await?;
        let change = replace_line(&invoice, groups, old, input.clone(), now)?;
        let line = change.put_line.clone().ok_or_else(|| Error::internal("a replaced line has no line"))?;
        store.commit_line_change(account_id, &change, None).await?;
        Ok(line)
    })
    .await
}

/// `DELETE /invoices/{id}/line-items/{lineItemId}`.
pub async fn remove_line_item<S: InvoiceStore + LineItemStore>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    line_item_id: &str,
) -> Result<()> {
    retry_on_contention(|| async {
        let invoice = load_invoice(store, account_id, invoice_id).await?;
        let old = load_line(store, account_id, invoice_id, line_item_id).await?;
        let groups = load_groups(store, account_id, invoice_id, [old.group_id.as_ref(), None]).await?;
        let change = remove_line(&invoice, groups, old)?;
        store.commit_line_change(account_id, &change, None).await
    })
    .await
}

/// `POST /invoices/{id}/line-item-groups`.
pub async fn create_line_item_group<S, R>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    group_id: String,
    input: LineItemGroupInput,
    now: DateTime<Utc>,
    respond: &R,
) -> Result<R::Answer>
where
    S: InvoiceStore + LineItemStore,
    R: Respond<LineItemGroup> + Sync,
    R::Answer: Send,
{
    retry_on_contention(|| async {
        let invoice = load_invoice(store, account_id, invoice_id).await?;
        let group = LineItemGroup::new(group_id.clone(), &invoice.value, input.clone(), now)?;
        let answer = respond.answer(&group)?;
        let change = add_group(&invoice, group)?;
        store.commit_line_change(account_id, &change, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}
