//! Standard Webhooks signatures: `webhook-signature: v1,<base64 of HMAC-SHA256("{id}.{timestamp}.
//! {body}")>` keyed by the endpoint's secret, which is `whsec_` and the base64 of its bytes.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::model::error::Error;

/// What every secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// The event's id, the same on every attempt (receivers use it to drop repeats).
pub const ID_HEADER: &str = "webhook-id";
/// When this attempt was made, in unix seconds (receivers refuse old ones against replays).
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// `v1,` and the signature.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// An endpoint's signing secret. It is shown once, in the answer that creates the endpoint, and
/// stored only encrypted; `Debug` never shows it, so a log line cannot carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

impl WebhookSecret {
    /// A new secret of [`SECRET_BYTES`] random bytes.
    pub fn generate() -> WebhookSecret {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        WebhookSecret(bytes)
    }

    /// A secret as written (`whsec_` and standard base64 of 24 to 64 bytes).
    pub fn parse(text: &str) -> Result<WebhookSecret, Error> {
        let refused =
            || Error::validation(format!("secret: expected {SECRET_PREFIX} and the base64 of 24 to 64 bytes"));
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or_else(refused)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| refused())?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(refused());
        }
        Ok(WebhookSecret(bytes))
    }

    /// The secret as written: to show once, and to hand to the encryption that stores it.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three headers of one attempt: the event's id (the same on every attempt), the time of
    /// this attempt in unix seconds, and the signature over both and the body.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            (ID_HEADER, id.to_string()),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, self.sign(id, timestamp, body)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests (and Svix's documentation).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_reference_example_signs_to_its_published_signature() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
    }

    #[test]
    fn the_signature_covers_id_timestamp_and_body() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_ne!(secret.sign("msg_other", TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        assert_ne!(secret.sign(ID, TIMESTAMP + 1, BODY.as_bytes()), SIGNATURE);
        assert_ne!(secret.sign(ID, TIMESTAMP, br#"{"test": 2432232315}"#), SIGNATURE);
    }

    #[test]
    fn headers_carry_the_id_the_timestamp_and_the_signature() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let headers = secret.headers(ID, TIMESTAMP, BODY.as_bytes());
        assert_eq!(
            headers,
            [
                ("webhook-id", ID.to_string()),
                ("webhook-timestamp", "1614265330".to_string()),
                ("webhook-signature", SIGNATURE.to_string()),
            ]
        );
    }

    #[test]
    fn a_new_secret_is_random_and_reads_back_as_written() {
        let secret = WebhookSecret::generate();
        let written = secret.expose();
        assert!(written.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&written[6..]).unwrap().len(), SECRET_BYTES);
        assert_eq!(WebhookSecret::parse(&written).unwrap(), secret);
        assert_ne!(WebhookSecret::generate(), secret);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(redacted)");
    }

    #[test]
    fn malformed_secrets_are_refused() {
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        for text in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", short.as_str(), long.as_str()] {
            assert_eq!(
                WebhookSecret::parse(text).unwrap_err().public_message(),
                "secret: expected whsec_ and the base64 of 24 to 64 bytes",
                "{text}"
            );
        }
    }
}
