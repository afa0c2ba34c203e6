use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run, Gateway};
use invoicing_sqs::SqsQueue;
use reconcile_with_integration::{reconcile_with_integration, route};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    let queue = SqsQueue::from_env().await?;
    let gateway = Gateway::new(store.clone(), store.clone());
    run(gateway, route(), move |context, request| {
        let (store, queue) = (store.clone(), queue.clone());
        async move { reconcile_with_integration(&store, &queue, context, request).await }
    })
    .await
}
