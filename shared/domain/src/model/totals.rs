//! Exact invoice totals (docs/contract.md, section 1): one implementation for `/invoices-totals` and for
//! every stored invoice.
//!
//! A line's figures are rounded to the currency's minor units (half away from zero); group and
//! invoice totals are sums of the rounded line figures, so an invoice always adds up line by line.

use super::{currency::Currency, error::Error, money};
use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::{borrow::Cow, collections::HashMap, str::FromStr};

pub mod reference;

/// The most lines one `/invoices-totals` request takes.
pub const MAX_LINES: usize = 10_000;

/// A decimal read exactly from JSON: a string such as `"20000.10"`, or a number read from its
/// literal text (never through `f64`, so `0.1` is exactly one tenth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactDecimal(pub Decimal);

impl<'de> Deserialize<'de> for ExactDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Owned, so that any deserializer serde_json offers (a `Value` too) can give it.
        let raw: Box<RawValue> = Deserialize::deserialize(deserializer)?;
        decimal_from_json(raw.get()).map(ExactDecimal)
    }
}

/// [`ExactDecimal`]'s reading for deserializers that can lend the body (`serde_json::from_str`
/// and `from_slice`, as the API parses): the raw text is borrowed, nothing is allocated.
fn borrowed_exact_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ExactDecimal, D::Error> {
    let raw: &'de RawValue = Deserialize::deserialize(deserializer)?;
    decimal_from_json(raw.get()).map(ExactDecimal)
}

/// A JSON value's text (a string or a number, as serde_json validated it) as an exact decimal.
fn decimal_from_json<E: de::Error>(text: &str) -> Result<Decimal, E> {
    let parsed = if let Some(quoted) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if quoted.contains('\\') {
            // Escapes (`"\u0031"` is "1"): decoded first, as JSON says.
            parse_decimal(&serde_json::from_str::<String>(text).map_err(de::Error::custom)?)
        } else {
            parse_decimal(quoted)
        }
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        parse_decimal(text)
    } else {
        return Err(de::Error::custom(format!("expected a decimal string or number, found {}", shorten(text))));
    };
    parsed.map_err(de::Error::custom)
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
    match parse_short_decimal(text.as_bytes()) {
        Some(value) => Ok(value),
        None => parse_decimal_with_rust_decimal(text),
    }
}

