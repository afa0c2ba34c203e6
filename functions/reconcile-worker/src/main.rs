use aws_lambda_events::event::sqs::SqsEvent;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::init_tracing;
use invoicing_secrets::SecretsStore;
use invoicing_sqs::SqsQueue;
use lambda_runtime::{service_fn, LambdaEvent};
use reconcile_worker::{Worker, XeroClients};
use std::{convert::Infallible, sync::Arc};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    // One SDK configuration (credentials, region, endpoint) for the three clients.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::from_config(&config)?;
    let worker = Arc::new(Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: XeroClients::new(store, SecretsStore::from_config(&config)),
        queue: SqsQueue::from_config(&config)?,
        max_receive_count: std::env::var("MAX_RECEIVE_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(5),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move { Ok::<_, Infallible>(worker.handle(event.payload).await) }
    }))
    .await
}
