//! The callback in process, behind the gateway (no credentials), on moto (table and Secrets
//! Manager) and the identity double of `invoicing_test_support::xero_identity_double` listing two
//! organisations, which xero-local cannot: the customer must choose, and `PUT` picks.

use invoicing_domain::{
    model::xero_connection::ConnectionStatus,
    ports::{TokenVault, XeroConnections},
    service::xero_connection::{connection_view, select_tenant, start_authorization, AuthorizeSettings},
};
use invoicing_secrets::SecretsStore;
use invoicing_test_support::{
    api::{TestApi, TestRequest},
    xero_identity_double::{DoubleTenant, IdentityDouble},
    MotoServer,
};
use invoicing_xero::oauth::XeroIdentityClient;
use xero_callback::{route, xero_callback};

const REDIRECT_URI: &str = "https://api.example.test/integrations/xero/callback";

#[tokio::test]
async fn several_organisations_wait_for_a_choice_and_put_picks_one() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let vault = SecretsStore::new(aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await), "callback-test");
    let (north, south) = (DoubleTenant::named("North Ltd"), DoubleTenant::named("South Ltd"));
    let identity = IdentityDouble::start(vec![north.clone(), south.clone()]).await;
    let app =
        invoicing_xero::oauth::XeroApp { redirect_uri: Some(REDIRECT_URI.into()), ..identity.app(&identity.uri()) };
    let client = XeroIdentityClient::new(app, "secret".into());
    let account_id = api.account.account.id.clone();
    let settings = AuthorizeSettings {
        authorize_url: format!("{}/authorize", identity.uri()),
        client_id: "app".into(),
        redirect_uri: REDIRECT_URI.into(),
    };
    let started = start_authorization(&api.store, &settings, &account_id, None, chrono::Utc::now()).await.unwrap();
    let state = reqwest::Url::parse(&started.authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();

    // No credentials: the state is the credential.
    let request = TestRequest::new("GET", "/integrations/xero/callback").query("code", "code-1").query("state", &state);
    let (in_vault, by_client) = (&vault, &client);
    let answer = api
        .call(&route(), request, |store, context, request| async move {
            xero_callback(&store, in_vault, by_client, Some(REDIRECT_URI), context, request).await
        })
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(answer.body.contains("<h1>Choose a Xero organisation</h1>"), "{}", answer.body);
    assert_eq!(identity.counts(|c| c.codes_exchanged), 1);

    let view = connection_view(&api.store, &account_id).await.unwrap();
    assert_eq!((view.status, view.tenant_id.as_deref()), (ConnectionStatus::TenantSelectionRequired, None));
    let listed: Vec<(&str, Option<&str>)> =
        view.tenants.iter().map(|t| (t.tenant_id.as_str(), t.tenant_name.as_deref())).collect();
    assert_eq!(listed, [(north.tenant_id.as_str(), Some("North Ltd")), (south.tenant_id.as_str(), Some("South Ltd"))]);
    assert!(vault.token_set(&account_id).await.unwrap().is_some());

    // Only an authorized organisation can be chosen; then the connection is CONNECTED to it.
    let refused = select_tenant(&api.store, &account_id, "some-other-tenant").await.unwrap_err();
    assert_eq!(
        refused.public_message(),
        "tenantId: some-other-tenant is not one of the organisations this Xero authorization reaches"
    );
    let chosen = select_tenant(&api.store, &account_id, &south.tenant_id).await.unwrap();
    assert_eq!((chosen.status, chosen.tenant_name.as_deref()), (ConnectionStatus::Connected, Some("South Ltd")));
    let stored = api.store.oauth_connection(&account_id).await.unwrap().unwrap().value;
    assert_eq!(stored.tenant_id.as_deref(), Some(south.tenant_id.as_str()));
}
