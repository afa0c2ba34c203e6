use crate::{account_pk, decode, encode, s, sdk_error, DynamoStore};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use invoicing_domain::{
    account::{Credential, NewAccount},
    ports::{AccountStore, CredentialStore},
    Error, Result,
};

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
                .map_err(|e| Error::internal(e.to_string()))?;
            Ok::<_, Error>(TransactWriteItem::builder().put(put).build())
        };
        let mut writes = vec![put(
            encode(&new.account)?,
            account_pk(&new.account.id),
            "ACCOUNT",
            "ACCOUNT",
        )?];
        for credential in &new.credentials {
            writes.push(put(
                encode(credential)?,
                credential_pk(&credential.id),
                "CREDENTIAL",
                "CREDENTIAL",
            )?);
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map_err(|e| sdk_error("TransactWriteItems", e))?;
        Ok(())
    }
}
