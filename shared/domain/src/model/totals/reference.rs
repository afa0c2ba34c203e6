//! The totals implementation as it was before issue #14's throughput work: owned strings, a
//! `Box<RawValue>` per decimal, `rust_decimal`'s parser and `Decimal` arithmetic for every line.
//!
//! Kept, unchanged in behaviour, as the reference the fast path is checked against (the
//! differential property test in `tests/totals_properties.rs`) and measured against in the same run
//! (`benches/totals.rs`, `bench/totals_vs_python.py`). Nothing in the API uses it.

use super::{check_tax_rate, DecimalError, Figures};
use crate::model::{currency::Currency, error::Error, money};
use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::collections::HashMap;

/// A decimal read as before: `Box<RawValue>`, then an owned `String` for a quoted one.
fn exact_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw: Box<RawValue> = Deserialize::deserialize(deserializer)?;
    let text = raw.get();
    let literal = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(de::Error::custom)?
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        text.to_string()
    } else {
        return Err(de::Error::custom(format!("expected a decimal string or number, found {}", shorten(text))));
    };
    parse_decimal(&literal).map_err(de::Error::custom)
}

fn shorten(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// Parses `-?digits(.digits)?(e[+-]?digits)?` exactly with `rust_decimal`'s parser.
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    let invalid = || DecimalError::NotADecimal(shorten(text));
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let unsigned = mantissa.strip_prefix('-').unwrap_or(mantissa);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(invalid());
    }
    let out_of_range = || DecimalError::OutOfRange(shorten(text));
    match exponent {
        None => Decimal::from_str_exact(text).map_err(|_| out_of_range()),
        Some(exponent) => {
            let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if !digits(unsigned) {
                return Err(invalid());
            }
            let exponent: i64 = exponent.parse().map_err(|_| out_of_range())?;
            let mantissa = Decimal::from_str_exact(mantissa).map_err(|_| out_of_range())?;
            scale_by_power_of_ten(mantissa, exponent).ok_or_else(out_of_range)
        }
    }
}

fn scale_by_power_of_ten(mut value: Decimal, exponent: i64) -> Option<Decimal> {
    if !(-56..=56).contains(&exponent) {
        return if value.is_zero() { Some(Decimal::ZERO) } else { None };
    }
    let ten = Decimal::TEN;
    for _ in 0..exponent.unsigned_abs() {
        value = if exponent > 0 {
            value.checked_mul(ten)?
        } else {
            if value.scale() >= 28 {
                return None;
            }
            let mut shifted = value;
            shifted.set_scale(value.scale() + 1).ok()?;
            shifted
        };
    }
    Some(value)
}

/// A line's figures in `Decimal` arithmetic, the error naming the figure that overflowed.
pub fn line_figures(quantity: Decimal, rate: Decimal, tax_rate: Decimal, places: u32) -> Result<Figures, String> {
    let net = quantity
        .checked_mul(rate)
        .and_then(|n| money::checked_round(n, places))
        .ok_or("netTotal (quantity × rate) is out of range")?;
    let tax =
        net.checked_mul(tax_rate).and_then(|t| money::checked_round(t, places)).ok_or("totalTax is out of range")?;
    let gross =
        net.checked_add(tax).and_then(|g| money::checked_round(g, places)).ok_or("grossTotal is out of range")?;
    Ok(Figures { gross_total: gross, net_total: net, total_tax: tax })
}

/// The body of `POST /invoices-totals`, owned.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsRequest {
    /// Decides the rounding (minor units); 2 decimal places when absent.
    pub currency: Option<Currency>,
    /// The lines.
    pub line_items: Vec<TotalsLine>,
}

/// One line, owned.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsLine {
    /// Echoed in the answer.
    #[serde(default)]
    pub id: Option<String>,
    /// How many.
    #[serde(deserialize_with = "exact_decimal")]
    pub quantity: Decimal,
    /// The price of one.
    #[serde(deserialize_with = "exact_decimal")]
    pub rate: Decimal,
    /// A fraction from 0 to 1.
    #[serde(deserialize_with = "exact_decimal")]
    pub tax_rate: Decimal,
    /// The group the line counts in, if any.
    #[serde(default)]
    pub group_id: Option<String>,
}

/// A line's figures, owning its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineTotal {
    /// The line's `id`, if it had one.
    pub id: Option<String>,
    /// Its figures.
    pub total: Figures,
}

/// A group's figures, owning its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupTotal {
    /// The group id.
    pub id: String,
    /// Its figures.
    pub total: Figures,
}

/// The answer, owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsResponse {
    /// Per group, in order of first appearance.
    pub line_item_group_totals: Vec<GroupTotal>,
    /// Per line, in input order.
    pub line_item_totals: Vec<LineTotal>,
    /// The whole request's.
    pub total: Figures,
}

/// Totals as before #14: `Decimal` arithmetic for every line and every sum.
pub fn calculate(request: &TotalsRequest) -> Result<TotalsResponse, Error> {
    if request.line_items.len() > super::MAX_LINES {
        return Err(Error::validation(format!(
            "lineItems: at most {} lines, got {}",
            super::MAX_LINES,
            request.line_items.len()
        )));
    }
    let places = request.currency.map_or(2, Currency::minor_units);
    let mut total = Figures::zero(places);
    let mut groups: Vec<GroupTotal> = Vec::new();
    let mut group_index: HashMap<&str, usize> = HashMap::new();
    let mut lines = Vec::with_capacity(request.line_items.len());
    for (index, line) in request.line_items.iter().enumerate() {
        check_tax_rate(line.tax_rate).map_err(|m| Error::validation(format!("lineItems[{index}].taxRate: {m}")))?;
        let figures = line_figures(line.quantity, line.rate, line.tax_rate, places)
            .map_err(|m| Error::validation(format!("lineItems[{index}]: {m}")))?;
        let overflow = || Error::validation(format!("lineItems[{index}]: the running total is out of range"));
        total = total.checked_add(&figures, places).ok_or_else(overflow)?;
        if let Some(group_id) = &line.group_id {
            match group_index.get(group_id.as_str()) {
                Some(&at) => groups[at].total = groups[at].total.checked_add(&figures, places).ok_or_else(overflow)?,
                None => {
                    group_index.insert(group_id, groups.len());
                    groups.push(GroupTotal { id: group_id.clone(), total: figures });
                }
            }
        }
        lines.push(LineTotal { id: line.id.clone(), total: figures });
    }
    Ok(TotalsResponse { line_item_group_totals: groups, line_item_totals: lines, total })
}
