//! The `void-invoice` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use void_invoice::{route, void_invoice};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), void_invoice).await
}
