//! The local stack for end-to-end tests (moto_server, xero-local, every function behind
//! `cargo lambda watch` with the deployed routes, the local SQS trigger), on free loopback ports
//! and stopped on drop, and the helpers the scenarios share.

use chrono::Utc;
use invoicing_domain::{
    model::account::NewAccount,
    model::integration::XeroSettings,
    ports::{AccountStore, IntegrationSecrets, IntegrationSettings},
};
use invoicing_dynamodb::DynamoStore;
use invoicing_secrets::SecretsStore;
use invoicing_test_support::{
    free_port, venv_tool, wait_for_port, without_test_binary_env, workspace_root, MotoServer, ProcessGuard, XeroLocal,
};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

/// Every function of the workspace: the folders under `functions/` (the one list of functions;
/// tests/routes_agree.py checks the rest against it).
pub fn functions() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("functions"))
        .expect("the functions folder")
        .filter_map(|entry| entry.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// The local Xero client secret every connected test account uses.
const XERO_SECRET: &str = "e2e-xero-secret";
/// The service's Xero app (customers' OAuth connections).
pub const XERO_APP_CLIENT_ID: &str = "e2e-service-app";
const XERO_APP_SECRET: &str = "e2e-service-app-secret";
/// The Xero app's webhook key: Xero signs its webhooks with it, so tests sign theirs with it. The
/// development key, which `events/receive-xero-webhooks.json` is signed with.
pub const XERO_WEBHOOK_KEY: &str = "events-webhook-key";

pub struct Stack {
    pub base_url: String,
    pub api_port: u16,
    pub store: DynamoStore,
    /// Two accounts, to check that neither sees the other's data.
    pub acme: NewAccount,
    pub globex: NewAccount,
    /// The account whose API key the `events/` files carry.
    pub events_account: NewAccount,
    /// An account of its own for reconciling every invoice (an empty `invoiceIds`).
    pub initech: NewAccount,
    /// `xero-local`'s base URL.
    pub xero_url: String,
    /// Where the functions keep secrets in moto's Secrets Manager.
    pub secrets_prefix: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    pub http: reqwest::Client,
    pub log: PathBuf,
    // Dropped first: the trigger and the functions stop before what they use.
    _triggers: Vec<ProcessGuard>,
    _watch: ProcessGuard,
    _xero: XeroLocal,
    pub moto: MotoServer,
}

/// The API key written in the `events/` files.
pub fn events_api_key() -> String {
    let event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace_root().join("events/create-invoice.json")).unwrap()).unwrap();
    event["headers"]["x-api-key"].as_str().unwrap().to_string()
}

