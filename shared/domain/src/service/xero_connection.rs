//! Xero connections a customer makes (SPEC.md section 7): starting an authorization, completing
//! it at the callback, choosing a tenant, disconnecting, and keeping an access token fresh with
//! exactly one refresher per connection across every instance.

use crate::{
    model::{
        xero_connection::{
            redirect_url_problem, ConnectionStatus, ConnectionView, OAuthConnection, PendingAuthorization, TokenSet,
            RECONNECT_REASON, REFRESH_LEASE, SCOPES,
        },
        xero_sync::XeroSyncSettings,
    },
    ports::{IdentityError, IntegrationSettings, TokenVault, XeroConnections, XeroIdentity, XeroSyncSettingsStore},
    service::concurrency::retry_on_contention,
    Error, Result,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Where the authorization starts and comes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeSettings {
    /// Xero's authorize endpoint.
    pub authorize_url: String,
    /// The service's app.
    pub client_id: String,
    /// The service's callback (`.../integrations/xero/callback`), as registered with the app.
    pub redirect_uri: String,
}

/// What `POST /integrations/xero/connect` answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationStarted {
    /// Where to send the customer's browser.
    pub authorize_url: String,
    /// When its `state` expires.
    pub expires_at: DateTime<Utc>,
}

/// Starts an authorization: a single-use `state` bound to the account, with PKCE.
pub async fn start_authorization<C: XeroConnections>(
    connections: &C,
    settings: &AuthorizeSettings,
    account_id: &str,
    redirect_url: Option<String>,
    now: DateTime<Utc>,
) -> Result<AuthorizationStarted> {
    if let Some(problem) = redirect_url.as_deref().and_then(redirect_url_problem) {
        return Err(Error::validation(problem));
    }
    if settings.client_id.is_empty() {
        return Err(Error::internal("XERO_CLIENT_ID is not configured"));
    }
    let pending = PendingAuthorization::generate(account_id, redirect_url, now);
    connections.save_authorization(&pending).await?;
    let query = [
        ("response_type", "code"),
        ("client_id", settings.client_id.as_str()),
        ("redirect_uri", settings.redirect_uri.as_str()),
        ("scope", &SCOPES.join(" ")),
        ("state", pending.state.as_str()),
        ("code_challenge", &pending.code_challenge()),
        ("code_challenge_method", "S256"),
    ];
    let encoded: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    let separator = if settings.authorize_url.contains('?') { '&' } else { '?' };
    Ok(AuthorizationStarted {
        authorize_url: format!("{}{separator}{}", settings.authorize_url, encoded.join("&")),
        expires_at: pending.expires_at,
    })
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The callback's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state handed out at connect.
    pub state: Option<String>,
    /// Xero's `error` (`access_denied`...).
    pub error: Option<String>,
}

/// How the callback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Connected, or waiting for a tenant to be chosen (`status` says which).
    Authorized {
        /// CONNECTED or TENANT_SELECTION_REQUIRED.
        status: ConnectionStatus,
        /// The organisation's name, when connected.
        tenant_name: Option<String>,
        /// Where the client asked the browser to go.
        redirect_url: Option<String>,
    },
    /// Nothing changed. `redirect_url` only when the state was good (an unknown state names no
    /// client to send the browser back to).
    Refused {
        /// Said on the page.
        reason: String,
        /// Where the client asked the browser to go.
        redirect_url: Option<String>,
    },
}

