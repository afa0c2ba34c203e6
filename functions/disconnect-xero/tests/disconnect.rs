//! `DELETE /integrations/xero` in process, behind the gateway, on moto (table and Secrets Manager)
//! and the identity double, which has the revocation and `DELETE /connections/{id}` endpoints
//! xero-local lacks. Two-way sync stops with the connection.

use chrono::Utc;
use disconnect_xero::{disconnect_xero, route};
use invoicing_domain::{
    model::xero_connection::{OAuthConnection, XeroTenant},
    model::xero_sync::XeroSyncSettings,
    ports::{TokenVault, XeroConnections, XeroIdentity, XeroSyncSettingsStore},
    service::xero_connection::TokenKeeper,
};
use invoicing_secrets::SecretsStore;
use invoicing_test_support::{
    api::TestApi,
    xero_identity_double::{DoubleTenant, IdentityDouble},
    MotoServer,
};
use invoicing_xero::oauth::XeroIdentityClient;

#[tokio::test]
async fn disconnect_deletes_the_connections_revokes_the_refresh_token_and_forgets_everything() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let vault = SecretsStore::new(aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await), "disconnect-test");
    let (north, south) = (DoubleTenant::named("North Ltd"), DoubleTenant::named("South Ltd"));
    let identity = IdentityDouble::start(vec![north.clone(), south.clone()]).await;
    let app = identity.app(&identity.uri());
    let account_id = api.account.account.id.clone();
    let tenants = [&north, &south]
        .iter()
        .map(|t| XeroTenant {
            tenant_id: t.tenant_id.clone(),
            tenant_name: Some(t.tenant_name.clone()),
            connection_id: t.connection_id.clone(),
        })
        .collect();
    let connection = OAuthConnection::authorized(tenants, vec![], Utc::now());
    api.store.put_oauth_connection(&account_id, &connection, None).await.unwrap();
    // The access token has expired: deleting the connections needs a refresh first.
    let expired = identity.expired_token_set();
    vault.store_token_set(&account_id, &expired).await.unwrap();
    let keeper = TokenKeeper::new(api.store.clone(), vault.clone(), XeroIdentityClient::new(app.clone(), "s".into()));
    // Two-way sync on, pulling North's payments.
    let syncing = XeroSyncSettings {
        push_invoices: true,
        pull_payments: true,
        tenant_id: Some(north.tenant_id.clone()),
        ..XeroSyncSettings::default()
    };
    api.store.put_xero_sync_settings(&account_id, &syncing, None, None).await.unwrap();

    let answer =
        api.call(&route(), api.request("DELETE", "/integrations/xero"), |_, c, r| disconnect_xero(&keeper, c, r)).await;
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    let (deleted, revoked, refreshes) =
        identity.counts(|c| (c.deleted_connections.clone(), c.revoked.clone(), c.refresh_requests));
    assert_eq!(refreshes, 1);
    assert_eq!(deleted, [north.connection_id.clone(), south.connection_id.clone()]);
    // The refresh token revoked is the one the refresh stored, not the replaced one.
    assert_eq!(revoked.len(), 1);
    assert_ne!(revoked[0], expired.refresh_token);
    assert!(vault.token_set(&account_id).await.unwrap().is_none(), "the token set is forgotten");
    assert!(api.store.oauth_connection(&account_id).await.unwrap().is_none(), "the connection is forgotten");
    let sync = api.store.xero_sync_settings(&account_id).await.unwrap().unwrap().value;
    assert_eq!((sync.push_invoices, sync.pull_payments, sync.tenant_id), (false, false, None), "sync stopped");
    assert_eq!(api.store.account_pulling_tenant(&north.tenant_id).await.unwrap(), None, "North given up");
    let at_xero = XeroIdentityClient::new(app, "s".into()).refresh(&revoked[0]).await.unwrap_err();
    assert_eq!(at_xero.to_string(), "Xero refused the grant: invalid_grant", "revoked at Xero");

    // A repeat changes nothing and says the same.
    let again =
        api.call(&route(), api.request("DELETE", "/integrations/xero"), |_, c, r| disconnect_xero(&keeper, c, r)).await;
    assert_eq!(again.status, 204);
    assert_eq!(identity.counts(|c| c.revoked.len()), 1);
}
