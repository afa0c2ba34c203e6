//! An account's Xero client: its OAuth connection (through the service's app) or else its custom
//! connection, built once per warm execution environment and shared by every function that calls
//! Xero for an account (reconcile, push, pull).

use crate::{
    oauth::{AppIdentity, OAuthTokens, XeroApp},
    CallBudget, XeroClient, XeroConnection,
};
use invoicing_domain::{
    model::xero_connection::{ConnectionStatus, RECONNECT_REASON},
    ports::{IntegrationSecrets, IntegrationSettings, TokenVault, XeroConnections},
    service::xero_connection::TokenKeeper,
    Error,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// Why an account without a connection cannot reach Xero.
pub const NO_CONNECTION: &str = "the account has no Xero connection";
/// Why an OAuth connection without a chosen organisation cannot reach Xero.
pub const NO_TENANT: &str = "no Xero organisation chosen for the connection (PUT /integrations/xero)";

/// An account's way to Xero, or why there is none (a reason its outcomes carry, without retries:
/// only the customer or an operator can change it).
pub enum XeroAccess<S> {
    /// The account's client.
    Client(Arc<S>),
    /// Why the account cannot reach Xero.
    Unusable(&'static str),
}

impl<S> XeroAccess<S> {
    /// The client, if there is one.
    pub fn client(self) -> Option<Arc<S>> {
        match self {
            XeroAccess::Client(client) => Some(client),
            XeroAccess::Unusable(_) => None,
        }
    }
}

type Keeper<S, K> = TokenKeeper<S, K, AppIdentity<K>>;

/// Xero clients for the account's OAuth connection (the customer's own, through the service's
/// app) or else its custom connection (settings and secret an operator set), kept across
/// invocations of a warm execution environment so that their cached tokens are reused. A custom
/// connection's secret is read each time, so a rotated secret takes effect at the next message;
/// OAuth tokens come from the token vault, refreshed under the connection's lease. Every client
/// shares one call budget.
pub struct XeroClients<S, K> {
    settings: S,
    secrets: K,
    app: XeroApp,
    budget: Arc<dyn CallBudget>,
    clients: Mutex<HashMap<String, Arc<XeroClient>>>,
    /// OAuth connections' tokens (the app's secret is read at the first refresh).
    keeper: Arc<Keeper<S, K>>,
}

impl<S: XeroConnections + Clone, K: IntegrationSecrets + TokenVault + Clone> XeroClients<S, K> {
    /// Clients over these stores, for the service's app, sharing `budget`.
    pub fn new(settings: S, secrets: K, app: XeroApp, budget: Arc<dyn CallBudget>) -> Self {
        let identity = AppIdentity::new(secrets.clone(), app.clone());
        let keeper = Arc::new(TokenKeeper::new(settings.clone(), secrets.clone(), identity));
        Self { settings, secrets, app, budget, clients: Mutex::new(HashMap::new()), keeper }
    }
}

impl<S, K> XeroClients<S, K>
where
    S: IntegrationSettings + XeroConnections + Clone + 'static,
    K: IntegrationSecrets + TokenVault + Clone + 'static,
{
    /// The cached client for `connection`, or a new one from `build`.
    fn cached(
        &self,
        key: &str,
        connection: XeroConnection,
        build: impl FnOnce(XeroConnection) -> XeroClient,
    ) -> Arc<XeroClient> {
        if let Some(client) = self.clients.lock().expect("client cache").get(key) {
            if client.connection() == &connection {
                return Arc::clone(client);
            }
        }
        let client = Arc::new(build(connection));
        self.clients.lock().expect("client cache").insert(key.to_string(), Arc::clone(&client));
        client
    }
}

impl<S, K> XeroClients<S, K>
where
    S: IntegrationSettings + XeroConnections + Clone + 'static,
    K: IntegrationSecrets + TokenVault + Clone + 'static,
{
    /// The account's client, or why it has none.
    pub async fn client_for(&self, account_id: &str) -> Result<XeroAccess<XeroClient>, Error> {
        if let Some(oauth) = self.settings.oauth_connection(account_id).await? {
            let tenant_id = match oauth.value.status {
                ConnectionStatus::Connected => oauth.value.tenant_id.clone(),
                ConnectionStatus::ReconnectRequired => return Ok(XeroAccess::Unusable(RECONNECT_REASON)),
                ConnectionStatus::TenantSelectionRequired => return Ok(XeroAccess::Unusable(NO_TENANT)),
                ConnectionStatus::NotConnected => None,
            };
            if let Some(tenant_id) = tenant_id {
                let keeper = Arc::clone(&self.keeper);
                let connection = XeroConnection {
                    client_id: self.app.client_id.clone(),
                    client_secret: String::new(),
                    tenant_id: Some(tenant_id),
                    api_base_url: self.app.api_base_url.clone(),
                    token_url: self.app.token_url.clone(),
                };
                let budget = Arc::clone(&self.budget);
                let client = self.cached(&format!("oauth:{account_id}"), connection, |connection| {
                    let tokens = Arc::new(OAuthTokens::new(keeper, account_id));
                    XeroClient::with_tokens(connection, crate::RetryPolicy::default(), budget, tokens)
                });
                return Ok(XeroAccess::Client(client));
            }
        }
        let Some(settings) = self.settings.xero_settings(account_id).await? else {
            return Ok(XeroAccess::Unusable(NO_CONNECTION));
        };
        let Some(client_secret) = self.secrets.xero_client_secret(account_id).await? else {
            return Ok(XeroAccess::Unusable(NO_CONNECTION));
        };
        let connection = XeroConnection {
            client_id: settings.client_id,
            client_secret,
            tenant_id: settings.tenant_id,
            api_base_url: settings.api_base_url,
            token_url: settings.token_url,
        };
        let budget = Arc::clone(&self.budget);
        Ok(XeroAccess::Client(self.cached(account_id, connection, |connection| {
            XeroClient::with_budget(connection, crate::RetryPolicy::default(), budget)
        })))
    }
}
