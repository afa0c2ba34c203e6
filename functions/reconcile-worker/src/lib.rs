//! `reconcile-worker`: the SQS-triggered consumer of reconcile work (docs/contract.md, section 5).
//!
//! Each message is a batch of up to 100 invoice ids, or a page of an account's invoices to list.
//! A batch is read from the store in one batch read, looked up in Xero in batched calls, compared,
//! and its outcomes recorded exactly once each. A failed message is reported in
//! `batchItemFailures` so that only it is delivered again; a rate-limited one is queued again with
//! a delay instead of failing.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, SubsecRound, Utc};
use futures::future::join_all;
use invoicing_domain::{
    model::invoice::{Invoice, InvoiceStatus},
    model::reconcile::{
        compare, link_to_xero, xero_link, ExternalInvoice, InvoiceOutcome, JobStatus, ReconcileMessage, BATCH_SIZE,
    },
    model::Versioned,
    ports::{IntegrationSecrets, IntegrationSettings, InvoiceBatches, InvoiceStore, ReconcileJobs, WorkQueue},
    service::concurrency::retry_on_contention,
    Error,
};
use invoicing_xero::{XeroClient, XeroConnection, XeroError};
use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

pub mod budget;

/// Times to the millisecond, as every answer shows them.
fn current_time() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Invoices listed per expansion step (ten batch messages).
pub const EXPANSION_PAGE: usize = 10 * BATCH_SIZE;

/// Why invoices could not be fetched from the integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Come back later: the integration's rate limit says when.
    RateLimited(Duration),
    Failed(String),
}

/// Batched reads of an integration's invoices.
pub trait InvoiceSource: Send + Sync {
    fn by_ids(&self, ids: &[String]) -> impl Future<Output = Result<Vec<ExternalInvoice>, FetchError>> + Send;
    fn by_numbers(&self, numbers: &[String]) -> impl Future<Output = Result<Vec<ExternalInvoice>, FetchError>> + Send;
}

fn external(invoices: Vec<invoicing_xero::XeroInvoice>) -> Vec<ExternalInvoice> {
    invoices
        .into_iter()
        .map(|i| ExternalInvoice {
            external_id: i.invoice_id,
            invoice_number: i.invoice_number,
            status: i.status,
            url: i.url,
        })
        .collect()
}

fn fetch_error(error: XeroError) -> FetchError {
    match error {
        XeroError::RateLimited { retry_after, .. } => FetchError::RateLimited(retry_after),
        other => FetchError::Failed(other.to_string()),
    }
}

impl InvoiceSource for XeroClient {
    async fn by_ids(&self, ids: &[String]) -> Result<Vec<ExternalInvoice>, FetchError> {
        self.invoices_by_ids(ids).await.map(external).map_err(fetch_error)
    }

    async fn by_numbers(&self, numbers: &[String]) -> Result<Vec<ExternalInvoice>, FetchError> {
        self.invoices_by_numbers(numbers).await.map(external).map_err(fetch_error)
    }
}

/// Where a worker finds an account's Xero client.
pub trait Integrations: Send + Sync {
    type Source: InvoiceSource;
    fn xero_for(&self, account_id: &str) -> impl Future<Output = Result<Option<Arc<Self::Source>>, Error>> + Send;
}

/// Xero clients built from the account's settings and secret, kept across invocations of a warm
/// execution environment so that their cached tokens are reused.
pub struct XeroClients<S, K> {
    settings: S,
    secrets: K,
    clients: Mutex<HashMap<String, Arc<XeroClient>>>,
}

impl<S, K> XeroClients<S, K> {
    pub fn new(settings: S, secrets: K) -> Self {
        Self { settings, secrets, clients: Mutex::new(HashMap::new()) }
    }
}

impl<S: IntegrationSettings, K: IntegrationSecrets> Integrations for XeroClients<S, K> {
    type Source = XeroClient;

    async fn xero_for(&self, account_id: &str) -> Result<Option<Arc<XeroClient>>, Error> {
        let Some(settings) = self.settings.xero_settings(account_id).await? else { return Ok(None) };
        if let Some(client) = self.clients.lock().expect("client cache").get(account_id) {
            let current = client.connection();
            if current.client_id == settings.client_id
                && current.tenant_id == settings.tenant_id
                && current.api_base_url == settings.api_base_url
                && current.token_url == settings.token_url
            {
                return Ok(Some(Arc::clone(client)));
            }
        }
        let Some(client_secret) = self.secrets.xero_client_secret(account_id).await? else { return Ok(None) };
        let client = Arc::new(XeroClient::new(XeroConnection {
            client_id: settings.client_id,
            client_secret,
            tenant_id: settings.tenant_id,
            api_base_url: settings.api_base_url,
            token_url: settings.token_url,
        }));
        self.clients.lock().expect("client cache").insert(account_id.to_string(), Arc::clone(&client));
        Ok(Some(client))
    }
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Done,
    RetryAfter(Duration),
}

