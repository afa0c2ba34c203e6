//! `POST /invoices/{invoiceId}/send`: FINAL to SENT.

use invoicing_domain::{invoice::Invoice, lifecycle, ports::InvoiceStore, Error};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

pub fn route() -> Route {
    Route::sequence("send-invoice")
}

pub async fn send_invoice<S: InvoiceStore>(
    store: &S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let answer = |invoice: &Invoice| ApiResponse::json(200, &invoice.sequence_view());
    lifecycle::transition(store, &context.account_id, &invoice_id, Invoice::send, &context.respond(answer)).await
}
