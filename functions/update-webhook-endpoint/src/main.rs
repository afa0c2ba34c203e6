//! The `update-webhook-endpoint` Lambda function.

use invoicing_domain::model::webhooks::target::TargetPolicy;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use update_webhook_endpoint::{route, update_webhook_endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let policy = TargetPolicy::from_env()?;
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), move |store, context, request| {
        update_webhook_endpoint(store, policy, context, request)
    })
    .await
}
