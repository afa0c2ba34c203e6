//! The `reconcile-invoice-payments` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use reconcile_invoice_payments::{reconcile_invoice_payments, route};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), reconcile_invoice_payments).await
}
