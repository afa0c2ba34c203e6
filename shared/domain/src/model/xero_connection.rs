//! Xero connections a customer makes with Xero's OAuth 2.0 authorization code flow (SPEC.md
//! section 7): the pending authorization (`state`, PKCE), the connection and its tenants, and the
//! token set, which only the token vault holds.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The callback's path on this API (the `redirect_uri` unless `XERO_REDIRECT_URI` says otherwise).
pub const CALLBACK_PATH: &str = "/integrations/xero/callback";
/// How long a `state` handed out by `POST /integrations/xero/connect` can be used.
pub const AUTHORIZATION_LIFETIME: Duration = Duration::minutes(10);
/// The scopes asked for: a refresh token (`offline_access`) and reading invoices, all reconcile needs.
pub const SCOPES: &[&str] = &["offline_access", "accounting.invoices.read"];
/// Longest `redirectUrl` accepted.
pub const MAX_REDIRECT_URL_CHARS: usize = 2048;
/// How long one refresher may hold a connection's refresh lease; past it another may take over
/// (its holder crashed). Longer than a token request with its retries.
pub const REFRESH_LEASE: Duration = Duration::seconds(30);
/// An access token is refreshed this long before it expires, so it never expires mid-call.
pub const ACCESS_TOKEN_MARGIN: Duration = Duration::seconds(120);
/// What a reconcile outcome says when the connection's refresh token was refused.
pub const RECONNECT_REASON: &str = "Xero connection needs reconnecting";

/// A connection's state, as `GET /integrations/xero` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionStatus {
    /// No connection of either kind.
    NotConnected,
    /// Authorized for several organisations: `PUT /integrations/xero` picks one.
    TenantSelectionRequired,
    /// Calls go to the chosen organisation.
    Connected,
    /// Xero refused the refresh token: the customer must connect again.
    ReconnectRequired,
}

/// How the account reaches Xero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionKind {
    /// The customer authorized the service's app (authorization code flow).
    Oauth,
    /// An operator set up a custom connection (client credentials, `invoicing-admin connect-xero`).
    CustomConnection,
}

/// One Xero organisation the authorization reaches (`GET /connections`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroTenant {
    /// Xero's organisation id (`xero-tenant-id`).
    pub tenant_id: String,
    /// The organisation's name.
    pub tenant_name: Option<String>,
    /// The connection's id at Xero (`DELETE /connections/{id}` removes it).
    pub connection_id: String,
}

/// An account's OAuth connection: everything but the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConnection {
    /// Its state.
    pub status: ConnectionStatus,
    /// Every organisation the authorization reaches.
    pub tenants: Vec<XeroTenant>,
    /// The one every call goes to, once chosen.
    pub tenant_id: Option<String>,
    /// When the customer authorized.
    pub connected_at: DateTime<Utc>,
    /// What the authorization allows.
    pub scopes: Vec<String>,
    /// Why it last failed, if it did.
    pub last_error: Option<String>,
}

impl OAuthConnection {
    /// A new authorization reaching `tenants`: connected to the only one, or waiting for a choice.
    pub fn authorized(tenants: Vec<XeroTenant>, scopes: Vec<String>, now: DateTime<Utc>) -> OAuthConnection {
        let (status, tenant_id) = match tenants.as_slice() {
            [only] => (ConnectionStatus::Connected, Some(only.tenant_id.clone())),
            _ => (ConnectionStatus::TenantSelectionRequired, None),
        };
        OAuthConnection { status, tenants, tenant_id, connected_at: now, scopes, last_error: None }
    }

    /// The chosen tenant.
    pub fn tenant(&self) -> Option<&XeroTenant> {
        let chosen = self.tenant_id.as_deref()?;
        self.tenants.iter().find(|t| t.tenant_id == chosen)
    }
}

