//! In-memory implementations of the ports, for fast unit tests. Never the only test of an adapter.

use crate::{
    model::{
        account::{Account, Credential, NewAccount, ReceivingAccount},
        idempotency::{self, new_claim_token, Claim, IdempotencyClaim, IdempotencyRecord, Receipt},
        invoice::Invoice,
        lines::{LineChange, LineItem, LineItemGroup},
        pagination::Page,
        webhooks::{
            delivery::{attempt_position, AttemptOutcome, DeliveryAttempt, DeliveryTask, RecordedAttempt},
            signature::WebhookSecret,
            target::TargetPolicy,
            Event, OutboxEvent, WebhookEndpoint,
        },
        xero_budget::{self, Acquire, BlockScope, BudgetLimits, Lease, Refusal, Used},
        xero_pull::XeroPullMessage,
        xero_push::XeroPushMessage,
        xero_sync::XeroSyncSettings,
        Versioned,
    },
    ports::{
        AccountStore, CredentialStore, DeliveryQueue, IdempotencyStore, InvoiceNumbering, InvoiceQuery, InvoiceStore,
        LineItemStore, ReceivingAccounts, WebhookDeliveries, WebhookEndpoints, WebhookEvents, WebhookSecrets,
        WebhookSender, XeroBudgetStore, XeroPullQueue, XeroPullSweeps, XeroPushQueue, XeroSyncSettingsStore,
    },
    Error, Result,
};
use chrono::{DateTime, Utc};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

type Key2 = (String, String);
type Key3 = (String, String, String);

#[derive(Default)]
struct State {
    invoices: BTreeMap<Key2, Versioned<Invoice>>,
    lines: BTreeMap<Key3, LineItem>,
    groups: BTreeMap<Key3, LineItemGroup>,
    counters: BTreeMap<String, u64>,
    accounts: BTreeMap<String, (Account, Option<ReceivingAccount>)>,
    credentials: BTreeMap<String, Credential>,
    idempotency: BTreeMap<Key2, IdempotencyRecord>,
    webhook_endpoints: BTreeMap<Key2, Versioned<WebhookEndpoint>>,
    webhook_secrets: BTreeMap<Key2, WebhookSecret>,
    /// The outbox, in commit order.
    outbox: Vec<OutboxEvent>,
    /// Attempts by (account, endpoint, event id + attempt number).
    attempts: BTreeMap<Key3, RecordedAttempt>,
    /// Delivery messages sent, with their delay.
    queued: Vec<(DeliveryTask, std::time::Duration)>,
    /// Xero sync settings by account.
    sync_settings: BTreeMap<String, Versioned<XeroSyncSettings>>,
    /// Which account pulls each Xero organisation.
    tenant_claims: BTreeMap<String, String>,
    /// Xero push messages sent.
    pushes: Vec<XeroPushMessage>,
    /// Xero pull messages sent.
    pulls: Vec<XeroPullMessage>,
    /// Where each account's last sweep of Xero's changes got to.
    pull_cursors: BTreeMap<String, DateTime<Utc>>,
}

