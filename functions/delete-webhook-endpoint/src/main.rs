//! The `delete-webhook-endpoint` Lambda function.

use delete_webhook_endpoint::{delete_webhook_endpoint, route};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use invoicing_secrets::SecretsStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    let secrets = SecretsStore::from_config(&config);
    run_with_store(store, route(), move |store, context, request| {
        let secrets = secrets.clone();
        async move { delete_webhook_endpoint(store, secrets, context, request).await }
    })
    .await
}
