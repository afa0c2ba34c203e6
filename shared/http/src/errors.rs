//! The one place where domain errors become HTTP answers.

use crate::gateway::ApiResponse;
use invoicing_domain::{Error, ErrorKind};
use serde_json::json;

/// Which public API's error body a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error": {"type": "...", "message": "..."}}`
    Sequence,
    /// `{"message": "... [<identifier>-<requestId>]", "identifier": "..."}`
    Slash,
}

pub fn status_code(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::Validation | ErrorKind::UnrecognisedApiVersion => 400,
        ErrorKind::Unauthorized => 401,
        ErrorKind::NotFound => 404,
        ErrorKind::Conflict | ErrorKind::Contended => 409,
        ErrorKind::PayloadTooLarge => 413,
        ErrorKind::IdempotencyKeyReuse => 422,
        ErrorKind::Internal => 500,
    }
}

/// The answer for an error: its status and the route's error body.
pub fn error_response(error: &Error, style: ErrorStyle, request_id: &str) -> ApiResponse {
    let status = status_code(error.kind());
    let body = match style {
        ErrorStyle::Sequence => json!({
            "error": {"type": error.kind().type_name(), "message": error.public_message()}
        }),
        ErrorStyle::Slash => {
            let identifier = error.kind().type_name();
            json!({
                "message": format!("{} [{identifier}-{request_id}]", error.public_message()),
                "identifier": identifier,
            })
        }
    };
    ApiResponse::json(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_error_body() {
        let response = error_response(&Error::not_found("no invoice x"), ErrorStyle::Sequence, "req-1");
        assert_eq!(response.status, 404);
        assert_eq!(response.body, r#"{"error":{"type":"NotFound","message":"no invoice x"}}"#);
    }

    #[test]
    fn slash_error_body_carries_the_request_id() {
        let response = error_response(&Error::validation("bad paidAt"), ErrorStyle::Slash, "req-1");
        assert_eq!(response.status, 400);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body, json!({"message": "bad paidAt [ValidationError-req-1]", "identifier": "ValidationError"}));
    }

    #[test]
    fn internal_errors_are_generic_500s() {
        let response = error_response(&Error::internal("table gone"), ErrorStyle::Sequence, "r");
        assert_eq!(response.status, 500);
        assert!(!response.body.contains("table gone"));
    }
}
