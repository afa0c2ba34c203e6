//! The `update-line-item` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use update_line_item::{route, update_line_item};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), update_line_item).await
}
