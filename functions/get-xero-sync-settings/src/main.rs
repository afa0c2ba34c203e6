//! The `get-xero-sync-settings` Lambda function.

use get_xero_sync_settings::{get_xero_sync_settings, route};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), get_xero_sync_settings).await
}
