//! The domain's one error type. Each variant is one kind of answer (the HTTP crate maps kinds to
//! status codes in one place); internal errors keep their cause as a `source`, so a log line shows
//! the whole chain while the answer stays generic.

use std::fmt;

/// A cause kept for the logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in the vocabulary of the API's error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or breaks a rule (400).
    Validation,
    /// Missing or wrong credentials (401).
    Unauthorized,
    /// No such resource in the caller's account (404).
    NotFound,
    /// The resource's state refuses the request (409).
    Conflict,
    /// An optimistic write lost a race; the operation may be retried from a fresh read (409 when
    /// retries run out).
    Contended,
    /// An idempotency key reused with another request (422).
    IdempotencyKeyReuse,
    /// A body over the route's limit (413).
    PayloadTooLarge,
    /// An unknown `Sequence-Version` (400).
    UnrecognisedApiVersion,
    /// A failure the caller cannot fix (500).
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

/// A domain error. Every message but an internal one is safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`ErrorKind::Validation`].
    #[error("{0}")]
    Validation(String),
    /// See [`ErrorKind::Unauthorized`].
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// See [`ErrorKind::NotFound`].
    #[error("{0}")]
    NotFound(String),
    /// See [`ErrorKind::Conflict`].
    #[error("{0}")]
    Conflict(String),
    /// See [`ErrorKind::Contended`].
    #[error("{0}")]
    Contended(String),
    /// See [`ErrorKind::IdempotencyKeyReuse`].
    #[error("{0}")]
    IdempotencyKeyReuse(String),
    /// See [`ErrorKind::PayloadTooLarge`].
    #[error("{0}")]
    PayloadTooLarge(String),
    /// See [`ErrorKind::UnrecognisedApiVersion`].
    #[error("{0}")]
    UnrecognisedApiVersion(String),
    /// See [`ErrorKind::Internal`]. `context` and `source` go to the logs; the caller sees
    /// `public` when set (naming a resource that cannot be read), else a generic message.
    #[error("{context}")]
    Internal {
        /// What was being done.
        context: String,
        /// What the caller is told instead of the generic message, if anything.
        public: Option<String>,
        /// Why it failed.
        #[source]
        source: Option<Cause>,
    },
}

/// The domain's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What internal errors answer: nothing about their cause.
const GENERIC: &str = "An internal error occurred. Please retry later.";

impl Error {
    /// An error of `kind` with a message the caller may see.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        match kind {
            ErrorKind::Validation => Error::Validation(message),
            ErrorKind::Unauthorized => Error::Unauthorized,
            ErrorKind::NotFound => Error::NotFound(message),
            ErrorKind::Conflict => Error::Conflict(message),
            ErrorKind::Contended => Error::Contended(message),
            ErrorKind::IdempotencyKeyReuse => Error::IdempotencyKeyReuse(message),
            ErrorKind::PayloadTooLarge => Error::PayloadTooLarge(message),
            ErrorKind::UnrecognisedApiVersion => Error::UnrecognisedApiVersion(message),
            ErrorKind::Internal => Error::internal(message),
        }
    }
    /// A 400 with a message naming the problem.
    pub fn validation(message: impl Into<String>) -> Self {
        Error::Validation(message.into())
    }
    /// A 401.
    pub fn unauthorized() -> Self {
        Error::Unauthorized
    }
    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound(message.into())
    }
    /// A 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }
    /// A lost race, retried by the caller.
    pub fn contended(message: impl Into<String>) -> Self {
        Error::Contended(message.into())
    }
    /// An unexpected failure without an underlying error (a corrupt value, a broken invariant).
    /// `context` is for the logs only.
    pub fn internal(context: impl Into<String>) -> Self {
        Error::Internal { context: context.into(), public: None, source: None }
    }
    /// An unexpected failure caused by `source` (a store down, an SDK error): both for the logs.
    pub fn internal_caused(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::Internal { context: context.into(), public: None, source: Some(source.into()) }
    }
    /// Stored data this service cannot use (an item it cannot decode, amounts beyond its bounds):
    /// an internal error whose public message says which resource, never why.
    pub fn unreadable(public: impl Into<String>, context: impl Into<String>) -> Self {
        Error::Internal { context: context.into(), public: Some(public.into()), source: None }
    }
    /// [`Error::unreadable`] with the underlying error.
    pub fn unreadable_caused(public: impl Into<String>, context: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::Internal { context: context.into(), public: Some(public.into()), source: Some(source.into()) }
    }

    /// The kind of answer this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation(_) => ErrorKind::Validation,
            Error::Unauthorized => ErrorKind::Unauthorized,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Contended(_) => ErrorKind::Contended,
            Error::IdempotencyKeyReuse(_) => ErrorKind::IdempotencyKeyReuse,
            Error::PayloadTooLarge(_) => ErrorKind::PayloadTooLarge,
            Error::UnrecognisedApiVersion(_) => ErrorKind::UnrecognisedApiVersion,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// The message shown to the caller: generic for internal errors (or the resource's name).
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal { public: Some(public), .. } => public.clone(),
            Error::Internal { public: None, .. } => GENERIC.to_string(),
            other => other.to_string(),
        }
    }

    /// The whole chain, for logs: the error and each of its causes, separated by `: `.
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }
}

/// [`Error::report`]'s display.
pub struct Report<'a>(&'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(self.0);
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused to 10.0.0.1")]
    struct Refused;

    #[test]
    fn internal_errors_hide_their_cause_and_keep_it_for_the_logs() {
        let error = Error::internal_caused("DynamoDB GetItem failed", Refused);
        assert_eq!(error.kind(), ErrorKind::Internal);
        assert_eq!(error.public_message(), "An internal error occurred. Please retry later.");
        assert_eq!(error.report().to_string(), "DynamoDB GetItem failed: connection refused to 10.0.0.1");
        assert!(std::error::Error::source(&error).is_some_and(|s| s.is::<Refused>()));
    }

    #[test]
    fn other_errors_show_their_message() {
        let error = Error::validation("customerId: missing field");
        assert_eq!(error.public_message(), "customerId: missing field");
        assert_eq!(error.kind().type_name(), "ValidationError");
        assert_eq!(Error::new(ErrorKind::Conflict, "taken").kind(), ErrorKind::Conflict);
    }

    #[test]
    fn unreadable_resources_are_named_without_the_cause() {
        let error =
            Error::unreadable_caused("stored invoice x cannot be read", "corrupt item ACCOUNT#a / INVOICE#x", Refused);
        assert_eq!(error.public_message(), "stored invoice x cannot be read");
        assert_eq!(error.report().to_string(), "corrupt item ACCOUNT#a / INVOICE#x: connection refused to 10.0.0.1");
    }
}
