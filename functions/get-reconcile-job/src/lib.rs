//! `GET /invoices/reconcile-with-integration/{jobId}`: a reconcile job with its counts.

use invoicing_domain::{ports::ReconcileJobs, Error};
use invoicing_http::{path_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

pub fn job_not_found(job_id: &str) -> Error {
    Error::not_found(format!("no reconcile job with id {job_id}"))
}

/// The handler.
pub async fn get_reconcile_job<S: ReconcileJobs>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let job_id = path_param(&request, "jobId")?;
    let job = store.get_job(&context.account_id, &job_id).await?.ok_or_else(|| job_not_found(&job_id))?;
    Ok(ApiResponse::json(200, &job))
}
