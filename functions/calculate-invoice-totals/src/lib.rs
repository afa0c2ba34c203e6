//! `POST /invoices-totals`: exact totals of up to 10,000 lines (docs/contract.md, money and totals).

use invoicing_domain::{
    model::totals::{calculate, calculate_json, TotalsRequest},
    Error,
};
use invoicing_http::{parse_borrowed_json_object, ApiResponse, Body, Request, RequestContext, Route};

/// 10,000 lines with their ignored fields need more than the default 1 MiB.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// The route's settings.
pub fn route() -> Route {
    Route { max_body_bytes: MAX_BODY_BYTES, ..Route::sequence(env!("CARGO_PKG_NAME")) }
}

/// The handler: totals need no storage (the store serves authentication and idempotency only).
pub async fn calculate_invoice_totals<S>(
    _store: S,
    _context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    // The bodies clients send are computed as they are read, the answer borrowing its ids from the
    // body; any other body (and every error) goes through serde, which words the 400.
    let text = match request.body() {
        Body::Text(text) => Some(text.as_str()),
        Body::Binary(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    if let Some(answer) = text.and_then(calculate_json) {
        return Ok(ApiResponse::json(200, &answer));
    }
    // The request borrows its ids and decimal text from the body, and the answer from the request.
    let body: TotalsRequest = parse_borrowed_json_object(&request)?;
    Ok(ApiResponse::json(200, &calculate(&body)?))
}
