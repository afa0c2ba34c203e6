//! Properties of totals on random lines: negatives, many decimal places, every currency scale.

use invoicing_domain::{
    model::currency::Currency,
    model::totals::{calculate, line_figures, ExactDecimal, TotalsLine, TotalsRequest},
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn decimal(max_mantissa: i64, max_scale: u32) -> impl Strategy<Value = Decimal> {
    (-max_mantissa..=max_mantissa, 0..=max_scale).prop_map(|(m, s)| Decimal::new(m, s))
}

fn tax_rate() -> impl Strategy<Value = Decimal> {
    (0i64..=10_000_000_000, 10u32..=10).prop_map(|(m, s)| Decimal::new(m, s))
}

fn line() -> impl Strategy<Value = TotalsLine<'static>> {
    (decimal(10_000_000_000, 12), decimal(100_000_000_000, 14), tax_rate(), prop::option::of(0u8..24)).prop_map(
        |(quantity, rate, tax_rate, group)| TotalsLine {
            id: None,
            quantity: ExactDecimal(quantity),
            rate: ExactDecimal(rate),
            tax_rate: ExactDecimal(tax_rate),
            group_id: group.map(|g| format!("group-{g}").into()),
        },
    )
}

fn currency() -> impl Strategy<Value = Option<Currency>> {
    prop::option::of(prop::sample::select(Currency::ALL.to_vec()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn totals_are_sums_of_lines_and_groups_partition_them(lines in prop::collection::vec(line(), 0..60), currency in currency()) {
        let request = TotalsRequest { currency, line_items: lines };
        let response = calculate(&request).unwrap();
        let places = currency.map_or(2, Currency::minor_units);

        let sum = |pick: &dyn Fn(&invoicing_domain::model::totals::Figures) -> Decimal, items: &mut dyn Iterator<Item = invoicing_domain::model::totals::Figures>| {
            items.fold(Decimal::ZERO, |acc, f| acc + pick(&f))
        };
        let lines = || response.line_item_totals.iter().map(|l| l.total);
        prop_assert_eq!(sum(&|f| f.net_total, &mut lines()), response.total.net_total);
        prop_assert_eq!(sum(&|f| f.total_tax, &mut lines()), response.total.total_tax);
        prop_assert_eq!(sum(&|f| f.gross_total, &mut lines()), response.total.gross_total);

        // Groups plus ungrouped lines add up to the total, exactly.
        let ungrouped = request.line_items.iter().zip(lines()).filter(|(l, _)| l.group_id.is_none()).map(|(_, f)| f);
        let grouped = response.line_item_group_totals.iter().map(|g| g.total);
        let all: Vec<_> = ungrouped.chain(grouped).collect();
        prop_assert_eq!(sum(&|f| f.gross_total, &mut all.clone().into_iter()), response.total.gross_total);
        prop_assert_eq!(sum(&|f| f.net_total, &mut all.into_iter()), response.total.net_total);

        for (line, total) in request.line_items.iter().zip(lines()) {
            // Each line: exact rounding of its own product, the currency's scale, gross = net + tax.
            prop_assert_eq!(total, line_figures(line.quantity.0, line.rate.0, line.tax_rate.0, places).unwrap());
            for figure in [total.net_total, total.total_tax, total.gross_total] {
                prop_assert_eq!(figure.scale(), places);
                let text = figure.to_string();
                prop_assert!(!(figure.is_zero() && text.starts_with('-')), "negative zero {}", text);
                prop_assert!(!text.contains('e') && !text.contains('E'));
            }
            prop_assert_eq!(total.gross_total, total.net_total + total.total_tax);
            let exact_net = line.quantity.0 * line.rate.0;
            prop_assert!((total.net_total - exact_net).abs() <= Decimal::new(5, places + 1));
        }
    }
}

/// The differential test of issue #14: random bodies (valid and not) give byte-identical answers
/// and errors through the fast implementation and through the reference (`totals::reference`,
/// the owned serde_json + `Decimal` path it replaced), read as the API reads them (with and
/// without the field path).
mod differential {
    use invoicing_domain::model::{
        currency::Currency,
        totals::{self, reference},
    };
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    /// A decimal as JSON text: mostly short strings and numbers, also long ones, exponents,
    /// negative zeros, escapes, values near `Decimal`'s limits and things that are not decimals.
    fn decimal_text() -> impl Strategy<Value = String> {
        let short = (any::<i64>(), 0u32..=20, any::<bool>()).prop_map(|(m, s, quoted)| {
            let text = Decimal::new(m % 10i64.pow(1 + s % 17), s).to_string();
            if quoted {
                format!("\"{text}\"")
            } else {
                text
            }
        });
        let long = ("-?[0-9]{1,30}(\\.[0-9]{1,30})?", any::<bool>()).prop_map(|(text, quoted)| {
            if quoted {
                format!("\"{text}\"")
            } else {
                text
            }
        });
        let special = prop::sample::select(vec![
            "\"-0\"",
            "-0",
            "\"-0.00\"",
            "-0.0",
            "0",
            "\"0\"",
            "1e3",
            "\"25E-2\"",
            "1E+2",
            "1e400",
            "\"1e-400\"",
            "0e999",
            "\"\\u0031.5\"",
            "\"1\\u002e5\"",
            "\"\\ud800\"",
            "\"abc\"",
            "\"1.\"",
            "\".5\"",
            "\"+1\"",
            "\"\"",
            "\" 1\"",
            "\"1 \"",
            "\"0x10\"",
            "true",
            "null",
            "{}",
            "[1]",
            "\"79228162514264337593543950335\"",
            "\"9999999999999999999999999999\"",
            "\"0.00000000000000000000000000001\"",
            "1.5e2",
            "0.1",
            "\"500000000000000000000000000\"",
            "\"396140812571321687967719751\"",
            "\"0.0000000000000000000000000001\"",
            "\"1234567890123456789\"",
            "\"123456789012345678\"",
            "\"12345678901234567.8\"",
            "\"-999999999999999999\"",
            "\"007\"",
            "\"1.50\"",
            "1.0000000000000000000000000000",
            "\"1..2\"",
            "\"1.2.3\"",
            "\"--1\"",
        ])
        .prop_map(str::to_owned);
        prop_oneof![8 => short, 2 => long, 1 => special]
    }

    /// A tax rate: mostly a fraction from 0 to 1 with any scale, sometimes anything.
    fn tax_rate_text() -> impl Strategy<Value = String> {
        let fraction = (0u64..=100_000, 0u32..=5, any::<bool>()).prop_map(|(m, s, quoted)| {
            let text = Decimal::new((m % (10u64.pow(s) + 1)) as i64, s).to_string();
            if quoted {
                format!("\"{text}\"")
            } else {
                text
            }
        });
        let edges =
            prop::sample::select(vec!["\"1\"", "\"1.000\"", "\"0\"", "\"-0\"", "\"0.2\"", "\"1.0001\"", "\"-0.1\""])
                .prop_map(str::to_owned);
        prop_oneof![6 => fraction, 2 => edges, 1 => decimal_text()]
    }

    /// An id or group id: plain, escaped, null, or not a string.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[a-c]{1,2}".prop_map(|t| format!("\"{t}\"")),
            1 => prop::sample::select(vec!["\"a\\u0062\"", "\"\\\"q\\\"\"", "null", "5", "\"\"", "\"é\""]).prop_map(str::to_owned),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        (
            prop::option::of(text()),
            prop::option::of(decimal_text()),
            decimal_text(),
            prop::option::weighted(0.97, tax_rate_text()),
            prop::option::of(text()),
            0u8..30,
        )
            .prop_map(|(id, quantity, rate, tax_rate, group, extra)| {
                let mut fields = Vec::new();
                if let Some(id) = id {
                    fields.push(format!("\"id\": {id}"));
                }
                fields.push("\"title\": \"Usage\", \"netTotal\": 0".to_owned());
                // A missing quantity is rare: most lines should reach the arithmetic.
                fields.push(format!("\"quantity\": {}", quantity.unwrap_or_else(|| "\"1\"".to_owned())));
                fields.push(format!("\"rate\": {rate}"));
                if let Some(tax_rate) = tax_rate {
                    fields.push(format!("\"taxRate\": {tax_rate}"));
                }
                if let Some(group) = group {
                    fields.push(format!("\"groupId\": {group}"));
                }
                match extra {
                    0 => fields.push("\"rate\": \"1\"".to_owned()),
                    1 => fields.reverse(),
                    2 => fields.push("\"servicePeriod\": {\"startDate\": \"2022-10-20\"}".to_owned()),
                    3 => fields.push("\"externalIds\": [{\"key\": \"Xero\", \"value\": \"1\"}, [], {}, [1.5e-3, -0, true, false, null]]".to_owned()),
                    4 => fields.push(r#""index": 2, "t\u0069tle": "x""#.to_owned()),
                    5 => fields.push(r#""\u0069d": "escaped-key""#.to_owned()),
                    6 => fields.push(r#""note": "caf\u00e9 \"q\"", "é": "ü""#.to_owned()),
                    7 => fields.push("\"deep\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]".to_owned()),
                    8 => return format!("[{}]", fields.join(", ")),
                    9 => return format!("{{ {} }}", fields.join(" ,\n\t")),
                    _ => {}
                }
                format!("{{{}}}", fields.join(", "))
            })
    }

    fn body() -> impl Strategy<Value = String> {
        let currency = prop_oneof![
            4 => Just(None),
            6 => prop::sample::select(Currency::ALL.to_vec()).prop_map(|c| Some(serde_json::to_string(&c).unwrap())),
            1 => Just(Some("\"XXX\"".to_owned())),
        ];
        (currency, prop::collection::vec(line(), 0..12), any::<bool>()).prop_map(|(currency, lines, currency_last)| {
            let lines = format!("\"lineItems\": [{}]", lines.join(", "));
            match currency {
                None => format!("{{{lines}}}"),
                Some(c) if currency_last => format!("{{{lines}, \"currency\": {c}}}"),
                Some(c) => format!("{{\"currency\": {c}, {lines}}}"),
            }
        })
    }

    /// JSON whitespace, mostly none.
    fn space() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "", " ", "\n", "\t ", "\r\n  "])
    }

    /// A body as clients send it (the fast path's shape): valid short decimals, plain ids, ignored
    /// fields of every JSON kind, random whitespace.
    fn clean_body() -> impl Strategy<Value = String> {
        let decimal = (-10_000_000i64..10_000_000, 0u32..=6, any::<bool>()).prop_map(|(m, s, quoted)| {
            let text = Decimal::new(m, s).to_string();
            if quoted {
                format!("\"{text}\"")
            } else {
                text
            }
        });
        let tax = (0i64..=100, any::<bool>()).prop_map(|(m, quoted)| {
            let text = Decimal::new(m, 2).to_string();
            if quoted {
                format!("\"{text}\"")
            } else {
                text
            }
        });
        let ignored = prop::sample::select(vec![
            r#""title": "Usage""#,
            r#""index": 2"#,
            r#""netTotal": -0.5e+3"#,
            r#""servicePeriod": {"startDate": "2022-10-20", "endDate": null}"#,
            r#""externalIds": [{"key": "Xero", "value": "1"}, [], {}, [true, false, null, 0, 1E5]]"#,
            r#""é": "ü""#,
            r#""rateDisplay": "ABSOLUTE""#,
        ]);
        let line = (
            prop::option::of("[a-c]{1,2}"),
            decimal.clone(),
            decimal,
            tax,
            prop::option::of("[a-c]{1,2}"),
            prop::collection::vec(ignored, 0..3),
            space(),
        )
            .prop_map(|(id, quantity, rate, tax_rate, group, ignored, space)| {
                let mut fields: Vec<String> = ignored.into_iter().map(str::to_owned).collect();
                if let Some(id) = id {
                    fields.push(format!("\"id\":{space}\"{id}\""));
                }
                fields.push(format!("\"quantity\"{space}:{space}{quantity}"));
                fields.push(format!("\"rate\":{rate}"));
                fields.push(format!("\"taxRate\": {tax_rate}"));
                match group {
                    Some(group) => fields.push(format!("\"groupId\": \"{group}\"")),
                    None => fields.push("\"groupId\": null".to_owned()),
                }
                format!("{space}{{{space}{}{space}}}", fields.join(&format!("{space},")))
            });
        let currency = prop::option::of(prop::sample::select(Currency::ALL.to_vec()));
        (currency, prop::collection::vec(line, 0..8), space()).prop_map(|(currency, lines, space)| {
            let currency = currency.map(|c| format!("\"currency\":{space}{},", serde_json::to_string(&c).unwrap()));
            format!("{space}{{{}\"lineItems\": [{}]{space}}}{space}", currency.unwrap_or_default(), lines.join(","))
        })
    }

    /// The answer's exact JSON, or the error's exact text, as the endpoint gets them: straight from
    /// the text when `calculate_json` takes the body, else through serde and `calculate`.
    fn fast(body: &str) -> Result<String, String> {
        if let Some(answer) = totals::calculate_json(body) {
            return Ok(serde_json::to_string(&answer).unwrap());
        }
        serde_path(body)
    }

    /// Through serde and `calculate` only.
    fn serde_path(body: &str) -> Result<String, String> {
        let request: totals::TotalsRequest = serde_json::from_str(body).map_err(|e| e.to_string())?;
        totals::calculate(&request)
            .map(|answer| serde_json::to_string(&answer).unwrap())
            .map_err(|e| e.public_message().to_string())
    }

    fn slow(body: &str) -> Result<String, String> {
        let request: reference::TotalsRequest = serde_json::from_str(body).map_err(|e| e.to_string())?;
        reference::calculate(&request)
            .map(|answer| serde_json::to_string(&answer).unwrap())
            .map_err(|e| e.public_message().to_string())
    }

    /// The error as the API's path-tracking parse words it.
    fn with_path<'de, T: serde::Deserialize<'de>>(body: &'de str) -> Result<T, String> {
        let mut deserializer = serde_json::Deserializer::from_str(body);
        let value =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        deserializer.end().map_err(|e| e.to_string())?;
        Ok(value)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn fast_answers_and_errors_are_the_reference_s(body in body()) {
            prop_assert_eq!(fast(&body), slow(&body), "{}", body);
            prop_assert_eq!(serde_path(&body), slow(&body), "{}", body);
            let fast_parsed = with_path::<totals::TotalsRequest>(&body).map(|_| ());
            let slow_parsed = with_path::<reference::TotalsRequest>(&body).map(|_| ());
            prop_assert_eq!(fast_parsed, slow_parsed, "{}", body);
        }

        #[test]
        fn clean_bodies_take_the_fast_path_with_the_reference_s_answer(body in clean_body()) {
            prop_assert!(totals::calculate_json(&body).is_some(), "{}", body);
            prop_assert_eq!(fast(&body), slow(&body), "{}", body);
        }

        /// A body with one byte replaced, inserted or removed: whatever the scanner makes of it,
        /// the answer or error is serde's.
        #[test]
        fn mutated_bodies_answer_as_the_reference(body in prop_oneof![body(), clean_body(), clean_body()], at in any::<prop::sample::Index>(), byte in prop::sample::select(b" \t\n\r{}[],:\"\\0123456789.-+eEtfnulx\x01".to_vec()), how in 0u8..3) {
            let mut bytes = body.into_bytes();
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                match how {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => { bytes.remove(at); }
                }
            }
            let Ok(body) = String::from_utf8(bytes) else { return Ok(()) };
            prop_assert_eq!(fast(&body), slow(&body), "{}", body);
        }

        #[test]
        fn line_figures_are_the_decimal_figures(
            q in any::<i64>(), qs in 0u32..=20, r in any::<i64>(), rs in 0u32..=20,
            t in 0i64..=1_000_000_000_000, ts in 0u32..=14, places in 0u32..=4,
            wide in any::<bool>(),
        ) {
            // `wide`: 96-bit mantissas, where products leave i64 and Decimal's own range.
            let widen = |m: i64| if wide { Decimal::from_i128_with_scale(i128::from(m) << 30, 0) } else { Decimal::from(m) };
            let (mut quantity, mut rate) = (widen(q), widen(r));
            quantity.set_scale(qs).unwrap();
            rate.set_scale(rs).unwrap();
            let tax_rate = Decimal::new(t, ts);
            let fast = totals::line_figures(quantity, rate, tax_rate, places);
            let slow = reference::line_figures(quantity, rate, tax_rate, places);
            prop_assert_eq!(&fast, &slow);
            if let Ok(figures) = fast {
                let slow = slow.unwrap();
                for (a, b) in [(figures.net_total, slow.net_total), (figures.total_tax, slow.total_tax), (figures.gross_total, slow.gross_total)] {
                    prop_assert_eq!(a.to_string(), b.to_string());
                }
            }
        }

        #[test]
        fn decimals_parse_as_the_reference_parses(m in any::<i64>(), scale in 0u32..=28, text in "-?[0-9]{1,30}(\\.[0-9]{0,30})?") {
            for text in [Decimal::new(m, scale.min(28)).to_string(), text] {
                let (fast, slow) = (totals::parse_decimal(&text), reference::parse_decimal(&text));
                prop_assert_eq!(&fast, &slow, "{}", text);
                if let (Ok(fast), Ok(slow)) = (fast, slow) {
                    prop_assert_eq!((fast.scale(), fast.is_sign_negative(), fast.to_string()), (slow.scale(), slow.is_sign_negative(), slow.to_string()));
                }
            }
        }
    }
}
