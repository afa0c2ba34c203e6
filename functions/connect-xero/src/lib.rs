//! `POST /integrations/xero/connect`: starts a customer's Xero authorization (SPEC.md section 7):
//! 200 with the URL to send the customer's browser to, carrying a single-use `state` bound to the
//! account (10 minutes) and a PKCE S256 challenge.

use invoicing_domain::{
    model::xero_connection::CALLBACK_PATH,
    ports::XeroConnections,
    service::xero_connection::{start_authorization, AuthorizeSettings},
    Error,
};
use invoicing_http::{own_url, parse_optional_json_object, ApiResponse, Request, RequestContext, Route};
use serde::Deserialize;

/// Xero's authorize endpoint.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://login.xero.com/identity/connect/authorize";

/// The route's settings.
pub fn route() -> Route {
    Route::sequence(env!("CARGO_PKG_NAME"))
}

/// The app's settings: `XERO_CLIENT_ID`, `XERO_AUTHORIZE_URL`, `XERO_REDIRECT_URI` (empty: this
/// API's own callback URL, from the request's domain). Read here rather than through
/// `invoicing_xero::oauth::XeroApp`, so that this function, which never calls Xero, does not link
/// an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    pub client_id: String,
    pub authorize_url: String,
    pub redirect_uri: Option<String>,
}

impl AppSettings {
    pub fn from_env() -> AppSettings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        AppSettings {
            client_id: var("XERO_CLIENT_ID").unwrap_or_default(),
            authorize_url: var("XERO_AUTHORIZE_URL").unwrap_or_else(|| DEFAULT_AUTHORIZE_URL.into()),
            redirect_uri: var("XERO_REDIRECT_URI"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectRequest {
    /// Where the browser goes after the callback.
    redirect_url: Option<String>,
}

/// The handler.
pub async fn connect_xero<S: XeroConnections>(
    store: S,
    app: &AppSettings,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error> {
    let body: ConnectRequest = parse_optional_json_object(&request)?;
    let settings = AuthorizeSettings {
        authorize_url: app.authorize_url.clone(),
        client_id: app.client_id.clone(),
        redirect_uri: app.redirect_uri.clone().unwrap_or_else(|| own_url(&request, CALLBACK_PATH)),
    };
    let started = start_authorization(&store, &settings, &context.account_id, body.redirect_url, context.now).await?;
    Ok(ApiResponse::json(200, &started).with_header("cache-control", "no-store"))
}
