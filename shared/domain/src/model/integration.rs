//! Integrations' settings.

use serde::{Deserialize, Serialize};

/// The non-secret part of an account's Xero connection; the secret lives in a secret store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroSettings {
    /// The Xero app's client id (custom connection).
    pub client_id: String,
    /// The organisation, when the connection names one.
    pub tenant_id: Option<String>,
    /// Xero's API base URL (xero-local's locally).
    pub api_base_url: String,
    /// Xero's token URL.
    pub token_url: String,
}
