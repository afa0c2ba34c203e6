//! Payments recorded against an invoice, in Slash's shapes (SPEC.md section 6): reconcile records
//! transactions, unreconcile removes them, and the invoice's collected amount, Sequence
//! `paymentStatus` and Slash status follow.

use crate::{
    concurrency::retry_on_contention,
    invoice::{self, Invoice, InvoiceStatus, PaymentStatus},
    lines::Versioned,
    ports::InvoiceStore,
    Error, Result,
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::{prelude::ToPrimitive, Decimal};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

pub const MAX_TRANSACTIONS_PER_REQUEST: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionType {
    External,
}

/// `"inbound_ach_transfer"` or `{"method": "...", "config": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentMethod {
    Name(String),
    Configured { method: String, config: serde_json::Map<String, serde_json::Value> },
}

impl PaymentMethod {
    pub fn method(&self) -> &str {
        match self {
            PaymentMethod::Name(name) => name,
            PaymentMethod::Configured { method, .. } => method,
        }
    }
}

impl Serialize for PaymentMethod {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            PaymentMethod::Name(name) => serializer.serialize_str(name),
            PaymentMethod::Configured { method, config } => {
                #[derive(Serialize)]
                struct Configured<'a> {
                    method: &'a str,
                    config: &'a serde_json::Map<String, serde_json::Value>,
                }
                Configured { method, config }.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for PaymentMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let expected = "a payment method name or {\"method\": \"...\", \"config\": {...}}";
        let check = |name: &str| {
            if name.trim().is_empty() || name.chars().count() > 100 {
                Err(de::Error::custom("a payment method name has 1 to 100 characters"))
            } else {
                Ok(())
            }
        };
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(name) => {
                check(&name)?;
                Ok(PaymentMethod::Name(name))
            }
            serde_json::Value::Object(mut fields) => {
                let method = match fields.remove("method") {
                    Some(serde_json::Value::String(method)) => method,
                    _ => return Err(de::Error::custom(format!("expected {expected}: `method` must be a string"))),
                };
                check(&method)?;
                let config = match fields.remove("config") {
                    None | Some(serde_json::Value::Null) => serde_json::Map::new(),
                    Some(serde_json::Value::Object(config)) => config,
                    Some(_) => {
                        return Err(de::Error::custom(format!("expected {expected}: `config` must be an object")))
                    }
                };
                if let Some(unknown) = fields.keys().next() {
                    return Err(de::Error::custom(format!("unknown field `{unknown}`, expected `method` or `config`")));
                }
                Ok(PaymentMethod::Configured { method, config })
            }
            _ => Err(de::Error::custom(format!("expected {expected}"))),
        }
    }
}

/// One element of the reconcile / unreconcile body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionInput {
    pub transaction_type: TransactionType,
    pub transaction: TransactionDetails,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionDetails {
    pub payment_method: PaymentMethod,
    pub paid_at: String,
    #[serde(default)]
    pub amount_cents: Option<i64>,
}

/// A transaction as recorded on the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedPayment {
    pub transaction_type: TransactionType,
    pub payment_method: PaymentMethod,
    pub paid_at: DateTime<Utc>,
    pub amount_cents: i64,
    pub recorded_at: DateTime<Utc>,
}

/// A checked transaction of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub payment_method: PaymentMethod,
    pub paid_at: DateTime<Utc>,
    pub amount_cents: Option<i64>,
}

/// Checks a reconcile / unreconcile body; errors name the element and field.
pub fn validate(inputs: Vec<TransactionInput>) -> Result<Vec<PaymentRequest>> {
    if inputs.is_empty() {
        return Err(Error::validation("request body: at least one transaction is required"));
    }
    if inputs.len() > MAX_TRANSACTIONS_PER_REQUEST {
        return Err(Error::validation(format!(
            "request body: at most {MAX_TRANSACTIONS_PER_REQUEST} transactions, got {}",
            inputs.len()
        )));
    }
    inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| {
            let details = input.transaction;
            let paid_at = DateTime::parse_from_rfc3339(&details.paid_at)
                .map_err(|_| {
                    Error::validation(format!(
                        "[{index}].transaction.paidAt: `{}` is not an RFC 3339 time such as 2026-11-25T10:00:00Z",
                        details.paid_at.chars().take(64).collect::<String>()
                    ))
                })?
                .with_timezone(&Utc);
            if let Some(amount) = details.amount_cents {
                if amount <= 0 {
                    return Err(Error::validation(format!(
                        "[{index}].transaction.amountCents: must be a positive whole number of minor units, got {amount}"
                    )));
                }
            }
            Ok(PaymentRequest { payment_method: details.payment_method, paid_at, amount_cents: details.amount_cents })
        })
        .collect()
}

/// RFC 3339 in UTC, as answers show times.
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An amount of the invoice's currency in minor units (cents; whole yen for JPY).
pub fn to_minor_units(amount: Decimal, minor_units: u32) -> i64 {
    let mut scaled = amount * Decimal::from(10i64.pow(minor_units));
    scaled.rescale(0);
    scaled.to_i64().unwrap_or(if amount.is_sign_negative() { i64::MIN } else { i64::MAX })
}

