//! Webhook endpoints made and stored directly, for the tests of the routes and the adapter, a
//! local receiver of deliveries, and the outbox read back from its table.

use chrono::{SubsecRound, Utc};
use invoicing_domain::{
    model::webhooks::{EndpointStatus, EventSelection, WebhookEndpoint},
    ports::WebhookEndpoints,
};
use invoicing_dynamodb::outbox::OutboxRecord;

/// An endpoint of `account_id` in `status` (a disabled one failing since now) for
/// `https://hooks.example.com/in`, every event, described "books"; not stored.
pub fn new_endpoint(account_id: &str, status: EndpointStatus) -> WebhookEndpoint {
    // A millisecond apart, so that ids sort in creation order.
    std::thread::sleep(std::time::Duration::from_millis(2));
    let now = Utc::now().trunc_subsecs(3);
    WebhookEndpoint {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account_id.into(),
        url: "https://hooks.example.com/in".into(),
        events: EventSelection::Every,
        description: Some("books".into()),
        status,
        created_at: now,
        updated_at: now,
        failing_since: (status == EndpointStatus::Disabled).then_some(now),
    }
}

/// [`new_endpoint`], stored.
pub async fn stored_endpoint(
    store: &impl WebhookEndpoints,
    account_id: &str,
    status: EndpointStatus,
) -> WebhookEndpoint {
    let endpoint = new_endpoint(account_id, status);
    store.insert_webhook_endpoint(&endpoint, None).await.expect("store a webhook endpoint");
    endpoint
}

/// `scripts/webhook_receiver.py` on a free loopback port: it verifies every delivery with the
/// `standardwebhooks` package and writes each verified event as a JSON line. Stopped when dropped.
pub struct WebhookReceiver {
    /// Where it receives (`http://127.0.0.1:<port>/hooks`).
    pub url: String,
    output: std::path::PathBuf,
    _process: crate::ProcessGuard,
}

impl WebhookReceiver {
    /// Starts one for `secret` (`whsec_...`) that answers 500 to the first `fail_first` attempts
    /// of each event.
    pub fn start(secret: &str, fail_first: u32) -> WebhookReceiver {
        let port = crate::free_port();
        let output = std::env::temp_dir().join(format!("webhook-receiver-{}-{port}.jsonl", std::process::id()));
        let file = std::fs::File::create(&output).expect("the receiver's output file");
        let process = crate::ProcessGuard::spawn(
            std::process::Command::new(crate::venv_tool("python"))
                .arg(crate::workspace_root().join("scripts/webhook_receiver.py"))
                .args(["--secret", secret, "--port", &port.to_string(), "--fail-first", &fail_first.to_string()])
                .stdin(std::process::Stdio::null())
                .stdout(file)
                .stderr(std::process::Stdio::null()),
        )
        .expect("start scripts/webhook_receiver.py (run `make test`, which installs its package)");
        crate::wait_for_port(port, std::time::Duration::from_secs(30)).expect("the webhook receiver listens");
        WebhookReceiver { url: format!("http://127.0.0.1:{port}/hooks"), output, _process: process }
    }

    /// The verified deliveries so far, in order: `{"attempt", "webhook-id", "event"}`.
    pub fn verified(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.output)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.starts_with('{'))
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.output);
    }
}

/// The account's events in the store's outbox table, oldest first, read directly from the table.
pub async fn outbox_events(store: &invoicing_dynamodb::DynamoStore, account_id: &str) -> Vec<OutboxRecord> {
    let output = store
        .client()
        .query()
        .table_name(store.events_table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{account_id}")))
        .consistent_read(true)
        .send()
        .await
        .expect("query the outbox table");
    output
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).expect("an outbox record"))
        .collect()
}
