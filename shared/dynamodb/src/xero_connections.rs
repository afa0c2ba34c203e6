//! Xero OAuth connections (everything but the tokens, which live in the token vault), their
//! refresh leases and pending authorizations.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | connection | `ACCOUNT#<id>` | `XERO#CONNECTION` (attribute `version`) |
//! | refresh lease | `ACCOUNT#<id>` | `XERO#REFRESH_LEASE` (`holder`, `until` in ms) |
//! | pending authorization | `XEROSTATE#<sha256(state)>` | `XEROSTATE` (TTL a day after expiry) |

use crate::{account_pk, decode, decode_with_version, encode, n, s, sdk_error, write_error, DynamoStore, Item};
use chrono::{DateTime, Utc};
use invoicing_domain::{
    model::xero_connection::{state_key, OAuthConnection, PendingAuthorization},
    model::Versioned,
    ports::XeroConnections,
    Error, Result,
};

const CONNECTION_SK: &str = "XERO#CONNECTION";
const LEASE_SK: &str = "XERO#REFRESH_LEASE";
const STATE_SK: &str = "XEROSTATE";

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

fn state_pk(state: &str) -> String {
    format!("XEROSTATE#{}", state_key(state))
}

impl XeroConnections for DynamoStore {
    async fn save_authorization(&self, authorization: &PendingAuthorization) -> Result<()> {
        let mut item = encode(authorization)?;
        // The state itself is never a key, nor stored: only its digest is.
        item.remove("state");
        item.extend(key(state_pk(&authorization.state), STATE_SK));
        let expires = authorization.expires_at.timestamp() + 24 * 3600;
        item.insert(crate::schema::TTL_ATTRIBUTE.into(), n(expires));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| write_error("PutItem", e))?;
        Ok(())
    }

    async fn take_authorization(&self, state: &str) -> Result<Option<PendingAuthorization>> {
        // One DeleteItem: of two concurrent callbacks with the same state, only one gets the item.
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(state_pk(state), STATE_SK)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| write_error("DeleteItem", e))?;
        let Some(mut item) = deleted.attributes else { return Ok(None) };
        item.insert("state".into(), s(state));
        item.remove(crate::schema::TTL_ATTRIBUTE);
        decode(item).map(Some)
    }

    async fn oauth_connection(&self, account_id: &str) -> Result<Option<Versioned<OAuthConnection>>> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), CONNECTION_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        answer.item.map(|item| decode_with_version(item, &format!("Xero connection of {account_id}"))).transpose()
    }

    async fn put_oauth_connection(
        &self,
        account_id: &str,
        connection: &OAuthConnection,
        expected: Option<u64>,
    ) -> Result<()> {
        let mut item = encode(connection)?;
        item.extend(key(account_pk(account_id), CONNECTION_SK));
        let request = self.client.put_item().table_name(&self.table);
        let request = match expected {
            Some(version) => {
                item.insert("version".into(), n(version + 1));
                request.condition_expression("version = :expected").expression_attribute_values(":expected", n(version))
            }
            None => {
                // A new authorization replaces whatever was there; its version starts after it.
                let now = Utc::now().timestamp_millis();
                item.insert("version".into(), n(now));
                request
            }
        };
        match request.set_item(Some(item)).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(Error::contended("the Xero connection changed meanwhile"))
            }
            Err(e) => Err(write_error("PutItem", e)),
        }
    }

    async fn delete_oauth_connection(&self, account_id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), CONNECTION_SK)))
            .send()
            .await
            .map_err(|e| write_error("DeleteItem", e))?;
        Ok(())
    }

    async fn try_lease_refresh(
        &self,
        account_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let mut item = key(account_pk(account_id), LEASE_SK);
        item.insert("holder".into(), s(holder));
        item.insert("until".into(), n(until.timestamp_millis()));
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #until < :now")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            // Another taker's transaction or throttling: not ours this time.
            Err(e) => match write_error("PutItem", e) {
                error if error.kind() == invoicing_domain::ErrorKind::Contended => Ok(false),
                error => Err(error),
            },
        }
    }

    async fn release_refresh(&self, account_id: &str, holder: &str) -> Result<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), LEASE_SK)))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // Expired and taken by another: theirs now.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(write_error("DeleteItem", e)),
        }
    }
}
