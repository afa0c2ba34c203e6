//! Xero's webhooks (SPEC.md section 9, pull): `x-xero-signature` is the base64 of HMAC-SHA256 of
//! the raw body keyed by the app's webhook key, and the body lists events by organisation. An
//! "intent to receive" check is a signed body with no events; a badly signed one must get 401.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-xero-signature";

/// The signature Xero sends for `body` under `key`.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` (the header as received) is Xero's for `body`, compared in constant time.
pub fn verify(key: &str, body: &[u8], signature: &str) -> bool {
    let expected = sign(key, body);
    expected.as_bytes().ct_eq(signature.trim().as_bytes()).into()
}

/// A webhook's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroWebhook {
    /// The events; none in an intent-to-receive check.
    #[serde(default)]
    pub events: Vec<XeroEvent>,
    /// Xero's sequence numbers of the first and last event (not needed to apply them).
    #[serde(default)]
    pub first_event_sequence: Option<i64>,
    /// See `first_event_sequence`.
    #[serde(default)]
    pub last_event_sequence: Option<i64>,
}

/// One event: a resource of an organisation changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroEvent {
    /// Where to read the resource.
    #[serde(default)]
    pub resource_url: Option<String>,
    /// The resource's id (an InvoiceID for INVOICE events).
    pub resource_id: String,
    /// When it happened (Xero writes UTC without an offset).
    #[serde(deserialize_with = "utc_without_offset")]
    pub event_date_utc: DateTime<Utc>,
    /// `CREATE` or `UPDATE`.
    pub event_type: String,
    /// `INVOICE`, `CONTACT`, `SUBSCRIPTION`...
    pub event_category: String,
    /// The organisation (finds the account that pulls its payments).
    pub tenant_id: String,
    /// `ORGANISATION`.
    #[serde(default)]
    pub tenant_type: Option<String>,
}

/// Xero's `2026-11-26T10:00:00.000` (UTC, no offset), or RFC 3339 with one.
fn utc_without_offset<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .map_err(|_| serde::de::Error::custom(format!("eventDateUtc: not a date and time: {text}")))
}

impl XeroEvent {
    /// An invoice changed: its payments may have.
    pub fn is_invoice(&self) -> bool {
        self.event_category == "INVOICE"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "test-webhook-key";

    #[test]
    fn a_signature_verifies_only_its_own_body_and_key() {
        let body = br#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}"#;
        let signature = sign(KEY, body);
        assert_eq!(signature.len(), 44, "base64 of 32 bytes");
        assert!(verify(KEY, body, &signature));
        assert!(verify(KEY, body, &format!(" {signature}\n")), "surrounding whitespace of a header");
        assert!(!verify("another-key", body, &signature));
        assert!(!verify(KEY, &body[1..], &signature));
        assert!(!verify(KEY, body, ""));
        assert!(!verify(KEY, body, &signature[..43]));
    }

    #[test]
    fn a_known_vector_matches_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(sign("Jefe", b"what do ya want for nothing?"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }

    #[test]
    fn events_parse_from_xero_shapes() {
        let body = r#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/9c1d","resourceId":"9c1d",
            "eventDateUtc":"2026-11-26T10:00:00.000","eventType":"UPDATE","eventCategory":"INVOICE",
            "tenantId":"t-1","tenantType":"ORGANISATION"}],"firstEventSequence":7,"lastEventSequence":7,"entropy":"x"}"#;
        let webhook: XeroWebhook = serde_json::from_str(body).unwrap();
        assert_eq!(webhook.events.len(), 1);
        let event = &webhook.events[0];
        assert!(event.is_invoice());
        assert_eq!((event.resource_id.as_str(), event.tenant_id.as_str()), ("9c1d", "t-1"));
        assert_eq!(event.event_date_utc.to_rfc3339(), "2026-11-26T10:00:00+00:00");
        let intent: XeroWebhook = serde_json::from_str(r#"{"events":[],"entropy":"x"}"#).unwrap();
        assert!(intent.events.is_empty());
    }
}
