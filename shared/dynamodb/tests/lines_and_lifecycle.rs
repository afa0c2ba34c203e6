//! Line items, totals and the lifecycle through the DynamoDB adapter on moto_server: atomic
//! changes, exact totals, optimistic concurrency and gapless invoice numbers.

use chrono::{NaiveDate, SubsecRound, Utc};
use futures::future::join_all;
use invoicing_domain::{
    model::{
        account::NewAccount,
        invoice::{self, CreateInvoice, Invoice, InvoiceStatus},
        lines::{LineItem, LineItemGroupInput, LineItemInput},
        totals::{calculate, ExactDecimal, TotalsLine, TotalsRequest},
    },
    ports::{AccountStore, InvoiceStore, LineItemStore, Unrecorded},
    service::{lifecycle, lines},
    ErrorKind,
};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::MotoServer;
use serde_json::json;

async fn account(store: &DynamoStore) -> String {
    let new = NewAccount::generate("Acme", Utc::now());
    store.create_account(&new).await.unwrap();
    new.account.id
}

async fn draft(store: &DynamoStore, account_id: &str, currency: &str) -> Invoice {
    let request: CreateInvoice = serde_json::from_value(json!({"currency": currency, "customerId": "c"})).unwrap();
    let invoice =
        Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, Utc::now().trunc_subsecs(3));
    store.insert_invoice(&invoice, None, None).await.unwrap();
    invoice
}

fn line(body: serde_json::Value) -> LineItemInput {
    serde_json::from_str(&body.to_string()).unwrap()
}

async fn all_lines(store: &DynamoStore, account_id: &str, invoice_id: &str) -> Vec<LineItem> {
    let mut lines = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_line_items(account_id, invoice_id, 2, after.as_deref()).await.unwrap();
        lines.extend(page.items);
        match page.after {
            Some(next) => after = Some(next),
            None => return lines,
        }
    }
}

/// The stored invoice's totals equal `/invoices-totals` of its stored lines.
async fn assert_totals_match_lines(store: &DynamoStore, account_id: &str, invoice_id: &str) -> Invoice {
    let invoice = store.get_invoice(account_id, invoice_id).await.unwrap().unwrap().value;
    let lines = all_lines(store, account_id, invoice_id).await;
    let request = TotalsRequest {
        currency: Some(invoice.currency),
        line_items: lines
            .iter()
            .map(|l| TotalsLine {
                id: Some(l.id.as_str().into()),
                quantity: ExactDecimal(l.quantity),
                rate: ExactDecimal(l.rate),
                tax_rate: ExactDecimal(l.tax_rate),
                group_id: l.group_id.as_deref().map(Into::into),
            })
            .collect(),
    };
    let expected = calculate(&request).unwrap();
    assert_eq!(
        (invoice.net_total, invoice.total_tax, invoice.gross_total),
        (expected.total.net_total, expected.total.total_tax, expected.total.gross_total)
    );
    for group in &expected.line_item_group_totals {
        let stored = &store.get_line_item_groups(account_id, invoice_id, &[group.id]).await.unwrap()[0];
        assert_eq!(stored.figures(), group.total);
    }
    invoice
}

