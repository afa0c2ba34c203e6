//! Webhook endpoints (SPEC.md section 8): created with a signing secret that is shown once, listed,
//! read, changed and deleted. Each account sees only its own; another's is a 404.

use chrono::{DateTime, Utc};

use crate::{
    model::{
        pagination::Page,
        webhooks::{
            checked_description, endpoint_not_found,
            signature::WebhookSecret,
            target::{check_url, TargetPolicy},
            EndpointStatus, EndpointView, EventSelection, WebhookEndpoint,
        },
        Versioned,
    },
    ports::{Respond, WebhookEndpoints, WebhookSecrets},
    service::concurrency::retry_on_contention,
    Result,
};

/// `POST /webhook-endpoints`, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    /// Where deliveries go.
    pub url: String,
    /// Event type names, or `["*"]`.
    pub events: Vec<String>,
    /// The account's own note.
    pub description: Option<String>,
}

/// `PATCH /webhook-endpoints/{id}`: only what is given changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointChange {
    /// A new URL.
    pub url: Option<String>,
    /// A new selection of events.
    pub events: Option<Vec<String>>,
    /// A new description (empty: none).
    pub description: Option<String>,
    /// ENABLED or DISABLED. Enabling an endpoint the service disabled starts its failure count
    /// afresh.
    pub status: Option<EndpointStatus>,
}

/// An endpoint just created and its secret: what the creating answer shows, the only one that
/// does. The idempotency record of that answer must leave the secret out (it is stored in the
/// table): a replayed create answers the endpoint without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedEndpoint {
    /// The endpoint as stored.
    pub endpoint: WebhookEndpoint,
    /// Its signing secret.
    pub secret: WebhookSecret,
}

impl CreatedEndpoint {
    /// The endpoint's view with its secret.
    pub fn view(&self) -> EndpointView {
        EndpointView { secret: Some(self.secret.expose()), ..EndpointView::from(&self.endpoint) }
    }
}

/// Creates an endpoint with a new secret. Everything is checked before anything is written; the
/// secret is stored before the endpoint, so no endpoint is ever without one.
pub async fn create_endpoint<S, V, R>(
    store: &S,
    secrets: &V,
    account_id: &str,
    request: NewEndpoint,
    policy: TargetPolicy,
    now: DateTime<Utc>,
    respond: &R,
) -> Result<R::Answer>
where
    S: WebhookEndpoints,
    V: WebhookSecrets,
    R: Respond<CreatedEndpoint>,
{
    let url = check_url(&request.url, policy)?;
    let events = EventSelection::parse(&request.events)?;
    let description = checked_description(request.description.as_deref())?;
    let endpoint = WebhookEndpoint {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account_id.to_string(),
        url: url.to_string(),
        events,
        description,
        status: EndpointStatus::Enabled,
        created_at: now,
        updated_at: now,
        failing_since: None,
    };
    let created = CreatedEndpoint { endpoint, secret: WebhookSecret::generate() };
    let answer = respond.answer(&created)?;
    secrets.store_webhook_secret(account_id, &created.endpoint.id, &created.secret).await?;
    // If this write fails, the secret names no endpoint and nothing reads it. It is not deleted
    // here: a write that timed out may still have committed, and an endpoint must keep its secret.
    store.insert_webhook_endpoint(&created.endpoint, respond.receipt(&answer).as_ref()).await.inspect_err(|_| {
        tracing::warn!(account_id, endpoint_id = %created.endpoint.id, "endpoint not stored; its secret is left unused");
    })?;
    Ok(answer)
}

/// The account's endpoint, or its 404.
pub async fn get_endpoint<S: WebhookEndpoints>(
    store: &S,
    account_id: &str,
    endpoint_id: &str,
) -> Result<Versioned<WebhookEndpoint>> {
    store.get_webhook_endpoint(account_id, endpoint_id).await?.ok_or_else(|| endpoint_not_found(endpoint_id))
}

/// The account's endpoints in creation order.
pub async fn list_endpoints<S: WebhookEndpoints>(
    store: &S,
    account_id: &str,
    limit: usize,
    after: Option<&str>,
) -> Result<Page<WebhookEndpoint>> {
    store.list_webhook_endpoints(account_id, limit, after).await
}

/// Applies a change, checked before anything is read; a concurrent change (a delivery recording a
/// failure, another request) is not lost: the change is applied again to the fresh endpoint.
pub async fn update_endpoint<S, R>(
    store: &S,
    account_id: &str,
    endpoint_id: &str,
    change: EndpointChange,
    policy: TargetPolicy,
    now: DateTime<Utc>,
    respond: &R,
) -> Result<R::Answer>
where
    S: WebhookEndpoints,
    R: Respond<WebhookEndpoint>,
{
    let url = change.url.as_deref().map(|url| check_url(url, policy)).transpose()?;
    let events = change.events.as_deref().map(EventSelection::parse).transpose()?;
    let description = change.description.as_deref().map(|text| checked_description(Some(text))).transpose()?;
    retry_on_contention(|| async {
        let Versioned { value: mut endpoint, version } = get_endpoint(store, account_id, endpoint_id).await?;
        if let Some(url) = &url {
            endpoint.url = url.to_string();
        }
        if let Some(events) = &events {
            endpoint.events = events.clone();
        }
        if let Some(description) = &description {
            endpoint.description = description.clone();
        }
        if let Some(status) = change.status {
            if status == EndpointStatus::Enabled && endpoint.status == EndpointStatus::Disabled {
                endpoint.failing_since = None;
            }
            endpoint.status = status;
        }
        endpoint.updated_at = now;
        let answer = respond.answer(&endpoint)?;
        store.replace_webhook_endpoint(&endpoint, version, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await
}

/// Deletes the endpoint, then its secret. The answer is the endpoint as it was.
pub async fn delete_endpoint<S, V, R>(
    store: &S,
    secrets: &V,
    account_id: &str,
    endpoint_id: &str,
    respond: &R,
) -> Result<R::Answer>
where
    S: WebhookEndpoints,
    V: WebhookSecrets,
    R: Respond<WebhookEndpoint>,
{
    let answer = retry_on_contention(|| async {
        let Versioned { value: endpoint, version } = get_endpoint(store, account_id, endpoint_id).await?;
        let answer = respond.answer(&endpoint)?;
        store.delete_webhook_endpoint(account_id, endpoint_id, version, respond.receipt(&answer).as_ref()).await?;
        Ok(answer)
    })
    .await?;
    // The deletion has committed: a failure here must not turn it into an error answer. The
    // secret of a deleted endpoint is never read again.
    if let Err(error) = secrets.forget_webhook_secret(account_id, endpoint_id).await {
        tracing::warn!(account_id, endpoint_id, error = %error.report(), "the deleted endpoint's secret was not deleted");
    }
    Ok(answer)
}
