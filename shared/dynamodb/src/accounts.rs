use crate::{account_pk, build_error, decode, encode, s, sdk_error, DynamoStore, Item};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use invoicing_domain::{
    model::account::{Account, Credential, NewAccount, ReceivingAccount},
    ports::{AccountStore, CredentialStore, ReceivingAccounts},
    Error, Result,
};
use serde::Deserialize;

/// The account item: the account, and its settings when set.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountItem {
    #[serde(flatten)]
    account: Account,
    #[serde(default)]
    receiving_account: Option<ReceivingAccount>,
}

fn credential_pk(credential_id: &str) -> String {
    format!("CREDENTIAL#{credential_id}")
}

impl CredentialStore for DynamoStore {
    async fn find_credential(&self, credential_id: &str) -> Result<Option<Credential>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(credential_pk(credential_id)))
            .key("sk", s("CREDENTIAL"))
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item.map(decode).transpose()
    }
}

impl AccountStore for DynamoStore {
    async fn create_account(&self, new: &NewAccount) -> Result<()> {
        let put = |mut item: crate::Item, pk: String, sk: &str, entity: &str| {
            item.insert("pk".into(), s(pk));
            item.insert("sk".into(), s(sk));
            item.insert("entity".into(), s(entity));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_error)?;
            Ok::<_, Error>(TransactWriteItem::builder().put(put).build())
        };
        let mut writes = vec![put(encode(&new.account)?, account_pk(&new.account.id), "ACCOUNT", "ACCOUNT")?];
        for credential in &new.credentials {
            writes.push(put(encode(credential)?, credential_pk(&credential.id), "CREDENTIAL", "CREDENTIAL")?);
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map_err(|e| sdk_error("TransactWriteItems", e))?;
        Ok(())
    }

    async fn set_receiving_account(&self, account_id: &str, receiving: &ReceivingAccount) -> Result<()> {
        self.set_account_attribute(account_id, "receivingAccount", receiving).await
    }
}

impl ReceivingAccounts for DynamoStore {
    async fn receiving_account(&self, account_id: &str) -> Result<ReceivingAccount> {
        let AccountItem { account, receiving_account } = decode(self.existing_account_item(account_id, None).await?)?;
        Ok(receiving_account.unwrap_or_else(|| ReceivingAccount::unconfigured(&account)))
    }
}

impl DynamoStore {
    /// The account's item (consistent read), or its `projection` attributes only.
    pub(crate) async fn account_item(&self, account_id: &str, projection: Option<&str>) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s("ACCOUNT"))
            .set_projection_expression(projection.map(String::from))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(output.item)
    }

    /// The account's item; its absence is an internal error (authenticated accounts have one).
    pub(crate) async fn existing_account_item(&self, account_id: &str, projection: Option<&str>) -> Result<Item> {
        self.account_item(account_id, projection)
            .await?
            .ok_or_else(|| Error::internal(format!("account {account_id} has no account item")))
    }

    /// Sets one attribute of an existing account's item (a setting); no such account is a 404.
    pub(crate) async fn set_account_attribute<T: serde::Serialize>(
        &self,
        account_id: &str,
        name: &str,
        value: &T,
    ) -> Result<()> {
        let value = serde_dynamo::to_attribute_value(value)
            .map_err(|e| Error::internal_caused("a setting that cannot be encoded", e))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression("SET #setting = :value")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#setting", name)
            .expression_attribute_values(":value", value)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) {
                    Error::not_found(format!("no account {account_id}"))
                } else {
                    sdk_error("UpdateItem", e)
                }
            })?;
        Ok(())
    }
}
