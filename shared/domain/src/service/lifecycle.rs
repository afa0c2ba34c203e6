//! The invoice lifecycle on stored invoices: transitions and gapless numbering, optimistically.

use super::{concurrency::retry_on_contention, invoice_event, load_invoice};
use crate::{
    model::{invoice::Invoice, webhooks::EventType},
    ports::{InvoiceNumbering, InvoiceStore, Respond},
    Error, Result,
};
use chrono::NaiveDate;

/// A transition of a finalized invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// FINAL -> SENT (INVOICE_SENT).
    Send,
    /// -> VOIDED (INVOICE_VOIDED).
    Void,
}

impl Transition {
    fn apply(self, invoice: &mut Invoice) -> Result<()> {
        match self {
            Transition::Send => invoice.send(),
            Transition::Void => invoice.void(),
        }
    }

    fn event_type(self) -> EventType {
        match self {
            Transition::Send => EventType::InvoiceSent,
            Transition::Void => EventType::InvoiceVoided,
        }
    }
}

/// Applies a transition to a stored invoice, optimistically, with its event, and answers as
/// `respond` says.
pub async fn transition<S, R>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    transition: Transition,
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
        transition.apply(&mut updated)?;
        let answer = respond.answer(&updated)?;
        let event = invoice_event(transition.event_type(), &updated);
        store.replace_invoice(&updated, current.version, Some(&event), respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}

/// Finalizes a stored invoice with the account's next number, gapless under concurrency: the
/// number, the invoice and its INVOICE_FINALIZED event are written together or not at all.
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
        let event = invoice_event(EventType::InvoiceFinalized, &finalized);
        let receipt = respond.receipt(&answer);
        store.commit_finalized(&finalized, current.version, number, Some(&event), receipt.as_ref()).await?;
        Ok(answer)
    })
    .await
}
