//! Exact invoice totals (docs/contract.md, section 1): one implementation for `/invoices-totals` and for
//! every stored invoice.
//!
//! A line's figures are rounded to the currency's minor units (half away from zero); group and
//! invoice totals are sums of the rounded line figures, so an invoice always adds up line by line.

use super::{currency::Currency, error::Error, money};
use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::{collections::HashMap, str::FromStr};

/// The most lines one `/invoices-totals` request takes.
pub const MAX_LINES: usize = 10_000;

/// A decimal read exactly from JSON: a string such as `"20000.10"`, or a number read from its
/// literal text (never through `f64`, so `0.1` is exactly one tenth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactDecimal(pub Decimal);

impl<'de> Deserialize<'de> for ExactDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(deserializer)?;
        let text = raw.get();
        let literal = if text.starts_with('"') {
            serde_json::from_str::<String>(text).map_err(de::Error::custom)?
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            text.to_string()
        } else {
            return Err(de::Error::custom(format!("expected a decimal string or number, found {}", shorten(text))));
        };
        parse_decimal(&literal).map(ExactDecimal).map_err(de::Error::custom)
    }
}

impl Serialize for ExactDecimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Serialize::serialize(&self.0, serializer)
    }
}

fn shorten(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// Why a text is not an exact decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not the syntax of a decimal number (the text, shortened).
    #[error("`{0}` is not a decimal number")]
    NotADecimal(String),
    /// A decimal `rust_decimal` cannot hold without losing a digit (the text, shortened).
    #[error("`{0}` cannot be represented exactly (at most 28 significant digits and 28 decimal places)")]
    OutOfRange(String),
}

/// Parses `-?digits(.digits)?(e[+-]?digits)?` exactly; anything `rust_decimal` cannot hold without
/// losing a digit is refused.
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
            // Division by ten is exact while the scale stays within 28.
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

/// Rate display is presentation only; it never changes the arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateDisplay {
    /// A rate shown as an amount.
    #[default]
    Absolute,
    /// A rate shown as a percentage.
    Percentage,
}

/// The three figures of a line, a group or an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    /// Net plus tax.
    pub gross_total: Decimal,
    /// Quantity times rate, rounded.
    pub net_total: Decimal,
    /// Net times tax rate, rounded.
    pub total_tax: Decimal,
}

impl Figures {
    /// Zero figures with `places` decimals.
    pub fn zero(places: u32) -> Figures {
        let zero = money::round_to_places(Decimal::ZERO, places);
        Figures { gross_total: zero, net_total: zero, total_tax: zero }
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(&self, other: &Figures, places: u32) -> Option<Figures> {
        let add = |a: Decimal, b: Decimal| a.checked_add(b).and_then(|sum| money::checked_round(sum, places));
        Some(Figures {
            gross_total: add(self.gross_total, other.gross_total)?,
            net_total: add(self.net_total, other.net_total)?,
            total_tax: add(self.total_tax, other.total_tax)?,
        })
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(&self, other: &Figures, places: u32) -> Option<Figures> {
        let negated =
            Figures { gross_total: -other.gross_total, net_total: -other.net_total, total_tax: -other.total_tax };
        self.checked_add(&negated, places)
    }
}

/// Checks a line's tax rate: a fraction from 0 to 1.
pub fn check_tax_rate(tax_rate: Decimal) -> Result<(), String> {
    if tax_rate < Decimal::ZERO || tax_rate > Decimal::ONE {
        Err(format!("must be between 0 and 1 (a fraction: \"0.2\" is 20 %), got {tax_rate}"))
    } else {
        Ok(())
    }
}

/// A line's figures: `net = round(quantity * rate)`, `tax = round(net * taxRate)`, `gross = net + tax`.
/// The error names the figure that overflowed.
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

/// The body of `POST /invoices-totals`. Fields of a line that totals do not use are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsRequest {
    /// Decides the rounding (minor units); 2 decimal places when absent.
    pub currency: Option<Currency>,
    /// The lines, at most 10,000.
    pub line_items: Vec<TotalsLine>,
}

/// One line of `/invoices-totals` (fields totals do not use are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsLine {
    /// Echoed in the answer.
    #[serde(default)]
    pub id: Option<String>,
    /// How many.
    pub quantity: ExactDecimal,
    /// The price of one.
    pub rate: ExactDecimal,
    /// A fraction from 0 to 1.
    pub tax_rate: ExactDecimal,
    /// The group the line counts in, if any.
    #[serde(default)]
    pub group_id: Option<String>,
}

