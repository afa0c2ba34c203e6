//! The `deliver-webhooks` Lambda function.

use aws_lambda_events::event::sqs::SqsEvent;
use deliver_webhooks::{handle, HttpSender};
use invoicing_domain::{model::webhooks::target::TargetPolicy, service::deliveries::Delivery};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_restarting};
use invoicing_https::Https;
use invoicing_secrets::SecretsStore;
use invoicing_sqs::SqsQueue;
use lambda_runtime::{service_fn, LambdaEvent};
use std::{convert::Infallible, sync::Arc};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let policy = TargetPolicy::from_env()?;
    let https = Https::shared()?;
    let config = https.sdk_config().await;
    let store = DynamoStore::from_config(&config)?;
    let secrets = SecretsStore::from_config(&config);
    let queue = SqsQueue::from_config_at(&config, "DELIVERY_QUEUE_URL")?;
    let parts = Arc::new((store, secrets, queue, HttpSender::new(&https, policy)));
    // A failed exchange with the Runtime API restarts the loop (invoicing_http::run_restarting).
    run_restarting(|| {
        let parts = Arc::clone(&parts);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
            let parts = Arc::clone(&parts);
            async move {
                let (store, secrets, queue, sender) = &*parts;
                let delivery = Delivery { store, secrets, queue, sender, policy };
                Ok::<_, Infallible>(handle(&delivery, event.payload).await)
            }
        }))
    })
    .await
}
