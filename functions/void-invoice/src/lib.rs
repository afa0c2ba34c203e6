//! `POST /invoices/{invoiceId}/void`: DRAFT, FINAL or SENT to VOIDED, with its INVOICE_VOIDED event.

use invoicing_domain::{model::invoice::Invoice, ports::InvoiceStore, service::lifecycle, views::SequenceView, Error};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn void_invoice<S: InvoiceStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let respond = context.respond(|invoice: &Invoice| Ok(ApiResponse::json(200, &invoice.sequence_view())));
    lifecycle::transition(&store, &context.account_id, &invoice_id, lifecycle::Transition::Void, &respond).await
}
