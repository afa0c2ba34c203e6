//! Operator command line. Reads the same environment as the functions (`TABLE_NAME`,
//! `AWS_ENDPOINT_URL`, `AWS_REGION`, ...), so `set -a; . .local/stack.env` points it at the local
//! stack and a normal AWS profile points it at AWS.

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{SubsecRound, Utc};
use clap::{Parser, Subcommand};
use invoicing_domain::{
    model::{
        account::{NewAccount, ReceivingAccount},
        config::{required_env, ConfigError},
        integration::XeroSettings,
        invoice::{CreateInvoice, Invoice},
        lines::LineItemInput,
        reconcile::{Counts, IntegrationService, JobStatus, Property, ReconcileJob},
        webhooks::{signature::WebhookSecret, EndpointStatus, EventSelection, WebhookEndpoint},
    },
    ports::{
        AccountStore, CredentialStore, IntegrationSecrets, IntegrationSettings, InvoiceStore, LineItemStore,
        ReconcileJobs, Unrecorded, WebhookEndpoints, WebhookSecrets,
    },
    service::lines,
};
use invoicing_dynamodb::{
    schema::{self, SchemaError},
    DynamoStore,
};
use invoicing_secrets::SecretsStore;
use std::process::ExitCode;

/// Why a command failed; `main` prints it with every cause.
#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Https(#[from] invoicing_https::HttpsError),
    #[error(transparent)]
    Store(#[from] invoicing_domain::Error),
    #[error(transparent)]
    Schema(#[from] Box<SchemaError>),
    #[error("SQS {operation} failed")]
    Sqs {
        operation: &'static str,
        #[source]
        source: aws_sdk_sqs::Error,
    },
    #[error("an example does not parse")]
    Example(#[source] serde_json::Error),
    #[error("reading the Xero client secret from standard input")]
    Stdin(#[source] std::io::Error),
}

#[derive(Parser)]
#[command(name = "invoicing-admin", about = "Administer the invoicing API's accounts and local stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account and print its credentials once, as shell-sourceable lines.
    CreateAccount {
        #[arg(long)]
        name: String,
        /// Use this API key (`<keyId>.<secret>`) instead of a random one. For local fixtures only.
        #[arg(long)]
        api_key: Option<String>,
        /// Use this account id (a UUID) instead of a new one. For local fixtures only.
        #[arg(long)]
        account_id: Option<String>,
    },
    /// Set the bank account an account's invoices are paid into (Slash's `invoiceAccount`). The
    /// account is named by one of its credential ids (CLIENT_ID, or the key id of its API key).
    SetReceivingAccount {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        account_number: String,
        #[arg(long)]
        routing_number: String,
        #[arg(long, default_value = "")]
        slash_account_group_id: String,
    },
    /// Connect an account (named by one of its credential ids) to Xero. The Xero client secret is
    /// read from XERO_CLIENT_SECRET, else from the first line of standard input, and stored in
    /// Secrets Manager; the rest is stored with the account.
    ConnectXero {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        xero_client_id: String,
        #[arg(long)]
        tenant_id: Option<String>,
        #[arg(long, default_value = "https://api.xero.com")]
        api_base_url: String,
        #[arg(long, default_value = "https://identity.xero.com/connect/token")]
        token_url: String,
    },
    /// Store the client secret of the service's own Xero app (customers' OAuth connections), read
    /// from XERO_CLIENT_SECRET, else from the first line of standard input, in Secrets Manager
    /// (`<SECRETS_PREFIX>/xero-app/client-secret`). Its client id is the functions' XERO_CLIENT_ID.
    SetXeroAppSecret,
    /// Store the webhook key of the service's Xero app (Xero signs its webhooks with it; shown in
    /// Xero's developer portal under Webhooks), read from XERO_WEBHOOK_KEY, else from the first
    /// line of standard input, in Secrets Manager (`<SECRETS_PREFIX>/xero-app/webhook-key`).
    SetXeroWebhookKey,
    /// Create the table (TABLE_NAME), the webhook outbox table (EVENTS_TABLE_NAME), the reconcile
    /// queues (QUEUE_NAME, DLQ_NAME) and the webhook delivery queues (DELIVERY_QUEUE_NAME,
    /// DELIVERY_DLQ_NAME), the Xero push queues (PUSH_QUEUE_NAME, PUSH_DLQ_NAME) and the Xero pull
    /// queues (PULL_QUEUE_NAME, PULL_DLQ_NAME) on a local stack. On AWS, template.yaml creates them.
    InitLocal,
    /// Give an account (named by one of its credential ids) the invoice, line and reconcile job
    /// that the events/ files name, so that each event reaches real data. Existing ones are kept.
    SeedExamples {
        #[arg(long)]
        client_id: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprint!("error: {error}");
            let mut cause = std::error::Error::source(&error);
            while let Some(error) = cause {
                eprint!(": {error}");
                cause = error.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), AdminError> {
    // The full credential chain (profiles, SSO...): people run this tool, not Lambda.
    let config = invoicing_https::Https::shared()?.sdk_loader().load().await;
    let store = DynamoStore::from_config(&config)?;
    match cli.command {
        Command::CreateAccount { name, api_key, account_id } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(AdminError::Usage("--name must not be empty".into()));
            }
            let mut new = NewAccount::generate(name, Utc::now().trunc_subsecs(3));
            if let Some(api_key) = api_key {
                new = new.with_api_key(&api_key).map_err(AdminError::Usage)?;
            }
            if let Some(account_id) = account_id {
                new = new.with_account_id(&account_id).map_err(AdminError::Usage)?;
            }
            store.create_account(&new).await?;
            eprintln!("# account {} ({}) created; the secrets below are shown only once", new.account.id, name);
            println!("CLIENT_ID={}", new.issued.client_id);
            println!("CLIENT_SECRET={}", new.issued.client_secret);
            println!("API_KEY={}", new.issued.api_key);
            Ok(())
        }
        Command::SetReceivingAccount { client_id, name, account_number, routing_number, slash_account_group_id } => {
            let account_id = account_of(&store, &client_id).await?;
            let receiving = ReceivingAccount {
                id: format!("ra_{account_id}"),
                name,
                slash_account_group_id,
                account_type: "default".into(),
                account_number,
                routing_number,
            };
            store.set_receiving_account(&account_id, &receiving).await?;
            eprintln!("# receiving account of account {account_id} set");
            Ok(())
        }
        Command::SetXeroAppSecret => {
            let secret = xero_client_secret()?;
            SecretsStore::from_config(&config).set_xero_app_client_secret(&secret).await?;
            eprintln!("# the Xero app's client secret is stored");
            Ok(())
        }
        Command::SetXeroWebhookKey => {
            let key = secret_from("XERO_WEBHOOK_KEY", "the Xero webhook key")?;
            SecretsStore::from_config(&config).set_xero_webhook_key(&key).await?;
            eprintln!("# the Xero app's webhook key is stored");
            Ok(())
        }
        Command::ConnectXero { client_id, xero_client_id, tenant_id, api_base_url, token_url } => {
            let account_id = account_of(&store, &client_id).await?;
            let secret = xero_client_secret()?;
            let settings = XeroSettings { client_id: xero_client_id, tenant_id, api_base_url, token_url };
            SecretsStore::from_config(&config).set_xero_client_secret(&account_id, &secret).await?;
            store.set_xero_settings(&account_id, &settings).await?;
            eprintln!("# account {account_id} connected to Xero");
            Ok(())
        }
        Command::SeedExamples { client_id } => {
            let account_id = account_of(&store, &client_id).await?;
            seed_examples(&store, &SecretsStore::from_config(&config), &account_id).await
        }
        Command::InitLocal => {
            schema::create_table(store.client(), store.table()).await.map_err(Box::new)?;
            schema::create_events_table(store.client(), store.events_table()).await.map_err(Box::new)?;
            let sqs = aws_sdk_sqs::Client::new(&config);
            create_queue_with_dlq(&sqs, &required_env("QUEUE_NAME")?, &required_env("DLQ_NAME")?).await?;
            let (deliveries, delivery_dlq) = (required_env("DELIVERY_QUEUE_NAME")?, required_env("DELIVERY_DLQ_NAME")?);
            create_queue_with_dlq(&sqs, &deliveries, &delivery_dlq).await?;
            let (pushes, push_dlq) = (required_env("PUSH_QUEUE_NAME")?, required_env("PUSH_DLQ_NAME")?);
            create_queue_with_dlq(&sqs, &pushes, &push_dlq).await?;
            let (pulls, pull_dlq) = (required_env("PULL_QUEUE_NAME")?, required_env("PULL_DLQ_NAME")?);
            create_queue_with_dlq(&sqs, &pulls, &pull_dlq).await?;
            eprintln!("# tables {} and {} and queues created", store.table(), store.events_table());
            Ok(())
        }
    }
}

/// A queue whose messages go to its dead-letter queue after five receives, as in template.yaml;
/// with a short visibility timeout locally, so that failed messages come back within seconds.
async fn create_queue_with_dlq(sqs: &aws_sdk_sqs::Client, name: &str, dlq_name: &str) -> Result<(), AdminError> {
    let sqs_error = |operation| move |source: aws_sdk_sqs::Error| AdminError::Sqs { operation, source };
    let dlq = sqs.create_queue().queue_name(dlq_name).send().await;
    let dlq_url = dlq.map_err(|e| sqs_error("CreateQueue")(e.into()))?.queue_url.unwrap_or_default();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sqs_error("GetQueueAttributes")(e.into()))?;
    let dlq_arn = attributes
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| AdminError::Usage("the dead-letter queue has no ARN".into()))?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).to_string();
    let visibility = std::env::var("VISIBILITY_TIMEOUT").unwrap_or_else(|_| "10".into());
    sqs.create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility)
        .send()
        .await
        .map_err(|e| sqs_error("CreateQueue")(e.into()))?;
    Ok(())
}

