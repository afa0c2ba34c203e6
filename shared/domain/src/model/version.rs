//! `Sequence-Version`: which dated version of the API serves a request.

use super::error::{Error, ErrorKind};
use std::fmt;

/// The `Sequence-Version`s the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiVersion {
    /// `2024-01-01`.
    V2024_01_01,
    /// `2024-07-30`, the latest.
    V2024_07_30,
}

impl ApiVersion {
    /// What a request without `Sequence-Version` gets.
    pub const LATEST: ApiVersion = ApiVersion::V2024_07_30;
    /// Every version, oldest first.
    pub const ALL: &'static [ApiVersion] = &[ApiVersion::V2024_01_01, ApiVersion::V2024_07_30];

    /// The header's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2024_01_01 => "2024-01-01",
            ApiVersion::V2024_07_30 => "2024-07-30",
        }
    }

    /// Resolves the header's value: missing means the latest, an unknown value is an error.
    pub fn resolve(header: Option<&str>) -> Result<ApiVersion, Error> {
        let Some(raw) = header else {
            return Ok(Self::LATEST);
        };
        let value = raw.trim();
        Self::ALL.iter().copied().find(|v| v.as_str() == value).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
            Error::new(
                ErrorKind::UnrecognisedApiVersion,
                format!(
                    "unrecognised Sequence-Version `{}`; supported versions: {}",
                    value.chars().take(64).collect::<String>(),
                    known.join(", ")
                ),
            )
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_header_means_latest() {
        assert_eq!(ApiVersion::resolve(None).unwrap(), ApiVersion::V2024_07_30);
    }

    #[test]
    fn known_versions_resolve() {
        assert_eq!(ApiVersion::resolve(Some("2024-01-01")).unwrap(), ApiVersion::V2024_01_01);
        assert_eq!(ApiVersion::resolve(Some(" 2024-07-30 ")).unwrap(), ApiVersion::V2024_07_30);
    }

    #[test]
    fn unknown_version_is_named_in_the_error() {
        let error = ApiVersion::resolve(Some("2023-01-01")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnrecognisedApiVersion);
        assert_eq!(
            error.public_message(),
            "unrecognised Sequence-Version `2023-01-01`; supported versions: 2024-01-01, 2024-07-30"
        );
    }
}
