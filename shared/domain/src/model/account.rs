//! Accounts and their credentials. Secrets are random, shown once, and stored only as hashes.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An account: what every other item belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Its id (a UUID).
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// How a credential is presented: `Authorization: Basic` or `X-API-Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CredentialKind {
    /// `Authorization: Basic`.
    ClientSecret,
    /// `X-API-Key`.
    ApiKey,
}

/// A stored credential: a public id and the SHA-256 of its secret.
///
/// Secrets are 256 random bits, so a fast hash is enough (no dictionary to attack); a slow KDF
/// would only add latency to every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// The public id (client id, or an API key's id).
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// How it is presented.
    pub kind: CredentialKind,
    /// The SHA-256 of the secret, hex.
    pub secret_hash: String,
}

impl Credential {
    /// Compares a presented secret with the stored hash in constant time.
    pub fn verify(&self, presented_secret: &str) -> bool {
        let presented = hash_secret(presented_secret);
        presented.as_bytes().ct_eq(self.secret_hash.as_bytes()).into()
    }
}

/// The bank account an account's invoices are paid into (Slash's `invoiceAccount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivingAccount {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Slash's account group.
    pub slash_account_group_id: String,
    /// Slash's account type.
    pub account_type: String,
    /// The account number (shown masked).
    pub account_number: String,
    /// The routing number.
    pub routing_number: String,
}

impl ReceivingAccount {
    /// What an account without settings shows: its name and no numbers.
    pub fn unconfigured(account: &Account) -> ReceivingAccount {
        ReceivingAccount {
            id: format!("ra_{}", account.id),
            name: format!("{} receiving account", account.name),
            slash_account_group_id: String::new(),
            account_type: "default".into(),
            account_number: String::new(),
            routing_number: String::new(),
        }
    }

    /// The account number with all but its last four characters masked.
    pub fn masked_account_number(&self) -> String {
        let count = self.account_number.chars().count();
        self.account_number.chars().enumerate().map(|(i, c)| if i + 4 < count { '*' } else { c }).collect()
    }
}

/// The plaintext credentials of a new account: shown once, never stored.
#[derive(Debug, Clone)]
pub struct IssuedCredentials {
    /// For Basic credentials.
    pub client_id: String,
    /// For Basic credentials; shown once.
    pub client_secret: String,
    /// `<keyId>.<secret>`; shown once.
    pub api_key: String,
}

/// A new account with its credentials: the records to store and the plaintext to show once.
pub struct NewAccount {
    /// The account.
    pub account: Account,
    /// Its credentials, hashed.
    pub credentials: Vec<Credential>,
    /// The plaintext, to show once.
    pub issued: IssuedCredentials,
}

/// The separator between an API key's public id and its secret: `<keyId>.<secret>`.
const API_KEY_SEPARATOR: char = '.';

impl NewAccount {
    /// A new account named `name` with a client id and secret and an API key, all random.
    pub fn generate(name: &str, now: DateTime<Utc>) -> NewAccount {
        let account = Account { id: uuid::Uuid::now_v7().to_string(), name: name.to_string(), created_at: now };
        let client_id = format!("ci_{}", random_token(12));
        let client_secret = random_token(32);
        let key_id = format!("ak_{}", random_token(12));
        let key_secret = random_token(32);
        let credentials = vec![
            Credential {
                id: client_id.clone(),
                account_id: account.id.clone(),
                kind: CredentialKind::ClientSecret,
                secret_hash: hash_secret(&client_secret),
            },
            Credential {
                id: key_id.clone(),
                account_id: account.id.clone(),
                kind: CredentialKind::ApiKey,
                secret_hash: hash_secret(&key_secret),
            },
        ];
        let issued =
            IssuedCredentials { client_id, client_secret, api_key: format!("{key_id}{API_KEY_SEPARATOR}{key_secret}") };
        NewAccount { account, credentials, issued }
    }
}

impl NewAccount {
    /// Replaces the random API key with a chosen one, for local fixtures that must be known in
    /// advance (the `events/` files). Never use it for a real account.
    pub fn with_api_key(mut self, api_key: &str) -> Result<NewAccount, String> {
        let (key_id, key_secret) = split_api_key(api_key).ok_or("an API key has the form <keyId>.<secret>")?;
        if !is_credential_id(key_id) {
            return Err("an API key's id has 1 to 64 characters of A-Z, a-z, 0-9, _ and -".into());
        }
        if key_secret.len() < 16 {
            return Err("an API key's secret must have at least 16 characters".into());
        }
        let credential = self
            .credentials
            .iter_mut()
            .find(|c| c.kind == CredentialKind::ApiKey)
            .expect("every new account has an API key");
        credential.id = key_id.to_string();
        credential.secret_hash = hash_secret(key_secret);
        self.issued.api_key = api_key.to_string();
        Ok(self)
    }