/// `GET /integrations/xero`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    /// Its state.
    pub status: ConnectionStatus,
    /// How it is made (`None` when not connected).
    pub kind: Option<ConnectionKind>,
    /// The organisation calls go to.
    pub tenant_id: Option<String>,
    /// The organisation's name.
    pub tenant_name: Option<String>,
    /// When the customer authorized.
    pub connected_at: Option<DateTime<Utc>>,
    /// What the authorization allows.
    pub scopes: Vec<String>,
    /// Why it last failed, if it did.
    pub last_error: Option<String>,
    /// Every organisation the authorization reaches.
    pub tenants: Vec<TenantView>,
}

/// A tenant as answers show it (without Xero's connection id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    /// Xero's organisation id (`xero-tenant-id`).
    pub tenant_id: String,
    /// The organisation's name.
    pub tenant_name: Option<String>,
}

impl ConnectionView {
    /// No connection of either kind.
    pub fn not_connected() -> ConnectionView {
        ConnectionView {
            status: ConnectionStatus::NotConnected,
            kind: None,
            tenant_id: None,
            tenant_name: None,
            connected_at: None,
            scopes: Vec::new(),
            last_error: None,
            tenants: Vec::new(),
        }
    }

    /// An OAuth connection.
    pub fn oauth(connection: &OAuthConnection) -> ConnectionView {
        ConnectionView {
            status: connection.status,
            kind: Some(ConnectionKind::Oauth),
            tenant_id: connection.tenant_id.clone(),
            tenant_name: connection.tenant().and_then(|t| t.tenant_name.clone()),
            connected_at: Some(connection.connected_at),
            scopes: connection.scopes.clone(),
            last_error: connection.last_error.clone(),
            tenants: connection
                .tenants
                .iter()
                .map(|t| TenantView { tenant_id: t.tenant_id.clone(), tenant_name: t.tenant_name.clone() })
                .collect(),
        }
    }

    /// A custom connection an operator set up.
    pub fn custom(tenant_id: Option<String>) -> ConnectionView {
        ConnectionView {
            status: ConnectionStatus::Connected,
            kind: Some(ConnectionKind::CustomConnection),
            tenant_id,
            ..ConnectionView::not_connected()
        }
    }
}

/// A pending authorization: what `POST /integrations/xero/connect` handed out, until the callback
/// uses it (once) or it expires.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingAuthorization {
    /// The `state` parameter: random, the callback's only credential.
    pub state: String,
    /// The account it connects.
    pub account_id: String,
    /// PKCE's secret half; Xero gets its S256 challenge.
    pub code_verifier: String,
    /// Where the browser goes after the callback, if the client asked.
    pub redirect_url: Option<String>,
    /// After this the callback refuses it.
    pub expires_at: DateTime<Utc>,
}

// By hand, so that the verifier and state never reach a log line.
impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("account_id", &self.account_id)
            .field("redirect_url", &self.redirect_url)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingAuthorization {
    /// A fresh authorization for the account: 256 random bits of state and of PKCE verifier.
    pub fn generate(account_id: &str, redirect_url: Option<String>, now: DateTime<Utc>) -> PendingAuthorization {
        PendingAuthorization {
            state: random_token(),
            account_id: account_id.to_string(),
            code_verifier: random_token(),
            redirect_url,
            expires_at: now + AUTHORIZATION_LIFETIME,
        }
    }

    /// PKCE's S256 challenge of the verifier (RFC 7636).
    pub fn code_challenge(&self) -> String {
        code_challenge(&self.code_verifier)
    }
}

/// 32 random bytes, base64url without padding (43 characters, within PKCE's 43..128).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `BASE64URL(SHA256(verifier))`.
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The state's digest, the key it is stored under (the state itself is not stored as a key, so a
/// read of the table does not hand out callback credentials).
pub fn state_key(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// A connection's tokens. Only the token vault keeps them; never logged, never answered.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSet {
    /// Bearer for API calls (30 minutes).
    pub access_token: String,
    /// Single use: each refresh replaces it.
    pub refresh_token: String,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// When the refresh token was issued (it dies unused after 60 days).
    pub issued_at: DateTime<Utc>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_expires_at", &self.access_expires_at)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    /// The access token can still be used at `now` (with a margin for the call it is for).
    pub fn access_usable(&self, now: DateTime<Utc>) -> bool {
        now + ACCESS_TOKEN_MARGIN < self.access_expires_at
    }
}

