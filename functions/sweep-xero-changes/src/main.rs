//! The `sweep-xero-changes` Lambda function (an EventBridge schedule invokes it).

use invoicing_domain::model::xero_budget::BudgetLimits;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_restarting};
use invoicing_secrets::SecretsStore;
use invoicing_sqs::SqsQueue;
use invoicing_xero::{accounts::XeroClients, oauth::XeroApp, shared_budget::SharedBudget};
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;
use sweep_xero_changes::Sweeper;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    // The same per-organisation budget as every other caller of Xero.
    let budget = Arc::new(SharedBudget::new(store.clone(), BudgetLimits::default()));
    let clients = XeroClients::new(store.clone(), SecretsStore::from_config(&config), XeroApp::from_env(), budget);
    let queue = SqsQueue::from_config_at(&config, "PULL_QUEUE_URL")?;
    let sweeper = Arc::new(Sweeper { store, clients, queue });
    // A failed exchange with the Runtime API restarts the loop (invoicing_http::run_restarting).
    run_restarting(|| {
        let sweeper = Arc::clone(&sweeper);
        lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
            let sweeper = Arc::clone(&sweeper);
            async move {
                let report = Box::pin(sweeper.sweep(chrono::Utc::now())).await;
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
            }
        }))
    })
    .await
}
