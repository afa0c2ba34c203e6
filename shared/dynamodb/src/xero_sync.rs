//! Two-way Xero sync settings and the claim of a Xero organisation by the account that pulls its
//! payments (a Xero webhook names only the organisation).
//!
//! | item | pk | sk |
//! |---|---|---|
//! | settings | `ACCOUNT#<id>` | `XERO#SYNC_SETTINGS` (attribute `version`) |
//! | tenant claim | `XEROTENANT#<tenantId>` | `XEROTENANT` (`accountId`) |
//! | contact of a customer | `ACCOUNT#<id>` | `XERO#CONTACT#<tenantId>#<sha256(customerId)>` (`contactId`) |

use crate::{
    account_pk, build_error, decode_with_version, encode, n, s, sdk_error,
    transact::{OnConditionFailed, Write},
    DynamoStore, Item,
};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use invoicing_domain::{
    model::{xero_sync::XeroSyncSettings, Versioned},
    ports::{XeroContactMap, XeroInvoiceLinks, XeroPullSweeps, XeroSyncSettingsStore},
    Result,
};
use sha2::{Digest, Sha256};

const SETTINGS_SK: &str = "XERO#SYNC_SETTINGS";
const TENANT_SK: &str = "XEROTENANT";
/// The partition listing the accounts that pull payments (`ACCOUNT#<id>` items).
const PULLING_PK: &str = "XEROPULL";
const CURSOR_SK: &str = "XERO#PULL_CURSOR";
/// The claim is the account's own, or there is none.
const CLAIM_IS_FREE_OR_OURS: &str = "attribute_not_exists(accountId) OR accountId = :account";

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

fn tenant_key(tenant_id: &str) -> Item {
    key(format!("XEROTENANT#{tenant_id}"), TENANT_SK)
}

/// Whether a read must see every write that completed before it.
#[derive(Clone, Copy)]
enum Read {
    Consistent,
    Eventual,
}

impl DynamoStore {
    /// One string attribute of the item at `key`, if the item and the attribute exist.
    async fn string_attribute(&self, key: Item, name: &str, read: Read) -> Result<Option<String>> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(matches!(read, Read::Consistent))
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(answer.item.and_then(|item| item.get(name).and_then(|v| v.as_s().ok()).cloned()))
    }
}

impl XeroSyncSettingsStore for DynamoStore {
    async fn xero_sync_settings(&self, account_id: &str) -> Result<Option<Versioned<XeroSyncSettings>>> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), SETTINGS_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        answer.item.map(|item| decode_with_version(item, &format!("Xero sync settings of {account_id}"))).transpose()
    }

    async fn put_xero_sync_settings(
        &self,
        account_id: &str,
        settings: &XeroSyncSettings,
        expected: Option<u64>,
        previous_tenant: Option<&str>,
    ) -> Result<()> {
        let mut item = encode(settings)?;
        item.extend(key(account_pk(account_id), SETTINGS_SK));
        item.insert("version".into(), n(expected.unwrap_or(0) + 1));
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match expected {
            Some(version) => {
                put.condition_expression("version = :expected").expression_attribute_values(":expected", n(version))
            }
            None => put.condition_expression("attribute_not_exists(pk)"),
        };
        let mut writes = vec![Write::new(
            TransactWriteItem::builder().put(put.build().map_err(build_error)?).build(),
            format!("Xero sync settings of {account_id}"),
            OnConditionFailed::Contended("the Xero sync settings changed meanwhile".into()),
        )];
        let tenant = settings.tenant_id.as_deref();
        if let Some(previous) = previous_tenant.filter(|previous| Some(*previous) != tenant) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(tenant_key(previous)))
                .condition_expression(CLAIM_IS_FREE_OR_OURS)
                .expression_attribute_values(":account", s(account_id))
                .build()
                .map_err(build_error)?;
            writes.push(Write::new(
                TransactWriteItem::builder().delete(delete).build(),
                format!("claim of Xero organisation {previous}"),
                OnConditionFailed::Contended("the Xero organisation's claim changed meanwhile".into()),
            ));
        }
        // The list of pulling accounts the backstop sweeps (one partition: accounts that pull are
        // few, and the sweep reads them all).
        if let Some(tenant) = tenant {
            let mut entry = key(PULLING_PK.into(), &account_pk(account_id));
            entry.insert("accountId".into(), s(account_id));
            entry.insert("tenantId".into(), s(tenant));
            let put = Put::builder().table_name(&self.table).set_item(Some(entry)).build().map_err(build_error)?;
            writes.push(Write::new(
                TransactWriteItem::builder().put(put).build(),
                format!("pulling account {account_id}"),
                OnConditionFailed::Contended("the pulling accounts changed meanwhile".into()),
            ));
        } else if previous_tenant.is_some() {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(PULLING_PK.into(), &account_pk(account_id))))
                .build()
                .map_err(build_error)?;
            writes.push(Write::new(
                TransactWriteItem::builder().delete(delete).build(),
                format!("pulling account {account_id}"),
                OnConditionFailed::Contended("the pulling accounts changed meanwhile".into()),
            ));
        }
        if let Some(tenant) = tenant {
            let mut claim = tenant_key(tenant);
            claim.insert("accountId".into(), s(account_id));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(claim))
                .condition_expression(CLAIM_IS_FREE_OR_OURS)
                .expression_attribute_values(":account", s(account_id))
                .build()
                .map_err(build_error)?;
            writes.push(Write::new(
                TransactWriteItem::builder().put(put).build(),
                format!("claim of Xero organisation {tenant}"),
                OnConditionFailed::Conflict(
                    "another account already pulls this Xero organisation's payments; one account per organisation"
                        .into(),
                ),
            ));
        }
        self.transact(writes, None).await.map(drop)
    }

    async fn account_pulling_tenant(&self, tenant_id: &str) -> Result<Option<String>> {
        self.string_attribute(tenant_key(tenant_id), "accountId", Read::Consistent).await
    }
}

