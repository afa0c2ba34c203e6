//! `POST /invoices/{invoiceId}/line-item-groups`: adds an empty group to a DRAFT invoice, 201.

use invoicing_domain::{
    lines::{self, LineItemGroupInput},
    ports::{InvoiceStore, LineItemStore},
    Error,
};
use invoicing_http::{parse_json_object, path_param, ApiResponse, Request, RequestContext, Route};

pub fn route() -> Route {
    Route::sequence("create-line-item-group")
}

pub async fn create_line_item_group<S: InvoiceStore + LineItemStore>(
    store: &S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let input: LineItemGroupInput = parse_json_object(&request)?;
    let group_id = uuid::Uuid::now_v7().to_string();
    let answer = |group: &lines::LineItemGroup| ApiResponse::json(201, group);
    lines::create_line_item_group(
        store,
        &context.account_id,
        &invoice_id,
        group_id,
        input,
        context.now,
        &context.respond(answer),
    )
    .await
}
