//! Credentials: `Authorization: Basic base64(clientId:clientSecret)` or `X-API-Key: <keyId>.<secret>`.
//! Neither header is ever logged.

use base64::{engine::general_purpose::STANDARD, Engine};
use invoicing_domain::{
    model::account::{is_credential_id, split_api_key, CredentialKind},
    ports::CredentialStore,
    Error,
};
use lambda_http::Request;

/// The id of the account the request's credentials belong to.
pub(crate) async fn authenticate<C: CredentialStore>(credentials: &C, request: &Request) -> Result<String, Error> {
    let headers = request.headers();
    // Basic credentials when `Authorization` carries well-formed ones; otherwise the API key (a
    // proxy may add an `Authorization` of its own, such as a bearer token, beside `X-API-Key`).
    let basic = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_basic)
        .map(|(id, secret)| (id, secret, CredentialKind::ClientSecret));
    let api_key = || {
        let value = headers.get("x-api-key")?.to_str().ok()?;
        split_api_key(value.trim()).map(|(id, secret)| (id.to_string(), secret.to_string(), CredentialKind::ApiKey))
    };
    let (id, secret, kind) = basic.or_else(api_key).ok_or_else(Error::unauthorized)?;
    if !is_credential_id(&id) {
        return Err(Error::unauthorized());
    }
    match credentials.find_credential(&id).await? {
        Some(credential) if credential.kind == kind && credential.verify(&secret) => Ok(credential.account_id),
        _ => Err(Error::unauthorized()),
    }
}

fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    (!id.is_empty() && !secret.is_empty()).then(|| (id.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let encoded = STANDARD.encode("ci_abc:s3cr:et");
        assert_eq!(parse_basic(&format!("Basic {encoded}")), Some(("ci_abc".into(), "s3cr:et".into())));
        assert_eq!(parse_basic(&format!("basic  {encoded}")), Some(("ci_abc".into(), "s3cr:et".into())));
        assert_eq!(parse_basic(&format!("Bearer {encoded}")), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))), None);
    }
}
