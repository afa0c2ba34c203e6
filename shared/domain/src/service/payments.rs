//! Payments recorded against a stored invoice (Slash's reconcile and unreconcile), and what their
//! answer shows.

use super::{all_pages, concurrency::retry_on_contention, invoice_event, load_invoice};
use crate::{
    model::{
        invoice::Invoice,
        lines::LineItem,
        payments::{self, PaymentRequest, TransactionInput},
        webhooks::EventType,
        Versioned,
    },
    ports::{InvoiceStore, LineItemStore, ReceivingAccounts, Respond},
    views::slash::AggregateParts,
    Result,
};
use chrono::{DateTime, Utc};

/// Every line of an invoice, in creation order.
async fn all_lines<S: LineItemStore>(store: &S, account_id: &str, invoice_id: &str) -> Result<Vec<LineItem>> {
    all_pages(|after| async move { store.list_line_items(account_id, invoice_id, 100, after.as_deref()).await }).await
}

/// What Slash's aggregate of `invoice` shows besides the invoice: its lines, the receiving account.
pub async fn aggregate_parts<S: LineItemStore + ReceivingAccounts>(
    store: &S,
    account_id: &str,
    invoice: Versioned<Invoice>,
) -> Result<AggregateParts> {
    let lines = all_lines(store, account_id, &invoice.value.id).await?;
    let receiving = store.receiving_account(account_id).await?;
    Ok(AggregateParts { invoice, lines, receiving })
}

/// Slash's reconcile and unreconcile: checks the transactions, applies `change`
/// (`Invoice::record_payments` or `Invoice::remove_payments`) to the stored invoice, optimistically
/// (concurrent calls never lose a transaction), and answers with what the new aggregate shows as
/// `respond` says. Everything the answer shows is read, and the answer built, before the invoice
/// is written, so that nothing can fail between the write and the answer. A change of the
/// invoice's `paymentStatus` commits its INVOICE_PAYMENT_STATUS_CHANGED event with it.
pub async fn change_payments_and_show<S, R>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    transactions: Vec<TransactionInput>,
    now: DateTime<Utc>,
    change: fn(&mut Invoice, &[PaymentRequest], DateTime<Utc>) -> Result<()>,
    respond: &R,
) -> Result<R::Answer>
where
    S: InvoiceStore + LineItemStore + ReceivingAccounts,
    R: Respond<AggregateParts> + Sync,
    R::Answer: Send,
{
    let requests = payments::validate(transactions)?;
    retry_on_contention(|| async {
        let current = load_invoice(store, account_id, invoice_id).await?;
        let status_before = current.value.payment_status;
        let mut updated = current.value;
        change(&mut updated, &requests, now)?;
        let event = (updated.payment_status != status_before)
            .then(|| invoice_event(EventType::InvoicePaymentStatusChanged, &updated));
        let committed = Versioned { value: updated, version: current.version.saturating_add(1) };
        let parts = aggregate_parts(store, account_id, committed).await?;
        let answer = respond.answer(&parts)?;
        let receipt = respond.receipt(&answer);
        store.replace_invoice(&parts.invoice.value, current.version, event.as_ref(), receipt.as_ref()).await?;
        Ok(answer)
    })
    .await
}
