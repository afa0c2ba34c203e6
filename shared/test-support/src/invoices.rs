//! Invoices as the API would have left them, written through the domain's services.

use chrono::{NaiveDate, Utc};
use invoicing_domain::{
    model::{
        invoice::{CreateInvoice, Invoice},
        lines::LineItemInput,
    },
    ports::{InvoiceNumbering, InvoiceStore, LineItemStore, Unrecorded},
    service::{lifecycle, lines::add_line_item},
};
use serde_json::json;

/// A finalized GBP invoice of Acme Ltd (customer `cust-acme`, reference PO-7): 3 x 19.99 at 20%
/// (59.97 + 11.99) and 3 x 0.333 at 20% (0.999, rounded to 1.00, + 0.20), so 60.97 net, 12.19
/// tax and 73.16 gross; issued 2026-11-27.
pub async fn finalized_acme_invoice<S>(store: &S, account_id: &str) -> Invoice
where
    S: InvoiceStore + LineItemStore + InvoiceNumbering,
{
    let request: CreateInvoice = serde_json::from_value(json!({
        "currency": "GBP", "customerId": "cust-acme", "customerLegalCompanyName": "Acme Ltd",
        "customerEmails": ["ap@acme.example"], "reference": "PO-7"
    }))
    .unwrap();
    let draft = Invoice::new_draft(uuid::Uuid::now_v7().to_string(), account_id, request, Utc::now());
    store.insert_invoice(&draft, None, None).await.unwrap();
    for (title, quantity, rate) in [("Consulting", "3", "19.99"), ("Widgets", "3", "0.333")] {
        let input: LineItemInput =
            serde_json::from_value(json!({"title": title, "quantity": quantity, "rate": rate, "taxRate": "0.2"}))
                .unwrap();
        let line_id = uuid::Uuid::now_v7().to_string();
        add_line_item(store, account_id, &draft.id, line_id, input, Utc::now(), &Unrecorded).await.unwrap();
    }
    let issue_date = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    lifecycle::finalize(store, account_id, &draft.id, issue_date, &Unrecorded).await.unwrap()
}
