//! The local stack for end-to-end tests: a moto_server and `cargo lambda watch` serving every
//! function with the deployed routes, both on free loopback ports, both stopped on drop.

use chrono::Utc;
use invoicing_domain::{account::NewAccount, ports::AccountStore};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::{free_port, venv_tool, wait_for_port, workspace_root, MotoServer, ProcessGuard};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

/// The functions `cargo lambda watch` serves in these tests.
pub const FUNCTIONS: &[&str] = &[
    "create-invoice",
    "get-invoice",
    "list-invoices",
    "calculate-invoice-totals",
    "add-line-item",
    "update-line-item",
    "remove-line-item",
    "list-line-items",
    "create-line-item-group",
    "finalize-invoice",
    "send-invoice",
    "void-invoice",
    "reconcile-invoice-payments",
    "unreconcile-invoice-payments",
    "get-invoice-aggregate",
];

pub struct Stack {
    pub base_url: String,
    pub api_port: u16,
    pub store: DynamoStore,
    /// Two accounts, to check that neither sees the other's data.
    pub acme: NewAccount,
    pub globex: NewAccount,
    /// The account whose API key the `events/` files carry.
    pub events_account: NewAccount,
    pub http: reqwest::Client,
    pub log: PathBuf,
    // Dropped first: the functions stop before the store they use.
    _watch: ProcessGuard,
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
        let (acme, globex, events_account) = runtime.block_on(async {
            let acme = NewAccount::generate("Acme", Utc::now());
            let globex = NewAccount::generate("Globex", Utc::now());
            let events = NewAccount::generate("Events", Utc::now()).with_api_key(&events_api_key()).unwrap();
            for account in [&acme, &globex, &events] {
                store.create_account(account).await.unwrap();
            }
            (acme, globex, events)
        });

        let run_dir = root.join("target/e2e").join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(&run_dir).unwrap();
        let env_file = run_dir.join("stack.env");
        std::fs::write(
            &env_file,
            format!(
                "AWS_ENDPOINT_URL={}\nAWS_REGION=us-east-1\nAWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\nTABLE_NAME={}\nRUST_LOG=info\n",
                moto.endpoint,
                store.table()
            ),
        )
        .unwrap();

        // Build first, so that the watcher starts functions instead of compiling them on the first request.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(&cargo);
        build.arg("build").current_dir(&root);
        for function in FUNCTIONS {
            build.args(["-p", function]);
        }
        assert!(build.status().expect("run cargo build").success(), "cargo build of the functions failed");

        let api_port = free_port();
        let log = run_dir.join("cargo-lambda-watch.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let path = format!("{}:{}", root.join(".venv/bin").display(), std::env::var("PATH").unwrap_or_default());
        let watch = ProcessGuard::spawn(
            Command::new(venv_tool("cargo-lambda"))
                .args(["lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &api_port.to_string()])
                .arg("--env-file")
                .arg(&env_file)
                .current_dir(&root)
                .env("PATH", path)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file),
        )
        .expect("start cargo lambda watch (run `make test`, which installs it)");
        wait_for_port(api_port, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}; see {}", log.display()));

        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let stack = Stack {
            base_url: format!("http://127.0.0.1:{api_port}"),
            api_port,
            store,
            acme,
            globex,
            events_account,
            http,
            log,
            _watch: watch,
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
