//! `DELETE /invoices/{invoiceId}/line-items/{lineItemId}`: removes a line of a DRAFT invoice, 204.

use invoicing_domain::{
    lines,
    ports::{InvoiceStore, LineItemStore},
    Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

pub fn route() -> Route {
    Route::sequence("remove-line-item")
}

pub async fn remove_line_item<S: InvoiceStore + LineItemStore>(
    store: &S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let line_item_id = path_param(&request, "lineItemId")?;
    lines::remove_line_item(store, &context.account_id, &invoice_id, &line_item_id).await?;
    Ok(ApiResponse::empty(204))
}