impl Stack {
    pub fn start(runtime: &tokio::runtime::Runtime) -> Stack {
        let root = workspace_root();
        let moto = MotoServer::start();
        let store = runtime.block_on(moto.fresh_store());
        let xero = XeroLocal::start();
        let xero_url = xero.base_url.clone();
        let secrets_prefix = format!("invoicing-e2e-{}", std::process::id());

        let (
            acme,
            globex,
            events_account,
            initech,
            (queue_url, dead_letter_queue_url),
            (delivery_queue_url, _),
            push,
            pull,
        ) = runtime.block_on(async {
            let acme = NewAccount::generate("Acme", Utc::now());
            let globex = NewAccount::generate("Globex", Utc::now());
            let events = NewAccount::generate("Events", Utc::now()).with_api_key(&events_api_key()).unwrap();
            let initech = NewAccount::generate("Initech", Utc::now());
            for account in [&acme, &globex, &events, &initech] {
                store.create_account(account).await.unwrap();
            }
            // Globex stays without a Xero connection.
            let config = moto.sdk_config().await;
            let secrets = SecretsStore::new(aws_sdk_secretsmanager_client(&config), &secrets_prefix);
            for account in [&acme, &events, &initech] {
                connect_custom(&store, &secrets, &xero_url, account).await;
            }
            // The service's own Xero app, for customers' OAuth connections (xero-local accepts any secret).
            secrets.set_xero_app_client_secret(XERO_APP_SECRET).await.unwrap();
            let deliveries = create_queue(&config, "webhook-deliveries-e2e").await;
            let pushes = create_queue(&config, "xero-pushes-e2e").await;
            let pulls = create_queue(&config, "xero-pulls-e2e").await;
            // The key Xero's webhooks are signed with (tests sign theirs with it).
            secrets.set_xero_webhook_key(XERO_WEBHOOK_KEY).await.unwrap();
            let reconcile = create_queue(&config, "reconcile-e2e").await;
            (acme, globex, events, initech, reconcile, deliveries, pushes, pulls)
        });

        let api_port = free_port();
        let run_dir = root.join("target/e2e").join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(&run_dir).unwrap();
        let env_file = run_dir.join("stack.env");
        std::fs::write(
            &env_file,
            format!(
                "AWS_ENDPOINT_URL={}\nAWS_REGION=us-east-1\nAWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\nTABLE_NAME={}\n\
                 EVENTS_TABLE_NAME={}\nQUEUE_URL={queue_url}\nDELIVERY_QUEUE_URL={delivery_queue_url}\nPUSH_QUEUE_URL={push_queue_url}\nPULL_QUEUE_URL={pull_queue_url}\nSECRETS_PREFIX={secrets_prefix}\nMAX_RECEIVE_COUNT=5\nRUST_LOG=info\n\
                 XERO_CLIENT_ID={XERO_APP_CLIENT_ID}\nXERO_AUTHORIZE_URL={xero_url}/identity/connect/authorize\n\
                 XERO_TOKEN_URL={xero_url}/connect/token\nXERO_CONNECTIONS_URL={xero_url}/connections\n\
                 XERO_REVOCATION_URL={xero_url}/connect/revocation\nXERO_API_BASE_URL={xero_url}\n\
                 XERO_REDIRECT_URI=http://127.0.0.1:{api_port}/integrations/xero/callback\n\
                 ALLOW_LOCAL_WEBHOOK_TARGETS=true\n",
                moto.endpoint,
                store.table(),
                store.events_table(),
                push_queue_url = push.0,
                pull_queue_url = pull.0,
            ),
        )
        .unwrap();

        // Build first, so that the watcher starts functions instead of compiling them on the first request.
        // With the whole workspace selected, as the watcher's `cargo run --bin <function>` selects it:
        // `-p <function>` would resolve other features (no invoicing-test-support in the graph) and
        // the watcher would compile every function again (docs/performance.md, "make test: where
        // the time goes").
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(&cargo);
        without_test_binary_env(&mut build).args(["build", "--workspace"]).current_dir(&root);
        for function in functions() {
            build.args(["--bin", &function]);
        }
        assert!(build.status().expect("run cargo build").success(), "cargo build of the functions failed");

        let log = run_dir.join("cargo-lambda-watch.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let path = format!("{}:{}", root.join(".venv/bin").display(), std::env::var("PATH").unwrap_or_default());
        // The watcher watches its working directory once per function it starts: an empty one, so
        // that the inotify watches stay far below the kernel's limit (scripts/local-stack.sh says why).
        let watch_dir = root.join("target/lambda-watch-root");
        std::fs::create_dir_all(&watch_dir).unwrap();
        let watch = ProcessGuard::spawn(
            without_test_binary_env(&mut Command::new(venv_tool("cargo-lambda")))
                .args(["lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1"])
                .arg("--manifest-path")
                .arg(root.join("Cargo.toml"))
                .args(["--invoke-port", &api_port.to_string()])
                .arg("--env-file")
                .arg(&env_file)
                .current_dir(&watch_dir)
                .env("PATH", path)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file),
        )
        .expect("start cargo lambda watch (run `make test`, which installs it)");
        wait_for_port(api_port, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}; see {}", log.display()));

        // The local stand-ins for Lambda's event source mappings: the reconcile queue, the outbox
        // table's stream, the delivery queue and the Xero push and pull queues.
        let invoke_url = format!("http://127.0.0.1:{api_port}");
        let trigger = |log_name: &str, script: &str, args: &[&str]| {
            let log = std::fs::File::create(run_dir.join(log_name)).unwrap();
            ProcessGuard::spawn(
                Command::new(venv_tool("python"))
                    .arg(root.join("scripts").join(script))
                    .args(args)
                    .args(["--invoke-url", &invoke_url])
                    .env("AWS_ENDPOINT_URL", &moto.endpoint)
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log),
            )
            .unwrap_or_else(|e| panic!("start {script}: {e}"))
        };
        let triggers = vec![
            trigger(
                "sqs-trigger.log",
                "sqs_trigger.py",
                &["--queue-url", &queue_url, "--function", "reconcile-worker"],
            ),
            trigger(
                "stream-trigger.log",
                "dynamodb_stream_trigger.py",
                &["--table", store.events_table(), "--function", "relay-webhook-events"],
            ),
            trigger(
                "delivery-trigger.log",
                "sqs_trigger.py",
                &["--queue-url", &delivery_queue_url, "--function", "deliver-webhooks"],
            ),
            trigger("push-trigger.log", "sqs_trigger.py", &["--queue-url", &push.0, "--function", "push-to-xero"]),
            trigger("pull-trigger.log", "sqs_trigger.py", &["--queue-url", &pull.0, "--function", "pull-from-xero"]),
        ];

        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let stack = Stack {
            base_url: format!("http://127.0.0.1:{api_port}"),
            api_port,
            store,
            acme,
            globex,
            events_account,
            initech,
            xero_url,
            secrets_prefix,
            queue_url,
            dead_letter_queue_url,
            http,
            log,
            _triggers: triggers,
            _watch: watch,
            _xero: xero,
            moto,
        };
        // The first request to each function starts it; do that before any test measures anything.
        runtime.block_on(async {
            for path in ["/invoices", "/invoices/00000000-0000-7000-8000-000000000000"] {
                stack.http.get(stack.url(path)).send().await.expect("warm up");
            }
            stack.http.post(stack.url("/invoices")).send().await.expect("warm up");
        });
        stack
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A request with an account's Basic credentials.
    pub fn as_account(&self, account: &NewAccount, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth(&account.issued.client_id, Some(&account.issued.client_secret))
    }

