use tracing_subscriber::EnvFilter;

/// JSON log lines. The runtime opens a span per invocation carrying the Lambda request id, and the
/// span list puts it on every line. `RUST_LOG` sets the level (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_ansi(false)
        .init();
}