/// Clones share the same data, like clones of an SDK client share the same table.
#[derive(Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The answer recorded under an account's idempotency key, if any.
    pub fn recorded_answer(&self, account_id: &str, key: &str) -> Option<idempotency::StoredResponse> {
        self.state().idempotency.get(&key2(account_id, key)).and_then(|record| record.response.clone())
    }

    /// How many webhook secrets are stored, whoever they belong to.
    pub fn stored_webhook_secrets(&self) -> usize {
        self.state().webhook_secrets.len()
    }

    /// The Xero pull messages sent so far, taken.
    pub fn take_pulls(&self) -> Vec<XeroPullMessage> {
        std::mem::take(&mut self.state().pulls)
    }

    /// The Xero push messages sent so far, taken.
    pub fn take_pushes(&self) -> Vec<XeroPushMessage> {
        std::mem::take(&mut self.state().pushes)
    }

    /// The outbox's events, in commit order.
    pub fn outbox(&self) -> Vec<OutboxEvent> {
        self.state().outbox.clone()
    }

    /// Takes the delivery messages sent so far, with their delays.
    pub fn take_queued(&self) -> Vec<(DeliveryTask, std::time::Duration)> {
        std::mem::take(&mut self.state().queued)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

fn key2(a: &str, b: &str) -> Key2 {
    (a.to_string(), b.to_string())
}

fn key3(a: &str, b: &str, c: &str) -> Key3 {
    (a.to_string(), b.to_string(), c.to_string())
}

fn check_version(state: &State, invoice: &Invoice, expected: u64) -> Result<()> {
    expect_version(state.invoices.get(&key2(&invoice.sequence_account_id, &invoice.id)), expected, "invoice")
}

/// What a conditional write on `version = expected` does: go on, or lose the race.
fn expect_version<T>(current: Option<&Versioned<T>>, expected: u64, what: &str) -> Result<()> {
    match current {
        Some(current) if current.version == expected => Ok(()),
        _ => Err(Error::contended(format!("{what} changed concurrently"))),
    }
}

fn store_version(state: &mut State, invoice: &Invoice, expected: u64) {
    let versioned = Versioned { value: invoice.clone(), version: expected.saturating_add(1) };
    state.invoices.insert(key2(&invoice.sequence_account_id, &invoice.id), versioned);
}

/// Checks that a receipt's claim still holds its key, unrecorded (what the DynamoDB adapter's
/// transaction conditions on).
fn check_receipt(state: &State, receipt: Option<&Receipt>) -> Result<()> {
    let Some(receipt) = receipt else { return Ok(()) };
    let claim = &receipt.claim;
    match state.idempotency.get(&key2(&claim.account_id, &claim.key)) {
        Some(record) if record.token == claim.token && record.response.is_none() => Ok(()),
        _ => Err(idempotency::in_progress()),
    }
}

fn record_event(state: &mut State, account_id: &str, event: Option<&Event>) {
    if let Some(event) = event {
        state.outbox.push(OutboxEvent::new(account_id, event));
    }
}

fn attempt_key(account_id: &str, endpoint_id: &str, event_id: &str, attempt: u32) -> Key3 {
    key3(account_id, endpoint_id, &attempt_position(event_id, attempt))
}

fn record_receipt(state: &mut State, receipt: Option<&Receipt>) {
    if let Some(receipt) = receipt {
        let claim = &receipt.claim;
        if let Some(record) = state.idempotency.get_mut(&key2(&claim.account_id, &claim.key)) {
            record.response = Some(receipt.response.clone());
        }
    }
}

impl InvoiceStore for InMemoryStore {
    async fn insert_invoice(&self, invoice: &Invoice, event: Option<&Event>, receipt: Option<&Receipt>) -> Result<()> {
        let mut state = self.state();
        let key = key2(&invoice.sequence_account_id, &invoice.id);
        if state.invoices.contains_key(&key) {
            return Err(Error::conflict("invoice already exists"));
        }
        check_receipt(&state, receipt)?;
        state.invoices.insert(key, Versioned { value: invoice.clone(), version: 1 });
        record_receipt(&mut state, receipt);
        record_event(&mut state, &invoice.sequence_account_id, event);
        Ok(())
    }

    async fn get_invoice(&self, account_id: &str, invoice_id: &str) -> Result<Option<Versioned<Invoice>>> {
        Ok(self.state().invoices.get(&key2(account_id, invoice_id)).cloned())
    }

    async fn replace_invoice(
        &self,
        invoice: &Invoice,
        expected_version: u64,
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let mut state = self.state();
        check_version(&state, invoice, expected_version)?;
        check_receipt(&state, receipt)?;
        store_version(&mut state, invoice, expected_version);
        record_receipt(&mut state, receipt);
        record_event(&mut state, &invoice.sequence_account_id, event);
        Ok(())
    }

    async fn list_invoices(&self, account_id: &str, query: &InvoiceQuery) -> Result<Page<Invoice>> {
        let state = self.state();
        let mut matching = state
            .invoices
            .iter()
            .filter(|((account, id), _)| account == account_id && query.after.as_ref().is_none_or(|after| id > after))
            .map(|(_, invoice)| &invoice.value)
            .filter(|i| query.status.is_none_or(|s| i.status == s))
            .filter(|i| query.customer_id.as_ref().is_none_or(|c| &i.customer_id == c));
        let items: Vec<Invoice> = matching.by_ref().take(query.limit).cloned().collect();
        let more = matching.next().is_some();
        let after = if more { items.last().map(|i| i.id.clone()) } else { None };
        Ok(Page { items, after })
    }
}

impl WebhookEndpoints for InMemoryStore {
    async fn insert_webhook_endpoint(&self, endpoint: &WebhookEndpoint, receipt: Option<&Receipt>) -> Result<()> {
        let mut state = self.state();
        let key = key2(&endpoint.account_id, &endpoint.id);
        if state.webhook_endpoints.contains_key(&key) {
            return Err(Error::conflict("webhook endpoint already exists"));
        }
        check_receipt(&state, receipt)?;
        state.webhook_endpoints.insert(key, Versioned { value: endpoint.clone(), version: 1 });
        record_receipt(&mut state, receipt);
        Ok(())
    }

    async fn get_webhook_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<Versioned<WebhookEndpoint>>> {
        Ok(self.state().webhook_endpoints.get(&key2(account_id, endpoint_id)).cloned())
    }

    async fn list_webhook_endpoints(
        &self,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<WebhookEndpoint>> {
        let state = self.state();
        let mut matching = state
            .webhook_endpoints
            .iter()
            .filter(|((account, id), _)| account == account_id && after.is_none_or(|after| id.as_str() > after))
            .map(|(_, endpoint)| &endpoint.value);
        let items: Vec<WebhookEndpoint> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        let after = if more { items.last().map(|e| e.id.clone()) } else { None };
        Ok(Page { items, after })
    }

    async fn replace_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        expected_version: u64,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let mut state = self.state();
        let key = key2(&endpoint.account_id, &endpoint.id);
        expect_version(state.webhook_endpoints.get(&key), expected_version, "webhook endpoint")?;
        check_receipt(&state, receipt)?;
        let versioned = Versioned { value: endpoint.clone(), version: expected_version.saturating_add(1) };
        state.webhook_endpoints.insert(key, versioned);
        record_receipt(&mut state, receipt);
        Ok(())
    }

    async fn delete_webhook_endpoint(
        &self,
        account_id: &str,
        endpoint_id: &str,
        expected_version: u64,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let mut state = self.state();
        let key = key2(account_id, endpoint_id);
        expect_version(state.webhook_endpoints.get(&key), expected_version, "webhook endpoint")?;
        check_receipt(&state, receipt)?;
        state.webhook_endpoints.remove(&key);
        record_receipt(&mut state, receipt);
        Ok(())
    }
}

impl WebhookSecrets for InMemoryStore {
    async fn store_webhook_secret(&self, account_id: &str, endpoint_id: &str, secret: &WebhookSecret) -> Result<()> {
        self.state().webhook_secrets.insert(key2(account_id, endpoint_id), secret.clone());
        Ok(())
    }

    async fn webhook_secret(&self, account_id: &str, endpoint_id: &str) -> Result<Option<WebhookSecret>> {
        Ok(self.state().webhook_secrets.get(&key2(account_id, endpoint_id)).cloned())
    }

    async fn forget_webhook_secret(&self, account_id: &str, endpoint_id: &str) -> Result<()> {
        self.state().webhook_secrets.remove(&key2(account_id, endpoint_id));
        Ok(())
    }
}

impl WebhookEvents for InMemoryStore {
    async fn webhook_event(&self, account_id: &str, event_id: &str) -> Result<Option<OutboxEvent>> {
        Ok(self.state().outbox.iter().find(|e| e.account_id == account_id && e.id == event_id).cloned())
    }
}

impl WebhookDeliveries for InMemoryStore {
    async fn delivery_attempt(
        &self,
        account_id: &str,
        endpoint_id: &str,
        event_id: &str,
        attempt: u32,
    ) -> Result<Option<RecordedAttempt>> {
        Ok(self.state().attempts.get(&attempt_key(account_id, endpoint_id, event_id, attempt)).cloned())
    }

    async fn record_attempt(&self, account_id: &str, endpoint_id: &str, attempt: &DeliveryAttempt) -> Result<bool> {
        let key = attempt_key(account_id, endpoint_id, &attempt.event_id, attempt.attempt);
        let mut state = self.state();
        if state.attempts.contains_key(&key) {
            return Ok(false);
        }
        state.attempts.insert(key, RecordedAttempt { attempt: attempt.clone(), followed_up: false });
        Ok(true)
    }

    async fn mark_followed_up(&self, account_id: &str, endpoint_id: &str, event_id: &str, attempt: u32) -> Result<()> {
        if let Some(recorded) = self.state().attempts.get_mut(&attempt_key(account_id, endpoint_id, event_id, attempt))
        {
            recorded.followed_up = true;
        }
        Ok(())
    }

    async fn list_delivery_attempts(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<DeliveryAttempt>> {
        let state = self.state();
        let mut matching = state
            .attempts
            .iter()
            .rev()
            .filter(|((a, e, position), _)| {
                a == account_id && e == endpoint_id && after.is_none_or(|after| position.as_str() < after)
            })
            .map(|((_, _, position), recorded)| (position, &recorded.attempt));
        let items: Vec<(&String, &DeliveryAttempt)> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        let after = if more { items.last().map(|(position, _)| position.to_string()) } else { None };
        Ok(Page { items: items.into_iter().map(|(_, attempt)| attempt.clone()).collect(), after })
    }
}

impl XeroSyncSettingsStore for InMemoryStore {
    async fn xero_sync_settings(&self, account_id: &str) -> Result<Option<Versioned<XeroSyncSettings>>> {
        Ok(self.state().sync_settings.get(account_id).cloned())
    }

    async fn put_xero_sync_settings(
        &self,
        account_id: &str,
        settings: &XeroSyncSettings,
        expected: Option<u64>,
        previous_tenant: Option<&str>,
    ) -> Result<()> {
        let mut state = self.state();
        if state.sync_settings.get(account_id).map(|s| s.version) != expected {
            return Err(Error::contended("the sync settings changed meanwhile"));
        }
        if let Some(tenant) = &settings.tenant_id {
            if state.tenant_claims.get(tenant).is_some_and(|holder| holder != account_id) {
                return Err(Error::conflict("another account pulls this Xero organisation"));
            }
        }
        if let Some(previous) = previous_tenant {
            if state.tenant_claims.get(previous).is_some_and(|holder| holder == account_id) {
                state.tenant_claims.remove(previous);
            }
        }
        if let Some(tenant) = &settings.tenant_id {
            state.tenant_claims.insert(tenant.clone(), account_id.to_string());
        }
        let version = expected.map_or(1, |v| v + 1);
        state.sync_settings.insert(account_id.to_string(), Versioned { value: settings.clone(), version });
        Ok(())
    }

    async fn account_pulling_tenant(&self, tenant_id: &str) -> Result<Option<String>> {
        Ok(self.state().tenant_claims.get(tenant_id).cloned())
    }
}

impl XeroPullSweeps for InMemoryStore {
    async fn pulling_accounts(&self) -> Result<Vec<(String, String)>> {
        Ok(self.state().tenant_claims.iter().map(|(tenant, account)| (account.clone(), tenant.clone())).collect())
    }

    async fn pull_cursor(&self, account_id: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.state().pull_cursors.get(account_id).copied())
    }

    async fn set_pull_cursor(&self, account_id: &str, swept_to: DateTime<Utc>) -> Result<()> {
        self.state().pull_cursors.insert(account_id.to_string(), swept_to);
        Ok(())
    }
}

impl XeroPullQueue for InMemoryStore {
    async fn queue_pulls(&self, messages: &[XeroPullMessage]) -> Result<()> {
        self.state().pulls.extend_from_slice(messages);
        Ok(())
    }
}

impl XeroPushQueue for InMemoryStore {
    async fn queue_pushes(&self, messages: &[XeroPushMessage]) -> Result<()> {
        self.state().pushes.extend_from_slice(messages);
        Ok(())
    }
}

impl DeliveryQueue for InMemoryStore {
    async fn schedule(&self, tasks: &[DeliveryTask], delay: std::time::Duration) -> Result<()> {
        self.state().queued.extend(tasks.iter().map(|task| (task.clone(), delay)));
        Ok(())
    }
}

/// A stand-in for the endpoints' HTTP servers: answers each POST with the next scripted outcome
/// (a 204 once the script is spent) and keeps what was sent.
#[derive(Clone, Default)]
pub struct ScriptedSender {
    script: Arc<Mutex<std::collections::VecDeque<AttemptOutcome>>>,
    sent: Arc<Mutex<Vec<SentRequest>>>,
}

/// One POST a [`ScriptedSender`] was asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRequest {
    /// Where to.
    pub url: String,
    /// Its headers.
    pub headers: Vec<(&'static str, String)>,
    /// Its body.
    pub body: String,
}

impl ScriptedSender {
    /// A sender that answers with `outcomes`, in order, then 204.
    pub fn answering(outcomes: impl IntoIterator<Item = AttemptOutcome>) -> ScriptedSender {
        ScriptedSender { script: Arc::new(Mutex::new(outcomes.into_iter().collect())), sent: Arc::default() }
    }

    /// What was sent so far.
    pub fn sent(&self) -> Vec<SentRequest> {
        self.sent.lock().unwrap().clone()
    }
}

impl WebhookSender for ScriptedSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
        _timeout: std::time::Duration,
        _policy: TargetPolicy,
    ) -> AttemptOutcome {
        self.sent.lock().unwrap().push(SentRequest {
            url: url.to_string(),
            headers: headers.to_vec(),
            body: body.to_string(),
        });
        self.script.lock().unwrap().pop_front().unwrap_or(AttemptOutcome::Answered(204))
    }
}

