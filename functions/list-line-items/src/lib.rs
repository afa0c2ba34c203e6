//! `GET /invoices/{invoiceId}/line-items?limit=&after=`: the invoice's lines, oldest first.

use invoicing_domain::{
    model::invoice,
    model::pagination::{decode_cursor, parse_limit, MAX_PAGE_BYTES},
    ports::{InvoiceStore, LineItemStore},
    Error,
};
use invoicing_http::{path_param, query_params, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn list_line_items<S: InvoiceStore + LineItemStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let params = query_params(&request, &["limit", "after"])?;
    let get = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    let limit = parse_limit(get("limit"))?;
    let after = get("after").map(decode_cursor).transpose()?;
    // An invoice the account does not have is a 404, not an empty list.
    store.get_invoice(&context.account_id, &invoice_id).await?.ok_or_else(|| invoice::not_found(&invoice_id))?;
    let page = store.list_line_items(&context.account_id, &invoice_id, limit, after.as_deref()).await?;
    let page = page.fit_within(MAX_PAGE_BYTES, |line| line.id.clone());
    Ok(ApiResponse::json(200, &page))
}
