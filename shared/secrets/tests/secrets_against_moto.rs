//! The Secrets Manager adapter against moto_server.

use invoicing_domain::ports::IntegrationSecrets;
use invoicing_secrets::SecretsStore;
use invoicing_test_support::MotoServer;

#[tokio::test]
async fn secrets_are_created_replaced_and_kept_per_account() {
    let moto = MotoServer::start();
    let secrets = SecretsStore::new(aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await), "test");
    assert_eq!(secrets.xero_client_secret("acct-1").await.unwrap(), None);
    secrets.set_xero_client_secret("acct-1", "first").await.unwrap();
    secrets.set_xero_client_secret("acct-2", "other").await.unwrap();
    assert_eq!(secrets.xero_client_secret("acct-1").await.unwrap().as_deref(), Some("first"));
    secrets.set_xero_client_secret("acct-1", "rotated").await.unwrap();
    assert_eq!(secrets.xero_client_secret("acct-1").await.unwrap().as_deref(), Some("rotated"));
    assert_eq!(secrets.xero_client_secret("acct-2").await.unwrap().as_deref(), Some("other"));
}
