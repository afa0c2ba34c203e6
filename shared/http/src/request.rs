//! Reading requests: JSON bodies with errors that name the field, path ids and strict query strings.

use invoicing_domain::Error;
use lambda_http::{Body, Request, RequestExt};
use serde::{de::DeserializeOwned, Deserialize};

pub(crate) fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Parses the JSON body. Errors name the problem and, for data errors, the field's path.
pub fn parse_json<T: DeserializeOwned>(request: &Request) -> Result<T, Error> {
    parse_json_with_path(body_bytes(request))
}

fn parse_json_with_path<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::validation("request body: a JSON value is required"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => Error::validation(format!("{path}: {inner}")),
            serde_json::error::Category::Data => Error::validation(format!("request body: {inner}")),
            _ => Error::validation(format!("malformed JSON: {inner}")),
        }
    })?;
    deserializer.end().map_err(|e| Error::validation(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Parses a body that must be a JSON object (serde would otherwise also read a struct from an
/// array of its fields in order).
pub fn parse_json_object<T: DeserializeOwned>(request: &Request) -> Result<T, Error> {
    require_object(body_bytes(request))?;
    parse_json(request)
}

/// Like [`parse_json_object`], for a type that borrows from the body (strings without escapes,
/// raw decimal text), and without tracking the path while it parses: only a body that fails is
/// parsed again, with the path, for the same error as [`parse_json_object`]'s.
pub fn parse_borrowed_json_object<'de, T: Deserialize<'de>>(request: &'de Request) -> Result<T, Error> {
    let bytes = body_bytes(request);
    require_object(bytes)?;
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => parse_json_with_path(bytes),
    }
}

/// A body whose first character cannot start an object is refused before serde reads it.
fn require_object(bytes: &[u8]) -> Result<(), Error> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(Error::validation("request body: a JSON object is required")),
        Some(b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9') => {
            Err(Error::validation("request body: must be a JSON object"))
        }
        Some(_) => Ok(()),
    }
}

/// A path parameter as a UUID (our ids are UUIDs: anything else cannot name a resource).
pub fn path_param(request: &Request, name: &str) -> Result<String, Error> {
    let params = request.path_parameters();
    let value = params.first(name).ok_or_else(|| Error::validation(format!("path parameter {name} is missing")))?;
    if invoicing_domain::model::ids::is_uuid(value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(Error::validation(format!("{name}: `{}` is not a valid id", value.chars().take(64).collect::<String>())))
    }
}

/// The query string as name/value pairs, refusing names the route does not know and repeats.
pub fn query_params<'a>(request: &Request, known: &[&'a str]) -> Result<Vec<(&'a str, String)>, Error> {
    let query = request.query_string_parameters();
    let mut params = Vec::new();
    for (name, value) in query.iter() {
        let Some(known_name) = known.iter().find(|k| **k == name) else {
            return Err(Error::validation(format!(
                "unknown query parameter `{}`; known: {}",
                name.chars().take(64).collect::<String>(),
                known.join(", ")
            )));
        };
        if params.iter().any(|(n, _)| n == known_name) {
            return Err(Error::validation(format!("query parameter `{name}` is repeated")));
        }
        params.push((*known_name, value.to_string()));
    }
    Ok(params)
}

/// Like [`parse_json_object`], but an empty body is `T::default()` (bodies that are optional).
pub fn parse_optional_json_object<T: DeserializeOwned + Default>(request: &Request) -> Result<T, Error> {
    if body_bytes(request).iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    parse_json_object(request)
}

/// This API's own URL for `path`: `https://<the domain API Gateway served the request on>`, or
/// `http://` for a loopback host (local runs).
pub fn own_url(request: &Request, path: &str) -> String {
    use lambda_http::request::RequestContext;
    let from_context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.domain_name.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.domain_name.clone(),
        _ => None,
    };
    let host = from_context
        .filter(|h| !h.is_empty())
        .or_else(|| request.headers().get("host").and_then(|h| h.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    let local = host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]");
    format!("{}://{host}{path}", if local { "http" } else { "https" })
}

/// The value of query parameter `name` (the first, if repeated).
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::HashMap;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body_ {
        customer_id: String,
        emails: Option<Vec<String>>,
    }

    fn request(body: &str) -> Request {
        lambda_http::http::Request::builder().body(Body::Text(body.to_string())).unwrap()
    }

    fn message(body: &str) -> String {
        parse_json::<Body_>(&request(body)).unwrap_err().public_message().to_string()
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(message(""), "request body: a JSON value is required");
        assert_eq!(message("{"), "malformed JSON: EOF while parsing an object at line 1 column 1");
        assert_eq!(message("{}"), "request body: missing field `customerId` at line 1 column 2");
        assert_eq!(
            message(r#"{"customerId": 5}"#),
            "customerId: invalid type: integer `5`, expected a string at line 1 column 16"
        );
        assert_eq!(
            message(r#"{"customerId": "c", "emails": ["a", 1]}"#),
            "emails[1]: invalid type: integer `1`, expected a string at line 1 column 37"
        );
        assert_eq!(
            message(r#"{"customerId": "c", "x": 1}"#),
            "x: unknown field `x`, expected `customerId` or `emails` at line 1 column 23"
        );
        assert!(message(r#"{"customerId": "c"} trailing"#).starts_with("malformed JSON: trailing characters"));
    }

    #[test]
    fn path_ids_must_be_uuids() {
        let with =
            |id: &str| request("").with_path_parameters(HashMap::from([("invoiceId".to_string(), id.to_string())]));
        let id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(path_param(&with(id), "invoiceId").unwrap(), id);
        assert_eq!(
            path_param(&with("nope"), "invoiceId").unwrap_err().public_message(),
            "invoiceId: `nope` is not a valid id"
        );
    }
}
