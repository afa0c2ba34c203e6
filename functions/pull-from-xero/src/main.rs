//! The `pull-from-xero` Lambda function.

use aws_lambda_events::event::sqs::SqsEvent;
use invoicing_domain::model::xero_budget::BudgetLimits;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_restarting};
use invoicing_secrets::SecretsStore;
use invoicing_xero::{accounts::XeroClients, oauth::XeroApp, shared_budget::SharedBudget};
use lambda_runtime::{service_fn, LambdaEvent};
use pull_from_xero::Puller;
use std::{convert::Infallible, sync::Arc};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    // The same per-organisation budget as reconcile's and the push's.
    let budget = Arc::new(SharedBudget::new(store.clone(), BudgetLimits::default()));
    let clients = XeroClients::new(store.clone(), SecretsStore::from_config(&config), XeroApp::from_env(), budget);
    let puller = Arc::new(Puller { store, clients });
    // A failed exchange with the Runtime API restarts the loop (invoicing_http::run_restarting).
    run_restarting(|| {
        let puller = Arc::clone(&puller);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
            let puller = Arc::clone(&puller);
            async move { Ok::<_, Infallible>(Box::pin(puller.handle(event.payload)).await) }
        }))
    })
    .await
}