/// Why a `redirectUrl` is refused, or `None`: https, or http to this machine (development).
pub fn redirect_url_problem(url: &str) -> Option<&'static str> {
    if url.chars().count() > MAX_REDIRECT_URL_CHARS {
        return Some("redirectUrl is longer than 2048 characters");
    }
    if !url.chars().all(|c| c.is_ascii_graphic()) {
        return Some("redirectUrl must be printable ASCII without spaces (percent-encode the rest)");
    }
    let local = ["http://localhost", "http://127.0.0.1"].iter().any(|prefix| {
        url.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/', '?', '#']))
    });
    let https_host = url.strip_prefix("https://").map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
    match https_host {
        Some(host) if !host.is_empty() && !host.contains('@') => None,
        Some(_) => Some("redirectUrl must name a host (and no user information)"),
        None if local => None,
        None => Some("redirectUrl must be an https URL (http only to localhost or 127.0.0.1)"),
    }
}

/// `url` with `xero=<outcome>` added to its query.
pub fn with_outcome(url: &str, outcome: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{separator}xero={outcome}");
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc_7636s_s256() {
        // RFC 7636, appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn each_authorization_has_its_own_state_and_verifier_for_ten_minutes() {
        let now = Utc::now();
        let a = PendingAuthorization::generate("acc", None, now);
        let b = PendingAuthorization::generate("acc", None, now);
        assert_ne!(a.state, b.state);
        assert_ne!(a.code_verifier, b.code_verifier);
        assert_eq!(a.state.len(), 43);
        assert_eq!(a.expires_at - now, Duration::minutes(10));
        assert!(!format!("{a:?}").contains(&a.state));
        assert!(!format!("{a:?}").contains(&a.code_verifier));
    }

    #[test]
    fn one_tenant_connects_at_once_several_wait_for_a_choice() {
        let tenant =
            |id: &str| XeroTenant { tenant_id: id.into(), tenant_name: None, connection_id: format!("c-{id}") };
        let one = OAuthConnection::authorized(vec![tenant("t1")], vec![], Utc::now());
        assert_eq!((one.status, one.tenant_id.as_deref()), (ConnectionStatus::Connected, Some("t1")));
        let two = OAuthConnection::authorized(vec![tenant("t1"), tenant("t2")], vec![], Utc::now());
        assert_eq!((two.status, two.tenant_id), (ConnectionStatus::TenantSelectionRequired, None));
    }

    #[test]
    fn redirect_urls_are_https_or_local() {
        assert_eq!(redirect_url_problem("https://app.example.com/settings?tab=xero"), None);
        assert_eq!(redirect_url_problem("http://localhost:3000/done"), None);
        assert_eq!(redirect_url_problem("http://127.0.0.1/done"), None);
        assert!(redirect_url_problem("http://app.example.com/").is_some());
        assert!(redirect_url_problem("http://localhost.evil.com/").is_some());
        assert!(redirect_url_problem("javascript:alert(1)").is_some());
        assert!(redirect_url_problem("https:///path").is_some());
        assert!(redirect_url_problem("https://user@evil.com/").is_some());
        assert!(redirect_url_problem("https://caf\u{e9}.example/").is_some());
        assert!(redirect_url_problem("https://a.com/x y").is_some());
        assert!(redirect_url_problem(&format!("https://a.com/{}", "x".repeat(2048))).is_some());
    }

    #[test]
    fn the_outcome_is_added_to_the_query_before_any_fragment() {
        assert_eq!(with_outcome("https://a.com/x", "connected"), "https://a.com/x?xero=connected");
        assert_eq!(with_outcome("https://a.com/x?tab=1#top", "error"), "https://a.com/x?tab=1&xero=error#top");
    }

    #[test]
    fn token_sets_never_print_their_tokens() {
        let tokens = TokenSet {
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            access_expires_at: Utc::now(),
            issued_at: Utc::now(),
        };
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("secret-access") && !printed.contains("secret-refresh"));
    }
}
