//! `POST /invoice/{invoiceId}/unreconcile`: removes recorded payments (Slash's unreconcile): one per transaction, matched on method and paidAt, and amount when given. Answers Slash's invoice aggregate.

use invoicing_domain::{
    payments::{self, TransactionInput},
    ports::{InvoiceStore, LineItemStore, ReceivingAccounts},
    slash, Error,
};
use invoicing_http::{parse_json, path_param, ApiResponse, Request, RequestContext, Route};

pub fn route() -> Route {
    Route::slash("unreconcile-invoice-payments")
}

pub async fn unreconcile_invoice_payments<S: InvoiceStore + LineItemStore + ReceivingAccounts>(
    store: &S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let transactions = payments::validate(parse_json::<Vec<TransactionInput>>(&request)?)?;
    let invoice = payments::change_payments(store, &context.account_id, &invoice_id, |invoice| {
        invoice.remove_payments(&transactions, context.now)
    })
    .await?;
    let aggregate = slash::load_aggregate(store, &context.account_id, &invoice, context.now.date_naive()).await?;
    Ok(ApiResponse::json(200, &aggregate))
}
