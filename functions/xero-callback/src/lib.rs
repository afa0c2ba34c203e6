//! `GET /integrations/xero/callback`: where the customer's browser comes back from Xero. The only
//! route without credentials: the single-use `state` is the credential. It exchanges the code,
//! reads the organisations, stores the tokens in the vault and the connection in the table, and
//! answers a 302 to the client's `redirectUrl` (`?xero=connected|error`) or a small page.

use invoicing_domain::{
    model::xero_connection::{with_outcome, ConnectionStatus, CALLBACK_PATH},
    ports::{TokenVault, XeroConnections, XeroIdentity},
    service::xero_connection::{complete_authorization, CallbackOutcome, CallbackParams},
    Error,
};
use invoicing_http::{own_url, query_param, ApiResponse, Request, RequestContext, Route};

/// The route's settings: no credentials.
pub fn route() -> Route {
    Route::public(env!("CARGO_PKG_NAME"))
}

/// The handler. `redirect_uri` is `XERO_REDIRECT_URI` (`None`: this API's own callback URL).
pub async fn xero_callback<S, V, I>(
    store: &S,
    vault: &V,
    identity: &I,
    redirect_uri: Option<&str>,
    context: RequestContext,
    request: Request,
) -> Result<ApiResponse, Error>
where
    S: XeroConnections,
    V: TokenVault,
    I: XeroIdentity,
{
    let params = CallbackParams {
        code: query_param(&request, "code"),
        state: query_param(&request, "state"),
        error: query_param(&request, "error"),
    };
    let redirect_uri = redirect_uri.map(str::to_owned).unwrap_or_else(|| own_url(&request, CALLBACK_PATH));
    let outcome = complete_authorization(store, vault, identity, &redirect_uri, &params, context.now).await?;
    Ok(answer(&outcome))
}

/// The 302 or the page.
pub fn answer(outcome: &CallbackOutcome) -> ApiResponse {
    match outcome {
        CallbackOutcome::Authorized { redirect_url: Some(url), .. } => redirect(&with_outcome(url, "connected")),
        CallbackOutcome::Refused { redirect_url: Some(url), .. } => redirect(&with_outcome(url, "error")),
        CallbackOutcome::Authorized { status: ConnectionStatus::Connected, tenant_name, .. } => page(
            200,
            "Connected to Xero",
            &format!(
                "Your Xero organisation {} is connected. You can close this window.",
                tenant_name.as_deref().map(|n| format!("\u{201c}{}\u{201d}", escape(n))).unwrap_or_default()
            ),
        ),
        CallbackOutcome::Authorized { .. } => page(
            200,
            "Choose a Xero organisation",
            "Xero authorized several organisations. Choose the one to use in the application \
             (PUT /integrations/xero with its tenantId). You can close this window.",
        ),
        CallbackOutcome::Refused { reason, .. } => page(400, "Xero was not connected", &escape(reason)),
    }
}

fn redirect(location: &str) -> ApiResponse {
    ApiResponse::empty(302)
        .with_header("location", location)
        .with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
}

fn page(status: u16, title: &str, message: &str) -> ApiResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1><p>{message}</p></body></html>\n"
    );
    ApiResponse { status, body, headers: Vec::new() }
        .with_header("content-type", "text/html; charset=utf-8")
        .with_header("cache-control", "no-store")
        // The URL carried a code and a state: never sent on to another site.
        .with_header("referrer-policy", "no-referrer")
        .with_header("content-security-policy", "default-src 'none'; frame-ancestors 'none'")
        .with_header("x-content-type-options", "nosniff")
}

/// HTML-escapes text from Xero or the request.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_escaped_on_the_page() {
        let outcome = CallbackOutcome::Authorized {
            status: ConnectionStatus::Connected,
            tenant_name: Some("<script>x</script> & Co".into()),
            redirect_url: None,
        };
        let answer = answer(&outcome);
        assert_eq!(answer.status, 200);
        assert!(answer.body.contains("&lt;script&gt;x&lt;/script&gt; &amp; Co"), "{}", answer.body);
        assert!(!answer.body.contains("<script>"));
    }

    #[test]
    fn a_redirect_url_gets_the_outcome() {
        let refused =
            CallbackOutcome::Refused { reason: "no".into(), redirect_url: Some("https://a.test/x?y=1".into()) };
        let answer = answer(&refused);
        assert_eq!(answer.status, 302);
        assert!(answer.headers.contains(&("location".into(), "https://a.test/x?y=1&xero=error".into())));
    }
}
