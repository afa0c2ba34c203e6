//! Getting committed events to endpoints (SPEC.md section 8): the relay turns each outbox event
//! into one queue message per endpoint that selects it, and each message is one attempt, followed
//! by the next after a failure until the schedule is spent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::{
    model::{
        webhooks::{
            delivery::{AttemptResult, DeliveryAttempt, DeliveryTask},
            retry::{queue_delay, FailureStreak, ATTEMPT_TIMEOUT},
            target::TargetPolicy,
            EndpointStatus, OutboxEvent, WebhookEndpoint,
        },
        Versioned,
    },
    ports::{DeliveryQueue, WebhookDeliveries, WebhookEndpoints, WebhookEvents, WebhookSecrets, WebhookSender},
    service::{all_pages, concurrency::retry_on_contention},
    Result,
};

/// Endpoints read per page while fanning an event out.
const ENDPOINT_PAGE: usize = 100;

/// The account's endpoints that receive events now (ENABLED).
async fn enabled_endpoints<S: WebhookEndpoints>(store: &S, account_id: &str) -> Result<Vec<WebhookEndpoint>> {
    let all =
        all_pages(
            |after| async move { store.list_webhook_endpoints(account_id, ENDPOINT_PAGE, after.as_deref()).await },
        )
        .await?;
    Ok(all.into_iter().filter(|e| e.status == EndpointStatus::Enabled).collect())
}

/// Queues the first attempt of each event to each ENABLED endpoint of its account that selects
/// its type, in order. Answers how many messages were queued, or, for the first event that could
/// not be relayed, its index and why: the events before it are relayed, it and those after are
/// to be offered again (a repeat queues a message again, which the delivery's own record of its
/// attempts makes harmless).
pub async fn relay<S, Q>(
    store: &S,
    queue: &Q,
    events: &[OutboxEvent],
    now: DateTime<Utc>,
) -> std::result::Result<usize, (usize, crate::Error)>
where
    S: WebhookEndpoints,
    Q: DeliveryQueue,
{
    let mut endpoints_of: BTreeMap<String, Vec<WebhookEndpoint>> = BTreeMap::new();
    let mut queued = 0;
    for (index, event) in events.iter().enumerate() {
        queued += relay_one(store, queue, &mut endpoints_of, event, now).await.map_err(|error| (index, error))?;
    }
    Ok(queued)
}

/// Queues one event's first attempts; `endpoints_of` keeps each account's endpoints for the batch.
async fn relay_one<S: WebhookEndpoints, Q: DeliveryQueue>(
    store: &S,
    queue: &Q,
    endpoints_of: &mut BTreeMap<String, Vec<WebhookEndpoint>>,
    event: &OutboxEvent,
    now: DateTime<Utc>,
) -> Result<usize> {
    if !endpoints_of.contains_key(&event.account_id) {
        let endpoints = enabled_endpoints(store, &event.account_id).await?;
        endpoints_of.insert(event.account_id.clone(), endpoints);
    }
    let tasks: Vec<DeliveryTask> = endpoints_of[&event.account_id]
        .iter()
        .filter(|endpoint| endpoint.events.includes(event.event_type))
        .map(|endpoint| DeliveryTask::first(&event.account_id, &endpoint.id, &event.id, now))
        .collect();
    if !tasks.is_empty() {
        queue.schedule(&tasks, std::time::Duration::ZERO).await?;
    }
    Ok(tasks.len())
}

/// What a delivery message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Not due yet: sent on with the rest of the wait.
    NotYetDue,
    /// Nothing to do: the endpoint was deleted or disabled, the event or the secret is gone, or
    /// this attempt was made and followed up already (a repeated message).
    Dropped(&'static str),
    /// An attempt was made (or, after a crash, its follow-up finished).
    Attempted(DeliveryAttempt),
}

/// Where a delivery reads and writes.
pub struct Delivery<'a, S, K, Q, H> {
    /// Endpoints, the outbox and the attempts.
    pub store: &'a S,
    /// The endpoints' signing secrets.
    pub secrets: &'a K,
    /// The delivery queue, for retries and hops.
    pub queue: &'a Q,
    /// The HTTP client.
    pub sender: &'a H,
    /// Which targets may be reached.
    pub policy: TargetPolicy,
}

