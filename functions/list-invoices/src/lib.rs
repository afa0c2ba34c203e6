//! `GET /invoices?status=&customerId=&limit=&after=`: the caller's invoices, oldest first.

use invoicing_domain::{
    model::invoice::InvoiceStatus,
    model::pagination::{decode_cursor, parse_limit, Page, MAX_PAGE_BYTES},
    ports::{InvoiceQuery, InvoiceStore},
    views::SequenceView,
    Error,
};
use invoicing_http::{query_params, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

pub fn parse_query(request: &Request) -> Result<InvoiceQuery, Error> {
    let params = query_params(request, &["status", "customerId", "limit", "after"])?;
    let get = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    let status = get("status")
        .map(|raw| {
            InvoiceStatus::parse(raw).ok_or_else(|| {
                let known: Vec<&str> = InvoiceStatus::ALL.iter().map(|s| s.as_str()).collect();
                Error::validation(format!(
                    "status: `{}` is not one of {}",
                    raw.chars().take(64).collect::<String>(),
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let customer_id = get("customerId")
        .map(|raw| match raw.chars().count() {
            1..=1_000 => Ok(raw.to_string()),
            _ => Err(Error::validation("customerId: must have 1 to 1000 characters")),
        })
        .transpose()?;
    Ok(InvoiceQuery {
        status,
        customer_id,
        limit: parse_limit(get("limit"))?,
        after: get("after").map(decode_cursor).transpose()?,
    })
}

/// The handler.
pub async fn list_invoices<S: InvoiceStore>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let query = parse_query(&request)?;
    let page = store.list_invoices(&context.account_id, &query).await?;
    let page = Page { items: page.items.iter().map(SequenceView::sequence_view).collect(), after: page.after };
    let page = page.fit_within(MAX_PAGE_BYTES, |invoice| invoice["id"].as_str().unwrap_or_default().to_string());
    Ok(ApiResponse::json(200, &page))
}
