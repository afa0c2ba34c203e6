//! The service's Xero app (SPEC.md section 7): its endpoints, Xero's identity service for the
//! authorization code flow (code exchange, refresh, `/connections`, revocation), and OAuth
//! connections' access tokens for [`crate::XeroClient`].

use crate::{truncate, RetryPolicy, TokenProvider, XeroError, DEFAULT_API_BASE_URL, DEFAULT_TOKEN_URL};
use http::header::ACCEPT;
use invoicing_domain::{
    model::xero_connection::{TokenSet, XeroTenant},
    ports::{IdentityError, IntegrationSecrets, TokenGrant, TokenVault, XeroConnections, XeroIdentity},
    service::xero_connection::{TokenError, TokenKeeper},
};
use invoicing_https::{describe, Https, Request, StatusCode};
use serde::Deserialize;
use std::{future::Future, pin::Pin, sync::Arc};

/// Xero's authorize endpoint (where the customer's browser goes).
pub const DEFAULT_AUTHORIZE_URL: &str = "https://login.xero.com/identity/connect/authorize";
/// The organisations an access token reaches.
pub const DEFAULT_CONNECTIONS_URL: &str = "https://api.xero.com/connections";
/// Revokes a refresh token.
pub const DEFAULT_REVOCATION_URL: &str = "https://identity.xero.com/connect/revocation";
/// Retries of an identity request after a 5xx or a transport failure (with the API client's
/// timeout and backoff); a refresh is retried with the same refresh token, which Xero accepts again
/// for 30 minutes after replacing it.
const IDENTITY_RETRIES: u32 = 3;

/// The service's Xero app and the endpoints it talks to (configurable, so that local runs point
/// them at xero-local).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XeroApp {
    /// `XERO_CLIENT_ID`.
    pub client_id: String,
    /// `XERO_AUTHORIZE_URL`.
    pub authorize_url: String,
    /// `XERO_TOKEN_URL`.
    pub token_url: String,
    /// `XERO_CONNECTIONS_URL`.
    pub connections_url: String,
    /// `XERO_REVOCATION_URL`.
    pub revocation_url: String,
    /// `XERO_API_BASE_URL`.
    pub api_base_url: String,
    /// `XERO_REDIRECT_URI`: the callback registered with the app; `None` derives it from the
    /// request's host.
    pub redirect_uri: Option<String>,
}

impl XeroApp {
    /// From the environment, with Xero's real endpoints as defaults.
    pub fn from_env() -> XeroApp {
        let var = |name: &str, default: &str| {
            std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
        };
        XeroApp {
            client_id: var("XERO_CLIENT_ID", ""),
            authorize_url: var("XERO_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL),
            token_url: var("XERO_TOKEN_URL", DEFAULT_TOKEN_URL),
            connections_url: var("XERO_CONNECTIONS_URL", DEFAULT_CONNECTIONS_URL),
            revocation_url: var("XERO_REVOCATION_URL", DEFAULT_REVOCATION_URL),
            api_base_url: var("XERO_API_BASE_URL", DEFAULT_API_BASE_URL),
            redirect_uri: std::env::var("XERO_REDIRECT_URI").ok().filter(|v| !v.is_empty()),
        }
    }
}

/// Xero's identity service, as the service's app.
pub struct XeroIdentityClient {
    app: XeroApp,
    client_secret: String,
    http: Https,
}

impl std::fmt::Debug for XeroIdentityClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XeroIdentityClient").field("app", &self.app).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionAnswer {
    id: String,
    tenant_id: String,
    tenant_name: Option<String>,
    tenant_type: Option<String>,
}

struct Answer {
    status: StatusCode,
    body: String,
}

impl XeroIdentityClient {
    /// The app with its client secret.
    pub fn new(app: XeroApp, client_secret: String) -> XeroIdentityClient {
        XeroIdentityClient { app, client_secret, http: crate::shared_https() }
    }