impl LineItemStore for InMemoryStore {
    async fn get_line_item(&self, account_id: &str, invoice_id: &str, line_item_id: &str) -> Result<Option<LineItem>> {
        Ok(self.state().lines.get(&key3(account_id, invoice_id, line_item_id)).cloned())
    }

    async fn list_line_items(
        &self,
        account_id: &str,
        invoice_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<LineItem>> {
        let state = self.state();
        let mut matching = state
            .lines
            .iter()
            .filter(|((a, i, l), _)| a == account_id && i == invoice_id && after.is_none_or(|after| l.as_str() > after))
            .map(|(_, line)| line);
        let items: Vec<LineItem> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        let after = if more { items.last().map(|l| l.id.clone()) } else { None };
        Ok(Page { items, after })
    }

    async fn get_line_item_groups(
        &self,
        account_id: &str,
        invoice_id: &str,
        group_ids: &[&str],
    ) -> Result<Vec<LineItemGroup>> {
        let state = self.state();
        Ok(group_ids.iter().filter_map(|g| state.groups.get(&key3(account_id, invoice_id, g)).cloned()).collect())
    }

    async fn commit_line_change(&self, account_id: &str, change: &LineChange, receipt: Option<&Receipt>) -> Result<()> {
        let mut state = self.state();
        check_version(&state, &change.invoice, change.expected_version)?;
        check_receipt(&state, receipt)?;
        record_receipt(&mut state, receipt);
        store_version(&mut state, &change.invoice, change.expected_version);
        let invoice_id = &change.invoice.id;
        if let Some(line) = &change.delete_line {
            state.lines.remove(&key3(account_id, invoice_id, &line.id));
        }
        if let Some(line) = &change.put_line {
            state.lines.insert(key3(account_id, invoice_id, &line.id), line.clone());
        }
        for group in &change.put_groups {
            state.groups.insert(key3(account_id, invoice_id, &group.id), group.clone());
        }
        Ok(())
    }
}

impl InvoiceNumbering for InMemoryStore {
    async fn last_invoice_number(&self, account_id: &str) -> Result<u64> {
        Ok(self.state().counters.get(account_id).copied().unwrap_or(0))
    }

