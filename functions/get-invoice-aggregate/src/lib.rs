//! `GET /invoice/{invoiceId}`: Slash's invoice aggregate of a stored invoice.

use invoicing_domain::{
    model::invoice,
    ports::{InvoiceStore, LineItemStore, ReceivingAccounts},
    service::payments,
    views::slash,
    Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::slash(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn get_invoice_aggregate<S: InvoiceStore + LineItemStore + ReceivingAccounts>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let invoice =
        store.get_invoice(&context.account_id, &invoice_id).await?.ok_or_else(|| invoice::not_found(&invoice_id))?;
    let parts = payments::aggregate_parts(&store, &context.account_id, invoice).await?;
    Ok(ApiResponse::json(200, &slash::aggregate(&parts, context.now.date_naive())?))
}
