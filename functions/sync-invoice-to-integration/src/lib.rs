//! `POST /invoices/{invoiceId}/sync-to-integration`: queues the invoice's push to Xero again and
//! answers 202 with the invoice, its Xero entry PENDING (SPEC.md section 9). The push itself runs in
//! `push-to-xero`; a repeat of the request queues a push that finds nothing left to do.

use invoicing_domain::{
    ports::{InvoiceStore, XeroPushQueue, XeroSyncSettingsStore},
    service::xero_sync::request_push,
    views::SequenceView,
    Error,
};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn sync_invoice_to_integration<S, Q>(
    store: S,
    queue: Q,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error>
where
    S: InvoiceStore + XeroSyncSettingsStore,
    Q: XeroPushQueue,
{
    let invoice_id = path_param(&request, "invoiceId")?;
    let invoice = request_push(&store, &queue, &context.account_id, &invoice_id, context.now).await?;
    Ok(ApiResponse::json(202, &invoice.sequence_view()))
}