pub struct Worker<J, S, I, Q> {
    /// Jobs and outcomes.
    pub jobs: J,
    /// Our invoices: batch reads, and link writes.
    pub store: S,
    pub integrations: I,
    pub queue: Q,
    /// The queue's `maxReceiveCount`: on the last delivery, failures become FAILED outcomes so
    /// that the job still completes.
    pub max_receive_count: u32,
}

impl<J, S, I, Q> Worker<J, S, I, Q>
where
    J: ReconcileJobs,
    S: InvoiceBatches + InvoiceStore,
    I: Integrations,
    Q: WorkQueue,
{
    /// Handles an SQS batch; answers the messages to deliver again.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let results = join_all(event.records.iter().map(|record| self.handle_record(record))).await;
        let mut response = SqsBatchResponse::default();
        for (record, ok) in event.records.iter().zip(results) {
            if !ok {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    async fn handle_record(&self, record: &SqsMessage) -> bool {
        let id = record.message_id.as_deref().unwrap_or("?");
        let Some(message) = record.body.as_deref().and_then(|b| serde_json::from_str::<ReconcileMessage>(b).ok())
        else {
            // Retried until the queue's redrive policy moves it to the dead-letter queue.
            tracing::error!(messageId = id, "unparseable reconcile message");
            return false;
        };
        let receive_count: u32 =
            record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let final_attempt = receive_count >= self.max_receive_count;
        match self.process(&message, final_attempt).await {
            Ok(Step::Done) => true,
            Ok(Step::RetryAfter(delay)) => {
                tracing::warn!(
                    messageId = id,
                    jobId = message.job_id(),
                    delaySeconds = delay.as_secs(),
                    "rate limited; queued again"
                );
                match self.queue.enqueue(std::slice::from_ref(&message), delay).await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::error!(messageId = id, error = %error.report(), "could not queue again");
                        false
                    }
                }
            }
            Err(error) => {
                tracing::error!(
                    messageId = id,
                    jobId = message.job_id(),
                    error = %error.report(),
                    "reconcile message failed"
                );
                false
            }
        }
    }

    pub async fn process(&self, message: &ReconcileMessage, final_attempt: bool) -> Result<Step, Error> {
        match message {
            ReconcileMessage::Invoices { job_id, account_id, invoice_ids } => {
                self.reconcile_batch(job_id, account_id, invoice_ids, final_attempt).await
            }
            ReconcileMessage::Expand { job_id, account_id, after } => {
                self.expand(job_id, account_id, after.as_deref()).await?;
                Ok(Step::Done)
            }
        }
    }

    async fn expand(&self, job_id: &str, account_id: &str, after: Option<&str>) -> Result<(), Error> {
        let page = self.store.list_reconcilable_invoice_ids(account_id, EXPANSION_PAGE, after).await?;
        let mut messages = invoicing_domain::model::reconcile::batch_messages(job_id, account_id, &page.items);
        if let Some(next) = &page.after {
            messages.push(ReconcileMessage::Expand {
                job_id: job_id.into(),
                account_id: account_id.into(),
                after: Some(next.clone()),
            });
        }
        // Queue first, count second: a crash in between re-queues (harmless: outcomes are recorded
        // once) rather than counting work that was never queued.
        self.queue.enqueue(&messages, Duration::ZERO).await?;
        let page_key = after.unwrap_or("start");
        let count = page.items.len() as u64;
        retry_on_contention(|| {
            self.jobs.record_expanded_page(account_id, job_id, page_key, count, page.after.is_none())
        })
        .await?;
        retry_on_contention(|| self.jobs.complete_if_done(account_id, job_id, current_time())).await?;
        Ok(())
    }

    async fn reconcile_batch(
        &self,
        job_id: &str,
        account_id: &str,
        invoice_ids: &[String],
        final_attempt: bool,
    ) -> Result<Step, Error> {
        let Some(job) = self.jobs.get_job(account_id, job_id).await? else {
            tracing::warn!(jobId = job_id, "message for an unknown job dropped");
            return Ok(Step::Done);
        };
        if matches!(job.status, JobStatus::Completed | JobStatus::Failed) {
            return Ok(Step::Done);
        }
        retry_on_contention(|| self.jobs.mark_running(account_id, job_id)).await?;
        let now = current_time();

        let mut invoices: Vec<Versioned<Invoice>> = Vec::with_capacity(invoice_ids.len());
        for chunk in invoice_ids.chunks(BATCH_SIZE) {
            invoices.extend(self.store.get_invoices(account_id, chunk).await?);
        }
        let found: std::collections::HashSet<&str> = invoices.iter().map(|i| i.value.id.as_str()).collect();
        let mut outcomes: Vec<InvoiceOutcome> = invoice_ids
            .iter()
            .filter(|id| !found.contains(id.as_str()))
            .map(|id| InvoiceOutcome::new(id, invoicing_domain::model::reconcile::OutcomeKind::NotFound, now))
            .collect();
        let (in_progress, compared): (Vec<_>, Vec<_>) =
            invoices.iter().map(|v| &v.value).partition(|i| i.status == InvoiceStatus::InProgress);
        outcomes.extend(in_progress.iter().map(|i| compare(i, None, &job.properties_to_compare, now)));

        if !compared.is_empty() {
            match self.lookup(account_id, &compared).await? {
                Lookup::Found(found) => {
                    for invoice in &compared {
                        let external = matching(invoice, &found);
                        outcomes.push(compare(invoice, external, &job.properties_to_compare, now));
                        if let (None, Some(external)) = (xero_link(invoice), external) {
                            self.store_link(account_id, &invoice.id, external).await;
                        }
                    }
                }
                Lookup::RateLimited(delay) => return Ok(Step::RetryAfter(delay)),
                Lookup::Failed(reason) if final_attempt => {
                    outcomes.extend(compared.iter().map(|i| InvoiceOutcome::failed(&i.id, reason.clone(), now)));
                }
                Lookup::Failed(reason) => return Err(Error::internal(reason)),
            }
        }
        retry_on_contention(|| self.jobs.record_outcomes(account_id, job_id, &outcomes)).await?;
        retry_on_contention(|| self.jobs.complete_if_done(account_id, job_id, current_time())).await?;
        Ok(Step::Done)
    }

    /// Linked invoices by their Xero id, the others by number: two batched lookups at most.
    async fn lookup(&self, account_id: &str, invoices: &[&Invoice]) -> Result<Lookup, Error> {
        let Some(source) = self.integrations.xero_for(account_id).await? else {
            return Ok(Lookup::Failed("the account has no Xero connection".into()));
        };
        let linked: Vec<String> = invoices.iter().filter_map(|i| xero_link(i)).map(|l| l.external_id.clone()).collect();
        let numbers: Vec<String> =
            invoices.iter().filter(|i| xero_link(i).is_none()).filter_map(|i| i.invoice_number.clone()).collect();
        let (by_id, by_number) = futures::join!(source.by_ids(&linked), source.by_numbers(&numbers));
        let mut found = Vec::new();
        for result in [by_id, by_number] {
            match result {
                Ok(invoices) => found.extend(invoices),
                Err(FetchError::RateLimited(delay)) => return Ok(Lookup::RateLimited(delay)),
                Err(FetchError::Failed(reason)) => return Ok(Lookup::Failed(format!("Xero lookup failed: {reason}"))),
            }
        }
        Ok(Lookup::Found(found))
    }

    /// Stores a newly found link; a failure is logged, not fatal: the next reconcile finds it again.
    async fn store_link(&self, account_id: &str, invoice_id: &str, external: &ExternalInvoice) {
        let stored = retry_on_contention(|| async {
            let Some(current) = self.store.get_invoice(account_id, invoice_id).await? else { return Ok(()) };
            let mut linked = current.value;
            if link_to_xero(&mut linked, external, current_time()) {
                self.store.replace_invoice(&linked, current.version, None).await?;
            }
            Ok(())
        })
        .await;
        if let Err(error) = stored {
            tracing::warn!(invoiceId = invoice_id, error = %error.report(), "could not store the Xero link");
        }
    }
}

enum Lookup {
    Found(Vec<ExternalInvoice>),
    RateLimited(Duration),
    Failed(String),
}

/// The Xero invoice for one of ours: by its link, else by its number.
fn matching<'a>(invoice: &Invoice, found: &'a [ExternalInvoice]) -> Option<&'a ExternalInvoice> {
    match xero_link(invoice) {
        Some(link) => found.iter().find(|x| x.external_id == link.external_id),
        None => {
            let number = invoice.invoice_number.as_ref()?;
            found.iter().find(|x| x.invoice_number.as_ref() == Some(number))
        }
    }
}
