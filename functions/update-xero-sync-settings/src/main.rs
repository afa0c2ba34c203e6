//! The `update-xero-sync-settings` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use update_xero_sync_settings::{route, update_xero_sync_settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), update_xero_sync_settings).await
}
