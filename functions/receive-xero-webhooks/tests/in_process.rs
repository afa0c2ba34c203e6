//! `POST /integrations/xero/webhooks` behind the gateway, on the in-memory store: Xero's signature
//! decides, an intent-to-receive check gets 200, and only INVOICE events of an organisation an
//! account pulls are queued.

use invoicing_domain::{
    memory::InMemoryStore,
    model::{xero_pull::XeroPullMessage, xero_sync::XeroSyncSettings, xero_webhook::sign},
    ports::{IntegrationSecrets, XeroSyncSettingsStore},
    Result,
};
use invoicing_test_support::api::{TestApi, TestRequest, TestResponse};
use receive_xero_webhooks::{receive_xero_webhooks, route};
use serde_json::json;

const KEY: &str = "webhook-key-from-xero";

/// The app's webhook key, and nothing else.
#[derive(Clone)]
struct WebhookKey(Option<&'static str>);

impl IntegrationSecrets for WebhookKey {
    async fn xero_client_secret(&self, _account_id: &str) -> Result<Option<String>> {
        Ok(None)
    }
    async fn set_xero_client_secret(&self, _account_id: &str, _secret: &str) -> Result<()> {
        Ok(())
    }
    async fn xero_app_client_secret(&self) -> Result<Option<String>> {
        Ok(None)
    }
    async fn xero_webhook_key(&self) -> Result<Option<String>> {
        Ok(self.0.map(str::to_string))
    }
}

async fn post(api: &TestApi<InMemoryStore>, key: WebhookKey, body: &str, signature: Option<String>) -> TestResponse {
    let mut request = TestRequest::new("POST", "/integrations/xero/webhooks").body(body);
    if let Some(signature) = signature {
        request = request.header("x-xero-signature", signature);
    }
    api.call(&route(), request, |store, _context, request| async move {
        receive_xero_webhooks(&key, &store, &store, request).await
    })
    .await
}

fn event(tenant: &str, category: &str, resource: &str) -> serde_json::Value {
    json!({"resourceUrl": format!("https://api.xero.com/api.xro/2.0/Invoices/{resource}"), "resourceId": resource,
           "eventDateUtc": "2026-11-27T10:00:00.000", "eventType": "UPDATE", "eventCategory": category,
           "tenantId": tenant, "tenantType": "ORGANISATION"})
}

#[tokio::test]
async fn a_signed_intent_to_receive_check_gets_200_and_a_bad_signature_401_with_empty_bodies() {
    let api = TestApi::in_memory().await;
    let body = r#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"XKQVSDJQSS"}"#;
    let signed = post(&api, WebhookKey(Some(KEY)), body, Some(sign(KEY, body.as_bytes()))).await;
    assert_eq!((signed.status, signed.body.as_str()), (200, ""));
    for signature in [Some(sign("another-key", body.as_bytes())), Some("garbage".into()), None] {
        let refused = post(&api, WebhookKey(Some(KEY)), body, signature.clone()).await;
        assert_eq!((refused.status, refused.body.as_str()), (401, ""), "{signature:?}");
    }
    // Signed over another body.
    let refused =
        post(&api, WebhookKey(Some(KEY)), &body.replace("XKQ", "ABC"), Some(sign(KEY, body.as_bytes()))).await;
    assert_eq!(refused.status, 401);
    // No key configured: the endpoint fails (500) rather than refusing every webhook as unsigned.
    assert_eq!(post(&api, WebhookKey(None), body, Some(sign(KEY, body.as_bytes()))).await.status, 500);
    assert!(api.store.take_pulls().is_empty());
}

#[tokio::test]
async fn invoice_events_of_a_pulled_organisation_are_queued_once_each_and_the_rest_dropped() {
    let api = TestApi::in_memory().await;
    let account_id = api.account.account.id.clone();
    let pulling =
        XeroSyncSettings { pull_payments: true, tenant_id: Some("org-1".into()), ..XeroSyncSettings::default() };
    api.store.put_xero_sync_settings(&account_id, &pulling, None, None).await.unwrap();
    let invoice = "2d9e8c8a-0000-4000-8000-000000000001";
    let body = json!({"events": [
        event("org-1", "INVOICE", invoice),
        event("org-1", "INVOICE", invoice),
        event("org-1", "CONTACT", "2d9e8c8a-0000-4000-8000-000000000002"),
        event("org-2", "INVOICE", "2d9e8c8a-0000-4000-8000-000000000003"),
        event("org-1", "INVOICE", &"x".repeat(200)),
        event(&"o".repeat(3000), "INVOICE", invoice),
    ], "firstEventSequence": 1, "lastEventSequence": 5, "entropy": "A"})
    .to_string();
    // An idempotency key on this public route is ignored: no account to keep a record in.
    let request = TestRequest::new("POST", "/integrations/xero/webhooks")
        .body(body.as_str())
        .header("x-xero-signature", sign(KEY, body.as_bytes()))
        .idempotency_key("from-xero-1");
    let key = WebhookKey(Some(KEY));
    let answer = api
        .call(&route(), request, |store, _context, request| async move {
            receive_xero_webhooks(&key, &store, &store, request).await
        })
        .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    let expected = XeroPullMessage { account_id, tenant_id: "org-1".into(), xero_invoice_id: invoice.into() };
    assert_eq!(api.store.take_pulls(), [expected]);
}
