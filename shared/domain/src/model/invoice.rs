//! Invoices in Sequence's 2024-01-01 shape.

use super::{
    currency::Currency,
    error::{Error, Result},
    money::{self, MAX_MINOR_UNITS},
    payments::{format_time, PaymentRequest, RecordedPayment, TransactionType, MAX_PAYMENTS_PER_INVOICE},
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Where an invoice is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceStatus {
    /// Being built by a billing run (not compared by reconcile).
    InProgress,
    /// Editable; no number yet.
    Draft,
    /// Numbered and owed; lines are frozen.
    Final,
    /// Sent to the customer.
    Sent,
    /// Cancelled.
    Voided,
}

impl InvoiceStatus {
    /// Every status.
    pub const ALL: &'static [InvoiceStatus] = &[
        InvoiceStatus::InProgress,
        InvoiceStatus::Draft,
        InvoiceStatus::Final,
        InvoiceStatus::Sent,
        InvoiceStatus::Voided,
    ];

    /// The API's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::InProgress => "IN_PROGRESS",
            InvoiceStatus::Draft => "DRAFT",
            InvoiceStatus::Final => "FINAL",
            InvoiceStatus::Sent => "SENT",
            InvoiceStatus::Voided => "VOIDED",
        }
    }

    /// The status with this API name.
    pub fn parse(value: &str) -> Option<InvoiceStatus> {
        Self::ALL.iter().copied().find(|s| s.as_str() == value)
    }
}

/// Sequence's payment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Nothing collected.
    Unpaid,
    /// Something collected, less than the gross total.
    PartiallyPaid,
    /// Collected in full.
    Paid,
    /// Written off.
    Uncollectible,
}

/// How the customer may pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentOption {
    /// By bank transfer.
    BankTransfer,
    /// By a payment link (card).
    Link,
}

/// Sequence's dunning status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DunningStatus {
    /// Reminders are scheduled.
    Scheduled,
    /// An overdue check is scheduled.
    OverdueCheckScheduled,
    /// Dunning finished.
    Completed,
    /// Dunning failed.
    Failed,
    /// No dunning needed.
    NotRequired,
}

/// How the customer is taxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerTaxStatus {
    /// Taxed normally.
    Taxed,
    /// Exempt.
    TaxExempt,
    /// Reverse charged.
    ReverseCharged,
}

/// A postal address. Every line is optional; an address nobody gave is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// First line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    /// Second line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// Town or city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town: Option<String>,
    /// State or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// The period an invoice bills for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingPeriod {
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
}

/// A key and value the client attaches to an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A link from an invoice to its copy in an external service (docs/contract.md, section 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedService {
    /// The service (`Xero`).
    pub external_service: String,
    /// The invoice's id there; none while a push that has not created it yet is pending or failed.
    pub external_id: Option<String>,
    /// When the link was made or last confirmed.
    pub sync_time: DateTime<Utc>,
    /// Where to see it there.
    #[serde(default)]
    pub external_url: Option<String>,
    /// How the push of the invoice to the service stands (SPEC.md section 9); none for a link
    /// that reconcile found rather than a push made.
    #[serde(default)]
    pub sync_status: Option<SyncStatus>,
    /// Why the last push attempt failed, while it is PENDING again or FAILED.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl LinkedService {
    /// The link names this invoice of the service.
    pub fn names(&self, external_id: &str) -> bool {
        self.external_id.as_deref() == Some(external_id)
    }
}

/// How an invoice's push to its integration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncStatus {
    /// Queued, or failed and to be tried again.
    Pending,
    /// The integration has the invoice as it is here.
    Synced,
    /// Given up: `lastError` says why; `POST /invoices/{invoiceId}/sync-to-integration` tries again.
    Failed,
}

/// The body of `POST /invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInvoice {
    /// The billing schedule that produced the invoice.
    pub billing_schedule_id: Option<String>,
    /// The invoice's currency.
    pub currency: Currency,
    /// When payment is due.
    pub due_date: Option<NaiveDate>,
    /// The customer's purchase order number.
    pub purchase_order_number: Option<String>,
    /// A reference of the client's.
    pub reference: Option<String>,
    /// Where the invoice is sent.
    pub customer_emails: Option<Vec<String>>,
    /// The customer's legal name.
    pub customer_legal_company_name: Option<String>,
    /// Where the customer is billed.
    pub customer_billing_address: Option<Address>,
    /// Where goods are shipped.
    pub customer_shipping_address: Option<Address>,
    /// A note printed on the invoice.
    pub memo: Option<String>,
    /// How the customer may pay.
    pub payment_options: Option<Vec<PaymentOption>>,
    /// The period billed for.
    pub billing_period: Option<BillingPeriod>,
    /// The customer (required).
    pub customer_id: String,
    /// The client's key-value pairs.
    pub metadata: Option<Vec<MetadataEntry>>,
    /// Credit balances applied, as the client gives them.
    pub credit_balances: Option<String>,
    /// The billing run that produced the invoice.
    pub billing_run_id: Option<String>,
    /// The accounting date; the creation date when absent.
    pub accounting_date: Option<NaiveDate>,
}