    async fn commit_finalized(
        &self,
        invoice: &Invoice,
        expected_version: u64,
        number: u64,
        event: Option<&Event>,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let mut state = self.state();
        check_version(&state, invoice, expected_version)?;
        let account = &invoice.sequence_account_id;
        if state.counters.get(account).copied().unwrap_or(0).checked_add(1) != Some(number) {
            return Err(Error::contended("invoice number taken concurrently"));
        }
        check_receipt(&state, receipt)?;
        record_receipt(&mut state, receipt);
        state.counters.insert(account.clone(), number);
        store_version(&mut state, invoice, expected_version);
        record_event(&mut state, account, event);
        Ok(())
    }
}

impl CredentialStore for InMemoryStore {
    async fn find_credential(&self, credential_id: &str) -> Result<Option<Credential>> {
        Ok(self.state().credentials.get(credential_id).cloned())
    }
}

impl AccountStore for InMemoryStore {
    async fn create_account(&self, account: &NewAccount) -> Result<()> {
        let mut state = self.state();
        for credential in &account.credentials {
            state.credentials.insert(credential.id.clone(), credential.clone());
        }
        state.accounts.insert(account.account.id.clone(), (account.account.clone(), None));
        Ok(())
    }

    async fn set_receiving_account(&self, account_id: &str, receiving: &ReceivingAccount) -> Result<()> {
        let mut state = self.state();
        let entry = state.accounts.get_mut(account_id).ok_or_else(|| Error::not_found("no such account"))?;
        entry.1 = Some(receiving.clone());
        Ok(())
    }
}

impl ReceivingAccounts for InMemoryStore {
    async fn receiving_account(&self, account_id: &str) -> Result<ReceivingAccount> {
        let state = self.state();
        let (account, receiving) = state.accounts.get(account_id).ok_or_else(|| Error::internal("no such account"))?;
        Ok(receiving.clone().unwrap_or_else(|| ReceivingAccount::unconfigured(account)))
    }
}

impl IdempotencyStore for InMemoryStore {
    async fn claim(&self, account_id: &str, key: &str, fingerprint: &str, now: DateTime<Utc>) -> Result<Claim> {
        let mut state = self.state();
        let slot = key2(account_id, key);
        match state.idempotency.get(&slot) {
            Some(existing) if !existing.can_be_replaced(fingerprint, now) => existing.decide(fingerprint),
            _ => {
                let token = new_claim_token();
                state.idempotency.insert(slot, IdempotencyRecord::in_progress(fingerprint, &token, now));
                Ok(Claim::Acquired(IdempotencyClaim {
                    account_id: account_id.to_string(),
                    key: key.to_string(),
                    fingerprint: fingerprint.to_string(),
                    token,
                }))
            }
        }
    }

