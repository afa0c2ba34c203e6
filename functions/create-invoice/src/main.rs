use create_invoice::{create_invoice, route};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run, Gateway};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    let gateway = Gateway::new(store.clone(), store.clone());
    run(gateway, route(), move |context, request| {
        let store = store.clone();
        async move { create_invoice(&store, context, request).await }
    })
    .await
}
