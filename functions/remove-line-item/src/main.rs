//! The `remove-line-item` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use remove_line_item::{remove_line_item, route};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), remove_line_item).await
}