    async fn complete(&self, receipt: &Receipt) -> Result<()> {
        let mut state = self.state();
        if check_receipt(&state, Some(receipt)).is_ok() {
            record_receipt(&mut state, Some(receipt));
        }
        Ok(())
    }

    async fn release(&self, claim: &IdempotencyClaim) -> Result<()> {
        let mut state = self.state();
        let slot = key2(&claim.account_id, &claim.key);
        if state.idempotency.get(&slot).is_some_and(|r| r.token == claim.token && r.response.is_none()) {
            state.idempotency.remove(&slot);
        }
        Ok(())
    }
}

/// The Xero call budget in memory, with the DynamoDB adapter's rules (one transaction per
/// acquire: all counters and one slot, or nothing).
#[derive(Clone, Default)]
pub struct InMemoryXeroBudget {
    state: Arc<Mutex<BudgetState>>,
}

#[derive(Default)]
struct BudgetState {
    /// (tenant or app key, window key) -> calls.
    counters: BTreeMap<Key2, u32>,
    /// (tenant, slot) -> lease.
    slots: BTreeMap<(String, u32), Lease>,
    /// tenant or app key -> (until, problem).
    blocks: BTreeMap<String, (DateTime<Utc>, Option<String>)>,
}

impl InMemoryXeroBudget {
    /// An empty budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls counted for a tenant (or [`xero_budget::APP_KEY`]) in a window (a minute or day key).
    pub fn calls(&self, tenant: &str, window: &str) -> u32 {
        self.state.lock().unwrap().counters.get(&key2(tenant, window)).copied().unwrap_or(0)
    }
}

impl XeroBudgetStore for InMemoryXeroBudget {
    async fn try_acquire(&self, tenant: &str, now: DateTime<Utc>, limits: &BudgetLimits) -> Result<Acquire> {
        let mut state = self.state.lock().unwrap();
        let blocked = [tenant, xero_budget::APP_KEY]
            .into_iter()
            .filter_map(|key| state.blocks.get(key))
            .filter(|(until, _)| *until >= now)
            .max_by_key(|(until, _)| *until);
        let counter = |key: &str, window: String| state.counters.get(&key2(key, &window)).copied().unwrap_or(0);
        let (minute, day) = (xero_budget::minute_key(now), xero_budget::day_key(now));
        let refusal = if let Some((until, problem)) = blocked {
            Some(Refusal::Blocked { until: *until, problem: problem.clone() })
        } else if counter(tenant, day.clone()) >= limits.per_day {
            Some(Refusal::Day)
        } else if counter(tenant, minute.clone()) >= limits.per_minute {
            Some(Refusal::Minute)
        } else if counter(xero_budget::APP_KEY, minute.clone()) >= limits.app_per_minute {
            Some(Refusal::AppMinute)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return Ok(refusal.wait(now));
        }
        let free = (0..limits.in_flight)
            .find(|slot| state.slots.get(&(tenant.to_string(), *slot)).is_none_or(|lease| lease.until < now));
        let Some(slot) = free else { return Ok(Refusal::Slots.wait(now)) };
        for (key, window) in [(tenant, minute.clone()), (tenant, day), (xero_budget::APP_KEY, minute)] {
            *state.counters.entry(key2(key, &window)).or_default() += 1;
        }
        let lease = Lease {
            tenant: tenant.to_string(),
            slot,
            lease_id: uuid::Uuid::new_v4().to_string(),
            until: now + limits.lease,
        };
        state.slots.insert((tenant.to_string(), slot), lease.clone());
        Ok(Acquire::Granted(lease))
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        let key = (lease.tenant.clone(), lease.slot);
        if state.slots.get(&key).is_some_and(|held| held.lease_id == lease.lease_id) {
            state.slots.remove(&key);
        }
        Ok(())
    }

    async fn observe(&self, tenant: &str, now: DateTime<Utc>, used: &Used) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        let (minute, day) = (xero_budget::minute_key(now), xero_budget::day_key(now));
        for (key, window, used) in [
            (tenant, minute.clone(), used.minute),
            (tenant, day, used.day),
            (xero_budget::APP_KEY, minute, used.app_minute),
        ] {
            if let Some(used) = used {
                let calls = state.counters.entry(key2(key, &window)).or_default();
                *calls = (*calls).max(used);
            }
        }
        Ok(())
    }

    async fn block(&self, tenant: &str, until: DateTime<Utc>, problem: Option<&str>) -> Result<()> {
        let key = match xero_budget::block_scope(problem) {
            BlockScope::Tenant => tenant,
            BlockScope::App => xero_budget::APP_KEY,
        };
        let mut state = self.state.lock().unwrap();
        let entry = state.blocks.entry(key.to_string()).or_insert((until, None));
        if until >= entry.0 {
            *entry = (until, problem.map(str::to_string));
        }
        Ok(())
    }
}
