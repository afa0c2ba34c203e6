//! Invoices in Sequence's 2024-01-01 shape.

use crate::{currency::Currency, money, payments::RecordedPayment, Error};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceStatus {
    InProgress,
    Draft,
    Final,
    Sent,
    Voided,
}

impl InvoiceStatus {
    pub const ALL: &'static [InvoiceStatus] = &[
        InvoiceStatus::InProgress,
        InvoiceStatus::Draft,
        InvoiceStatus::Final,
        InvoiceStatus::Sent,
        InvoiceStatus::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::InProgress => "IN_PROGRESS",
            InvoiceStatus::Draft => "DRAFT",
            InvoiceStatus::Final => "FINAL",
            InvoiceStatus::Sent => "SENT",
            InvoiceStatus::Voided => "VOIDED",
        }
    }

    pub fn parse(value: &str) -> Option<InvoiceStatus> {
        Self::ALL.iter().copied().find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Unpaid,
    PartiallyPaid,
    Paid,
    Uncollectible,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentOption {
    BankTransfer,
    Link,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DunningStatus {
    Scheduled,
    OverdueCheckScheduled,
    Completed,
    Failed,
    NotRequired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerTaxStatus {
    Taxed,
    TaxExempt,
    ReverseCharged,
}

/// A postal address. Every line is optional; an address nobody gave is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataEntry {
    pub key: String,
    pub value: String,
}

/// A link from an invoice to its copy in an external service (SPEC.md section 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedService {
    pub external_service: String,
    pub external_id: String,
    pub sync_time: DateTime<Utc>,
    #[serde(default)]
    pub external_url: Option<String>,
}

/// The body of `POST /invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInvoice {
    pub billing_schedule_id: Option<String>,
    pub currency: Currency,
    pub due_date: Option<NaiveDate>,
    pub purchase_order_number: Option<String>,
    pub reference: Option<String>,
    pub customer_emails: Option<Vec<String>>,
    pub customer_legal_company_name: Option<String>,
    pub customer_billing_address: Option<Address>,
    pub customer_shipping_address: Option<Address>,
    pub memo: Option<String>,
    pub payment_options: Option<Vec<PaymentOption>>,
    pub billing_period: Option<BillingPeriod>,
    pub customer_id: String,
    pub metadata: Option<Vec<MetadataEntry>>,
    pub credit_balances: Option<String>,
    pub billing_run_id: Option<String>,
    pub accounting_date: Option<NaiveDate>,
}

/// A stored invoice, also its API representation: every field of the seed's response, optional ones
/// as `null` when unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    pub sequence_account_id: String,
    pub billing_schedule_id: Option<String>,
    pub billing_run_id: Option<String>,
    pub status: InvoiceStatus,
    pub currency: Currency,
    pub invoice_number: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub purchase_order_number: Option<String>,
    pub reference: Option<String>,
    pub customer_emails: Vec<String>,
    pub customer_legal_company_name: String,
    pub customer_billing_address: Address,
    pub customer_shipping_address: Address,
    pub memo: Option<String>,
    pub payment_options: Vec<PaymentOption>,
    pub billing_period: Option<BillingPeriod>,
    pub customer_id: String,
    pub total_tax: Decimal,
    pub net_total: Decimal,
    pub gross_total: Decimal,
    pub metadata: Vec<MetadataEntry>,
    pub customer_tax_id: Option<String>,
    pub payment_status: PaymentStatus,
    pub created_at: DateTime<Utc>,
    pub credit_note_ids: Vec<String>,
    pub linked_services: Vec<LinkedService>,
    pub merchant_details: Option<serde_json::Value>,
    pub credit_balances: Option<String>,
    pub dunning_status: Option<DunningStatus>,
    pub accounting_date: NaiveDate,
    pub calculated_at: Option<DateTime<Utc>>,
    pub customer_tax_status: Option<CustomerTaxStatus>,
    pub render_settings: serde_json::Map<String, serde_json::Value>,
    /// Payments recorded against the invoice (Slash's reconcile). Not part of Sequence's shape.
    #[serde(default)]
    pub payments: Vec<RecordedPayment>,
    /// When the invoice became paid or void. Not part of Sequence's shape.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// How many lines the invoice has, and how many bytes their titles take as JSON: both bounded,
    /// so that every answer showing all lines (Slash's aggregate) fits in a Lambda response.
    /// Not part of Sequence's shape.
    #[serde(default)]
    pub line_count: u32,
    #[serde(default)]
    pub line_title_bytes: u64,
}

