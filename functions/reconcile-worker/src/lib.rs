//! `reconcile-worker`: the SQS-triggered consumer of reconcile work (docs/contract.md, section 5).
//!
//! A message is one step of one job: a batch of up to 100 invoices to compare, a page of the
//! account's invoices to list (expansion), or a page of Xero's sales invoices to list into the job's
//! snapshot (all-invoices jobs: 1,000 per call instead of 100). Every message is worked on alone,
//! against the invocation's deadline: one that fails or runs out of time is queued again with its
//! attempt counted (never failed with the whole batch), one that is rate limited is queued again for
//! when Xero allows calls, and one on its last attempt records FAILED outcomes for what is left, so
//! that every job completes.

pub use invoicing_xero::accounts::{XeroAccess, XeroClients};
/// The shared call budget (it moved to `invoicing_xero`; the old path stays for callers).
pub use invoicing_xero::shared_budget as budget;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, SubsecRound, Utc};
use futures::{future::join_all, StreamExt};
use invoicing_domain::{
    model::ids::is_uuid,
    model::invoice::{Invoice, InvoiceStatus},
    model::reconcile::{
        batch_messages, compare, link_change, link_to_xero, needs_number_lookup, outcome_of, reported_id, resolve,
        unlink_from_xero, xero_link, ExpandedPage, ExternalInvoice, InvoiceOutcome, JobRecord, JobStatus, LinkChange,
        OutcomeKind, ReconcileMessage, Work, XeroScan, BATCH_SIZE, EXPANSION_PAGE,
    },
    model::xero_connection::RECONNECT_REASON,
    model::Versioned,
    ports::{
        IntegrationSecrets, IntegrationSettings, InvoiceBatches, InvoiceStore, ReconcileJobs, TokenVault, WorkQueue,
        XeroConnections,
    },
    service::concurrency::retry_on_contention,
    Error,
};
use invoicing_xero::{XeroClient, XeroError};
use std::{collections::HashMap, future::Future, time::Duration};
use tokio::time::Instant;

/// Times to the millisecond, as every answer shows them.
fn current_time() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// SQS's longest delivery delay; longer waits are chained through `notBefore`.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(15 * 60);
/// The longest rate-limit wait honoured (Xero's daily limit resets within a day).
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(26 * 3600);

/// Used when an invocation's deadline is missing or already past (a local runner that sets none).
pub const DEFAULT_INVOCATION_TIME: Duration = Duration::from_secs(60);

/// The invocation's deadline as an instant, from the Lambda context's milliseconds since the epoch.
pub fn invocation_deadline(deadline_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    match deadline_ms.checked_sub(now_ms).filter(|&left| left > 1_000) {
        Some(left) => Instant::now() + Duration::from_millis(left),
        None => {
            tracing::warn!(deadline_ms, "the invocation has no usable deadline; assuming 60 s");
            Instant::now() + DEFAULT_INVOCATION_TIME
        }
    }
}

/// Why invoices could not be fetched from the integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Come back later: the integration's rate limit (or our share of it) says when.
    RateLimited(Duration),
    Failed(String),
    /// Retrying cannot help (the connection needs the customer): FAILED at once.
    Permanent(String),
}

/// One page of the organisation's sales invoices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SalesPage {
    pub invoices: Vec<ExternalInvoice>,
    /// No page follows.
    pub last: bool,
}

/// Batched reads of an integration's invoices. `api_calls` counts the HTTP calls made so far, so
/// that a job can record what it cost.
pub trait InvoiceSource: Send + Sync {
    fn by_ids(&self, ids: &[String]) -> impl Future<Output = Result<Vec<ExternalInvoice>, FetchError>> + Send;
    fn by_numbers(&self, numbers: &[String]) -> impl Future<Output = Result<Vec<ExternalInvoice>, FetchError>> + Send;
    fn sales_page(&self, page: u32) -> impl Future<Output = Result<SalesPage, FetchError>> + Send;
    fn api_calls(&self) -> u64;
}

