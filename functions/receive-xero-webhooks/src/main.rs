//! The `receive-xero-webhooks` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use invoicing_secrets::SecretsStore;
use invoicing_sqs::SqsQueue;
use receive_xero_webhooks::{receive_xero_webhooks, route};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    let secrets = SecretsStore::from_config(&config);
    let queue = SqsQueue::from_config_at(&config, "PULL_QUEUE_URL")?;
    run_with_store(store, route(), move |store, _context, request| {
        let (secrets, queue) = (secrets.clone(), queue.clone());
        async move { receive_xero_webhooks(&secrets, &store, &queue, request).await }
    })
    .await
}
