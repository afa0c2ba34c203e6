//! Slash's invoice aggregate (`{invoice, invoiceDetails, invoiceAccount}`), built from the same
//! stored invoice as Sequence's shape.

use crate::{
    model::{
        account::ReceivingAccount,
        invoice::{Invoice, InvoiceStatus, PaymentOption, PaymentStatus},
        lines::LineItem,
        money,
        payments::{format_time, PaymentMethod, RecordedPayment},
        Versioned,
    },
    Error, Result,
};
use chrono::{NaiveDate, NaiveTime};
use rust_decimal::{prelude::ToPrimitive, Decimal, RoundingStrategy};
use serde::Serialize;
use serde_json::{json, Value};

/// The Slash status of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SlashStatus {
    /// DRAFT (or IN_PROGRESS).
    Draft,
    /// Owed, not yet due (or without a due date).
    Unpaid,
    /// Owed past its due date.
    Overdue,
    /// Collected in full.
    Paid,
    /// VOIDED.
    Void,
}

/// An invoice's Slash status on `today` (UTC).
pub fn status(invoice: &Invoice, today: NaiveDate) -> SlashStatus {
    match invoice.status {
        InvoiceStatus::Voided => SlashStatus::Void,
        InvoiceStatus::Draft | InvoiceStatus::InProgress => SlashStatus::Draft,
        _ if invoice.payment_status == PaymentStatus::Paid => SlashStatus::Paid,
        _ if invoice.due_date.is_some_and(|due| due < today) => SlashStatus::Overdue,
        _ => SlashStatus::Unpaid,
    }
}

/// What the aggregate shows: the invoice (as committed), its lines and the receiving account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateParts {
    /// The invoice with the version it has (or will have once the change commits).
    pub invoice: Versioned<Invoice>,
    /// Every line, in creation order.
    pub lines: Vec<LineItem>,
    /// The bank account the invoice is paid into.
    pub receiving: ReceivingAccount,
}

/// Slash's transaction shape.
fn transaction(payment: &RecordedPayment) -> Value {
    json!({
        "transactionType": payment.transaction_type,
        "transaction": {
            "paymentMethod": payment.payment_method,
            "paidAt": format_time(&payment.paid_at),
            "amountCents": payment.amount_cents,
        }
    })
}

fn payment_method(option: &PaymentOption) -> PaymentMethod {
    let method = match option {
        PaymentOption::BankTransfer => "inbound_ach_transfer",
        PaymentOption::Link => "card",
    };
    let mut config = serde_json::Map::new();
    config.insert("passFeeToPayer".into(), Value::Bool(false));
    PaymentMethod::Configured { method: method.into(), config }
}

/// A decimal as a JSON number: exact when whole, otherwise the nearest double (display only).
fn number(value: Decimal) -> Value {
    if value.fract().is_zero() {
        if let Some(whole) = value.to_i64() {
            return json!(whole);
        }
    }
    json!(value.to_f64().unwrap_or(0.0))
}

fn midnight(date: Option<NaiveDate>) -> Value {
    date.map(|d| Value::String(format_time(&d.and_time(NaiveTime::MIN).and_utc()))).unwrap_or(Value::Null)
}

/// An amount the view shows in minor units; amounts beyond the bounds (only an invoice stored
/// before they were checked can hold them) make the view a clear error rather than a wrong number.
fn cents(invoice: &Invoice, amount: Decimal) -> Result<i64> {
    money::bounded_minor_units(amount, invoice.currency.minor_units()).map_err(|_| unshowable(invoice))
}

fn unshowable(invoice: &Invoice) -> Error {
    Error::unreadable(
        format!("invoice {} holds amounts beyond what Slash's view can show", invoice.id),
        format!("invoice {} of account {}: amounts out of range", invoice.id, invoice.sequence_account_id),
    )
}