fn external(invoice: invoicing_xero::XeroInvoice) -> ExternalInvoice {
    ExternalInvoice {
        external_id: invoice.invoice_id,
        invoice_number: invoice.invoice_number,
        status: invoice.status,
        url: invoice.url,
        invoice_type: invoice.invoice_type,
    }
}

fn fetch_error(error: XeroError) -> FetchError {
    match error {
        XeroError::RateLimited { retry_after, .. } => FetchError::RateLimited(retry_after),
        XeroError::ReconnectRequired => FetchError::Permanent(RECONNECT_REASON.into()),
        XeroError::Disconnected => FetchError::Permanent(invoicing_xero::accounts::NO_CONNECTION.into()),
        other => FetchError::Failed(other.to_string()),
    }
}

impl InvoiceSource for XeroClient {
    async fn by_ids(&self, ids: &[String]) -> Result<Vec<ExternalInvoice>, FetchError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.invoices_by_ids(ids).await.map(|v| v.into_iter().map(external).collect()).map_err(fetch_error)
    }

    async fn by_numbers(&self, numbers: &[String]) -> Result<Vec<ExternalInvoice>, FetchError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        self.invoices_by_numbers(numbers).await.map(|v| v.into_iter().map(external).collect()).map_err(fetch_error)
    }

    async fn sales_page(&self, page: u32) -> Result<SalesPage, FetchError> {
        let answer = self.sales_invoices_page(page).await.map_err(fetch_error)?;
        let count = answer.invoices.len();
        let last = match answer.page_count {
            Some(pages) => page >= pages,
            None => count < invoicing_xero::SCAN_PAGE_SIZE as usize,
        };
        Ok(SalesPage { invoices: answer.invoices.into_iter().map(external).collect(), last: last || count == 0 })
    }

    fn api_calls(&self) -> u64 {
        self.calls().api_calls
    }
}

/// Where a worker finds an account's Xero client.
pub trait Integrations: Send + Sync {
    type Source: InvoiceSource;
    fn xero_for(&self, account_id: &str) -> impl Future<Output = Result<XeroAccess<Self::Source>, Error>> + Send;
}

impl<S, K> Integrations for XeroClients<S, K>
where
    S: IntegrationSettings + XeroConnections + Clone + 'static,
    K: IntegrationSecrets + TokenVault + Clone + 'static,
{
    type Source = XeroClient;

    async fn xero_for(&self, account_id: &str) -> Result<XeroAccess<XeroClient>, Error> {
        self.client_for(account_id).await
    }
}

/// What became of a message's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Done,
    /// Rate limited: come back after this long.
    RetryAfter(Duration),
}

/// How hard the worker tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    /// Deliveries of a message's work before what is left is recorded as FAILED (the queue's
    /// `maxReceiveCount`, so that a message that crashes its invocations every time still gets
    /// its FAILED outcomes on the last delivery rather than reaching the dead-letter queue first).
    pub max: u32,
    /// Time kept back from the invocation's deadline to queue or record what was cut short.
    pub safety_margin: Duration,
    /// Delay before the first retry of a failed message; it doubles per attempt.
    pub retry_delay: Duration,
}

impl Default for Attempts {
    fn default() -> Self {
        Attempts { max: 5, safety_margin: Duration::from_secs(10), retry_delay: Duration::from_secs(15) }
    }
}

pub struct Worker<J, S, I, Q> {
    /// Jobs and outcomes.
    pub jobs: J,
    /// Our invoices: batch reads, and link writes.
    pub store: S,
    pub integrations: I,
    pub queue: Q,
    pub attempts: Attempts,
}

/// How a message's processing ended, before it is acknowledged.
enum Ended {
    Step(Step),
    Failed(String),
}

