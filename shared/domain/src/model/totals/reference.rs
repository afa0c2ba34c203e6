//! The totals implementation as it was before issue #14's throughput work: owned strings, a
//! `Box<RawValue>` per decimal, `rust_decimal`'s parser and `Decimal` arithmetic for every line.
//!
//! Kept, unchanged in behaviour, as the reference the fast path is checked against (the
//! differential property test in `tests/totals_properties.rs`) and measured against in the same run
//! (`benches/totals.rs`, `bench/totals_vs_python.py`). Nothing in the API uses it.

pub use super::parse_decimal_with_rust_decimal as parse_decimal;
use super::{check_tax_rate, shorten, Figures};
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
