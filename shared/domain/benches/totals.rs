//! Totals throughput: `cargo bench -p invoicing-domain --bench totals`. Divan prints lines per
//! second for 10, 1,000 and 10,000 lines, including parsing the JSON body as the endpoint does.

use divan::{counter::ItemsCount, Bencher};
use invoicing_domain::model::totals::{calculate, TotalsRequest};

fn main() {
    divan::main();
}

fn body(lines: usize) -> String {
    let line = |i: usize| {
        format!(
            r#"{{"id": "line-{i}", "title": "Usage", "quantity": "{}.25", "rate": "{}.10", "taxRate": "0.2", "groupId": "group-{}"}}"#,
            i % 97,
            1000 + i,
            i % 7
        )
    };
    let lines: Vec<String> = (0..lines).map(line).collect();
    format!(r#"{{"currency": "EUR", "lineItems": [{}]}}"#, lines.join(","))
}

#[divan::bench(args = [10, 1_000, 10_000])]
fn parse_and_calculate(bencher: Bencher, lines: usize) {
    let body = body(lines);
    bencher.counter(ItemsCount::new(lines)).bench(|| {
        let request: TotalsRequest = serde_json::from_str(divan::black_box(&body)).unwrap();
        calculate(&request).unwrap()
    });
}

#[divan::bench(args = [10, 1_000, 10_000])]
fn calculate_only(bencher: Bencher, lines: usize) {
    let request: TotalsRequest = serde_json::from_str(&body(lines)).unwrap();
    bencher.counter(ItemsCount::new(lines)).bench(|| calculate(divan::black_box(&request)).unwrap());
}

/// Group lookup: 10,000 lines in as many distinct groups as given (1 to 10,000). A lookup per line
/// that scanned the groups would make the 10,000-group case quadratic; each line hashes its group.
#[divan::bench(args = [1, 100, 10_000])]
fn calculate_with_groups(bencher: Bencher, groups: usize) {
    let lines: Vec<String> = (0..10_000)
        .map(|i| {
            format!(r#"{{"quantity": "1", "rate": "{i}.10", "taxRate": "0.2", "groupId": "group-{}"}}"#, i % groups)
        })
        .collect();
    let request: TotalsRequest =
        serde_json::from_str(&format!(r#"{{"currency": "EUR", "lineItems": [{}]}}"#, lines.join(","))).unwrap();
    bencher.counter(ItemsCount::new(10_000usize)).bench(|| calculate(divan::black_box(&request)).unwrap());
}