/// [`parse_decimal`] without the short-decimal shortcut: `rust_decimal`'s parser, as every decimal
/// was parsed before issue #14 (and still is in [`reference`](mod@reference)).
pub fn parse_decimal_with_rust_decimal(text: &str) -> Result<Decimal, DecimalError> {
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

/// The common case without allocation or `rust_decimal`'s parser: `-?digits(.digits)?` with at
/// most 18 digits in all (the mantissa fits an `i64`, the scale is at most 18). `None` sends
/// anything else, and a negative zero (whose sign `from_str_exact` keeps), to the full parser.
fn parse_short_decimal(text: &[u8]) -> Option<Decimal> {
    short_decimal_parts(text).map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

/// [`parse_short_decimal`]'s mantissa and scale.
fn short_decimal_parts(text: &[u8]) -> Option<(i64, u32)> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    // 18 digits and a point at most; the first and last bytes must be digits.
    if digits.is_empty()
        || digits.len() > 19
        || !digits[0].is_ascii_digit()
        || !digits[digits.len() - 1].is_ascii_digit()
    {
        return None;
    }
    let (mut mantissa, mut point) = (0i64, None);
    for (at, &byte) in digits.iter().enumerate() {
        match byte {
            // Wrapping: 19 digits without a point can overflow, and are refused below.
            b'0'..=b'9' => mantissa = mantissa.wrapping_mul(10).wrapping_add(i64::from(byte - b'0')),
            b'.' if point.is_none() => point = Some(at),
            _ => return None,
        }
    }
    let scale = point.map_or(0, |at| digits.len() - at - 1);
    if digits.len() - usize::from(point.is_some()) > 18 || (negative && mantissa == 0) {
        return None;
    }
    Some((if negative { -mantissa } else { mantissa }, scale as u32))
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
    match integer_line_figures(quantity, rate, tax_rate, places) {
        Some(mantissas) => Ok(mantissas.figures(places)),
        None => decimal_line_figures(quantity, rate, tax_rate, places),
    }
}

/// [`line_figures`] in `Decimal` arithmetic, for any input; it says which figure is out of range.
fn decimal_line_figures(quantity: Decimal, rate: Decimal, tax_rate: Decimal, places: u32) -> Result<Figures, String> {
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

/// Decimal's largest mantissa (96 bits).
const MAX_MANTISSA: i128 = (1i128 << 96) - 1;

/// `10^exponent` for the exponents a rescale needs; `None` beyond `i128` (10^38).
fn power_of_ten(exponent: u32) -> Option<i128> {
    10i128.checked_pow(exponent)
}

/// `mantissa × 10^-from` expressed with `to` decimals, rounded half away from zero: `None` on
/// overflow.
fn rescale_half_away(mantissa: i128, from: u32, to: u32) -> Option<i128> {
    if from <= to {
        return mantissa.checked_mul(power_of_ten(to - from)?);
    }
    let divisor = power_of_ten(from - to)?;
    // i128 division is a library call; most amounts fit 64 bits, where a division by a constant
    // power of ten is a multiplication.
    let (quotient, remainder) = match i64::try_from(mantissa).ok().and_then(|m| divide_by_power_of_ten(m, from - to)) {
        Some((quotient, remainder)) => (i128::from(quotient), i128::from(remainder)),
        None => (mantissa / divisor, mantissa % divisor),
    };
    // |remainder| >= divisor / 2, without overflowing.
    let away = remainder.unsigned_abs() >= divisor.unsigned_abs() - remainder.unsigned_abs();
    Some(if away { quotient + mantissa.signum() } else { quotient })
}

/// `(m / 10^exponent, m % 10^exponent)` for exponents 1 to 18, each a division by a constant.
fn divide_by_power_of_ten(m: i64, exponent: u32) -> Option<(i64, i64)> {
    fn by<const D: i64>(m: i64) -> (i64, i64) {
        (m / D, m % D)
    }
    Some(match exponent {
        1 => by::<10>(m),
        2 => by::<100>(m),
        3 => by::<1_000>(m),
        4 => by::<10_000>(m),
        5 => by::<100_000>(m),
        6 => by::<1_000_000>(m),
        7 => by::<10_000_000>(m),
        8 => by::<100_000_000>(m),
        9 => by::<1_000_000_000>(m),
        10 => by::<10_000_000_000>(m),
        11 => by::<100_000_000_000>(m),
        12 => by::<1_000_000_000_000>(m),
        13 => by::<10_000_000_000_000>(m),
        14 => by::<100_000_000_000_000>(m),
        15 => by::<1_000_000_000_000_000>(m),
        16 => by::<10_000_000_000_000_000>(m),
        17 => by::<100_000_000_000_000_000>(m),
        18 => by::<1_000_000_000_000_000_000>(m),
        _ => return None,
    })
}

/// [`line_figures`] in integers, where `Decimal` would be exact too: both products' mantissas
/// within 96 bits and their scales within 28 (so `Decimal` rounds nothing before we do), every
/// figure within 96 bits, and a tax rate from 0 to 1. Then the figures are the same as
/// `Decimal`'s, far faster. `None` leaves the line to the `Decimal` arithmetic, which also says
/// what is wrong.
fn integer_line_figures(quantity: Decimal, rate: Decimal, tax_rate: Decimal, places: u32) -> Option<Mantissas> {
    let parts = |d: Decimal| (d.mantissa(), d.scale());
    integer_figures(parts(quantity), parts(rate), parts(tax_rate), places)
}

/// [`integer_line_figures`] on mantissas and scales.
fn integer_figures(
    (quantity_mantissa, quantity_scale): (i128, u32),
    (rate_mantissa, rate_scale): (i128, u32),
    (tax_mantissa, tax_scale): (i128, u32),
    places: u32,
) -> Option<Mantissas> {
    let within = |mantissa: i128| mantissa.abs() <= MAX_MANTISSA;
    let exact = |mantissa: i128, scale: u32| (within(mantissa) && scale <= 28).then_some(mantissa);
    if tax_mantissa < 0 || tax_mantissa > power_of_ten(tax_scale)? {
        return None;
    }
    let product_scale = quantity_scale + rate_scale;
    let product = exact(quantity_mantissa.checked_mul(rate_mantissa)?, product_scale)?;
    let net = rescale_half_away(product, product_scale, places)?;
    let tax_product_scale = places + tax_scale;
    let tax_product = exact(net.checked_mul(tax_mantissa)?, tax_product_scale)?;
    let tax = rescale_half_away(tax_product, tax_product_scale, places)?;
    let gross = net.checked_add(tax)?;
    (within(gross) && within(net) && within(tax)).then_some(Mantissas([gross, net, tax]))
}

/// Gross, net and tax as mantissas of the currency's `places` decimals: every line's figures
/// carry exactly that many, so sums are sums of mantissas, exact in `i128`, and out of range where
/// `Decimal`'s 96 bits would be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Mantissas([i128; 3]);

impl Mantissas {
    fn of(figures: &Figures) -> Mantissas {
        Mantissas([figures.gross_total.mantissa(), figures.net_total.mantissa(), figures.total_tax.mantissa()])
    }

    /// The sums, or `None` beyond `Decimal`'s 96-bit mantissa.
    fn checked_add(&self, other: &Mantissas) -> Option<Mantissas> {
        let [a, b, c] = self.0;
        let [x, y, z] = other.0;
        let sum = [a + x, b + y, c + z];
        sum.iter().all(|m| m.abs() <= MAX_MANTISSA).then_some(Mantissas(sum))
    }

    /// As figures (a zero is never negative: mantissas have no sign of their own).
    fn figures(&self, places: u32) -> Figures {
        let [gross, net, tax] = self.0.map(|m| Decimal::from_i128_with_scale(m, places));
        Figures { gross_total: gross, net_total: net, total_tax: tax }
    }
}

/// The body of `POST /invoices-totals`. Fields of a line that totals do not use are ignored.
///
/// Its strings are borrowed from the body where JSON allows (no escapes), and decimals are read
/// from the body's text in place: parse it with `serde_json::from_str` or `from_slice`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsRequest<'a> {
    /// Decides the rounding (minor units); 2 decimal places when absent.
    pub currency: Option<Currency>,
    /// The lines, at most 10,000.
    #[serde(borrow)]
    pub line_items: Vec<TotalsLine<'a>>,
}

/// One line of `/invoices-totals` (fields totals do not use are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsLine<'a> {
    /// Echoed in the answer.
    #[serde(default, borrow, deserialize_with = "optional_text")]
    pub id: Option<Cow<'a, str>>,
    /// How many.
    #[serde(deserialize_with = "borrowed_exact_decimal")]
    pub quantity: ExactDecimal,
    /// The price of one.
    #[serde(deserialize_with = "borrowed_exact_decimal")]
    pub rate: ExactDecimal,
    /// A fraction from 0 to 1.
    #[serde(deserialize_with = "borrowed_exact_decimal")]
    pub tax_rate: ExactDecimal,
    /// The group the line counts in, if any.
    #[serde(default, borrow, deserialize_with = "optional_text")]
    pub group_id: Option<Cow<'a, str>>,
}

