//! Payments recorded against an invoice, in Slash's shapes (SPEC.md section 6): reconcile records
//! transactions, unreconcile removes them, and the invoice's collected amount, Sequence
//! `paymentStatus` and Slash status follow.

use crate::{
    invoice::{Invoice, InvoiceStatus, PaymentStatus},
    money::{self, MAX_MINOR_UNITS},
    Error, Result,
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

pub const MAX_TRANSACTIONS_PER_REQUEST: usize = 100;
/// The most transactions one invoice records: with the bounds on each, the invoice stays within
/// DynamoDB's 400 KB item and its sum of payments far from overflowing.
pub const MAX_PAYMENTS_PER_INVOICE: usize = 100;
/// A payment method's `config` is the client's own JSON, kept as it came (opaque to us): at most
/// this many bytes as compact JSON...
pub const MAX_CONFIG_BYTES: usize = 2_048;
/// ...and at most this many levels of nested objects and arrays (the config object is level 1).
pub const MAX_CONFIG_DEPTH: usize = 8;

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
                check_config(&config).map_err(de::Error::custom)?;
                if let Some(unknown) = fields.keys().next() {
                    return Err(de::Error::custom(format!("unknown field `{unknown}`, expected `method` or `config`")));
                }
                Ok(PaymentMethod::Configured { method, config })
            }
            _ => Err(de::Error::custom(format!("expected {expected}"))),
        }
    }
}

/// Bounds a client's config: compact JSON size and nesting depth.
fn check_config(config: &serde_json::Map<String, serde_json::Value>) -> std::result::Result<(), String> {
    fn depth(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
            serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let bytes = serde_json::to_string(config).map_or(usize::MAX, |json| json.len());
    if bytes > MAX_CONFIG_BYTES {
        return Err(format!("`config` must be at most {MAX_CONFIG_BYTES} bytes as JSON, got {bytes}"));
    }
    let levels = depth(&serde_json::Value::Object(config.clone()));
    if levels > MAX_CONFIG_DEPTH {
        return Err(format!(
            "`config` must nest at most {MAX_CONFIG_DEPTH} levels of objects and arrays, got {levels}"
        ));
    }
    Ok(())
}

/// Stores a value as one JSON string attribute rather than as a structure of the store's own:
/// a client's free-form JSON then cannot shape the stored item (its keys, its depth).
mod as_json_text {
    use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(value).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
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

/// A transaction as recorded on the invoice. The payment method (with the client's config) is
/// stored as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedPayment {
    pub transaction_type: TransactionType,
    #[serde(with = "as_json_text")]
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
                if !(1..=MAX_MINOR_UNITS).contains(&amount) {
                    return Err(Error::validation(format!(
                        "[{index}].transaction.amountCents: must be a whole number of minor units from 1 to {MAX_MINOR_UNITS}, got {amount}"
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

    pub fn slash_status(&self, today: NaiveDate) -> SlashStatus {
        match self.status {
            InvoiceStatus::Voided => SlashStatus::Void,
            InvoiceStatus::Draft | InvoiceStatus::InProgress => SlashStatus::Draft,
            _ if self.payment_status == PaymentStatus::Paid => SlashStatus::Paid,
            _ if self.due_date.is_some_and(|due| due < today) => SlashStatus::Overdue,
            _ => SlashStatus::Unpaid,
        }
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
        assert_eq!(invoice.gross_total_cents(), Some(10050));
        let partial = requests(json!([{"transactionType": "external",
            "transaction": {"paymentMethod": "inbound_ach_transfer", "paidAt": "2026-11-20T10:00:00Z", "amountCents": 5000}}])).unwrap();
        invoice.record_payments(&partial, now).unwrap();
        assert_eq!(
            (invoice.collected_amount_cents(), invoice.payment_status),
            (Some(5000), PaymentStatus::PartiallyPaid)
        );
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
        assert_eq!(draft.remove_payments(&one, Utc::now()).unwrap_err().kind(), crate::ErrorKind::Conflict);
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
