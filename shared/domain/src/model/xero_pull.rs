//! Mirroring Xero's payments (SPEC.md section 9, pull): a signed webhook names invoices of an
//! organisation that changed; for each one this account pushed, the worker reads its payments from
//! Xero and records them here as external payments of method `xero`, one per Xero payment (its id
//! in the method's config), removing those Xero deleted. Applying the same state twice changes
//! nothing, so duplicated and reordered webhooks are harmless.

use crate::model::{
    currency::Currency,
    money,
    payments::{PaymentMethod, PaymentRequest},
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The payment method of payments mirrored from Xero.
pub const XERO_PAYMENT_METHOD: &str = "xero";

/// Work for the pull queue: read this Xero invoice's payments and mirror them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroPullMessage {
    /// The account that pulls the organisation's payments.
    pub account_id: String,
    /// The organisation.
    pub tenant_id: String,
    /// The Xero invoice that changed.
    pub xero_invoice_id: String,
}

/// A payment as Xero holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XeroPayment {
    /// `PaymentID`.
    pub payment_id: String,
    /// `Status`: `AUTHORISED`, or `DELETED` once removed.
    pub status: String,
    /// `Amount`, in the invoice's currency.
    pub amount: Decimal,
    /// `Date`.
    pub date: DateTime<Utc>,
}

/// The external payments that stand for Xero's live payments of an invoice in `currency`: one per
/// AUTHORISED payment, amount in minor units, `paidAt` Xero's date, the Xero id in the method's
/// config. An amount that is not a whole number of minor units, or not positive, is an error.
pub fn mirrored_payments(payments: &[XeroPayment], currency: Currency) -> Result<Vec<PaymentRequest>, String> {
    payments
        .iter()
        .filter(|p| p.status == "AUTHORISED")
        .map(|p| {
            let exact = p.amount.normalize().scale() <= currency.minor_units();
            let cents = money::bounded_minor_units(p.amount, currency.minor_units())
                .ok()
                .filter(|c| exact && *c > 0)
                .ok_or_else(|| {
                format!("Xero payment {} has an amount we cannot record: {}", p.payment_id, p.amount)
            })?;
            let mut config = serde_json::Map::new();
            config.insert("paymentId".into(), serde_json::Value::String(p.payment_id.clone()));
            Ok(PaymentRequest {
                payment_method: PaymentMethod::Configured { method: XERO_PAYMENT_METHOD.into(), config },
                paid_at: p.date,
                amount_cents: Some(cents),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invoice::{CreateInvoice, Invoice, InvoiceStatus, PaymentStatus};
    use serde_json::json;
    use std::str::FromStr;

    fn payment(id: &str, status: &str, amount: &str) -> XeroPayment {
        XeroPayment {
            payment_id: id.into(),
            status: status.into(),
            amount: Decimal::from_str(amount).unwrap(),
            date: DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z").unwrap().with_timezone(&Utc),
        }
    }

    fn finalized_gbp(gross: &str) -> Invoice {
        let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
        let mut invoice = Invoice::new_draft("inv".into(), "acct", request, Utc::now());
        invoice.status = InvoiceStatus::Final;
        invoice.gross_total = Decimal::from_str(gross).unwrap();
        invoice.net_total = invoice.gross_total;
        invoice
    }

    #[test]
    fn live_xero_payments_become_external_payments_in_minor_units() {
        let mirrored =
            mirrored_payments(&[payment("p1", "AUTHORISED", "73.16"), payment("p2", "DELETED", "5")], Currency::GBP)
                .unwrap();
        assert_eq!(mirrored.len(), 1);
        assert_eq!(mirrored[0].amount_cents, Some(7316));
        assert_eq!(mirrored[0].payment_method.method(), "xero");
        let yen = mirrored_payments(&[payment("p", "AUTHORISED", "1000")], Currency::JPY).unwrap();
        assert_eq!(yen[0].amount_cents, Some(1000));
        assert!(mirrored_payments(&[payment("p", "AUTHORISED", "0.001")], Currency::GBP).is_err());
    }

    #[test]
    fn mirroring_follows_xero_and_a_repeat_changes_nothing() {
        let mut invoice = finalized_gbp("73.16");
        let now = Utc::now();
        let paid = mirrored_payments(&[payment("p1", "AUTHORISED", "73.16")], Currency::GBP).unwrap();
        assert!(invoice.mirror_payments(XERO_PAYMENT_METHOD, &paid, now).unwrap());
        assert_eq!(invoice.payment_status, PaymentStatus::Paid);
        assert!(!invoice.mirror_payments(XERO_PAYMENT_METHOD, &paid, now).unwrap(), "the same state again");
        // Xero deleted the payment.
        let deleted = mirrored_payments(&[payment("p1", "DELETED", "73.16")], Currency::GBP).unwrap();
        assert!(invoice.mirror_payments(XERO_PAYMENT_METHOD, &deleted, now).unwrap());
        assert_eq!((invoice.payment_status, invoice.payments.len()), (PaymentStatus::Unpaid, 0));
        // Two part payments, one at a time, then both.
        let first = mirrored_payments(&[payment("p2", "AUTHORISED", "50")], Currency::GBP).unwrap();
        assert!(invoice.mirror_payments(XERO_PAYMENT_METHOD, &first, now).unwrap());
        assert_eq!(invoice.payment_status, PaymentStatus::PartiallyPaid);
        let both = mirrored_payments(
            &[payment("p2", "AUTHORISED", "50"), payment("p3", "AUTHORISED", "23.16")],
            Currency::GBP,
        )
        .unwrap();
        assert!(invoice.mirror_payments(XERO_PAYMENT_METHOD, &both, now).unwrap());
        assert_eq!((invoice.payment_status, invoice.payments.len()), (PaymentStatus::Paid, 2));
    }
}