/// A stored invoice, also its API representation: every field of the seed's response, optional ones
/// as `null` when unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    /// Its id (a UUID v7, so ids sort by creation).
    pub id: String,
    /// The account it belongs to.
    pub sequence_account_id: String,
    /// The billing schedule that produced it.
    pub billing_schedule_id: Option<String>,
    /// The billing run that produced it.
    pub billing_run_id: Option<String>,
    /// Where it is in its lifecycle.
    pub status: InvoiceStatus,
    /// Its currency.
    pub currency: Currency,
    /// `INV-000001`..., from finalize on.
    pub invoice_number: Option<String>,
    /// The finalize day.
    pub issue_date: Option<NaiveDate>,
    /// When payment is due.
    pub due_date: Option<NaiveDate>,
    /// The customer's purchase order number.
    pub purchase_order_number: Option<String>,
    /// A reference of the client's.
    pub reference: Option<String>,
    /// Where it is sent.
    pub customer_emails: Vec<String>,
    /// The customer's legal name.
    pub customer_legal_company_name: String,
    /// Where the customer is billed.
    pub customer_billing_address: Address,
    /// Where goods are shipped.
    pub customer_shipping_address: Address,
    /// A note printed on it.
    pub memo: Option<String>,
    /// How the customer may pay.
    pub payment_options: Vec<PaymentOption>,
    /// The period billed for.
    pub billing_period: Option<BillingPeriod>,
    /// The customer.
    pub customer_id: String,
    /// Sum of the lines' rounded tax.
    pub total_tax: Decimal,
    /// Sum of the lines' rounded net.
    pub net_total: Decimal,
    /// Net plus tax.
    pub gross_total: Decimal,
    /// The client's key-value pairs.
    pub metadata: Vec<MetadataEntry>,
    /// The customer's tax id.
    pub customer_tax_id: Option<String>,
    /// Follows the payments recorded.
    pub payment_status: PaymentStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Credit notes against it.
    pub credit_note_ids: Vec<String>,
    /// Its copies in other services.
    pub linked_services: Vec<LinkedService>,
    /// Sequence's merchant details (not set by this API).
    pub merchant_details: Option<serde_json::Value>,
    /// Credit balances applied.
    pub credit_balances: Option<String>,
    /// Sequence's dunning status (not set by this API).
    pub dunning_status: Option<DunningStatus>,
    /// The accounting date.
    pub accounting_date: NaiveDate,
    /// Sequence's calculation time (not set by this API).
    pub calculated_at: Option<DateTime<Utc>>,
    /// How the customer is taxed.
    pub customer_tax_status: Option<CustomerTaxStatus>,
    /// Sequence's render settings (empty).
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
    /// See `line_count`.
    #[serde(default)]
    pub line_title_bytes: u64,
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

// The lifecycle: DRAFT -> FINAL -> SENT, and VOIDED from any of them.

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

// Payments recorded against the invoice (Slash's reconcile and unreconcile).

/// An invoice's amounts beyond what can be shown in minor units: only an invoice stored before
/// the bounds were checked can hold them.
fn amounts_out_of_range(invoice: &Invoice) -> Error {
    Error::unreadable(
        format!("invoice {} holds amounts beyond {MAX_MINOR_UNITS} minor units; it cannot take payments", invoice.id),
        format!("invoice {} of account {}: amounts out of range", invoice.id, invoice.sequence_account_id),
    )
}

impl Invoice {
    /// The gross total in minor units; `None` beyond [`MAX_MINOR_UNITS`] (never for an invoice
    /// whose lines were checked when they arrived).
    pub fn gross_total_cents(&self) -> Option<i64> {
        money::bounded_minor_units(self.gross_total, self.currency.minor_units()).ok()
    }

    /// The sum of recorded transactions; `None` if it overflows (each is bounded, and their count,
    /// so it never does for transactions recorded through the API).
    pub fn collected_amount_cents(&self) -> Option<i64> {
        self.payments.iter().try_fold(0i64, |sum, p| sum.checked_add(p.amount_cents))
    }