/// Customer ids are the client's strings: hashed, so that any of them makes a short key.
fn contact_sk(tenant_id: &str, customer_id: &str) -> String {
    format!("XERO#CONTACT#{tenant_id}#{}", hex::encode(Sha256::digest(customer_id.as_bytes())))
}

impl XeroContactMap for DynamoStore {
    async fn xero_contact(&self, account_id: &str, tenant_id: &str, customer_id: &str) -> Result<Option<String>> {
        let contact = key(account_pk(account_id), &contact_sk(tenant_id, customer_id));
        self.string_attribute(contact, "contactId", Read::Consistent).await
    }

    async fn record_xero_contact(
        &self,
        account_id: &str,
        tenant_id: &str,
        customer_id: &str,
        contact_id: &str,
    ) -> Result<String> {
        let mut item = key(account_pk(account_id), &contact_sk(tenant_id, customer_id));
        item.insert("contactId".into(), s(contact_id));
        item.insert("customerId".into(), s(customer_id));
        if self.put_if_absent(item).await? {
            return Ok(contact_id.to_string());
        }
        let recorded = self.xero_contact(account_id, tenant_id, customer_id).await?;
        recorded.ok_or_else(|| invoicing_domain::Error::contended("the Xero contact mapping changed meanwhile"))
    }
}

fn xero_invoice_sk(xero_invoice_id: &str) -> String {
    format!("XERO#INVOICE#{xero_invoice_id}")
}

/// `ACCOUNT#<id> / XERO#INVOICE#<Xero InvoiceID>` -> `invoiceId`: written once, when the push
/// first knows the Xero invoice.
impl XeroInvoiceLinks for DynamoStore {
    async fn record_xero_invoice(&self, account_id: &str, xero_invoice_id: &str, invoice_id: &str) -> Result<()> {
        let mut item = key(account_pk(account_id), &xero_invoice_sk(xero_invoice_id));
        item.insert("invoiceId".into(), s(invoice_id));
        self.put_if_absent(item).await?;
        Ok(())
    }

    async fn invoice_for_xero_invoice(&self, account_id: &str, xero_invoice_id: &str) -> Result<Option<String>> {
        let link = key(account_pk(account_id), &xero_invoice_sk(xero_invoice_id));
        self.string_attribute(link, "invoiceId", Read::Eventual).await
    }
}

impl XeroPullSweeps for DynamoStore {
    async fn pulling_accounts(&self) -> Result<Vec<(String, String)>> {
        let mut accounts = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let answer = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(PULLING_PK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for item in answer.items.unwrap_or_default() {
                let field = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(account), Some(tenant)) = (field("accountId"), field("tenantId")) {
                    accounts.push((account, tenant));
                }
            }
            match answer.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(accounts),
            }
        }
    }

    async fn pull_cursor(&self, account_id: &str) -> Result<Option<DateTime<Utc>>> {
        let swept_to = self.string_attribute(key(account_pk(account_id), CURSOR_SK), "sweptTo", Read::Eventual).await?;
        Ok(swept_to.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()).map(|t| t.with_timezone(&Utc)))
    }

    async fn set_pull_cursor(&self, account_id: &str, swept_to: DateTime<Utc>) -> Result<()> {
        let mut item = key(account_pk(account_id), CURSOR_SK);
        item.insert("sweptTo".into(), s(swept_to.to_rfc3339()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }
}
