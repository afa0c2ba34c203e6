//! Two-way Xero sync settings (SPEC.md section 9): whether finalized invoices are pushed to Xero,
//! whether Xero's payments are mirrored back, and the sales account pushed lines are coded to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The account code of "Sales" in Xero's default chart of accounts: pushed lines go there unless
/// the settings name another.
pub const DEFAULT_SALES_ACCOUNT_CODE: &str = "200";
/// Xero's longest account code.
pub const MAX_ACCOUNT_CODE_CHARS: usize = 10;

/// An account's sync settings, as stored and as `GET /integrations/xero/settings` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XeroSyncSettings {
    /// Finalize, send and void are pushed to Xero.
    pub push_invoices: bool,
    /// Payments recorded in Xero against pushed invoices are mirrored here.
    pub pull_payments: bool,
    /// The Xero account code of pushed lines.
    pub sales_account_code: String,
    /// The Xero organisation whose webhooks reach this account (set while `pull_payments` is on).
    pub tenant_id: Option<String>,
    /// When they last changed; none until first set.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for XeroSyncSettings {
    /// Sync is opt-in: both directions off until the account turns them on.
    fn default() -> Self {
        XeroSyncSettings {
            push_invoices: false,
            pull_payments: false,
            sales_account_code: DEFAULT_SALES_ACCOUNT_CODE.into(),
            tenant_id: None,
            updated_at: None,
        }
    }
}

impl XeroSyncSettings {
    /// Either direction is on.
    pub fn any_on(&self) -> bool {
        self.push_invoices || self.pull_payments
    }
}

/// Checks a Xero account code: 1 to 10 letters, digits, `.`, `-` or `_` (what Xero's chart of
/// accounts allows); the message names the field.
pub fn check_account_code(code: &str) -> Result<(), String> {
    let valid = !code.is_empty()
        && code.chars().count() <= MAX_ACCOUNT_CODE_CHARS
        && code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "salesAccountCode: 1 to {MAX_ACCOUNT_CODE_CHARS} letters, digits, '.', '-' or '_' (a code of the Xero chart of accounts)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_codes_follow_xero_chart_rules() {
        for good in ["200", "4000", "SALES-1", "a.b_c", "1234567890"] {
            assert_eq!(check_account_code(good), Ok(()), "{good}");
        }
        for bad in ["", "12345678901", "20 0", "2/0", "ü"] {
            assert!(check_account_code(bad).unwrap_err().starts_with("salesAccountCode: 1 to 10"), "{bad}");
        }
    }

    #[test]
    fn sync_is_off_until_turned_on() {
        let settings = XeroSyncSettings::default();
        assert!(!settings.any_on());
        assert_eq!(settings.sales_account_code, "200");
    }
}
