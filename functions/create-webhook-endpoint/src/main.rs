//! The `create-webhook-endpoint` Lambda function.

use create_webhook_endpoint::{create_webhook_endpoint, route};
use invoicing_domain::model::webhooks::target::TargetPolicy;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use invoicing_secrets::SecretsStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let policy = TargetPolicy::from_env()?;
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    let secrets = SecretsStore::from_config(&config);
    run_with_store(store, route(), move |store, context, request| {
        let secrets = secrets.clone();
        async move { create_webhook_endpoint(store, secrets, policy, context, request).await }
    })
    .await
}
