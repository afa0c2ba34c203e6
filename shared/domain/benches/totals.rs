//! Totals throughput: `cargo bench -p invoicing-domain --bench totals`. Divan prints lines per
//! second for 10, 1,000 and 10,000 lines, including parsing the JSON body as the endpoint does.

use divan::{counter::ItemsCount, Bencher};
use invoicing_domain::totals::{calculate, TotalsRequest};

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