/// Fields the stored invoice keeps that Sequence's invoice shape does not have.
const NOT_IN_SEQUENCE_SHAPE: [&str; 4] = ["payments", "closedAt", "lineCount", "lineTitleBytes"];

impl Invoice {
    /// The invoice in Sequence's shape (every field of the seed's response, and only those plus
    /// `billingRunId`).
    pub fn sequence_view(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("invoices serialize");
        if let Some(fields) = value.as_object_mut() {
            for field in NOT_IN_SEQUENCE_SHAPE {
                fields.remove(field);
            }
        }
        value
    }
}

/// The answer for an invoice id the account does not have (missing, or another account's).
pub fn not_found(invoice_id: &str) -> Error {
    Error::not_found(format!("no invoice with id {invoice_id}"))
}

const MAX_TEXT_LENGTH: usize = 1_000;
const MAX_MEMO_LENGTH: usize = 10_000;
const MAX_METADATA_KEY_LENGTH: usize = 100;
const MAX_METADATA_VALUE_LENGTH: usize = 250;
const MAX_LIST_LENGTH: usize = 100;

fn check_length(field: &str, value: Option<&String>, max: usize) -> Result<(), Error> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(Error::validation(format!("{field}: must be at most {max} characters")))
        }
        _ => Ok(()),
    }
}

impl Address {
    fn validate(&self, field: &str) -> Result<(), Error> {
        let lines = [
            ("line1", &self.line1),
            ("line2", &self.line2),
            ("town", &self.town),
            ("state", &self.state),
            ("postcode", &self.postcode),
            ("country", &self.country),
        ];
        for (name, value) in lines {
            check_length(&format!("{field}.{name}"), value.as_ref(), MAX_TEXT_LENGTH)?;
        }
        Ok(())
    }
}

impl CreateInvoice {
    /// Checks what the type system cannot: lengths (an invoice must fit one DynamoDB item), emails,
    /// periods.
    pub fn validate(&self) -> Result<(), Error> {
        if self.customer_id.trim().is_empty() {
            return Err(Error::validation("customerId: must not be empty"));
        }
        let texts = [
            ("customerId", Some(&self.customer_id)),
            ("billingScheduleId", self.billing_schedule_id.as_ref()),
            ("billingRunId", self.billing_run_id.as_ref()),
            ("purchaseOrderNumber", self.purchase_order_number.as_ref()),
            ("reference", self.reference.as_ref()),
            ("customerLegalCompanyName", self.customer_legal_company_name.as_ref()),
            ("creditBalances", self.credit_balances.as_ref()),
        ];
        for (field, value) in texts {
            check_length(field, value, MAX_TEXT_LENGTH)?;
        }
        check_length("memo", self.memo.as_ref(), MAX_MEMO_LENGTH)?;
        for (field, address) in [
            ("customerBillingAddress", &self.customer_billing_address),
            ("customerShippingAddress", &self.customer_shipping_address),
        ] {
            if let Some(address) = address {
                address.validate(field)?;
            }
        }
        let emails = self.customer_emails.as_deref().unwrap_or_default();
        if emails.len() > MAX_LIST_LENGTH {
            return Err(Error::validation(format!("customerEmails: at most {MAX_LIST_LENGTH} addresses")));
        }
        for (index, email) in emails.iter().enumerate() {
            if !is_plausible_email(email) {
                return Err(Error::validation(format!(
                    "customerEmails[{index}]: `{}` is not an email address",
                    email.chars().take(100).collect::<String>()
                )));
            }
        }
        let metadata = self.metadata.as_deref().unwrap_or_default();
        if metadata.len() > MAX_LIST_LENGTH {
            return Err(Error::validation(format!("metadata: at most {MAX_LIST_LENGTH} entries")));
        }
        for (index, entry) in metadata.iter().enumerate() {
            check_length(&format!("metadata[{index}].key"), Some(&entry.key), MAX_METADATA_KEY_LENGTH)?;
            check_length(&format!("metadata[{index}].value"), Some(&entry.value), MAX_METADATA_VALUE_LENGTH)?;
        }
        if let Some(period) = &self.billing_period {
            if period.end < period.start {
                return Err(Error::validation("billingPeriod: end must not be before start"));
            }
        }
        Ok(())
    }
}

fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Invoice {
    /// A new DRAFT invoice with no lines: all totals zero in the currency's minor units.
    pub fn new_draft(id: String, account_id: &str, request: CreateInvoice, now: DateTime<Utc>) -> Invoice {
        let zero = money::zero(request.currency);
        Invoice {
            id,
            sequence_account_id: account_id.to_string(),
            billing_schedule_id: request.billing_schedule_id,
            billing_run_id: request.billing_run_id,
            status: InvoiceStatus::Draft,
            currency: request.currency,
            invoice_number: None,
            issue_date: None,
            due_date: request.due_date,
            purchase_order_number: request.purchase_order_number,
            reference: request.reference,
            customer_emails: request.customer_emails.unwrap_or_default(),
            customer_legal_company_name: request.customer_legal_company_name.unwrap_or_default(),
            customer_billing_address: request.customer_billing_address.unwrap_or_default(),
            customer_shipping_address: request.customer_shipping_address.unwrap_or_default(),
            memo: request.memo,
            payment_options: request.payment_options.unwrap_or_default(),
            billing_period: request.billing_period,
            customer_id: request.customer_id,
            total_tax: zero,
            net_total: zero,
            gross_total: zero,
            metadata: request.metadata.unwrap_or_default(),
            customer_tax_id: None,
            payment_status: PaymentStatus::Unpaid,
            created_at: now,
            credit_note_ids: Vec::new(),
            linked_services: Vec::new(),
            merchant_details: None,
            credit_balances: request.credit_balances,
            dunning_status: None,
            accounting_date: request.accounting_date.unwrap_or(now.date_naive()),
            calculated_at: None,
            customer_tax_status: None,
            render_settings: serde_json::Map::new(),
            payments: Vec::new(),
            closed_at: None,
            line_count: 0,
            line_title_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: serde_json::Value) -> CreateInvoice {
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

    #[test]
    fn yen_totals_have_no_decimals() {
        let invoice =
            Invoice::new_draft("i".into(), "a", request(json!({"currency": "JPY", "customerId": "c"})), Utc::now());
        assert_eq!(serde_json::to_value(invoice.gross_total).unwrap(), json!("0"));
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (json!({"currency": "GBP", "customerId": " "}), "customerId: must not be empty"),
            (
                json!({"currency": "GBP", "customerId": "c", "customerEmails": ["a@b.co", "nope"]}),
                "customerEmails[1]: `nope` is not an email address",
            ),
            (
                json!({"currency": "GBP", "customerId": "c",
                       "billingPeriod": {"start": "2026-02-01", "end": "2026-01-01"}}),
                "billingPeriod: end must not be before start",
            ),
            (
                json!({"currency": "GBP", "customerId": "c",
                       "customerShippingAddress": {"town": "x".repeat(1001)}}),
                "customerShippingAddress.town: must be at most 1000 characters",
            ),
            (
                json!({"currency": "GBP", "customerId": "c",
                       "metadata": [{"key": "k", "value": "v"}, {"key": "k2", "value": "v".repeat(251)}]}),
                "metadata[1].value: must be at most 250 characters",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(request(body).validate().unwrap_err().public_message(), message);
        }
    }
}