#[tokio::test]
async fn line_changes_keep_stored_totals_equal_to_the_totals_of_the_lines() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account_id = account(&store).await;
    let invoice = draft(&store, &account_id, "GBP").await;
    let now = Utc::now().trunc_subsecs(3);
    let group = lines::create_line_item_group(
        &store,
        &account_id,
        &invoice.id,
        "0190a000-0000-7000-8000-000000000001".into(),
        LineItemGroupInput { title: "Cars".into(), description: None },
        now,
        &Unrecorded,
    )
    .await
    .unwrap();
    assert_eq!(group.gross_total.to_string(), "0.00");

    let seed = lines::add_line_item(
        &store,
        &account_id,
        &invoice.id,
        "0190a000-0000-7000-8000-0000000000a1".into(),
        line(json!({"title": "Ferraris", "quantity": "2", "rate": "20000.10", "taxRate": "0.2", "groupId": group.id})),
        now,
        &Unrecorded,
    )
    .await
    .unwrap();
    assert_eq!(seed.gross_total.to_string(), "48000.24");
    let credit = lines::add_line_item(
        &store,
        &account_id,
        &invoice.id,
        "0190a000-0000-7000-8000-0000000000a2".into(),
        line(json!({"title": "Discount", "quantity": "1", "rate": "-100.005", "taxRate": "0.2"})),
        now,
        &Unrecorded,
    )
    .await
    .unwrap();
    let invoice_now = assert_totals_match_lines(&store, &account_id, &invoice.id).await;
    assert_eq!(invoice_now.gross_total.to_string(), "47880.23");

    lines::update_line_item(
        &store,
        &account_id,
        &invoice.id,
        &seed.id,
        line(json!({"title": "Ferraris", "quantity": "3", "rate": "20000.10", "taxRate": "0.2"})),
        now,
    )
    .await
    .unwrap();
    assert_totals_match_lines(&store, &account_id, &invoice.id).await;
    let group_now = &store.get_line_item_groups(&account_id, &invoice.id, &[&group.id]).await.unwrap()[0];
    assert_eq!(group_now.gross_total.to_string(), "0.00", "the line left its group");

    lines::remove_line_item(&store, &account_id, &invoice.id, &credit.id).await.unwrap();
    let invoice_now = assert_totals_match_lines(&store, &account_id, &invoice.id).await;
    assert_eq!(invoice_now.gross_total.to_string(), "72000.36");
    assert_eq!(store.get_invoice(&account_id, &invoice.id).await.unwrap().unwrap().version, 6);

    let missing = lines::remove_line_item(&store, &account_id, &invoice.id, &credit.id).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn concurrent_line_additions_are_all_kept() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account_id = account(&store).await;
    let invoice = draft(&store, &account_id, "JPY").await;
    let now = Utc::now();
    let adds = (0..12).map(|i| {
        lines::add_line_item(
            &store,
            &account_id,
            &invoice.id,
            format!("0190a000-0000-7000-8000-{i:012}"),
            line(json!({"title": "Usage", "quantity": "1", "rate": format!("{}.5", i), "taxRate": "0.1"})),
            now,
            &Unrecorded,
        )
    });
    for result in join_all(adds).await {
        result.unwrap();
    }
    assert_eq!(all_lines(&store, &account_id, &invoice.id).await.len(), 12);
    let invoice = assert_totals_match_lines(&store, &account_id, &invoice.id).await;
    // Yen: each i.5 rounds up to i+1, so the net is 1 + 2 + ... + 12.
    assert_eq!(invoice.net_total.to_string(), "78");
}

#[tokio::test]
async fn only_drafts_change_and_transitions_follow_the_rules() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account_id = account(&store).await;
    let invoice = draft(&store, &account_id, "EUR").await;
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();

    let finalized = lifecycle::finalize(&store, &account_id, &invoice.id, day, &Unrecorded).await.unwrap();
    assert_eq!((finalized.status, finalized.invoice_number.as_deref()), (InvoiceStatus::Final, Some("INV-000001")));
    let refused = lines::add_line_item(
        &store,
        &account_id,
        &invoice.id,
        "0190a000-0000-7000-8000-0000000000b1".into(),
        line(json!({"title": "Late", "quantity": "1", "rate": "1", "taxRate": "0"})),
        Utc::now(),
        &Unrecorded,
    )
    .await
    .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert!(all_lines(&store, &account_id, &invoice.id).await.is_empty());

    let again = lifecycle::finalize(&store, &account_id, &invoice.id, day, &Unrecorded).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);
    let sent = lifecycle::transition(&store, &account_id, &invoice.id, lifecycle::Transition::Send, &Unrecorded)
        .await
        .unwrap();
    assert_eq!(sent.status, InvoiceStatus::Sent);
    let voided = lifecycle::transition(&store, &account_id, &invoice.id, lifecycle::Transition::Void, &Unrecorded)
        .await
        .unwrap();
    assert_eq!(voided.status, InvoiceStatus::Voided);
    let stored = store.get_invoice(&account_id, &invoice.id).await.unwrap().unwrap();
    assert_eq!((stored.value, stored.version), (voided, 4));

    // A refused finalize consumed no number: the next invoice is number 2.
    let next = draft(&store, &account_id, "EUR").await;
    let next = lifecycle::finalize(&store, &account_id, &next.id, day, &Unrecorded).await.unwrap();
    assert_eq!(next.invoice_number.as_deref(), Some("INV-000002"));

    let other_account = lifecycle::finalize(&store, "someone-else", &invoice.id, day, &Unrecorded).await.unwrap_err();
    assert_eq!(other_account.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn twenty_concurrent_finalizes_number_1_to_20_without_gaps() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account_id = account(&store).await;
    let mut invoices = Vec::new();
    for _ in 0..20 {
        invoices.push(draft(&store, &account_id, "USD").await);
    }
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let finalized =
        join_all(invoices.iter().map(|i| lifecycle::finalize(&store, &account_id, &i.id, day, &Unrecorded))).await;
    let mut numbers: Vec<String> = finalized.into_iter().map(|r| r.unwrap().invoice_number.unwrap()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(invoice::invoice_number).collect();
    assert_eq!(numbers, expected);

    // And the stored invoices carry exactly those numbers.
    let mut stored = Vec::new();
    for invoice in &invoices {
        stored.push(store.get_invoice(&account_id, &invoice.id).await.unwrap().unwrap().value.invoice_number.unwrap());
    }
    stored.sort();
    assert_eq!(stored, expected);
}
