//! Money is `rust_decimal::Decimal`, rounded half away from zero to the currency's minor units.

use crate::currency::Currency;
use rust_decimal::{Decimal, RoundingStrategy};

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
    fn never_produces_negative_zero() {
        assert_eq!(round(d("-0.001"), Currency::USD).to_string(), "0.00");
        assert_eq!(round(d("-0.4"), Currency::JPY).to_string(), "0");
    }
}
