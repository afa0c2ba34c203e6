//! `POST /invoices/reconcile-with-integration`: validates, records a QUEUED job and queues its work;
//! 202 with `Location`. It never waits on Xero: the `reconcile-worker` consumer does the comparing.

use invoicing_domain::{
    model::reconcile::{batch_messages, Counts, JobStatus, ReconcileJob, ReconcileMessage, ReconcileRequest, Work},
    ports::{IntegrationSettings, ReconcileJobs, WorkQueue, XeroConnections},
    service::xero_connection::ensure_connected,
    Error,
};
use invoicing_http::{parse_json_object, ApiResponse, Request, RequestContext, Route};
use serde_json::json;
use std::time::Duration;

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn reconcile_with_integration<S, Q>(
    store: S,
    queue: Q,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error>
where
    S: ReconcileJobs + IntegrationSettings + XeroConnections,
    Q: WorkQueue,
{
    let body = parse_json_object::<ReconcileRequest>(&request)?.validate()?;
    ensure_connected(&store, &context.account_id).await?;
    let job = ReconcileJob {
        id: uuid::Uuid::now_v7().to_string(),
        status: JobStatus::Queued,
        integration_service: body.integration_service,
        properties_to_compare: body.properties_to_compare,
        counts: Counts { total: body.invoice_ids.len() as u64, ..Counts::default() },
        created_at: context.now,
        completed_at: None,
        xero_calls: 0,
    };
    // An empty list means every FINAL, SENT or VOIDED invoice: the consumer lists Xero's sales
    // invoices (1,000 a call) and then ours, page by page, so that accepting the request does not
    // depend on the account's size and the job costs the fewest Xero calls.
    let all_invoices = body.invoice_ids.is_empty();
    let answer = ApiResponse::json(202, &json!({"id": job.id, "status": job.status}))
        .with_header("location", format!("/invoices/reconcile-with-integration/{}", job.id));
    // The job and the answer commit together; the queue cannot join that transaction.
    store.create_job(&context.account_id, &job, all_invoices, context.receipt(&answer).as_ref()).await?;
    let messages = if all_invoices {
        vec![ReconcileMessage::new(&job.id, &context.account_id, Work::XeroPage { page: 1 })]
    } else {
        batch_messages(&job.id, &context.account_id, &body.invoice_ids)
    };
    if let Err(error) = queue.enqueue(&messages, Duration::ZERO).await {
        // The job is accepted (and its answer recorded): it shows FAILED rather than the request
        // answering a 5xx after its change committed.
        tracing::error!(jobId = %job.id, error = %error.report(), "could not queue a reconcile job's work");
        if let Err(error) = store.mark_failed(&context.account_id, &job.id, context.now).await {
            tracing::error!(jobId = %job.id, error = %error.report(), "could not mark a job FAILED");
        }
    }
    Ok(answer)
}
