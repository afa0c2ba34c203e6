//! Idempotency keys (docs/contract.md, section 3): the first completed response is stored for 24 hours and
//! replayed; a different request under the same key is refused.

use super::error::{Error, ErrorKind, Result};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The longest key accepted.
pub const MAX_KEY_LENGTH: usize = 255;

/// How long a completed response is kept and replayed.
pub fn retention() -> Duration {
    Duration::hours(24)
}

/// How long an in-progress claim blocks others. Longer than any function's timeout, so a claim is
/// only taken over when its owner has certainly died without completing or releasing it.
pub fn claim_timeout() -> Duration {
    Duration::seconds(120)
}

/// Checks an `Idempotency-Key` header value.
pub fn validate_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::validation("Idempotency-Key must not be empty"));
    }
    if key.chars().count() > MAX_KEY_LENGTH {
        return Err(Error::validation(format!("Idempotency-Key must be at most {MAX_KEY_LENGTH} characters")));
    }
    if key.chars().any(|c| c.is_control()) {
        return Err(Error::validation("Idempotency-Key must not contain control characters"));
    }
    Ok(())
}

/// What identifies "the same request": method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// A response as stored for replay: status, body, the headers worth replaying (such as
/// `Location`) and the API version that served it, so that a replay is labelled as the original was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body, as sent.
    pub body: String,
    /// Headers worth replaying, as (name, value).
    pub headers: Vec<(String, String)>,
    /// The API version that served the original (absent in records older than that).
    #[serde(default)]
    pub version: Option<String>,
}

/// A key this request holds: the right, and the duty, to record its answer under the key.
/// `token` tells this claim from a later one that took the key over after this one went stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The account the key belongs to.
    pub account_id: String,
    /// The key, as the client sent it.
    pub key: String,
    /// What the request was (method, path, body).
    pub fingerprint: String,
    /// This claim's random token.
    pub token: String,
}

/// An answer recorded under a claimed key. A change that carries a receipt writes it in the same
/// transaction as the change itself, so that either both are stored or neither is: a retry then
/// replays the answer of a committed change and never applies the change twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The claim the answer is recorded under.
    pub claim: IdempotencyClaim,
    /// The answer.
    pub response: StoredResponse,
}

/// A stored idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// What the request was.
    pub fingerprint: String,
    /// The token of the claim holding the record.
    pub token: String,
    /// The answer, once recorded.
    pub response: Option<StoredResponse>,
    /// When the record expires (24 hours after the claim).
    pub expires_at: DateTime<Utc>,
    /// Until when an unanswered claim blocks other claims.
    pub locked_until: DateTime<Utc>,
}

/// The answer to "may I run this request?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller runs the request and must then record its answer or release the claim.
    Acquired(IdempotencyClaim),
    /// The request already ran: answer with its stored response.
    Replay(StoredResponse),
}

/// A new claim's token: random, so that two claims of one key are never mistaken for each other.
pub fn new_claim_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl IdempotencyRecord {
    /// A new claim's record: no answer yet, locked for the claim timeout.
    pub fn in_progress(fingerprint: &str, token: &str, now: DateTime<Utc>) -> Self {
        Self {
            fingerprint: fingerprint.to_string(),
            token: token.to_string(),
            response: None,
            expires_at: now + retention(),
            locked_until: now + claim_timeout(),
        }
    }

    /// Whether a new claim may overwrite this record: it expired, or its owner died mid-request.
    /// A request that changes something records its answer in the same transaction as the change,
    /// so a record without an answer proves that its owner changed nothing: running it again is safe.
    pub fn can_be_replaced(&self, fingerprint: &str, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
            || (self.response.is_none() && self.locked_until <= now && self.fingerprint == fingerprint)
    }

    /// The answer for a request that found this live record in place.
    pub fn decide(&self, fingerprint: &str) -> Result<Claim, Error> {
        if self.fingerprint != fingerprint {
            return Err(Error::new(
                ErrorKind::IdempotencyKeyReuse,
                "this Idempotency-Key was already used with a different request (method, path or body)",
            ));
        }
        match &self.response {
            Some(response) => Ok(Claim::Replay(response.clone())),
            None => Err(in_progress()),
        }
    }
}

/// The answer while another request holds the key.
pub fn in_progress() -> Error {
    Error::conflict("a request with this Idempotency-Key is still in progress; retry later")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_limited_to_255_characters() {
        assert!(validate_key(&"k".repeat(255)).is_ok());
        let error = validate_key(&"k".repeat(256)).unwrap_err();
        assert_eq!(error.public_message(), "Idempotency-Key must be at most 255 characters");
        assert!(validate_key("").is_err());
        assert!(validate_key("a\nb").is_err());
    }

    #[test]
    fn fingerprint_depends_on_method_path_and_body() {
        let base = fingerprint("POST", "/invoices", b"{}");
        assert_eq!(base, fingerprint("POST", "/invoices", b"{}"));
        assert_ne!(base, fingerprint("PUT", "/invoices", b"{}"));
        assert_ne!(base, fingerprint("POST", "/invoices/x", b"{}"));
        assert_ne!(base, fingerprint("POST", "/invoices", b"{ }"));
    }

    #[test]
    fn decisions() {
        let now = Utc::now();
        let mut record = IdempotencyRecord::in_progress("fp", "t", now);
        assert_eq!(record.decide("fp").unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(record.decide("other").unwrap_err().kind(), ErrorKind::IdempotencyKeyReuse);
        let response =
            StoredResponse { status: 201, body: "{}".into(), headers: vec![], version: Some("2024-01-01".into()) };
        record.response = Some(response.clone());
        assert_eq!(record.decide("fp").unwrap(), Claim::Replay(response));
    }

    #[test]
    fn stale_claims_and_expired_records_can_be_replaced() {
        let now = Utc::now();
        let record = IdempotencyRecord::in_progress("fp", "t", now);
        assert!(!record.can_be_replaced("fp", now));
        assert!(record.can_be_replaced("fp", now + claim_timeout()));
        assert!(!record.can_be_replaced("other", now + claim_timeout()));
        assert!(record.can_be_replaced("other", now + retention()));
    }
}