    /// Gives the account a chosen id (a UUID), for local fixtures that must be known in advance
    /// (the reconcile-worker's event names its account). Never use it for a real account.
    pub fn with_account_id(mut self, account_id: &str) -> Result<NewAccount, String> {
        if !super::ids::is_uuid(account_id) {
            return Err("an account id is a UUID".into());
        }
        self.account.id = account_id.to_string();
        for credential in &mut self.credentials {
            credential.account_id = account_id.to_string();
        }
        Ok(self)
    }
}

/// Splits an API key into its credential id and secret.
pub fn split_api_key(api_key: &str) -> Option<(&str, &str)> {
    let (id, secret) = api_key.split_once(API_KEY_SEPARATOR)?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// The most characters a credential's public id has (ours have 19).
pub const MAX_CREDENTIAL_ID_LENGTH: usize = 64;

/// Whether `id` can be a credential's public id: 1 to 64 characters of base64url. Anything else
/// is refused before a lookup (a key built from it could exceed the store's key size limit).
pub fn is_credential_id(id: &str) -> bool {
    (1..=MAX_CREDENTIAL_ID_LENGTH).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The stored form of a secret: SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_verify_and_are_stored_only_as_hashes() {
        let new = NewAccount::generate("Acme", Utc::now());
        let [basic, key] = &new.credentials[..] else { panic!("two credentials") };
        assert_eq!(basic.kind, CredentialKind::ClientSecret);
        assert_eq!(basic.id, new.issued.client_id);
        assert!(basic.verify(&new.issued.client_secret));
        assert!(!basic.verify("wrong"));
        assert_ne!(basic.secret_hash, new.issued.client_secret);

        let (key_id, key_secret) = split_api_key(&new.issued.api_key).unwrap();
        assert_eq!(key.id, key_id);
        assert!(key.verify(key_secret));
        assert!(!key.verify(&new.issued.client_secret));
    }

    #[test]
    fn a_chosen_api_key_replaces_the_random_one() {
        let new = NewAccount::generate("Local", Utc::now()).with_api_key("ak_fixed.0123456789abcdef").unwrap();
        let key = new.credentials.iter().find(|c| c.kind == CredentialKind::ApiKey).unwrap();
        assert_eq!(key.id, "ak_fixed");
        assert!(key.verify("0123456789abcdef"));
        assert_eq!(new.issued.api_key, "ak_fixed.0123456789abcdef");
        assert!(NewAccount::generate("L", Utc::now()).with_api_key("ak_fixed.short").is_err());
        assert!(NewAccount::generate("L", Utc::now()).with_api_key("no-separator-0123456789").is_err());
    }

    #[test]
    fn a_chosen_account_id_is_the_account_and_every_credential_s() {
        let id = "01a21186-0000-7000-8000-00000000acc7";
        let new = NewAccount::generate("Local", Utc::now()).with_account_id(id).unwrap();
        assert_eq!(new.account.id, id);
        assert_eq!(new.credentials.len(), 2);
        assert!(new.credentials.iter().all(|c| c.account_id == id));
        assert!(NewAccount::generate("L", Utc::now()).with_account_id("acc7").is_err());
    }

    #[test]
    fn account_numbers_show_only_their_last_four() {
        let mut receiving = ReceivingAccount::unconfigured(&NewAccount::generate("A", Utc::now()).account);
        assert_eq!(receiving.masked_account_number(), "");
        receiving.account_number = "000123456789".into();
        assert_eq!(receiving.masked_account_number(), "********6789");
        receiving.account_number = "789".into();
        assert_eq!(receiving.masked_account_number(), "789");
    }

    #[test]
    fn api_keys_need_both_halves() {
        assert_eq!(split_api_key("ak_x.secret"), Some(("ak_x", "secret")));
        assert_eq!(split_api_key("ak_x."), None);
        assert_eq!(split_api_key(".secret"), None);
        assert_eq!(split_api_key("nodot"), None);
    }
}
