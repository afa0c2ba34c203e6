//! `POST /invoices`: creates a DRAFT invoice (Sequence 2024-01-01 shape), 201, with its
//! INVOICE_CREATED event.

use invoicing_domain::{
    model::invoice::{CreateInvoice, Invoice},
    model::webhooks::EventType,
    ports::InvoiceStore,
    service::invoice_event,
    views::SequenceView,
    Error,
};
use invoicing_http::{parse_json_object, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn create_invoice<S: InvoiceStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let body: CreateInvoice = parse_json_object(&request)?;
    body.validate()?;
    // Version-7 UUIDs sort by creation time, so listing by key lists in creation order.
    let id = uuid::Uuid::now_v7().to_string();
    let invoice = Invoice::new_draft(id, &context.account_id, body, context.now);
    let answer =
        ApiResponse::json(201, &invoice.sequence_view()).with_header("location", format!("/invoices/{}", invoice.id));
    let event = invoice_event(EventType::InvoiceCreated, &invoice);
    store.insert_invoice(&invoice, Some(&event), context.receipt(&answer).as_ref()).await?;
    Ok(answer)
}