/// An optional string as `Option<String>` reads it (the same errors), borrowed when it has no
/// escapes.
fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text<'a>(Cow<'a, str>);
    struct TextVisitor;
    impl<'de> de::Visitor<'de> for TextVisitor {
        type Value = Text<'de>;
        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
            Ok(Text(Cow::Borrowed(text)))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Text(Cow::Owned(text.to_owned())))
        }
        fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
            Ok(Text(Cow::Owned(text)))
        }
        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            match std::str::from_utf8(bytes) {
                Ok(text) => Ok(Text(Cow::Owned(text.to_owned()))),
                Err(_) => Err(de::Error::invalid_value(de::Unexpected::Bytes(bytes), &self)),
            }
        }
    }
    impl<'de> Deserialize<'de> for Text<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_string(TextVisitor)
        }
    }
    Ok(Option::<Text<'de>>::deserialize(deserializer)?.map(|text| text.0))
}

/// A line's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineTotal<'a> {
    /// The line's `id`, if it had one (borrowed from the request).
    pub id: Option<&'a str>,
    /// Its figures.
    pub total: Figures,
}

/// A group's figures: the sums of its lines'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupTotal<'a> {
    /// The group id (borrowed from the request).
    pub id: &'a str,
    /// Its figures.
    pub total: Figures,
}

