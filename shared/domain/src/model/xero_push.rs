//! What a finalized invoice becomes in Xero (SPEC.md section 9, push): an ACCREC invoice,
//! AUTHORISED, with our number and, line by line, exactly our net and tax, so that Xero's totals
//! are ours to the cent whatever its own rounding.

use crate::model::{
    invoice::{Invoice, InvoiceStatus, LinkedService, SyncStatus},
    lines::LineItem,
    reconcile::{xero_entry, XERO},
    webhooks::{EventType, OutboxEvent},
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The longest `lastError` kept on an invoice (Xero's validation messages are short; a long body
/// is cut so that the invoice item stays small).
pub const MAX_LAST_ERROR_CHARS: usize = 500;

/// Work for the push queue: bring one invoice's copy in Xero up to date with it. The worker reads
/// the invoice when the message arrives and does what its state then calls for (create, mark sent,
/// void), so that a repeated or reordered message changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroPushMessage {
    /// The invoice's account.
    pub account_id: String,
    /// The invoice.
    pub invoice_id: String,
}

/// The push an outbox event calls for: finalize, send and void do; payments never do, so that a
/// payment mirrored from Xero is never pushed back.
pub fn push_message(event: &OutboxEvent) -> Option<XeroPushMessage> {
    if !matches!(event.event_type, EventType::InvoiceFinalized | EventType::InvoiceSent | EventType::InvoiceVoided) {
        return None;
    }
    let body: serde_json::Value = serde_json::from_str(&event.body).ok()?;
    let invoice_id = body.pointer("/data/invoice/id")?.as_str()?;
    Some(XeroPushMessage { account_id: event.account_id.clone(), invoice_id: invoice_id.to_string() })
}

/// Records how the invoice's push stands in its Xero entry: the Xero invoice (kept from the entry
/// when `external_id` is none), the status and the error. `false` when nothing but the time would
/// change, so that the caller writes nothing.
pub fn record_push(
    invoice: &mut Invoice,
    external: Option<(&str, Option<&str>)>,
    status: SyncStatus,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> bool {
    let current = xero_entry(invoice).cloned();
    let (external_id, external_url) = match external {
        Some((id, url)) => (Some(id.to_string()), url.map(str::to_string)),
        None => current.as_ref().map(|c| (c.external_id.clone(), c.external_url.clone())).unwrap_or_default(),
    };
    let last_error = error.map(|e| e.chars().take(MAX_LAST_ERROR_CHARS).collect::<String>());
    let unchanged = current.as_ref().is_some_and(|c| {
        c.external_id == external_id
            && c.external_url == external_url
            && c.sync_status == Some(status)
            && c.last_error == last_error
    });
    if unchanged {
        return false;
    }
    invoice.linked_services.retain(|l| l.external_service != XERO);
    invoice.linked_services.push(LinkedService {
        external_service: XERO.into(),
        external_id,
        sync_time: now,
        external_url,
        sync_status: Some(status),
        last_error,
    });
    true
}

/// The most decimal places Xero keeps of a unit amount (with `unitdp=4`).
pub const XERO_UNIT_DECIMALS: u32 = 4;

/// One line as pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushLine {
    /// The line's title, its description, and when quantity and rate cannot be sent as such
    /// (see [`push_line`]), both written out.
    pub description: String,
    /// Sent as is when Xero's `Quantity x UnitAmount` is our net without rounding; else 1.
    pub quantity: Decimal,
    /// The rate, or the net when the quantity is 1 in its stead.
    pub unit_amount: Decimal,
    /// Our net, to the cent.
    pub line_amount: Decimal,
    /// Our tax, to the cent (Xero takes a given tax amount over its own calculation).
    pub tax_amount: Decimal,
    /// The sales account of the settings.
    pub account_code: String,
}

/// An invoice as pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushInvoice {
    /// Our invoice number.
    pub invoice_number: String,
    /// Our reference, else the purchase order number.
    pub reference: Option<String>,
    /// The issue date.
    pub date: NaiveDate,
    /// The due date.
    pub due_date: Option<NaiveDate>,
    /// ISO 4217 code.
    pub currency_code: &'static str,
    /// The lines, in our order.
    pub lines: Vec<PushLine>,
    /// Our net total (the sum of the lines' amounts).
    pub sub_total: Decimal,
    /// Our tax total (the sum of the lines' tax).
    pub total_tax: Decimal,
    /// Net plus tax.
    pub total: Decimal,
}

