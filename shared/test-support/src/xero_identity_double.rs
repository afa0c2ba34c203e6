//! An HTTP double of Xero's identity service (wiremock) for what xero-local does not enforce:
//! authorization codes and refresh tokens are single use, a replaced refresh token is accepted
//! again only within the grace window (Xero's 30 minutes), revoked or unknown ones answer
//! `invalid_grant`, and `/connections` lists the tenants it was given. Faults: a refresh whose
//! answer is lost (the token is replaced, the caller gets a 503), slow refreshes. Every call is
//! counted.

use serde_json::{json, Value};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use wiremock::{
    matchers::{method, path, path_regex},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

/// A tenant `/connections` lists: (tenant id, tenant name, connection id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleTenant {
    /// `tenantId`.
    pub tenant_id: String,
    /// `tenantName`.
    pub tenant_name: String,
    /// `id`, the connection's.
    pub connection_id: String,
}

impl DoubleTenant {
    /// A tenant with fresh ids.
    pub fn named(name: &str) -> DoubleTenant {
        DoubleTenant {
            tenant_id: uuid::Uuid::new_v4().to_string(),
            tenant_name: name.to_string(),
            connection_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

enum RefreshState {
    Live,
    /// Replaced at this instant by the refresh token named.
    Replaced(Instant),
}

/// What the double saw and how it behaves.
#[derive(Default)]
pub struct IdentityCounts {
    /// Refresh requests received (retries included).
    pub refresh_requests: usize,
    /// Refreshes that used a replaced token within the grace window.
    pub grace_refreshes: usize,
    /// Refreshes answered `invalid_grant`.
    pub refused_refreshes: usize,
    /// Code exchanges answered with tokens.
    pub codes_exchanged: usize,
    /// Refresh tokens revoked.
    pub revoked: Vec<String>,
    /// Connection ids deleted.
    pub deleted_connections: Vec<String>,
    /// The PKCE verifiers of code exchanges.
    pub code_verifiers: Vec<String>,
}

struct State {
    refresh_tokens: HashMap<String, RefreshState>,
    access_tokens: HashSet<String>,
    codes_used: HashSet<String>,
    tenants: Vec<DoubleTenant>,
    grace: Duration,
    access_lifetime_secs: u64,
    lose_refresh_answers: usize,
    refresh_delay: Duration,
    counts: IdentityCounts,
}

/// A running double; stopped when dropped.
pub struct IdentityDouble {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

fn form(request: &Request) -> HashMap<String, String> {
    let body = String::from_utf8_lossy(&request.body);
    let url = reqwest::Url::parse(&format!("http://form/?{body}")).expect("a form body");
    url.query_pairs().into_owned().collect()
}

fn invalid_grant() -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"}))
}

struct Token(Arc<Mutex<State>>);

impl Respond for Token {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let fields = form(request);
        let mut state = self.0.lock().unwrap();
        match fields.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let code = fields.get("code").cloned().unwrap_or_default();
                if code.is_empty() || !state.codes_used.insert(code) {
                    return invalid_grant();
                }
                state.counts.codes_exchanged += 1;
                let verifier = fields.get("code_verifier").cloned().unwrap_or_default();
                state.counts.code_verifiers.push(verifier);
                ResponseTemplate::new(200).set_body_json(state.issue())
            }
            Some("refresh_token") => {
                state.counts.refresh_requests += 1;
                let token = fields.get("refresh_token").cloned().unwrap_or_default();
                let grace = state.grace;
                match state.refresh_tokens.get(&token) {
                    Some(RefreshState::Live) => {}
                    Some(RefreshState::Replaced(at)) if at.elapsed() < grace => state.counts.grace_refreshes += 1,
                    _ => {
                        state.counts.refused_refreshes += 1;
                        return invalid_grant();
                    }
                }
                state.refresh_tokens.insert(token, RefreshState::Replaced(Instant::now()));
                let answer = state.issue();
                let delay = state.refresh_delay;
                if state.lose_refresh_answers > 0 {
                    // Replaced at Xero, but the answer never arrives.
                    state.lose_refresh_answers -= 1;
                    return ResponseTemplate::new(503).set_delay(delay);
                }
                ResponseTemplate::new(200).set_body_json(answer).set_delay(delay)
            }
            _ => ResponseTemplate::new(400).set_body_json(json!({"error": "unsupported_grant_type"})),
        }
    }
}

impl State {
    fn issue(&mut self) -> Value {
        let access = format!("access-{}", uuid::Uuid::new_v4());
        let refresh = format!("refresh-{}", uuid::Uuid::new_v4());
        self.access_tokens.insert(access.clone());
        self.refresh_tokens.insert(refresh.clone(), RefreshState::Live);
        json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.access_lifetime_secs,
            "token_type": "Bearer",
            "scope": "offline_access accounting.invoices.read",
        })
    }
}

