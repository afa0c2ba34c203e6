//! `POST /invoices/reconcile-with-integration`: validates, records a QUEUED job and queues its work;
//! 202 with `Location`. It never waits on Xero: the `reconcile-worker` consumer does the comparing.

use invoicing_domain::{
    ports::{IntegrationSettings, ReconcileJobs, WorkQueue},
    reconcile::{batch_messages, Counts, JobStatus, ReconcileJob, ReconcileMessage, ReconcileRequest},
    Error,
};
use invoicing_http::{parse_json_object, ApiResponse, Request, RequestContext, Route};
use serde_json::json;
use std::time::Duration;

pub fn route() -> Route {
    Route::sequence("reconcile-with-integration")
}

pub async fn reconcile_with_integration<S, Q>(
    store: &S,
    queue: &Q,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error>
where
    S: ReconcileJobs + IntegrationSettings,
    Q: WorkQueue,
{
    let body = parse_json_object::<ReconcileRequest>(&request)?.validate()?;
    if store.xero_settings(&context.account_id).await?.is_none() {
        return Err(Error::validation(
            "integrationService: this account has no Xero connection; connect one before reconciling",
        ));
    }
    let job = ReconcileJob {
        id: uuid::Uuid::now_v7().to_string(),
        status: JobStatus::Queued,
        integration_service: body.integration_service,
        properties_to_compare: body.properties_to_compare,
        counts: Counts { total: body.invoice_ids.len() as u64, ..Counts::default() },
        created_at: context.now,
        completed_at: None,
    };
    // An empty list means every FINAL, SENT or VOIDED invoice: the consumer lists them page by
    // page, so that accepting the request does not depend on the account's size.
    let expand = body.invoice_ids.is_empty();
    store.create_job(&context.account_id, &job, expand).await?;
    let messages = if expand {
        vec![ReconcileMessage::Expand { job_id: job.id.clone(), account_id: context.account_id.clone(), after: None }]
    } else {
        batch_messages(&job.id, &context.account_id, &body.invoice_ids)
    };
    if let Err(error) = queue.enqueue(&messages, Duration::ZERO).await {
        store.mark_failed(&context.account_id, &job.id, context.now).await?;
        return Err(error);
    }
    Ok(ApiResponse::json(202, &json!({"id": job.id, "status": job.status}))
        .with_header("location", format!("/invoices/reconcile-with-integration/{}", job.id)))
}
