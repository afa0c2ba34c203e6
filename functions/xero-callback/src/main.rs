//! The `xero-callback` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use invoicing_secrets::SecretsStore;
use invoicing_xero::oauth::{AppIdentity, XeroApp};
use std::sync::Arc;
use xero_callback::{route, xero_callback};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    let vault = SecretsStore::from_config(&config);
    // The app's secret is read at the first callback that gets as far as exchanging a code.
    let identity = Arc::new(AppIdentity::new(vault.clone(), XeroApp::from_env()));
    run_with_store(store, route(), move |store, context, request| {
        let (vault, identity) = (vault.clone(), Arc::clone(&identity));
        async move {
            let redirect_uri = identity.app().redirect_uri.clone();
            xero_callback(&store, &vault, &*identity, redirect_uri.as_deref(), context, request).await
        }
    })
    .await
}