    fn refresh_payment_state(&mut self, now: DateTime<Utc>) -> Result<()> {
        let collected = self.collected_amount_cents().ok_or_else(|| amounts_out_of_range(self))?;
        let gross = self.gross_total_cents().ok_or_else(|| amounts_out_of_range(self))?;
        self.payment_status = if collected > 0 && collected >= gross {
            PaymentStatus::Paid
        } else if collected > 0 {
            PaymentStatus::PartiallyPaid
        } else {
            PaymentStatus::Unpaid
        };
        self.closed_at = match self.payment_status {
            PaymentStatus::Paid => self.closed_at.or(Some(now)),
            _ => None,
        };
        Ok(())
    }

    fn ensure_payable(&self) -> Result<()> {
        match self.status {
            InvoiceStatus::Final | InvoiceStatus::Sent => Ok(()),
            InvoiceStatus::Voided => Err(Error::conflict(format!("invoice {} is void: it takes no payments", self.id))),
            _ => Err(Error::conflict(format!(
                "invoice {} is {}: finalize it before recording payments",
                self.id,
                self.status.as_str()
            ))),
        }
    }

    /// Makes the payments recorded with `method` exactly `wanted` (each with its amount): those
    /// already recorded stay as they are, the others are removed, the missing ones added. Payments
    /// of other methods are untouched. `false` when nothing changes (a repeated mirror).
    pub fn mirror_payments(&mut self, method: &str, wanted: &[PaymentRequest], now: DateTime<Utc>) -> Result<bool> {
        let same = |recorded: &RecordedPayment, request: &PaymentRequest| {
            recorded.payment_method == request.payment_method
                && recorded.paid_at == request.paid_at
                && Some(recorded.amount_cents) == request.amount_cents
        };
        let kept = self
            .payments
            .iter()
            .filter(|p| p.payment_method.method() != method || wanted.iter().any(|w| same(p, w)))
            .count();
        let missing: Vec<PaymentRequest> =
            wanted.iter().filter(|w| !self.payments.iter().any(|p| same(p, w))).cloned().collect();
        if kept == self.payments.len() && missing.is_empty() {
            return Ok(false);
        }
        if self.status == InvoiceStatus::Voided {
            return Err(Error::conflict(format!("invoice {} is void: its payments cannot change", self.id)));
        }
        self.payments.retain(|p| p.payment_method.method() != method || wanted.iter().any(|w| same(p, w)));
        if missing.is_empty() {
            self.refresh_payment_state(now)?;
        } else {
            self.record_payments(&missing, now)?;
        }
        Ok(true)
    }

