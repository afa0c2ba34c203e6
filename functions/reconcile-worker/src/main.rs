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
    let store = DynamoStore::from_env().await?;
    let worker = Arc::new(Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: XeroClients::new(store, SecretsStore::from_env().await),
        queue: SqsQueue::from_env().await?,
        max_receive_count: std::env::var("MAX_RECEIVE_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(5),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move { Ok::<_, Infallible>(worker.handle(event.payload).await) }
    }))
    .await
}
