use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

/// JSON log lines. The runtime opens a span per invocation carrying the Lambda request id, and the
/// span list puts it on every line. `RUST_LOG` sets the level (default `info`): a level, or
/// comma-separated `target=level` directives (`tracing_subscriber`'s `Targets` syntax; an
/// unparsable value means `info`). Not `EnvFilter`: its span and field directives need a regex
/// engine (its share of a bootstrap: docs/performance.md), for a feature these functions do not use.
///
/// Whatever `RUST_LOG` says, other crates log at `info` at most: at `trace`, `lambda_runtime` logs
/// every raw event (credentials and bodies included) and the AWS SDK logs whole requests and
/// responses (stored items included). Only this project's own crates (`invoicing*`) log below
/// `info`, and they never log headers or bodies.
pub fn init_tracing() {
    let requested = requested_levels(std::env::var("RUST_LOG").ok().as_deref());
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

/// The levels `RUST_LOG` asks for; `info` when unset or unparsable.
fn requested_levels(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
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

    #[test]
    fn rust_log_takes_a_level_or_target_directives() {
        let info = requested_levels(None);
        assert!(info.would_enable("invoicing_http", &Level::INFO));
        assert!(!info.would_enable("invoicing_http", &Level::DEBUG));

        let warn = requested_levels(Some("warn"));
        assert!(!warn.would_enable("invoicing_http", &Level::INFO));
        assert!(warn.would_enable("invoicing_http", &Level::WARN));

        let directives = requested_levels(Some("invoicing_xero=debug,warn"));
        assert!(directives.would_enable("invoicing_xero::oauth", &Level::DEBUG));
        assert!(!directives.would_enable("invoicing_http", &Level::INFO));

        let unparsable = requested_levels(Some("invoicing=loud"));
        assert!(unparsable.would_enable("invoicing_http", &Level::INFO));
        assert!(!unparsable.would_enable("invoicing_http", &Level::DEBUG));
    }
}
