use calculate_invoice_totals::{calculate_invoice_totals, route};
use invoicing_dynamodb::DynamoStore;
use invoicing_http::{init_tracing, run_with_store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    // The store serves authentication and idempotency; totals themselves need no storage.
    let store = DynamoStore::from_env().await?;
    run_with_store(store, route(), |_store, context, request| calculate_invoice_totals(context, request)).await
}
