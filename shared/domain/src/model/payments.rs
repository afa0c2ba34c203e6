//! Payments recorded against an invoice, in Slash's shapes (docs/contract.md, section 6): reconcile records
//! transactions, unreconcile removes them, and the invoice's collected amount, Sequence
//! `paymentStatus` and Slash status follow.

use super::{
    error::{Error, Result},
    money::MAX_MINOR_UNITS,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// The most transactions one reconcile or unreconcile request carries.
pub const MAX_TRANSACTIONS_PER_REQUEST: usize = 100;
/// The most transactions one invoice records: with the bounds on each, the invoice stays within
/// DynamoDB's 400 KB item and its sum of payments far from overflowing.
pub const MAX_PAYMENTS_PER_INVOICE: usize = 100;
/// A payment method's `config` is the client's own JSON, kept as it came (opaque to us): at most
/// this many bytes as compact JSON...
pub const MAX_CONFIG_BYTES: usize = 2_048;
/// ...and at most this many levels of nested objects and arrays (the config object is level 1).
pub const MAX_CONFIG_DEPTH: usize = 8;

/// Slash's transaction types: only external (recorded, not moved by us).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionType {
    /// A payment made outside the platform, recorded here.
    External,
}

/// `"inbound_ach_transfer"` or `{"method": "...", "config": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentMethod {
    /// A method by name (`"inbound_ach_transfer"`).
    Name(String),
    /// A method with the client's settings for it.
    Configured {
        /// The method's name.
        method: String,
        /// The client's settings, kept as given.
        config: serde_json::Map<String, serde_json::Value>,
    },
}

impl PaymentMethod {
    /// The method's name.
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
    /// Always `external`.
    pub transaction_type: TransactionType,
    /// What was paid.
    pub transaction: TransactionDetails,
}

/// A transaction as a request gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionDetails {
    /// How it was paid.
    pub payment_method: PaymentMethod,
    /// When, as RFC 3339 text (checked by `validate`).
    pub paid_at: String,
    /// How much, in minor units; absent means the outstanding balance (reconcile) or any amount (unreconcile).
    #[serde(default)]
    pub amount_cents: Option<i64>,
}

/// A transaction as recorded on the invoice. The payment method (with the client's config) is
/// stored as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedPayment {
    /// Always `external`.
    pub transaction_type: TransactionType,
    /// How it was paid.
    #[serde(with = "as_json_text")]
    pub payment_method: PaymentMethod,
    /// When it was paid.
    pub paid_at: DateTime<Utc>,
    /// How much, in minor units.
    pub amount_cents: i64,
    /// When it was recorded here.
    pub recorded_at: DateTime<Utc>,
}

/// A checked transaction of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// How it was paid.
    pub payment_method: PaymentMethod,
    /// When it was paid.
    pub paid_at: DateTime<Utc>,
    /// How much, if given.
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
