//! The queues on SQS (reconcile work, webhook deliveries): messages are JSON, sent ten at a time.
#![warn(missing_docs)]

use aws_sdk_sqs::{types::SendMessageBatchRequestEntry, Client};
use invoicing_domain::{
    model::{
        config::{required_env, ConfigError},
        reconcile::ReconcileMessage,
        webhooks::delivery::DeliveryTask,
        xero_pull::XeroPullMessage,
        xero_push::XeroPushMessage,
    },
    ports::{DeliveryQueue, WorkQueue, XeroPullQueue, XeroPushQueue},
    Error, Result,
};
use std::time::Duration;

/// SQS's limit of entries per SendMessageBatch.
const ENTRIES_PER_BATCH: usize = 10;
/// SQS's longest message delay.
const MAX_DELAY: Duration = Duration::from_secs(900);

/// A queue of JSON messages: the reconcile work queue or the webhook delivery queue.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    /// A queue at `queue_url` through `client`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    /// From the standard AWS environment (`AWS_ENDPOINT_URL` included) and `QUEUE_URL`.
    pub async fn from_env() -> std::result::Result<Self, ConfigError> {
        Self::from_config(&invoicing_https::sdk_config().await.map_err(|source| ConfigError::Unusable {
            name: invoicing_https::EXTRA_CA_CERTS,
            source: Box::new(source),
        })?)
    }

    /// With an SDK configuration already loaded (one per function, shared by its clients).
    pub fn from_config(config: &aws_config::SdkConfig) -> std::result::Result<Self, ConfigError> {
        Self::from_config_at(config, "QUEUE_URL")
    }

    /// The queue whose URL the environment variable `url_variable` holds (`DELIVERY_QUEUE_URL`).
    pub fn from_config_at(
        config: &aws_config::SdkConfig,
        url_variable: &'static str,
    ) -> std::result::Result<Self, ConfigError> {
        let queue_url = required_env(url_variable)?;
        Ok(Self::new(Client::new(config), queue_url))
    }

    async fn send_json<T: serde::Serialize>(&self, messages: &[T], delay: Duration) -> Result<()> {
        let delay_seconds = delay.min(MAX_DELAY).as_secs() as i32;
        for chunk in messages.chunks(ENTRIES_PER_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (index, message) in chunk.iter().enumerate() {
                let body = serde_json::to_string(message).map_err(|e| Error::internal_caused("a queue message", e))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(body)
                    .delay_seconds(delay_seconds)
                    .build()
                    .map_err(|e| Error::internal_caused("an SQS batch entry", e))?;
                entries.push(entry);
            }
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| Error::internal_caused("SQS SendMessageBatch failed", e))?;
            if let Some(failed) = output.failed.first() {
                return Err(Error::internal(format!(
                    "SQS refused {} of {} messages: {}",
                    output.failed.len(),
                    chunk.len(),
                    failed.message.as_deref().unwrap_or(failed.code.as_str())
                )));
            }
        }
        Ok(())
    }
}

impl WorkQueue for SqsQueue {
    async fn enqueue(&self, messages: &[ReconcileMessage], delay: Duration) -> Result<()> {
        self.send_json(messages, delay).await
    }
}

impl DeliveryQueue for SqsQueue {
    async fn schedule(&self, tasks: &[DeliveryTask], delay: Duration) -> Result<()> {
        self.send_json(tasks, delay).await
    }
}

impl XeroPushQueue for SqsQueue {
    async fn queue_pushes(&self, messages: &[XeroPushMessage]) -> Result<()> {
        self.send_json(messages, Duration::ZERO).await
    }
}

impl XeroPullQueue for SqsQueue {
    async fn queue_pulls(&self, messages: &[XeroPullMessage]) -> Result<()> {
        self.send_json(messages, Duration::ZERO).await
    }
}

/// The answer of an SQS-triggered function to its batch: the messages not `done` are reported
/// (`ReportBatchItemFailures`), so that SQS delivers only those again. `done[i]` is the fate of
/// `messages[i]`.
pub fn batch_response(
    messages: &[aws_lambda_events::event::sqs::SqsMessage],
    done: &[bool],
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
    for (message, _) in messages.iter().zip(done).filter(|(_, done)| !**done) {
        let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
        failure.item_identifier = message.message_id.clone().unwrap_or_default();
        response.batch_item_failures.push(failure);
    }
    response
}
