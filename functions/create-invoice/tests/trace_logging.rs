//! `RUST_LOG=trace` must not put credentials or bodies in the logs: the real binary, run against
//! a Lambda Runtime API double and moto_server, at trace level, with Basic credentials, an API key
//! and a body it must not repeat.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use invoicing_domain::{model::account::NewAccount, ports::AccountStore};
use invoicing_test_support::{lambda_runtime::LambdaRuntime, workspace_root, MotoServer, ProcessGuard};
use std::time::Duration;

#[tokio::test]
async fn a_trace_level_run_logs_no_credential_and_no_body() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let account = NewAccount::generate("Acme", Utc::now());
    store.create_account(&account).await.unwrap();

    let basic = STANDARD.encode(format!("{}:{}", account.issued.client_id, account.issued.client_secret));
    let marker = "Body-Marker-7f3a9c-Confidential-Memo";
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace_root().join("events/create-invoice.json")).unwrap()).unwrap();
    event["headers"]["authorization"] = format!("Basic {basic}").into();
    event["headers"]["x-api-key"] = account.issued.api_key.clone().into();
    event["body"] = serde_json::json!({"currency": "GBP", "customerId": "c-1", "memo": marker}).to_string().into();

    let runtime = LambdaRuntime::start(&event).await;
    let logs = tempfile_path("trace-logging");
    let log_file = std::fs::File::create(&logs).unwrap();
    let mut command = runtime.command(std::path::Path::new(env!("CARGO_BIN_EXE_create-invoice")));
    command
        .env("RUST_LOG", "trace")
        .env("TABLE_NAME", store.table())
        .env("EVENTS_TABLE_NAME", store.events_table())
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    let function = ProcessGuard::spawn(&mut command).expect("start the function");
    let answer = runtime.answer(Duration::from_secs(60)).await;
    drop(function);
    let answer = answer.unwrap();
    assert_eq!(answer["statusCode"], 201, "{answer}");
    assert!(answer["body"].as_str().unwrap().contains(marker), "the answer itself carries the memo");

    let logged = std::fs::read_to_string(&logs).unwrap();
    assert!(logged.contains("request served"), "the run logged: {logged}");
    let (_, key_secret) = account.issued.api_key.split_once('.').unwrap();
    for secret in [basic.as_str(), account.issued.client_secret.as_str(), key_secret, marker, "raw JSON event"] {
        assert!(!logged.contains(secret), "`{secret}` is in the logs:\n{logged}");
    }
    std::fs::remove_file(&logs).ok();
}

fn tempfile_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{name}-{}-{}.log", std::process::id(), uuid::Uuid::new_v4()))
}
