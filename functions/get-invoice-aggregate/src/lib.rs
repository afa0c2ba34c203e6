//! `GET /invoice/{invoiceId}`: Slash's invoice aggregate of a stored invoice.

use invoicing_domain::{
    invoice,
    ports::{InvoiceStore, LineItemStore, ReceivingAccounts},
    slash, Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

pub fn route() -> Route {
    Route::slash("get-invoice-aggregate")
}

pub async fn get_invoice_aggregate<S: InvoiceStore + LineItemStore + ReceivingAccounts>(
    store: &S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let invoice =
        store.get_invoice(&context.account_id, &invoice_id).await?.ok_or_else(|| invoice::not_found(&invoice_id))?;
    let aggregate = slash::load_aggregate(store, &context.account_id, &invoice, context.now.date_naive()).await?;
    Ok(ApiResponse::json(200, &aggregate))
}
