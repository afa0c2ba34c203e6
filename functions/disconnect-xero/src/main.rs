//! The `disconnect-xero` Lambda function.

use disconnect_xero::{disconnect_xero, route};
use invoicing_domain::service::xero_connection::TokenKeeper;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use invoicing_secrets::SecretsStore;
use invoicing_xero::oauth::{AppIdentity, XeroApp};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    let vault = SecretsStore::from_config(&config);
    // The app's secret is read when a disconnect first talks to Xero.
    let identity = AppIdentity::new(vault.clone(), XeroApp::from_env());
    let keeper = Arc::new(TokenKeeper::new(store.clone(), vault, identity));
    run_with_store(store, route(), move |_store, context, request| {
        let keeper = Arc::clone(&keeper);
        async move { disconnect_xero(&*keeper, context, request).await }
    })
    .await
}