/// The ids the events/ files name.
mod examples {
    pub const INVOICE_ID: &str = "01a21186-0000-7000-8000-000000000000";
    pub const LINE_ITEM_ID: &str = "01a21186-0000-7000-8000-0000000000a1";
    pub const JOB_ID: &str = "01a21186-0000-7000-8000-00000000a0b0";
    pub const WEBHOOK_ENDPOINT_ID: &str = "01a21186-0000-7000-8000-0000000000e1";
}

/// The draft invoice (with one line), the queued Xero reconcile job and the webhook endpoint (with
/// its secret) of the events/ files.
async fn seed_examples(store: &DynamoStore, secrets: &SecretsStore, account_id: &str) -> Result<(), AdminError> {
    let now = Utc::now().trunc_subsecs(3);
    if store.get_invoice(account_id, examples::INVOICE_ID).await?.is_none() {
        let request: CreateInvoice = serde_json::from_value(serde_json::json!({
            "currency": "GBP",
            "customerId": "cust-example",
            "customerLegalCompanyName": "Example Ltd",
            "customerEmails": ["billing@example.test"],
            "dueDate": "2026-12-31",
        }))
        .map_err(AdminError::Example)?;
        let invoice = Invoice::new_draft(examples::INVOICE_ID.into(), account_id, request, now);
        store.insert_invoice(&invoice, None, None).await?;
    }
    if store.get_line_item(account_id, examples::INVOICE_ID, examples::LINE_ITEM_ID).await?.is_none() {
        let input: LineItemInput = serde_json::from_value(serde_json::json!({
            "title": "Design", "quantity": "2", "rate": "100.00", "taxRate": "0.2",
        }))
        .map_err(AdminError::Example)?;
        let (id, invoice) = (examples::LINE_ITEM_ID.to_string(), examples::INVOICE_ID);
        lines::add_line_item(store, account_id, invoice, id, input, now, &Unrecorded).await?;
    }
    if store.get_job(account_id, examples::JOB_ID).await?.is_none() {
        let job = ReconcileJob {
            id: examples::JOB_ID.into(),
            status: JobStatus::Queued,
            integration_service: IntegrationService::Xero,
            properties_to_compare: vec![Property::InvoiceNumber, Property::Status],
            counts: Counts { total: 1, ..Counts::default() },
            created_at: now,
            completed_at: None,
            xero_calls: 0,
        };
        store.create_job(account_id, &job, false, None).await?;
    }
    if store.get_webhook_endpoint(account_id, examples::WEBHOOK_ENDPOINT_ID).await?.is_none() {
        let endpoint = WebhookEndpoint {
            id: examples::WEBHOOK_ENDPOINT_ID.into(),
            account_id: account_id.into(),
            url: "https://hooks.example.test/invoicing".into(),
            events: EventSelection::Every,
            // Disabled: its host does not exist (.test), and deliveries to it would only fail (and
            // send DNS queries off this machine). The events/ files name it all the same.
            description: Some("Example receiver (disabled)".into()),
            status: EndpointStatus::Disabled,
            created_at: now,
            updated_at: now,
            failing_since: None,
        };
        secrets.store_webhook_secret(account_id, &endpoint.id, &WebhookSecret::generate()).await?;
        store.insert_webhook_endpoint(&endpoint, None).await?;
    }
    eprintln!(
        "# account {account_id}: invoice {}, line {}, reconcile job {}, webhook endpoint {}",
        examples::INVOICE_ID,
        examples::LINE_ITEM_ID,
        examples::JOB_ID,
        examples::WEBHOOK_ENDPOINT_ID
    );
    Ok(())
}

/// The account a credential id (CLIENT_ID, or an API key's id) belongs to.
async fn account_of(store: &DynamoStore, credential_id: &str) -> Result<String, AdminError> {
    let credential = store
        .find_credential(credential_id)
        .await?
        .ok_or_else(|| AdminError::Usage(format!("no credential {credential_id}")))?;
    Ok(credential.account_id)
}

/// XERO_CLIENT_SECRET, else the first line of standard input; never empty.
// The tool's one error type, returned once per run: its size does not matter here.
#[allow(clippy::result_large_err)]
fn xero_client_secret() -> Result<String, AdminError> {
    secret_from("XERO_CLIENT_SECRET", "the Xero client secret")
}

/// A secret from the environment variable `variable`, else the first line of standard input.
#[allow(clippy::result_large_err)]
fn secret_from(variable: &str, what: &str) -> Result<String, AdminError> {
    let secret = match std::env::var(variable) {
        Ok(secret) => secret,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(AdminError::Stdin)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if secret.is_empty() {
        return Err(AdminError::Usage(format!("{what} is empty (set {variable} or pipe it in)")));
    }
    Ok(secret)
}
