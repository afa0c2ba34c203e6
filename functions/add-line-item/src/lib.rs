//! `POST /invoices/{invoiceId}/line-items`: adds a line to a DRAFT invoice, 201.

use invoicing_domain::{
    model::lines::{LineItem, LineItemInput},
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
pub async fn add_line_item<S: InvoiceStore + LineItemStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let input: LineItemInput = parse_json_object(&request)?;
    let line_item_id = uuid::Uuid::now_v7().to_string();
    let answer = |line: &LineItem| {
        Ok(ApiResponse::json(201, line)
            .with_header("location", format!("/invoices/{invoice_id}/line-items/{}", line.id)))
    };
    let respond = context.respond(answer);
    lines::add_line_item(&store, &context.account_id, &invoice_id, line_item_id, input, context.now, &respond).await
}
