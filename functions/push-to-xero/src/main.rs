//! The `push-to-xero` Lambda function.

use aws_lambda_events::event::sqs::SqsEvent;
use invoicing_domain::model::xero_budget::BudgetLimits;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_restarting};
use invoicing_secrets::SecretsStore;
use invoicing_xero::{accounts::XeroClients, oauth::XeroApp, shared_budget::SharedBudget};
use lambda_runtime::{service_fn, LambdaEvent};
use push_to_xero::Pusher;
use std::{convert::Infallible, sync::Arc};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    // The same per-organisation budget as reconcile's: together they keep within Xero's limits.
    let budget = Arc::new(SharedBudget::new(store.clone(), BudgetLimits::default()));
    let clients = XeroClients::new(store.clone(), SecretsStore::from_config(&config), XeroApp::from_env(), budget);
    let max_receives = std::env::var("MAX_RECEIVE_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let pusher = Arc::new(Pusher { store, clients, max_receives });
    // A failed exchange with the Runtime API restarts the loop (invoicing_http::run_restarting).
    run_restarting(|| {
        let pusher = Arc::clone(&pusher);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
            let pusher = Arc::clone(&pusher);
            async move { Ok::<_, Infallible>(Box::pin(pusher.handle(event.payload)).await) }
        }))
    })
    .await
}