/// A line's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineTotal {
    /// The line's `id`, if it had one.
    pub id: Option<String>,
    /// Its figures.
    pub total: Figures,
}

/// A group's figures: the sums of its lines'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupTotal {
    /// The group id.
    pub id: String,
    /// Its figures.
    pub total: Figures,
}

/// The answer of `/invoices-totals`.
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

/// Totals of a list of lines: per line in input order, per group in order of first appearance,
/// and overall. Errors are 400s naming the line and field.
pub fn calculate(request: &TotalsRequest) -> Result<TotalsResponse, Error> {
    if request.line_items.len() > MAX_LINES {
        return Err(Error::validation(format!(
            "lineItems: at most {MAX_LINES} lines, got {}",
            request.line_items.len()
        )));
    }
    let places = request.currency.map_or(2, Currency::minor_units);
    let mut total = Figures::zero(places);
    let mut groups: Vec<GroupTotal> = Vec::new();
    // Where each group is in `groups`: one lookup per line, whatever the number of groups.
    let mut group_index: HashMap<&str, usize> = HashMap::new();
    let mut lines = Vec::with_capacity(request.line_items.len());
    for (index, line) in request.line_items.iter().enumerate() {
        check_tax_rate(line.tax_rate.0).map_err(|m| Error::validation(format!("lineItems[{index}].taxRate: {m}")))?;
        let figures = line_figures(line.quantity.0, line.rate.0, line.tax_rate.0, places)
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

impl FromStr for ExactDecimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_decimal(s).map(ExactDecimal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn totals(body: serde_json::Value) -> Result<serde_json::Value, String> {
        let request: TotalsRequest = serde_json::from_str(&body.to_string()).map_err(|e| e.to_string())?;
        calculate(&request).map(|r| serde_json::to_value(r).unwrap()).map_err(|e| e.public_message().to_string())
    }

    #[test]
    fn the_seed_line() {
        let body = json!({"lineItems": [{
            "description": "Red", "externalIds": [{"key": "Xero", "value": "123"}], "grossTotal": "0",
            "groupId": "befc8235-a295-4548-87bd-e9bcbbdf18b9", "id": "af60cab3-812d-4250-a051-0fb7133a00c7",
            "index": 2, "invoiceId": "cd11218d-fa00-4faa-8684-a43113d076a8", "netTotal": "0",
            "quantity": "2", "rate": "20000.10", "rateDisplay": "ABSOLUTE", "revenueClassification": "EARNED",
            "servicePeriod": {"endDate": "2022-10-24", "startDate": "2022-10-20"},
            "servicePeriodEnd": "2022-10-24T00:00:00Z", "servicePeriodStart": "2022-10-20T00:00:00Z",
            "taxRate": "0.2", "title": "Ferraris", "totalTax": "0"
        }]});
        let figures = json!({"grossTotal": "48000.24", "netTotal": "40000.20", "totalTax": "8000.04"});
        assert_eq!(
            totals(body).unwrap(),
            json!({
                "lineItemGroupTotals": [{"id": "befc8235-a295-4548-87bd-e9bcbbdf18b9", "total": figures}],
                "lineItemTotals": [{"id": "af60cab3-812d-4250-a051-0fb7133a00c7", "total": figures}],
                "total": figures
            })
        );
    }

    #[test]
    fn yen_rounds_to_whole_units_and_numbers_are_read_exactly() {
        let body = json!({"currency": "JPY", "lineItems": [
            {"quantity": 3, "rate": "33.5", "taxRate": 0.1},
            {"quantity": "1", "rate": "-0.4", "taxRate": "0"}
        ]});
        // 100.5 -> 101 (half away from zero), tax 10.1 -> 10; -0.4 -> 0, never "-0".
        assert_eq!(
            totals(body).unwrap(),
            json!({
                "lineItemGroupTotals": [],
                "lineItemTotals": [
                    {"id": null, "total": {"grossTotal": "111", "netTotal": "101", "totalTax": "10"}},
                    {"id": null, "total": {"grossTotal": "0", "netTotal": "0", "totalTax": "0"}}
                ],
                "total": {"grossTotal": "111", "netTotal": "101", "totalTax": "10"}
            })
        );
    }

    #[test]
    fn groups_keep_first_appearance_order() {
        let line =
            |group: Option<&str>, rate: &str| json!({"quantity": "1", "rate": rate, "taxRate": "0", "groupId": group});
        let body =
            json!({"lineItems": [line(Some("b"), "1"), line(Some("a"), "2"), line(None, "4"), line(Some("b"), "8")]});
        let result = totals(body).unwrap();
        assert_eq!(result["lineItemGroupTotals"][0]["id"], "b");
        assert_eq!(result["lineItemGroupTotals"][0]["total"]["netTotal"], "9.00");
        assert_eq!(result["lineItemGroupTotals"][1]["id"], "a");
        assert_eq!(result["total"]["netTotal"], "15.00");
    }

    #[test]
    fn ten_thousand_groups_keep_their_order_and_sums() {
        let lines: Vec<_> = (0..10_000)
            .map(|i| json!({"quantity": "1", "rate": "1.01", "taxRate": "0", "groupId": format!("g{}", i % 5_000)}))
            .collect();
        let result = totals(json!({"lineItems": lines})).unwrap();
        let groups = result["lineItemGroupTotals"].as_array().unwrap();
        assert_eq!(groups.len(), 5_000);
        assert_eq!(groups[0]["id"], "g0");
        assert_eq!(groups[4_999]["id"], "g4999");
        assert!(groups.iter().all(|g| g["total"]["netTotal"] == "2.02"));
        assert_eq!(result["total"]["netTotal"], "10100.00");
    }

    #[test]
    fn exact_parsing() {
        assert_eq!(parse_decimal("0.1").unwrap().to_string(), "0.1");
        assert_eq!(parse_decimal("-12.50").unwrap().to_string(), "-12.50");
        assert_eq!(parse_decimal("1e3").unwrap(), Decimal::from(1000));
        assert_eq!(parse_decimal("25E-2").unwrap().to_string(), "0.25");
        for bad in ["", "abc", "1.", ".5", "+1", "1_000", "1,5", "0x10", "1e", "--1", " 1"] {
            assert_eq!(parse_decimal(bad).unwrap_err(), DecimalError::NotADecimal(bad.to_string()), "{bad}");
        }
        for huge in ["1e400", "123456789012345678901234567890", "0.00000000000000000000000000001"] {
            assert!(matches!(parse_decimal(huge).unwrap_err(), DecimalError::OutOfRange(_)), "{huge}");
            assert!(parse_decimal(huge).unwrap_err().to_string().contains("cannot be represented exactly"), "{huge}");
        }
    }

    #[test]
    fn bad_lines_name_line_and_field() {
        let line = |q: serde_json::Value, r: serde_json::Value, t: serde_json::Value| json!({"quantity": q, "rate": r, "taxRate": t});
        let ok = line(json!("1"), json!("1"), json!("0"));
        assert_eq!(
            totals(json!({"lineItems": [ok.clone(), line(json!("1"), json!("1"), json!("1.5"))]})).unwrap_err(),
            "lineItems[1].taxRate: must be between 0 and 1 (a fraction: \"0.2\" is 20 %), got 1.5"
        );
        assert_eq!(
            totals(json!({"lineItems": [line(json!("79228162514264337593543950335"), json!("10"), json!("0"))]}))
                .unwrap_err(),
            "lineItems[0]: netTotal (quantity × rate) is out of range"
        );
    }
}