    /// Records payments; a transaction without `amountCents` pays the outstanding balance.
    pub fn record_payments(&mut self, requests: &[PaymentRequest], now: DateTime<Utc>) -> Result<()> {
        self.ensure_payable()?;
        if self.payments.len() + requests.len() > MAX_PAYMENTS_PER_INVOICE {
            return Err(Error::conflict(format!(
                "invoice {} has {} recorded transactions; an invoice records at most {MAX_PAYMENTS_PER_INVOICE}",
                self.id,
                self.payments.len()
            )));
        }
        let gross = self.gross_total_cents().ok_or_else(|| amounts_out_of_range(self))?;
        let mut collected = self.collected_amount_cents().ok_or_else(|| amounts_out_of_range(self))?;
        let mut added = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let amount = match request.amount_cents {
                Some(amount) => amount,
                None => {
                    let outstanding = gross.saturating_sub(collected);
                    if outstanding <= 0 {
                        return Err(Error::conflict(format!(
                            "[{index}].transaction: nothing is outstanding on invoice {}; give amountCents to record an overpayment",
                            self.id
                        )));
                    }
                    outstanding
                }
            };
            collected = collected.checked_add(amount).filter(|total| *total <= MAX_MINOR_UNITS).ok_or_else(|| {
                Error::validation(format!(
                    "[{index}].transaction.amountCents: the invoice would collect more than {MAX_MINOR_UNITS} minor units"
                ))
            })?;
            added.push(RecordedPayment {
                transaction_type: TransactionType::External,
                payment_method: request.payment_method.clone(),
                paid_at: request.paid_at,
                amount_cents: amount,
                recorded_at: now,
            });
        }
        self.payments.extend(added);
        self.refresh_payment_state(now)
    }

    /// Removes one recorded transaction per request: same method and paidAt, and amount when given.
    pub fn remove_payments(&mut self, requests: &[PaymentRequest], now: DateTime<Utc>) -> Result<()> {
        if self.status == InvoiceStatus::Voided {
            return Err(Error::conflict(format!("invoice {} is void: its payments cannot change", self.id)));
        }
        for (index, request) in requests.iter().enumerate() {
            let position = self.payments.iter().position(|recorded| {
                recorded.payment_method.method() == request.payment_method.method()
                    && recorded.paid_at == request.paid_at
                    && request.amount_cents.is_none_or(|amount| amount == recorded.amount_cents)
            });
            match position {
                Some(position) => {
                    self.payments.remove(position);
                }
                None => {
                    return Err(Error::validation(format!(
                        "[{index}].transaction: no recorded transaction on invoice {} has method `{}` and paidAt {}{}",
                        self.id,
                        request.payment_method.method(),
                        format_time(&request.paid_at),
                        request.amount_cents.map(|a| format!(" and amountCents {a}")).unwrap_or_default()
                    )))
                }
            }
        }
        self.refresh_payment_state(now)
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

#[cfg(test)]
mod lifecycle_tests {
    use super::*;
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

#[cfg(test)]
mod payment_tests {
    use super::*;
    use crate::model::payments::*;
    use serde_json::json;

    fn invoice(currency: &str, gross: &str) -> Invoice {
        let request: CreateInvoice =
            serde_json::from_value(json!({"currency": currency, "customerId": "c", "dueDate": "2026-12-01"})).unwrap();
        let mut invoice = Invoice::new_draft("inv".into(), "acct", request, Utc::now());
        invoice.gross_total = gross.parse().unwrap();
        invoice.status = InvoiceStatus::Final;
        invoice
    }

    fn requests(body: serde_json::Value) -> Result<Vec<PaymentRequest>> {
        validate(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn full_partial_and_removed_payments() {
        let now = Utc::now();
        let mut invoice = invoice("USD", "100.50");
        assert_eq!(invoice.gross_total_cents(), Some(10050));
        let partial = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-20T10:00:00Z", "amountCents": 5000}}])).unwrap();
        invoice.record_payments(&partial, now).unwrap();
        assert_eq!(
            (invoice.collected_amount_cents(), invoice.payment_status),
            (Some(5000), PaymentStatus::PartiallyPaid)
        );

        let rest = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": {"method": "card", "config": {"passFeeToPayer": true}}, "paidAt": "2026-11-21T10:00:00+02:00"}}])).unwrap();
        invoice.record_payments(&rest, now).unwrap();
        assert_eq!(invoice.payments[1].amount_cents, 5050);
        assert_eq!((invoice.payment_status, invoice.closed_at), (PaymentStatus::Paid, Some(now)));
        assert_eq!(invoice.record_payments(&rest, now).unwrap_err().kind(), crate::model::error::ErrorKind::Conflict);

        // Unreconcile matches on method and instant (any offset), not on the config.
        let undo = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "card", "paidAt": "2026-11-21T08:00:00Z"}}]))
        .unwrap();
        invoice.remove_payments(&undo, now).unwrap();
        assert_eq!(
            (invoice.collected_amount_cents(), invoice.payment_status, invoice.closed_at),
            (Some(5000), PaymentStatus::PartiallyPaid, None)
        );
        let error = invoice.remove_payments(&undo, now).unwrap_err();
        assert_eq!(
            error.public_message(),
            "[0].transaction: no recorded transaction on invoice inv has method `card` and paidAt 2026-11-21T08:00:00Z"
        );
    }

    #[test]
    fn yen_amounts_are_whole_yen() {
        assert_eq!(invoice("JPY", "1500").gross_total_cents(), Some(1500));
    }

    #[test]
    fn bad_bodies_and_states() {
        assert_eq!(
            requests(json!([])).unwrap_err().public_message(),
            "request body: at least one transaction is required"
        );
        let bad_time = requests(
            json!([{"transactionType": "external", "transaction": {"paymentMethod": "x", "paidAt": "yesterday"}}]),
        );
        assert_eq!(
            bad_time.unwrap_err().public_message(),
            "[0].transaction.paidAt: `yesterday` is not an RFC 3339 time such as 2026-11-25T10:00:00Z"
        );
        let zero = requests(
            json!([{"transactionType": "external", "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z", "amountCents": 0}}]),
        );
        assert_eq!(
            zero.unwrap_err().public_message(),
            "[0].transaction.amountCents: must be a whole number of minor units from 1 to 999999999999999, got 0"
        );
        let unknown: std::result::Result<Vec<TransactionInput>, _> = serde_json::from_value(
            json!([{"transactionType": "internal", "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z"}}]),
        );
        assert!(unknown.unwrap_err().to_string().starts_with("unknown variant `internal`, expected `external`"));

        let one = requests(json!([{"transactionType": "external", "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z"}}])).unwrap();
        let mut draft = invoice("USD", "1");
        draft.status = InvoiceStatus::Draft;
        assert_eq!(
            draft.record_payments(&one, Utc::now()).unwrap_err().public_message(),
            "invoice inv is DRAFT: finalize it before recording payments"
        );
        draft.status = InvoiceStatus::Voided;
        assert_eq!(
            draft.record_payments(&one, Utc::now()).unwrap_err().public_message(),
            "invoice inv is void: it takes no payments"
        );
        assert_eq!(
            draft.remove_payments(&one, Utc::now()).unwrap_err().kind(),
            crate::model::error::ErrorKind::Conflict
        );
    }

    #[test]
    fn amounts_are_bounded_and_summed_without_overflow() {
        let huge = i64::MAX;
        let error = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z", "amountCents": huge}}]))
        .unwrap_err();
        assert_eq!(
            error.public_message(),
            "[0].transaction.amountCents: must be a whole number of minor units from 1 to 999999999999999, got 9223372036854775807"
        );
        // The largest amount twice: each is allowed, their sum is not.
        let max = requests(json!([
            {"transactionType": "external", "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z", "amountCents": MAX_MINOR_UNITS}},
            {"transactionType": "external", "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z", "amountCents": MAX_MINOR_UNITS}}
        ]))
        .unwrap();
        let mut target = invoice("USD", "1");
        let error = target.record_payments(&max, Utc::now()).unwrap_err();
        assert_eq!(
            error.public_message(),
            "[1].transaction.amountCents: the invoice would collect more than 999999999999999 minor units"
        );
        assert!(target.payments.is_empty(), "nothing recorded when one transaction is refused");

        // An invoice stored before amounts were bounded answers a clear error, never a panic.
        let mut legacy = invoice("USD", "1");
        legacy.gross_total = "1000000000000000000000000".parse().unwrap();
        let one = requests(json!([{"transactionType": "external", "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z"}}])).unwrap();
        let error = legacy.record_payments(&one, Utc::now()).unwrap_err();
        assert_eq!(
            error.public_message(),
            "invoice inv holds amounts beyond 999999999999999 minor units; it cannot take payments"
        );
    }

    #[test]
    fn an_invoice_records_a_bounded_number_of_transactions() {
        let mut invoice = invoice("USD", "100000");
        let one = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "x", "paidAt": "2026-11-20T10:00:00Z", "amountCents": 1}}]))
        .unwrap();
        for _ in 0..MAX_PAYMENTS_PER_INVOICE {
            invoice.record_payments(&one, Utc::now()).unwrap();
        }
        assert_eq!(
            invoice.record_payments(&one, Utc::now()).unwrap_err().public_message(),
            "invoice inv has 100 recorded transactions; an invoice records at most 100"
        );
    }

    #[test]
    fn configs_are_bounded_and_stored_as_text() {
        let deep = (0..40).fold(json!(true), |inner, _| json!({"a": inner}));
        let method = |config: serde_json::Value| {
            serde_json::from_value::<PaymentMethod>(json!({"method": "card", "config": config}))
                .map_err(|e| e.to_string())
        };
        assert_eq!(method(deep).unwrap_err(), "`config` must nest at most 8 levels of objects and arrays, got 40");
        assert_eq!(
            method(json!({"note": "x".repeat(3000)})).unwrap_err(),
            "`config` must be at most 2048 bytes as JSON, got 3011"
        );
        // Keys that look like the store's own type tags are the client's business: kept as text.
        let odd = method(json!({"S": {"N": "1", "": [{"M": null}]}, "NULL": true})).unwrap();
        let recorded = RecordedPayment {
            transaction_type: TransactionType::External,
            payment_method: odd.clone(),
            paid_at: Utc::now(),
            amount_cents: 1,
            recorded_at: Utc::now(),
        };
        let stored = serde_json::to_value(&recorded).unwrap();
        assert_eq!(
            stored["paymentMethod"],
            json!(r#"{"method":"card","config":{"S":{"N":"1","":[{"M":null}]},"NULL":true}}"#)
        );
        assert_eq!(serde_json::from_value::<RecordedPayment>(stored).unwrap().payment_method, odd);
    }
}
