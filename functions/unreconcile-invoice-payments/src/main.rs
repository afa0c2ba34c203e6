//! The `unreconcile-invoice-payments` Lambda function.

use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};
use unreconcile_invoice_payments::{route, unreconcile_invoice_payments};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), unreconcile_invoice_payments).await
}
