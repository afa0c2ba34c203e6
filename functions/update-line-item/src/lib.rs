//! `PUT /invoices/{invoiceId}/line-items/{lineItemId}`: replaces a line of a DRAFT invoice.

use invoicing_domain::{
    model::lines::LineItemInput,
    ports::{InvoiceStore, LineItemStore},
    service::lines,
    Error,
};
use invoicing_http::{parse_json_object, path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn update_line_item<S: InvoiceStore + LineItemStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let line_item_id = path_param(&request, "lineItemId")?;
    let input: LineItemInput = parse_json_object(&request)?;
    let line =
        lines::update_line_item(&store, &context.account_id, &invoice_id, &line_item_id, input, context.now).await?;
    Ok(ApiResponse::json(200, &line))
}