/// The Slash status of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SlashStatus {
    Draft,
    Unpaid,
    Overdue,
    Paid,
    Void,
}

impl Invoice {
    pub fn gross_total_cents(&self) -> i64 {
        to_minor_units(self.gross_total, self.currency.minor_units())
    }

    pub fn collected_amount_cents(&self) -> i64 {
        self.payments.iter().map(|p| p.amount_cents).sum()
    }

    pub fn slash_status(&self, today: NaiveDate) -> SlashStatus {
        match self.status {
            InvoiceStatus::Voided => SlashStatus::Void,
            InvoiceStatus::Draft | InvoiceStatus::InProgress => SlashStatus::Draft,
            _ if self.payment_status == PaymentStatus::Paid => SlashStatus::Paid,
            _ if self.due_date.is_some_and(|due| due < today) => SlashStatus::Overdue,
            _ => SlashStatus::Unpaid,
        }
    }

    fn refresh_payment_state(&mut self, now: DateTime<Utc>) {
        let collected = self.collected_amount_cents();
        let gross = self.gross_total_cents();
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

    /// Records payments; a transaction without `amountCents` pays the outstanding balance.
    pub fn record_payments(&mut self, requests: &[PaymentRequest], now: DateTime<Utc>) -> Result<()> {
        self.ensure_payable()?;
        for (index, request) in requests.iter().enumerate() {
            let amount = match request.amount_cents {
                Some(amount) => amount,
                None => {
                    let outstanding = self.gross_total_cents() - self.collected_amount_cents();
                    if outstanding <= 0 {
                        return Err(Error::conflict(format!(
                            "[{index}].transaction: nothing is outstanding on invoice {}; give amountCents to record an overpayment",
                            self.id
                        )));
                    }
                    outstanding
                }
            };
            self.payments.push(RecordedPayment {
                transaction_type: TransactionType::External,
                payment_method: request.payment_method.clone(),
                paid_at: request.paid_at,
                amount_cents: amount,
                recorded_at: now,
            });
        }
        self.refresh_payment_state(now);
        Ok(())
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
        self.refresh_payment_state(now);
        Ok(())
    }
}

/// Applies a payment change to a stored invoice, optimistically: concurrent calls never lose a
/// transaction. Answers the invoice as stored, with its new version.
pub async fn change_payments<S: InvoiceStore>(
    store: &S,
    account_id: &str,
    invoice_id: &str,
    apply: impl Fn(&mut Invoice) -> Result<()>,
) -> Result<Versioned<Invoice>> {
    retry_on_contention(|| async {
        let current = store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))?;
        let mut updated = current.value;
        apply(&mut updated)?;
        store.replace_invoice(&updated, current.version).await?;
        Ok(Versioned { value: updated, version: current.version + 1 })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::CreateInvoice;
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
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let mut invoice = invoice("USD", "100.50");
        assert_eq!(invoice.gross_total_cents(), 10050);
        let partial = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-20T10:00:00Z", "amountCents": 5000}}])).unwrap();
        invoice.record_payments(&partial, now).unwrap();
        assert_eq!((invoice.collected_amount_cents(), invoice.payment_status), (5000, PaymentStatus::PartiallyPaid));
        assert_eq!(invoice.slash_status(today), SlashStatus::Unpaid);
        assert_eq!(invoice.slash_status(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()), SlashStatus::Overdue);

        let rest = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": {"method": "card", "config": {"passFeeToPayer": true}}, "paidAt": "2026-11-21T10:00:00+02:00"}}])).unwrap();
        invoice.record_payments(&rest, now).unwrap();
        assert_eq!(invoice.payments[1].amount_cents, 5050);
        assert_eq!(
            (invoice.payment_status, invoice.slash_status(today), invoice.closed_at),
            (PaymentStatus::Paid, SlashStatus::Paid, Some(now))
        );
        assert_eq!(invoice.record_payments(&rest, now).unwrap_err().kind(), crate::ErrorKind::Conflict);

        // Unreconcile matches on method and instant (any offset), not on the config.
        let undo = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "card", "paidAt": "2026-11-21T08:00:00Z"}}]))
        .unwrap();
        invoice.remove_payments(&undo, now).unwrap();
        assert_eq!(
            (invoice.collected_amount_cents(), invoice.payment_status, invoice.closed_at),
            (5000, PaymentStatus::PartiallyPaid, None)
        );
        let error = invoice.remove_payments(&undo, now).unwrap_err();
        assert_eq!(
            error.public_message(),
            "[0].transaction: no recorded transaction on invoice inv has method `card` and paidAt 2026-11-21T08:00:00Z"
        );
    }

    #[test]
    fn yen_amounts_are_whole_yen() {
        assert_eq!(invoice("JPY", "1500").gross_total_cents(), 1500);
        assert_eq!(to_minor_units("12.34".parse().unwrap(), 2), 1234);
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
            "[0].transaction.amountCents: must be a positive whole number of minor units, got 0"
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
        assert_eq!(draft.remove_payments(&one, Utc::now()).unwrap_err().kind(), crate::ErrorKind::Conflict);
    }
}
