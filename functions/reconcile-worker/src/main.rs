use aws_lambda_events::event::sqs::SqsEvent;
use invoicing_domain::model::xero_budget::BudgetLimits;
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_restarting};
use invoicing_secrets::SecretsStore;
use invoicing_sqs::SqsQueue;
use invoicing_xero::oauth::XeroApp;
use lambda_runtime::{service_fn, LambdaEvent};
use reconcile_worker::{budget::SharedBudget, invocation_deadline, Attempts, Worker, XeroClients};
use std::{convert::Infallible, sync::Arc};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    // One SDK configuration (credentials, region, endpoint) for the three clients.
    let config = invoicing_https::sdk_config().await?;
    let store = DynamoStore::from_config(&config)?;
    // Xero's per-organisation limits, shared by every instance of the worker through the table.
    let budget = Arc::new(SharedBudget::new(store.clone(), BudgetLimits::default()));
    let attempts = Attempts {
        max: std::env::var("MAX_RECEIVE_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(5),
        ..Attempts::default()
    };
    let worker = Arc::new(Worker {
        jobs: store.clone(),
        store: store.clone(),
        integrations: XeroClients::new(store, SecretsStore::from_config(&config), XeroApp::from_env(), budget),
        queue: SqsQueue::from_config(&config)?,
        attempts,
    });
    // A failed exchange with the Runtime API restarts the loop (invoicing_http::run_restarting).
    run_restarting(|| {
        let worker = Arc::clone(&worker);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
            let worker = Arc::clone(&worker);
            async move {
                let deadline = invocation_deadline(event.context.deadline);
                Ok::<_, Infallible>(worker.handle(event.payload, deadline).await)
            }
        }))
    })
    .await
}