/// Completes an authorization: the state is used (once), the code exchanged, the organisations
/// read, the tokens stored in the vault and then the connection (the commit).
pub async fn complete_authorization<C, V, I>(
    connections: &C,
    vault: &V,
    identity: &I,
    redirect_uri: &str,
    params: &CallbackParams,
    now: DateTime<Utc>,
) -> Result<CallbackOutcome>
where
    C: XeroConnections,
    V: TokenVault,
    I: XeroIdentity,
{
    let refused = |reason: &str, redirect_url: Option<String>| {
        Ok(CallbackOutcome::Refused { reason: reason.to_string(), redirect_url })
    };
    let Some(state) = params.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 200) else {
        return refused("The request has no state: start the connection again from the application.", None);
    };
    let Some(pending) = connections.take_authorization(state).await? else {
        return refused("This link is unknown or was already used: start the connection again.", None);
    };
    if pending.expires_at <= now {
        return refused("This link expired (they last 10 minutes): start the connection again.", None);
    }
    let redirect_url = pending.redirect_url.clone();
    if let Some(error) = params.error.as_deref() {
        let reason = if error == "access_denied" {
            "Access was not granted in Xero: nothing was connected.".to_string()
        } else {
            format!("Xero answered {}: nothing was connected.", printable(error))
        };
        return refused(&reason, redirect_url);
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return refused("Xero sent no authorization code: nothing was connected.", redirect_url);
    };
    let grant = match identity.exchange_code(code, &pending.code_verifier, redirect_uri).await {
        Ok(grant) => grant,
        Err(error) => {
            tracing::warn!(accountId = %pending.account_id, error = %error, "Xero code exchange failed");
            return refused("Xero did not accept the authorization: nothing was connected.", redirect_url);
        }
    };
    let tenants = match identity.connections(&grant.tokens.access_token).await {
        Ok(tenants) if !tenants.is_empty() => tenants,
        Ok(_) => return refused("No Xero organisation was authorized: nothing was connected.", redirect_url),
        Err(error) => {
            tracing::warn!(accountId = %pending.account_id, error = %error, "Xero connections could not be read");
            return refused("Xero's organisations could not be read: nothing was connected.", redirect_url);
        }
    };
    let connection = OAuthConnection::authorized(tenants, grant.scopes, now);
    vault.store_token_set(&pending.account_id, &grant.tokens).await?;
    connections.put_oauth_connection(&pending.account_id, &connection, None).await?;
    tracing::info!(accountId = %pending.account_id, status = ?connection.status, "Xero connected");
    Ok(CallbackOutcome::Authorized {
        status: connection.status,
        tenant_name: connection.tenant().and_then(|t| t.tenant_name.clone()),
        redirect_url,
    })
}

/// At most 100 printable characters of what a caller sent, for a page.
fn printable(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii_alphanumeric() || "_-. ".contains(*c)).take(100).collect()
}

/// `GET /integrations/xero`: the OAuth connection if there is one, else a custom connection.
pub async fn connection_view<S: XeroConnections + IntegrationSettings>(
    store: &S,
    account_id: &str,
) -> Result<ConnectionView> {
    if let Some(connection) = store.oauth_connection(account_id).await? {
        return Ok(ConnectionView::oauth(&connection.value));
    }
    Ok(match store.xero_settings(account_id).await? {
        Some(settings) => ConnectionView::custom(settings.tenant_id),
        None => ConnectionView::not_connected(),
    })
}

/// A reconcile can be accepted: the account has a usable OAuth connection, or a custom one;
/// otherwise a 400 that says what to do.
pub async fn ensure_connected<S: XeroConnections + IntegrationSettings>(store: &S, account_id: &str) -> Result<()> {
    let problem = match store.oauth_connection(account_id).await?.map(|c| c.value.status) {
        Some(ConnectionStatus::Connected) => return Ok(()),
        Some(ConnectionStatus::ReconnectRequired) => {
            "integrationService: Xero connection needs reconnecting (POST /integrations/xero/connect)"
        }
        Some(ConnectionStatus::TenantSelectionRequired) => {
            "integrationService: choose the Xero organisation to use first (PUT /integrations/xero)"
        }
        Some(ConnectionStatus::NotConnected) | None => {
            "integrationService: this account has no Xero connection; connect one before reconciling"
        }
    };
    if store.xero_settings(account_id).await?.is_some() {
        return Ok(());
    }
    Err(Error::validation(problem))
}

/// `PUT /integrations/xero`: every later call goes to `tenant_id`, one of the authorized tenants.
pub async fn select_tenant<S: XeroConnections + IntegrationSettings + XeroSyncSettingsStore>(
    store: &S,
    account_id: &str,
    tenant_id: &str,
) -> Result<ConnectionView> {
    retry_on_contention(|| async {
        let Some(stored) = store.oauth_connection(account_id).await? else {
            return Err(no_tenant_choice(store.xero_settings(account_id).await?.is_some()));
        };
        let mut connection = stored.value;
        if !matches!(connection.status, ConnectionStatus::TenantSelectionRequired | ConnectionStatus::Connected) {
            return Err(Error::conflict(
                "the Xero connection needs reconnecting: POST /integrations/xero/connect, then choose a tenant",
            ));
        }
        if !connection.tenants.iter().any(|t| t.tenant_id == tenant_id) {
            return Err(Error::validation(format!(
                "tenantId: {} is not one of the organisations this Xero authorization reaches",
                printable(tenant_id)
            )));
        }
        // Idempotent: a retry after contention writes nothing more.
        follow_connection_change(store, account_id, Some(tenant_id), Utc::now()).await?;
        connection.tenant_id = Some(tenant_id.to_string());
        connection.status = ConnectionStatus::Connected;
        store.put_oauth_connection(account_id, &connection, Some(stored.version)).await?;
        Ok(ConnectionView::oauth(&connection))
    })
    .await
}