/// The answer of `/invoices-totals`, borrowing its ids from the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsResponse<'a> {
    /// Per group, in order of first appearance.
    pub line_item_group_totals: Vec<GroupTotal<'a>>,
    /// Per line, in input order.
    pub line_item_totals: Vec<LineTotal<'a>>,
    /// The whole request's.
    pub total: Figures,
}

/// Totals of a list of lines: per line in input order, per group in order of first appearance,
/// and overall. Errors are 400s naming the line and field.
///
/// Where the figures fit (as they do for any real invoice) a line is computed in integers, the
/// sums are sums of integer mantissas and a group is found by comparing ids or hashing one
/// (`GroupSums`); the answer borrows the ids from the request, so nothing is allocated per line.
/// The figures and errors are those of `Decimal` arithmetic ([`reference::calculate`]), exactly.
pub fn calculate<'r>(request: &'r TotalsRequest<'_>) -> Result<TotalsResponse<'r>, Error> {
    if request.line_items.len() > MAX_LINES {
        return Err(Error::validation(format!(
            "lineItems: at most {MAX_LINES} lines, got {}",
            request.line_items.len()
        )));
    }
    let places = request.currency.map_or(2, Currency::minor_units);
    let mut total = Mantissas::default();
    let mut groups = GroupSums::default();
    let mut lines = Vec::with_capacity(request.line_items.len());
    for (index, line) in request.line_items.iter().enumerate() {
        let (quantity, rate, tax_rate) = (line.quantity.0, line.rate.0, line.tax_rate.0);
        let (figures, amounts) = match integer_line_figures(quantity, rate, tax_rate, places) {
            Some(amounts) => (amounts.figures(places), amounts),
            None => {
                check_tax_rate(tax_rate).map_err(|m| Error::validation(format!("lineItems[{index}].taxRate: {m}")))?;
                let figures = decimal_line_figures(quantity, rate, tax_rate, places)
                    .map_err(|m| Error::validation(format!("lineItems[{index}]: {m}")))?;
                (figures, Mantissas::of(&figures))
            }
        };
        let overflow = || Error::validation(format!("lineItems[{index}]: the running total is out of range"));
        total = total.checked_add(&amounts).ok_or_else(overflow)?;
        if let Some(group_id) = &line.group_id {
            groups.add(group_id, &amounts).ok_or_else(overflow)?;
        }
        lines.push(LineTotal { id: line.id.as_deref(), total: figures });
    }
    Ok(TotalsResponse {
        line_item_group_totals: groups.totals(places),
        line_item_totals: lines,
        total: total.figures(places),
    })
}

/// Groups compared id by id before [`GroupSums`] indexes them by hash.
const GROUPS_COMPARED: usize = 16;

/// Each group's sums, in the order of the group's first line. A line finds its group by comparing
/// ids while there are at most [`GROUPS_COMPARED`] groups (most invoices have a few, and comparing
/// a few ids costs less than hashing one), and through a hash map beyond, so that 10,000 groups
/// stay one lookup per line.
#[derive(Default)]
struct GroupSums<'a> {
    groups: Vec<(&'a str, Mantissas)>,
    /// Where each group is in `groups`; empty until there are more than [`GROUPS_COMPARED`].
    index: HashMap<&'a str, usize>,
}

impl<'a> GroupSums<'a> {
    /// Adds a line's amounts to its group's sums; `None` when they go out of range.
    fn add(&mut self, id: &'a str, amounts: &Mantissas) -> Option<()> {
        let found = if self.index.is_empty() {
            self.groups.iter().position(|(group, _)| *group == id)
        } else {
            self.index.get(id).copied()
        };
        match found {
            Some(at) => self.groups[at].1 = self.groups[at].1.checked_add(amounts)?,
            None => {
                self.groups.push((id, *amounts));
                if !self.index.is_empty() {
                    self.index.insert(id, self.groups.len() - 1);
                } else if self.groups.len() > GROUPS_COMPARED {
                    self.index = self.groups.iter().enumerate().map(|(at, (group, _))| (*group, at)).collect();
                }
            }
        }
        Some(())
    }

