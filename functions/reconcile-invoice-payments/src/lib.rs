//! `POST /invoice/{invoiceId}/reconcile`: records payments (Slash's reconcile); a transaction without `amountCents` pays the outstanding balance. Answers Slash's invoice aggregate.

use invoicing_domain::{
    invoice::Invoice,
    payments::TransactionInput,
    ports::{InvoiceStore, LineItemStore, ReceivingAccounts},
    slash, Error,
};
use invoicing_http::{parse_json, path_param, ApiResponse, Request, RequestContext, Route};

pub fn route() -> Route {
    Route::slash("reconcile-invoice-payments")
}

pub async fn reconcile_invoice_payments<S: InvoiceStore + LineItemStore + ReceivingAccounts>(
    store: &S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let invoice_id = path_param(&request, "invoiceId")?;
    let transactions = parse_json::<Vec<TransactionInput>>(&request)?;
    slash::change_payments_and_show(
        store,
        &context.account_id,
        &invoice_id,
        transactions,
        context.now,
        Invoice::record_payments,
        &context.respond(|aggregate| ApiResponse::json(200, aggregate)),
    )
    .await
}
