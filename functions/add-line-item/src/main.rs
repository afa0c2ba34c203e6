//! The `add-line-item` Lambda function.

use add_line_item::{add_line_item, route};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), add_line_item).await
}