    fn totals(self, places: u32) -> Vec<GroupTotal<'a>> {
        self.groups.into_iter().map(|(id, sums)| GroupTotal { id, total: sums.figures(places) }).collect()
    }
}

/// Totals straight from the JSON text of a `/invoices-totals` body, for the bodies real clients
/// send: `None` when the body is anything else, and then [`calculate`] on the body parsed by
/// serde decides (it is the one that words every error).
///
/// Accepted here: JSON without escapes in strings (`\\`), nesting at most 32 deep, `currency`
/// before `lineItems`, every line an object, decimals that [`parse_decimal`] reads, figures and
/// sums in range, at most [`MAX_LINES`] lines. Anything else, and any input serde would refuse,
/// is `None`: the scanner validates what it skips as serde_json does (strings without control
/// characters, JSON's number grammar, literals, objects and arrays without trailing commas,
/// nothing but whitespace after the body) and refuses a repeated field as serde's derive does. The
/// differential property test checks that its answers are the reference's, byte for byte.
///
/// It reads the body once, computes each line as it is read and borrows the ids from the body:
/// nothing is allocated per line.
pub fn calculate_json(body: &str) -> Option<TotalsResponse<'_>> {
    Scanner { text: body, bytes: body.as_bytes(), at: 0 }.request()
}

/// How deep [`calculate_json`] follows objects and arrays in fields it ignores (serde_json's
/// limit is 128).
const MAX_SKIPPED_DEPTH: u32 = 32;

