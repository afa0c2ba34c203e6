//! The one HTTPS client of a function, shared by its AWS SDK clients and its Xero client.
//!
//! The SDK's default client reads the system's whole trust store when it is built (on Debian 144
//! bundled certificates and 292 files: most of a cold start, docs/performance.md). This one trusts
//! the roots in `roots.pem` (Amazon Trust Services, which every AWS endpoint chains to, and the
//! public CAs that issue most web-server certificates, Xero's among them), plus any a deployment
//! names in `EXTRA_CA_CERTS`. One TLS stack (rustls on ring) and one HTTP client (the SDK's hyper
//! client) serve every call a function makes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use base64::Engine;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http_body_util::BodyExt;

pub use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
pub use http::{header::HeaderName, HeaderMap, Method, StatusCode};

/// The environment variable naming a PEM file of further roots to trust (a private CA, or a CA a
/// provider moved to before this service's roots were updated).
pub const EXTRA_CA_CERTS: &str = "EXTRA_CA_CERTS";

/// The roots trusted without configuration.
const BUILT_IN_ROOTS: &[u8] = include_bytes!("../roots.pem");

/// What can go wrong building the client or making a call. Each keeps its cause, so a log shows
/// what the network or the peer did.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    #[error("{EXTRA_CA_CERTS}: cannot read {path}")]
    ReadExtraRoots {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{EXTRA_CA_CERTS}: {path} holds no usable CA certificate")]
    UnusableExtraRoots { path: String },
    #[error("invalid request")]
    Request(#[source] http::Error),
    #[error("invalid header value for {name}")]
    Header {
        name: HeaderName,
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    #[error("request failed")]
    Transport(#[source] ConnectorError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answer body unreadable")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An HTTPS client: cheap to clone, every clone sharing one connection pool per use (the SDK's,
/// and the one for direct calls).
#[derive(Clone, Debug)]
pub struct Https {
    sdk: SharedHttpClient,
    tls: TlsContext,
    /// Built on the first direct call: most functions never make one, and building it parses the
    /// roots (the SDK's client, too, builds its connector on its first request).
    direct: Arc<OnceLock<SharedHttpConnector>>,
}

fn rustls_on_ring() -> Provider {
    Provider::Rustls(CryptoMode::Ring)
}

static SHARED: OnceLock<Https> = OnceLock::new();

impl Https {
    /// The process's client, built on first use from the environment ([`EXTRA_CA_CERTS`]).
    pub fn shared() -> Result<Https, HttpsError> {
        if let Some(https) = SHARED.get() {
            return Ok(https.clone());
        }
        let built = Https::from_env()?;
        Ok(SHARED.get_or_init(|| built).clone())
    }

    /// A client trusting the built-in roots and those in the file [`EXTRA_CA_CERTS`] names.
    pub fn from_env() -> Result<Https, HttpsError> {
        match std::env::var(EXTRA_CA_CERTS) {
            Ok(path) if !path.is_empty() => {
                let pem =
                    std::fs::read(&path).map_err(|source| HttpsError::ReadExtraRoots { path: path.clone(), source })?;
                if !holds_ca_certificates(&pem) {
                    return Err(HttpsError::UnusableExtraRoots { path });
                }
                Ok(Https::trusting(Some(pem)))
            }
            _ => Ok(Https::trusting(None)),
        }
    }

    /// A client trusting the built-in roots and `extra` (PEM), already checked to hold
    /// certificates (see [`Https::from_env`]).
    pub fn trusting(extra: Option<Vec<u8>>) -> Https {
        let mut roots = TrustStore::empty().with_native_roots(false).with_pem_certificate(BUILT_IN_ROOTS);
        if let Some(pem) = extra {
            roots.add_pem_certificate(pem);
        }
        let tls = TlsContext::builder().with_trust_store(roots).build().expect("a rustls context always builds");
        let sdk = Builder::new().tls_provider(rustls_on_ring()).tls_context(tls.clone()).build_https();
        Https { sdk, tls, direct: Arc::default() }
    }

    fn direct(&self) -> SharedHttpConnector {
        self.direct
            .get_or_init(|| {
                let connector: Connector =
                    Connector::builder().tls_provider(rustls_on_ring()).tls_context(self.tls.clone()).build();
                SharedHttpConnector::new(connector)
            })
            .clone()
    }

    /// The same client, whose direct calls resolve host names through `resolver` (which may
    /// refuse a name, or some of its addresses: webhook deliveries check every address a
    /// customer's host resolves to, and connect only to the addresses checked).
    pub fn with_resolver(&self, resolver: impl ResolveDns + Clone + 'static) -> Https {
        let connector = Connector::builder()
            .tls_provider(rustls_on_ring())
            .tls_context(self.tls.clone())
            .build_with_resolver(resolver);
        let direct = OnceLock::new();
        let _ = direct.set(SharedHttpConnector::new(connector));
        Https { sdk: self.sdk.clone(), tls: self.tls.clone(), direct: Arc::new(direct) }
    }

    /// The HTTP client for AWS SDK configurations.
    pub fn sdk_client(&self) -> SharedHttpClient {
        self.sdk.clone()
    }

    /// The SDK configuration of a Lambda function, with this client: region and credentials from
    /// the environment (Lambda sets `AWS_REGION` and the execution role's `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; so do the local stack, SAM and the tests),
    /// the rest (`AWS_ENDPOINT_URL`, retries) as aws-config reads it. aws-config's default chains
    /// (profiles, SSO, web identity through STS, the instance metadata service) are left out: none
    /// of them serves a Lambda function, and with them every bootstrap carried an STS client
    /// (docs/performance.md). Tools run by people use [`Https::sdk_loader`]'s full chain.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.sdk_loader()
            .region(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
            .load()
            .await
    }

    /// A loader of SDK configuration with this client and [`SDK_TIMEOUTS`], for callers that set
    /// more (tests set the endpoint and credentials).
    pub fn sdk_loader(&self) -> aws_config::ConfigLoader {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(self.sdk_client())
            .timeout_config(SDK_TIMEOUTS.config())
    }

    pub fn get(&self, url: &str) -> Request {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Request {
        self.request(Method::POST, url)
    }

    pub fn delete(&self, url: &str) -> Request {
        self.request(Method::DELETE, url)
    }

    pub fn request(&self, method: Method, url: &str) -> Request {
        Request {
            connector: self.direct(),
            method,
            url: url.to_owned(),
            query: None,
            headers: HeaderMap::new(),
            body: Vec::new(),
            timeout: None,
            read_body: true,
            invalid: None,
        }
    }
}

/// How long an AWS call may take. The SDK sets no limit on an attempt by default: a connection
/// that stalls (a peer that never answers) would hold the function until Lambda ends it, with no
/// answer for the caller. DynamoDB, SQS and Secrets Manager answer in milliseconds; an attempt still
/// waiting after `attempt` is abandoned and retried on a new connection (the SDK's standard retries;
/// writes are conditional, and transactions carry a client token, so a retry never applies one
/// twice), and the call fails after `operation`, below the API functions' 10 s Lambda timeout, so
/// the caller gets this API's own error answer, and the log its cause, rather than a gateway
/// timeout with neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdkTimeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

/// The limits of every function's AWS calls.
pub const SDK_TIMEOUTS: SdkTimeouts = SdkTimeouts {
    connect: Duration::from_millis(3100),
    attempt: Duration::from_secs(4),
    operation: Duration::from_secs(8),
};

impl SdkTimeouts {
    /// As the SDK's configuration.
    pub fn config(&self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// A Lambda function's SDK configuration ([`Https::sdk_config`]) with the process's shared client.
pub async fn sdk_config() -> Result<aws_config::SdkConfig, HttpsError> {
    Ok(Https::shared()?.sdk_config().await)
}

/// True when `pem` holds at least one certificate and each is usable as a trust anchor.
fn holds_ca_certificates(pem: &[u8]) -> bool {
    use rustls_pki_types::{pem::PemObject, CertificateDer};
    let Ok(certificates) = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() else { return false };
    let mut store = rustls::RootCertStore::empty();
    !certificates.is_empty() && certificates.into_iter().all(|certificate| store.add(certificate).is_ok())
}

/// A request being built; [`Request::send`] makes it.
#[derive(Debug)]
pub struct Request {
    connector: SharedHttpConnector,
    method: Method,
    url: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Option<Duration>,
    /// Whether the answer's body is read (see [`Request::status_only`]).
    read_body: bool,
    /// The first invalid part, reported by `send`.
    invalid: Option<HttpsError>,
}

impl Request {
    pub fn header(mut self, name: HeaderName, value: &str) -> Request {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                self.headers.insert(name, value);
            }
            Err(source) => {
                self.invalid.get_or_insert(HttpsError::Header { name, source });
            }
        }
        self
    }

    pub fn bearer_auth(self, token: &str) -> Request {
        self.sensitive_authorization(format!("Bearer {token}"))
    }

    pub fn basic_auth(self, user: &str, password: &str) -> Request {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.sensitive_authorization(format!("Basic {credentials}"))
    }

    fn sensitive_authorization(mut self, value: String) -> Request {
        match HeaderValue::try_from(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
            }
            Err(source) => {
                self.invalid.get_or_insert(HttpsError::Header { name: AUTHORIZATION, source });
            }
        }
        self
    }

    /// Appends the pairs, form-encoded, to the URL's query.
    pub fn query(mut self, pairs: &[(&str, &str)]) -> Request {
        let mut query = form_urlencoded::Serializer::new(self.query.take().unwrap_or_default());
        query.extend_pairs(pairs);
        self.query = Some(query.finish());
        self
    }

    /// A body of this content type.
    pub fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self.headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        self
    }

    /// An `application/x-www-form-urlencoded` body of the pairs.
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Request {
        self.body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes();
        self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        self
    }

    /// The most the whole exchange (connecting, sending, reading the answer) may take.
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// The answer's body is not read (the answer's `body` is empty): for a caller that needs the
    /// status alone, such as a webhook delivery, so that a peer answering with a body of any size
    /// costs neither time nor memory.
    pub fn status_only(mut self) -> Request {
        self.read_body = false;
        self
    }

    pub async fn send(self) -> Result<Response, HttpsError> {
        if let Some(invalid) = self.invalid {
            return Err(invalid);
        }
        let uri = match &self.query {
            Some(query) if !query.is_empty() => {
                let separator = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{separator}{query}", self.url)
            }
            _ => self.url,
        };
        let mut request = http::Request::builder().method(self.method).uri(uri);
        if let Some(headers) = request.headers_mut() {
            *headers = self.headers;
        }
        let request = request.body(SdkBody::from(self.body)).map_err(HttpsError::Request)?;
        let request =
            request.try_into().map_err(|e: aws_smithy_runtime_api::http::HttpError| HttpsError::Body(Box::new(e)))?;
        let (connector, read_body) = (self.connector, self.read_body);
        let exchange = async move {
            let answer = connector.call(request).await.map_err(HttpsError::Transport)?;
            let answer = answer.try_into_http1x().map_err(|e| HttpsError::Body(Box::new(e)))?;
            let (parts, body) = answer.into_parts();
            let body = match read_body {
                true => body.collect().await.map_err(HttpsError::Body)?.to_bytes().to_vec(),
                false => Vec::new(),
            };
            Ok(Response { status: parts.status, headers: parts.headers, body })
        };
        match self.timeout {
            Some(timeout) => tokio::time::timeout(timeout, exchange).await.map_err(|_| HttpsError::Timeout(timeout))?,
            None => exchange.await,
        }
    }
}

/// An error with its causes, as one line (`request failed: ...: ...`): the transport says what
/// actually went wrong in the causes, which `Display` leaves out.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_root_is_a_usable_trust_anchor() {
        use rustls_pki_types::{pem::PemObject, CertificateDer};
        let roots = CertificateDer::pem_slice_iter(BUILT_IN_ROOTS).collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(roots.len(), 15);
        assert!(holds_ca_certificates(BUILT_IN_ROOTS));
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        assert!(!holds_ca_certificates(b"not a certificate"));
        assert!(!holds_ca_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
    }
}
