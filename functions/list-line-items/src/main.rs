use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use list_line_items::{list_line_items, route};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(
        store,
        route(),
        |store, context, request| async move { list_line_items(&store, context, request).await },
    )
    .await
}
