//! Money is `rust_decimal::Decimal`, rounded half away from zero to the currency's minor units.

use super::currency::Currency;
use rust_decimal::{prelude::ToPrimitive, Decimal, RoundingStrategy};

/// Rounds to `places` decimal places, half away from zero, with exactly `places` digits of scale
/// and never a negative zero.
pub fn round_to_places(amount: Decimal, places: u32) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(places);
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    rounded
}

/// Like [`round_to_places`], but `None` when the amount is too large to carry `places` decimal
/// places (rust_decimal holds 96 bits of mantissa): such an amount has no exact fixed-point form.
pub fn checked_round(amount: Decimal, places: u32) -> Option<Decimal> {
    let rounded = round_to_places(amount, places);
    (rounded.scale() == places).then_some(rounded)
}

/// Rounds an amount to the currency's minor units.
pub fn round(amount: Decimal, currency: Currency) -> Decimal {
    round_to_places(amount, currency.minor_units())
}

/// The zero amount of a currency, with the currency's scale (`"0.00"`, JPY `"0"`).
pub fn zero(currency: Currency) -> Decimal {
    round(Decimal::ZERO, currency)
}

/// The largest magnitude of any amount an invoice stores or a payment carries, in minor units
/// (9,999,999,999,999.99 of a two-decimal currency). Below 2^53, so every amount is exact as a
/// JSON number as well (Slash's `*Cents` fields), and far below `i64::MAX`, so sums of the bounded
/// number of payments an invoice takes never overflow.
pub const MAX_MINOR_UNITS: i64 = 999_999_999_999_999;

/// An amount in minor units (cents; whole yen for JPY), rounded half away from zero; `None` when
/// it does not fit in an `i64`.
pub fn to_minor_units(amount: Decimal, places: u32) -> Option<i64> {
    let scaled = amount.checked_mul(Decimal::from(10i64.checked_pow(places)?))?;
    let mut whole = scaled.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    whole.rescale(0);
    whole.to_i64()
}

/// The amount in minor units if its magnitude is at most [`MAX_MINOR_UNITS`]; otherwise an error
/// that says what the limit is in the currency's own units.
pub fn bounded_minor_units(amount: Decimal, places: u32) -> Result<i64, String> {
    match to_minor_units(amount, places) {
        Some(minor) if minor.unsigned_abs() <= MAX_MINOR_UNITS.unsigned_abs() => Ok(minor),
        _ => Err(format!("out of range: amounts may be at most {} in magnitude", max_amount(places))),
    }
}

/// [`MAX_MINOR_UNITS`] in major units with `places` decimals (`"9999999999999.99"`).
pub fn max_amount(places: u32) -> Decimal {
    Decimal::new(MAX_MINOR_UNITS, places)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round(d("0.005"), Currency::USD).to_string(), "0.01");
        assert_eq!(round(d("-0.005"), Currency::USD).to_string(), "-0.01");
        assert_eq!(round(d("0.0049"), Currency::USD).to_string(), "0.00");
        assert_eq!(round(d("2.5"), Currency::JPY).to_string(), "3");
        assert_eq!(round(d("-2.5"), Currency::JPY).to_string(), "-3");
    }

    #[test]
    fn pads_to_the_minor_units() {
        assert_eq!(round(d("5"), Currency::GBP).to_string(), "5.00");
        assert_eq!(round(d("-5"), Currency::GBP).to_string(), "-5.00");
        assert_eq!(zero(Currency::EUR).to_string(), "0.00");
        assert_eq!(zero(Currency::KRW).to_string(), "0");
    }

    #[test]
    fn amounts_too_large_for_their_scale_are_refused() {
        assert_eq!(checked_round(d("12.345"), 2).unwrap().to_string(), "12.35");
        assert_eq!(checked_round(d("9999999999999999999999999999"), 2), None);
        assert_eq!(
            checked_round(d("9999999999999999999999999999"), 0).unwrap().to_string(),
            "9999999999999999999999999999"
        );
    }

    #[test]
    fn minor_units_are_exact_and_bounded() {
        assert_eq!(to_minor_units(d("12.34"), 2), Some(1234));
        assert_eq!(to_minor_units(d("-0.005"), 2), Some(-1));
        assert_eq!(to_minor_units(d("1500"), 0), Some(1500));
        assert_eq!(to_minor_units(d("1000000000000000000000000000"), 2), None);
        assert_eq!(to_minor_units(d("92233720368547758.08"), 2), None);
        assert_eq!(bounded_minor_units(d("9999999999999.99"), 2), Ok(999_999_999_999_999));
        assert_eq!(bounded_minor_units(d("-9999999999999.99"), 2), Ok(-999_999_999_999_999));
        assert_eq!(
            bounded_minor_units(d("10000000000000"), 2).unwrap_err(),
            "out of range: amounts may be at most 9999999999999.99 in magnitude"
        );
        assert_eq!(max_amount(0).to_string(), "999999999999999");
    }

    #[test]
    fn never_produces_negative_zero() {
        assert_eq!(round(d("-0.001"), Currency::USD).to_string(), "0.00");
        assert_eq!(round(d("-0.4"), Currency::JPY).to_string(), "0");
    }
}
