//! Two-way Xero sync's items on moto: settings versions, the tenant claim, and the contact that
//! stands for each customer.

use chrono::{SubsecRound, Utc};
use invoicing_domain::{
    model::xero_sync::XeroSyncSettings,
    ports::{XeroContactMap, XeroSyncSettingsStore},
    ErrorKind,
};
use invoicing_test_support::MotoServer;

#[tokio::test]
async fn the_first_contact_recorded_for_a_customer_stands_per_account_and_organisation() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    assert_eq!(store.xero_contact("acct-a", "tenant-1", "cust-1").await.unwrap(), None);

    assert_eq!(store.record_xero_contact("acct-a", "tenant-1", "cust-1", "contact-x").await.unwrap(), "contact-x");
    // A second push that created another contact meanwhile gets the first one back.
    assert_eq!(store.record_xero_contact("acct-a", "tenant-1", "cust-1", "contact-y").await.unwrap(), "contact-x");
    assert_eq!(store.xero_contact("acct-a", "tenant-1", "cust-1").await.unwrap().as_deref(), Some("contact-x"));

    // Another organisation, account or customer has its own.
    assert_eq!(store.xero_contact("acct-a", "tenant-2", "cust-1").await.unwrap(), None);
    assert_eq!(store.xero_contact("acct-b", "tenant-1", "cust-1").await.unwrap(), None);
    assert_eq!(store.xero_contact("acct-a", "tenant-1", "cust-2").await.unwrap(), None);

    // Any customer id makes a short key (it is hashed): far beyond DynamoDB's 1,024-byte sort key.
    let long_customer = "c".repeat(5_000);
    assert_eq!(
        store.record_xero_contact("acct-a", "tenant-1", &long_customer, "contact-z").await.unwrap(),
        "contact-z"
    );
    assert_eq!(store.xero_contact("acct-a", "tenant-1", &long_customer).await.unwrap().as_deref(), Some("contact-z"));
}

#[tokio::test]
async fn settings_are_written_at_the_version_read_and_move_the_tenant_claim() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let pulling = |tenant: Option<&str>| XeroSyncSettings {
        push_invoices: true,
        pull_payments: tenant.is_some(),
        tenant_id: tenant.map(str::to_string),
        updated_at: Some(Utc::now().trunc_subsecs(3)),
        ..XeroSyncSettings::default()
    };

    store.put_xero_sync_settings("acct-a", &pulling(Some("tenant-1")), None, None).await.unwrap();
    let stored = store.xero_sync_settings("acct-a").await.unwrap().unwrap();
    assert_eq!((stored.version, stored.value.tenant_id.as_deref()), (1, Some("tenant-1")));
    assert_eq!(store.account_pulling_tenant("tenant-1").await.unwrap().as_deref(), Some("acct-a"));

    // Written again from nothing, or at an old version: contended, and nothing changes.
    for expected in [None, Some(7)] {
        let error = store.put_xero_sync_settings("acct-a", &pulling(None), expected, None).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Contended, "{expected:?}");
    }
    assert_eq!(store.xero_sync_settings("acct-a").await.unwrap().unwrap().version, 1);

    // Another account cannot take the claim; its settings are not written either.
    let error = store.put_xero_sync_settings("acct-b", &pulling(Some("tenant-1")), None, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert_eq!(store.xero_sync_settings("acct-b").await.unwrap(), None);

    // Moving to another organisation releases the first claim in the same write.
    store.put_xero_sync_settings("acct-a", &pulling(Some("tenant-2")), Some(1), Some("tenant-1")).await.unwrap();
    assert_eq!(store.account_pulling_tenant("tenant-1").await.unwrap(), None);
    assert_eq!(store.account_pulling_tenant("tenant-2").await.unwrap().as_deref(), Some("acct-a"));
    assert_eq!(store.xero_sync_settings("acct-a").await.unwrap().unwrap().version, 2);
}
