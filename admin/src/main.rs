//! Operator command line. Reads the same environment as the functions (`TABLE_NAME`,
//! `AWS_ENDPOINT_URL`, `AWS_REGION`, ...), so `set -a; . .local/stack.env` points it at the local
//! stack and a normal AWS profile points it at AWS.

use chrono::{SubsecRound, Utc};
use clap::{Parser, Subcommand};
use invoicing_domain::{
    account::{NewAccount, ReceivingAccount},
    ports::{AccountStore, CredentialStore},
};
use invoicing_dynamodb::{schema, DynamoStore};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "invoicing-admin",
    about = "Administer the invoicing API's accounts and local stack"
)]
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
    /// Create the table (TABLE_NAME) and the reconcile queues (QUEUE_NAME, DLQ_NAME) on a local
    /// stack. On AWS, template.yaml creates them.
    InitLocal,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let store = DynamoStore::from_env().await?;
    match cli.command {
        Command::CreateAccount { name, api_key } => {
            let name = name.trim();
            if name.is_empty() {
                return Err("--name must not be empty".into());
            }
            let mut new = NewAccount::generate(name, Utc::now().trunc_subsecs(3));
            if let Some(api_key) = api_key {
                new = new.with_api_key(&api_key)?;
            }
            store
                .create_account(&new)
                .await
                .map_err(|e| e.detail().to_string())?;
            eprintln!(
                "# account {} ({}) created; the secrets below are shown only once",
                new.account.id, name
            );
            println!("CLIENT_ID={}", new.issued.client_id);
            println!("CLIENT_SECRET={}", new.issued.client_secret);
            println!("API_KEY={}", new.issued.api_key);
            Ok(())
        }
        Command::SetReceivingAccount {
            client_id,
            name,
            account_number,
            routing_number,
            slash_account_group_id,
        } => {
            let credential = store
                .find_credential(&client_id)
                .await
                .map_err(|e| e.detail().to_string())?
                .ok_or_else(|| format!("no credential {client_id}"))?;
            let receiving = ReceivingAccount {
                id: format!("ra_{}", credential.account_id),
                name,
                slash_account_group_id,
                account_type: "default".into(),
                account_number,
                routing_number,
            };
            store
                .set_receiving_account(&credential.account_id, &receiving)
                .await
                .map_err(|e| e.detail().to_string())?;
            eprintln!(
                "# receiving account of account {} set",
                credential.account_id
            );
            Ok(())
        }
        Command::InitLocal => {
            schema::create_table(store.client(), store.table()).await?;
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let sqs = aws_sdk_sqs::Client::new(&config);
            for variable in ["DLQ_NAME", "QUEUE_NAME"] {
                let name = std::env::var(variable).map_err(|_| format!("{variable} is not set"))?;
                sqs.create_queue()
                    .queue_name(&name)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "create queue {name}: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        )
                    })?;
            }
            eprintln!("# table {} and queues created", store.table());
            Ok(())
        }
    }
}