impl<S, K, Q, H> Delivery<'_, S, K, Q, H>
where
    S: WebhookEndpoints + WebhookEvents + WebhookDeliveries,
    K: WebhookSecrets,
    Q: DeliveryQueue,
    H: WebhookSender,
{
    /// Carries out one message: the attempt it is due for, signed with the endpoint's secret and
    /// the event's id as `webhook-id`; records it; after a failure queues the next attempt of the
    /// schedule; keeps the endpoint's failure streak, disabling an endpoint that has failed
    /// everything for a day. `clock` gives the time of each step.
    pub async fn deliver(&self, task: &DeliveryTask, clock: impl Fn() -> DateTime<Utc>) -> Result<Delivered> {
        let now = clock();
        // Less than a second early (another host's clock, times rounded to the millisecond) is on
        // time: a hop would wait a whole second more.
        if task.due_at - now >= chrono::TimeDelta::seconds(1) {
            self.queue.schedule(std::slice::from_ref(task), queue_delay(task.due_at, now)).await?;
            return Ok(Delivered::NotYetDue);
        }
        let (account, endpoint_id, event_id) = (&task.account_id, &task.endpoint_id, &task.event_id);
        let Some(endpoint) = self.store.get_webhook_endpoint(account, endpoint_id).await? else {
            return Ok(Delivered::Dropped("the endpoint was deleted"));
        };
        if endpoint.value.status == EndpointStatus::Disabled {
            return Ok(Delivered::Dropped("the endpoint is disabled"));
        }
        if let Some(recorded) =
            self.store.delivery_attempt(account, endpoint_id, event_id, task.attempt_number()).await?
        {
            if recorded.followed_up {
                return Ok(Delivered::Dropped("this attempt was made already"));
            }
            self.follow_up(task, &recorded.attempt).await?;
            return Ok(Delivered::Attempted(recorded.attempt));
        }
        let Some(event) = self.store.webhook_event(account, event_id).await? else {
            return Ok(Delivered::Dropped("the event is no longer kept"));
        };
        let Some(secret) = self.secrets.webhook_secret(account, endpoint_id).await? else {
            return Ok(Delivered::Dropped("the endpoint's secret is gone (it was deleted)"));
        };
        let started = clock();
        let headers = secret.headers(&event.id, started.timestamp(), event.body.as_bytes());
        let outcome = self.sender.post(&endpoint.value.url, &headers, &event.body, ATTEMPT_TIMEOUT, self.policy).await;
        let took = (clock() - started).num_milliseconds().max(0).unsigned_abs();
        let attempt = DeliveryAttempt::new(task, event.event_type, started, took, &outcome);
        if !self.store.record_attempt(account, endpoint_id, &attempt).await? {
            // A copy of this message got there first; it follows its own attempt up.
            return Ok(Delivered::Dropped("this attempt was made already"));
        }
        self.follow_up(task, &attempt).await?;
        Ok(Delivered::Attempted(attempt))
    }

    /// What follows a recorded attempt: the next one queued after a failure, the endpoint's streak
    /// kept; then the attempt is marked followed up.
    async fn follow_up(&self, task: &DeliveryTask, attempt: &DeliveryAttempt) -> Result<()> {
        if let Some(next) = task.retry(attempt.attempted_at).filter(|_| attempt.next_attempt_at.is_some()) {
            self.queue.schedule(std::slice::from_ref(&next), queue_delay(next.due_at, attempt.attempted_at)).await?;
        }
        self.keep_streak(task, attempt.result == AttemptResult::Delivered, attempt.attempted_at).await?;
        self.store.mark_followed_up(&task.account_id, &task.endpoint_id, &task.event_id, attempt.attempt).await
    }

    /// Updates the endpoint's failure streak after an attempt at `at`: cleared by a success,
    /// started by a failure, and the endpoint DISABLED once it has failed everything for a day.
    async fn keep_streak(&self, task: &DeliveryTask, delivered: bool, at: DateTime<Utc>) -> Result<()> {
        retry_on_contention(|| async {
            let Some(Versioned { value: mut endpoint, version }) =
                self.store.get_webhook_endpoint(&task.account_id, &task.endpoint_id).await?
            else {
                return Ok(());
            };
            let streak = FailureStreak { failing_since: endpoint.failing_since };
            let streak = if delivered { streak.after_success() } else { streak.after_failure(at) };
            let disable = !delivered && endpoint.status == EndpointStatus::Enabled && streak.disables(at);
            if streak.failing_since == endpoint.failing_since && !disable {
                return Ok(());
            }
            endpoint.failing_since = streak.failing_since;
            if disable {
                endpoint.status = EndpointStatus::Disabled;
                endpoint.updated_at = at;
                tracing::warn!(endpoint = %endpoint.id, failing_since = ?streak.failing_since, "webhook endpoint disabled: every delivery failed for a day");
            }
            self.store.replace_webhook_endpoint(&endpoint, version, None).await
        })
        .await
    }
}