struct Connections(Arc<Mutex<State>>);

impl Respond for Connections {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = self.0.lock().unwrap();
        let bearer = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !state.access_tokens.contains(bearer) {
            return ResponseTemplate::new(401);
        }
        if request.method.as_str() == "DELETE" {
            drop(state);
            let id = request.url.path().rsplit('/').next().unwrap_or_default().to_string();
            self.0.lock().unwrap().counts.deleted_connections.push(id);
            return ResponseTemplate::new(204);
        }
        let listed: Vec<Value> = state
            .tenants
            .iter()
            .map(|t| {
                json!({"id": t.connection_id, "authEventId": "e", "tenantId": t.tenant_id, "tenantType": "ORGANISATION",
                       "tenantName": t.tenant_name, "createdDateUtc": "2026-01-01T00:00:00", "updatedDateUtc": "2026-01-01T00:00:00"})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(listed)
    }
}

struct Revocation(Arc<Mutex<State>>);

impl Respond for Revocation {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let token = form(request).get("token").cloned().unwrap_or_default();
        let mut state = self.0.lock().unwrap();
        state.refresh_tokens.remove(&token);
        state.access_tokens.clear();
        state.counts.revoked.push(token);
        ResponseTemplate::new(200)
    }
}

impl IdentityDouble {
    /// A double whose `/connections` lists `tenants`, with Xero's 30-minute grace window.
    pub async fn start(tenants: Vec<DoubleTenant>) -> IdentityDouble {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            refresh_tokens: HashMap::new(),
            access_tokens: HashSet::new(),
            codes_used: HashSet::new(),
            tenants,
            grace: Duration::from_secs(30 * 60),
            access_lifetime_secs: 1800,
            lose_refresh_answers: 0,
            refresh_delay: Duration::ZERO,
            counts: IdentityCounts::default(),
        }));
        Mock::given(method("POST"))
            .and(path("/connect/token"))
            .respond_with(Token(Arc::clone(&state)))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/connect/revocation"))
            .respond_with(Revocation(Arc::clone(&state)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/connections"))
            .respond_with(Connections(Arc::clone(&state)))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path_regex("^/connections/[^/]+$"))
            .respond_with(Connections(Arc::clone(&state)))
            .mount(&server)
            .await;
        IdentityDouble { server, state }
    }

    /// Its base URL: `/connect/token`, `/connect/revocation`, `/connections`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The service's Xero app with this double as its identity service and `api_base_url` as
    /// Xero's API.
    pub fn app(&self, api_base_url: &str) -> invoicing_xero::oauth::XeroApp {
        let uri = self.uri();
        invoicing_xero::oauth::XeroApp {
            client_id: "service-app".into(),
            authorize_url: format!("{uri}/identity/connect/authorize"),
            token_url: format!("{uri}/connect/token"),
            connections_url: format!("{uri}/connections"),
            revocation_url: format!("{uri}/connect/revocation"),
            api_base_url: api_base_url.to_string(),
            redirect_uri: None,
        }
    }

    /// A live refresh token (as if a customer had connected), for seeding a token vault.
    pub fn issue_refresh_token(&self) -> String {
        let issued = self.state.lock().unwrap().issue();
        issued["refresh_token"].as_str().unwrap().to_string()
    }

    /// A token set as a connection holds it half an hour after connecting: its access token has
    /// expired (the next call needs a refresh), its refresh token is live here.
    pub fn expired_token_set(&self) -> invoicing_domain::model::xero_connection::TokenSet {
        let now = chrono::Utc::now();
        invoicing_domain::model::xero_connection::TokenSet {
            access_token: "expired-access".into(),
            refresh_token: self.issue_refresh_token(),
            access_expires_at: now - chrono::Duration::minutes(1),
            issued_at: now - chrono::Duration::minutes(31),
        }
    }

    /// The next `count` refreshes replace the token but their answers are lost (503).
    pub fn lose_refresh_answers(&self, count: usize) {
        self.state.lock().unwrap().lose_refresh_answers = count;
    }

    /// Every refresh answer takes this long.
    pub fn delay_refreshes(&self, delay: Duration) {
        self.state.lock().unwrap().refresh_delay = delay;
    }

    /// Refresh tokens replaced longer ago than this are refused.
    pub fn set_grace(&self, grace: Duration) {
        self.state.lock().unwrap().grace = grace;
    }

    /// Every refresh token it issued is refused from now on (the customer revoked the app in Xero).
    pub fn revoke_everything(&self) {
        let mut state = self.state.lock().unwrap();
        state.refresh_tokens.clear();
        state.access_tokens.clear();
    }

    /// What it saw so far.
    pub fn counts<T>(&self, read: impl FnOnce(&IdentityCounts) -> T) -> T {
        read(&self.state.lock().unwrap().counts)
    }
}
