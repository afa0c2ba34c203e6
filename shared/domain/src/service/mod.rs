//! The use cases: each reads through the ports, applies the model's rules and writes back,
//! answering through [`crate::ports::Respond`] so that the answer is built before the write.

pub mod concurrency;
pub mod deliveries;
pub mod lifecycle;
pub mod lines;
pub mod payments;
pub mod webhooks;
pub mod xero_connection;
pub mod xero_sync;

use crate::{
    model::{
        invoice::{self, Invoice},
        pagination::Page,
        webhooks::{Event, EventType},
        Versioned,
    },
    ports::InvoiceStore,
    views::SequenceView,
    Result,
};

/// Every item of a paged list, page after page: `page(after)` reads the page after the position
/// `after` (`None`: the first).
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>>>,
{
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let next = page(after.take()).await?;
        items.extend(next.items);
        match next.after {
            Some(position) => after = Some(position),
            None => return Ok(items),
        }
    }
}

/// A stored invoice of the account and its version, or the 404 that names it.
async fn load_invoice<S: InvoiceStore>(store: &S, account_id: &str, invoice_id: &str) -> Result<Versioned<Invoice>> {
    store.get_invoice(account_id, invoice_id).await?.ok_or_else(|| invoice::not_found(invoice_id))
}

/// An invoice's event: `data.invoice` is the invoice as the Sequence API shows it after the change;
/// `createdAt` to the millisecond, as every time the API shows.
pub fn invoice_event(event_type: EventType, invoice: &Invoice) -> Event {
    use chrono::SubsecRound;
    let now = chrono::Utc::now().trunc_subsecs(3);
    Event::new(event_type, now, serde_json::json!({ "invoice": invoice.sequence_view() }))
}
