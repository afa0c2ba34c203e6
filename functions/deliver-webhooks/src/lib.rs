//! `deliver-webhooks`: the SQS-triggered delivery of webhook events (SPEC.md section 8). Each
//! message is one attempt of one event to one endpoint (`DeliveryTask`); the messages of a batch
//! are attempted concurrently, so a slow endpoint (up to the 15 s timeout) does not hold up the
//! others. A message whose attempt could not be recorded is reported failed alone and comes back
//! after the queue's visibility timeout; after `maxReceiveCount` receives it goes to the DLQ.

use std::net::IpAddr;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{SubsecRound, Utc};
use futures::future::join_all;
use invoicing_domain::{
    model::webhooks::{
        delivery::{AttemptOutcome, DeliveryTask},
        target::{check_address, check_url, TargetPolicy},
    },
    ports::{DeliveryQueue, WebhookDeliveries, WebhookEndpoints, WebhookEvents, WebhookSecrets, WebhookSender},
    service::deliveries::{Delivered, Delivery},
};
use invoicing_https::{describe, DnsFuture, HeaderName, Https, ResolveDns, ResolveDnsError};

/// Resolves an endpoint's host and refuses it unless every address it resolves to is one the
/// policy allows; the connection is then made only to those checked addresses, so a name cannot
/// be re-pointed at a private address between the check and the connection.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    /// Which addresses may be reached.
    pub policy: TargetPolicy,
}

/// Top-level names reserved by RFC 2606 and RFC 6761 that never resolve on the internet: a URL
/// under them (the events/ files and the docs use `hooks.example.test`) fails its attempts without
/// a DNS query leaving the machine.
const NEVER_RESOLVED: [&str; 3] = ["test", "example", "invalid"];

/// The addresses `name` resolves to: `localhost` names are loopback by definition (RFC 6761),
/// names under [`NEVER_RESOLVED`] do not resolve, anything else is asked of the system resolver.
async fn lookup(name: &str) -> Result<Vec<IpAddr>, ResolveDnsError> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let top_level = name.rsplit('.').next().unwrap_or_default();
    if top_level == "localhost" {
        return Ok(vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]);
    }
    if NEVER_RESOLVED.contains(&top_level) {
        return Err(ResolveDnsError::new(format!("{name}: a reserved name (.{top_level}) that does not resolve")));
    }
    let found = tokio::net::lookup_host((name.as_str(), 0)).await.map_err(ResolveDnsError::new)?;
    Ok(found.map(|address| address.ip()).collect())
}

impl ResolveDns for CheckedResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let policy = self.policy;
        DnsFuture::new(async move {
            let addresses = lookup(name).await?;
            for address in &addresses {
                check_address(*address, policy)
                    .map_err(|refused| ResolveDnsError::new(format!("{name}: {}", refused.public_message())))?;
            }
            Ok(addresses)
        })
    }
}

/// Delivers over HTTPS (and, where the policy allows local targets, HTTP), checking the URL again
/// at every attempt and every address its host resolves to.
#[derive(Debug, Clone)]
pub struct HttpSender {
    https: Https,
}

impl HttpSender {
    /// A sender on `https`, resolving names under `policy`.
    pub fn new(https: &Https, policy: TargetPolicy) -> HttpSender {
        HttpSender { https: https.with_resolver(CheckedResolver { policy }) }
    }
}

impl WebhookSender for HttpSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
        timeout: std::time::Duration,
        policy: TargetPolicy,
    ) -> AttemptOutcome {
        // The rules may have changed since the URL was registered (or a literal address in it is
        // no longer allowed): checked again before every attempt.
        if let Err(refused) = check_url(url, policy) {
            return AttemptOutcome::NoAnswer(refused.public_message());
        }
        let mut request = self.https.post(url).body("application/json", body.as_bytes().to_vec());
        for (name, value) in headers {
            request = request.header(HeaderName::from_static(name), value);
        }
        // Only the status counts: the body, of whatever size, is never read.
        match request.timeout(timeout).status_only().send().await {
            Ok(answer) => AttemptOutcome::Answered(answer.status.as_u16()),
            Err(error) => AttemptOutcome::NoAnswer(describe(&error)),
        }
    }
}

/// Carries out a batch: every message at once, each on its own.
pub async fn handle<S, K, Q, H>(delivery: &Delivery<'_, S, K, Q, H>, event: SqsEvent) -> SqsBatchResponse
where
    S: WebhookEndpoints + WebhookEvents + WebhookDeliveries,
    K: WebhookSecrets,
    Q: DeliveryQueue,
    H: WebhookSender,
{
    let handled = join_all(event.records.iter().map(|message| handle_message(delivery, message))).await;
    invoicing_sqs::batch_response(&event.records, &handled)
}

/// Whether the message is done with (delivered, failed and retried, or unusable).
async fn handle_message<S, K, Q, H>(delivery: &Delivery<'_, S, K, Q, H>, message: &SqsMessage) -> bool
where
    S: WebhookEndpoints + WebhookEvents + WebhookDeliveries,
    K: WebhookSecrets,
    Q: DeliveryQueue,
    H: WebhookSender,
{
    let body = message.body.as_deref().unwrap_or_default();
    let task: DeliveryTask = match serde_json::from_str(body) {
        Ok(task) => task,
        Err(error) => {
            // Retrying cannot make it readable: dropped, with what it was.
            tracing::error!(message_id = ?message.message_id, %error, body, "unreadable delivery message dropped");
            return true;
        }
    };
    // Times to the millisecond, as every answer shows them.
    match delivery.deliver(&task, || Utc::now().trunc_subsecs(3)).await {
        Ok(Delivered::Attempted(attempt)) => {
            tracing::info!(
                endpoint = %task.endpoint_id, event = %task.event_id, attempt = attempt.attempt,
                result = ?attempt.result, status = ?attempt.response_status, error = ?attempt.error,
                next = ?attempt.next_attempt_at, "webhook attempt"
            );
            true
        }
        Ok(Delivered::NotYetDue) => true,
        Ok(Delivered::Dropped(why)) => {
            tracing::info!(endpoint = %task.endpoint_id, event = %task.event_id, why, "webhook delivery dropped");
            true
        }
        Err(error) => {
            tracing::error!(endpoint = %task.endpoint_id, event = %task.event_id, error = ?error, "webhook delivery failed; the message will be retried");
            false
        }
    }
}
