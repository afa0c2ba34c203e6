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

fn line() -> impl Strategy<Value = TotalsLine> {
    (decimal(10_000_000_000, 12), decimal(100_000_000_000, 14), tax_rate(), prop::option::of(0u8..4)).prop_map(
        |(quantity, rate, tax_rate, group)| TotalsLine {
            id: None,
            quantity: ExactDecimal(quantity),
            rate: ExactDecimal(rate),
            tax_rate: ExactDecimal(tax_rate),
            group_id: group.map(|g| format!("group-{g}")),
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
