//! Totals throughput: `cargo bench -p invoicing-domain --bench totals`. Divan prints lines per
//! second for 10, 1,000 and 10,000 lines, including parsing the JSON body as the endpoint does.
//!
//! Every benchmark runs as `fast` (the API's implementation: `calculate_json` for the body, which
//! is the shape clients send) and `reference` (the implementation before issue #14,
//! `totals::reference`: owned strings, a `Box<RawValue>` per decimal, `Decimal` arithmetic) in the
//! same run, so that they are compared on the same machine at the same time; `parse_and_calculate`
//! also as `serde` (serde_json into the borrowed request, then `calculate`: what any other body
//! costs). `bench/totals_vs_python.py` adds Python's `decimal` on the same body.

use divan::{counter::ItemsCount, Bencher};
use invoicing_domain::model::totals::{self, reference};

fn main() {
    divan::main();
}

/// The body both implementations (and the Python script) read: EUR, seven groups, every line with
/// an id, an ignored title, a quantity, a rate and a 20 % tax rate.
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

/// 10,000 lines in as many distinct groups as given.
fn grouped_body(groups: usize) -> String {
    let lines: Vec<String> = (0..10_000)
        .map(|i| {
            format!(r#"{{"quantity": "1", "rate": "{i}.10", "taxRate": "0.2", "groupId": "group-{}"}}"#, i % groups)
        })
        .collect();
    format!(r#"{{"currency": "EUR", "lineItems": [{}]}}"#, lines.join(","))
}

/// Parsing the body and computing every line, group and invoice total, as the endpoint does.
mod parse_and_calculate {
    use super::*;

    #[divan::bench(args = [10, 1_000, 10_000])]
    fn fast(bencher: Bencher, lines: usize) {
        let body = body(lines);
        // As the endpoint does: the body read once, computed as it is read.
        assert!(totals::calculate_json(&body).is_some(), "the bench's body takes the fast path");
        bencher.counter(ItemsCount::new(lines)).bench(|| {
            // The answer borrows from the body: its size is what escapes the closure.
            totals::calculate_json(divan::black_box(&body)).unwrap().line_item_totals.len()
        });
    }

    /// serde_json into the borrowed request, then `calculate`: the path of any other body.
    #[divan::bench(args = [10, 1_000, 10_000])]
    fn serde(bencher: Bencher, lines: usize) {
        let body = body(lines);
        bencher.counter(ItemsCount::new(lines)).bench(|| {
            let request: totals::TotalsRequest = serde_json::from_str(divan::black_box(&body)).unwrap();
            totals::calculate(&request).unwrap().line_item_totals.len()
        });
    }

    #[divan::bench(args = [10, 1_000, 10_000])]
    fn reference(bencher: Bencher, lines: usize) {
        let body = body(lines);
        bencher.counter(ItemsCount::new(lines)).bench(|| {
            let request: reference::TotalsRequest = serde_json::from_str(divan::black_box(&body)).unwrap();
            reference::calculate(&request).unwrap().line_item_totals.len()
        });
    }
}

/// The arithmetic on parsed lines.
mod calculate_only {
    use super::*;

    #[divan::bench(args = [10, 1_000, 10_000])]
    fn fast(bencher: Bencher, lines: usize) {
        let body = body(lines);
        let request: totals::TotalsRequest = serde_json::from_str(&body).unwrap();
        bencher.counter(ItemsCount::new(lines)).bench(|| totals::calculate(divan::black_box(&request)).unwrap());
    }

    #[divan::bench(args = [10, 1_000, 10_000])]
    fn reference(bencher: Bencher, lines: usize) {
        let request: reference::TotalsRequest = serde_json::from_str(&body(lines)).unwrap();
        bencher.counter(ItemsCount::new(lines)).bench(|| reference::calculate(divan::black_box(&request)).unwrap());
    }
}

/// Group lookup: 10,000 lines in as many distinct groups as given (1 to 10,000). A lookup per line
/// that scanned all the groups would make the 10,000-group case quadratic; past 16 groups each line
/// hashes its group.
mod calculate_with_groups {
    use super::*;

    #[divan::bench(args = [1, 100, 10_000])]
    fn fast(bencher: Bencher, groups: usize) {
        let body = grouped_body(groups);
        let request: totals::TotalsRequest = serde_json::from_str(&body).unwrap();
        bencher.counter(ItemsCount::new(10_000usize)).bench(|| totals::calculate(divan::black_box(&request)).unwrap());
    }

    #[divan::bench(args = [1, 100, 10_000])]
    fn reference(bencher: Bencher, groups: usize) {
        let request: reference::TotalsRequest = serde_json::from_str(&grouped_body(groups)).unwrap();
        bencher
            .counter(ItemsCount::new(10_000usize))
            .bench(|| reference::calculate(divan::black_box(&request)).unwrap());
    }
}