/// The line as Xero must see it. Quantity and rate go as they are only when their product has
/// at most two decimals and the rate at most four (then Xero computes exactly our net, with no
/// rounding of its own); otherwise the line goes as one unit of its net, and the description says
/// what was sold.
pub fn push_line(line: &LineItem, account_code: &str) -> PushLine {
    let product = line.quantity.checked_mul(line.rate);
    let exact = product.is_some_and(|p| p.normalize().scale() <= 2 && p == line.net_total)
        && line.rate.normalize().scale() <= XERO_UNIT_DECIMALS
        && line.quantity.normalize().scale() <= XERO_UNIT_DECIMALS;
    let mut description = match &line.description {
        Some(more) if !more.is_empty() => format!("{}\n{more}", line.title),
        _ => line.title.clone(),
    };
    let (quantity, unit_amount) = if exact {
        (line.quantity, line.rate)
    } else {
        description.push_str(&format!("\n{} x {}", line.quantity.normalize(), line.rate.normalize()));
        (Decimal::ONE, line.net_total)
    };
    PushLine {
        description,
        quantity,
        unit_amount,
        line_amount: line.net_total,
        tax_amount: line.total_tax,
        account_code: account_code.to_string(),
    }
}

/// The Xero invoice for a finalized (or sent) invoice and all its lines. An error, for the sync
/// status, when the invoice is not finalized or the lines do not add up to its totals (they
/// always do; a stored invoice that broke that rule must not reach the books).
pub fn push_invoice(invoice: &Invoice, lines: &[LineItem], account_code: &str) -> Result<PushInvoice, String> {
    if !matches!(invoice.status, InvoiceStatus::Final | InvoiceStatus::Sent) {
        return Err(format!("only finalized invoices are pushed; this one is {}", invoice.status.as_str()));
    }
    let (Some(number), Some(date)) = (&invoice.invoice_number, invoice.issue_date) else {
        return Err("a finalized invoice without a number or issue date".into());
    };
    let lines: Vec<PushLine> = lines.iter().map(|line| push_line(line, account_code)).collect();
    let sum = |amount: fn(&PushLine) -> Decimal| {
        lines.iter().try_fold(Decimal::ZERO, |total, line| total.checked_add(amount(line)))
    };
    if sum(|l| l.line_amount) != Some(invoice.net_total)
        || sum(|l| l.tax_amount) != Some(invoice.total_tax)
        || invoice.net_total.checked_add(invoice.total_tax) != Some(invoice.gross_total)
    {
        return Err(format!("the lines of invoice {number} do not add up to its totals"));
    }
    Ok(PushInvoice {
        invoice_number: number.clone(),
        reference: invoice.reference.clone().or_else(|| invoice.purchase_order_number.clone()),
        date,
        due_date: invoice.due_date,
        currency_code: invoice.currency.code(),
        lines,
        sub_total: invoice.net_total,
        total_tax: invoice.total_tax,
        total: invoice.gross_total,
    })
}