impl<J, S, I, Q> Worker<J, S, I, Q>
where
    J: ReconcileJobs,
    S: InvoiceBatches + InvoiceStore,
    I: Integrations,
    Q: WorkQueue,
{
    /// Handles an SQS batch by the invocation's `deadline`; answers the messages to deliver again
    /// (only those whose outcome could be neither recorded nor queued again).
    pub async fn handle(&self, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
        let handled = join_all(event.records.iter().map(|record| self.handle_record(record, deadline))).await;
        invoicing_sqs::batch_response(&event.records, &handled)
    }

    async fn handle_record(&self, record: &SqsMessage, deadline: Instant) -> bool {
        let id = record.message_id.as_deref().unwrap_or("?");
        let Some(message) = record.body.as_deref().and_then(|b| serde_json::from_str::<ReconcileMessage>(b).ok())
        else {
            // It names no job we could finish: the queue's redrive policy moves it to the DLQ.
            tracing::error!(messageId = id, "unparseable reconcile message");
            return false;
        };
        let receive_count: u32 =
            record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1).max(1);
        // Deliveries of this work so far, this one included.
        let delivery = message.attempt.saturating_add(receive_count);
        let now = current_time();
        if let Some(wait) = message.not_before.and_then(|t| (t - now).to_std().ok()).filter(|w| !w.is_zero()) {
            // Still waiting for a rate limit to reset: back on the queue, no call made.
            return self.requeue(id, message.clone(), wait).await;
        }
        let cutoff = deadline.checked_sub(self.attempts.safety_margin).unwrap_or(deadline);
        let last = delivery >= self.attempts.max;
        let ended = match tokio::time::timeout_at(cutoff, self.process(&message, last)).await {
            Ok(Ok(step)) => Ended::Step(step),
            Ok(Err(error)) => {
                tracing::error!(messageId = id, jobId = message.job_id(), error = %error.report(), "reconcile message failed");
                Ended::Failed("could not be compared (internal error)".into())
            }
            Err(_) => {
                tracing::warn!(messageId = id, jobId = message.job_id(), delivery, "out of time before the deadline");
                Ended::Failed("could not be compared before the worker's time limit".into())
            }
        };
        match ended {
            Ended::Step(Step::Done) => true,
            Ended::Step(Step::RetryAfter(wait)) => {
                // Xero's daily reset is at most a day away; a longer Retry-After is not believed.
                let wait = wait.min(MAX_RATE_LIMIT_WAIT);
                tracing::warn!(messageId = id, jobId = message.job_id(), waitSeconds = wait.as_secs(), "rate limited");
                let not_before = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                self.requeue(id, ReconcileMessage { not_before: Some(not_before), ..message }, wait).await
            }
            Ended::Failed(reason) if last => match self.give_up(&message, &reason).await {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(messageId = id, error = %error.report(), "could not record FAILED outcomes");
                    false
                }
            },
            Ended::Failed(_) => {
                let delay = self.attempts.retry_delay.saturating_mul(1 << (delivery - 1).min(6)).min(MAX_QUEUE_DELAY);
                self.requeue(id, ReconcileMessage { attempt: delivery, ..message }, delay).await
            }
        }
    }

    /// Queues the message again, visible after `wait` (at most SQS's 15 minutes; `notBefore`
    /// carries longer waits).
    async fn requeue(&self, id: &str, message: ReconcileMessage, wait: Duration) -> bool {
        match self.queue.enqueue(std::slice::from_ref(&message), wait.min(MAX_QUEUE_DELAY)).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(messageId = id, error = %error.report(), "could not queue again");
                false
            }
        }
    }

    pub async fn process(&self, message: &ReconcileMessage, last: bool) -> Result<Step, Error> {
        let (job_id, account_id) = (message.job_id.as_str(), message.account_id.as_str());
        let Some(record) = self.jobs.get_job_record(account_id, job_id).await? else {
            tracing::warn!(jobId = job_id, "message for an unknown job dropped");
            return Ok(Step::Done);
        };
        if matches!(record.job.status, JobStatus::Completed | JobStatus::Failed) {
            return Ok(Step::Done);
        }
        match &message.work {
            Work::Invoices { invoice_ids } => self.reconcile_batch(&record, account_id, invoice_ids, last).await,
            Work::Expand { after } => self.expand(job_id, account_id, after.as_deref()).await.map(|()| Step::Done),
            Work::XeroPage { page } => self.list_xero_page(&record, account_id, *page, last).await,
        }
    }

    /// What is left of a message on its last delivery: FAILED outcomes, so that the job completes.
    async fn give_up(&self, message: &ReconcileMessage, reason: &str) -> Result<(), Error> {
        let (job_id, account_id) = (message.job_id.as_str(), message.account_id.as_str());
        match &message.work {
            Work::Invoices { invoice_ids } => {
                let now = current_time();
                let outcomes: Vec<InvoiceOutcome> = invoice_ids
                    .iter()
                    .map(|id| {
                        if is_uuid(id) {
                            InvoiceOutcome::failed(id, reason, now)
                        } else {
                            InvoiceOutcome::new(&reported_id(id), OutcomeKind::NotFound, now)
                        }
                    })
                    .collect();
                // Outcomes recorded by an earlier delivery stay as they are.
                retry_on_contention(|| self.jobs.record_outcomes(account_id, job_id, &outcomes)).await?;
                retry_on_contention(|| self.jobs.complete_if_done(account_id, job_id, current_time())).await?;
            }
            // Without the list of invoices there is nothing to record outcomes for.
            Work::Expand { .. } => self.jobs.mark_failed(account_id, job_id, current_time()).await?,
            Work::XeroPage { .. } => self.fail_scan(account_id, job_id, reason).await?,
        }
        Ok(())
    }

    /// Xero's invoices cannot be listed for good: the snapshot is marked failed and our invoices
    /// are expanded all the same, so that each gets its FAILED outcome and the job completes.
    async fn fail_scan(&self, account_id: &str, job_id: &str, reason: &str) -> Result<(), Error> {
        let reason = format!("Xero's invoices could not be listed: {reason}");
        self.jobs.fail_xero_scan(account_id, job_id, &reason).await?;
        let expand = ReconcileMessage::new(job_id, account_id, Work::Expand { after: None });
        self.queue.enqueue(&[expand], Duration::ZERO).await
    }

    /// One page of the account's FINAL, SENT and VOIDED invoices: recorded first (ids and next
    /// cursor), then its batches and the next page queued from the record, so that a redelivery
    /// queues the same work and the total counts each invoice once.
    async fn expand(&self, job_id: &str, account_id: &str, after: Option<&str>) -> Result<(), Error> {
        let page_key = after.unwrap_or("start");
        let page = match self.jobs.expanded_page(account_id, job_id, page_key).await? {
            Some(page) => page,
            None => {
                let listed = self.store.list_reconcilable_invoice_ids(account_id, EXPANSION_PAGE, after).await?;
                let page = ExpandedPage { invoice_ids: listed.items, next: listed.after };
                retry_on_contention(|| self.jobs.record_expanded_page(account_id, job_id, page_key, &page)).await?;
                // Another delivery may have recorded its page first: queue what is recorded.
                self.jobs.expanded_page(account_id, job_id, page_key).await?.unwrap_or(page)
            }
        };
        let mut messages = batch_messages(job_id, account_id, &page.invoice_ids);
        if let Some(next) = &page.next {
            messages.push(ReconcileMessage::new(job_id, account_id, Work::Expand { after: Some(next.clone()) }));
        }
        self.queue.enqueue(&messages, Duration::ZERO).await?;
        retry_on_contention(|| self.jobs.complete_if_done(account_id, job_id, current_time())).await?;
        Ok(())
    }

    /// One page of Xero's sales invoices (1,000 per call) into the job's snapshot; the next page,
    /// or after the last the expansion of our invoices, is queued after it.
    async fn list_xero_page(&self, record: &JobRecord, account_id: &str, page: u32, last: bool) -> Result<Step, Error> {
        let job_id = record.job.id.as_str();
        if record.scan != Some(XeroScan::Listing) {
            return Ok(Step::Done);
        }
        retry_on_contention(|| self.jobs.mark_running(account_id, job_id)).await?;
        let source = match self.integrations.xero_for(account_id).await? {
            XeroAccess::Client(source) => source,
            XeroAccess::Unusable(reason) => {
                self.fail_scan(account_id, job_id, reason).await?;
                return Ok(Step::Done);
            }
        };
        let listed = match self.counted(account_id, job_id, &*source, source.sales_page(page)).await {
            Ok(listed) => listed,
            Err(FetchError::RateLimited(wait)) => return Ok(Step::RetryAfter(wait)),
            Err(FetchError::Permanent(reason)) => {
                self.fail_scan(account_id, job_id, &reason).await?;
                return Ok(Step::Done);
            }
            Err(FetchError::Failed(reason)) if last => {
                self.fail_scan(account_id, job_id, &reason).await?;
                return Ok(Step::Done);
            }
            Err(FetchError::Failed(reason)) => return Err(Error::internal(format!("Xero lookup failed: {reason}"))),
        };
        self.jobs.record_xero_page(account_id, job_id, page, &listed.invoices, listed.last).await?;
        let next = if listed.last { Work::Expand { after: None } } else { Work::XeroPage { page: page + 1 } };
        self.queue.enqueue(&[ReconcileMessage::new(job_id, account_id, next)], Duration::ZERO).await?;
        Ok(Step::Done)
    }

    /// Runs `work` on `source` and adds the calls it made to the job's `xeroCalls`; a failure to
    /// count is logged, not fatal (a count, not an outcome).
    async fn counted<X: InvoiceSource, T>(
        &self,
        account_id: &str,
        job_id: &str,
        source: &X,
        work: impl Future<Output = T>,
    ) -> T {
        let before = source.api_calls();
        let output = work.await;
        let calls = source.api_calls().saturating_sub(before);
        if let Err(error) = self.jobs.add_xero_calls(account_id, job_id, calls).await {
            tracing::warn!(jobId = job_id, calls, error = %error.report(), "could not count Xero calls");
        }
        output
    }

    async fn reconcile_batch(
        &self,
        record: &JobRecord,
        account_id: &str,
        invoice_ids: &[String],
        last: bool,
    ) -> Result<Step, Error> {
        let job = &record.job;
        retry_on_contention(|| self.jobs.mark_running(account_id, &job.id)).await?;
        let now = current_time();

        // An id that cannot be an invoice id is NOT_FOUND without a read (it could not even be a key).
        let (readable, unreadable): (Vec<String>, Vec<String>) =
            invoice_ids.iter().cloned().partition(|id| is_uuid(id));
        let mut invoices: Vec<Versioned<Invoice>> = Vec::with_capacity(readable.len());
        for chunk in readable.chunks(BATCH_SIZE) {
            invoices.extend(self.store.get_invoices(account_id, chunk).await?);
        }
        let found: std::collections::HashSet<&str> = invoices.iter().map(|i| i.value.id.as_str()).collect();
        let mut outcomes: Vec<InvoiceOutcome> = unreadable
            .iter()
            .map(|id| reported_id(id))
            .chain(readable.iter().filter(|id| !found.contains(id.as_str())).cloned())
            .map(|id| InvoiceOutcome::new(&id, OutcomeKind::NotFound, now))
            .collect();
        let versions: HashMap<&str, &Versioned<Invoice>> = invoices.iter().map(|v| (v.value.id.as_str(), v)).collect();
        let (in_progress, compared): (Vec<_>, Vec<_>) =
            invoices.iter().map(|v| &v.value).partition(|i| i.status == InvoiceStatus::InProgress);
        outcomes.extend(in_progress.iter().map(|i| compare(i, None, &job.properties_to_compare, now)));

        if !compared.is_empty() {
            let lookup = match &record.scan {
                Some(XeroScan::Failed(reason)) => Lookup::Failed(reason.clone()),
                Some(XeroScan::Ready) => self.lookup_in_snapshot(account_id, &job.id, &compared).await?,
                _ => self.lookup_in_xero(account_id, &job.id, &compared).await?,
            };
            match lookup {
                Lookup::Found { linked, numbered } => {
                    let candidates: Vec<&ExternalInvoice> = numbered.iter().collect();
                    let mut changes = Vec::new();
                    for invoice in &compared {
                        let by_link = xero_link(invoice)
                            .and_then(|l| linked.iter().chain(&numbered).find(|x| l.names(&x.external_id)));
                        let resolution = resolve(invoice, by_link, &candidates);
                        outcomes.push(outcome_of(invoice, resolution, &job.properties_to_compare, now));
                        match link_change(invoice, resolution) {
                            LinkChange::Keep => {}
                            change => changes.push((versions[invoice.id.as_str()], change)),
                        }
                    }
                    // One versioned write per invoice (DynamoDB has no batched conditional
                    // update), a few at a time rather than one after another.
                    futures::stream::iter(changes)
                        .for_each_concurrent(LINK_WRITES_AT_ONCE, |(invoice, change)| {
                            self.update_link(account_id, invoice, change)
                        })
                        .await;
                }
                Lookup::RateLimited(delay) => return Ok(Step::RetryAfter(delay)),
                Lookup::Permanent(reason) => {
                    outcomes.extend(compared.iter().map(|i| InvoiceOutcome::failed(&i.id, reason.clone(), now)));
                }
                Lookup::Failed(reason) if last || matches!(record.scan, Some(XeroScan::Failed(_))) => {
                    outcomes.extend(compared.iter().map(|i| InvoiceOutcome::failed(&i.id, reason.clone(), now)));
                }
                Lookup::Failed(reason) => return Err(Error::internal(reason)),
            }
        }
        retry_on_contention(|| self.jobs.record_outcomes(account_id, &job.id, &outcomes)).await?;
        retry_on_contention(|| self.jobs.complete_if_done(account_id, &job.id, current_time())).await?;
        Ok(Step::Done)
    }

    /// Linked invoices by their Xero id and the others by number (two batched lookups at once),
    /// then by number those whose link points at a bill, a deleted invoice or nothing.
    async fn lookup_in_xero(&self, account_id: &str, job_id: &str, invoices: &[&Invoice]) -> Result<Lookup, Error> {
        let source = match self.integrations.xero_for(account_id).await? {
            XeroAccess::Client(source) => source,
            XeroAccess::Unusable(reason) => return Ok(Lookup::Permanent(reason.into())),
        };
        Ok(self.counted(account_id, job_id, &*source, lookup_by_ids_and_numbers(&*source, invoices)).await)
    }

    /// The job's snapshot by number; Xero by id only for linked invoices not in it (renumbered
    /// there, or without a number).
    async fn lookup_in_snapshot(&self, account_id: &str, job_id: &str, invoices: &[&Invoice]) -> Result<Lookup, Error> {
        let numbers: Vec<String> = invoices.iter().filter_map(|i| i.invoice_number.clone()).collect();
        let numbered = self.jobs.xero_snapshot(account_id, job_id, &numbers).await?;
        let missing_links: Vec<String> = invoices
            .iter()
            .filter_map(|i| xero_link(i))
            .filter(|l| !numbered.iter().any(|x| l.names(&x.external_id)))
            .filter_map(|l| l.external_id.clone())
            .collect();
        let mut linked = Vec::new();
        if !missing_links.is_empty() {
            let source = match self.integrations.xero_for(account_id).await? {
                XeroAccess::Client(source) => source,
                XeroAccess::Unusable(reason) => return Ok(Lookup::Permanent(reason.into())),
            };
            match self.counted(account_id, job_id, &*source, source.by_ids(&missing_links)).await {
                Ok(found) => linked = found,
                Err(error) => return Ok(Lookup::from(error)),
            }
        }
        Ok(Lookup::Found { linked, numbered })
    }

    /// Applies a link change; a failure is logged, not fatal: the next reconcile finds it again.
    async fn update_link(&self, account_id: &str, invoice: &Versioned<Invoice>, change: LinkChange<'_>) {
        if change == LinkChange::Keep {
            return;
        }
        // The batch read gave the invoice and its version: write on that, and read again only
        // after a concurrent change moved the version.
        let mut as_read = Some((invoice.value.clone(), invoice.version));
        let stored = retry_on_contention(|| {
            let known = as_read.take();
            async move {
                let (mut linked, version) = match known {
                    Some(known) => known,
                    None => match self.store.get_invoice(account_id, &invoice.value.id).await? {
                        Some(current) => (current.value, current.version),
                        None => return Ok(()),
                    },
                };
                let changed = match change {
                    LinkChange::Set(external) => link_to_xero(&mut linked, external, current_time()),
                    LinkChange::Remove => unlink_from_xero(&mut linked),
                    LinkChange::Keep => false,
                };
                if changed {
                    self.store.replace_invoice(&linked, version, None, None).await?;
                }
                Ok(())
            }
        })
        .await;
        if let Err(error) = stored {
            tracing::warn!(invoiceId = %invoice.value.id, error = %error.report(), "could not store the Xero link");
        }
    }
}

