//! Certificates are verified: a loopback TLS server whose certificate a test CA issued is refused
//! by default, and accepted only by a client configured to trust that CA, for direct calls (the
//! Xero client's) and for the AWS SDK alike.
//!
//! fixtures/: `test-ca.pem` (a CA made for these tests; its key was discarded) and
//! `localhost.pem` / `localhost-key.pem` (P-256, `subjectAltName=DNS:localhost`, issued by it,
//! valid for 100 years), made with `openssl req -x509` and `openssl x509 -req`.

use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use invoicing_https::{Https, HttpsError, StatusCode};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TEST_CA: &[u8] = include_bytes!("fixtures/test-ca.pem");
const SERVER_CERTIFICATE: &[u8] = include_bytes!("fixtures/localhost.pem");
const SERVER_KEY: &[u8] = include_bytes!("fixtures/localhost-key.pem");
const ANSWER: &str = r#"{"TableNames":["from-the-tls-server"]}"#;

/// A TLS server on a free loopback port answering every request with [`ANSWER`]; its port.
async fn tls_server() -> u16 {
    let certificates = CertificateDer::pem_slice_iter(SERVER_CERTIFICATE).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake ends here; that is what most tests expect.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ANSWER}",
                    ANSWER.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// The error and its causes, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&format!("{cause:?}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_server_whose_ca_is_not_configured_is_refused() {
    let port = tls_server().await;
    let error = Https::trusting(None).get(&format!("https://localhost:{port}/")).send().await.unwrap_err();
    assert!(matches!(error, HttpsError::Transport(_)), "{error:?}");
    assert!(chain(&error).contains("UnknownIssuer"), "{}", chain(&error));
}

#[tokio::test]
async fn the_same_server_is_accepted_once_its_ca_is_configured() {
    let port = tls_server().await;
    let answer =
        Https::trusting(Some(TEST_CA.to_vec())).get(&format!("https://localhost:{port}/")).send().await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), ANSWER);
}

#[tokio::test]
async fn a_trusted_certificate_for_another_name_is_refused() {
    let port = tls_server().await;
    // The certificate names `localhost` only.
    let error =
        Https::trusting(Some(TEST_CA.to_vec())).get(&format!("https://127.0.0.1:{port}/")).send().await.unwrap_err();
    assert!(chain(&error).contains("NotValidForName"), "{}", chain(&error));
}

fn dynamodb(https: &Https, port: u16) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("https://localhost:{port}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .http_client(https.sdk_client())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test]
async fn the_aws_sdk_verifies_through_the_same_roots() {
    let port = tls_server().await;

    let refused = dynamodb(&Https::trusting(None), port).list_tables().send().await.unwrap_err();
    assert!(chain(&refused).contains("UnknownIssuer"), "{}", chain(&refused));

    let listed = dynamodb(&Https::trusting(Some(TEST_CA.to_vec())), port).list_tables().send().await.unwrap();
    assert_eq!(listed.table_names(), ["from-the-tls-server"]);
}

#[tokio::test]
async fn extra_roots_come_from_the_file_extra_ca_certs_names() {
    let port = tls_server().await;
    let directory = std::env::temp_dir().join(format!("invoicing-https-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let ca = directory.join("ca.pem");
    std::fs::write(&ca, TEST_CA).unwrap();
    let not_a_ca = directory.join("not-a-ca.pem");
    std::fs::write(&not_a_ca, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();

    // The only test of this binary that sets the variable, and nextest runs each test in a
    // process of its own.
    std::env::set_var(invoicing_https::EXTRA_CA_CERTS, &ca);
    let answer = Https::from_env().unwrap().get(&format!("https://localhost:{port}/")).send().await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);

    std::env::set_var(invoicing_https::EXTRA_CA_CERTS, &not_a_ca);
    let error = Https::from_env().unwrap_err();
    assert_eq!(error.to_string(), format!("EXTRA_CA_CERTS: {} holds no usable CA certificate", not_a_ca.display()));

    std::env::set_var(invoicing_https::EXTRA_CA_CERTS, directory.join("missing.pem"));
    assert!(matches!(Https::from_env().unwrap_err(), HttpsError::ReadExtraRoots { .. }));

    std::env::remove_var(invoicing_https::EXTRA_CA_CERTS);
    std::fs::remove_dir_all(&directory).unwrap();
}
