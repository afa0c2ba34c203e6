use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

macro_rules! currencies {
    ($($code:ident => $minor:expr),+ $(,)?) => {
        /// The invoice currencies the API accepts (Sequence's list), each with its minor units.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Currency { $(#[doc = concat!("ISO 4217 `", stringify!($code), "`.")] $code),+ }

        impl Currency {
            /// Every supported currency.
            pub const ALL: &'static [Currency] = &[$(Currency::$code),+];

            /// Decimal places of the currency's minor unit (docs/contract.md, section 1).
            pub fn minor_units(self) -> u32 {
                match self { $(Currency::$code => $minor),+ }
            }

            /// The ISO 4217 code.
            pub fn code(self) -> &'static str {
                match self { $(Currency::$code => stringify!($code)),+ }
            }
        }

        impl FromStr for Currency {
            type Err = UnknownCurrency;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($code) => Ok(Currency::$code),)+
                    _ => Err(UnknownCurrency(s.to_string())),
                }
            }
        }
    };
}

currencies! {
    ARS => 2, AUD => 2, BRL => 2, CAD => 2, CHF => 2, CNY => 2, COP => 2, CZK => 2, DKK => 2,
    EUR => 2, GBP => 2, HKD => 2, ILS => 2, JPY => 0, KRW => 0, MXN => 2, NOK => 2, NZD => 2,
    PLN => 2, SEK => 2, SGD => 2, THB => 2, USD => 2, UYU => 2, ZAR => 2,
}

/// A currency code this API does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency `{0}`")]
pub struct UnknownCurrency(pub String);

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_25_currencies_of_the_seed() {
        assert_eq!(Currency::ALL.len(), 25);
    }

    #[test]
    fn yen_and_won_have_no_minor_units_others_two() {
        assert_eq!(Currency::JPY.minor_units(), 0);
        assert_eq!(Currency::KRW.minor_units(), 0);
        for c in Currency::ALL.iter().filter(|c| !matches!(c, Currency::JPY | Currency::KRW)) {
            assert_eq!(c.minor_units(), 2, "{c}");
        }
    }

    #[test]
    fn parses_codes_and_rejects_unknown_ones() {
        assert_eq!("GBP".parse::<Currency>(), Ok(Currency::GBP));
        assert_eq!("gbp".parse::<Currency>(), Err(UnknownCurrency("gbp".into())));
        assert_eq!(serde_json::to_string(&Currency::JPY).unwrap(), "\"JPY\"");
    }
}
