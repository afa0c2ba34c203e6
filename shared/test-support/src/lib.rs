//! Test-only helpers, shared by every test of the workspace: [`api::TestApi`] to call handlers in
//! process, a `moto_server` per test on a free loopback port ([`MotoServer`], stopped when dropped,
//! so tests run in parallel without sharing state), [`XeroLocal`] likewise, doubles of DynamoDB's
//! failure modes and of the Lambda Runtime API, and process guards.
#![warn(missing_docs)]

pub mod api;
pub mod dynamo_double;
pub mod invoices;
pub mod lambda_runtime;
pub mod webhooks;
pub mod xero_double;
pub mod xero_identity_double;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use invoicing_dynamodb::{schema, DynamoStore};
use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// The region every test client uses.
pub const REGION: &str = "us-east-1";

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Removes from `command`'s environment what `cargo test` sets for the test binary itself
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...). Build scripts track some of them (ring's does),
/// so a cargo started from a test with them would rebuild ring and everything above it, and every
/// build after it outside the test would rebuild them again.
pub fn without_test_binary_env(command: &mut std::process::Command) -> &mut std::process::Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_the_test = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || matches!(
                name.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            );
        if set_for_the_test {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// A tool from the project's virtualenv (`make` creates it), else from `PATH`.
pub fn venv_tool(name: &str) -> PathBuf {
    let in_venv = workspace_root().join(".venv/bin").join(name);
    if in_venv.exists() {
        in_venv
    } else {
        PathBuf::from(name)
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port").local_addr().unwrap().port()
}

/// Waits until something accepts TCP connections on the port.
pub fn wait_for_port(port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listened on 127.0.0.1:{port} within {timeout:?}"))
}

/// A child process that is killed (with its whole process group) when dropped.
pub struct ProcessGuard {
    child: Child,
}

impl ProcessGuard {
    /// Starts the command as the leader of a new process group, so that dropping the guard also
    /// stops whatever the command started.
    pub fn spawn(command: &mut Command) -> std::io::Result<ProcessGuard> {
        use std::os::unix::process::CommandExt;
        let child = command.process_group(0).spawn()?;
        Ok(ProcessGuard { child })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (with its status).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        // SIGTERM first so that servers can stop their own children, then SIGKILL what is left.
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

fn next_table_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("invoicing-test-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// moto's server (DynamoDB, SQS and more over the real AWS protocol) on a free loopback port, run by
/// `scripts/serialized_moto.py` so that transactions stay atomic under concurrent requests.
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    _process: ProcessGuard,
}

impl MotoServer {
    /// Starts one (serialized; see scripts/serialized_moto.py).
    pub fn start() -> MotoServer {
        let binary = venv_tool("python");
        let script = workspace_root().join("scripts/serialized_moto.py");
        for _ in 0..3 {
            let port = free_port();
            let process = ProcessGuard::spawn(
                Command::new(&binary)
                    .arg(&script)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
            .unwrap_or_else(|e| panic!("start {}: {e} (run `make test`, which installs it)", binary.display()));
            if wait_for_port(port, Duration::from_secs(60)).is_ok() {
                return MotoServer { endpoint: format!("http://127.0.0.1:{port}"), _process: process };
            }
        }
        panic!("moto_server did not start");
    }

    /// An AWS SDK configuration for this server (any service client: SQS, Secrets Manager...).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        https()
            .sdk_loader()
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .load()
            .await
    }

    /// A DynamoDB client for it.
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(https().sdk_client())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// A new table with the production schema and its outbox table, and a store on them.
    pub async fn fresh_store(&self) -> DynamoStore {
        let table = next_table_name();
        let client = self.dynamodb_client();
        schema::create_table(&client, &table).await.expect("create table");
        schema::create_events_table(&client, &events_table_name(&table)).await.expect("create events table");
        DynamoStore::new(client, table.clone(), events_table_name(&table))
    }

    /// A new table, and a store whose calls go through `double` (which injects what this server
    /// cannot show: transaction conflicts, lost answers, size limits).
    pub async fn store_through(&self, double: &dynamo_double::DynamoDouble) -> DynamoStore {
        let table = next_table_name();
        schema::create_table(&self.dynamodb_client(), &table).await.expect("create table");
        schema::create_events_table(&self.dynamodb_client(), &events_table_name(&table))
            .await
            .expect("create events table");
        // Plain HTTP to the local server, as the SDK's default client would do for it.
        let inner = aws_smithy_http_client::Builder::new().build_http();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(double.http_client(inner))
            .build();
        DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table.clone(), events_table_name(&table))
    }
}

/// The outbox table that goes with a test table.
pub fn events_table_name(table: &str) -> String {
    format!("{table}-events")
}

/// The HTTPS client the functions use (`invoicing_https`), so that tests go through it too.
pub fn https() -> invoicing_https::Https {
    invoicing_https::Https::shared().expect("EXTRA_CA_CERTS, if set, names a usable file")
}

/// `xero-local` (the local Xero emulator) on a free loopback port, stopped when dropped.
pub struct XeroLocal {
    /// Its base URL (`http://127.0.0.1:<port>`): the API under `/api.xro/2.0`, tokens at
    /// `/connect/token`.
    pub base_url: String,
    _process: ProcessGuard,
}

/// A bearer token from the xero-local at `base_url` (it accepts any client credentials).
pub async fn xero_local_token(http: &reqwest::Client, base_url: &str) -> String {
    let token: serde_json::Value = http
        .post(format!("{base_url}/connect/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

impl XeroLocal {
    /// Starts it (it accepts any client credentials).
    pub fn start() -> XeroLocal {
        for _ in 0..3 {
            let port = free_port();
            let process = ProcessGuard::spawn(
                Command::new(venv_tool("xero-local"))
                    .env("XERO_HOST", "127.0.0.1")
                    .env("XERO_PORT", port.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
            .unwrap_or_else(|e| panic!("start xero-local: {e} (run `make test`, which installs it)"));
            if wait_for_port(port, Duration::from_secs(60)).is_ok() {
                return XeroLocal { base_url: format!("http://127.0.0.1:{port}"), _process: process };
            }
        }
        panic!("xero-local did not start");
    }

    /// Its token URL.
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.base_url)
    }

    /// A GET of an API path (after `/api.xro/2.0/`) in a tenant, as JSON: what the emulator stored.
    pub async fn get_json(&self, api_path: &str, tenant_id: &str) -> serde_json::Value {
        self.call(reqwest::Method::GET, api_path, tenant_id, None).await
    }

    /// A POST of `body` to an API path in a tenant, as a user of Xero would make it; its answer.
    pub async fn post_json(&self, api_path: &str, tenant_id: &str, body: &serde_json::Value) -> serde_json::Value {
        self.call(reqwest::Method::POST, api_path, tenant_id, Some(body)).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        api_path: &str,
        tenant_id: &str,
        body: Option<&serde_json::Value>,
    ) -> serde_json::Value {
        let http = reqwest::Client::new();
        let token = xero_local_token(&http, &self.base_url).await;
        let mut request = http
            .request(method, format!("{}/api.xro/2.0/{api_path}", self.base_url))
            .bearer_auth(token)
            .header("xero-tenant-id", tenant_id);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

/// An account on `store` with an operator's custom Xero connection to `tenant_id` at
/// `api_base_url` (its secret in moto's Secrets Manager, under a prefix of its own) and these sync
/// settings; answers the account id and the secrets store.
pub async fn xero_connected_account(
    moto: &MotoServer,
    store: &DynamoStore,
    api_base_url: &str,
    tenant_id: &str,
    sync: &invoicing_domain::model::xero_sync::XeroSyncSettings,
) -> (String, invoicing_secrets::SecretsStore) {
    use invoicing_domain::ports::{AccountStore, IntegrationSecrets, IntegrationSettings, XeroSyncSettingsStore};
    let account = invoicing_domain::model::account::NewAccount::generate("Xero sync", chrono::Utc::now());
    store.create_account(&account).await.unwrap();
    let account_id = account.account.id;
    let secrets = invoicing_secrets::SecretsStore::new(
        aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await),
        format!("sync-{}", uuid::Uuid::new_v4()),
    );
    let connection = invoicing_domain::model::integration::XeroSettings {
        client_id: "local-client".into(),
        tenant_id: Some(tenant_id.into()),
        api_base_url: api_base_url.into(),
        token_url: format!("{}/connect/token", api_base_url.trim_end_matches('/')),
    };
    store.set_xero_settings(&account_id, &connection).await.unwrap();
    secrets.set_xero_client_secret(&account_id, "local-secret").await.unwrap();
    store.put_xero_sync_settings(&account_id, sync, None, None).await.unwrap();
    (account_id, secrets)
}
