//! `POST /invoices/{invoiceId}/finalize`: DRAFT to FINAL with the account's next invoice number
//! (gapless and unique under concurrency) and today's issue date.

use invoicing_domain::{
    model::invoice::Invoice,
    ports::{InvoiceNumbering, InvoiceStore},
    service::lifecycle,
    views::SequenceView,
    Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn finalize_invoice<S: InvoiceStore + InvoiceNumbering>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let respond = context.respond(|invoice: &Invoice| Ok(ApiResponse::json(200, &invoice.sequence_view())));
    lifecycle::finalize(&store, &context.account_id, &invoice_id, context.now.date_naive(), &respond).await
}
