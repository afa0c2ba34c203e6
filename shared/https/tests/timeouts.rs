//! AWS calls do not wait forever: an attempt that gets no answer is abandoned and retried on a new
//! connection, and the call fails once its operation timeout passes. Shown against a loopback
//! server that reads requests and answers only those it is told to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::SdkError;
use invoicing_https::{Https, SdkTimeouts, SDK_TIMEOUTS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ANSWER: &str = r#"{"TableNames":["answered"]}"#;

/// A plain-HTTP server on a free loopback port that leaves the first `silent` requests without an
/// answer (their connections stay open) and answers the rest with [`ANSWER`]; its port and the
/// number of requests it has read.
async fn server_silent_for(silent: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                if counter.fetch_add(1, Ordering::SeqCst) < silent {
                    // Hold the connection open without a word, as a stalled peer does.
                    let _ = tcp.read(&mut buffer).await;
                    std::future::pending::<()>().await;
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{ANSWER}",
                    ANSWER.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, requests)
}

/// A DynamoDB client through the shared HTTPS client's SDK loader, with `timeouts`.
async fn dynamodb(port: u16, timeouts: SdkTimeouts) -> aws_sdk_dynamodb::Client {
    let config = Https::trusting(None)
        .sdk_loader()
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .timeout_config(timeouts.config())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// Short enough for a test; the production values are checked below. The operation leaves room
/// for the SDK's backoff before a retry (up to 1 s before the second attempt, 2 s before the third).
const SHORT: SdkTimeouts = SdkTimeouts {
    connect: Duration::from_secs(1),
    attempt: Duration::from_millis(300),
    operation: Duration::from_secs(3),
};

#[tokio::test]
async fn an_attempt_without_an_answer_is_retried_on_a_new_connection() {
    let (port, requests) = server_silent_for(1).await;
    let listed = dynamodb(port, SHORT).await.list_tables().send().await.unwrap();
    assert_eq!(listed.table_names(), ["answered"]);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_call_that_never_gets_an_answer_fails_as_a_timeout() {
    let (port, requests) = server_silent_for(usize::MAX).await;
    let error = dynamodb(port, SHORT).await.list_tables().send().await.unwrap_err();
    assert!(matches!(error, SdkError::TimeoutError(_)), "{error:?}");
    // 300 ms attempts within 3 s: two or three (the SDK's standard mode makes at most three).
    let made = requests.load(Ordering::SeqCst);
    assert!((2..=3).contains(&made), "{made} attempts");
}

#[tokio::test]
async fn every_sdk_configuration_carries_the_service_timeouts() {
    let config = Https::trusting(None).sdk_loader().region(Region::new("us-east-1")).load().await;
    let timeouts = config.timeout_config().unwrap();
    assert_eq!(timeouts.connect_timeout(), Some(SDK_TIMEOUTS.connect));
    assert_eq!(timeouts.operation_attempt_timeout(), Some(SDK_TIMEOUTS.attempt));
    assert_eq!(timeouts.operation_timeout(), Some(SDK_TIMEOUTS.operation));
    // Below the API functions' Lambda timeout (template.yaml, Globals: 10 s).
    assert!(SDK_TIMEOUTS.operation < Duration::from_secs(10));
}
