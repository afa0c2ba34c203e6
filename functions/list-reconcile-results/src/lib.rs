//! `GET /invoices/reconcile-with-integration/{jobId}/results?outcome=&limit=&after=`: a job's
//! per-invoice outcomes.

use invoicing_domain::{
    model::pagination::{decode_cursor, parse_limit},
    model::reconcile::OutcomeKind,
    ports::ReconcileJobs,
    Error,
};
use invoicing_http::{path_param, query_params, ApiResponse, Request, RequestContext, Route};

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The handler.
pub async fn list_reconcile_results<S: ReconcileJobs>(
    store: S,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let job_id = path_param(&request, "jobId")?;
    let params = query_params(&request, &["outcome", "limit", "after"])?;
    let get = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    let outcome = get("outcome")
        .map(|raw| {
            OutcomeKind::parse(raw).ok_or_else(|| {
                let known: Vec<&str> = OutcomeKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::validation(format!(
                    "outcome: `{}` is not one of {}",
                    raw.chars().take(64).collect::<String>(),
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let limit = parse_limit(get("limit"))?;
    let after = get("after").map(decode_cursor).transpose()?;
    store
        .get_job(&context.account_id, &job_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no reconcile job with id {job_id}")))?;
    let page = store.list_outcomes(&context.account_id, &job_id, outcome, limit, after.as_deref()).await?;
    Ok(ApiResponse::json(200, &page))
}
