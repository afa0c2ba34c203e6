//! `POST /invoices/{invoiceId}/void`: DRAFT, FINAL or SENT to VOIDED.

use invoicing_domain::{invoice::Invoice, lifecycle, ports::InvoiceStore, Error};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

pub fn route() -> Route {
    Route::sequence("void-invoice")
}

pub async fn void_invoice<S: InvoiceStore>(
    store: &S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let answer = |invoice: &Invoice| ApiResponse::json(200, &invoice.sequence_view());
    lifecycle::transition(store, &context.account_id, &invoice_id, Invoice::void, &context.respond(answer)).await
}