fn no_tenant_choice(custom: bool) -> Error {
    Error::conflict(if custom {
        "this account uses a custom Xero connection, which reaches one organisation; an operator manages it"
    } else {
        "this account has no Xero authorization to choose a tenant of: POST /integrations/xero/connect first"
    })
}

/// `DELETE /integrations/xero`: Xero's connections of the authorization are deleted and its
/// refresh token revoked (failures there are logged: the tokens are forgotten all the same, so
/// nothing here can use them again), then the token set and the connection are forgotten.
pub async fn disconnect<S, V, I>(keeper: &TokenKeeper<S, V, I>, account_id: &str) -> Result<()>
where
    S: XeroConnections + IntegrationSettings + XeroSyncSettingsStore,
    V: TokenVault,
    I: XeroIdentity,
{
    let store = &keeper.connections;
    let Some(connection) = store.oauth_connection(account_id).await? else {
        if store.xero_settings(account_id).await?.is_some() {
            return Err(Error::conflict(
                "this account uses a custom Xero connection; an operator removes it with invoicing-admin",
            ));
        }
        return Ok(());
    };
    // Sync stops first, so that nothing is pushed or pulled for a connection being removed.
    follow_connection_change(store, account_id, None, Utc::now()).await?;
    match keeper.access_token(account_id, None).await {
        Ok(access_token) => {
            for tenant in &connection.value.tenants {
                if let Err(error) = keeper.identity.delete_connection(&access_token, &tenant.connection_id).await {
                    tracing::warn!(accountId = account_id, error = %error, "Xero connection not deleted");
                }
            }
        }
        // No token set: nothing at Xero to remove with it.
        Err(TokenError::NotConnected) => {}
        Err(TokenError::Store(error)) => return Err(error),
        Err(error) => tracing::warn!(accountId = account_id, error = %error, "no access token to delete connections"),
    }
    // Read after the refresh the access token may have needed: revoke the refresh token held now.
    if let Some(tokens) = keeper.vault.token_set(account_id).await? {
        if let Err(error) = keeper.identity.revoke(&tokens.refresh_token).await {
            tracing::warn!(accountId = account_id, error = %error, "Xero refresh token not revoked");
        }
        keeper.vault.forget_token_set(account_id).await?;
    }
    store.delete_oauth_connection(account_id).await?;
    tracing::info!(accountId = account_id, "Xero disconnected");
    Ok(())
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Xero refused the refresh token: the customer must connect again.
    #[error("{RECONNECT_REASON}")]
    ReconnectRequired,
    /// The account has no OAuth tokens.
    #[error("the account has no Xero OAuth connection")]
    NotConnected,
    /// Xero's identity service failed, or another refresher took too long; worth retrying.
    #[error("Xero token refresh failed: {0}")]
    Unavailable(String),
    /// The table or the vault failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// Keeps a connection's access token fresh: the vault's token is used while it lasts; a refresh
/// is made by whoever takes the connection's lease, which stores the rotated set before anyone
/// uses it; the others wait for it and read the vault again. A refresher that dies holding the
/// lease is replaced once the lease expires, and its successor refreshes with the refresh token
/// the vault still holds (Xero accepts a replaced refresh token for 30 minutes).
pub struct TokenKeeper<C, V, I> {
    /// Connections and their leases.
    pub connections: C,
    /// Token sets.
    pub vault: V,
    /// Xero's identity service.
    pub identity: I,
    /// How long a refresher holds the lease.
    pub lease: chrono::Duration,
    /// How long a caller waits for another's refresh before giving up (retryable).
    pub max_wait: Duration,
    /// Between looks at the vault while another refreshes.
    pub poll: Duration,
}

impl<C: XeroConnections, V: TokenVault, I: XeroIdentity> TokenKeeper<C, V, I> {
    /// With the production lease (30 s), waiting at most 40 s for another refresher.
    pub fn new(connections: C, vault: V, identity: I) -> Self {
        TokenKeeper {
            connections,
            vault,
            identity,
            lease: REFRESH_LEASE,
            max_wait: Duration::from_secs(40),
            poll: Duration::from_millis(200),
        }
    }

    /// A usable access token for the account; `stale` is one Xero just refused, which is
    /// refreshed even if it has not expired.
    pub async fn access_token(&self, account_id: &str, stale: Option<&str>) -> std::result::Result<String, TokenError> {
        let started = tokio::time::Instant::now();
        let holder = uuid::Uuid::new_v4().to_string();
        loop {
            let tokens = self.vault.token_set(account_id).await?.ok_or(TokenError::NotConnected)?;
            if usable(&tokens, stale, Utc::now()) {
                return Ok(tokens.access_token);
            }
            let now = Utc::now();
            if self.connections.try_lease_refresh(account_id, &holder, now, now + self.lease).await? {
                let refreshed = self.refresh_holding_lease(account_id, stale).await;
                if let Err(error) = self.connections.release_refresh(account_id, &holder).await {
                    // It expires by itself.
                    tracing::warn!(accountId = account_id, error = %error.report(), "refresh lease not released");
                }
                return refreshed;
            }
            if started.elapsed() >= self.max_wait {
                return Err(TokenError::Unavailable("another refresh of the connection did not finish in time".into()));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn refresh_holding_lease(
        &self,
        account_id: &str,
        stale: Option<&str>,
    ) -> std::result::Result<String, TokenError> {
        // Another holder may have stored a fresh set just before the lease was ours.
        let tokens = self.vault.token_set(account_id).await?.ok_or(TokenError::NotConnected)?;
        if usable(&tokens, stale, Utc::now()) {
            return Ok(tokens.access_token);
        }
        let started = Utc::now();
        match self.identity.refresh(&tokens.refresh_token).await {
            Ok(grant) => {
                // Stored before use: the old refresh token is now replaced at Xero.
                self.vault.store_token_set(account_id, &grant.tokens).await?;
                tracing::info!(accountId = account_id, "Xero tokens refreshed");
                Ok(grant.tokens.access_token)
            }
            Err(IdentityError::InvalidGrant(detail)) => {
                tracing::warn!(accountId = account_id, detail = %detail, "Xero refused the refresh token");
                self.mark_reconnect_required(account_id, started).await?;
                Err(TokenError::ReconnectRequired)
            }
            Err(IdentityError::Unavailable(detail)) => Err(TokenError::Unavailable(detail)),
        }
    }

    /// Marks the connection RECONNECT_REQUIRED, unless the customer connected again since `refused_at`.
    async fn mark_reconnect_required(&self, account_id: &str, refused_at: DateTime<Utc>) -> Result<()> {
        retry_on_contention(|| async {
            let Some(stored) = self.connections.oauth_connection(account_id).await? else { return Ok(()) };
            if stored.value.connected_at > refused_at {
                return Ok(());
            }
            let mut connection = stored.value;
            connection.status = ConnectionStatus::ReconnectRequired;
            connection.last_error = Some(format!("{RECONNECT_REASON}: Xero refused the refresh token (invalid_grant)"));
            self.connections.put_oauth_connection(account_id, &connection, Some(stored.version)).await
        })
        .await
    }
}

fn usable(tokens: &TokenSet, stale: Option<&str>, now: DateTime<Utc>) -> bool {
    tokens.access_usable(now) && stale != Some(tokens.access_token.as_str())
}

/// Keeps the sync settings in line with a change of the account's Xero connection, before the
/// change is written: a disconnect turns both directions off, and choosing another organisation
/// turns pulling off; either gives up the account's claim on the organisation it pulled, so that a
/// stale claim never routes another organisation's webhooks here and another account may pull it.
/// Pushing follows the connection to the new organisation. Nothing is written when nothing changes.
pub async fn follow_connection_change<S: XeroSyncSettingsStore>(
    store: &S,
    account_id: &str,
    tenant_now: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    retry_on_contention(|| async {
        let Some(stored) = store.xero_sync_settings(account_id).await? else { return Ok(()) };
        let current = stored.value;
        let connected = tenant_now.is_some();
        let keeps_pulling = current.pull_payments && current.tenant_id.as_deref() == tenant_now;
        let wanted = XeroSyncSettings {
            push_invoices: current.push_invoices && connected,
            pull_payments: keeps_pulling,
            tenant_id: if keeps_pulling { current.tenant_id.clone() } else { None },
            updated_at: Some(now),
            ..current.clone()
        };
        let unchanged = XeroSyncSettings { updated_at: current.updated_at, ..wanted.clone() } == current;
        if unchanged {
            return Ok(());
        }
        tracing::info!(
            accountId = account_id,
            push = wanted.push_invoices,
            pull = wanted.pull_payments,
            "Xero sync follows the connection's change"
        );
        store.put_xero_sync_settings(account_id, &wanted, Some(stored.version), current.tenant_id.as_deref()).await
    })
    .await
}