/// The aggregate of `parts` on `today` (UTC); a clear error for amounts it cannot show in cents.
pub fn aggregate(parts: &AggregateParts, today: NaiveDate) -> Result<Value> {
    let AggregateParts { invoice, lines, receiving } = parts;
    let version = invoice.version;
    let invoice = &invoice.value;
    let places = invoice.currency.minor_units();
    let tax_percent = if invoice.net_total.is_zero() {
        Decimal::ZERO
    } else {
        invoice
            .total_tax
            .checked_div(invoice.net_total)
            .and_then(|ratio| ratio.checked_mul(Decimal::ONE_HUNDRED))
            .map(|percent| percent.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
            .ok_or_else(|| unshowable(invoice))?
    };
    let mut line_items = Vec::with_capacity(lines.len());
    for line in lines.iter() {
        line_items.push(json!({
            "name": line.title,
            "quantity": number(line.quantity),
            "priceCents": cents(invoice, money::round_to_places(line.rate, places))?,
        }));
    }
    let address = &invoice.customer_billing_address;
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    Ok(json!({
        "invoice": {
            "id": invoice.id,
            "status": status(invoice, today),
            "collectedAmountCents": invoice.collected_amount_cents().ok_or_else(|| unshowable(invoice))?,
            "invoiceDetailsId": invoice.id,
            "accountId": invoice.sequence_account_id,
            "legalEntityContactId": invoice.customer_id,
            "invoiceTransactions": invoice.payments.iter().map(transaction).collect::<Vec<_>>(),
            "invoicePaymentMethods": invoice.payment_options.iter().map(payment_method).collect::<Vec<_>>(),
            "closedAt": invoice.closed_at.as_ref().map(format_time),
        },
        "invoiceDetails": {
            "id": invoice.id,
            "issuedAt": midnight(invoice.issue_date),
            "dueAt": midnight(invoice.due_date),
            "invoiceTz": "UTC",
            "currency": invoice.currency,
            "lineItemsAndTotals": {
                "lineItems": line_items,
                "subtotalCents": cents(invoice, invoice.net_total)?,
                "totalAmountCents": cents(invoice, invoice.gross_total)?,
                "discount": {"type": "percentage", "percent": 0},
                "tax": {"type": "percentage", "percent": number(tax_percent)},
            },
            "invoiceNumber": invoice.invoice_number,
            "documentId": invoice.id,
            "billedTo": {
                "name": invoice.customer_legal_company_name,
                "email": invoice.customer_emails.first().cloned().unwrap_or_default(),
                "address": {
                    "addressLine": text(&address.line1),
                    "addressCity": text(&address.town),
                    "addressState": text(&address.state),
                    "addressZip": text(&address.postcode),
                    "addressLine2": text(&address.line2),
                    "addressCountry": text(&address.country),
                },
                "ccEmails": invoice.customer_emails.iter().skip(1).collect::<Vec<_>>(),
            },
            "version": version,
            "memo": invoice.memo,
        },
        "invoiceAccount": {
            "id": receiving.id,
            "name": receiving.name,
            "slashAccountGroupId": receiving.slash_account_group_id,
            "accountType": receiving.account_type,
            "accountNumber": receiving.masked_account_number(),
            "routingNumber": receiving.routing_number,
            "closedAt": Value::Null,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invoice::CreateInvoice;
    use chrono::Utc;
    use serde_json::json;

    #[test]
    fn statuses_follow_the_invoice_its_payments_and_its_due_date() {
        let request: CreateInvoice =
            serde_json::from_value(json!({"currency": "USD", "customerId": "c", "dueDate": "2026-12-01"})).unwrap();
        let mut invoice = Invoice::new_draft("inv".into(), "acct", request, Utc::now());
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let later = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(status(&invoice, today), SlashStatus::Draft);
        invoice.status = InvoiceStatus::Final;
        assert_eq!((status(&invoice, today), status(&invoice, later)), (SlashStatus::Unpaid, SlashStatus::Overdue));
        invoice.payment_status = PaymentStatus::PartiallyPaid;
        assert_eq!(status(&invoice, later), SlashStatus::Overdue);
        invoice.payment_status = PaymentStatus::Paid;
        assert_eq!(status(&invoice, later), SlashStatus::Paid);
        invoice.status = InvoiceStatus::Voided;
        assert_eq!(status(&invoice, today), SlashStatus::Void);
    }
}
