//! The `get-webhook-endpoint` Lambda function.

use get_webhook_endpoint::{get_webhook_endpoint, route};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), get_webhook_endpoint).await
}
