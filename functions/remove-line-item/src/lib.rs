//! `DELETE /invoices/{invoiceId}/line-items/{lineItemId}`: removes a line of a DRAFT invoice, 204.

use invoicing_domain::{
    ports::{InvoiceStore, LineItemStore},
    service::lines,
    Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn remove_line_item<S: InvoiceStore + LineItemStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let line_item_id = path_param(&request, "lineItemId")?;
    lines::remove_line_item(&store, &context.account_id, &invoice_id, &line_item_id).await?;
    Ok(ApiResponse::empty(204))
}
