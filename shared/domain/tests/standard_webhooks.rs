//! Our signatures verify with the `standardwebhooks` Python package (the specification's reference
//! library, pinned in requirements-dev.txt), and a changed body does not.

use std::io::Write;
use std::process::{Command, Stdio};

use invoicing_domain::model::webhooks::signature::WebhookSecret;
use invoicing_domain::model::webhooks::{Event, EventType};
use serde_json::json;

/// Verifies each JSON line `{"secret", "body", "headers"}` from stdin; prints one line per
/// message: "verified" or the library's error.
const VERIFIER: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
for line in sys.stdin:
    message = json.loads(line)
    try:
        Webhook(message["secret"]).verify(message["body"], message["headers"])
        print("verified")
    except Exception as error:
        print(f"{type(error).__name__}: {error}")
"#;

/// The project's Python (`make` creates `.venv` with the pinned tools).
fn python() -> String {
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
    assert!(std::path::Path::new(venv).exists(), "{venv} is missing: run `make test`, which installs it");
    venv.to_string()
}

fn verify_in_python(messages: &[serde_json::Value]) -> Vec<String> {
    let mut child = Command::new(python())
        .args(["-c", VERIFIER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    let mut stdin = child.stdin.take().unwrap();
    for message in messages {
        writeln!(stdin, "{message}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the verifier failed");
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn every_delivery_we_sign_verifies_with_the_reference_library_and_a_changed_body_does_not() {
    let now = chrono::Utc::now();
    let mut messages = Vec::new();
    for (index, event_type) in EventType::ALL.into_iter().cycle().take(30).enumerate() {
        let secret = WebhookSecret::generate();
        let event = Event::new(
            event_type,
            now,
            json!({"invoice": {"id": format!("inv-{index}"), "memo": "café ☕ \"quoted\""}}),
        );
        let body = event.body();
        let headers: serde_json::Map<String, serde_json::Value> = secret
            .headers(&event.id, now.timestamp(), body.as_bytes())
            .into_iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        messages.push(json!({"secret": secret.expose(), "body": body, "headers": headers}));
    }
    let mut tampered = messages[0].clone();
    tampered["body"] = json!(tampered["body"].as_str().unwrap().replace("inv-0", "inv-9"));
    messages.push(tampered);

    let results = verify_in_python(&messages);
    assert_eq!(results.len(), 31);
    assert!(results[..30].iter().all(|r| r == "verified"), "{results:?}");
    assert_eq!(results[30], "WebhookVerificationError: No matching signature found");
}
