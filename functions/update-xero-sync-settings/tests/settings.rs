//! `GET|PUT /integrations/xero/settings` in process, behind the gateway, on moto: sync is off until
//! turned on, needs a Xero connection in use, and one account at most pulls an organisation.

use get_xero_sync_settings::get_xero_sync_settings;
use invoicing_domain::{
    model::{account::NewAccount, integration::XeroSettings},
    ports::{IntegrationSettings, XeroSyncSettingsStore},
};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::{
    api::{TestApi, TestRequest, TestResponse},
    MotoServer,
};
use serde_json::{json, Value};
use update_xero_sync_settings::{route, update_xero_sync_settings};

/// A custom Xero connection for the account, to `tenant_id`.
async fn connect(store: &DynamoStore, account_id: &str, tenant_id: Option<&str>) {
    let settings = XeroSettings {
        client_id: "app".into(),
        tenant_id: tenant_id.map(str::to_string),
        api_base_url: "http://127.0.0.1:9".into(),
        token_url: "http://127.0.0.1:9/connect/token".into(),
    };
    store.set_xero_settings(account_id, &settings).await.unwrap();
}

async fn put(api: &TestApi<DynamoStore>, account: &NewAccount, body: Value) -> TestResponse {
    let request = TestRequest::new("PUT", "/integrations/xero/settings").basic(account).json(&body);
    api.call(&route(), request, update_xero_sync_settings).await
}

async fn get(api: &TestApi<DynamoStore>, account: &NewAccount) -> Value {
    let request = TestRequest::new("GET", "/integrations/xero/settings").basic(account);
    let answer = api.call(&get_xero_sync_settings::route(), request, get_xero_sync_settings).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn off() -> Value {
    json!({"pushInvoices": false, "pullPayments": false, "salesAccountCode": "200", "tenantId": null, "updatedAt": null})
}

#[tokio::test]
async fn sync_is_off_until_turned_on_and_needs_a_connection_in_use() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let account = &api.account;
    assert_eq!(get(&api, account).await, off());

    let refused = put(&api, account, json!({"pushInvoices": true, "pullPayments": false})).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.json()["error"]["type"], "Conflict");
    assert!(refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("turning Xero sync on needs a Xero connection"));
    assert_eq!(get(&api, account).await, off(), "nothing stored");

    // Turning it off needs nothing.
    let off_again = put(&api, account, json!({"pushInvoices": false, "pullPayments": false})).await;
    assert_eq!(off_again.status, 200, "{}", off_again.body);
    assert_eq!(off_again.json()["pushInvoices"], false);
}

#[tokio::test]
async fn settings_are_stored_as_put_and_the_same_put_changes_nothing() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let account = &api.account;
    connect(&api.store, &account.account.id, Some("tenant-a")).await;

    let body = json!({"pushInvoices": true, "pullPayments": true, "salesAccountCode": "4000"});
    let answer = put(&api, account, body.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stored = answer.json();
    assert_eq!(
        (&stored["pushInvoices"], &stored["pullPayments"], &stored["salesAccountCode"], &stored["tenantId"]),
        (&json!(true), &json!(true), &json!("4000"), &json!("tenant-a"))
    );
    let updated_at = stored["updatedAt"].as_str().unwrap();
    assert!(updated_at.len() == 24 && updated_at.ends_with('Z'), "milliseconds, UTC: {updated_at}");
    assert_eq!(get(&api, account).await, stored);
    assert_eq!(api.store.account_pulling_tenant("tenant-a").await.unwrap().as_deref(), Some(&*account.account.id));

    let again = put(&api, account, body).await;
    assert_eq!((again.status, again.json()), (200, stored.clone()), "same settings: same updatedAt");
    assert_eq!(api.store.xero_sync_settings(&account.account.id).await.unwrap().unwrap().version, 1);

    // The code is kept when a later PUT leaves it out; pulling off gives the organisation up.
    let push_only = put(&api, account, json!({"pushInvoices": true, "pullPayments": false})).await;
    assert_eq!(push_only.status, 200, "{}", push_only.body);
    assert_eq!((&push_only.json()["salesAccountCode"], &push_only.json()["tenantId"]), (&json!("4000"), &Value::Null));
    assert_eq!(api.store.account_pulling_tenant("tenant-a").await.unwrap(), None);
}

#[tokio::test]
async fn one_account_at_most_pulls_an_organisation() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let second = api.another_account("Second Ltd").await;
    let (first, second) = (&api.account, &second);
    connect(&api.store, &first.account.id, Some("tenant-shared")).await;
    connect(&api.store, &second.account.id, Some("tenant-shared")).await;
    let pull = json!({"pushInvoices": false, "pullPayments": true});

    assert_eq!(put(&api, first, pull.clone()).await.status, 200);
    let refused = put(&api, second, pull.clone()).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(
        refused.json()["error"]["message"],
        "another account already pulls this Xero organisation's payments; one account per organisation"
    );
    assert_eq!(get(&api, second).await, off(), "the refused account stored nothing");
    // Pushing alone does not need the organisation to itself.
    assert_eq!(put(&api, second, json!({"pushInvoices": true, "pullPayments": false})).await.status, 200);

    // Once the first lets go, the second may pull.
    assert_eq!(put(&api, first, json!({"pushInvoices": false, "pullPayments": false})).await.status, 200);
    assert_eq!(put(&api, second, pull).await.status, 200);
    assert_eq!(api.store.account_pulling_tenant("tenant-shared").await.unwrap().as_deref(), Some(&*second.account.id));
}

#[tokio::test]
async fn pulling_needs_the_organisation_and_bad_bodies_are_400_storing_nothing() {
    let moto = MotoServer::start();
    let api = TestApi::on(moto.fresh_store().await).await;
    let account = &api.account;
    connect(&api.store, &account.account.id, None).await;

    let no_tenant = put(&api, account, json!({"pushInvoices": false, "pullPayments": true})).await;
    assert_eq!(no_tenant.status, 409, "{}", no_tenant.body);
    assert!(no_tenant.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("pullPayments needs to know the Xero organisation"));

    for (body, message) in [
        (json!({"pullPayments": false}), "pushInvoices"),
        (json!({"pushInvoices": true, "pullPayments": "yes"}), "pullPayments"),
        (json!({"pushInvoices": true, "pullPayments": false, "salesAccountCode": "20 0"}), "salesAccountCode: 1 to 10"),
        (
            json!({"pushInvoices": true, "pullPayments": false, "salesAccountCode": "12345678901"}),
            "salesAccountCode: 1 to 10",
        ),
        (json!({"pushInvoices": true, "pullPayments": false, "tenantId": "x"}), "tenantId"),
    ] {
        let answer = put(&api, account, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.json()["error"]["type"], "ValidationError", "{body}");
        assert!(answer.json()["error"]["message"].as_str().unwrap().contains(message), "{body}: {}", answer.body);
    }
    assert_eq!(get(&api, account).await, off());
}
