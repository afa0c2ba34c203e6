//! Reading an invoice's payments from Xero (SPEC.md section 9, pull): the invoice names its
//! payments, and each payment is read for its status, amount and date. Amounts are read digit for
//! digit from the JSON (never through a float).

use crate::{XeroClient, XeroError};
use chrono::{DateTime, NaiveDate, Utc};
use invoicing_domain::model::xero_pull::XeroPayment;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::str::FromStr;

#[derive(Deserialize)]
struct InvoicesAnswer {
    #[serde(rename = "Invoices", default)]
    invoices: Vec<InvoiceWithPayments>,
}

#[derive(Deserialize)]
struct InvoiceWithPayments {
    #[serde(rename = "Payments", default)]
    payments: Vec<PaymentRef>,
}

#[derive(Deserialize)]
struct PaymentRef {
    #[serde(rename = "PaymentID")]
    payment_id: String,
}

#[derive(Deserialize)]
struct PaymentsAnswer {
    #[serde(rename = "Payments", default)]
    payments: Vec<RawPayment>,
}

#[derive(Deserialize)]
struct RawPayment {
    #[serde(rename = "PaymentID")]
    payment_id: String,
    #[serde(rename = "Status", default)]
    status: String,
    #[serde(rename = "Amount")]
    amount: Box<RawValue>,
    #[serde(rename = "Date")]
    date: String,
}

/// Xero's `/Date(1732665600000+0000)/` (milliseconds since the epoch), or an ISO date or date and
/// time.
pub fn parse_xero_date(text: &str) -> Option<DateTime<Utc>> {
    if let Some(inner) = text.strip_prefix("/Date(").and_then(|t| t.strip_suffix(")/")) {
        let millis: String = inner.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
        return DateTime::from_timestamp_millis(millis.parse().ok()?);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc()))
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
        })
}

impl XeroClient {
    /// The payments of the Xero invoice (deleted ones included while Xero lists them), or `None`
    /// when the organisation has no such invoice.
    pub async fn invoice_payments(&self, xero_invoice_id: &str) -> Result<Option<Vec<XeroPayment>>, XeroError> {
        let url = self.api_url(&format!("Invoices/{xero_invoice_id}"));
        let answer = match self.authorized_get(&url, &[]).await {
            Ok(answer) => answer,
            Err(XeroError::Api { status: 404, .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let invoices: InvoicesAnswer =
            serde_json::from_str(&answer.body).map_err(|e| XeroError::Decode(format!("invoice: {e}")))?;
        let Some(invoice) = invoices.invoices.into_iter().next() else { return Ok(None) };
        let mut payments = Vec::with_capacity(invoice.payments.len());
        for reference in invoice.payments {
            let answer = self.authorized_get(&self.api_url(&format!("Payments/{}", reference.payment_id)), &[]).await?;
            let read: PaymentsAnswer =
                serde_json::from_str(&answer.body).map_err(|e| XeroError::Decode(format!("payment: {e}")))?;
            for raw in read.payments {
                let amount = Decimal::from_str(raw.amount.get())
                    .or_else(|_| Decimal::from_scientific(raw.amount.get()))
                    .map_err(|e| XeroError::Decode(format!("payment {} amount: {e}", raw.payment_id)))?;
                let date = parse_xero_date(&raw.date)
                    .ok_or_else(|| XeroError::Decode(format!("payment {} date: {}", raw.payment_id, raw.date)))?;
                payments.push(XeroPayment { payment_id: raw.payment_id, status: raw.status, amount, date });
            }
        }
        Ok(Some(payments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xero_dates_are_read_in_each_of_their_forms() {
        let expected = DateTime::parse_from_rfc3339("2024-11-27T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_xero_date("/Date(1732665600000+0000)/"), Some(expected));
        assert_eq!(parse_xero_date("2024-11-27T00:00:00"), Some(expected));
        assert_eq!(parse_xero_date("2024-11-27"), Some(expected));
        assert_eq!(parse_xero_date("soon"), None);
    }
}
