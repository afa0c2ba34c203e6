//! The `sync-invoice-to-integration` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use invoicing_sqs::SqsQueue;
use sync_invoice_to_integration::{route, sync_invoice_to_integration};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    // One SDK configuration (credentials, region, endpoint) for both clients.
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    let queue = SqsQueue::from_config_at(&config, "PUSH_QUEUE_URL")?;
    run_with_store(store, route(), move |store, context, request| {
        sync_invoice_to_integration(store, queue.clone(), context, request)
    })
    .await
}
