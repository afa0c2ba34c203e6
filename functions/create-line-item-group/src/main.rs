//! The `create-line-item-group` Lambda function.

use create_line_item_group::{create_line_item_group, route};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), create_line_item_group).await
}
