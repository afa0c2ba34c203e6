//! Integration secrets in AWS Secrets Manager, one secret per account and integration, so that
//! neither the table nor any answer or log ever holds them.
#![warn(missing_docs)]

use aws_sdk_secretsmanager::Client;
use invoicing_domain::{
    model::{webhooks::signature::WebhookSecret, xero_connection::TokenSet},
    ports::{IntegrationSecrets, TokenVault, WebhookSecrets},
    Error, Result,
};

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

    /// With an SDK configuration already loaded (one per function, shared by its clients); secret
    /// names start with `SECRETS_PREFIX` (default `invoicing`).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let prefix = std::env::var("SECRETS_PREFIX").unwrap_or_else(|_| "invoicing".into());
        Self::new(Client::new(config), prefix)
    }

    fn xero_secret_name(&self, account_id: &str) -> String {
        format!("{}/accounts/{account_id}/xero-client-secret", self.prefix)
    }

    fn token_set_name(&self, account_id: &str) -> String {
        format!("{}/accounts/{account_id}/xero-oauth-tokens", self.prefix)
    }

    fn webhook_secret_name(&self, account_id: &str, endpoint_id: &str) -> String {
        format!("{}/accounts/{account_id}/webhook-endpoints/{endpoint_id}/signing-secret", self.prefix)
    }

    fn app_secret_name(&self) -> String {
        format!("{}/xero-app/client-secret", self.prefix)
    }

    fn webhook_key_name(&self) -> String {
        format!("{}/xero-app/webhook-key", self.prefix)
    }

    /// Stores the webhook key of the service's Xero app (`<prefix>/xero-app/webhook-key`).
    pub async fn set_xero_webhook_key(&self, key: &str) -> Result<()> {
        self.write(&self.webhook_key_name(), key).await
    }

    /// Stores the service's Xero app client secret (`<prefix>/xero-app/client-secret`).
    pub async fn set_xero_app_client_secret(&self, secret: &str) -> Result<()> {
        self.write(&self.app_secret_name(), secret).await
    }

    async fn read(&self, name: &str) -> Result<Option<String>> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(output) => Ok(output.secret_string),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(failure("GetSecretValue", e)),
        }
    }

    /// Deletes the secret without a recovery window; one already gone is not an error.
    async fn delete(&self, name: &str) -> Result<()> {
        let deleted = self.client.delete_secret().secret_id(name).force_delete_without_recovery(true).send().await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(()),
            Err(e) => Err(failure("DeleteSecret", e)),
        }
    }

    /// Puts a new value in the secret, or creates it. Updating first: refreshes, the common case,
    /// need only `PutSecretValue` (the worker's role has no `CreateSecret`).
    async fn write(&self, name: &str, value: &str) -> Result<()> {
        let put = self.client.put_secret_value().secret_id(name).secret_string(value).send().await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                match self.client.create_secret().name(name).secret_string(value).send().await {
                    Ok(_) => Ok(()),
                    // Created meanwhile by another writer: put ours on top.
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                        self.client
                            .put_secret_value()
                            .secret_id(name)
                            .secret_string(value)
                            .send()
                            .await
                            .map_err(|e| failure("PutSecretValue", e))?;
                        Ok(())
                    }
                    Err(e) => Err(failure("CreateSecret", e)),
                }
            }
            Err(e) => Err(failure("PutSecretValue", e)),
        }
    }
}

fn failure<E: std::error::Error + Send + Sync + 'static>(operation: &str, error: E) -> Error {
    Error::internal_caused(format!("Secrets Manager {operation} failed"), error)
}

impl IntegrationSecrets for SecretsStore {
    async fn xero_client_secret(&self, account_id: &str) -> Result<Option<String>> {
        self.read(&self.xero_secret_name(account_id)).await
    }

    async fn set_xero_client_secret(&self, account_id: &str, secret: &str) -> Result<()> {
        self.write(&self.xero_secret_name(account_id), secret).await
    }

    async fn xero_app_client_secret(&self) -> Result<Option<String>> {
        self.read(&self.app_secret_name()).await
    }

    async fn xero_webhook_key(&self) -> Result<Option<String>> {
        self.read(&self.webhook_key_name()).await
    }
}

/// Token sets are secrets of their own: encrypted at rest by Secrets Manager (KMS), and readable
/// only by roles the template grants (the functions that call Xero).
impl TokenVault for SecretsStore {
    async fn token_set(&self, account_id: &str) -> Result<Option<TokenSet>> {
        let Some(text) = self.read(&self.token_set_name(account_id)).await? else { return Ok(None) };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::internal_caused(format!("unreadable Xero token set of account {account_id}"), e))
    }

    async fn store_token_set(&self, account_id: &str, tokens: &TokenSet) -> Result<()> {
        let text = serde_json::to_string(tokens).map_err(|e| Error::internal_caused("encoding a token set", e))?;
        self.write(&self.token_set_name(account_id), &text).await
    }

    async fn forget_token_set(&self, account_id: &str) -> Result<()> {
        // At once, not after a recovery window: a reconnect creates the secret again right away.
        self.delete(&self.token_set_name(account_id)).await
    }
}

/// One secret per endpoint: Secrets Manager encrypts it with KMS, and only the roles the template
/// grants (the endpoint routes and the delivery function) can read it.
impl WebhookSecrets for SecretsStore {
    async fn store_webhook_secret(&self, account_id: &str, endpoint_id: &str, secret: &WebhookSecret) -> Result<()> {
        self.write(&self.webhook_secret_name(account_id, endpoint_id), &secret.expose()).await
    }

    async fn webhook_secret(&self, account_id: &str, endpoint_id: &str) -> Result<Option<WebhookSecret>> {
        let Some(text) = self.read(&self.webhook_secret_name(account_id, endpoint_id)).await? else { return Ok(None) };
        WebhookSecret::parse(&text)
            .map(Some)
            .map_err(|_| Error::internal(format!("unreadable signing secret of webhook endpoint {endpoint_id}")))
    }

    async fn forget_webhook_secret(&self, account_id: &str, endpoint_id: &str) -> Result<()> {
        // At once: the endpoint it signed for no longer exists.
        self.delete(&self.webhook_secret_name(account_id, endpoint_id)).await
    }
}
