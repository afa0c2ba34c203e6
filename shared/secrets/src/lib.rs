//! Integration secrets in AWS Secrets Manager, one secret per account and integration, so that
//! neither the table nor any answer or log ever holds them.
#![warn(missing_docs)]

use aws_sdk_secretsmanager::Client;
use invoicing_domain::{ports::IntegrationSecrets, Error, Result};

/// Integration secrets in Secrets Manager, one secret per account and integration.
#[derive(Clone, Debug)]
pub struct SecretsStore {
    client: Client,
    prefix: String,
}

impl SecretsStore {
    /// Secrets named `<prefix>/accounts/<accountId>/...` through `client`.
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into() }
    }

    /// From the standard AWS environment (`AWS_ENDPOINT_URL` included); secret names start with
    /// `SECRETS_PREFIX` (default `invoicing`).
    pub async fn from_env() -> Self {
        Self::from_config(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    }

    /// With an SDK configuration already loaded (one per function, shared by its clients).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let prefix = std::env::var("SECRETS_PREFIX").unwrap_or_else(|_| "invoicing".into());
        Self::new(Client::new(config), prefix)
    }

    fn xero_secret_name(&self, account_id: &str) -> String {
        format!("{}/accounts/{account_id}/xero-client-secret", self.prefix)
    }
}

fn failure<E: std::error::Error + Send + Sync + 'static>(operation: &str, error: E) -> Error {
    Error::internal_caused(format!("Secrets Manager {operation} failed"), error)
}

impl IntegrationSecrets for SecretsStore {
    async fn xero_client_secret(&self, account_id: &str) -> Result<Option<String>> {
        match self.client.get_secret_value().secret_id(self.xero_secret_name(account_id)).send().await {
            Ok(output) => Ok(output.secret_string),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(failure("GetSecretValue", e)),
        }
    }

    async fn set_xero_client_secret(&self, account_id: &str, secret: &str) -> Result<()> {
        let name = self.xero_secret_name(account_id);
        let created = self.client.create_secret().name(&name).secret_string(secret).send().await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                self.client
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(secret)
                    .send()
                    .await
                    .map_err(|e| failure("PutSecretValue", e))?;
                Ok(())
            }
            Err(e) => Err(failure("CreateSecret", e)),
        }
    }
}
