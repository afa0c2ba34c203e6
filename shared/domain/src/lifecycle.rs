//! The invoice lifecycle (SPEC.md section 4): DRAFT -> FINAL -> SENT, and VOIDED from any of them.

use crate::{
    concurrency::retry_on_contention,
    idempotency::Respond,
    invoice::{self, Invoice, InvoiceStatus},
    ports::{InvoiceNumbering, InvoiceStore},
    Error, Result,
};
use chrono::NaiveDate;

/// The invoice number for the account's `n`-th finalized invoice.
pub fn invoice_number(n: u64) -> String {
    format!("INV-{n:06}")
}

fn refuse(invoice: &Invoice, action: &str, done: &str, allowed_from: &str) -> Error {
    Error::conflict(format!(
        "cannot {action} invoice {}: it is {}; only {allowed_from} invoices can be {done}",
        invoice.id,
        invoice.status.as_str()
    ))
}

impl Invoice {
    /// DRAFT -> FINAL, with its number and issue date.
    pub fn finalize(&mut self, number: u64, issue_date: NaiveDate) -> Result<(), Error> {
        if self.status != InvoiceStatus::Draft {
            return Err(refuse(self, "finalize", "finalized", "DRAFT"));
        }
        self.status = InvoiceStatus::Final;
        self.invoice_number = Some(invoice_number(number));
        self.issue_date = Some(issue_date);
        Ok(())
    }

    /// FINAL -> SENT.
    pub fn send(&mut self) -> Result<(), Error> {
        if self.status != InvoiceStatus::Final {
            return Err(refuse(self, "send", "sent", "FINAL"));
        }
        self.status = InvoiceStatus::Sent;
        Ok(())
    }

    /// DRAFT, FINAL or SENT -> VOIDED.
    pub fn void(&mut self) -> Result<(), Error> {
        match self.status {
            InvoiceStatus::Draft | InvoiceStatus::Final | InvoiceStatus::Sent => {
                self.status = InvoiceStatus::Voided;
                Ok(())
            }
            _ => Err(refuse(self, "void", "voided", "DRAFT, FINAL or SENT")),
        }
    }
}

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
        let current = store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))?;
        let mut updated = current.value;
        apply(&mut updated)?;
        let answer = respond.answer(&updated);
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
        let current = store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))?;
        let number =
            store.last_invoice_number(account_id).await?.checked_add(1).ok_or_else(|| {
                Error::internal(format!("account {account_id}: the invoice number counter is exhausted"))
            })?;
        let mut finalized = current.value;
        finalized.finalize(number, issue_date)?;
        let answer = respond.answer(&finalized);
        store.commit_finalized(&finalized, current.version, number, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::CreateInvoice;
    use chrono::Utc;
    use serde_json::json;

    fn draft() -> Invoice {
        let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
        Invoice::new_draft("inv".into(), "acct", request, Utc::now())
    }

    #[test]
    fn the_happy_path() {
        let mut invoice = draft();
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        invoice.finalize(7, day).unwrap();
        assert_eq!(
            (invoice.status, invoice.invoice_number.as_deref(), invoice.issue_date),
            (InvoiceStatus::Final, Some("INV-000007"), Some(day))
        );
        invoice.send().unwrap();
        assert_eq!(invoice.status, InvoiceStatus::Sent);
        invoice.void().unwrap();
        assert_eq!(invoice.status, InvoiceStatus::Voided);
    }

    #[test]
    fn other_transitions_are_conflicts() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let mut invoice = draft();
        assert_eq!(
            invoice.send().unwrap_err().public_message(),
            "cannot send invoice inv: it is DRAFT; only FINAL invoices can be sent"
        );
        invoice.finalize(1, day).unwrap();
        assert_eq!(
            invoice.finalize(2, day).unwrap_err().public_message(),
            "cannot finalize invoice inv: it is FINAL; only DRAFT invoices can be finalized"
        );
        invoice.void().unwrap();
        assert_eq!(
            invoice.void().unwrap_err().public_message(),
            "cannot void invoice inv: it is VOIDED; only DRAFT, FINAL or SENT invoices can be voided"
        );
        assert_eq!(invoice.invoice_number.as_deref(), Some("INV-000001"));
    }
}
