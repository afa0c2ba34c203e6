//! The `relay-webhook-events` Lambda function.

use aws_lambda_events::event::dynamodb::Event;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_restarting};
use invoicing_sqs::SqsQueue;
use lambda_runtime::{service_fn, LambdaEvent};
use relay_webhook_events::handle;
use std::{convert::Infallible, sync::Arc};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    let queue = SqsQueue::from_config_at(&config, "DELIVERY_QUEUE_URL")?;
    let pushes = SqsQueue::from_config_at(&config, "PUSH_QUEUE_URL")?;
    let parts = Arc::new((store, queue, pushes));
    // A failed exchange with the Runtime API restarts the loop (invoicing_http::run_restarting).
    run_restarting(|| {
        let parts = Arc::clone(&parts);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
            let parts = Arc::clone(&parts);
            async move {
                let (store, queue, pushes) = &*parts;
                // Boxed: the relay future nests the SDK calls of two clients, deeper than rustc lays out inline.
                Ok::<_, Infallible>(Box::pin(handle(store, queue, pushes, event.payload)).await)
            }
        }))
    })
    .await
}