/// Where a string's text ends: the first `"`, `\\` or control character, eight bytes at a time.
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte that is zero (exact up to the first such byte, which is all that
    // is used: the lowest set bit).
    let zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let special = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH);
        if special != 0 {
            return Some(at + (special.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|p| at + p)
}

/// A decimal as the scanner reads it: a short one as its mantissa and scale (what
/// [`parse_short_decimal`] would make a `Decimal` of), any other as [`parse_decimal`] reads it.
#[derive(Clone, Copy)]
enum Amount {
    Short(i64, u32),
    Long(Decimal),
}

impl Amount {
    fn parts(self) -> (i128, u32) {
        match self {
            Amount::Short(mantissa, scale) => (i128::from(mantissa), scale),
            Amount::Long(decimal) => (decimal.mantissa(), decimal.scale()),
        }
    }

    fn decimal(self) -> Decimal {
        match self {
            Amount::Short(mantissa, scale) => Decimal::new(mantissa, scale),
            Amount::Long(decimal) => decimal,
        }
    }
}

/// A key of a line, as far as totals are concerned.
#[derive(Clone, Copy)]
enum LineKey {
    Id,
    Quantity,
    Rate,
    TaxRate,
    GroupId,
    Other,
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// JSON's whitespace, as serde_json skips it.
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// The next non-whitespace byte, consumed if it is `byte`.
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After a member or an element: `Some(true)` at `,`, `Some(false)` at `close`.
    fn next_or_close(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        self.at += 1;
        match byte {
            b',' => Some(true),
            _ if byte == close => Some(false),
            _ => None,
        }
    }

    /// A string at the cursor, without escapes or control characters: its text, borrowed.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let rest = &self.bytes[start..];
        let length = string_end(rest)?;
        if rest[length] != b'"' {
            return None;
        }
        self.at = start + length + 1;
        // The bounds are next to ASCII quotes: character boundaries of the `&str`.
        Some(&self.text[start..start + length])
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    /// A number at the cursor in JSON's grammar (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`):
    /// its text.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(&self.text[start..self.at])
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..].starts_with(word).then(|| self.at += word.len())
    }

    /// Any JSON value at the cursor (after whitespace), validated and skipped.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'{' if depth < MAX_SKIPPED_DEPTH => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek()? == b'}' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip_whitespace();
                    self.string()?;
                    self.eat(b':')?;
                    self.skip_value(depth + 1)?;
                    if !self.next_or_close(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' if depth < MAX_SKIPPED_DEPTH => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if !self.next_or_close(b']')? {
                        return Some(());
                    }
                }
            }
            _ => None,
        }
    }

    /// `null` or a string (an `id`, a `groupId`).
    fn optional_string(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            _ => self.string().map(Some),
        }
    }

    /// A decimal string or number, as [`ExactDecimal`] reads it.
    fn decimal(&mut self) -> Option<Amount> {
        if let Some((mantissa, scale)) = self.quoted_short_decimal() {
            return Some(Amount::Short(mantissa, scale));
        }
        let text = match self.peek()? {
            b'"' => {
                // Most decimal strings are digits, a point and a sign: found without `string`'s
                // checks, which such bytes pass anyway.
                let start = self.at + 1;
                let rest = &self.bytes[start..];
                match rest.iter().take(32).position(|&b| !matches!(b, b'0'..=b'9' | b'.' | b'-')) {
                    Some(length) if rest[length] == b'"' => {
                        self.at = start + length + 1;
                        &self.text[start..start + length]
                    }
                    _ => self.string()?,
                }
            }
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        };
        match short_decimal_parts(text.as_bytes()) {
            Some((mantissa, scale)) => Some(Amount::Short(mantissa, scale)),
            None => parse_decimal(text).ok().map(Amount::Long),
        }
    }

    /// The usual decimal, a string that [`short_decimal_parts`] reads, parsed in the same pass
    /// that finds its end; `None`, the cursor unmoved, for anything else.
    fn quoted_short_decimal(&mut self) -> Option<(i64, u32)> {
        let rest = self.bytes.get(self.at..)?.strip_prefix(b"\"")?;
        let (negative, digits) = match rest.first()? {
            b'-' => (true, &rest[1..]),
            _ => (false, rest),
        };
        let (mut mantissa, mut count, mut point) = (0i64, 0usize, None);
        let mut length = 0;
        loop {
            match *digits.get(length)? {
                // Wrapping: more than 18 digits are refused below.
                byte @ b'0'..=b'9' => {
                    mantissa = mantissa.wrapping_mul(10).wrapping_add(i64::from(byte - b'0'));
                    count += 1;
                }
                // A point between digits, once.
                b'.' if point.is_none() && count > 0 => point = Some(count),
                b'"' => break,
                _ => return None,
            }
            length += 1;
        }
        let scale = count - point.unwrap_or(count);
        if count == 0 || count > 18 || point == Some(count) || (negative && mantissa == 0) {
            return None;
        }
        // The opening quote, a sign, the text and the closing quote.
        self.at += 1 + usize::from(negative) + length + 1;
        Some((if negative { -mantissa } else { mantissa }, scale as u32))
    }

    /// A line's key at the cursor: the fields totals read are recognised by their exact bytes
    /// (with the quotes, so a longer key or one with escapes is not one of them).
    fn line_key(&mut self) -> Option<LineKey> {
        let rest = &self.bytes[self.at..];
        let known: [(&[u8], LineKey); 5] = [
            (b"\"quantity\"", LineKey::Quantity),
            (b"\"rate\"", LineKey::Rate),
            (b"\"taxRate\"", LineKey::TaxRate),
            (b"\"id\"", LineKey::Id),
            (b"\"groupId\"", LineKey::GroupId),
        ];
        for (word, key) in known {
            if rest.starts_with(word) {
                self.at += word.len();
                return Some(key);
            }
        }
        self.string().map(|_| LineKey::Other)
    }

    /// The body: an object with `lineItems` and perhaps a `currency` before it.
    fn request(&mut self) -> Option<TotalsResponse<'a>> {
        self.eat(b'{')?;
        let (mut places, mut currency_seen, mut response) = (2, false, None);
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.eat(b':')?;
            self.skip_whitespace();
            match key {
                "currency" if !currency_seen && response.is_none() => {
                    currency_seen = true;
                    let start = self.at;
                    self.skip_value(0)?;
                    let currency: Option<Currency> = serde_json::from_str(&self.text[start..self.at]).ok()?;
                    places = currency.map_or(2, Currency::minor_units);
                }
                "lineItems" if response.is_none() => response = Some(self.lines(places)?),
                "currency" | "lineItems" => return None,
                _ => self.skip_value(0)?,
            }
            if !self.next_or_close(b'}')? {
                break;
            }
        }
        self.skip_whitespace();
        if self.at != self.bytes.len() {
            return None;
        }
        response
    }

    /// The lines' array, each line computed as it is read.
    fn lines(&mut self, places: u32) -> Option<TotalsResponse<'a>> {
        if self.peek()? != b'[' {
            return None;
        }
        self.at += 1;
        let mut total = Mantissas::default();
        let mut groups = GroupSums::default();
        let mut lines = Vec::new();
        self.skip_whitespace();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                if lines.len() == MAX_LINES {
                    return None;
                }
                let (id, amounts, group_id) = self.line(places)?;
                total = total.checked_add(&amounts)?;
                if let Some(group_id) = group_id {
                    groups.add(group_id, &amounts)?;
                }
                lines.push(LineTotal { id, total: amounts.figures(places) });
                if !self.next_or_close(b']')? {
                    break;
                }
            }
        }
        Some(TotalsResponse {
            line_item_group_totals: groups.totals(places),
            line_item_totals: lines,
            total: total.figures(places),
        })
    }

    /// One line: its id, its figures and its group.
    #[allow(clippy::type_complexity)]
    fn line(&mut self, places: u32) -> Option<(Option<&'a str>, Mantissas, Option<&'a str>)> {
        self.eat(b'{')?;
        let (mut id, mut group_id) = (None, None);
        let (mut quantity, mut rate, mut tax_rate) = (None, None, None);
        loop {
            self.skip_whitespace();
            let key = self.line_key()?;
            self.eat(b':')?;
            self.skip_whitespace();
            // A repeated field is an error for serde: left to it.
            match key {
                LineKey::Id if id.is_none() => id = Some(self.optional_string()?),
                LineKey::Quantity if quantity.is_none() => quantity = Some(self.decimal()?),
                LineKey::Rate if rate.is_none() => rate = Some(self.decimal()?),
                LineKey::TaxRate if tax_rate.is_none() => tax_rate = Some(self.decimal()?),
                LineKey::GroupId if group_id.is_none() => group_id = Some(self.optional_string()?),
                LineKey::Other => self.skip_value(1)?,
                _ => return None,
            }
            if !self.next_or_close(b'}')? {
                break;
            }
        }
        let (quantity, rate, tax_rate) = (quantity?, rate?, tax_rate?);
        let amounts = match integer_figures(quantity.parts(), rate.parts(), tax_rate.parts(), places) {
            Some(amounts) => amounts,
            None => {
                let (quantity, rate, tax_rate) = (quantity.decimal(), rate.decimal(), tax_rate.decimal());
                check_tax_rate(tax_rate).ok()?;
                Mantissas::of(&decimal_line_figures(quantity, rate, tax_rate, places).ok()?)
            }
        };
        Some((id.flatten(), amounts, group_id.flatten()))
    }
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
        let body = body.to_string();
        let request: TotalsRequest = serde_json::from_str(&body).map_err(|e| e.to_string())?;
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
    fn groups_past_those_compared_one_by_one_keep_their_order_and_sums() {
        // 20 groups, each line's group after the first 16 found by hash: g0..g19, then again.
        let lines: Vec<_> = (0..40)
            .map(|i| json!({"quantity": "1", "rate": "1.01", "taxRate": "0", "groupId": format!("g{}", i % 20)}))
            .collect();
        let body = json!({"lineItems": lines});
        let result = totals(body.clone()).unwrap();
        // The scanner the endpoint runs agrees.
        let text = body.to_string();
        assert_eq!(serde_json::to_value(calculate_json(&text).unwrap()).unwrap(), result);
        let groups = result["lineItemGroupTotals"].as_array().unwrap();
        let ids: Vec<_> = groups.iter().map(|g| g["id"].as_str().unwrap()).collect();
        assert_eq!(ids, (0..20).map(|i| format!("g{i}")).collect::<Vec<_>>());
        assert!(groups.iter().all(|g| g["total"]["netTotal"] == "2.02"));
        assert_eq!(result["total"]["netTotal"], "40.40");
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
