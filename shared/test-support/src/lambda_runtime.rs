//! A double of the Lambda Runtime API (`/2018-06-01/runtime/...`): it hands a function binary one
//! event and takes its answer, so that a test can run the real `bootstrap` as Lambda would.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use wiremock::{
    matchers::{method, path, path_regex},
    Mock, MockServer, ResponseTemplate,
};

/// The request id of the event served.
pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// The Runtime API double (see the module documentation).
pub struct LambdaRuntime {
    server: MockServer,
}

impl LambdaRuntime {
    /// Serves `event` to the first `next` call; later calls wait (the test stops the function).
    pub async fn start(event: &serde_json::Value) -> LambdaRuntime {
        let server = MockServer::start().await;
        let deadline_ms = (std::time::SystemTime::now() + Duration::from_secs(300))
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        Mock::given(method("GET"))
            .and(path("/2018-06-01/runtime/invocation/next"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("Lambda-Runtime-Aws-Request-Id", REQUEST_ID)
                    .insert_header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string().as_str())
                    .insert_header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:test",
                    )
                    .set_body_json(event),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/2018-06-01/runtime/invocation/next"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
            .with_priority(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/2018-06-01/runtime/(invocation/[^/]+/(response|error)|init/error)$"))
            .respond_with(ResponseTemplate::new(202))
            .mount(&server)
            .await;
        LambdaRuntime { server }
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// The function's answer to the event (its JSON), once it arrives.
    pub async fn answer(&self, timeout: Duration) -> Result<serde_json::Value, String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let requests = self.server.received_requests().await.unwrap_or_default();
            if let Some(posted) = requests.iter().find(|r| r.method.as_str() == "POST") {
                if posted.url.path().ends_with("/response") {
                    return serde_json::from_slice(&posted.body).map_err(|e| e.to_string());
                }
                return Err(format!("the function reported an error: {}", String::from_utf8_lossy(&posted.body)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("no answer from the function".into())
    }

    /// A command that runs `binary` against this runtime, with Lambda's environment.
    pub fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", self.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .stdin(Stdio::null());
        command
    }
}
