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

#[tokio::test]
async fn webhook_secrets_are_kept_per_endpoint_and_forgotten() {
    use invoicing_domain::model::webhooks::signature::WebhookSecret;
    use invoicing_domain::ports::WebhookSecrets;

    let moto = MotoServer::start();
    let secrets = SecretsStore::new(aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await), "test");
    let (first, second) = (WebhookSecret::generate(), WebhookSecret::generate());
    assert_eq!(secrets.webhook_secret("acct-1", "ep-1").await.unwrap(), None);
    secrets.store_webhook_secret("acct-1", "ep-1", &first).await.unwrap();
    secrets.store_webhook_secret("acct-1", "ep-2", &second).await.unwrap();
    assert_eq!(secrets.webhook_secret("acct-1", "ep-1").await.unwrap(), Some(first));
    assert_eq!(secrets.webhook_secret("acct-2", "ep-1").await.unwrap(), None);

    // Stored as written (`whsec_...`), under a name of the account and the endpoint.
    let stored = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await)
        .get_secret_value()
        .secret_id("test/accounts/acct-1/webhook-endpoints/ep-2/signing-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.secret_string(), Some(second.expose().as_str()));

    secrets.forget_webhook_secret("acct-1", "ep-1").await.unwrap();
    secrets.forget_webhook_secret("acct-1", "ep-1").await.unwrap();
    assert_eq!(secrets.webhook_secret("acct-1", "ep-1").await.unwrap(), None);
    assert_eq!(secrets.webhook_secret("acct-1", "ep-2").await.unwrap(), Some(second));
}
