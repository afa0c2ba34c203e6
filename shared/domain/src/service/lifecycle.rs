//! The invoice lifecycle on stored invoices: transitions and gapless numbering, optimistically.

use super::{concurrency::retry_on_contention, load_invoice};
use crate::{
    model::invoice::Invoice,
    ports::{InvoiceNumbering, InvoiceStore, Respond},
    Error, Result,
};
use chrono::NaiveDate;

/// Applies a transition (`Invoice::send`, `Invoice::void`) to a stored invoice, optimistically,
/// and answers as `respond` says.
pub async fn transition<S, R>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    apply: fn(&mut Invoice) -> Result<()>,
    respond: &R,
) -> Result<R::Answer>
where
    S: InvoiceStore,
    R: Respond<Invoice> + Sync,
    R::Answer: Send,
{
    retry_on_contention(|| async {
        let current = load_invoice(store, account_id, invoice_id).await?;
        let mut updated = current.value;
        apply(&mut updated)?;
        let answer = respond.answer(&updated)?;
        store.replace_invoice(&updated, current.version, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}

/// Finalizes a stored invoice with the account's next number, gapless under concurrency: the
/// number and the invoice are written together or not at all.
pub async fn finalize<S, R>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    issue_date: NaiveDate,
    respond: &R,
) -> Result<R::Answer>
where
    S: InvoiceStore + InvoiceNumbering,
    R: Respond<Invoice> + Sync,
    R::Answer: Send,
{
    retry_on_contention(|| async {
        let current = load_invoice(store, account_id, invoice_id).await?;
        let number =
            store.last_invoice_number(account_id).await?.checked_add(1).ok_or_else(|| {
                Error::internal(format!("account {account_id}: the invoice number counter is exhausted"))
            })?;
        let mut finalized = current.value;
        finalized.finalize(number, issue_date)?;
        let answer = respond.answer(&finalized)?;
        store.commit_finalized(&finalized, current.version, number, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}
