use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run, Gateway};
use invoicing_sqs::SqsQueue;
use reconcile_with_integration::{reconcile_with_integration, route};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    // One SDK configuration (credentials, region, endpoint) for both clients.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::from_config(&config)?;
    let queue = SqsQueue::from_config(&config)?;
    let gateway = Gateway::new(store.clone(), store.clone());
    run(gateway, route(), move |context, request| {
        let (store, queue) = (store.clone(), queue.clone());
        async move { reconcile_with_integration(&store, &queue, context, request).await }
    })
    .await
}
