use std::fmt;

/// What went wrong, in the vocabulary of SPEC.md section 2. The HTTP layer maps each kind to a
/// status code in exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Validation,
    Unauthorized,
    NotFound,
    Conflict,
    /// An optimistic write lost a race; the operation may be retried from a fresh read.
    Contended,
    IdempotencyKeyReuse,
    PayloadTooLarge,
    UnrecognisedApiVersion,
    Internal,
}

impl ErrorKind {
    /// The `type` field of the error body.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::Validation => "ValidationError",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Conflict | ErrorKind::Contended => "Conflict",
            ErrorKind::IdempotencyKeyReuse => "IdempotencyKeyReuse",
            ErrorKind::PayloadTooLarge => "PayloadTooLarge",
            ErrorKind::UnrecognisedApiVersion => "UnrecognisedApiVersion",
            ErrorKind::Internal => "InternalError",
        }
    }
}

/// A domain error: a kind plus a message that is safe to show to the caller.
///
/// Internal errors keep their cause for the logs but never show it: their public message is generic.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// For internal errors that the caller should still be told about in plain words (an item
    /// that cannot be read), without the detail in `message`.
    public: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), public: None }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(ErrorKind::Unauthorized, "missing or invalid credentials")
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// An unexpected failure (a store down, a corrupt item). `detail` is for the logs only.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, detail)
    }
    /// Stored data this service cannot use (an item it cannot decode, amounts beyond its bounds):
    /// an internal error whose public message says which resource, never why.
    pub fn unreadable(public: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Internal, message: detail.into(), public: Some(public.into()) }
    }
    pub fn contended(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Contended, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message shown to the caller: generic for internal errors.
    pub fn public_message(&self) -> &str {
        match (self.kind, &self.public) {
            (ErrorKind::Internal, Some(public)) => public,
            (ErrorKind::Internal, None) => "An internal error occurred. Please retry later.",
            _ => &self.message,
        }
    }
    /// The full message, including internal detail; for logs.
    pub fn detail(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.type_name(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_detail() {
        let error = Error::internal("dynamodb: connection refused to 10.0.0.1");
        assert_eq!(error.public_message(), "An internal error occurred. Please retry later.");
        assert_eq!(error.detail(), "dynamodb: connection refused to 10.0.0.1");
    }

    #[test]
    fn other_errors_show_their_message() {
        let error = Error::validation("customerId: missing field");
        assert_eq!(error.public_message(), "customerId: missing field");
        assert_eq!(error.kind().type_name(), "ValidationError");
    }
}
