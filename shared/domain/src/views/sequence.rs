//! Sequence's invoice shape (2024-01-01): every field of the seed's response, and only those plus
//! `billingRunId`.

use crate::model::invoice::Invoice;
use serde_json::Value;

/// Fields the stored invoice keeps that Sequence's invoice shape does not have.
const NOT_IN_SEQUENCE_SHAPE: [&str; 4] = ["payments", "closedAt", "lineCount", "lineTitleBytes"];

/// An invoice in Sequence's shape.
pub trait SequenceView {
    /// The JSON of Sequence's invoice.
    fn sequence_view(&self) -> Value;
}

impl SequenceView for Invoice {
    fn sequence_view(&self) -> Value {
        // Cannot fail: every field serializes, and every map has string keys.
        let mut value = serde_json::to_value(self).expect("invoices serialize");
        if let Some(fields) = value.as_object_mut() {
            for field in NOT_IN_SEQUENCE_SHAPE {
                fields.remove(field);
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invoice::CreateInvoice;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn request(body: Value) -> CreateInvoice {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_minimal_draft_has_every_field_and_zero_totals() {
        let now: DateTime<Utc> = "2026-11-25T07:00:00.123Z".parse().unwrap();
        let invoice = Invoice::new_draft(
            "inv-1".into(),
            "acct-1",
            request(json!({"currency": "GBP", "customerId": "cust-1"})),
            now,
        );
        let body = invoice.sequence_view();
        assert_eq!(
            body,
            json!({
                "id": "inv-1", "sequenceAccountId": "acct-1", "billingScheduleId": null,
                "billingRunId": null, "status": "DRAFT", "currency": "GBP", "invoiceNumber": null,
                "issueDate": null, "dueDate": null, "purchaseOrderNumber": null, "reference": null,
                "customerEmails": [], "customerLegalCompanyName": "", "customerBillingAddress": {},
                "customerShippingAddress": {}, "memo": null, "paymentOptions": [], "billingPeriod": null,
                "customerId": "cust-1", "totalTax": "0.00", "netTotal": "0.00", "grossTotal": "0.00",
                "metadata": [], "customerTaxId": null, "paymentStatus": "UNPAID",
                "createdAt": "2026-11-25T07:00:00.123Z", "creditNoteIds": [], "linkedServices": [],
                "merchantDetails": null, "creditBalances": null, "dunningStatus": null,
                "accountingDate": "2026-11-25", "calculatedAt": null, "customerTaxStatus": null,
                "renderSettings": {}
            })
        );
    }
}