    /// The app.
    pub fn app(&self) -> &XeroApp {
        &self.app
    }

    /// Sends `request()`, again after a 5xx or a transport failure (the same request: a lost
    /// refresh answer is retried with the same refresh token).
    async fn send(&self, request: impl Fn() -> Request) -> Result<Answer, IdentityError> {
        let policy = RetryPolicy::default();
        let mut retry = 0;
        loop {
            let failure = match request().timeout(policy.request_timeout).send().await {
                Ok(response) if !response.status.is_server_error() => {
                    return Ok(Answer { status: response.status, body: response.text() })
                }
                Ok(response) => format!("{}: {}", response.status, truncate(&response.text())),
                Err(e) => describe(&e),
            };
            if retry >= IDENTITY_RETRIES {
                return Err(IdentityError::Unavailable(failure));
            }
            let delay = crate::backoff(&policy, retry);
            retry += 1;
            tracing::warn!(%failure, retry, ?delay, "Xero identity request failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenGrant, IdentityError> {
        let answer = self
            .send(|| {
                self.http
                    .post(&self.app.token_url)
                    .basic_auth(&self.app.client_id, &self.client_secret)
                    .header(ACCEPT, "application/json")
                    .form(form)
            })
            .await?;
        if !answer.status.is_success() {
            let error = serde_json::from_str::<ErrorAnswer>(&answer.body).ok().and_then(|e| e.error);
            return Err(match error.as_deref() {
                Some("invalid_grant") => IdentityError::InvalidGrant("invalid_grant".into()),
                _ => IdentityError::Unavailable(format!("{}: {}", answer.status, truncate(&answer.body))),
            });
        }
        let token: TokenAnswer = serde_json::from_str(&answer.body)
            .map_err(|e| IdentityError::Unavailable(format!("unreadable token answer: {e}")))?;
        let refresh_token = token.refresh_token.ok_or_else(|| {
            IdentityError::Unavailable("Xero sent no refresh token (offline_access not granted)".into())
        })?;
        let now = chrono::Utc::now();
        Ok(TokenGrant {
            tokens: TokenSet {
                access_token: token.access_token,
                refresh_token,
                access_expires_at: now + chrono::Duration::seconds(token.expires_in.unwrap_or(1800).clamp(60, 86_400)),
                issued_at: now,
            },
            scopes: token.scope.unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
        })
    }
}

impl XeroIdentity for XeroIdentityClient {
    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenGrant, IdentityError> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenGrant, IdentityError> {
        self.token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    async fn connections(&self, access_token: &str) -> Result<Vec<XeroTenant>, IdentityError> {
        let answer = self
            .send(|| {
                self.http.get(&self.app.connections_url).bearer_auth(access_token).header(ACCEPT, "application/json")
            })
            .await?;
        if !answer.status.is_success() {
            return Err(IdentityError::Unavailable(format!("{}: {}", answer.status, truncate(&answer.body))));
        }
        let listed: Vec<ConnectionAnswer> = serde_json::from_str(&answer.body)
            .map_err(|e| IdentityError::Unavailable(format!("unreadable connections: {e}")))?;
        Ok(listed
            .into_iter()
            // Practice managers' connections have no accounting data.
            .filter(|c| c.tenant_type.as_deref().is_none_or(|t| t.eq_ignore_ascii_case("ORGANISATION")))
            .map(|c| XeroTenant { tenant_id: c.tenant_id, tenant_name: c.tenant_name, connection_id: c.id })
            .collect())
    }

    async fn delete_connection(&self, access_token: &str, connection_id: &str) -> Result<(), IdentityError> {
        let url = format!("{}/{connection_id}", self.app.connections_url.trim_end_matches('/'));
        let answer = self.send(|| self.http.delete(&url).bearer_auth(access_token)).await?;
        match answer.status {
            // Already gone is what was asked for.
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok(()),
            status => Err(IdentityError::Unavailable(format!("{status}: {}", truncate(&answer.body)))),
        }
    }

    async fn revoke(&self, refresh_token: &str) -> Result<(), IdentityError> {
        let answer = self
            .send(|| {
                self.http
                    .post(&self.app.revocation_url)
                    .basic_auth(&self.app.client_id, &self.client_secret)
                    .form(&[("token", refresh_token)])
            })
            .await?;
        match answer.status {
            status if status.is_success() => Ok(()),
            status => Err(IdentityError::Unavailable(format!("{status}: {}", truncate(&answer.body)))),
        }
    }
}

/// One account's access tokens for a [`crate::XeroClient`], from the shared [`TokenKeeper`].
pub struct OAuthTokens<C, V, I> {
    keeper: Arc<TokenKeeper<C, V, I>>,
    account_id: String,
}

impl<C, V, I> OAuthTokens<C, V, I> {
    /// The account's tokens.
    pub fn new(keeper: Arc<TokenKeeper<C, V, I>>, account_id: impl Into<String>) -> Self {
        OAuthTokens { keeper, account_id: account_id.into() }
    }
}

impl<C, V, I> TokenProvider for OAuthTokens<C, V, I>
where
    C: XeroConnections + 'static,
    V: TokenVault + 'static,
    I: XeroIdentity + 'static,
{
    fn access_token<'a>(
        &'a self,
        stale: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<String, XeroError>> + Send + 'a>> {
        Box::pin(async move {
            self.keeper.access_token(&self.account_id, stale).await.map_err(|error| match error {
                TokenError::ReconnectRequired => XeroError::ReconnectRequired,
                TokenError::NotConnected => XeroError::Disconnected,
                TokenError::Unavailable(detail) => XeroError::Unavailable(detail),
                TokenError::Store(error) => {
                    tracing::error!(error = %error.report(), "token vault failed");
                    XeroError::Unavailable("the token store failed".into())
                }
            })
        })
    }
}

/// The service app's identity client, built at its first use with the client secret from
/// `secrets` (so that starting a function reads no secret a request may not need).
pub struct AppIdentity<K> {
    secrets: K,
    app: XeroApp,
    client: tokio::sync::OnceCell<XeroIdentityClient>,
}

impl<K: IntegrationSecrets> AppIdentity<K> {
    /// Reads the secret from `secrets` when first needed.
    pub fn new(secrets: K, app: XeroApp) -> Self {
        AppIdentity { secrets, app, client: tokio::sync::OnceCell::new() }
    }

    /// The app.
    pub fn app(&self) -> &XeroApp {
        &self.app
    }

    async fn client(&self) -> Result<&XeroIdentityClient, IdentityError> {
        self.client
            .get_or_try_init(|| async {
                match self.secrets.xero_app_client_secret().await {
                    Ok(Some(secret)) => Ok(XeroIdentityClient::new(self.app.clone(), secret)),
                    Ok(None) => {
                        Err(IdentityError::Unavailable("the Xero app's client secret is not configured".into()))
                    }
                    Err(error) => {
                        tracing::error!(error = %error.report(), "the Xero app's client secret could not be read");
                        Err(IdentityError::Unavailable("the Xero app's client secret could not be read".into()))
                    }
                }
            })
            .await
    }
}

impl<K: IntegrationSecrets> XeroIdentity for AppIdentity<K> {
    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenGrant, IdentityError> {
        self.client().await?.exchange_code(code, code_verifier, redirect_uri).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenGrant, IdentityError> {
        self.client().await?.refresh(refresh_token).await
    }

    async fn connections(&self, access_token: &str) -> Result<Vec<XeroTenant>, IdentityError> {
        self.client().await?.connections(access_token).await
    }

    async fn delete_connection(&self, access_token: &str, connection_id: &str) -> Result<(), IdentityError> {
        self.client().await?.delete_connection(access_token, connection_id).await
    }

    async fn revoke(&self, refresh_token: &str) -> Result<(), IdentityError> {
        self.client().await?.revoke(refresh_token).await
    }
}
