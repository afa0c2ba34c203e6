use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
    EnvFilter,
};

/// JSON log lines. The runtime opens a span per invocation carrying the Lambda request id, and the
/// span list puts it on every line. `RUST_LOG` sets the level (default `info`).
///
/// Whatever `RUST_LOG` says, other crates log at `info` at most: at `trace`, `lambda_runtime` logs
/// every raw event (credentials and bodies included) and the AWS SDK logs whole requests and
/// responses (stored items included). Only this project's own crates (`invoicing*`) log below
/// `info`, and they never log headers or bodies.
pub fn init_tracing() {
    let requested = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(requested)
        .with(dependency_ceiling())
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_span_list(true)
                .with_target(false)
                .with_ansi(false),
        )
        .init();
}

/// The most any target may log, applied on top of `RUST_LOG`.
pub fn dependency_ceiling() -> Targets {
    Targets::new().with_default(LevelFilter::INFO).with_target("invoicing", LevelFilter::TRACE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn other_crates_never_log_below_info() {
        let ceiling = dependency_ceiling();
        assert!(!ceiling.would_enable("lambda_runtime::layers::api_response", &Level::TRACE));
        assert!(!ceiling.would_enable("aws_smithy_runtime::client::orchestrator", &Level::DEBUG));
        assert!(ceiling.would_enable("lambda_runtime::runtime", &Level::INFO));
        assert!(ceiling.would_enable("invoicing_http::gateway", &Level::TRACE));
    }
}