/// Link writes of one batch in flight at once.
const LINK_WRITES_AT_ONCE: usize = 16;

enum Lookup {
    /// What was read by id for the links (any type), and what carries the invoices' numbers (any
    /// type); a link is looked for in both.
    Found {
        linked: Vec<ExternalInvoice>,
        numbered: Vec<ExternalInvoice>,
    },
    RateLimited(Duration),
    Failed(String),
    /// Retrying cannot help: FAILED now, with this reason.
    Permanent(String),
}

impl From<FetchError> for Lookup {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::RateLimited(delay) => Lookup::RateLimited(delay),
            FetchError::Failed(reason) => Lookup::Failed(format!("Xero lookup failed: {reason}")),
            FetchError::Permanent(reason) => Lookup::Permanent(reason),
        }
    }
}

async fn lookup_by_ids_and_numbers<X: InvoiceSource>(source: &X, invoices: &[&Invoice]) -> Lookup {
    let linked_ids: Vec<String> =
        invoices.iter().filter_map(|i| xero_link(i)).filter_map(|l| l.external_id.clone()).collect();
    let numbers: Vec<String> =
        invoices.iter().filter(|i| xero_link(i).is_none()).filter_map(|i| i.invoice_number.clone()).collect();
    let (by_id, by_number) = futures::join!(source.by_ids(&linked_ids), source.by_numbers(&numbers));
    let (linked, mut numbered) = match (by_id, by_number) {
        (Ok(linked), Ok(numbered)) => (linked, numbered),
        (Err(FetchError::RateLimited(d)), _) | (_, Err(FetchError::RateLimited(d))) => return Lookup::RateLimited(d),
        (Err(e), _) | (_, Err(e)) => return Lookup::from(e),
    };
    // Links that no longer lead to a live sales invoice are resolved again by number.
    let stale: Vec<String> = invoices
        .iter()
        .filter(|i| {
            xero_link(i).is_some_and(|l| needs_number_lookup(i, linked.iter().find(|x| l.names(&x.external_id))))
        })
        .filter_map(|i| i.invoice_number.clone())
        .collect();
    match source.by_numbers(&stale).await {
        Ok(found) => numbered.extend(found),
        Err(error) => return Lookup::from(error),
    }
    Lookup::Found { linked, numbered }
}
