//! In-memory implementations of the ports, for fast unit tests. Never the only test of an adapter.

use crate::{
    account::{Credential, NewAccount},
    idempotency::{Claim, IdempotencyRecord, StoredResponse},
    invoice::Invoice,
    pagination::Page,
    ports::{AccountStore, CredentialStore, IdempotencyStore, InvoiceQuery, InvoiceStore},
    Error, Result,
};
use chrono::{DateTime, Utc};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Clones share the same data, like clones of an SDK client share the same table.
#[derive(Clone, Default)]
pub struct InMemoryStore {
    invoices: Arc<Mutex<BTreeMap<(String, String), Invoice>>>,
    credentials: Arc<Mutex<BTreeMap<String, Credential>>>,
    idempotency: Arc<Mutex<BTreeMap<(String, String), IdempotencyRecord>>>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl InvoiceStore for InMemoryStore {
    async fn insert_invoice(&self, invoice: &Invoice) -> Result<()> {
        let mut invoices = self.invoices.lock().unwrap();
        let key = (invoice.sequence_account_id.clone(), invoice.id.clone());
        if invoices.contains_key(&key) {
            return Err(Error::conflict("invoice already exists"));
        }
        invoices.insert(key, invoice.clone());
        Ok(())
    }

    async fn get_invoice(&self, account_id: &str, invoice_id: &str) -> Result<Option<Invoice>> {
        let invoices = self.invoices.lock().unwrap();
        Ok(invoices
            .get(&(account_id.to_string(), invoice_id.to_string()))
            .cloned())
    }

    async fn list_invoices(&self, account_id: &str, query: &InvoiceQuery) -> Result<Page<Invoice>> {
        let invoices = self.invoices.lock().unwrap();
        let mut matching = invoices
            .iter()
            .filter(|((account, id), _)| {
                account == account_id && query.after.as_ref().is_none_or(|after| id > after)
            })
            .map(|(_, invoice)| invoice)
            .filter(|i| query.status.is_none_or(|s| i.status == s))
            .filter(|i| {
                query
                    .customer_id
                    .as_ref()
                    .is_none_or(|c| &i.customer_id == c)
            });
        let items: Vec<Invoice> = matching.by_ref().take(query.limit).cloned().collect();
        let more = matching.next().is_some();
        let after = if more {
            items.last().map(|i| i.id.clone())
        } else {
            None
        };
        Ok(Page { items, after })
    }
}

impl CredentialStore for InMemoryStore {
    async fn find_credential(&self, credential_id: &str) -> Result<Option<Credential>> {
        Ok(self.credentials.lock().unwrap().get(credential_id).cloned())
    }
}

impl AccountStore for InMemoryStore {
    async fn create_account(&self, account: &NewAccount) -> Result<()> {
        let mut credentials = self.credentials.lock().unwrap();
        for credential in &account.credentials {
            credentials.insert(credential.id.clone(), credential.clone());
        }
        Ok(())
    }
}

impl IdempotencyStore for InMemoryStore {
    async fn claim(
        &self,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim> {
        let mut records = self.idempotency.lock().unwrap();
        let slot = (account_id.to_string(), key.to_string());
        match records.get(&slot) {
            Some(existing) if !existing.can_be_replaced(fingerprint, now) => {
                existing.decide(fingerprint)
            }
            _ => {
                records.insert(slot, IdempotencyRecord::in_progress(fingerprint, now));
                Ok(Claim::Acquired)
            }
        }
    }

    async fn complete(&self, account_id: &str, key: &str, response: &StoredResponse) -> Result<()> {
        let mut records = self.idempotency.lock().unwrap();
        let record = records
            .get_mut(&(account_id.to_string(), key.to_string()))
            .ok_or_else(|| Error::internal("idempotency record vanished before completion"))?;
        record.response = Some(response.clone());
        Ok(())
    }

    async fn release(&self, account_id: &str, key: &str) -> Result<()> {
        self.idempotency
            .lock()
            .unwrap()
            .remove(&(account_id.to_string(), key.to_string()));
        Ok(())
    }
}
