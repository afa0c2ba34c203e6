//! `POST /invoice/{invoiceId}/unreconcile`: removes recorded payments (Slash's unreconcile): one per transaction, matched on method and paidAt, and amount when given.
//! Answers Slash's invoice aggregate.

use invoicing_domain::{
    model::{invoice::Invoice, payments::TransactionInput},
    ports::{InvoiceStore, LineItemStore, ReceivingAccounts},
    service::payments,
    views::slash,
    Error,
};
use invoicing_http::{parse_json, path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::slash(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn unreconcile_invoice_payments<S: InvoiceStore + LineItemStore + ReceivingAccounts>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let transactions = parse_json::<Vec<TransactionInput>>(&request)?;
    let today = context.now.date_naive();
    let respond =
        context.respond(|parts: &slash::AggregateParts| Ok(ApiResponse::json(200, &slash::aggregate(parts, today)?)));
    payments::change_payments_and_show(
        &store,
        &context.account_id,
        &invoice_id,
        transactions,
        context.now,
        Invoice::remove_payments,
        &respond,
    )
    .await
}