/// Xero's `Idempotency-Key` for one push of one invoice (`create`, `sent`, `void`): the same on
/// every retry of it, so that Xero answers a retry with the first result instead of acting again.
pub fn idempotency_key(account_id: &str, invoice_id: &str, action: &str) -> String {
    format!("{account_id}:{invoice_id}:{action}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{invoice::CreateInvoice, totals::RateDisplay};
    use chrono::Utc;
    use serde_json::json;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn line(quantity: &str, rate: &str, net: &str, tax: &str) -> LineItem {
        LineItem {
            id: "l".into(),
            invoice_id: "inv".into(),
            title: "Consulting".into(),
            description: None,
            quantity: d(quantity),
            rate: d(rate),
            tax_rate: d("0.2"),
            rate_display: RateDisplay::default(),
            group_id: None,
            external_ids: Vec::new(),
            service_period: None,
            net_total: d(net),
            total_tax: d(tax),
            gross_total: d(net) + d(tax),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn finalized(net: &str, tax: &str) -> Invoice {
        let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
        let mut invoice = Invoice::new_draft("inv".into(), "acct", request, Utc::now());
        invoice.status = InvoiceStatus::Final;
        invoice.invoice_number = Some("INV-000042".into());
        invoice.issue_date = NaiveDate::from_ymd_opt(2026, 11, 26);
        invoice.net_total = d(net);
        invoice.total_tax = d(tax);
        invoice.gross_total = d(net) + d(tax);
        invoice
    }

    #[test]
    fn exact_lines_go_as_quantity_and_rate() {
        let pushed = push_line(&line("3", "19.99", "59.97", "11.99"), "200");
        assert_eq!((pushed.quantity, pushed.unit_amount), (d("3"), d("19.99")));
        assert_eq!((pushed.line_amount, pushed.tax_amount), (d("59.97"), d("11.99")));
        assert_eq!(pushed.description, "Consulting");
        let four_places = push_line(&line("100", "0.0125", "1.25", "0.25"), "200");
        assert_eq!((four_places.quantity, four_places.unit_amount), (d("100"), d("0.0125")));
    }

    #[test]
    fn lines_xero_would_round_go_as_one_unit_of_our_net() {
        // 3 x 0.333 = 0.999, which we round to 1.00; Xero would keep its own rounding.
        let rounded = push_line(&line("3", "0.333", "1.00", "0.20"), "4000");
        assert_eq!((rounded.quantity, rounded.unit_amount, rounded.line_amount), (d("1"), d("1.00"), d("1.00")));
        assert_eq!(rounded.description, "Consulting\n3 x 0.333");
        assert_eq!(rounded.account_code, "4000");
        // A rate Xero cannot hold (five places), even when the product is exact.
        let fine_rate = push_line(&line("10", "0.00001", "0.00", "0.00"), "200");
        assert_eq!(fine_rate.quantity, d("1"));
    }

    #[test]
    fn a_finalized_invoice_is_pushed_with_our_totals_to_the_cent() {
        let lines = [line("3", "19.99", "59.97", "11.99"), line("3", "0.333", "1.00", "0.20")];
        let pushed = push_invoice(&finalized("60.97", "12.19"), &lines, "200").unwrap();
        assert_eq!(pushed.invoice_number, "INV-000042");
        assert_eq!((pushed.date.to_string(), pushed.currency_code), ("2026-11-26".into(), "GBP"));
        let net: Decimal = pushed.lines.iter().map(|l| l.line_amount).sum();
        let tax: Decimal = pushed.lines.iter().map(|l| l.tax_amount).sum();
        assert_eq!((net, tax), (d("60.97"), d("12.19")));
    }

    #[test]
    fn drafts_and_lines_that_do_not_add_up_are_not_pushed() {
        let lines = [line("3", "19.99", "59.97", "11.99")];
        let mut draft = finalized("59.97", "11.99");
        draft.status = InvoiceStatus::Draft;
        assert_eq!(
            push_invoice(&draft, &lines, "200").unwrap_err(),
            "only finalized invoices are pushed; this one is DRAFT"
        );
        assert_eq!(
            push_invoice(&finalized("59.98", "11.99"), &lines, "200").unwrap_err(),
            "the lines of invoice INV-000042 do not add up to its totals"
        );
    }

    #[test]
    fn a_retried_push_has_the_same_idempotency_key() {
        assert_eq!(idempotency_key("a", "i", "create"), idempotency_key("a", "i", "create"));
        assert_ne!(idempotency_key("a", "i", "create"), idempotency_key("a", "i", "void"));
    }

    fn outbox(event_type: EventType, invoice: &Invoice) -> OutboxEvent {
        let event = crate::model::webhooks::Event::new(event_type, Utc::now(), json!({ "invoice": invoice }));
        OutboxEvent::new("acct", &event)
    }

    #[test]
    fn finalize_send_and_void_are_pushed_and_payments_never_are() {
        let invoice = finalized("1.00", "0.20");
        let expected = XeroPushMessage { account_id: "acct".into(), invoice_id: "inv".into() };
        for pushed in [EventType::InvoiceFinalized, EventType::InvoiceSent, EventType::InvoiceVoided] {
            assert_eq!(push_message(&outbox(pushed, &invoice)), Some(expected.clone()), "{pushed:?}");
        }
        for not_pushed in [EventType::InvoiceCreated, EventType::InvoicePaymentStatusChanged] {
            assert_eq!(push_message(&outbox(not_pushed, &invoice)), None, "{not_pushed:?}");
        }
    }

    #[test]
    fn a_push_record_keeps_the_xero_invoice_and_writes_nothing_when_unchanged() {
        let mut invoice = finalized("1.00", "0.20");
        let now = Utc::now();
        assert!(record_push(&mut invoice, None, SyncStatus::Pending, Some("Xero unavailable"), now));
        let pending = xero_entry(&invoice).unwrap().clone();
        assert_eq!((pending.external_id, pending.sync_status), (None, Some(SyncStatus::Pending)));
        assert!(record_push(&mut invoice, Some(("x-1", Some("https://x/1"))), SyncStatus::Synced, None, now));
        assert!(!record_push(&mut invoice, None, SyncStatus::Synced, None, now));
        assert!(record_push(&mut invoice, None, SyncStatus::Failed, Some(&"e".repeat(600)), now));
        let failed = xero_entry(&invoice).unwrap();
        assert_eq!(failed.external_id.as_deref(), Some("x-1"));
        assert_eq!(failed.external_url.as_deref(), Some("https://x/1"));
        assert_eq!(failed.last_error.as_ref().map(String::len), Some(MAX_LAST_ERROR_CHARS));
        assert_eq!(invoice.linked_services.len(), 1);
    }
}
