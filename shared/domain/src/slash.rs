//! Slash's invoice aggregate (`{invoice, invoiceDetails, invoiceAccount}`), built from the same
//! stored invoice as Sequence's shape.

use crate::{
    account::ReceivingAccount,
    concurrency::retry_on_contention,
    idempotency::Respond,
    invoice::{self, Invoice, PaymentOption},
    lines::{LineItem, Versioned},
    money,
    payments::{self, format_time, PaymentMethod, PaymentRequest, RecordedPayment, TransactionInput},
    ports::{InvoiceStore, LineItemStore, ReceivingAccounts},
    Error, Result,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::{prelude::ToPrimitive, Decimal, RoundingStrategy};
use serde_json::{json, Value};

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

pub fn aggregate(
    invoice: &Versioned<Invoice>,
    lines: &[LineItem],
    receiving: &ReceivingAccount,
    today: NaiveDate,
) -> Result<Value> {
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
    for line in lines {
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
            "status": invoice.slash_status(today),
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

/// Every line of an invoice, in creation order.
async fn all_lines<S: LineItemStore>(store: &S, account_id: &str, invoice_id: &str) -> Result<Vec<LineItem>> {
    let mut lines = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_line_items(account_id, invoice_id, 100, after.as_deref()).await?;
        lines.extend(page.items);
        match page.after {
            Some(next) => after = Some(next),
            None => return Ok(lines),
        }
    }
}

/// Loads what the aggregate shows besides the invoice (its lines, the receiving account) and builds it.
pub async fn load_aggregate<S: LineItemStore + ReceivingAccounts>(
    store: &S,
    account_id: &str,
    invoice: &Versioned<Invoice>,
    today: NaiveDate,
) -> Result<Value> {
    let lines = all_lines(store, account_id, &invoice.value.id).await?;
    let receiving = store.receiving_account(account_id).await?;
    aggregate(invoice, &lines, &receiving, today)
}

/// Slash's reconcile and unreconcile: checks the transactions, applies `change`
/// (`Invoice::record_payments` or `Invoice::remove_payments`) to the stored invoice, optimistically
/// (concurrent calls never lose a transaction), and answers the new aggregate as `respond` says.
/// Everything the aggregate shows is read and built before the invoice is written, so that
/// nothing can fail between the write and the answer.
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
    R: Respond<Value> + Sync,
    R::Answer: Send,
{
    let requests = payments::validate(transactions)?;
    retry_on_contention(|| async {
        let current = store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))?;
        let mut updated = current.value;
        change(&mut updated, &requests, now)?;
        let committed = Versioned { value: updated, version: current.version + 1 };
        let view = load_aggregate(store, account_id, &committed, now.date_naive()).await?;
        let answer = respond.answer(&view);
        store.replace_invoice(&committed.value, current.version, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}
