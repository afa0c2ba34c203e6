//! Settings a process reads from its environment.

/// A setting the process needs is missing or unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required environment variable is not set (or not Unicode).
    #[error("{name} is not set")]
    MissingVariable {
        /// The variable.
        name: &'static str,
        /// Why it could not be read.
        #[source]
        source: std::env::VarError,
    },
    /// A setting is present but cannot be used.
    #[error("{name} is unusable")]
    Unusable {
        /// The variable.
        name: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The value of a required environment variable.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|source| ConfigError::MissingVariable { name, source })
}
