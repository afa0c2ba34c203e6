//! `POST /invoices/{invoiceId}/line-item-groups`: adds an empty group to a DRAFT invoice, 201.

use invoicing_domain::{
    model::lines::{LineItemGroup, LineItemGroupInput},
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
pub async fn create_line_item_group<S: InvoiceStore + LineItemStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let input: LineItemGroupInput = parse_json_object(&request)?;
    let group_id = uuid::Uuid::now_v7().to_string();
    let respond = context.respond(|group: &LineItemGroup| Ok(ApiResponse::json(201, group)));
    lines::create_line_item_group(&store, &context.account_id, &invoice_id, group_id, input, context.now, &respond)
        .await
}
