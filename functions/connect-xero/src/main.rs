//! The `connect-xero` Lambda function.

use connect_xero::{connect_xero, route, AppSettings};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    let app = Arc::new(AppSettings::from_env());
    run_with_store(store, route(), move |store, context, request| {
        let app = Arc::clone(&app);
        async move { connect_xero(store, &app, context, request).await }
    })
    .await
}
