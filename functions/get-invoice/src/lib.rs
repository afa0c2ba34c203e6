//! `GET /invoices/{invoiceId}`: one invoice of the caller's account; any other id is a 404.

use invoicing_domain::{model::invoice, ports::InvoiceStore, views::SequenceView, Error};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn get_invoice<S: InvoiceStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let invoice =
        store.get_invoice(&context.account_id, &invoice_id).await?.ok_or_else(|| invoice::not_found(&invoice_id))?;
    Ok(ApiResponse::json(200, &invoice.value.sequence_view()))
}