    /// A POST with an account's Basic credentials and a JSON body: its status, headers and JSON.
    pub async fn post_json(
        &self,
        account: &NewAccount,
        path: &str,
        body: &serde_json::Value,
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
        json_of(self.as_account(account, reqwest::Method::POST, path).json(body).send().await.expect("the request"))
            .await
    }

    /// A new DRAFT invoice of an account: its Sequence JSON.
    pub async fn create_invoice(&self, account: &NewAccount, body: serde_json::Value) -> serde_json::Value {
        let (status, _, invoice) = self.post_json(account, "/invoices", &body).await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{invoice}");
        invoice
    }

    /// How many invoices the account has in DynamoDB, counted directly in the table.
    pub async fn stored_invoice_count(&self, account: &NewAccount) -> i32 {
        use aws_sdk_dynamodb::types::AttributeValue;
        let output = self
            .moto
            .dynamodb_client()
            .query()
            .table_name(self.store.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :invoice)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ACCOUNT#{}", account.account.id)))
            .expression_attribute_values(":invoice", AttributeValue::S("INVOICE#".into()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        output.count
    }

    /// `cargo lambda invoke --data-file <event>` against this stack's watcher.
    pub fn invoke_event(&self, function: &str, event_file: &str) -> serde_json::Value {
        let root = workspace_root();
        let output = Command::new(venv_tool("cargo-lambda"))
            .args(["lambda", "invoke", function, "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.api_port.to_string(), "--output-format", "json", "--data-file"])
            .arg(root.join("events").join(event_file))
            .current_dir(&root)
            .output()
            .expect("run cargo lambda invoke");
        assert!(
            output.status.success(),
            "cargo lambda invoke {function} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("invoke prints the function's JSON answer")
    }
}

/// An operator's custom Xero connection to an organisation of the account's own (its id as the
/// tenant), as in real life, on xero-local.
async fn connect_custom(store: &DynamoStore, secrets: &SecretsStore, xero_url: &str, account: &NewAccount) {
    let settings = XeroSettings {
        client_id: "e2e-client".into(),
        tenant_id: Some(account.account.id.clone()),
        api_base_url: xero_url.to_string(),
        token_url: format!("{xero_url}/connect/token"),
    };
    store.set_xero_settings(&account.account.id, &settings).await.unwrap();
    secrets.set_xero_client_secret(&account.account.id, XERO_SECRET).await.unwrap();
}

fn aws_sdk_secretsmanager_client(config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// The reconcile queue with its dead-letter queue (five deliveries), as template.yaml has them,
/// with a short visibility timeout so that retries come back within seconds. Answers both URLs.
/// A queue and its dead-letter queue (five receives), as template.yaml has them: (queue, DLQ).
async fn create_queue(config: &aws_config::SdkConfig, name: &str) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(config);
    let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap();
    let redrive = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": 5}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (queue, dlq)
}

impl Stack {
    /// A new account with an operator's custom Xero connection to a tenant of its own (its id).
    pub async fn custom_connected_account(&self, name: &str) -> NewAccount {
        let account = NewAccount::generate(name, Utc::now());
        self.store.create_account(&account).await.unwrap();
        let config = self.moto.sdk_config().await;
        let secrets = SecretsStore::new(aws_sdk_secretsmanager_client(&config), &self.secrets_prefix);
        connect_custom(&self.store, &secrets, &self.xero_url, &account).await;
        account
    }

    /// The account's Xero connection item in the table, as text (to check what it holds).
    pub async fn connection_item(&self, account: &NewAccount) -> String {
        use aws_sdk_dynamodb::types::AttributeValue;
        let item = self
            .moto
            .dynamodb_client()
            .get_item()
            .table_name(self.store.table())
            .key("pk", AttributeValue::S(format!("ACCOUNT#{}", account.account.id)))
            .key("sk", AttributeValue::S("XERO#CONNECTION".into()))
            .send()
            .await
            .unwrap()
            .item
            .expect("a connection item");
        format!("{item:?}")
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.moto.sdk_config().await)
    }
}

impl Stack {
    /// A bearer token from xero-local (it accepts any credentials).
    pub async fn xero_token(&self) -> String {
        invoicing_test_support::xero_local_token(&self.http, &self.xero_url).await
    }

    /// Creates invoices in an account's Xero organisation in xero-local: (number, status) pairs;
    /// answers their Xero ids.
    pub async fn create_in_xero(&self, account: &NewAccount, invoices: &[(&str, &str)]) -> Vec<String> {
        let sales: Vec<(&str, &str, &str)> =
            invoices.iter().map(|&(number, status)| ("ACCREC", number, status)).collect();
        self.create_documents_in_xero(account, &sales).await
    }

    /// A new account with a custom Xero connection to an organisation of its own on xero-local
    /// (its id as the tenant), for a scenario that changes the account's settings.
    pub async fn connected_account(&self, name: &str) -> NewAccount {
        let account = NewAccount::generate(name, Utc::now());
        self.store.create_account(&account).await.unwrap();
        let secrets =
            SecretsStore::new(aws_sdk_secretsmanager_client(&self.moto.sdk_config().await), &self.secrets_prefix);
        connect_custom(&self.store, &secrets, &self.xero_url, &account).await;
        account
    }

    /// A GET of xero-local's API (the path after `/api.xro/2.0/`) in one organisation, as JSON.
    pub async fn xero_get(&self, tenant_id: &str, api_path: &str) -> serde_json::Value {
        self.http
            .get(format!("{}/api.xro/2.0/{api_path}", self.xero_url))
            .bearer_auth(self.xero_token().await)
            .header("xero-tenant-id", tenant_id)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Creates documents of any `Type` (ACCREC sales invoices, ACCPAY bills) in an account's Xero
    /// organisation in xero-local; answers their InvoiceIDs.
    pub async fn create_documents_in_xero(
        &self,
        account: &NewAccount,
        documents: &[(&str, &str, &str)],
    ) -> Vec<String> {
        self.create_documents_in_tenant(&account.account.id, documents).await
    }

    /// Creates documents in one Xero organisation (tenant) of xero-local; answers their InvoiceIDs.
    pub async fn create_documents_in_tenant(&self, tenant_id: &str, documents: &[(&str, &str, &str)]) -> Vec<String> {
        let body = serde_json::json!({"Invoices": documents.iter().map(|(kind, number, status)| serde_json::json!({
            "Type": kind, "InvoiceNumber": number, "Status": status, "Contact": {"Name": "Acme"},
            "LineItems": [{"Description": "Services", "Quantity": 1, "UnitAmount": 100}]
        })).collect::<Vec<_>>()});
        let created: serde_json::Value = self
            .http
            .post(format!("{}/api.xro/2.0/Invoices", self.xero_url))
            .bearer_auth(self.xero_token().await)
            .header("xero-tenant-id", tenant_id)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["Invoices"].as_array().unwrap().iter().map(|i| i["InvoiceID"].as_str().unwrap().to_string()).collect()
    }

    /// Changes an invoice in an account's Xero organisation in xero-local.
    pub async fn update_in_xero(&self, account: &NewAccount, xero_id: &str, changes: serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/api.xro/2.0/Invoices/{xero_id}", self.xero_url))
            .bearer_auth(self.xero_token().await)
            .header("xero-tenant-id", &account.account.id)
            .json(&serde_json::json!({"Invoices": [changes]}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "xero-local update: {}", response.status());
    }
}
/// An answer's status, headers and JSON body.
pub async fn json_of(
    response: reqwest::Response,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<serde_json::Value>().await.expect("a JSON body");
    (status, headers, body)
}
/// A value unique to this moment, for names that must not collide between runs.
pub fn uuid_like() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}
